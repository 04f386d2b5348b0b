"""Core hot path: one ``orderbook_delta``'s bytes -> decode -> book -> signals -> strategy -> risk
-> diff -> commands, over the real gold recording replayed in process, for each strategy.

Per delta, one ``perf_counter_ns`` pair times ``parse.decode_delta_fast(bytes)`` ->
``BookDelta(...)`` -> ``Engine.handle`` (the engine's whole pipeline, including the commands it
returns). Everything else is untimed: snapshots and trades (decoded through ``parse.decode_ws`` /
``parse.ws_events``), a ``Tick`` per second of exchange time, and a perfect exchange echo that
acknowledges every command at once and fills our resting orders when a public trade prints
through them (so positions, skew, exits and the risk rules are live during the replay).

Metrics (microseconds): ``tick_to_quote_p50_<strategy>`` / ``..._p99_<strategy>`` over every
delta; ``tick_to_quote_cmd_p50_<strategy>`` over the deltas that produced commands; the overall
``tick_to_quote_p50`` / ``tick_to_quote_p99`` for the default strategy (avellaneda_stoikov, the
config default); and ``core_memory_per_market`` (KB, tracemalloc over one replayed window).
"""

from __future__ import annotations

import csv
import gc
import time
import tracemalloc
from datetime import datetime

import msgspec

from benchmarks.common import GOLD, gold_lines, percentile
from kalshi_mm.core.commands import AmendOrder, CancelAll, CancelOrder, DecreaseOrder, PlaceOrder
from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.events import (
    BookDelta,
    MarketOpened,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    Tick,
    TradePrinted,
)
from kalshi_mm.domain.market import Market
from kalshi_mm.kalshi import parse

FILES = 8  # the first eight windows: ~315k deltas
DEFAULT = "avellaneda_stoikov"
STRATEGIES = ("avellaneda_stoikov", "spread_capture", "dual_sided")


class _Line(msgspec.Struct):
    recv_ms: int
    event: msgspec.Raw


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _markets() -> list[Market]:
    out = []
    with open(GOLD / "MARKETS.csv", newline="") as f:
        for row in csv.DictReader(f):
            out.append(
                Market(
                    ticker=row["window"],
                    event_ticker=row["event_ticker"],
                    open_ts_ms=_iso_ms(row["open_time"]),
                    close_ts_ms=_iso_ms(row["close_time"]),
                )
            )
    return out


def _stream(files: int) -> list[tuple[str, object]]:
    """("delta", bytes) or ("event", core event), in recording order."""
    dec = msgspec.json.Decoder(_Line)
    out: list[tuple[str, object]] = []
    for line in gold_lines(files):
        rec = dec.decode(line)
        raw = bytes(rec.event)
        if raw.startswith(b'{"type":"orderbook_delta"'):
            out.append(("delta", raw))
        else:
            for ev in parse.ws_events(parse.decode_ws(raw), rec.recv_ms):
                out.append(("event", ev))
    return out


