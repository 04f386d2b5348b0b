"""How many markets one process quotes with p99 tick-to-quote under 1 ms.

The gold recording fanned out over N synthetic markets in ONE ``Engine`` (A-S, the default
strategy; risk limits raised so that every market may quote): each of the 30 gold windows is
replicated as about N/30 copies with their own tickers. Every market first gets its window's
opening book snapshot (so all N markets rest quotes: "idle but quoting"), then 60 s of window 0's
data is replayed on all of window 0's copies at once (each copy shifted by its own offset under
1 s so that copies do not trade in lockstep; their events interleaved in time; the other markets
stay idle), with a ``Tick`` every 200 ms of data time and a perfect exchange echo
(``bench_core._Echo``: acks, fills when a trade crosses a resting order). Every ``Engine.handle``
of a data event or a Tick is timed (acks are not).

Tick-to-quote of an event is its latency in a single-threaded process fed at the data's own pace:
the time it waits behind earlier work (events and Ticks: a slow Tick blocks what arrives during
it) plus its own handle time. Events of one millisecond arrive evenly spread over it.

Metrics:

- ``markets_max``: the largest N in (100, 250, ..., 8000) whose p99 tick-to-quote is under 1 ms;
- ``tick_to_quote_p99_at_markets_max``: that p99 (us);
- ``scale_p99_<N>_markets``: p99 tick-to-quote; ``scale_handle_p99_<N>_markets``: p99 of the
  handle times alone; ``scale_tick_p99_<N>_markets``: p99 of the Ticks' handle times;
- ``tick_cost_1000_markets_us`` / ``..._p99_us`` / ``..._max_us``: mean, p99 and max Tick handle
  time with 1,000 markets (a Tick runs only the markets whose timers are due);
- ``tick_cost_1000_markets_full_us``: a Tick that runs every market (the reference behaviour,
  ``engine._lazy = False``), for comparison;
- ``tick_runs_per_tick_1000_markets``: markets a Tick ran, on average, at 1,000 markets.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Iterator
from typing import Any

import msgspec

from benchmarks.bench_core import _Echo
from benchmarks.common import percentile
from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.events import BookSnapshot, FeedResynced, MarketOpened, Tick, TradePrinted
from kalshi_mm.core.risk import RiskLimits

SIZES = (100, 250, 500, 1000, 2000, 4000, 8000)
DATA_MS = 60_000  # data time replayed per N (window 0, from its opening snapshot)
TICK_MS = 200
LIMIT_US = 1000.0
_SKIP = ("MarketOpened", "OrderAccepted", "OrderRejected", "OrderFilled", "OrderCanceled", "OrderExecuted",
         "PositionChanged", "BalanceChanged", "Tick")


def _load() -> tuple[list[str], dict[str, Any], dict[str, BookSnapshot], list[Any]]:
    """(windows in time order, their markets, each window's first snapshot, window 0's events)."""
    from kalshi_mm.research import data, replay

    tape, markets = replay.replay(data.gold_files())  # decoded once into the research cache
    first: dict[str, BookSnapshot] = {}
    order: list[str] = []
    for e in tape.events:
        if type(e) is BookSnapshot and e.ticker not in first:
            first[e.ticker] = e
            order.append(e.ticker)
    w0 = order[0]
    t0 = first[w0].ts_ms
    events = []
    for e in tape.events:
        if type(e).__name__ in _SKIP or getattr(e, "ticker", None) != w0:
            continue
        if t0 <= e.ts_ms < t0 + DATA_MS:
            events.append(e)
    return order, markets, first, events


def _fan_out(n: int, order: list[str]) -> dict[str, list[str]]:
    """window -> tickers of its copies; n tickers in all, about n / 30 per window."""
    copies: dict[str, list[str]] = {w: [] for w in order}
    for i in range(n):
        w = order[i % len(order)]
        copies[w].append(f"{w}-c{len(copies[w])}")
    return copies


def _rename(e: Any, ticker: str) -> Any:
    if isinstance(e, FeedResynced):
        return msgspec.structs.replace(e, tickers=(ticker,))
    return msgspec.structs.replace(e, ticker=ticker)


def _engine() -> Engine:
    risk = RiskLimits(max_total_position=1e9, max_open_orders=1_000_000, max_daily_loss=1e9, stale_after_s=3600)
    return Engine(EngineConfig(strategy="avellaneda_stoikov", risk=risk), id_prefix="scale")


def _replay(n: int, order: list[str], markets: dict[str, Any], first: dict[str, BookSnapshot],
            base: list[Any]) -> tuple[list[float], list[float], Engine, int]:
    copies = _fan_out(n, order)
    engine = _engine()
    echo = _Echo(engine)
    t0 = first[order[0]].ts_ms
    for w in order:
        m = markets[w]
        for tk in copies[w]:
            engine.handle(MarketOpened(ts_ms=t0, market=dataclasses.replace(m, ticker=tk)))
    for w in order:  # every market quotes from its window's opening book
        snap = first[w]
        for tk in copies[w]:
            s = msgspec.structs.replace(snap, ticker=tk, ts_ms=t0)
            echo.send(engine.handle(s), t0)
    keyed = []
    for j, tk in enumerate(copies[order[0]]):
        off = (j * 7919) % 1000  # ms: copies do not move in lockstep
        for i, e in enumerate(base):
            keyed.append((e.ts_ms + off, j, i, e, tk))
    keyed.sort(key=lambda x: (x[0], x[1], x[2]))
    stream = [msgspec.structs.replace(_rename(e, tk), ts_ms=t) for t, _, _, e, tk in keyed]
    del keyed
    handle = engine.handle
    clock = time.perf_counter_ns
    # (arrival us, service us, is_tick) in processing order
    work: list[tuple[float, float, bool]] = []
    next_tick = t0 + TICK_MS
    runs0 = engine.counters["tick_runs"]
    k = 0
    gc.collect()
    gc.disable()
    try:
        while k < len(stream):
            ms = stream[k].ts_ms
            j = k
            while j < len(stream) and stream[j].ts_ms == ms:
                j += 1
            while next_tick <= ms:
                a = clock()
                cmds = handle(Tick(ts_ms=next_tick))
                work.append((next_tick * 1000.0, (clock() - a) / 1000.0, True))
                echo.send(cmds, next_tick)
                next_tick += TICK_MS
            step = 1000.0 / (j - k)  # this millisecond's events arrive evenly spread over it
            for x in range(k, j):
                e = stream[x]
                a = clock()
                cmds = handle(e)
                work.append((ms * 1000.0 + (x - k) * step, (clock() - a) / 1000.0, False))
                if cmds:
                    echo.send(cmds, ms)
                if type(e) is TradePrinted:
                    echo.on_trade(e)
            k = j
    finally:
        gc.enable()
    return work, engine, engine.counters["tick_runs"] - runs0


def _latencies(work: list[tuple[float, float, bool]]) -> list[float]:
    """Tick-to-quote of each event: waiting behind earlier work plus its own handle time."""
    busy = 0.0
    out = []
    for arrival, service, is_tick in work:
        start = arrival if arrival > busy else busy
        busy = start + service
        if not is_tick:
            out.append(busy - arrival)
    return out


def _full_tick_us(engine: Engine, ticks: int = 5) -> float:
    """Mean cost of a Tick that runs every market (the reference behaviour)."""
    engine._lazy = False
    ts = engine.now_ms
    out = []
    for _ in range(ticks):
        ts += TICK_MS
        a = time.perf_counter_ns()
        engine.handle(Tick(ts_ms=ts))
        out.append((time.perf_counter_ns() - a) / 1000.0)
    engine._lazy = True
    return sum(out) / len(out)


def run() -> Iterator[tuple[str, float, str]]:
    order, markets, first, base = _load()
    _replay(100, order, markets, first, base[:5000])  # warm up
    best: tuple[int, float] | None = None
    for n in SIZES:
        work, engine, runs = _replay(n, order, markets, first, base)
        tick_us = [w[1] for w in work if w[2]]
        p99 = percentile(_latencies(work), 99)
        yield f"scale_p99_{n}_markets", p99, "us"
        yield f"scale_handle_p99_{n}_markets", percentile([w[1] for w in work], 99), "us"
        yield f"scale_tick_p99_{n}_markets", percentile(tick_us, 99), "us"
        if p99 < LIMIT_US:
            best = (n, p99)
        if n == 1000:
            yield "tick_cost_1000_markets_us", sum(tick_us) / len(tick_us), "us"
            yield "tick_cost_1000_markets_p99_us", percentile(tick_us, 99), "us"
            yield "tick_cost_1000_markets_max_us", max(tick_us), "us"
            yield "tick_runs_per_tick_1000_markets", runs / len(tick_us), "markets"
            yield "tick_cost_1000_markets_full_us", _full_tick_us(engine), "us"
        del engine
    yield "markets_max", float(best[0] if best else 0), "markets"
    yield "tick_to_quote_p99_at_markets_max", best[1] if best else float("nan"), "us"
