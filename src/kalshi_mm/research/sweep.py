"""Parameter sweeps over markets on dask.distributed (ind_research's grid search, distributed).

A grid is a dict ``name -> values`` over any strategy parameters; every combination is
backtested on every market (window). The default is ind_research's ``gamma`` 0.05..1.0 x
``kappa`` 0.5..5.0 for the A-S strategy (``kappa`` per cent of price; see
``backtest.resolve_params``).

Work is split into tasks of (market, chunk of grid points), so each worker decodes a window once
(from the replay cache) and runs several backtests on it. ``LocalCluster`` by default, or an
existing scheduler by address. Outputs, as ind_research's ``find_best_results``:

- ``market_results.json``: market -> [{params, cash, inventory, fills, volume, fees}]
- ``overall_results.json``: [{params, mean_cash, total_cash, mean_abs_inventory, markets}]
- ``best_overall.json``: the point with the highest mean cash across markets
- ``best_by_market.json``: market -> its best point (highest cash, ties: smallest |inventory|)

``cash`` is the P&L in dollars after fees and settlement; ``inventory`` the position (contracts) at
the market's close, before settlement.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from kalshi_mm.domain.units import MONEY_SCALE

DEFAULT_GRID: dict[str, list[float]] = {
    "gamma": [round(0.05 * i, 2) for i in range(1, 21)],  # 0.05 .. 1.0
    "kappa": [round(0.5 * i, 1) for i in range(1, 11)],  # 0.5 .. 5.0
}


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(grid[n] for n in names))]


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["gamma=0.1,0.5", "kappa=1:5:1"]`` -> grid (``a:b:step`` is an inclusive range)."""
    out: dict[str, list[Any]] = {}
    for spec in specs:
        name, _, vals = spec.partition("=")
        if not vals:
            raise ValueError(f"grid spec {spec!r} must look like name=v1,v2 or name=start:stop:step")
        if ":" in vals:
            a, b, st = (float(x) for x in vals.split(":"))
            n = round((b - a) / st) + 1
            out[name.strip()] = [round(a + i * st, 10) for i in range(n)]
        else:
            out[name.strip()] = [_num(v) for v in vals.split(",")]
    return out


def _num(v: str) -> Any:
    v = v.strip()
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v.lower(), v)


@lru_cache(maxsize=4)
def _window(files: tuple[str, ...]) -> Any:
    from kalshi_mm.research import replay

    return replay.replay([Path(f) for f in files])


def run_task(
    market: str, files: Sequence[str], strategy: str, points: Sequence[dict[str, Any]], base: dict[str, Any],
    options: dict[str, Any],
) -> list[dict[str, Any]]:
    """Backtest every point on one market (runs on a worker)."""
    from kalshi_mm.research import backtest as bt

    tape, markets = _window(tuple(files))
    out = []
    for pt in points:
        params = {**base, **pt}
        r = bt.backtest(tape, markets, strategy=strategy, params=params, sample=False, **options)
        inv = sum(r.final_inventory.values())
        out.append({
            "market": market, "params": pt, "cash": r.pnl / MONEY_SCALE, "inventory": inv / 100,
            "fills": r.fills, "volume": r.volume / 100, "fees": r.fees / MONEY_SCALE, "events": r.events,
        })
    return out


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The four result files' contents from the per-(market, point) rows."""
    by_market: dict[str, list[dict[str, Any]]] = {}
    by_point: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_market.setdefault(r["market"], []).append({k: v for k, v in r.items() if k != "market"})
        by_point.setdefault(json.dumps(r["params"], sort_keys=True), []).append(r)
    for lst in by_market.values():
        lst.sort(key=lambda x: json.dumps(x["params"], sort_keys=True))
    overall = []
    for key in sorted(by_point):
        rs = by_point[key]
        overall.append({
            "params": rs[0]["params"],
            "mean_cash": sum(r["cash"] for r in rs) / len(rs),
            "total_cash": sum(r["cash"] for r in rs),
            "mean_abs_inventory": sum(abs(r["inventory"]) for r in rs) / len(rs),
            "fills": sum(r["fills"] for r in rs),
            "markets": len(rs),
        })
    best_overall = max(overall, key=lambda o: o["mean_cash"]) if overall else {}
    best_by_market = {
        m: min(lst, key=lambda x: (-x["cash"], abs(x["inventory"]))) for m, lst in sorted(by_market.items())
    }
    return {
        "market_results": dict(sorted(by_market.items())),
        "overall_results": overall,
        "best_overall": best_overall,
        "best_by_market": best_by_market,
    }


def write_results(summary: Mapping[str, Any], out_dir: Path | str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("market_results", "overall_results", "best_overall", "best_by_market"):
        p = out / f"{name}.json"
        p.write_text(json.dumps(summary[name], indent=2) + "\n")
        paths.append(p)
    return paths


def sweep(
    windows: Mapping[str, Sequence[Path | str]],
    *,
    strategy: str = "avellaneda_stoikov",
    grid: Mapping[str, Sequence[Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    processes: bool = True,
    chunk: int = 10,
    out_dir: Path | str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the grid on every window on Dask; write the four files to ``out_dir`` if given."""
    from distributed import Client, LocalCluster, as_completed

    points = grid_points(grid or DEFAULT_GRID)
    # decode every window once up front (fills the replay cache the workers read)
    from kalshi_mm.research import replay

    for files in windows.values():
        for f in files:
            replay.load(Path(f))
    tasks = [
        (m, [str(f) for f in files], points[i : i + chunk])
        for m, files in windows.items()
        for i in range(0, len(points), chunk)
    ]
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        futures = [
            client.submit(run_task, m, files, strategy, pts, dict(base_params or {}), dict(options or {}), pure=False)
            for m, files, pts in tasks
        ]
        for done, fut in enumerate(as_completed(futures), 1):
            rows.extend(fut.result())
            if on_progress is not None:
                on_progress(done, len(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    summary = summarize(rows)
    summary["wall_s"] = time.perf_counter() - t0
    summary["tasks"] = len(tasks)
    summary["points"] = len(points)
    if out_dir is not None:
        write_results(summary, out_dir)
    return summary
