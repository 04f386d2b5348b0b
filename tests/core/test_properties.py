"""Property tests over random event streams against a model exchange.

The model exchange applies every command the moment it is emitted (so the engine's view always
lags reality) and queues the answers (acks, fills, cancels), which a random schedule delivers
later. Whatever arrives:

- no market's real position plus every real resting bid exceeds the position limit, nor do
  resting asks minus the position, and the total over markets stays within its limit: the limits
  hold even if every resting order fills at once;
- after the kill switch, only cancels come out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kmm_core_support import T0, market, snapshot

from kalshi_mm.core.commands import AmendOrder, CancelAll, CancelOrder, Command, DecreaseOrder, PlaceOrder
from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.events import (
    BookDelta,
    MarketOpened,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Tick,
    TradePrinted,
)
from kalshi_mm.core.execution import ExecutionParams
from kalshi_mm.core.risk import RiskLimits

TICKERS = ("A", "B")
MAX_POS = 1500  # 15 contracts
MAX_TOTAL = 2500


@dataclass
class XOrder:
    ticker: str
    side: str
    price: int
    remaining: int
    filled: int = 0
    order_id: str = ""


@dataclass
class Exchange:
    orders: dict[str, XOrder] = field(default_factory=dict)
    pos: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TICKERS, 0))
    queue: list = field(default_factory=list)
    n: int = 0
    fills: int = 0

    def apply(self, cmds: list[Command], ts: int, reject: bool) -> None:
        for c in cmds:
            if isinstance(c, PlaceOrder):
                if reject:
                    self.queue.append(OrderRejected(ts_ms=ts, ticker=c.ticker, client_order_id=c.client_order_id,
                                                    code="invalid_order"))
                    continue
                self.n += 1
                o = self.orders[c.client_order_id] = XOrder(c.ticker, c.side, c.price, c.count, order_id=f"x{self.n}")
                if c.time_in_force == "immediate_or_cancel":
                    pos = self.pos[c.ticker]
                    cap = (-pos if c.side == "bid" else pos) if c.reduce_only else c.count
                    k = max(0, min(c.count, cap))
                    if k:
                        self.fill(c.client_order_id, k, ts)
                    o.remaining = 0
                    self.orders.pop(c.client_order_id, None)
                    self.queue.append(self._accepted(c.client_order_id, o, ts))
                    continue
                self.queue.append(("ack", c.client_order_id))
            elif isinstance(c, AmendOrder):
                o = self.orders.get(c.client_order_id)
                if o is None:
                    self.queue.append(OrderRejected(ts_ms=ts, ticker=c.ticker, client_order_id=c.client_order_id,
                                                    order_id=c.order_id, code="not_found"))
                    continue
                o.price = c.price
                o.remaining = max(0, c.count - o.filled)
                self.queue.append(("ack", c.client_order_id))
            elif isinstance(c, DecreaseOrder):
                o = self.orders.get(c.client_order_id)
                if o is None:
                    self.queue.append(OrderRejected(ts_ms=ts, ticker=c.ticker, client_order_id=c.client_order_id,
                                                    order_id=c.order_id, code="not_found"))
                    continue
                o.remaining = min(o.remaining, c.reduce_to)
                self.queue.append(("ack", c.client_order_id))
            elif isinstance(c, CancelOrder):
                o = self.orders.pop(c.client_order_id, None)
                if o is None:
                    self.queue.append(OrderRejected(ts_ms=ts, ticker=c.ticker, client_order_id=c.client_order_id,
                                                    order_id=c.order_id, code="not_found"))
                else:
                    self.queue.append(OrderCanceled(ts_ms=ts, ticker=c.ticker, order_id=o.order_id,
                                                    client_order_id=c.client_order_id))
            elif isinstance(c, CancelAll):
                for coid, o in list(self.orders.items()):
                    if not c.ticker or o.ticker == c.ticker:
                        del self.orders[coid]
                        self.queue.append(OrderCanceled(ts_ms=ts, ticker=o.ticker, order_id=o.order_id,
                                                        client_order_id=coid))

    def _accepted(self, coid: str, o: XOrder, ts: int) -> OrderAccepted:
        return OrderAccepted(ts_ms=ts, ticker=o.ticker, order_id=o.order_id, client_order_id=coid, side=o.side,
                             price=o.price, remaining=o.remaining, filled=o.filled)

    def fill(self, coid: str, k: int, ts: int) -> None:
        o = self.orders[coid]
        k = min(k, o.remaining)
        if k <= 0:
            return  # an amend below the filled size left nothing: no fill (never a 0-count one)
        o.remaining -= k
        o.filled += k
        self.pos[o.ticker] += k if o.side == "bid" else -k
        self.fills += 1
        self.queue.append(OrderFilled(ts_ms=ts, ticker=o.ticker, order_id=o.order_id, client_order_id=coid,
                                      fill_id=f"F{self.fills}", side=o.side, price=o.price, count=k, fee=0,
                                      is_taker=False))
        if o.remaining == 0:
            del self.orders[coid]

    def next_event(self, ts: int):
        item = self.queue.pop(0)
        if isinstance(item, tuple):
            coid = item[1]
            o = self.orders.get(coid)
            if o is None:  # filled away or canceled meanwhile: report what is left (nothing)
                return None
            return self._accepted(coid, o, ts)
        return item

    def check_limits(self) -> None:
        total = 0
        for t in TICKERS:
            bids = sum(o.remaining for o in self.orders.values() if o.ticker == t and o.side == "bid")
            asks = sum(o.remaining for o in self.orders.values() if o.ticker == t and o.side == "ask")
            pos = self.pos[t]
            worst = max(pos + bids, asks - pos)
            assert worst <= MAX_POS, (t, pos, bids, asks)
            total += worst
        assert total <= MAX_TOTAL, total


STRATS = {
    "spread_capture": {"min_spread": 0.02, "order_size": 6},
    "avellaneda_stoikov": {"order_size": 6, "fit_k": True, "min_sigma": 0.001},
    "dual_sided": {"bid_size": 6, "exit_size": 4, "max_inventory": 8, "reduce_step": 3, "min_spread": 0.02,
                   "cushion": 0.01},
}


def new_engine(strategy: str, vol_adaptive: bool) -> Engine:
    cfg = EngineConfig(
        strategy=strategy,
        strategy_params=STRATS[strategy],
        risk=RiskLimits(max_position=MAX_POS / 100, max_total_position=MAX_TOTAL / 100, max_order_size=10,
                        stale_after_s=3, stop_before_close_s=20, vol_adaptive=vol_adaptive, vol_ref=0.01),
        execution=ExecutionParams(min_move_ticks=1, max_quote_age_s=0.5, inflight_timeout_s=2),
    )
    return Engine(cfg, id_prefix="p")


OPS = st.sampled_from(["book", "delta", "delta", "trade", "tick", "ack", "ack", "ack", "fill", "fill", "xcancel"])


def drive(data, engine: Engine, x: Exchange, steps: int, kill_at: int | None = None) -> None:
    ts = T0
    killed = False
    for t in TICKERS:
        engine.handle(MarketOpened(ts_ms=ts, market=market(t, close_in_s=data.draw(st.sampled_from([40, 600])))))
    for step in range(steps):
        ts += data.draw(st.integers(1, 1500))
        if kill_at is not None and step == kill_at:
            out = engine.kill("test", ts)
            killed = True
        else:
            op = data.draw(OPS)
            t = data.draw(st.sampled_from(TICKERS))
            ev = None
            if op == "book":
                b = data.draw(st.integers(10, 80))
                w = data.draw(st.integers(1, 8))
                ev = snapshot([(b * 100, data.draw(st.integers(1, 300)))], [((b + w) * 100, data.draw(st.integers(1, 300)))],
                              ts=ts, ticker=t)
            elif op == "delta":
                mm = engine.markets[t]
                side = data.draw(st.sampled_from(["yes", "no"]))
                ladder = mm.book.yes if side == "yes" else mm.book.no
                p = data.draw(st.integers(5, 95)) * 100
                have = ladder.size_at(p)
                d = data.draw(st.integers(-have, 300)) if have else data.draw(st.integers(1, 300))
                if side == "yes" and mm.book.no.best is not None and p + mm.book.no.best >= 10_000:
                    continue
                if side == "no" and mm.book.yes.best is not None and p + mm.book.yes.best >= 10_000:
                    continue
                ev = BookDelta(ts_ms=ts, ticker=t, side=side, price=p, delta=d or 100)
            elif op == "trade":
                ev = TradePrinted(ts_ms=ts, ticker=t, trade_id=f"t{step}", price=data.draw(st.integers(5, 95)) * 100,
                                  count=data.draw(st.integers(1, 50)) * 100, taker_side="yes")
            elif op == "tick":
                ev = Tick(ts_ms=ts)
            elif op == "ack":
                if not x.queue:
                    continue
                ev = x.next_event(ts)
                if ev is None:
                    continue
            elif op == "fill":
                live = sorted(x.orders)
                if not live:
                    continue
                coid = data.draw(st.sampled_from(live))
                x.fill(coid, data.draw(st.integers(1, 1000)), ts)
                continue
            elif op == "xcancel":
                live = sorted(x.orders)
                if not live:
                    continue
                coid = data.draw(st.sampled_from(live))
                o = x.orders.pop(coid)
                x.queue.append(OrderCanceled(ts_ms=ts, ticker=o.ticker, order_id=o.order_id, client_order_id=coid))
                continue
            out = engine.handle(ev)
        if killed:
            assert all(isinstance(c, CancelOrder | CancelAll) for c in out), out
        x.apply(out, ts, reject=data.draw(st.integers(0, 9)) == 0)
        x.check_limits()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(sorted(STRATS)), vol_adaptive=st.booleans())
def test_limits_hold_even_if_every_resting_order_fills(data, strategy, vol_adaptive) -> None:
    engine = new_engine(strategy, vol_adaptive)
    drive(data, engine, Exchange(), steps=data.draw(st.integers(10, 80)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(sorted(STRATS)))
def test_after_the_kill_switch_only_cancels_come_out(data, strategy) -> None:
    engine = new_engine(strategy, False)
    steps = data.draw(st.integers(10, 60))
    drive(data, engine, Exchange(), steps=steps, kill_at=data.draw(st.integers(0, steps - 1)))
