"""``kmm exchange``: serve the local Kalshi-compatible exchange until SIGINT/SIGTERM.

    kmm exchange --host 127.0.0.1 --port 8765 --seed 1 --keys-dir var/exchange-keys

writes ``DIR/api_key_id`` and ``DIR/private_key.pem`` (chmod 600) for a funded account and prints
their locations and the base URLs. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("exchange")
    def exchange(
        host: str = typer.Option("127.0.0.1", help="Interface to bind."),
        port: int = typer.Option(8765, help="TCP port (0 = ephemeral)."),
        seed: int = typer.Option(1, help="Seed of every random choice (flow, results, faults)."),
        keys_dir: Path = typer.Option(
            Path("var/exchange-keys"), "--keys-dir", help="Where to write the key files."
        ),
        markets: int = typer.Option(3, help="Markets open at once."),
        market_seconds: float | None = typer.Option(
            None, help="Lifetime of the shortest series in seconds (default: real 15 min / 1 h / 1 day)."
        ),
        flow: bool = typer.Option(True, "--flow/--no-flow", help="Synthetic participants on/off."),
        flow_speed: float = typer.Option(1.0, help="Participants' activity multiplier."),
        balance_cents: int = typer.Option(10_000_000, help="Starting balance of the funded account (cents)."),
        tier: str = typer.Option("basic", help="Rate-limit tier: basic, advanced, premier, paragon, prime."),
        no_rate_limits: bool = typer.Option(False, "--no-rate-limits", help="Disable the token buckets."),
        fee_type: str | None = typer.Option(
            None, help="Override fee_type: quadratic, quadratic_with_maker_fees ..."
        ),
        post_only_cancel: bool = typer.Option(
            False, help="Crossing post-only orders are canceled, not rejected."
        ),
        key_type: str = typer.Option("rsa", help="rsa (PKCS#1 PEM) or ed25519 (PKCS#8)."),
        error_429_rate: float = typer.Option(0.0, help="Fault: fraction of requests answered 429."),
        error_500_rate: float = typer.Option(0.0, help="Fault: fraction of requests answered 500."),
        ws_delay_ms: int = typer.Option(0, help="Fault: delay of every WS message."),
        skip_seq_every: int | None = typer.Option(None, help="Fault: skip a seq every N sequenced messages."),
    ) -> None:
        """Serve the local exchange (REST /trade-api/v2, WS /trade-api/ws/v2, admin /admin)."""
        from kalshi_mm.exchange.server import ExchangeConfig, Faults, run_exchange

        config = ExchangeConfig(
            seed=seed,
            flow=flow,
            flow_speed=flow_speed,
            markets=markets,
            market_seconds=market_seconds,
            starting_balance_cents=balance_cents,
            tier=tier,
            rate_limits=not no_rate_limits,
            fee_type=fee_type,
            post_only_reject=not post_only_cancel,
            key_kind=key_type,
            faults=Faults(
                error_429_rate=error_429_rate,
                error_500_rate=error_500_rate,
                ws_delay_ms=ws_delay_ms,
                skip_seq_every=skip_seq_every,
            ),
        )

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            async with run_exchange(config, host=host, port=port, keys_dir=keys_dir) as ex:
                typer.echo(f"kalshi-mm local exchange on {ex.base_url}")
                typer.echo(f"  REST      {ex.rest_url}")
                typer.echo(f"  WebSocket {ex.ws_url}")
                typer.echo(f"  admin     {ex.base_url}/admin/stats")
                typer.echo(f"  key id    {keys_dir / 'api_key_id'}  ({ex.api_key_id})")
                typer.echo(f"  key file  {ex.private_key_file}")
                typer.echo(f"  markets   {', '.join(ex.state.engine.markets)}")
                typer.echo("Ctrl-C to stop.", err=True)
                await stop.wait()
            typer.echo("exchange stopped", err=True)

        asyncio.run(serve())
