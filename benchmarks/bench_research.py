"""Research benchmarks: backtest throughput and sweep wall time / scaling.

- ``backtest_events_per_s``: the A-S strategy on the live Engine over the full kxgold15m-ws
  recording (all 31 files, one engine session, one process), replay decoded from the cache
  beforehand; the loop, the simulated venue and the engine are timed.
- ``backtest_loop_null_engine_events_per_s``: the same loop and venue with an engine that returns
  no commands: the backtester's own cost per event.
- ``sweep_90x5_wall_s`` with 1 and 2 Dask worker processes: 9 gammas x 10 kappas over 5 windows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

SWEEP_WINDOWS = (
    "KXGOLD15M-26AUG050000-00",
    "KXGOLD15M-26AUG101830-30",
    "KXGOLD15M-26AUG101900-00",
    "KXGOLD15M-26AUG102200-00",
    "KXGOLD15M-26AUG102245-45",
)
SWEEP_GRID = {
    "gamma": [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
    "kappa": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0],
}


class _NullEngine:
    def handle(self, event: object) -> list:
        return []


def run() -> Iterator[tuple[str, float, str]]:
    from kalshi_mm.research import backtest as bt
    from kalshi_mm.research import data, replay
    from kalshi_mm.research import sweep as sw

    files = data.gold_files()
    tape, markets = replay.replay(files)  # decodes once into the cache
    r = bt.backtest(tape, markets, strategy="avellaneda_stoikov", sample=False)
    yield "backtest_events_per_s", r.events_per_s, "events/s"
    null = bt.run(tape, _NullEngine(), bt.make_venue(markets), markets=markets, sample=False)
    yield "backtest_loop_null_engine_events_per_s", null.events_per_s, "events/s"

    windows = {w: fs for w, fs in data.gold_windows().items() if w in SWEEP_WINDOWS}
    for n in (1, 2):
        t0 = time.perf_counter()
        sw.sweep(windows, grid=SWEEP_GRID, n_workers=n, processes=True, chunk=10)
        yield f"sweep_90x5_wall_s_{n}_worker{'s' if n > 1 else ''}", time.perf_counter() - t0, "s"
