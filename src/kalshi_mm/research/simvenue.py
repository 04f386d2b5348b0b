"""A simulated Kalshi venue for backtests: queue position, latency, fees, settlement.

The venue replays the recorded market at the *exchange's* time and executes our commands against
it. Everything is an int (``Price``, ``Qty``, ``Money``); the only randomness is the latency models'
``random.Random(seed)``.

Queue position. An order that rests at price p joins the queue *behind the displayed size* at p.
The queue ahead (``front``) shrinks when

- a trade prints at p against our side (the taker consumed the queue in price-time order), and
- displayed size at p is cancelled: a decrease not explained by a trade at the same exchange
  time is a cancel, split between the orders ahead of us and behind us by a :class:`QueueModel`
  (pro-rata by default; ``RiskAverseQueue`` cancels from behind, ``OptimisticQueue`` from ahead).

Kalshi sends the book delta of a trade just before the trade itself (same ``ts_ms``), so a
decrease is held as *pending* until the exchange time moves on; a trade at that time turns the
pending decrease into trade volume instead of a cancel (and a trade seen first is remembered so
its delta is not counted twice).

Fills. A trade at p fills us by the part of its size beyond the queue ahead; a trade *through* our
price (a taker selling below our bid, or buying above our ask) fills all we have. With
``fill_on_cross`` a new opposite-side level crossing our price is an order that would have matched
us first (it fills us by its size). An order that arrives crossing the book takes the displayed
liquidity as a taker (post-only orders are rejected instead). There is no market impact: the
recorded book is not changed by our fills.

Latency. A command sent at engine time t reaches the venue at t + entry latency; its response
reaches the engine one response latency later. Fills caused by market events reach the engine
when that market event was received (the recording's own feed latency). Fees come from
``domain.fees`` and cash from ``domain.portfolio`` (Kalshi's cash model); markets settle at
their result.

``echo_own_orders`` mirrors our resting orders into the engine's view of the book as
``BookDelta``s carrying our ``client_order_id``, as the live feed does (the recording never
contains our orders).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kalshi_mm.core import commands as cm
from kalshi_mm.core import events as ev
from kalshi_mm.domain.fees import DEFAULT_FEES, FeeSchedule
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.portfolio import Portfolio
from kalshi_mm.domain.units import ONE_DOLLAR

# -- latency -------------------------------------------------------------------------------------


class LatencyModel(Protocol):
    def sample(self) -> int: ...


@dataclass
class ConstantLatency:
    ms: int = 0

    def sample(self) -> int:
        return self.ms


@dataclass
class LogNormalLatency:
    """Median ``median_ms``, log-sd ``sigma``, at least ``floor_ms``; seeded."""

    median_ms: float = 30.0
    sigma: float = 0.5
    floor_ms: int = 1
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def sample(self) -> int:
        return max(self.floor_ms, round(self.median_ms * math.exp(self.sigma * self._rng.gauss(0.0, 1.0))))


def latency_from_spec(spec: str | int | float, seed: int = 0) -> LatencyModel:
    """``"25"`` -> constant 25 ms; ``"lognormal:30:0.5"`` -> log-normal, median 30 ms, sigma 0.5."""
    if isinstance(spec, int | float):
        return ConstantLatency(int(spec))
    if spec.startswith("lognormal"):
        parts = spec.split(":")
        median = float(parts[1]) if len(parts) > 1 else 30.0
        sigma = float(parts[2]) if len(parts) > 2 else 0.5
        return LogNormalLatency(median, sigma, seed=seed)
    return ConstantLatency(int(float(spec)))


# -- queue models ----------------------------------------------------------------------------------


class QueueModel(Protocol):
    def on_cancel(self, front: int, back: int, qty: int) -> int:
        """New size ahead of us after ``qty`` was cancelled from a level of ``front + back``."""
        ...


class ProRataQueue:
    """Cancels hit the size ahead of and behind us in proportion to their sizes."""

    def on_cancel(self, front: int, back: int, qty: int) -> int:
        total = front + back
        if total <= 0:
            return 0
        return max(0, front - qty * front // total)


class RiskAverseQueue:
    """Cancels come from behind us first (the pessimistic assumption)."""

    def on_cancel(self, front: int, back: int, qty: int) -> int:
        return max(0, front - max(0, qty - back))


class OptimisticQueue:
    """Cancels come from ahead of us first."""

    def on_cancel(self, front: int, back: int, qty: int) -> int:
        return max(0, front - qty)


QUEUE_MODELS: dict[str, type] = {"prorata": ProRataQueue, "risk_averse": RiskAverseQueue, "optimistic": OptimisticQueue}


# -- state -----------------------------------------------------------------------------------------


class SimOrder:
    __slots__ = (
        "alive", "client_order_id", "filled", "front", "ladder", "level", "order_id", "pend", "pend_base",
        "pend_ts", "post_only", "price", "remaining", "side", "ticker", "traded", "visible",
    )

    def __init__(self, order_id: str, cmd: cm.PlaceOrder) -> None:
        self.order_id = order_id
        self.client_order_id = cmd.client_order_id
        self.ticker = cmd.ticker
        self.side = cmd.side
        self.post_only = cmd.post_only
        self.remaining = cmd.count
        self.filled = 0
        self.alive = True
        self.visible = 0  # engine time of the accept: our later events are never delivered earlier
        self.set_price(cmd.price)

    def set_price(self, price: int) -> None:
        self.price = price
        # a YES bid rests on the YES ladder; a YES ask at p is a NO bid at 1 - p
        self.ladder = "yes" if self.side == "bid" else "no"
        self.level = price if self.side == "bid" else ONE_DOLLAR - price
        self.front = 0
        self.pend = 0  # unexplained decrease at pend_ts (a cancel unless a trade explains it)
        self.pend_base = 0  # displayed size before the pending decrease
        self.pend_ts = -1
        self.traded = 0  # trade volume at our level at pend_ts not yet seen as a decrease


@dataclass(frozen=True, slots=True)
class FillRecord:
    ts_ms: int
    recv_ms: int
    ticker: str
    order_id: str
    side: str
    price: int
    count: int
    fee: int
    is_taker: bool
    position: int


class _Book:
    __slots__ = ("no", "yes")

    def __init__(self) -> None:
        self.yes: dict[int, int] = {}
        self.no: dict[int, int] = {}


# -- the venue -------------------------------------------------------------------------------------


class SimVenue:
    """Executes commands against a replayed market; produces the private events of our orders."""

    def __init__(
        self,
        *,
        markets: Mapping[str, Market] | None = None,
        fees: FeeSchedule | Mapping[str, FeeSchedule] = DEFAULT_FEES,
        entry_latency: LatencyModel | None = None,
        response_latency: LatencyModel | None = None,
        queue_model: QueueModel | None = None,
        fill_on_cross: bool = True,
        echo_own_orders: bool = True,
        order_id_prefix: str = "sim",
    ) -> None:
        self.markets = dict(markets or {})
        self._fees = fees
        self.entry = entry_latency or ConstantLatency(25)
        self.response = response_latency or ConstantLatency(25)
        self.queue = queue_model or ProRataQueue()
        self.fill_on_cross = fill_on_cross
        self.echo = echo_own_orders
        self.prefix = order_id_prefix
        self.portfolio = Portfolio()
        self.books: dict[str, _Book] = {}
        self.orders: dict[str, SimOrder] = {}  # live orders by order id
        self.by_coid: dict[str, SimOrder] = {}
        self.by_level: dict[tuple[str, str, int], list[SimOrder]] = {}
        self.live_in: dict[str, int] = {}  # ticker -> number of live orders
        self.seen_coids: set[str] = set()
        self.closed: set[str] = set()
        self.fills: list[FillRecord] = []
        self.commands = 0
        self.rejects = 0
        self._arrivals: list[tuple[int, int, cm.Command]] = []  # (venue time, seq, command)
        self.outbox: list[tuple[int, int, ev.Event]] = []  # (engine time, seq, event)
        self._seq = 0
        self._next_id = 0
        self._fill_seq = 0

    # -- helpers ---------------------------------------------------------------------------------
    def fee_schedule(self, ticker: str) -> FeeSchedule:
        f = self._fees
        if isinstance(f, FeeSchedule):
            return f
        return f.get(ticker) or f.get(ticker.split("-")[0]) or DEFAULT_FEES

    def _emit(self, at: int, e: ev.Event) -> None:
        self._seq += 1
        heapq.heappush(self.outbox, (at, self._seq, e))

    def book(self, ticker: str) -> _Book:
        b = self.books.get(ticker)
        if b is None:
            b = self.books[ticker] = _Book()
        return b

    def best_bid(self, ticker: str) -> int | None:
        b = self.books.get(ticker)
        return max(b.yes) if b and b.yes else None

    def best_ask(self, ticker: str) -> int | None:
        b = self.books.get(ticker)
        return ONE_DOLLAR - max(b.no) if b and b.no else None

    def live_orders(self, ticker: str | None = None) -> list[SimOrder]:
        return [o for o in self.orders.values() if ticker is None or o.ticker == ticker]

    # -- market data (exchange time) -------------------------------------------------------------
    def on_snapshot(self, e: ev.BookSnapshot, recv: int) -> None:
        b = self.book(e.ticker)
        b.yes = dict(e.yes)
        b.no = dict(e.no)
        if self.live_in.get(e.ticker):
            for o in self.orders.values():
                if o.ticker == e.ticker:
                    size = (b.yes if o.ladder == "yes" else b.no).get(o.level, 0)
                    o.pend = o.traded = 0
                    o.front = min(o.front, size)
                    # a live snapshot would include our order: show it again after this one
                    if o.visible <= recv:
                        self._echo(o, o.remaining, e.ts_ms, recv)

    def on_delta(self, e: ev.BookDelta, recv: int) -> None:
        tk = e.ticker
        b = self.books.get(tk)
        if b is None:
            b = self.book(tk)
        ladder = b.yes if e.side == "yes" else b.no
        p = e.price
        old = ladder.get(p, 0)
        new = old + e.delta
        if new > 0:
            ladder[p] = new
        elif old:
            del ladder[p]
        if not self.live_in.get(tk):
            return
        ts = e.ts_ms
        delta = e.delta
        orders = self.by_level.get((tk, e.side, p))
        if orders:
            for o in orders:
                if o.pend_ts != ts:
                    self._flush(o, old, ts)
                if delta < 0:
                    dec = -delta
                    x = min(dec, o.traded)  # a trade at this time already accounted for it
                    o.traded -= x
                    dec -= x
                    if dec:
                        if not o.pend:
                            o.pend_base = old
                        o.pend += dec
                elif o.front > new:  # never more ahead of us than is displayed
                    o.front = max(0, new)
        if self.fill_on_cross and delta > 0:
            self._cross_check(tk, e.side, p, delta, ts, recv)

    def _flush(self, o: SimOrder, level_size: int, ts: int) -> None:
        """Turn the pending decrease of an earlier exchange time into cancels."""
        if o.pend:
            base = o.pend_base
            o.front = min(self.queue.on_cancel(o.front, max(0, base - o.front), o.pend), level_size)
        o.pend = 0
        o.traded = 0
        o.pend_ts = ts

    def _cross_check(self, tk: str, side: str, p: int, size: int, ts: int, recv: int) -> None:
        # a new NO bid at q is a YES ask at 1 - q: it would have matched our bids at >= 1 - q
        hit: list[SimOrder] = []
        if side == "no":
            ask = ONE_DOLLAR - p
            for o in self.orders.values():
                if o.price >= ask and o.side == "bid" and o.ticker == tk:
                    hit.append(o)
            if not hit:
                return
            hit.sort(key=lambda o: -o.price)
        else:
            for o in self.orders.values():
                if o.price <= p and o.side == "ask" and o.ticker == tk:
                    hit.append(o)
            if not hit:
                return
            hit.sort(key=lambda o: o.price)
        for o in hit:
            if size <= 0:
                break
            n = min(size, o.remaining)
            size -= n
            self._fill(o, o.price, n, False, ts, recv)

    def on_trade(self, e: ev.TradePrinted, recv: int) -> None:
        tk = e.ticker
        if not self.live_in.get(tk):
            return
        P = e.price
        ts = e.ts_ms
        taker_sells_yes = e.taker_side == "no"  # taker bought NO = hit YES bids
        cands = [o for o in self.orders.values() if o.ticker == tk and (o.side == "bid") == taker_sells_yes]
        for o in cands:
            if not o.alive:
                continue
            through = o.price > P if taker_sells_yes else o.price < P
            if through:
                self._fill(o, o.price, o.remaining, False, ts, recv)
                continue
            if o.price != P:
                continue
            b = self.books[tk]
            level_size = (b.yes if o.ladder == "yes" else b.no).get(o.level, 0)
            if o.pend_ts != ts:
                self._flush(o, level_size, ts)
            count = e.count
            x = min(count, o.pend)  # the pending decrease was this trade, not a cancel
            o.pend -= x
            o.pend_base -= x
            o.traded += count - x
            ahead = o.front
            if count > ahead:
                o.front = 0
                self._fill(o, o.price, min(o.remaining, count - ahead), False, ts, recv)
            else:
                o.front = ahead - count

    def on_closed(self, ticker: str, ts: int, recv: int) -> None:
        """Close time: the exchange cancels resting orders; later commands are rejected."""
        self.closed.add(ticker)
        for o in list(self.orders.values()):
            if o.ticker == ticker:
                self._cancel(o, ts, recv, "market closed")

    def settle(self, ticker: str, value: int) -> int:
        return self.portfolio.settle(ticker, value)

    # -- commands ---------------------------------------------------------------------------------
    def submit(self, cmds: Iterable[cm.Command], now_ms: int) -> None:
        """Commands the engine sent at engine time ``now_ms``; they reach the venue later."""
        for c in cmds:
            self.commands += 1
            self._seq += 1
            heapq.heappush(self._arrivals, (now_ms + self.entry.sample(), self._seq, c))

    @property
    def next_arrival(self) -> int | None:
        return self._arrivals[0][0] if self._arrivals else None

    def advance(self, ts: int) -> None:
        """Process every command that reached the venue at or before exchange time ``ts``."""
        arr = self._arrivals
        while arr and arr[0][0] <= ts:
            at, _, c = heapq.heappop(arr)
            self._execute(c, at)

    def due(self, t: int) -> list[ev.Event]:
        """Events for the engine with delivery time <= ``t``, in order."""
        out = []
        box = self.outbox
        while box and box[0][0] <= t:
            out.append(heapq.heappop(box)[2])
        return out

    def _reply_at(self, at: int) -> int:
        return at + self.response.sample()

    def _execute(self, c: cm.Command, at: int) -> None:
        t = type(c)
        if t is cm.PlaceOrder:
            self._place(c, at)  # type: ignore[arg-type]
        elif t is cm.CancelOrder:
            o = self.orders.get(c.order_id) or self.by_coid.get(c.client_order_id)  # type: ignore[attr-defined]
            if o is None or o.ticker != c.ticker:
                self._reject(c, at, "not_found", "order not found")
            elif c.ticker in self.closed:
                self._reject(c, at, "market_closed", "market is closed")
            else:
                self._cancel(o, at, self._reply_at(at), c.reason or "canceled")  # type: ignore[attr-defined]
        elif t is cm.CancelAll:
            reply = self._reply_at(at)
            for o in list(self.orders.values()):
                if not c.ticker or o.ticker == c.ticker:
                    self._cancel(o, at, reply, "cancel all")
        elif t is cm.DecreaseOrder:
            o = self.orders.get(c.order_id) or self.by_coid.get(c.client_order_id)  # type: ignore[attr-defined]
            if o is None:
                self._reject(c, at, "not_found", "order not found")
                return
            self._resize(o, c.reduce_to, at, keep_queue=True)  # type: ignore[attr-defined]
        elif t is cm.AmendOrder:
            self._amend(c, at)  # type: ignore[arg-type]

    def _reject(self, c: cm.Command, at: int, code: str, reason: str) -> None:
        self.rejects += 1
        coid = getattr(c, "client_order_id", "") or ""
        oid = getattr(c, "order_id", None)
        self._emit(self._reply_at(at), ev.OrderRejected(ts_ms=at, ticker=c.ticker, client_order_id=coid,
                                                         order_id=oid, code=code, reason=reason))

    def _index(self, o: SimOrder) -> None:
        self.by_level.setdefault((o.ticker, o.ladder, o.level), []).append(o)

    def _unindex(self, o: SimOrder) -> None:
        key = (o.ticker, o.ladder, o.level)
        lst = self.by_level.get(key)
        if lst and o in lst:
            lst.remove(o)
            if not lst:
                del self.by_level[key]

    def _accepted(self, o: SimOrder, at: int, reply: int) -> None:
        o.visible = max(o.visible, reply)
        self._emit(reply, ev.OrderAccepted(ts_ms=at, ticker=o.ticker, order_id=o.order_id,
                                            client_order_id=o.client_order_id, side=o.side, price=o.price,  # type: ignore[arg-type]
                                            remaining=o.remaining, filled=o.filled))

    def _echo(self, o: SimOrder, delta: int, at: int, when: int) -> None:
        if self.echo and delta:
            self._emit(when, ev.BookDelta(ts_ms=at, ticker=o.ticker, side=o.ladder, price=o.level,  # type: ignore[arg-type]
                                          delta=delta, client_order_id=o.client_order_id))

    def _place(self, c: cm.PlaceOrder, at: int) -> None:
        tk = c.ticker
        m = self.markets.get(tk)
        if tk in self.closed or (m is not None and m.close_ts_ms and at >= m.close_ts_ms):
            self._reject(c, at, "market_closed", "market is closed")
            return
        if c.client_order_id in self.seen_coids:
            self._reject(c, at, "order_already_exists", "duplicate client_order_id")
            return
        if not 0 < c.price < ONE_DOLLAR or c.count <= 0 or (m is not None and not m.grid.is_valid(c.price)):
            self._reject(c, at, "invalid_order", "price off the grid or bad count")
            return
        self.seen_coids.add(c.client_order_id)
        self._next_id += 1
        o = SimOrder(f"{self.prefix}-{self._next_id}", c)
        reply = self._reply_at(at)
        b = self.book(tk)
        crossing = self._crossing_levels(b, o)
        if crossing:
            if c.post_only:
                self._reject(c, at, "invalid_order", "post only cross")
                return
            avail = sum(size for _, size in crossing)
            if c.time_in_force == "fill_or_kill" and avail < o.remaining:
                self._emit(reply, ev.OrderCanceled(ts_ms=at, ticker=tk, order_id=o.order_id,
                                                   client_order_id=o.client_order_id, reason="fill or kill"))
                return
            self._accepted_taker(o, crossing, at, reply)
        if o.remaining and c.time_in_force != "good_till_canceled":
            if o.filled == 0:
                self._accepted(o, at, reply)
            self._emit(reply, ev.OrderCanceled(ts_ms=at, ticker=tk, order_id=o.order_id,
                                               client_order_id=o.client_order_id, reason="immediate or cancel"))
            return
        if o.remaining:
            o.front = (b.yes if o.ladder == "yes" else b.no).get(o.level, 0)
            o.pend_ts = at
            self.orders[o.order_id] = o
            self.by_coid[o.client_order_id] = o
            self.live_in[tk] = self.live_in.get(tk, 0) + 1
            self._index(o)
            self._accepted(o, at, reply)
            self._echo(o, o.remaining, at, reply)

    def _crossing_levels(self, b: _Book, o: SimOrder) -> list[tuple[int, int]]:
        """Displayed opposite levels our order would take, best first, as (YES price, size)."""
        if o.side == "bid":
            lv = [(ONE_DOLLAR - q, s) for q, s in b.no.items() if ONE_DOLLAR - q <= o.price]
            lv.sort()
        else:
            lv = [(p, s) for p, s in b.yes.items() if p >= o.price]
            lv.sort(reverse=True)
        return lv

    def _accepted_taker(self, o: SimOrder, levels: list[tuple[int, int]], at: int, reply: int) -> None:
        self._accepted(o, at, reply)
        for price, size in levels:
            if not o.remaining:
                break
            self._fill(o, price, min(size, o.remaining), True, at, reply)

    def _fill(self, o: SimOrder, price: int, n: int, taker: bool, ts: int, deliver: int) -> None:
        if n <= 0:
            return
        deliver = max(deliver, o.visible)
        fee = self.fee_schedule(o.ticker).fee(price, n, taker)
        self.portfolio.apply_fill(o.ticker, o.side, price, n, fee)
        o.remaining -= n
        o.filled += n
        self._fill_seq += 1
        pos = self.portfolio.qty(o.ticker)
        self.fills.append(FillRecord(ts, deliver, o.ticker, o.order_id, o.side, price, n, fee, taker, pos))
        self._emit(deliver, ev.OrderFilled(ts_ms=ts, ticker=o.ticker, order_id=o.order_id,
                                           client_order_id=o.client_order_id, fill_id=f"{self.prefix}-f{self._fill_seq}",
                                           side=o.side, price=price, count=n, fee=fee, is_taker=taker,  # type: ignore[arg-type]
                                           post_position=pos))
        if not taker:
            self._echo(o, -n, ts, deliver)
        if o.remaining == 0:
            self._remove(o)
            self._emit(deliver, ev.OrderExecuted(ts_ms=ts, ticker=o.ticker, order_id=o.order_id,
                                                 client_order_id=o.client_order_id))

    def _remove(self, o: SimOrder) -> None:
        if o.order_id in self.orders:
            o.alive = False
            del self.orders[o.order_id]
            self.by_coid.pop(o.client_order_id, None)
            self.live_in[o.ticker] -= 1
            self._unindex(o)

    def _cancel(self, o: SimOrder, at: int, reply: int, reason: str) -> None:
        reply = max(reply, o.visible)
        self._echo(o, -o.remaining, at, reply)
        self._remove(o)
        self._emit(reply, ev.OrderCanceled(ts_ms=at, ticker=o.ticker, order_id=o.order_id,
                                           client_order_id=o.client_order_id, reason=reason))

    def _resize(self, o: SimOrder, remaining: int, at: int, keep_queue: bool) -> None:
        reply = self._reply_at(at)
        if remaining <= 0:
            self._cancel(o, at, reply, "decreased to zero")
            return
        if remaining < o.remaining:
            self._echo(o, remaining - o.remaining, at, reply)
            o.remaining = remaining
        self._accepted(o, at, reply)

    def _amend(self, c: cm.AmendOrder, at: int) -> None:
        o = self.orders.get(c.order_id) or self.by_coid.get(c.client_order_id)
        if o is None:
            self._reject(c, at, "not_found", "order not found")
            return
        if c.ticker in self.closed:
            self._reject(c, at, "market_closed", "market is closed")
            return
        new_remaining = c.count - o.filled
        if new_remaining <= 0:
            self._reject(c, at, "invalid_order", "amend count not above filled")
            return
        if c.updated_client_order_id:
            self.by_coid.pop(o.client_order_id, None)
            o.client_order_id = c.updated_client_order_id
            self.by_coid[o.client_order_id] = o
        if c.price == o.price and new_remaining <= o.remaining:
            self._resize(o, new_remaining, at, keep_queue=True)
            return
        # a new price or a larger size loses priority: re-enter at the back of the new level
        reply = self._reply_at(at)
        self._echo(o, -o.remaining, at, reply)
        self._unindex(o)
        o.set_price(c.price)
        o.remaining = new_remaining
        b = self.book(o.ticker)
        crossing = self._crossing_levels(b, o)
        if crossing:
            if o.post_only:
                self._remove(o)
                self._emit(reply, ev.OrderCanceled(ts_ms=at, ticker=o.ticker, order_id=o.order_id,
                                                   client_order_id=o.client_order_id, reason="post only cross"))
                return
            self._index(o)
            self._accepted_taker(o, crossing, at, reply)
            if not o.alive:
                return
            self._unindex(o)
        o.front = (b.yes if o.ladder == "yes" else b.no).get(o.level, 0)
        o.pend_ts = at
        self._index(o)
        self._accepted(o, at, reply)
        self._echo(o, o.remaining, at, reply)


class RecordedFillsVenue:
    """Parity mode: commands are only recorded; our orders' events come from the recording."""

    def __init__(self) -> None:
        self.commands: list[cm.Command] = []
        self.outbox: list[Any] = []
        self.portfolio = Portfolio()
        self.fills: list[FillRecord] = []
        self.rejects = 0
        self.markets: dict[str, Market] = {}
        self.closed: set[str] = set()

    def submit(self, cmds: Iterable[cm.Command], now_ms: int) -> None:
        self.commands.extend(cmds)

    def on_fill(self, e: ev.OrderFilled, recv: int) -> None:
        self.portfolio.apply_fill(e.ticker, e.side, e.price, e.count, e.fee)
        self.fills.append(FillRecord(e.ts_ms, recv, e.ticker, e.order_id, e.side, e.price, e.count, e.fee,
                                     e.is_taker, self.portfolio.qty(e.ticker)))

    def settle(self, ticker: str, value: int) -> int:
        return self.portfolio.settle(ticker, value)
