"""Tick to order over loopback: the local exchange writes an ``orderbook_delta``; the bot's
order answering it arrives back at the exchange.

Setup: the local exchange runs in a child process (flow off, one market, no rate limits),
instrumented at two points on the shared ``CLOCK_MONOTONIC``:

- every socket write that carries an ``orderbook_delta`` caused by *another* user (no
  ``client_order_id`` in it) is time-stamped as it is handed to the kernel;
- every order-entry request (``POST /trade-api/v2/portfolio/events/orders...``) is time-stamped
  as aiohttp hands it to the app.

The bot is the real runtime (``Runner``: ``KalshiFeed`` -> ``Engine`` -> ``LiveVenue`` ->
``KalshiRestClient``, signing included) in this process, trading the market with
``spread_capture`` (join/improve the best bid by a tick). A second user moves its bid between
0.30 and 0.32 every 80 ms; each move makes the bot re-price (an amend). A sample is the time from
the write of the mover's delta to the arrival of the bot's next order request, when that arrives
before the next move.

Prints ``tick_to_order_p50`` / ``tick_to_order_p99`` (us) and the number of samples.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from benchmarks.common import percentile

MOVES = 250
SPACING_S = 0.08


def _child(conn) -> None:  # type: ignore[no-untyped-def]
    import asyncio as aio
    from asyncio import selector_events

    from aiohttp import web

    from kalshi_mm.exchange import server
    from kalshi_mm.exchange.server import ExchangeConfig, run_exchange

    writes: list[int] = []
    arrivals: list[tuple[int, str]] = []
    transport = selector_events._SelectorSocketTransport
    orig_write = transport.write

    def write(self, data):  # type: ignore[no-untyped-def]
        if b"orderbook_delta" in data and b"client_order_id" not in data:
            writes.append(time.monotonic_ns())
        return orig_write(self, data)

    transport.write = write  # type: ignore[method-assign]
    orig_mw = server.api_middleware

    @web.middleware
    async def timed(request, handler):  # type: ignore[no-untyped-def]
        if request.method == "POST" and request.path.startswith("/trade-api/v2/portfolio/events/orders"):
            arrivals.append((time.monotonic_ns(), request.headers.get("KALSHI-ACCESS-KEY", "")))
        return await orig_mw(request, handler)

    server.api_middleware = timed  # run_exchange builds its app with this middleware

    async def main() -> None:
        cfg = ExchangeConfig(seed=1, flow=False, markets=1, rate_limits=False)
        async with run_exchange(cfg) as ex:
            mover = ex.add_user()
            conn.send(
                (ex.base_url, ex.api_key_id, ex.private_key_pem, mover.api_key_id, mover.private_key_pem,
                 sorted(ex.state.engine.markets))
            )
            await aio.get_running_loop().run_in_executor(None, conn.recv)
            conn.send((writes, arrivals))

    aio.run(main())


async def _drive(info, tmp: Path) -> list[float]:  # type: ignore[no-untyped-def]
    from kalshi_mm.config import load_settings
    from kalshi_mm.kalshi.auth import Signer
    from kalshi_mm.runtime.runner import Runner, RunOptions
    from kalshi_mm.venue.rest import KalshiRestClient

    base_url, key_id, pem, mover_id, mover_pem, tickers = info
    ticker = tickers[0]
    key_file = tmp / "bot.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    settings = load_settings(
        None, env="local", base_url=base_url, api_key_id=key_id, private_key_file=str(key_file),
        data_dir=str(tmp / "data"), strategy="spread_capture", tier="prime",
        execution={"min_move_ticks": 1}, strategy_params={"spread_capture": {"order_size": 1.0}},
        risk={"stale_after_s": 60},
    )
    runner = Runner(settings, RunOptions(markets=(ticker,), tick_s=0.2, record_market_data=False))
    run = asyncio.create_task(runner.run())
    mover = KalshiRestClient("local", base_url=base_url, signer=Signer.from_pem(mover_id, mover_pem))
    try:
        bid = await mover.create_order(ticker, "bid", 3000, 1000, client_order_id="mover-bid")
        await mover.create_order(ticker, "ask", 7000, 1000, client_order_id="mover-ask")
        deadline = time.monotonic() + 20
        while len(runner.venue.live_orders()) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the bot never quoted")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        for i in range(MOVES):
            price = 3200 if i % 2 == 0 else 3000
            await mover.amend_order(bid.order_id, ticker=ticker, side="bid", price=price, count=1000)
            await asyncio.sleep(SPACING_S)
    finally:
        runner.stop("bench over")
        await run
        await mover.close()
    return []


def _pair(writes: list[int], arrivals: list[tuple[int, str]], bot_key: str) -> list[float]:
    bot = sorted(t for t, k in arrivals if k == bot_key)
    samples = []
    j = 0
    for i, w in enumerate(writes):
        nxt = writes[i + 1] if i + 1 < len(writes) else w + int(SPACING_S * 1e9)
        while j < len(bot) and bot[j] <= w:
            j += 1
        if j < len(bot) and bot[j] < nxt:
            samples.append((bot[j] - w) / 1000.0)
    return samples


def run() -> list[tuple[str, float, str]]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child,), daemon=True)
    proc.start()
    try:
        info = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_drive(info, Path(tmp)))
        parent.send("dump")
        writes, arrivals = parent.recv()
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    samples = _pair(writes, arrivals, info[1])
    return [
        ("tick_to_order_p50", percentile(samples, 50), "us"),
        ("tick_to_order_p99", percentile(samples, 99), "us"),
        ("tick_to_order_samples", float(len(samples)), "samples"),
    ]
