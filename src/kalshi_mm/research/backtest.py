"""Backtests: the live Engine, strategies and risk, driven by a replayed tape.

The loop is the whole backtester (``run``); it keeps two clocks, as the live system has:

- the engine's clock is the time we *received* each message (``Tape.recv``); events reach
  ``Engine.handle`` in that order, with a ``Tick`` at every ``tick_ms`` boundary;
- the venue's clock is the exchange's (``event.ts_ms``): a command sent at engine time t reaches
  the :class:`~kalshi_mm.research.simvenue.SimVenue` at t + entry latency and is executed before any
  market event with a later exchange time; the venue's answers reach the engine one response
  latency later, fills when the trade that caused them was received.

With ``venue=RecordedFillsVenue()`` (parity mode) the tape's own private events (the exchange's
fills and order updates of a recorded session) are fed to the engine and its commands are only
recorded.

Results (integers for money until the statistics): P&L split into trading, settlement and fees,
fills, volume, inventory path, Sharpe of per-minute P&L, max drawdown, markouts of fills at 30 s
and 5 min, and the engine's command count. Deterministic for a seed (the latency models' seed).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kalshi_mm.core import commands as cm
from kalshi_mm.core import events as ev
from kalshi_mm.domain.fees import DEFAULT_FEES, FeeSchedule
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.units import MONEY_SCALE, ONE_DOLLAR
from kalshi_mm.research.replay import PRIVATE, Tape
from kalshi_mm.research.simvenue import (
    QUEUE_MODELS,
    ConstantLatency,
    RecordedFillsVenue,
    SimVenue,
    latency_from_spec,
)

MARKOUT_HORIZONS_MS = (30_000, 300_000)
MINUTE_MS = 60_000


# -- engine construction --------------------------------------------------------------------------
def resolve_params(strategy: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Strategy parameters with the sweep's aliases resolved.

    ``kappa`` (ind_research's order-arrival decay, per *cent* of price) becomes the A-S ``k`` per
    dollar (``k = 100 * kappa``) and switches off the fitted k, so the grid value is the one used.
    """
    out = dict(params or {})
    if "kappa" in out:
        kappa = float(out.pop("kappa"))
        if strategy == "avellaneda_stoikov":
            out["k"] = 100.0 * kappa
            out.setdefault("fit_k", False)
    return out


def build_engine(
    strategy: str = "avellaneda_stoikov",
    params: Mapping[str, Any] | None = None,
    *,
    risk: Mapping[str, Any] | None = None,
    execution: Mapping[str, Any] | None = None,
    fees: FeeSchedule | None = None,
    id_prefix: str = "bt",
) -> Any:
    """The live ``core.engine.Engine`` configured for one strategy (the same code as ``kmm run``)."""
    from kalshi_mm.core.engine import Engine, EngineConfig

    kw: dict[str, Any] = {}
    if fees is not None:
        kw["fees"] = fees
    cfg = EngineConfig.from_dicts(
        strategy,
        resolve_params(strategy, params),
        risk=dict(risk) if risk is not None else None,
        execution=dict(execution) if execution is not None else None,
        **kw,
    )
    return Engine(cfg, id_prefix=id_prefix)


# -- results --------------------------------------------------------------------------------------
@dataclass
class Samples:
    """Per-tick samples (floats, for statistics and plots)."""

    t: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)  # dollars, marked at the mid
    inventory: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # ticker -> (t, Qty)
    mids: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # ticker -> (t, Price)
    market: dict[str, list[tuple[int, int | None, int | None]]] = field(default_factory=dict)  # bid/ask
    quotes: dict[str, list[tuple[int, int | None, int | None]]] = field(default_factory=dict)  # ours


