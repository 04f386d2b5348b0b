"""``kmm probe``: connectivity check against local, demo or prod (seed KMM-v1 ``probe.py``).

    kmm probe --env demo
    kmm probe --env local --base-url http://127.0.0.1:8765

Steps, each printed with its round-trip time: exchange status (unauthenticated), balance (the
key works), pick an open market, place one contract to buy YES at the lowest valid price
(post-only, so it cannot trade), confirm the order id by reading it back, cancel it, confirm the
cancel. Exit 0 when every step passed; exit 1 with a one-paragraph explanation otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import typer

from kalshi_mm.errors import (
    ConfigError,
    ExchangeError,
    Fatal,
    KalshiMMError,
    OutcomeUnknown,
    RateLimited,
    Rejected,
)

_EXPLAIN = {
    401: (
        "The exchange rejected the signature (HTTP 401). Check that KALSHI_API_KEY_ID matches the private "
        "key file (demo and prod keys are separate; a key for one environment fails on the other), that "
        "the key file is the one issued with that key id, and that this machine's clock is right (Kalshi "
        "accepts only a few seconds of skew: sync with NTP)."
    ),
    403: (
        "The key is valid but not allowed to do this (HTTP 403). It probably lacks the 'write' / "
        "'write::trade' scope or is locked to another subaccount: create a key with trading scope."
    ),
    429: (
        "Rate limited (HTTP 429) even after waiting for tokens: another process may be using the same "
        "key, or the account's tier is lower than configured (--tier)."
    ),
}


def _explain(e: BaseException) -> str:
    if isinstance(e, ExchangeError) and e.status in _EXPLAIN:
        return _EXPLAIN[e.status]  # type: ignore[index]
    if isinstance(e, RateLimited):
        return _EXPLAIN[429]
    if isinstance(e, ConfigError):
        return f"Configuration problem: {e}"
    if isinstance(e, OutcomeUnknown):
        return (
            f"The exchange did not answer in time or failed ({e}); the order's fate is unknown. Check "
            "the open orders on the exchange and cancel any order with a client_order_id starting 'probe-'."
        )
    if isinstance(e, Rejected):
        return f"The exchange refused the request ({e}). The market may have closed or the account lacks funds."
    if isinstance(e, ExchangeError) and (e.status or 0) >= 500:
        return f"The exchange is failing ({e}); try again later."
    if isinstance(e, OSError | asyncio.TimeoutError) or "transport" in str(getattr(e, "code", "")):
        return (
            f"Could not reach the exchange ({e}). Check the environment / --base-url, that the server "
            "is running, and network access."
        )
    return f"Unexpected error: {e}"


async def _poll(read: Any, done: Any, tries: int = 6, delay: float = 0.25) -> Any:
    """Read until ``done(result)`` (or the tries run out: the last read is returned)."""
    result = None
    for i in range(tries):
        try:
            result = await read()
        except Rejected as e:
            if e.status != 404 or i == tries - 1:
                raise
        else:
            if done(result):
                return result
        await asyncio.sleep(delay)
    return result


async def _cleanup(client: Any, order_id: str | None, coid: str, ticker: str, echo: Any) -> None:
    """A failed probe leaves nothing behind: cancel its order, found by id or by client id."""
    with contextlib.suppress(Exception):
        if order_id is None:
            found = await _poll(lambda: client.find_order_by_client_id(coid, ticker=ticker), lambda o: o is not None)
            order_id = found.order_id if found is not None and found.status == "resting" else None
        if order_id is not None:
            await client.cancel_order(order_id, market_ticker=ticker)
            echo(f"       cleanup: canceled probe order {order_id}")


async def _probe(env: str, base_url: str | None, config: Path | None, timeout: float, echo: Any) -> int:
    from kalshi_mm.config import load_settings
    from kalshi_mm.domain.units import format_price
    from kalshi_mm.kalshi.parse import grid_from_wire
    from kalshi_mm.venue.rest import KalshiRestClient, signer_from_settings

    settings = load_settings(config, env=env, base_url=base_url)
    signer = signer_from_settings(settings)
    client = KalshiRestClient(
        settings.env, base_url=settings.base_url, signer=signer, timeout=timeout, read_retries=2
    )
    echo(f"probe: env={settings.env} rest={client.root} key={signer!r}")

    async def step(name: str, coro: Any) -> Any:
        t0 = time.perf_counter()
        result = await coro
        echo(f"  ok   {name:<28} {(time.perf_counter() - t0) * 1e3:8.1f} ms")
        return result

    async with client:
        status = await step("exchange status", client.get_exchange_status())
        if not status.trading_active:
            raise Rejected("trading is not active on the exchange right now", code="trading_inactive")
        await step("balance (auth)", client.get_balance())
        markets = await step("list open markets", client.get_markets(status="open", limit=100))
        candidates = [m for m in markets.markets if m.status in ("active", "open")]
        if not candidates:
            raise Rejected("no open market to probe", code="no_market")
        m = candidates[0]
        price = grid_from_wire(m.price_ranges, m.price_level_structure).min_price
        coid = f"probe-{uuid.uuid4()}"
        echo(f"       market {m.ticker}: buy 1 YES at {format_price(price)} (post-only), client id {coid}")
        created = None
        canceled = False
        try:
            created = await step(
                "place order",
                client.create_order(m.ticker, "bid", price, 100, client_order_id=coid, post_only=True),
            )
            # REST read models lag writes by up to about a second: poll the confirmations
            order = await step(
                "confirm order id",
                _poll(lambda: client.get_order(created.order_id), lambda o: o.client_order_id == coid),
            )
            if order.client_order_id != coid:
                raise Rejected(f"order {created.order_id} read back with another client id", code="mismatch")
            echo(f"       order id {created.order_id} status {order.status}")
            await step("cancel order", client.cancel_order(created.order_id, market_ticker=m.ticker))
            canceled = True
            after = await step(
                "confirm cancel",
                _poll(lambda: client.get_order(created.order_id), lambda o: o.status == "canceled"),
            )
            if after.status != "canceled":
                raise Rejected(f"order {created.order_id} is {after.status} after the cancel", code="not_canceled")
        finally:
            if not canceled:
                await _cleanup(client, created.order_id if created is not None else None, coid, m.ticker, echo)
    echo("probe: all steps passed")
    return 0


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe(
        env: str = typer.Option("demo", "--env", help="local, demo or prod."),
        base_url: str | None = typer.Option(
            None, "--base-url", help="Server root overriding the environment's URL (e.g. http://127.0.0.1:8765)."
        ),
        config: Path | None = typer.Option(None, "--config", help="TOML config file."),
        timeout: float = typer.Option(10.0, help="Per-request timeout in seconds."),
    ) -> None:
        """Connect, place one post-only contract at the lowest price, confirm, cancel, confirm."""
        if env not in ("local", "demo", "prod"):
            typer.echo(f"probe failed: unknown --env {env!r}; use local, demo or prod", err=True)
            raise typer.Exit(2)
        try:
            code = asyncio.run(_probe(env, base_url, config, timeout, typer.echo))
        except (TimeoutError, KalshiMMError, OSError) as e:
            kind = "fatal" if isinstance(e, Fatal) else type(e).__name__
            typer.echo(f"  FAIL ({kind}) {e}", err=True)
            typer.echo(f"probe failed: {_explain(e)}", err=True)
            raise typer.Exit(1) from None
        raise typer.Exit(code)
