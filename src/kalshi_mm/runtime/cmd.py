"""``kmm run`` (the market maker) and ``kmm paper`` (local exchange + market maker + dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer

from kalshi_mm.config import load_settings
from kalshi_mm.errors import ConfigError, KalshiMMError

log = logging.getLogger("kalshi_mm.runtime")


async def serve_dashboard(runner, host: str, port: int, token: str) -> tuple[asyncio.Task[None], object]:  # type: ignore[no-untyped-def]
    """Start the dashboard (uvicorn) in this loop; returns its task and server."""
    import uvicorn

    from kalshi_mm.dashboard.app import create_app
    from kalshi_mm.runtime.service import RuntimeService

    app = create_app(RuntimeService(runner), token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # the runner owns signals
    task = asyncio.get_running_loop().create_task(server.serve(), name="dashboard")
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        task.result()
    return task, server


async def run_with_dashboard(runner, dashboard: bool, host: str, port: int, token: str) -> int:  # type: ignore[no-untyped-def]
    task = server = None
    if dashboard:
        task, server = await serve_dashboard(runner, host, port, token)
        bound = server.servers[0].sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        typer.echo(f"dashboard: http://{host}:{bound}/#token={token}")
        typer.echo(f"dashboard token: {token}")
    try:
        return await runner.run()
    finally:
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 5)  # type: ignore[arg-type]


def _build_runner(**kw):  # type: ignore[no-untyped-def]
    from kalshi_mm.runtime.logs import setup_logging
    from kalshi_mm.runtime.runner import Runner, RunOptions

    settings = load_settings(
        kw["config"],
        env=kw["env"],
        base_url=kw["base_url"],
        strategy=kw["strategy"],
        data_dir=kw["data_dir"],
    )
    setup_logging(settings.data_dir / "ops.log", console=True)
    opts = RunOptions(
        markets=tuple(t for t in (kw["markets"] or "").split(",") if t),
        series=tuple(t for t in (kw["series"] or "").split(",") if t),
        dry_run=kw["dry_run"],
        duration_s=kw["duration"],
        max_markets=kw["max_markets"],
        select_every_s=kw["select_every"],
        orphans=kw["orphans"],
        confirm_prod=kw["confirm_prod"],
        record_dir=kw.get("record"),
    )
    if opts.orphans not in ("cancel", "adopt"):
        raise ConfigError("--orphans must be cancel or adopt")
    return settings, Runner(settings, opts)


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        env: str = typer.Option(None, help="local | demo | prod (default from config, else local)."),
        strategy: str = typer.Option(None, help="spread_capture | avellaneda_stoikov | dual_sided."),
        base_url: str = typer.Option(None, "--base-url", help="Server root, e.g. http://127.0.0.1:8765."),
        config: Path = typer.Option(None, "--config", help="TOML config file."),
        markets: str = typer.Option(None, help="Comma-separated tickers to trade (default: selection)."),
        series: str = typer.Option(None, help="Restrict selection to these series (comma-separated)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Run everything, print and journal commands, send none."),
        duration: float = typer.Option(None, help="Stop cleanly after this many seconds."),
        no_dashboard: bool = typer.Option(False, "--no-dashboard", help="Do not start the dashboard."),
        dashboard_host: str = typer.Option("127.0.0.1", help="Dashboard interface."),
        dashboard_port: int = typer.Option(None, help="Dashboard port (default 8080; 0 = any)."),
        data_dir: Path = typer.Option(None, help="Journal, tape and logs go here (default var/)."),
        max_markets: int = typer.Option(5, help="How many markets selection trades at once."),
        select_every: float = typer.Option(30.0, help="Seconds between market selection rounds."),
        orphans: str = typer.Option("cancel", help="Resting orders not from this run: cancel | adopt."),
        confirm_prod: bool = typer.Option(
            False, "--i-understand-this-is-real-money", help="Required with --env prod."
        ),
        record: Path = typer.Option(
            None, "--record", help="Record the session (engine inputs + raw WS frames) into this folder."
        ),
    ) -> None:
        """Run the market maker (live, demo or local paper trading)."""
        try:
            settings, runner = _build_runner(
                env=env, strategy=strategy, base_url=base_url, config=config, markets=markets, series=series,
                dry_run=dry_run, duration=duration, data_dir=data_dir, max_markets=max_markets,
                select_every=select_every, orphans=orphans, confirm_prod=confirm_prod, record=record,
            )
        except KalshiMMError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        token = (
            settings.dashboard.token.get_secret_value() if settings.dashboard.token else secrets.token_urlsafe(16)
        )
        port = dashboard_port if dashboard_port is not None else settings.dashboard.port
        code = asyncio.run(
            run_with_dashboard(runner, not no_dashboard and settings.dashboard.enabled, dashboard_host, port, token)
        )
        raise typer.Exit(code)

    @app.command()
    def paper(
        data_dir: Path = typer.Option(Path("var"), help="Keys, journal, tape and logs."),
        port: int = typer.Option(8765, help="Local exchange port."),
        dashboard_port: int = typer.Option(8080, help="Dashboard port."),
        strategy: str = typer.Option("avellaneda_stoikov", help="Strategy to paper-trade."),
        markets: int = typer.Option(6, help="Markets the local exchange lists at once."),
        max_markets: int = typer.Option(3, help="Markets the bot trades at once."),
        market_seconds: float = typer.Option(300.0, help="Lifetime of the shortest local series (s)."),
        duration: float = typer.Option(None, help="Stop after this many seconds."),
        seed: int = typer.Option(1, help="Exchange seed."),
    ) -> None:
        """Local exchange + market maker in paper mode + dashboard (what `make run` starts)."""
        keys = data_dir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        for f in ("api_key_id", "private_key.pem"):
            with contextlib.suppress(FileNotFoundError):
                (keys / f).unlink()
        if _port_busy(port):
            typer.echo(f"error: port {port} is in use (another `make run`?); pass --port", err=True)
            raise typer.Exit(1)
        cmd = [
            sys.executable, "-m", "kalshi_mm.cli", "exchange", "--port", str(port), "--keys-dir", str(keys),
            "--seed", str(seed), "--markets", str(markets), "--market-seconds", str(market_seconds),
        ]
        exchange = subprocess.Popen(cmd, start_new_session=True)
        try:
            _wait_for_exchange(exchange, keys, port)
            os.environ["KALSHI_API_KEY_ID"] = (keys / "api_key_id").read_text().strip()
            os.environ["KALSHI_PRIVATE_KEY_FILE"] = str(keys / "private_key.pem")
            base_url = f"http://127.0.0.1:{port}"
            typer.echo(f"local exchange: {base_url} (pid {exchange.pid})")
            _, runner = _build_runner(
                env="local", strategy=strategy, base_url=base_url, config=None, markets=None, series=None,
                dry_run=False, duration=duration, data_dir=data_dir, max_markets=max_markets,
                select_every=10.0, orphans="cancel", confirm_prod=False,
            )
            token = secrets.token_urlsafe(16)
            code = asyncio.run(run_with_dashboard(runner, True, "127.0.0.1", dashboard_port, token))
        except KalshiMMError as e:
            typer.echo(f"error: {e}", err=True)
            code = 1
        finally:
            if exchange.poll() is None:
                exchange.send_signal(signal.SIGINT)
                try:
                    exchange.wait(10)
                except subprocess.TimeoutExpired:
                    exchange.kill()
        raise typer.Exit(code)


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_exchange(proc: subprocess.Popen[bytes], keys: Path, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the local exchange exited with code {proc.returncode}")
        if (keys / "private_key.pem").exists() and (keys / "api_key_id").exists() and _port_busy(port):
            return
        time.sleep(0.1)
    raise ConfigError("the local exchange did not start within 30 s")
