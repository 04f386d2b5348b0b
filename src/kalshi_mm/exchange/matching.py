"""The local exchange's matching engine: pure, synchronous, deterministic.

No asyncio, time or random here: the caller passes ``now_ms`` (Unix ms) to every call and
drains the events with ``drain()``. One ``MatchingEngine`` holds every market and account.

Semantics (kalshi-api.md sections 3, 8, 9, 12, 13):

- One YES book per market; ``bid`` buys YES, ``ask`` sells YES (= buys NO). Price-time priority,
  trades at the resting order's price.
- ``good_till_canceled`` (optionally with ``expiration_time``, Unix s: canceled with reason
  ``ExpiryCancel`` once ``now >= expiration``), ``immediate_or_cancel``, ``fill_or_kill``.
- ``post_only``: never takes. Crossing raises ``EngineReject(400, "invalid_order",
  "post only cross")`` by default; with ``post_only_reject=False`` the order is created canceled
  (reason ``PostOnlyCrossCancel``).
- Self-trade prevention: ``taker_at_cross`` cancels the incoming order where it would hit the
  user's own resting order (earlier fills stand, the resting order is untouched); ``maker``
  cancels the user's resting order and keeps matching.
- ``reduce_only``: only with IOC; the size is capped at what reduces the position (0 => the
  order is created canceled with no fill).
- ``client_order_id`` is unique per user forever (409 ``order_already_exists``).
- Amend: ``count`` is the new total (filled + remaining). A price change or size increase loses
  priority (the order is re-entered and may fill); a size decrease at the same price keeps it.
  Decrease keeps priority; decreasing to zero cancels.
- Order groups: a rolling 15 s window of filled contracts; when it reaches the limit (``>=``),
  or the limit is lowered to at or below the window's volume, or on a manual trigger, all the
  group's resting orders are canceled and new orders naming it are rejected until reset.
- Collateral: an order that may rest (GTC) reserves ``count x leg price + taker fee`` (the leg
  price is p for a bid, 1 - p for an ask), released pro rata as it fills and in full when it
  ends. IOC/FOK orders reserve nothing but need ``max(0, count - closable) x leg + taker fee``
  available, where ``closable`` is the opposite-leg position they can close (closing costs
  nothing). Shortfall: 400 ``insufficient_balance``.
- Cash and positions per account: ``domain.portfolio.Portfolio`` (net YES/NO positions);
  fees per fill by ``domain.fees.FeeSchedule`` (maker/taker), rounded up to $0.0001;
  ``fee_rounding=True`` adds Kalshi's balance rounding (``domain.fees.FeeAccumulator``).
- Lifecycle: ``initialized`` -(open time)-> ``active`` <-> ``inactive`` (pause) -(close time)->
  ``closed`` (resting orders canceled) -> ``determined`` (result) -(settlement timer)->
  ``finalized`` (net positions paid). Time-driven transitions happen in ``advance(now_ms)``;
  a closed market is determined automatically once ``pending_result`` is set (by the flow or
  an admin) and ``determine_delay_ms`` has passed.

Money is conserved: ``sum(deposits) == sum(cash) + fees collected + $1 x open interest`` of every
unsettled market; ``audit()`` checks that and the book invariants.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from copy import copy
from typing import Any, Final

from kalshi_mm.domain.fees import FeeAccumulator, FeeSchedule, result_value
from kalshi_mm.domain.market import PriceGrid
from kalshi_mm.domain.orders import TRANSITIONS, OrderStatus
from kalshi_mm.domain.units import FEE_QUANTUM, ONE_DOLLAR, Money, Price, Qty
from kalshi_mm.exchange.model import (
    CANCELED,
    EXECUTED,
    FOK,
    GTC,
    IOC,
    PENDING,
    RESTING,
    STP_TYPES,
    TIME_IN_FORCE,
    Account,
    BookDelta,
    EngineReject,
    Event,
    Fill,
    Level,
    LifecycleEvent,
    MarketState,
    Order,
    OrderGroup,
    OrderGroupEvent,
    OrderUpdate,
    PositionUpdate,
    SettlementRecord,
    Trade,
)

KEEP: Final = object()  # amend: keep the current expiration
MAX_GROUP_LIMIT: Final[Qty] = 1_000_000 * 100
_FEE_CACHE_LIMIT: Final = 1 << 15
_COMPACT_MIN: Final = 16


def _status(o: Order, new: OrderStatus) -> None:
    if new not in TRANSITIONS[o.status]:
        raise AssertionError(f"illegal order transition {o.status} -> {new} for {o!r}")
    o.status = new


class MatchingEngine:
    """Books, accounts and lifecycle of every market of the local exchange."""

    def __init__(
        self,
        *,
        post_only_reject: bool = True,
        fee_rounding: bool = False,
        account_precision: Money = FEE_QUANTUM,
        id_salt: int = 0,
        trade_history: int = 10_000,
        max_open_orders: int = 200_000,
        retain_finalized: int = 1_000,
    ) -> None:
        self.post_only_reject = post_only_reject
        self.fee_rounding = fee_rounding
        self.account_precision = account_precision
        self.trade_history = trade_history
        self.max_open_orders = max_open_orders
        self.retain_finalized = retain_finalized
        self.markets: dict[str, MarketState] = {}
        self.accounts: dict[str, Account] = {}
        self.out: list[Event] = []
        self.fees_collected: Money = 0
        self.trading_active = True
        self._salt = id_salt & 0xFFFFFFFF
        self._n = 0
        self._prefixes: dict[int, str] = {}
        # hot id kinds inlined in the order / trade / fill paths (same strings as new_id)
        self._oid_prefix = self._prefix(1)
        self._tid_prefix = self._prefix(2)
        self._fid_prefix = self._prefix(3)
        self._prio = 0
        self._expiries: list[tuple[int, int, Order]] = []
        self._fee_cache: dict[str, tuple[dict[tuple[Price, Qty], Money], dict[tuple[Price, Qty], Money]]] = {}
        self._holders: dict[str, dict[str, None]] = {}
        self._live_markets: dict[str, MarketState] = {}
        self._finalized: deque[str] = deque()
        self._triggers: list[OrderGroup] = []

    # -- ids, events, fees ---------------------------------------------------------------------
    def _prefix(self, kind: int) -> str:
        prefix = self._prefixes.get(kind)
        if prefix is None:
            prefix = self._prefixes[kind] = f"{self._salt:08x}-{kind:04x}-4000-8000-"
        return prefix

    def new_id(self, kind: int = 0) -> str:
        """A UUID-shaped id, deterministic per engine (salt) and sequence number."""
        self._n = n = self._n + 1
        prefix = self._prefixes.get(kind)
        if prefix is None:
            prefix = self._prefix(kind)
        return f"{prefix}{n:012x}"

    def drain(self) -> list[Event]:
        out = self.out
        self.out = []
        return out

    def fee(self, m: MarketState, price: Price, count: Qty, taker: bool) -> Money:
        caches = self._fee_cache.get(m.ticker)
        if caches is None:
            caches = self._fee_cache[m.ticker] = ({}, {})
        cache = caches[0] if taker else caches[1]
        key = (price, count)
        f = cache.get(key)
        if f is None:
            if len(cache) >= _FEE_CACHE_LIMIT:
                cache.clear()
            f = cache[key] = m.fees.taker_fee(price, count) if taker else m.fees.maker_fee(price, count)
        return f

    # -- accounts and markets ------------------------------------------------------------------
    def add_account(self, user_id: str, balance: Money, *, record: bool = True) -> Account:
        if user_id in self.accounts:
            raise ValueError(f"account {user_id} exists")
        acct = self.accounts[user_id] = Account(user_id, balance, record=record)
        return acct

    def deposit(self, user_id: str, amount: Money) -> None:
        acct = self.accounts[user_id]
        acct.portfolio.cash += amount
        acct.deposited += amount

    def add_market(
        self,
        ticker: str,
        *,
        event_ticker: str,
        series_ticker: str,
        open_ms: int,
        close_ms: int,
        now_ms: int,
        structure: str = "linear_cent",
        grid: PriceGrid | None = None,
        fees: FeeSchedule | None = None,
        **attrs: Any,
    ) -> MarketState:
        if ticker in self.markets:
            raise EngineReject(400, "market_exists", f"market {ticker} already exists")
        m = MarketState(
            ticker,
            event_ticker=event_ticker,
            series_ticker=series_ticker,
            open_ms=open_ms,
            close_ms=close_ms,
            created_ms=now_ms,
            grid=grid or PriceGrid.for_structure(structure),
            price_level_structure=structure,
            fees=fees or FeeSchedule(),
            market_id=self.new_id(5),
            trade_history=self.trade_history,
        )
        for k, v in attrs.items():
            setattr(m, k, v)
        self.markets[ticker] = m
        self._live_markets[ticker] = m
        self._holders[ticker] = {}
        self.out.append(LifecycleEvent(ticker, "created", now_ms, {}))
        if now_ms >= open_ms:
            m.status = "active"
        return m

    def _account(self, user_id: str) -> Account:
        acct = self.accounts.get(user_id)
        if acct is None:
            raise EngineReject(401, "unauthorized", f"unknown user {user_id}")
        return acct

    def _market_for_trading(self, ticker: str) -> MarketState:
        m = self.markets.get(ticker)
        if m is None:
            raise EngineReject(404, "market_not_found", f"market {ticker} not found")
        if m.status != "active" or not self.trading_active:
            raise EngineReject(
                400, "market_not_active", f"market {ticker} is {m.status}, not open for trading"
            )
        return m

    # -- order entry ---------------------------------------------------------------------------
    def place(
        self,
        user_id: str,
        ticker: str,
        side: str,
        price: Price,
        count: Qty,
        now_ms: int,
        *,
        tif: str = GTC,
        stp: str = "taker_at_cross",
        client_order_id: str | None = None,
        expiration_ts: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        cancel_on_pause: bool = False,
        group_id: str | None = None,
        subaccount: int = 0,
    ) -> Order:
        """Create an order; returns it in its state after matching. Raises ``EngineReject``."""
        acct = self.accounts.get(user_id)
        if acct is None:
            acct = self._account(user_id)
        m = self.markets.get(ticker)
        if m is None or m.status != "active" or not self.trading_active:
            m = self._market_for_trading(ticker)
        if side != "bid" and side != "ask":
            raise EngineReject(400, "invalid_order", f"side must be bid or ask, got {side!r}")
        if tif not in TIME_IN_FORCE:
            raise EngineReject(400, "invalid_order", f"unknown time_in_force {tif!r}")
        if stp not in STP_TYPES:
            raise EngineReject(400, "invalid_order", f"unknown self_trade_prevention_type {stp!r}")
        if count <= 0:
            raise EngineReject(400, "invalid_order", "count must be at least 0.01")
        if not m.grid.is_valid(price):
            raise EngineReject(400, "invalid_order", "price is not on the market's price grid")
        if client_order_id is not None and client_order_id in acct.coids:
            raise EngineReject(
                409, "order_already_exists", "an order with this client_order_id already exists"
            )
        if expiration_ts is not None:
            if tif != GTC:
                raise EngineReject(
                    400, "invalid_order", "expiration_time is only allowed with good_till_canceled"
                )
            if expiration_ts * 1000 <= now_ms:
                raise EngineReject(400, "invalid_order", "expiration_time is in the past")
        if reduce_only and tif != IOC:
            raise EngineReject(400, "invalid_order", "reduce_only orders must be immediate_or_cancel")
        group = None
        if group_id is not None:
            group = acct.groups.get(group_id)
            if group is None:
                raise EngineReject(404, "not_found", f"order group {group_id} not found")
            if group.triggered:
                raise EngineReject(400, "invalid_order", "order group is triggered; reset it first")
        if len(acct.open_orders) >= self.max_open_orders:
            raise EngineReject(400, "invalid_order", "too many open orders")

        book = m.book
        if side == "bid":
            leg = price
            prices = book.ask_prices
            crosses = bool(prices) and prices[0] <= price
        else:
            leg = ONE_DOLLAR - price
            prices = book.bid_prices
            crosses = bool(prices) and prices[-1] >= price
        pf = acct.portfolio
        pos = pf.positions.get(ticker)
        q = pos.qty if pos is not None else 0
        closable = -q if (side == "bid" and q < 0) else (q if (side == "ask" and q > 0) else 0)
        if reduce_only and count > closable:
            count = closable
        if post_only and crosses and self.post_only_reject:
            raise EngineReject(400, "invalid_order", "post only cross")
        caches = self._fee_cache.get(ticker)
        fee = caches[0].get((price, count)) if caches is not None else None
        if fee is None:
            fee = self.fee(m, price, count, True) if count else 0
        gtc = tif == GTC
        if gtc:
            need = leg * count + fee
        else:
            need = max(0, count - closable) * leg + fee
        if need > pf.cash - acct.reserved:
            raise EngineReject(400, "insufficient_balance", "insufficient balance for this order")

        self._n = n = self._n + 1
        oid = f"{self._oid_prefix}{n:012x}"
        o = Order(
            oid,
            user_id,
            ticker,
            side,
            price,
            count,
            tif,
            stp,
            now_ms,
            client_order_id,
            expiration_ts,
            post_only,
            reduce_only,
            cancel_on_pause,
            group_id,
            subaccount,
        )
        acct.orders[oid] = o
        if client_order_id is not None:
            acct.coids[client_order_id] = oid
        if self.fee_rounding:
            o.acc = FeeAccumulator(self.account_precision)

        if count == 0:
            self._end(acct, o, CANCELED, "", now_ms)
        elif post_only and crosses:
            self._end(acct, o, CANCELED, "PostOnlyCrossCancel", now_ms)
        elif tif == FOK and self._fillable(m, o) < count:
            self._end(acct, o, CANCELED, "", now_ms)
        else:
            if gtc:
                o.reserved = need
                acct.reserved += need
                if not crosses and group is None:  # fast path: rests without matching
                    self._rest(m, acct, o, now_ms)
                    self.out.append(OrderUpdate(copy(o) if acct.record else o, now_ms))
                    return o
            stopped = self._match(m, o, now_ms)
            self._after_match(m, acct, o, stopped, group, now_ms)
        self.out.append(OrderUpdate(copy(o) if acct.record else o, now_ms))
        if self._triggers:
            self._run_triggers(now_ms)
        return o

    def _after_match(
        self, m: MarketState, acct: Account, o: Order, stopped: bool, group: OrderGroup | None, now_ms: int
    ) -> None:
        if not o.remaining:
            self._end(acct, o, EXECUTED, "Trade", now_ms)
        elif stopped:
            self._end(acct, o, CANCELED, "SelfTradeCancel", now_ms)
        elif o.tif == GTC and not (group is not None and (group.triggered or group in self._triggers)):
            self._rest(m, acct, o, now_ms)
        else:
            self._end(acct, o, CANCELED, o.reason if o.reason == "Trade" else "", now_ms)

    def _fillable(self, m: MarketState, o: Order) -> Qty:
        """Contracts an incoming order could fill now (honouring its STP), up to its size."""
        book = m.book
        uid, need, total = o.user_id, o.remaining, 0
        if o.side == "bid":
            levels, prices = book.asks, [p for p in book.ask_prices if p <= o.price]
        else:
            levels, prices = book.bids, [p for p in reversed(book.bid_prices) if p >= o.price]
        for p in prices:
            for r in levels[p].orders:
                if r.status is not RESTING:
                    continue
                if r.user_id == uid:
                    if o.stp == "taker_at_cross":
                        return total
                    continue
                total += r.remaining
                if total >= need:
                    return total
        return total

    def _match(self, m: MarketState, o: Order, now_ms: int) -> bool:
        """Match ``o`` against the book. Returns True if STP taker_at_cross stopped it."""
        book = m.book
        uid = o.user_id
        bid = o.side == "bid"
        if bid:
            levels, prices = book.asks, book.ask_prices
        else:
            levels, prices = book.bids, book.bid_prices
        limit = o.price
        while o.remaining and prices:
            p = prices[0] if bid else prices[-1]
            if (p > limit) if bid else (p < limit):
                break
            lvl = levels[p]
            q = lvl.orders
            while q:
                r = q[0]
                if r.status is not RESTING:
                    q.popleft()
                    lvl.dead -= 1
                    continue
                if r.user_id == uid:
                    if o.stp == "maker":
                        self._cancel(r, now_ms, "SelfTradeCancel")
                        if not lvl.live:
                            break
                        continue
                    return True
                c = o.remaining if o.remaining < r.remaining else r.remaining
                self._trade(m, o, r, lvl, p, c, now_ms)
                if not r.remaining:
                    q.popleft()
                    lvl.live -= 1
                if not o.remaining:
                    break
            if not lvl.live and levels.get(p) is lvl:
                self._drop_level(levels, prices, p)
        return False

    @staticmethod
    def _drop_level(levels: dict[Price, Level], prices: list[Price], p: Price) -> None:
        del levels[p]
        if prices and prices[-1] == p:
            prices.pop()
        elif prices and prices[0] == p:
            del prices[0]
        else:
            del prices[bisect_left(prices, p)]

    def _trade(
        self, m: MarketState, taker: Order, maker: Order, lvl: Level, price: Price, c: Qty, now_ms: int
    ) -> None:
        self._n = n = self._n + 1
        tid = f"{self._tid_prefix}{n:012x}"
        lvl.size -= c
        if maker.side == "bid":
            self.out.append(
                BookDelta(m.ticker, "yes", price, -c, now_ms, maker.user_id, maker.client_order_id)
            )
        else:
            self.out.append(
                BookDelta(
                    m.ticker, "no", ONE_DOLLAR - price, -c, now_ms, maker.user_id, maker.client_order_id
                )
            )
        self._apply_fill(m, maker, price, c, False, tid, now_ms)
        self._apply_fill(m, taker, price, c, True, tid, now_ms)
        t = Trade(tid, m.ticker, price, c, taker.side, now_ms)
        m.trades.append(t)
        self.out.append(t)
        m.volume += c
        m.volume_24h += c
        m.last_price = price
        m.updated_ms = now_ms

    def _apply_fill(
        self, m: MarketState, o: Order, price: Price, c: Qty, is_taker: bool, tid: str, now_ms: int
    ) -> None:
        uid = o.user_id
        acct = self.accounts[uid]
        pf = acct.portfolio
        ticker = m.ticker
        pos = pf.positions.get(ticker)
        before = pos.qty if pos is not None else 0
        caches = self._fee_cache.get(ticker)
        fee = caches[0 if is_taker else 1].get((price, c)) if caches is not None else None
        if fee is None:
            fee = self.fee(m, price, c, is_taker)
        cash = pf.apply_fill(ticker, o.side, price, c, fee)
        self.fees_collected += fee
        if o.acc is not None:
            bal, _rounding, _rebate = o.acc.apply(cash + fee, fee)
            adj = bal - cash
            pf.cash += adj
            acct.rounding_fees -= adj
            self.fees_collected -= adj
        if o.side == "bid":
            after = before + c
            cost = price * c
        else:
            after = before - c
            cost = (ONE_DOLLAR - price) * c
        m.open_interest += (after if after > 0 else 0) - (before if before > 0 else 0)
        if is_taker:
            o.taker_cost += cost
            o.taker_fees += fee
        else:
            o.maker_cost += cost
            o.maker_fees += fee
        rem_before = o.remaining
        o.filled += c
        o.remaining = rem_before - c
        if o.reserved:
            rel = o.reserved if not o.remaining else o.reserved * c // rem_before
            o.reserved -= rel
            acct.reserved -= rel
        o.updated_ms = now_ms
        o.reason = "Trade"
        traded = acct.traded
        traded[ticker] = traded.get(ticker, 0) + cost
        acct.pos_updated_ms[ticker] = now_ms
        self._holders[ticker][uid] = None
        self._n = n = self._n + 1
        f = Fill(  # Fill.of, inlined
            f"{self._fid_prefix}{n:012x}",
            tid,
            uid,
            o.order_id,
            o.client_order_id,
            ticker,
            o.side,
            o.subaccount,
            price,
            c,
            fee,
            is_taker,
            after,
            now_ms,
        )
        if acct.record:
            acct.fills.append(f)
        out = self.out
        out.append(f)
        out.append(PositionUpdate(uid, ticker, now_ms))
        if o.group_id is not None:
            g = acct.groups.get(o.group_id)
            if g is not None:
                g.roll(now_ms)
                g.window.append((now_ms, c))
                g.window_sum += c
                if not g.triggered and g.window_sum > g.limit and g not in self._triggers:
                    self._triggers.append(g)
        if not is_taker:
            if not o.remaining:
                if o.status is RESTING:  # the usual (legal) transition, without the table lookup
                    o.status = EXECUTED
                else:
                    _status(o, EXECUTED)
                acct.open_orders.pop(o.order_id, None)
                if o.group_id is not None:
                    self._forget_group(acct, o)
                if not acct.record:
                    acct.orders.pop(o.order_id, None)
            out.append(OrderUpdate(copy(o) if acct.record else o, now_ms))

    def _rest(self, m: MarketState, acct: Account, o: Order, now_ms: int) -> None:
        if o.status is PENDING:  # the usual (legal) transition, without the table lookup
            o.status = RESTING
        else:
            _status(o, RESTING)
        self._prio = prio = self._prio + 1
        o.prio = prio
        book = m.book
        price = o.price
        rem = o.remaining
        if o.side == "bid":
            levels = book.bids
            lvl = levels.get(price)
            if lvl is None:
                lvl = levels[price] = Level(price)
                prices = book.bid_prices
                if not prices or prices[-1] < price:
                    prices.append(price)
                else:
                    insort(prices, price)
            side, bp = "yes", price
        else:
            levels = book.asks
            lvl = levels.get(price)
            if lvl is None:
                lvl = levels[price] = Level(price)
                insort(book.ask_prices, price)
            side, bp = "no", ONE_DOLLAR - price
        lvl.orders.append(o)
        lvl.size += rem
        lvl.live += 1
        acct.open_orders[o.order_id] = o
        if o.group_id is not None:
            g = acct.groups.get(o.group_id)
            if g is not None:
                g.order_ids[o.order_id] = None
        if o.expiration_ts is not None:
            heapq.heappush(self._expiries, (o.expiration_ts * 1000, prio, o))
        self.out.append(BookDelta(m.ticker, side, bp, rem, now_ms, o.user_id, o.client_order_id))

    def _unlink(self, o: Order, now_ms: int, *, lazy: bool, m: MarketState | None = None) -> None:
        """Take a resting order's remaining size off the book (status unchanged)."""
        if m is None:
            m = self.markets[o.ticker]
        book = m.book
        price = o.price
        rem = o.remaining
        if o.side == "bid":
            levels, prices = book.bids, book.bid_prices
            self.out.append(BookDelta(m.ticker, "yes", price, -rem, now_ms, o.user_id, o.client_order_id))
        else:
            levels, prices = book.asks, book.ask_prices
            self.out.append(
                BookDelta(m.ticker, "no", ONE_DOLLAR - price, -rem, now_ms, o.user_id, o.client_order_id)
            )
        lvl = levels[price]
        lvl.size -= rem
        lvl.live -= 1
        if not lvl.live:
            self._drop_level(levels, prices, price)
        elif lazy:
            lvl.dead += 1
            if lvl.dead > _COMPACT_MIN and lvl.dead > lvl.live:
                live = [x for x in lvl.orders if x.status is RESTING and x is not o]
                lvl.orders.clear()
                lvl.orders.extend(live)
                lvl.dead = 0
        else:
            lvl.orders.remove(o)

    def _end(self, acct: Account, o: Order, status: OrderStatus, reason: str, now_ms: int) -> None:
        """Move a non-resting (incoming) order to a terminal status and release its collateral."""
        st = o.status
        if st is PENDING or st is RESTING:  # -> EXECUTED / CANCELED: always legal
            o.status = status
        else:
            _status(o, status)
        if status is CANCELED:
            o.remaining = 0
        o.reason = reason
        o.updated_ms = now_ms
        if o.reserved:
            acct.reserved -= o.reserved
            o.reserved = 0
        acct.open_orders.pop(o.order_id, None)
        if o.group_id is not None:
            self._forget_group(acct, o)
        if not acct.record:
            acct.orders.pop(o.order_id, None)

    def _forget_group(self, acct: Account, o: Order) -> None:
        if o.group_id is not None:
            g = acct.groups.get(o.group_id)
            if g is not None:
                g.order_ids.pop(o.order_id, None)

    def _cancel(
        self, o: Order, now_ms: int, reason: str, acct: Account | None = None, m: MarketState | None = None
    ) -> Qty:
        """Cancel a resting order; returns the size taken off the book."""
        if acct is None:
            acct = self.accounts[o.user_id]
        reduced = o.remaining
        self._unlink(o, now_ms, lazy=True, m=m)
        self._end(acct, o, CANCELED, reason, now_ms)
        self.out.append(OrderUpdate(copy(o) if acct.record else o, now_ms))
        return reduced

    def _resting(self, user_id: str, order_id: str) -> tuple[Account, Order]:
        acct = self.accounts.get(user_id)
        if acct is None:
            acct = self._account(user_id)
        o = acct.orders.get(order_id)
        if o is None or o.status is not RESTING:
            raise EngineReject(404, "not_found", f"order {order_id} not found or not resting")
        return acct, o

    def cancel(self, user_id: str, order_id: str, now_ms: int) -> tuple[Order, Qty]:
        """Cancel a resting order: (order, reduced_by). 404 if unknown, canceled or executed."""
        acct, o = self._resting(user_id, order_id)
        m = self.markets[o.ticker]
        if m.status in ("closed", "determined", "finalized"):
            raise EngineReject(400, "market_not_active", f"market {o.ticker} is {m.status}")
        reduced = self._cancel(o, now_ms, "", acct, m)
        return o, reduced

    def cancel_all(self, user_id: str, now_ms: int, subaccount: int | None = None) -> list[Order]:
        acct = self._account(user_id)
        orders = [o for o in acct.open_orders.values() if subaccount is None or o.subaccount == subaccount]
        for o in orders:
            self._cancel(o, now_ms, "")
        return orders

    def decrease(
        self,
        user_id: str,
        order_id: str,
        now_ms: int,
        *,
        reduce_by: Qty | None = None,
        reduce_to: Qty | None = None,
    ) -> Order:
        """Shrink a resting order, keeping its priority; to zero cancels it."""
        if (reduce_by is None) == (reduce_to is None):
            raise EngineReject(400, "bad_request", "exactly one of reduce_by and reduce_to is required")
        acct, o = self._resting(user_id, order_id)
        m = self.markets[o.ticker]
        if m.status != "active" and m.status != "inactive":
            raise EngineReject(400, "market_not_active", f"market {o.ticker} is {m.status}")
        if reduce_by is not None:
            if reduce_by <= 0:
                raise EngineReject(400, "invalid_order", "reduce_by must be positive")
            new = o.remaining - reduce_by
        else:
            assert reduce_to is not None
            if reduce_to < 0 or reduce_to > o.remaining:
                raise EngineReject(
                    400, "invalid_order", "reduce_to must be between 0 and the remaining count"
                )
            new = reduce_to
        if new <= 0:
            self._cancel(o, now_ms, "Decrease")
            return o
        delta = new - o.remaining
        if delta:
            levels = m.book.bids if o.side == "bid" else m.book.asks
            levels[o.price].size += delta
            side, bp = ("yes", o.price) if o.side == "bid" else ("no", ONE_DOLLAR - o.price)
            self.out.append(BookDelta(m.ticker, side, bp, delta, now_ms, o.user_id, o.client_order_id))
            if o.reserved:
                rel = o.reserved * -delta // o.remaining
                o.reserved -= rel
                acct.reserved -= rel
            o.remaining = new
        o.reason = "Decrease"
        o.updated_ms = now_ms
        self.out.append(OrderUpdate(copy(o) if acct.record else o, now_ms))
        return o

    def amend(
        self,
        user_id: str,
        order_id: str,
        now_ms: int,
        *,
        ticker: str,
        side: str,
        price: Price,
        count: Qty,
        updated_client_order_id: str | None = None,
        expiration_ts: Any = KEEP,
    ) -> Order:
        """Change price and/or total size (count = filled + new remaining) of a resting order."""
        acct, o = self._resting(user_id, order_id)
        if ticker != o.ticker:
            raise EngineReject(400, "invalid_order", "ticker does not match the order")
        if side != o.side:
            raise EngineReject(400, "invalid_order", "side does not match the order")
        m = self._market_for_trading(ticker)
        if not m.grid.is_valid(price):
            raise EngineReject(400, "invalid_order", "price is not on the market's price grid")
        new_rem = count - o.filled
        if new_rem <= 0:
            raise EngineReject(400, "invalid_order", "count must exceed the filled count")
        new_coid = updated_client_order_id
        if new_coid is not None and new_coid != o.client_order_id and new_coid in acct.coids:
            raise EngineReject(
                409, "order_already_exists", "an order with this client_order_id already exists"
            )
        if expiration_ts is not KEEP and expiration_ts and expiration_ts * 1000 <= now_ms:
            raise EngineReject(400, "invalid_order", "expiration_time is in the past")
        keep = price == o.price and new_rem <= o.remaining
        book = m.book
        if side == "bid":
            leg = price
            crosses = bool(book.ask_prices) and book.ask_prices[0] <= price
        else:
            leg = ONE_DOLLAR - price
            crosses = bool(book.bid_prices) and book.bid_prices[-1] >= price
        if not keep and o.post_only and crosses and self.post_only_reject:
            raise EngineReject(400, "invalid_order", "post only cross")
        reserve = leg * new_rem + self.fee(m, price, new_rem, True)
        if reserve - o.reserved > acct.portfolio.cash - acct.reserved:
            raise EngineReject(400, "insufficient_balance", "insufficient balance for this amend")
        if new_coid is not None and new_coid != o.client_order_id:
            acct.coids[new_coid] = o.order_id
            o.client_order_id = new_coid
        if expiration_ts is not KEEP:
            o.expiration_ts = expiration_ts or None
        acct.reserved += reserve - o.reserved
        o.reserved = reserve
        o.initial = count
        o.updated_ms = now_ms
        if keep:
            delta = new_rem - o.remaining
            if delta:
                levels = book.bids if side == "bid" else book.asks
                levels[price].size += delta
                s, bp = ("yes", price) if side == "bid" else ("no", ONE_DOLLAR - price)
                self.out.append(BookDelta(m.ticker, s, bp, delta, now_ms, o.user_id, o.client_order_id))
                o.remaining = new_rem
            if o.expiration_ts is not None:
                heapq.heappush(self._expiries, (o.expiration_ts * 1000, o.prio, o))
            o.reason = "Amend"
        else:
            self._unlink(o, now_ms, lazy=False)
            o.price = price
            o.remaining = new_rem
            if o.post_only and crosses:
                self._end(acct, o, CANCELED, "PostOnlyCrossCancel", now_ms)
            else:
                o.reason = "Amend"
                acct.open_orders.pop(o.order_id, None)
                o.status = OrderStatus.PENDING  # re-entered as an incoming order
                stopped = self._match(m, o, now_ms)
                group = acct.groups.get(o.group_id) if o.group_id is not None else None
                self._after_match(m, acct, o, stopped, group, now_ms)
                if o.status is RESTING and o.reason == "Trade":
                    o.reason = "Amend"
        self.out.append(OrderUpdate(copy(o) if acct.record else o, now_ms))
        if self._triggers:
            self._run_triggers(now_ms)
        return o

    # -- queue position ------------------------------------------------------------------------
    def queue_position(self, o: Order) -> Qty:
        """Contracts resting ahead of ``o`` at its price (price-time priority)."""
        if o.status is not RESTING:
            return 0
        m = self.markets[o.ticker]
        lvl = (m.book.bids if o.side == "bid" else m.book.asks).get(o.price)
        ahead = 0
        if lvl is not None:
            for r in lvl.orders:
                if r is o:
                    break
                if r.status is RESTING:
                    ahead += r.remaining
        return ahead

    # -- order groups ----------------------------------------------------------------------------
    def create_group(self, user_id: str, limit: Qty, now_ms: int, subaccount: int = 0) -> OrderGroup:
        acct = self._account(user_id)
        if not 100 <= limit <= MAX_GROUP_LIMIT:
            raise EngineReject(400, "invalid_parameters", "contracts_limit must be between 1 and 1,000,000")
        if len(acct.groups) >= 100_000:
            raise EngineReject(400, "invalid_parameters", "too many order groups")
        g = OrderGroup(self.new_id(4), user_id, limit, subaccount)
        acct.groups[g.group_id] = g
        self.out.append(OrderGroupEvent(user_id, g.group_id, "created", limit, now_ms))
        return g

    def group(self, user_id: str, group_id: str) -> OrderGroup:
        g = self._account(user_id).groups.get(group_id)
        if g is None:
            raise EngineReject(404, "not_found", f"order group {group_id} not found")
        return g

    def group_set_limit(self, user_id: str, group_id: str, limit: Qty, now_ms: int) -> None:
        g = self.group(user_id, group_id)
        if not 100 <= limit <= MAX_GROUP_LIMIT:
            raise EngineReject(400, "invalid_parameters", "contracts_limit must be between 1 and 1,000,000")
        g.limit = limit
        self.out.append(OrderGroupEvent(user_id, group_id, "limit_updated", limit, now_ms))
        g.roll(now_ms)
        if not g.triggered and g.window_sum > limit:
            self._trigger(g, now_ms)

    def group_trigger(self, user_id: str, group_id: str, now_ms: int) -> None:
        g = self.group(user_id, group_id)
        self._trigger(g, now_ms)

    def group_reset(self, user_id: str, group_id: str, now_ms: int) -> None:
        g = self.group(user_id, group_id)
        g.triggered = False
        g.window.clear()
        g.window_sum = 0
        self.out.append(OrderGroupEvent(user_id, group_id, "reset", None, now_ms))

    def group_delete(self, user_id: str, group_id: str, now_ms: int) -> None:
        g = self.group(user_id, group_id)
        acct = self.accounts[user_id]
        for oid in list(g.order_ids):
            o = acct.orders.get(oid)
            if o is not None and o.status is RESTING:
                self._cancel(o, now_ms, "")
        del acct.groups[group_id]
        self.out.append(OrderGroupEvent(user_id, group_id, "deleted", None, now_ms))

    def _trigger(self, g: OrderGroup, now_ms: int) -> None:
        acct = self.accounts[g.user_id]
        g.triggered = True
        for oid in list(g.order_ids):
            o = acct.orders.get(oid)
            if o is not None and o.status is RESTING:
                self._cancel(o, now_ms, "")
        g.order_ids.clear()
        self.out.append(OrderGroupEvent(g.user_id, g.group_id, "triggered", None, now_ms))

    def _run_triggers(self, now_ms: int) -> None:
        while self._triggers:
            g = self._triggers.pop()
            if not g.triggered:
                self._trigger(g, now_ms)

    # -- lifecycle -----------------------------------------------------------------------------
    def advance(self, now_ms: int) -> None:
        """Apply time-driven changes: open/close/determine/settle markets and expire orders."""
        for m in list(self._live_markets.values()):
            st = m.status
            if st == "initialized" and now_ms >= m.open_ms:
                m.status = "active"
                m.updated_ms = now_ms
                st = "active"
            if (st == "active" or st == "inactive") and now_ms >= m.close_ms:
                self._close(m, now_ms)
                st = "closed"
            if (
                st == "closed"
                and m.pending_result is not None
                and now_ms >= m.close_ms + m.determine_delay_ms
            ):
                self.determine(m.ticker, m.pending_result, now_ms, m.pending_value)
                st = "determined"
            if (
                st == "determined"
                and m.determined_ms is not None
                and now_ms >= m.determined_ms + m.settlement_timer_s * 1000
            ):
                self.settle(m.ticker, now_ms)
        exp = self._expiries
        while exp and exp[0][0] <= now_ms:
            at, _, o = heapq.heappop(exp)
            if o.status is RESTING and o.expiration_ts is not None and o.expiration_ts * 1000 == at:
                self._cancel(o, now_ms, "ExpiryCancel")

    def _cancel_market_orders(self, m: MarketState, now_ms: int, only_on_pause: bool = False) -> None:
        book = m.book
        for levels in (book.bids, book.asks):
            for lvl in list(levels.values()):
                for o in list(lvl.orders):
                    if o.status is RESTING and (not only_on_pause or o.cancel_on_pause):
                        self._cancel(o, now_ms, "")

    def _close(self, m: MarketState, now_ms: int) -> None:
        m.status = "closed"
        m.updated_ms = now_ms
        self._cancel_market_orders(m, now_ms)

    def close_market(self, ticker: str, now_ms: int) -> MarketState:
        """Close now (early): moves close_time and emits ``close_date_updated``."""
        m = self._market(ticker)
        if m.status in ("closed", "determined", "finalized"):
            return m
        if m.close_ms > now_ms:
            m.close_ms = now_ms
            self.out.append(LifecycleEvent(ticker, "close_date_updated", now_ms, {"close_ms": now_ms}))
        self._close(m, now_ms)
        return m

    def set_close_time(self, ticker: str, close_ms: int, now_ms: int) -> MarketState:
        m = self._market(ticker)
        if m.status in ("determined", "finalized"):
            raise EngineReject(400, "market_not_active", f"market {ticker} is {m.status}")
        m.close_ms = close_ms
        m.updated_ms = now_ms
        self.out.append(LifecycleEvent(ticker, "close_date_updated", now_ms, {"close_ms": close_ms}))
        if m.status == "closed" and close_ms > now_ms:
            m.status = "active"
        return m

    def pause(self, ticker: str, now_ms: int) -> MarketState:
        m = self._market(ticker)
        if m.status != "active":
            raise EngineReject(400, "market_not_active", f"market {ticker} is {m.status}")
        m.status = "inactive"
        m.updated_ms = now_ms
        self.out.append(LifecycleEvent(ticker, "deactivated", now_ms, {"is_deactivated": True}))
        self._cancel_market_orders(m, now_ms, only_on_pause=True)
        return m

    def resume(self, ticker: str, now_ms: int) -> MarketState:
        m = self._market(ticker)
        if m.status != "inactive":
            raise EngineReject(400, "market_not_active", f"market {ticker} is {m.status}")
        m.status = "active"
        m.updated_ms = now_ms
        self.out.append(LifecycleEvent(ticker, "activated", now_ms, {"is_deactivated": False}))
        self._cancel_market_orders(m, now_ms)
        return m

    def determine(self, ticker: str, result: str, now_ms: int, value: Price | None = None) -> MarketState:
        m = self._market(ticker)
        if m.status in ("determined", "finalized"):
            raise EngineReject(400, "market_not_active", f"market {ticker} is already {m.status}")
        if result not in ("yes", "no", "scalar"):
            raise EngineReject(400, "bad_request", "result must be yes, no or scalar")
        sv = result_value(result, value)
        if m.status != "closed":
            if m.close_ms > now_ms:
                m.close_ms = now_ms
            self._close(m, now_ms)
        m.status = "determined"
        m.result = result
        m.settlement_value = sv
        m.determined_ms = now_ms
        m.updated_ms = now_ms
        self.out.append(
            LifecycleEvent(ticker, "determined", now_ms, {"result": result, "settlement_value": sv})
        )
        return m

    def settle(self, ticker: str, now_ms: int) -> MarketState:
        """Pay out every net position at the settlement value; the market becomes finalized."""
        m = self._market(ticker)
        if m.status != "determined" or m.settlement_value is None:
            raise EngineReject(400, "market_not_active", f"market {ticker} is {m.status}, not determined")
        sv = m.settlement_value
        for uid in self._holders.get(ticker, {}):
            acct = self.accounts[uid]
            pf = acct.portfolio
            pos = pf.positions.get(ticker)
            if pos is None or pos.settled:
                continue
            qty, cost = pos.qty, pos.cost
            payout = pf.settle(ticker, sv)
            if acct.record:
                acct.settlements.append(
                    SettlementRecord(
                        ticker,
                        m.event_ticker,
                        m.result,
                        sv,
                        qty if qty > 0 else 0,
                        -qty if qty < 0 else 0,
                        cost if qty > 0 else 0,
                        cost if qty < 0 else 0,
                        payout,
                        now_ms,
                    )
                )
                acct.pos_updated_ms[ticker] = now_ms
            else:  # synthetic participants keep no history
                del pf.positions[ticker]
                acct.traded.pop(ticker, None)
                acct.pos_updated_ms.pop(ticker, None)
            self.out.append(PositionUpdate(uid, ticker, now_ms))
        m.open_interest = 0
        m.status = "finalized"
        m.settled_ms = now_ms
        m.updated_ms = now_ms
        self.out.append(LifecycleEvent(ticker, "settled", now_ms, {}))
        self._live_markets.pop(ticker, None)
        self._finalized.append(ticker)
        while len(self._finalized) > self.retain_finalized:
            old = self._finalized.popleft()
            self.markets.pop(old, None)
            self._holders.pop(old, None)
            self._fee_cache.pop(old, None)
        return m

    def _market(self, ticker: str) -> MarketState:
        m = self.markets.get(ticker)
        if m is None:
            raise EngineReject(404, "market_not_found", f"market {ticker} not found")
        return m

    # -- views and checks ------------------------------------------------------------------------
    def escrow(self) -> Money:
        """$1 per open contract of every unsettled market (what settlement will pay out)."""
        return sum(m.open_interest for m in self._live_markets.values()) * ONE_DOLLAR

    def audit(self, accounts: Iterable[Account] | None = None) -> list[str]:
        """Invariant violations (empty list when all is well). O(size of the state)."""
        problems: list[str] = []
        accts = list(self.accounts.values()) if accounts is None else list(accounts)
        cash = sum(a.portfolio.cash for a in accts)
        deposits = sum(a.deposited for a in accts)
        if accounts is None and deposits != cash + self.fees_collected + self.escrow():
            problems.append(
                f"money: deposits {deposits} != cash {cash} + fees {self.fees_collected} + escrow {self.escrow()}"
            )
        for t, m in self._live_markets.items():
            net = 0
            longs = 0
            for a in accts:
                pos = a.portfolio.positions.get(t)
                if pos is not None:
                    net += pos.qty
                    longs += max(pos.qty, 0)
            if accounts is None and net != 0:
                problems.append(f"{t}: net position {net} != 0")
            if accounts is None and longs != m.open_interest:
                problems.append(f"{t}: open interest {m.open_interest} != sum of long positions {longs}")
            b = m.book
            if b.bid_prices and b.ask_prices and b.bid_prices[-1] >= b.ask_prices[0]:
                problems.append(f"{t}: crossed book {b.bid_prices[-1]} >= {b.ask_prices[0]}")
            if b.bid_prices != sorted(b.bids) or b.ask_prices != sorted(b.asks):
                problems.append(f"{t}: price lists out of sync")
            for side, levels in (("bid", b.bids), ("ask", b.asks)):
                for p, lvl in levels.items():
                    live = [o for o in lvl.orders if o.status is RESTING]
                    if not live or len(live) != lvl.live or sum(o.remaining for o in live) != lvl.size:
                        problems.append(f"{t} {side} {p}: level accounting off")
                    if [o.prio for o in live] != sorted(o.prio for o in live):
                        problems.append(f"{t} {side} {p}: time priority broken")
                    for o in live:
                        if o.side != side or o.price != p or o.remaining <= 0:
                            problems.append(f"{t}: misplaced order {o!r}")
                    if len(set(map(id, live))) != len(live):
                        problems.append(f"{t} {side} {p}: duplicate order in queue")
            if m.status not in ("active", "inactive", "initialized") and (b.bids or b.asks):
                problems.append(f"{t}: {m.status} market has resting orders")
        for a in accts:
            reserved = 0
            for o in a.orders.values():
                resting = o.status is RESTING
                if resting != (o.order_id in a.open_orders):
                    problems.append(f"order {o.order_id}: status {o.status} vs open set")
                if o.status in (EXECUTED, CANCELED) and (o.remaining or o.reserved):
                    problems.append(f"terminal order {o!r} keeps remaining/reserve")
                if o.filled + o.remaining > o.initial:
                    problems.append(f"order {o!r}: filled + remaining > initial")
                reserved += o.reserved if resting else 0
            if reserved != a.reserved:
                problems.append(f"{a.user_id}: reserved {a.reserved} != sum over orders {reserved}")
            for o in a.open_orders.values():
                mk = self.markets.get(o.ticker)
                found = None if mk is None else (mk.book.bids if o.side == "bid" else mk.book.asks).get(o.price)
                if found is None or o not in found.orders:
                    problems.append(f"resting order {o!r} is not in the book")
        return problems