class _Echo:
    """Acknowledges every command immediately; fills resting orders that a public trade crosses."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.n = 0

    def send(self, cmds: list, ts: int) -> None:
        e = self.e
        for _ in range(20):
            if not cmds:
                return
            nxt: list = []
            for c in cmds:
                if isinstance(c, PlaceOrder):
                    if c.time_in_force != "good_till_canceled":
                        nxt += e.handle(
                            OrderAccepted(ts_ms=ts, ticker=c.ticker, order_id="x" + c.client_order_id,
                                          client_order_id=c.client_order_id, side=c.side, price=c.price, remaining=0)
                        )
                        continue
                    nxt += e.handle(
                        OrderAccepted(ts_ms=ts, ticker=c.ticker, order_id="x" + c.client_order_id,
                                      client_order_id=c.client_order_id, side=c.side, price=c.price,
                                      remaining=c.count)
                    )
                elif isinstance(c, AmendOrder | DecreaseOrder):
                    o = e.markets[c.ticker].orders.get(c.client_order_id)
                    if o is None:
                        continue
                    if isinstance(c, AmendOrder):
                        price, rem = c.price, c.count - o.filled
                    else:
                        price, rem = o.price, c.reduce_to
                    nxt += e.handle(
                        OrderAccepted(ts_ms=ts, ticker=c.ticker, order_id=c.order_id,
                                      client_order_id=c.client_order_id, side=o.side, price=price,
                                      remaining=rem, filled=o.filled)
                    )
                elif isinstance(c, CancelOrder):
                    nxt += e.handle(
                        OrderCanceled(ts_ms=ts, ticker=c.ticker, order_id=c.order_id,
                                      client_order_id=c.client_order_id)
                    )
                elif isinstance(c, CancelAll):
                    for mm in list(e.markets.values()):
                        for o in list(mm.orders.values()):
                            if o.order_id:
                                nxt += e.handle(OrderCanceled(ts_ms=ts, ticker=mm.ticker, order_id=o.order_id,
                                                              client_order_id=o.client_order_id))
            cmds = nxt

    def on_trade(self, t: TradePrinted) -> None:
        mm = self.e.markets.get(t.ticker)
        if mm is None:
            return
        left = t.count
        for o in list(mm.orders.values()):
            if left <= 0 or not o.order_id or o.remaining <= 0:
                continue
            crosses = (t.taker_side == "yes" and o.side == "ask" and o.price <= t.price) or (
                t.taker_side == "no" and o.side == "bid" and o.price >= t.price
            )
            if not crosses:
                continue
            k = min(left, o.remaining)
            left -= k
            self.n += 1
            self.send(
                self.e.handle(
                    OrderFilled(ts_ms=t.ts_ms, ticker=t.ticker, order_id=o.order_id,
                                client_order_id=o.client_order_id, fill_id=f"bf{self.n}", side=o.side,
                                price=o.price, count=k, fee=0, is_taker=False)
                ),
                t.ts_ms,
            )


def _replay(strategy: str, stream: list[tuple[str, object]], markets: list[Market]) -> tuple[list[float], list[float], Engine]:
    engine = Engine(EngineConfig(strategy=strategy), id_prefix=f"bench-{strategy}")
    echo = _Echo(engine)
    for m in markets:
        engine.handle(MarketOpened(ts_ms=m.open_ts_ms, market=m))
    clock = time.perf_counter_ns
    decode = parse.decode_delta_fast
    handle = engine.handle
    all_us: list[float] = []
    cmd_us: list[float] = []
    next_tick = 0
    gc.collect()
    gc.disable()
    try:
        for kind, item in stream:
            if kind == "delta":
                t0 = clock()
                ticker, side, price, delta, ts, _seq, coid = decode(item)  # type: ignore[arg-type]
                cmds = handle(BookDelta(ts_ms=ts, ticker=ticker, side=side, price=price, delta=delta,  # type: ignore[arg-type]
                                        client_order_id=coid))
                dt = (clock() - t0) / 1000.0
                all_us.append(dt)
                if cmds:
                    cmd_us.append(dt)
                    echo.send(cmds, ts)
            else:
                ev = item
                ts = ev.ts_ms  # type: ignore[attr-defined]
                echo.send(handle(ev), ts)
                if isinstance(ev, TradePrinted):
                    echo.on_trade(ev)
            if ts >= next_tick:
                if next_tick:
                    echo.send(handle(Tick(ts_ms=ts)), ts)
                next_tick = ts + 1000
    finally:
        gc.enable()
    return all_us, cmd_us, engine


def _memory_per_market(markets: list[Market]) -> float:
    """KB held by the engine per replayed market (book, signals, strategy, orders, position)."""
    stream = _stream(1)
    events: list[object] = []
    for kind, item in stream:
        if kind == "delta":
            ticker, side, price, delta, ts, _seq, coid = parse.decode_delta_fast(item)  # type: ignore[arg-type]
            events.append(BookDelta(ts_ms=ts, ticker=ticker, side=side, price=price, delta=delta,  # type: ignore[arg-type]
                                    client_order_id=coid))
        else:
            events.append(item)
    tickers = {getattr(e, "ticker", None) for e in events} - {None}
    mkts = [m for m in markets if m.ticker in tickers]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine = Engine(EngineConfig(strategy=DEFAULT), id_prefix="mem")
    echo = _Echo(engine)
    for m in mkts:
        engine.handle(MarketOpened(ts_ms=m.open_ts_ms, market=m))
    next_tick = 0
    for ev in events:
        ts = ev.ts_ms  # type: ignore[attr-defined]
        echo.send(engine.handle(ev), ts)
        if isinstance(ev, TradePrinted):
            echo.on_trade(ev)
        if ts >= next_tick:
            echo.send(engine.handle(Tick(ts_ms=ts)), ts)
            next_tick = ts + 1000
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del engine
    return used / max(len(mkts), 1) / 1024.0


def run() -> list[tuple[str, float, str]]:
    markets = _markets()
    stream = _stream(FILES)
    out: list[tuple[str, float, str]] = []
    overall: tuple[float, float] | None = None
    for strategy in STRATEGIES:
        _replay(strategy, stream[:20_000], markets)  # warm caches
        all_us, cmd_us, engine = _replay(strategy, stream, markets)
        p50, p99 = percentile(all_us, 50), percentile(all_us, 99)
        out.append((f"tick_to_quote_p50_{strategy}", p50, "us"))
        out.append((f"tick_to_quote_p99_{strategy}", p99, "us"))
        out.append((f"tick_to_quote_cmd_p50_{strategy}", percentile(cmd_us, 50), "us"))
        out.append((f"tick_to_quote_cmd_share_{strategy}", 100.0 * len(cmd_us) / max(len(all_us), 1), "%"))
        out.append((f"core_commands_{strategy}", float(engine.counters["commands"]), "commands"))
        out.append((f"core_fills_{strategy}", float(engine.counters["fills"]), "fills"))
        if strategy == DEFAULT:
            overall = (p50, p99)
    assert overall is not None
    out.append(("tick_to_quote_p50", overall[0], "us"))
    out.append(("tick_to_quote_p99", overall[1], "us"))
    out.append(("core_memory_per_market", _memory_per_market(markets), "KB"))
    return out
