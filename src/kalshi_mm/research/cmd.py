"""``kmm record | analyze | backtest | sweep | experiment``: the research commands."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

experiment_app = typer.Typer(help="Reproductions of published results.", no_args_is_help=True)


def _strategies() -> list[str]:
    from kalshi_mm.core.strategies import STRATEGIES

    return sorted(STRATEGIES)


def _params(specs: list[str] | None) -> dict[str, Any]:
    from kalshi_mm.research.sweep import _num

    out: dict[str, Any] = {}
    for s in specs or []:
        k, _, v = s.partition("=")
        out[k.strip()] = _num(v)
    return out


def _windows(dataset: str, paths: list[Path] | None, markets: list[str] | None) -> dict[str, list[Path]]:
    from kalshi_mm.research import data

    if paths:
        out: dict[str, list[Path]] = {}
        for p in paths:
            files = sorted(p.rglob("*.ndjson.gz")) + sorted(p.rglob("*.jsonl")) if p.is_dir() else [p]
            for f in files:
                out.setdefault(f.parent.name if f.name.endswith((".ndjson.gz", ".jsonl")) else f.stem, []).append(f)
    elif dataset == "kxgold15m-ws":
        out = {k: list(v) for k, v in data.gold_windows().items()}
    elif dataset == "kxinx-trades":
        out = {f.stem: [f] for f in data.kxinx_files()}
    else:
        raise typer.BadParameter(f"unknown dataset {dataset!r} (kxgold15m-ws, kxinx-trades)")
    if markets:
        out = {k: v for k, v in out.items() if any(m in k for m in markets)}
    if not out:
        raise typer.BadParameter("no recordings selected")
    return out


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")

    @app.command()
    def backtest(
        strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s", help="strategy (repeat); default: all")] = None,
        dataset: Annotated[str, typer.Option(help="kxgold15m-ws or kxinx-trades")] = "kxgold15m-ws",
        path: Annotated[list[Path] | None, typer.Option("--path", help="recording files or folders instead")] = None,
        market: Annotated[list[str] | None, typer.Option("--market", "-m", help="substring filter (repeat)")] = None,
        param: Annotated[list[str] | None, typer.Option("--param", "-p", help="strategy param name=value")] = None,
        seed: int = 0,
        entry_latency: Annotated[str, typer.Option(help="ms, or lognormal:median:sigma")] = "25",
        response_latency: str = "25",
        queue: Annotated[str, typer.Option(help="prorata, risk_averse, optimistic")] = "prorata",
        fee_type: Annotated[str, typer.Option(help="series fee_type")] = "quadratic",
        together: Annotated[bool, typer.Option(help="one engine session over all windows (default)")] = True,
        out: Annotated[Path, typer.Option(help="output folder")] = Path("var/backtests"),
    ) -> None:
        """Backtest strategies with the live Engine over recordings; writes report.html + result.json."""
        from rich.console import Console
        from rich.table import Table

        from kalshi_mm.domain.fees import FeeSchedule
        from kalshi_mm.research import backtest as bt
        from kalshi_mm.research import replay
        from kalshi_mm.research.report import write_report

        console = Console()
        windows = _windows(dataset, path, market)
        strategies = strategy or _strategies()
        params = _params(param)
        fees = FeeSchedule(fee_type)
        groups = {"all": [f for fs in windows.values() for f in fs]} if together else windows
        table = Table("strategy", "run", "events", "ev/s", "P&L $", "trading", "settle", "fees", "fills", "volume",
                      "Sharpe/min", "max DD", "mo30s c", "mo5m c")
        for name, files in groups.items():
            t0 = time.perf_counter()
            tape, markets = replay.replay(files)
            console.print(f"[dim]{name}: {len(files)} files, {len(tape):,} events decoded in {time.perf_counter() - t0:.1f} s[/dim]")
            for strat in strategies:
                p = params if strategy else {}
                r = bt.backtest(tape, markets, strategy=strat, params=p, seed=seed, entry_latency=entry_latency,
                                response_latency=response_latency, queue=queue, fees=fees)
                dest = out / f"{strat}-{name}-seed{seed}"
                html = write_report(r, dest, title=f"{strat} on {name}")
                s = r.summary()
                table.add_row(strat, name, f"{r.events:,}", f"{r.events_per_s:,.0f}", f"{s['pnl']:.2f}",
                              f"{s['trading_pnl']:.2f}", f"{s['settlement_pnl']:.2f}", f"{s['fees']:.2f}",
                              str(r.fills), f"{s['volume']:.0f}", f"{r.sharpe_per_minute:.3f}",
                              f"{r.max_drawdown:.2f}", f"{r.markouts['30s']:.2f}", f"{r.markouts['5m']:.2f}")
                console.print(f"[green]{strat}[/green] {name}: report {html}")
        console.print(table)

    @app.command()
    def sweep(
        strategy: str = "avellaneda_stoikov",
        grid: Annotated[list[str] | None, typer.Option("--grid", "-g", help="name=v1,v2 or name=a:b:step (repeat)")] = None,
        param: Annotated[list[str] | None, typer.Option("--param", "-p", help="fixed param name=value")] = None,
        dataset: str = "kxgold15m-ws",
        path: Annotated[list[Path] | None, typer.Option("--path")] = None,
        market: Annotated[list[str] | None, typer.Option("--market", "-m")] = None,
        scheduler: Annotated[str | None, typer.Option(help="address of an existing Dask scheduler")] = None,
        workers: int = 2,
        chunk: int = 10,
        seed: int = 0,
        out: Path = Path("var/sweep"),
    ) -> None:
        """Grid of strategy parameters x markets on Dask; writes the four result files."""
        from rich.console import Console
        from rich.progress import Progress

        from kalshi_mm.research import sweep as sw

        console = Console()
        windows = _windows(dataset, path, market)
        g = sw.parse_grid(grid) if grid else sw.DEFAULT_GRID
        n = len(sw.grid_points(g)) * len(windows)
        console.print(f"{len(sw.grid_points(g))} points x {len(windows)} markets = {n} backtests")
        with Progress(console=console) as prog:
            task = prog.add_task("sweep", total=None)

            def progress(done: int, total: int) -> None:
                prog.update(task, completed=done, total=total)

            s = sw.sweep(windows, strategy=strategy, grid=g, base_params=_params(param), options={"seed": seed},
                         scheduler=scheduler, n_workers=workers, chunk=chunk, out_dir=out, on_progress=progress)
        console.print(f"wall {s['wall_s']:.1f} s; best overall: {json.dumps(s['best_overall'])}")
        console.print(f"wrote {out}/market_results.json, overall_results.json, best_overall.json, best_by_market.json")

    @app.command()
    def analyze(
        path: Annotated[list[Path] | None, typer.Option("--path", help="recordings (else live REST)")] = None,
        ticker: Annotated[list[str] | None, typer.Option("--ticker", "-t", help="markets for live REST")] = None,
        csv_out: Annotated[Path | None, typer.Option("--csv")] = None,
        config: Annotated[Path | None, typer.Option("--config")] = None,
    ) -> None:
        """Per market: current spread, 1 h trade count/volume/average size, 1 h high and low."""
        from rich.console import Console
        from rich.table import Table

        from kalshi_mm.research import analyze as an

        if path:
            files = [f for p in path for f in (sorted(p.rglob("*.ndjson.gz")) if p.is_dir() else [p])]
            rows = an.from_recording(files)
        else:
            if not ticker:
                raise typer.BadParameter("live mode needs --ticker")
            from kalshi_mm.config import load_settings
            from kalshi_mm.venue.rest import KalshiRestClient

            settings = load_settings(config)

            async def go() -> list[an.MarketStats]:
                async with KalshiRestClient.from_settings(settings) as client:
                    return await an.from_rest(client, ticker, time.time_ns() // 1_000_000)

            rows = asyncio.run(go())
        table = Table("market", "bid", "ask", "spread", "trades 1h", "volume 1h", "avg trade 1h", "high 1h", "low 1h")

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:g}"

        for r in rows:
            table.add_row(r.ticker, f(r.bid), f(r.ask), f(r.spread), str(r.trades_1h), f"{r.volume_1h:.2f}",
                          f"{r.avg_trade_1h:.2f}", f(r.high_1h), f(r.low_1h))
        Console().print(table)
        if csv_out:
            an.write_csv(rows, csv_out)

    @app.command()
    def record(
        ticker: Annotated[list[str] | None, typer.Option("--ticker", "-t", help="markets to record")] = None,
        series: Annotated[str | None, typer.Option(help="record the open markets of a series")] = None,
        out: Path = Path("data/recordings"),
        rest: Annotated[bool, typer.Option("--rest", help="REST polling mode (JSONL)")] = False,
        interval: Annotated[float, typer.Option(help="REST poll interval, s")] = 3.0,
        duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
        config: Annotated[Path | None, typer.Option("--config")] = None,
        parquet: Annotated[Path | None, typer.Option(help="convert recordings (files/folder) to this Parquet file")] = None,
        source: Annotated[list[Path] | None, typer.Option("--source", help="recordings to convert")] = None,
    ) -> None:
        """Record order books, trades and lifecycle to NDJSON.gz (or poll REST to JSONL); --parquet converts."""
        from rich.console import Console

        from kalshi_mm.research import recorder as rc

        console = Console()
        if parquet is not None:
            srcs = [f for p in (source or [out]) for f in (sorted(p.rglob("*.ndjson.gz")) + sorted(p.rglob("*.jsonl")) if p.is_dir() else [p])]
            dest = rc.to_parquet(srcs, parquet)
            console.print(f"wrote {dest} from {len(srcs)} recordings")
            return
        from kalshi_mm.config import load_settings
        from kalshi_mm.venue.rest import KalshiRestClient

        settings = load_settings(config)

        def progress(st: rc.RecordStats) -> None:
            console.print(st.line(), end="\r")

        async def go() -> rc.RecordStats:
            async with KalshiRestClient.from_settings(settings) as client:
                tickers = list(ticker or [])
                if series:
                    tickers += [m.ticker for m in await client.get_all_markets(series_ticker=series, status="open")]
                if not tickers:
                    raise typer.BadParameter("give --ticker or --series")
                with rc.RecordingWriter(out, jsonl=rest) as w:
                    if rest:
                        return await rc.poll_rest(client, tickers, w, interval_s=interval, duration_s=duration,
                                                  on_progress=progress)
                    from kalshi_mm.venue.rest import signer_from_settings

                    feed = rc.recording_feed(w, env=settings.env, base_url=settings.base_url,
                                             signer=signer_from_settings(settings), markets=tickers)
                    return await rc.record_feed(feed, w, duration_s=duration, on_progress=progress)

        st = asyncio.run(go())
        console.print()
        console.print(f"done: {st.line()}")

    @experiment_app.command("as2008")
    def as2008(
        paths: int = 1000,
        seed: int = 0,
        json_file: Annotated[Path | None, typer.Option("--json")] = None,
    ) -> None:
        """Avellaneda & Stoikov (2008) §3.3 simulation beside the published table."""
        from kalshi_mm.research.experiments import avellaneda_stoikov_2008 as m

        t0 = time.perf_counter()
        table, problems = m.main(paths=paths, seed=seed, json_file=json_file)
        typer.echo(table)
        typer.echo(f"({paths} paths, seed {seed}, {time.perf_counter() - t0:.2f} s)")
        if problems:
            typer.echo("outside 3 standard errors of the paper:\n  " + "\n  ".join(problems))
            raise typer.Exit(1)
        typer.echo("all means within 3 standard errors of the published ones")