@dataclass
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    seed: int
    markets: list[str]
    events: int
    wall_s: float
    pnl: int  # Money: total = trading + settlement - fees
    trading_pnl: int
    settlement_pnl: int
    fees: int
    fills: int
    maker_fills: int
    volume: int  # Qty
    commands: int
    rejects: int
    final_inventory: dict[str, int]  # Qty per market at close, before settlement
    max_abs_inventory: int
    sharpe_per_minute: float
    max_drawdown: float  # dollars
    markouts: dict[str, float]  # "30s"/"5m" -> mean markout per contract, cents (volume-weighted)
    per_market: dict[str, dict[str, Any]]
    fill_log: list[dict[str, Any]]
    samples: Samples = field(repr=False, default_factory=Samples)
    command_log: list[tuple[int, cm.Command]] = field(repr=False, default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def cash(self) -> float:
        return self.pnl / MONEY_SCALE

    def summary(self) -> dict[str, Any]:
        d = {
            "strategy": self.strategy,
            "params": self.params,
            "seed": self.seed,
            "markets": self.markets,
            "events": self.events,
            "wall_s": round(self.wall_s, 3),
            "events_per_s": round(self.events_per_s),
            "pnl": self.pnl / MONEY_SCALE,
            "trading_pnl": self.trading_pnl / MONEY_SCALE,
            "settlement_pnl": self.settlement_pnl / MONEY_SCALE,
            "fees": self.fees / MONEY_SCALE,
            "fills": self.fills,
            "maker_fills": self.maker_fills,
            "volume": self.volume / 100,
            "commands": self.commands,
            "rejects": self.rejects,
            "final_inventory": {k: v / 100 for k, v in self.final_inventory.items()},
            "max_abs_inventory": self.max_abs_inventory / 100,
            "sharpe_per_minute": self.sharpe_per_minute,
            "sharpe_annualized": self.sharpe_per_minute * math.sqrt(60 * 24 * 365),
            "max_drawdown": self.max_drawdown,
            "markouts_cents": self.markouts,
            "per_market": self.per_market,
        }
        return d

    def deterministic_view(self) -> dict[str, Any]:
        """Everything but the timing: equal for equal seeds."""
        d = self.summary()
        d.pop("wall_s")
        d.pop("events_per_s")
        d["fill_log"] = self.fill_log
        return d


# -- the loop -------------------------------------------------------------------------------------
def make_venue(
    markets: Mapping[str, Market],
    *,
    seed: int = 0,
    entry_latency: str | int = 25,
    response_latency: str | int = 25,
    queue: str = "prorata",
    fees: FeeSchedule | Mapping[str, FeeSchedule] = DEFAULT_FEES,
    fill_on_cross: bool = True,
    echo_own_orders: bool = True,
) -> SimVenue:
    return SimVenue(
        markets=markets,
        fees=fees,
        entry_latency=latency_from_spec(entry_latency, seed),
        response_latency=latency_from_spec(response_latency, seed + 1),
        queue_model=QUEUE_MODELS[queue](),
        fill_on_cross=fill_on_cross,
        echo_own_orders=echo_own_orders,
    )


def run(
    tape: Tape,
    engine: Any,
    venue: SimVenue | RecordedFillsVenue,
    *,
    markets: Mapping[str, Market] | None = None,
    tick_ms: int = 1000,
    sample: bool = True,
    record_commands: bool = True,
    strategy: str = "",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Drive ``engine`` with ``tape`` against ``venue``; settle every determined market at the end."""
    markets = dict(markets or getattr(venue, "markets", {}) or {})
    handle = engine.handle
    recorded = isinstance(venue, RecordedFillsVenue)
    sim = venue if isinstance(venue, SimVenue) else None
    outbox = venue.outbox
    arrivals = sim._arrivals if sim is not None else []
    submit = venue.submit
    log: list[tuple[int, cm.Command]] = []
    samples = Samples()
    settle_values: dict[str, int] = {}
    close_inv: dict[str, int] = {}
    n_commands = 0

    BookDelta, TradePrinted, BookSnapshot = ev.BookDelta, ev.TradePrinted, ev.BookSnapshot
    MarketDataBatch = ev.MarketDataBatch
    MarketClosed, MarketDetermined, Tick = ev.MarketClosed, ev.MarketDetermined, ev.Tick
    OrderFilled = ev.OrderFilled
    private = set(PRIVATE)

    def send(cmds: list[cm.Command], now: int) -> None:
        nonlocal n_commands
        n_commands += len(cmds)
        if record_commands:
            log.extend((now, c) for c in cmds)
        submit(cmds, now)

    def deliver(upto: int) -> None:
        """Venue events due at engine time <= upto, each handled at its delivery time."""
        while outbox and outbox[0][0] <= upto:
            at = outbox[0][0]
            for x in sim.due(at) if sim is not None else ():
                cmds = handle(x)
                if cmds:
                    send(cmds, at)

    def take_sample(t: int) -> None:
        samples.t.append(t)
        samples.equity.append(_equity(venue, sim) / MONEY_SCALE)
        if sim is None:
            return
        for tk, b in sim.books.items():
            if not b.yes and not b.no and tk not in samples.mids:
                continue
            bid = max(b.yes) if b.yes else None
            ask = ONE_DOLLAR - max(b.no) if b.no else None
            if bid is not None and ask is not None:
                samples.mids.setdefault(tk, []).append((t, (bid + ask) / 2.0))
            samples.market.setdefault(tk, []).append((t, bid, ask))
            ours_b = [o.price for o in sim.orders.values() if o.ticker == tk and o.side == "bid"]
            ours_a = [o.price for o in sim.orders.values() if o.ticker == tk and o.side == "ask"]
            samples.quotes.setdefault(tk, []).append((t, max(ours_b) if ours_b else None, min(ours_a) if ours_a else None))
            samples.inventory.setdefault(tk, []).append((t, venue.portfolio.qty(tk)))

    recvs: list[int] = tape.recv
    events: list[Any] = tape.events
    n = len(events)
    next_tick = ((recvs[0] // tick_ms) + 1) * tick_ms if n and tick_ms else 1 << 62
    t0 = time.perf_counter()
    i = 0
    for recv, e in zip(recvs, events, strict=True):
        if recv >= next_tick:
            if recv - next_tick > 120 * tick_ms:  # a long silence: skip to the last boundary
                next_tick = (recv // tick_ms) * tick_ms
            while next_tick <= recv:
                if arrivals and arrivals[0][0] <= next_tick:
                    sim.advance(next_tick)  # type: ignore[union-attr]
                if outbox and outbox[0][0] <= next_tick:
                    deliver(next_tick)
                cmds = handle(Tick(ts_ms=next_tick))
                if cmds:
                    send(cmds, next_tick)
                if sample:
                    take_sample(next_tick)
                next_tick += tick_ms
            if on_progress is not None:
                on_progress(i)
        t = type(e)
        if sim is not None:
            ts = e.ts_ms
            if arrivals and arrivals[0][0] <= ts:
                sim.advance(ts)
            if t is BookDelta:
                sim.on_delta(e, recv)  # type: ignore[arg-type]
            elif t is TradePrinted:
                sim.on_trade(e, recv)  # type: ignore[arg-type]
            elif t is BookSnapshot:
                sim.on_snapshot(e, recv)  # type: ignore[arg-type]
            elif t is MarketDataBatch:  # a recorded session's batch: the venue sees each event
                for x in e.events:  # type: ignore[attr-defined]
                    tx = type(x)
                    if tx is BookDelta:
                        sim.on_delta(x, recv)
                    elif tx is TradePrinted:
                        sim.on_trade(x, recv)
                    else:
                        sim.on_snapshot(x, recv)
            elif t is MarketClosed:
                close_inv[e.ticker] = venue.portfolio.qty(e.ticker)  # type: ignore[attr-defined]
                sim.on_closed(e.ticker, ts, recv)  # type: ignore[attr-defined]
            elif t is MarketDetermined:
                settle_values[e.ticker] = e.settlement_value  # type: ignore[attr-defined]
            elif t in private:
                i += 1
                continue  # a recorded session's own private events are not ours to replay here
            if outbox and outbox[0][0] < recv:
                deliver(recv - 1)
        elif recorded:
            if t is OrderFilled:
                venue.on_fill(e, recv)  # type: ignore[union-attr, arg-type]
            elif t is MarketClosed:
                close_inv[e.ticker] = venue.portfolio.qty(e.ticker)  # type: ignore[attr-defined]
            elif t is MarketDetermined:
                settle_values[e.ticker] = e.settlement_value  # type: ignore[attr-defined]
        cmds = handle(e)
        if cmds:
            send(cmds, recv)
        if outbox and outbox[0][0] <= recv:
            deliver(recv)
        i += 1
    # drain: answers still in flight
    if sim is not None:
        while arrivals or outbox:
            nxt = min(arrivals[0][0] if arrivals else 1 << 62, outbox[0][0] if outbox else 1 << 62)
            sim.advance(nxt)
            deliver(nxt)
    wall = time.perf_counter() - t0
    if sample and n:
        take_sample(recvs[-1])

    # settlement
    pf = venue.portfolio
    realized_before = {tk: p.realized for tk, p in pf.positions.items()}
    for tk, pos in pf.positions.items():
        close_inv.setdefault(tk, pos.qty)
    for tk in list(pf.positions):
        value = settle_values.get(tk)
        if value is None:
            m = markets.get(tk)
            value = m.settlement_value if m is not None and m.result else None
        if value is not None and not pf.positions[tk].settled:
            venue.settle(tk, value)
    trading = sum(realized_before.values())
    settlement = sum(p.realized for p in pf.positions.values()) - trading
    unrealized = sum(p.cost for p in pf.positions.values() if p.qty)  # unsettled cost basis
    total = pf.cash + unrealized  # unsettled positions valued at cost (no result known)

    return _result(
        venue, samples, log if record_commands else [], n, wall, total, trading, settlement, close_inv,
        settle_values, markets, strategy, dict(params or {}), seed, n_commands,
    )


def _equity(venue: Any, sim: SimVenue | None) -> int:
    """Cash plus positions marked at the venue's mid (Money)."""
    pf = venue.portfolio
    total = pf.cash
    for tk, p in pf.positions.items():
        if not p.qty:
            continue
        mark = None
        if sim is not None:
            b = sim.books.get(tk)
            if b is not None and b.yes and b.no:
                mark = (max(b.yes) + ONE_DOLLAR - max(b.no)) // 2
        total += p.cost + p.unrealized(mark)
    return total


def _markouts(
    fills: list[Any], mids: dict[str, list[tuple[int, float]]], values: dict[str, int], markets: Mapping[str, Market]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Volume-weighted markouts (cents per contract) and the per-fill log."""
    sums = {h: 0.0 for h in MARKOUT_HORIZONS_MS}
    vol = {h: 0 for h in MARKOUT_HORIZONS_MS}
    times = {tk: [t for t, _ in s] for tk, s in mids.items()}
    out = []
    for f in fills:
        row = {
            "ts_ms": f.ts_ms, "ticker": f.ticker, "order_id": f.order_id, "side": f.side, "price": f.price,
            "count": f.count, "fee": f.fee, "is_taker": f.is_taker, "position": f.position,
        }
        m = markets.get(f.ticker)
        close = m.close_ts_ms if m is not None and m.close_ts_ms else None
        for h in MARKOUT_HORIZONS_MS:
            target = f.ts_ms + h
            later: float | None = None
            if close is not None and target >= close and f.ticker in values:
                later = float(values[f.ticker])
            else:
                ts = times.get(f.ticker)
                if ts:
                    j = bisect_left(ts, target)
                    if j < len(ts):
                        later = mids[f.ticker][j][1]
                    elif f.ticker in values:
                        later = float(values[f.ticker])
                    else:
                        later = mids[f.ticker][-1][1]
            key = "markout_30s" if h == 30_000 else "markout_5m"
            if later is None:
                row[key] = None
                continue
            mo = (later - f.price) if f.side == "bid" else (f.price - later)
            row[key] = mo / 100.0  # cents
            sums[h] += mo / 100.0 * f.count
            vol[h] += f.count
        out.append(row)
    res = {("30s" if h == 30_000 else "5m"): (sums[h] / vol[h] if vol[h] else 0.0) for h in MARKOUT_HORIZONS_MS}
    return res, out


def _result(
    venue: Any, samples: Samples, log: list[tuple[int, cm.Command]], n: int, wall: float, total: int,
    trading: int, settlement: int, close_inv: dict[str, int], values: dict[str, int],
    markets: Mapping[str, Market], strategy: str, params: dict[str, Any], seed: int, n_commands: int,
) -> BacktestResult:
    pf = venue.portfolio
    fills = venue.fills
    markouts, fill_log = _markouts(fills, samples.mids, values, markets)
    # per-minute P&L from the equity samples
    per_min: list[float] = []
    last_min = None
    last_eq = 0.0
    for t, eq in zip(samples.t, samples.equity, strict=True):
        mnt = t // MINUTE_MS
        if last_min is None:
            last_min, last_eq = mnt, eq
        elif mnt != last_min:
            per_min.append(eq - last_eq)
            last_min, last_eq = mnt, eq
    sharpe = 0.0
    if len(per_min) > 1:
        mu = sum(per_min) / len(per_min)
        var = sum((x - mu) ** 2 for x in per_min) / (len(per_min) - 1)
        sharpe = mu / math.sqrt(var) if var > 0 else 0.0
    peak = -math.inf
    mdd = 0.0
    for eq in [*samples.equity, total / MONEY_SCALE]:
        peak = max(peak, eq)
        mdd = max(mdd, peak - eq)
    max_inv = 0
    for f in fills:
        max_inv = max(max_inv, abs(f.position))
    per_market: dict[str, dict[str, Any]] = {}
    for tk in sorted({*pf.positions, *close_inv}):
        p = pf.position(tk)
        mf = [f for f in fills if f.ticker == tk]
        per_market[tk] = {
            "pnl": p.realized / MONEY_SCALE - p.fees / MONEY_SCALE,
            "fees": p.fees / MONEY_SCALE,
            "fills": len(mf),
            "volume": p.volume / 100,
            "inventory_at_close": close_inv.get(tk, 0) / 100,
            "settled_at": (values[tk] / ONE_DOLLAR) if tk in values else None,
        }
    return BacktestResult(
        strategy=strategy,
        params=params,
        seed=seed,
        markets=sorted({*markets, *pf.positions}),
        events=n,
        wall_s=wall,
        pnl=total,
        trading_pnl=trading,
        settlement_pnl=settlement,
        fees=pf.fees_paid,
        fills=len(fills),
        maker_fills=sum(1 for f in fills if not f.is_taker),
        volume=sum(f.count for f in fills),
        commands=n_commands,
        rejects=getattr(venue, "rejects", 0),
        final_inventory=dict(close_inv),
        max_abs_inventory=max_inv,
        sharpe_per_minute=sharpe,
        max_drawdown=mdd,
        markouts=markouts,
        per_market=per_market,
        fill_log=fill_log,
        samples=samples,
        command_log=log,
    )


# -- convenience ----------------------------------------------------------------------------------
def backtest(
    tape: Tape,
    markets: Mapping[str, Market],
    *,
    strategy: str = "avellaneda_stoikov",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    entry_latency: str | int = 25,
    response_latency: str | int = 25,
    queue: str = "prorata",
    fees: FeeSchedule | Mapping[str, FeeSchedule] = DEFAULT_FEES,
    tick_ms: int = 1000,
    sample: bool = True,
    record_commands: bool = False,
    risk: Mapping[str, Any] | None = None,
    engine_factory: Callable[..., Any] | None = None,
) -> BacktestResult:
    """One backtest: the live engine with ``strategy``/``params`` over ``tape`` on a SimVenue."""
    factory = engine_factory or build_engine
    engine = factory(strategy, params, risk=risk, fees=fees if isinstance(fees, FeeSchedule) else None)
    venue = make_venue(markets, seed=seed, entry_latency=entry_latency, response_latency=response_latency,
                       queue=queue, fees=fees)
    return run(tape, engine, venue, markets=markets, tick_ms=tick_ms, sample=sample,
               record_commands=record_commands, strategy=strategy, params=dict(params or {}), seed=seed)


def replay_recorded(tape: Tape, engine: Any, *, tick_ms: int = 1000) -> list[tuple[int, cm.Command]]:
    """Parity mode: the recorded session's own fills and order events; returns the commands."""
    venue = RecordedFillsVenue()
    res = run(tape, engine, venue, tick_ms=tick_ms, sample=False, record_commands=True)
    return res.command_log


__all__ = [
    "BacktestResult",
    "ConstantLatency",
    "backtest",
    "build_engine",
    "make_venue",
    "replay_recorded",
    "resolve_params",
    "run",
]
