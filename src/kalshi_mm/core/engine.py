"""The engine: ``Engine.handle(event) -> list[Command]``, one ``MarketMaker`` per market.

Pure and synchronous: time arrives on events (``ts_ms``), ids are ``f"{id_prefix}-{n}"``, and
the only state is in memory. The pipeline for a market, run when its top of book (excluding our
own orders) changes, when our orders or position change, and on a ``Tick`` when one of its timers
is due (see ``on_tick``: a Tick gives exactly the commands that running every market would, but
costs nothing for markets that no timer concerns)::

    blocked? (kill switch, daily-loss halt, trading off, closed, resync, stale data) -> no targets
    strategy.quote(ctx) -> risk.shape (sizes, capacity, close window) -> execution.diff
    -> cancels first -> write budget -> risk.check per command -> register as in flight

Most order-book deltas touch neither side's best price and return ``[]`` after the book update.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Any

from kalshi_mm.core.alpha import AlphaProvider, FairValueAlpha
from kalshi_mm.core.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    DecreaseOrder,
    PlaceOrder,
)
from kalshi_mm.core.events import (
    BalanceChanged,
    BookDelta,
    BookSnapshot,
    ExternalSignal,
    FeedResynced,
    MarketCloseChanged,
    MarketClosed,
    MarketDataBatch,
    MarketDetermined,
    MarketOpened,
    MarketStatusChanged,
    OrderAccepted,
    OrderCanceled,
    OrderExecuted,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    Tick,
    TradePrinted,
)
from kalshi_mm.core.execution import ExecutionParams, LiveOrder, apply_budget, command_cost, diff_held
from kalshi_mm.core.maker import NEVER, MarketMaker
from kalshi_mm.core.risk import RiskLimits, RiskManager
from kalshi_mm.core.signals import SignalParams
from kalshi_mm.core.strategies import STRATEGIES, strategy_params
from kalshi_mm.core.strategies.base import TargetOrder
from kalshi_mm.domain.fees import DEFAULT_FEES, FeeSchedule
from kalshi_mm.domain.orders import OrderStatus
from kalshi_mm.domain.portfolio import Portfolio
from kalshi_mm.domain.units import MONEY_SCALE, ONE_DOLLAR, PRICE_SCALE, Qty
from kalshi_mm.errors import ConfigError, ProtocolError

_CLOSED_STATUSES = frozenset({"closed", "determined", "finalized", "settled", "disputed", "amended"})
_BATCHABLE = frozenset((BookDelta, BookSnapshot, TradePrinted))
_NO_TARGETS: tuple[TargetOrder, ...] = ()
_DAY_MS = 86_400_000


@dataclass
class EngineConfig:
    """Everything the engine needs; plain values so the shell can validate dicts into it."""

    strategy: str = "avellaneda_stoikov"
    strategy_params: Any = None  # the strategy's Params dataclass, a dict of its fields, or None
    risk: RiskLimits = field(default_factory=RiskLimits)
    execution: ExecutionParams = field(default_factory=ExecutionParams)
    signals: SignalParams = field(default_factory=SignalParams)
    fees: FeeSchedule = DEFAULT_FEES
    alpha_weight: float = 1.0  # weight of ExternalSignal fair values in the skew
    max_alpha_skew: float = 0.05  # dollars
    trading_enabled: bool = True

    @classmethod
    def from_dicts(
        cls,
        strategy: str = "avellaneda_stoikov",
        strategy_params: dict[str, Any] | None = None,
        risk: dict[str, Any] | None = None,
        execution: dict[str, Any] | None = None,
        signals: dict[str, Any] | None = None,
        **kw: Any,
    ) -> EngineConfig:
        def build(dc: type, d: dict[str, Any] | None, what: str) -> Any:
            try:
                return dc(**(d or {}))
            except TypeError as e:
                raise ConfigError(f"bad {what} settings: {e}") from None

        return cls(
            strategy=strategy,
            strategy_params=strategy_params_of(strategy, strategy_params),
            risk=build(RiskLimits, risk, "risk"),
            execution=build(ExecutionParams, execution, "execution"),
            signals=build(SignalParams, signals, "signals"),
            **kw,
        )


def strategy_params_of(name: str, params: Any) -> Any:
    return strategy_params(name, params)


def _ordinal(mm: MarketMaker) -> int:
    return mm.ordinal


class Engine:
    """Portfolio-level engine over one MarketMaker per market. See the module docstring."""

    def __init__(self, config: EngineConfig | None = None, *, id_prefix: str = "kmm", alpha: AlphaProvider | None = None) -> None:
        cfg = self.config = config or EngineConfig()
        if cfg.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {cfg.strategy!r}; known: {', '.join(sorted(STRATEGIES))}")
        self.strategy_cls = STRATEGIES[cfg.strategy]
        self.params = strategy_params(cfg.strategy, cfg.strategy_params)
        self.id_prefix = id_prefix
        self._seq = 0
        self.alpha: AlphaProvider = alpha or FairValueAlpha(cfg.alpha_weight, cfg.max_alpha_skew)
        self.exec = cfg.execution
        self.risk = RiskManager(cfg.risk)
        self.portfolio = Portfolio()
        self.markets: dict[str, MarketMaker] = {}
        self.trading = cfg.trading_enabled
        self.now_ms = 0
        self.balance: int | None = None
        self._by_coid: dict[str, MarketMaker] = {}
        self._oid_to_coid: dict[str, str] = {}
        self._fill_ids: set[str] = set()
        self._removing: set[str] = set()
        self._close_ms: dict[str, int] = {}  # close time of every market ever opened (outlives the maker)
        self._deferred: dict[str, MarketMaker] | None = None  # inside a MarketDataBatch: runs wait
        self._total_exposure: Qty = 0
        self._budget: int | None = None
        self._inflight_ms = int(self.exec.inflight_timeout_s * 1000)
        self._backoff_ms = int(self.exec.reject_backoff_s * 1000)
        # -- timers: a Tick runs only the markets whose deadline came (see on_tick) --------------
        self._lazy = True  # False: every Tick runs every market (the reference behaviour)
        self._heap: list[tuple[int, int, MarketMaker]] = []  # (due ms, seq, market), lazily deleted
        self._heap_seq = 0
        self._ordinal = 0
        self._full_tick = True  # the next Tick must run every market (global state changed)
        self._tick_state: object = None  # global state the last full Tick saw
        self._max_run_ts = 0  # latest ts any market was run at
        self._stale_due = self.risk.stale_ms + 1  # a book older than this at a Tick is stale
        self._inflight_due = self._inflight_ms + 1
        self._window_due = int(cfg.signals.window_s * 1000) + 1  # a trade leaves the vol window
        # markets' sizes depend on each other only near the total exposure limit
        self._exposure_free = self.risk.max_total - self.risk.max_position
        # incremental total P&L for the daily-loss rule: ticker -> realized + unrealized
        self._pnl_parts: dict[str, int] = {}
        self._pnl_sum = 0
        self._pnl_dirty: set[str] = set()
        self._events = 0
        self._counters: dict[str, int] = {
            "events": 0,
            "commands": 0,
            "fills": 0,
            "duplicate_fills": 0,
            "reconciliations": 0,
            "settlement_pending": 0,  # the exchange zeroed a closed market's position before we saw its result
            "book_errors": 0,
            "exchange_rejections": 0,
            "budget_deferred": 0,
            "tick_runs": 0,  # markets run by Ticks (each Tick runs only the markets that are due)
            "full_ticks": 0,  # Ticks that had to run every market (global state changed)
        }
        self._handlers: dict[type, Any] = {
            BookDelta: self.on_book_delta,
            MarketDataBatch: self.on_market_data_batch,
            MarketCloseChanged: self.on_market_close_changed,
            BookSnapshot: self.on_book_snapshot,
            TradePrinted: self.on_trade_printed,
            OrderAccepted: self.on_order_accepted,
            OrderRejected: self.on_order_rejected,
            OrderFilled: self.on_order_filled,
            OrderCanceled: self.on_order_canceled,
            OrderExecuted: self.on_order_executed,
            PositionChanged: self.on_position_changed,
            BalanceChanged: self.on_balance_changed,
            MarketOpened: self.on_market_opened,
            MarketStatusChanged: self.on_market_status_changed,
            MarketClosed: self.on_market_closed,
            MarketDetermined: self.on_market_determined,
            FeedResynced: self.on_feed_resynced,
            Tick: self.on_tick,
            ExternalSignal: self.on_external_signal,
        }

    # == entry point ===========================================================================
    def handle(self, event: Any, *, budget: int | None = None) -> list[Command]:
        """Apply one event; return the commands to send. ``budget``: write tokens available now."""
        self._budget = budget
        self._events += 1
        ts = event.ts_ms
        if ts > self.now_ms:
            self.now_ms = ts
        if type(event) is not BookDelta:
            return self._handlers[type(event)](event)
        # the hot path (``on_book_delta``), inline
        mm = self.markets.get(event.ticker)
        if mm is None:
            return []
        price = event.price
        try:
            if event.side == "yes":
                mm.yes_apply(price, event.delta)
                touched = price >= mm.thr_yes
            else:
                mm.no_apply(price, event.delta)
                touched = price >= mm.thr_no
        except ProtocolError as e:
            return self._book_error(mm, ts, str(e))
        mm.book.updated_ms = ts
        if mm.awaiting_snapshot or not (touched or mm.stale):
            return []
        return self._top_touched(mm, ts)

    @property
    def counters(self) -> dict[str, int]:
        c = self._counters
        c["events"] = self._events
        return c

    def next_id(self) -> str:
        self._seq += 1
        return f"{self.id_prefix}-{self._seq}"

    # == market data ===========================================================================
    def on_market_opened(self, ev: MarketOpened) -> list[Command]:
        m = ev.market
        if m.close_ts_ms:
            self._close_ms[m.ticker] = m.close_ts_ms
        mm = self.markets.get(m.ticker)
        if mm is not None:
            was_closed = mm.closed
            mm.set_market(m)
            self._set_close_window(mm)
            mm.closed = not m.is_open and m.status in _CLOSED_STATUSES
            if was_closed and not mm.closed:
                self._await_snapshot(mm)  # traded again: its book stopped streaming at the close
            return self._run([mm], ev.ts_ms)
        strategy = self.strategy_cls(self.params, m)
        mm = MarketMaker(
            m,
            strategy,
            self.portfolio.position(m.ticker),
            self.config.fees,
            self.config.signals,
            self.risk.max_position,
        )
        mm.closed = m.status in _CLOSED_STATUSES
        self._ordinal += 1
        mm.ordinal = self._ordinal
        self._set_close_window(mm)
        self.markets[m.ticker] = mm
        self._pnl_dirty.add(m.ticker)
        mm.kick = True  # the next Tick runs it once (its block reason)
        self._schedule(mm, 0)
        return []

    def _set_close_window(self, mm: MarketMaker) -> None:
        close = mm.market.close_ts_ms
        mm.cw_ms = close - self.risk.close_ms if close > 0 else NEVER

    def on_book_snapshot(self, ev: BookSnapshot) -> list[Command]:
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        mm.book.apply_snapshot(ev.yes, ev.no, ev.ts_ms)
        mm.book.updated_ms = ev.ts_ms
        mm.awaiting_snapshot = False
        mm.stale = False
        mm.signals.reset_book()
        self._reset_top(mm)
        self._refresh(mm, ev.ts_ms)
        return self._run([mm], ev.ts_ms)

    def on_book_delta(self, ev: BookDelta) -> list[Command]:
        """The hot path: a book update, O(1) checks, and quotes only if the top moved."""
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        price = ev.price
        ts = ev.ts_ms
        try:
            if ev.side == "yes":
                mm.yes_apply(price, ev.delta)
                touched = price >= mm.thr_yes  # -1 when there is no top yet
            else:
                mm.no_apply(price, ev.delta)
                touched = price >= mm.thr_no
        except ProtocolError as e:
            return self._book_error(mm, ts, str(e))
        mm.book.updated_ms = ts
        if mm.awaiting_snapshot or not (touched or mm.stale):
            return []
        return self._top_touched(mm, ts)

    def _top_touched(self, mm: MarketMaker, ts: int) -> list[Command]:
        """A delta at or above the top (or on a stale book): refresh the top, re-quote if it moved."""
        was_stale = mm.stale
        mm.stale = False
        changed = self._refresh(mm, ts)
        if changed == 2 or (changed == 1 and mm.strategy.uses_top_size) or mm.quote_block:
            qb = mm.quote_block
            if (
                qb is not None
                and not mm.orders
                and not mm.last_targets
                and not mm.requote_pending
                and self._block_reason(mm, ts) == qb
            ):
                # still blocked for the same reason, nothing to cancel: a run is a no-op
                if was_stale:
                    self._schedule(mm, mm.book.updated_ms + self._stale_due)  # its next stale flip
                return []
            return self._run([mm], ts)
        return []

    def _refresh(self, mm: MarketMaker, ts: int) -> int:
        changed = mm.refresh_top()
        if changed:
            mm.signals.on_top_tuple(ts, mm.top)
            if changed == 2 and mm.pos.qty:
                self._pnl_dirty.add(mm.ticker)  # the mark moved
        return changed

    def _reset_top(self, mm: MarketMaker) -> None:
        mm.reset_top()
        if mm.pos.qty:
            self._pnl_dirty.add(mm.ticker)

    def _book_error(self, mm: MarketMaker, ts: int, reason: str) -> list[Command]:
        self.counters["book_errors"] += 1
        mm.awaiting_snapshot = True
        mm.book.clear()
        mm.signals.reset_book()
        self._reset_top(mm)
        mm.quote_block = f"book error, awaiting snapshot: {reason}"
        return self._run([mm], ts)

    def on_trade_printed(self, ev: TradePrinted) -> list[Command]:
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        mid = mm.ctx.mid
        mm.signals.on_trade(ev.ts_ms, ev.price / PRICE_SCALE, ev.count, None if mid is None else mid / PRICE_SCALE)
        if not mm.kick:  # the signals changed: the next Tick re-quotes with them
            mm.kick = True
            self._schedule(mm, 0)
        return []

    def on_external_signal(self, ev: ExternalSignal) -> list[Command]:
        setter = getattr(self.alpha, "set_fair_value", None)
        if setter is not None:
            full = self._tick_state != self._global_state()
            setter(ev.ticker, ev.fair_value)
            if not full:  # only this market's skew changed, and it is run now
                self._tick_state = self._global_state()
        mm = self.markets.get(ev.ticker)
        return self._run([mm], ev.ts_ms) if mm is not None else []

    def on_feed_resynced(self, ev: FeedResynced) -> list[Command]:
        tickers = ev.tickers or tuple(self.markets)
        mms = []
        for t in tickers:
            mm = self.markets.get(t)
            if mm is None:
                continue
            self._await_snapshot(mm)
            mms.append(mm)
        return self._run(mms, ev.ts_ms)

    def _await_snapshot(self, mm: MarketMaker) -> None:
        """The book is no longer known (resync, or a market that stopped streaming at its close):
        quote nothing there until a fresh snapshot."""
        mm.awaiting_snapshot = True
        mm.book.clear()
        mm.signals.reset_book()
        self._reset_top(mm)

    # == market lifecycle ======================================================================
    def on_market_status_changed(self, ev: MarketStatusChanged) -> list[Command]:
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        mm.set_market(dataclasses.replace(mm.market, status=ev.status))
        if ev.status in _CLOSED_STATUSES:
            return self._close(mm)
        return self._run([mm], ev.ts_ms)

    def on_market_close_changed(self, ev: MarketCloseChanged) -> list[Command]:
        """The close moved: the close window (no new risk) and A-S's horizon follow it; a closed
        market whose close moved past now trades again."""
        self._close_ms[ev.ticker] = ev.close_ts_ms
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        mm.set_market(dataclasses.replace(mm.market, close_ts_ms=ev.close_ts_ms))
        self._set_close_window(mm)
        if mm.closed and ev.close_ts_ms > ev.ts_ms and mm.market.status not in _CLOSED_STATUSES:
            mm.closed = False
            self._await_snapshot(mm)  # its book stopped streaming at the close
        self._touch(mm)
        return self._run([mm], ev.ts_ms)

    def on_market_closed(self, ev: MarketClosed) -> list[Command]:
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        return self._close(mm)

    def _close(self, mm: MarketMaker) -> list[Command]:
        """Trading stopped: the exchange cancels resting orders and refuses every order call."""
        mm.closed = True
        for coid in list(mm.orders):
            self._forget(mm, coid, OrderStatus.CANCELED)
        self._touch(mm)
        self._maybe_drop(mm)
        return []

    def on_market_determined(self, ev: MarketDetermined) -> list[Command]:
        mm = self.markets.get(ev.ticker)
        if mm is not None and not mm.closed:
            self._close(mm)
        pos = self.portfolio.positions.get(ev.ticker)
        if pos is not None and not pos.settled:
            self.portfolio.settle(ev.ticker, ev.settlement_value)
            self._pnl_dirty.add(ev.ticker)
        if mm is not None:
            self._touch(mm)
            self._maybe_drop(mm)
        return self._check_loss(ev.ts_ms)

    # == our orders ============================================================================
    def _find(self, coid: str | None, order_id: str | None) -> tuple[MarketMaker | None, LiveOrder | None]:
        if not coid and order_id:
            coid = self._oid_to_coid.get(order_id)
        if not coid:
            return None, None
        mm = self._by_coid.get(coid)
        if mm is None:
            return None, None
        return mm, mm.orders.get(coid)

    def on_order_accepted(self, ev: OrderAccepted) -> list[Command]:
        mm, o = self._find(ev.client_order_id, ev.order_id)
        ts = ev.ts_ms
        if o is None or mm is None:
            mm = self.markets.get(ev.ticker)
            if mm is None or ev.remaining <= 0:
                return []
            # an order we do not know (e.g. from before a restart): adopt it so it gets canceled
            coid = ev.client_order_id or f"orphan-{ev.order_id}"
            o = LiveOrder(coid, ev.ticker, ev.side, ev.price, ev.remaining + ev.filled, tag="orphan")
            o.status = OrderStatus.RESTING
            self._register(mm, o)
        o.order_id = ev.order_id
        self._oid_to_coid[ev.order_id] = o.client_order_id
        if ev.price != o.price or o.inflight == "place":
            o.priced_ms = ts
        o.price = ev.price
        o.remaining = ev.remaining
        if ev.filled > o.filled:
            o.filled = ev.filled
        if o.status == OrderStatus.PENDING:
            o.transition(OrderStatus.RESTING, ts)
        if o.inflight in ("place", "amend", "decrease"):
            o.inflight = None
            o.amend_failed = False
        o.pending_price = o.pending_remaining = 0
        if o.remaining <= 0:
            self._order_done(mm, o, OrderStatus.EXECUTED if o.filled else OrderStatus.CANCELED, ts)
        self._touch(mm)
        self._refresh(mm, ts)
        return self._run([mm], ts)

    def on_order_rejected(self, ev: OrderRejected) -> list[Command]:
        mm, o = self._find(ev.client_order_id, ev.order_id)
        self.counters["exchange_rejections"] += 1
        ts = ev.ts_ms
        self.risk.rejections.append(
            {"ts_ms": ts, "ticker": ev.ticker, "rule": "exchange", "message": f"{ev.code}: {ev.reason}".strip()}
        )
        if o is None or mm is None:
            return []
        what = o.inflight
        o.inflight = None
        o.pending_price = o.pending_remaining = 0
        if what == "place" or o.status == OrderStatus.PENDING:
            mm.blocked_until[o.tag] = ts + self._backoff_ms
            self._order_done(mm, o, OrderStatus.REJECTED, ts)
        elif what == "cancel":
            # the exchange does not know it (404): already canceled or executed
            self._order_done(mm, o, OrderStatus.CANCELED, ts)
        elif what == "amend":
            o.amend_failed = True
        if o.remaining <= 0 and o.client_order_id in mm.orders:
            self._order_done(mm, o, OrderStatus.EXECUTED, ts)
        self._touch(mm)
        self._refresh(mm, ts)
        return self._run([mm], ts)

    def on_order_filled(self, ev: OrderFilled) -> list[Command]:
        if ev.fill_id in self._fill_ids:
            self.counters["duplicate_fills"] += 1
            return []
        self._fill_ids.add(ev.fill_id)
        self.counters["fills"] += 1
        ts = ev.ts_ms
        self.portfolio.apply_fill(ev.ticker, ev.side, ev.price, ev.count, ev.fee)
        self._pnl_dirty.add(ev.ticker)
        mm, o = self._find(ev.client_order_id, ev.order_id)
        if mm is None:
            mm = self.markets.get(ev.ticker)
        tag = ""
        if o is not None and mm is not None:
            tag = o.tag
            if not o.order_id and ev.order_id:
                o.order_id = ev.order_id
                self._oid_to_coid[ev.order_id] = o.client_order_id
            # fills are counted once whichever report comes first: an OrderAccepted carrying
            # ``filled`` (absolute) or the OrderFilled events (increments)
            o.fill_events += ev.count
            o.fees += ev.fee
            delta = o.fill_events - o.filled
            if delta > 0:
                o.filled = o.fill_events
                o.remaining = max(0, o.remaining - delta)
                if o.pending_remaining:
                    o.pending_remaining = max(0, o.pending_remaining - delta)
                if o.status == OrderStatus.PENDING and o.remaining > 0:
                    o.transition(OrderStatus.RESTING, ts)
            if o.remaining <= 0 and o.inflight != "amend":
                self._order_done(mm, o, OrderStatus.EXECUTED, ts)
        if mm is not None:
            ctx = mm.ctx
            ctx.ts_ms = ts
            ctx.position = mm.pos.qty
            mm.strategy.on_fill(ev.side, ev.price, ev.count, tag, ctx)
            self._touch(mm)
            self._refresh(mm, ts)
        out = self._check_loss(ts)
        if out or mm is None:
            return out
        return self._run([mm], ts)

    def on_order_canceled(self, ev: OrderCanceled) -> list[Command]:
        mm, o = self._find(ev.client_order_id, ev.order_id)
        if o is None or mm is None:
            return []
        self._order_done(mm, o, OrderStatus.CANCELED, ev.ts_ms)
        self._touch(mm)
        self._refresh(mm, ev.ts_ms)
        return self._run([mm], ev.ts_ms)

    def on_order_executed(self, ev: OrderExecuted) -> list[Command]:
        mm, o = self._find(ev.client_order_id, ev.order_id)
        if o is None or mm is None:
            return []
        self._order_done(mm, o, OrderStatus.EXECUTED, ev.ts_ms)
        self._touch(mm)
        self._refresh(mm, ev.ts_ms)
        return self._run([mm], ev.ts_ms)

    def on_position_changed(self, ev: PositionChanged) -> list[Command]:
        pos = self.portfolio.position(ev.ticker)
        if ev.position == 0 and pos.qty and not pos.settled and self._trading_over(ev.ticker, ev.ts_ms):
            # After the close nothing trades: a position that drops to zero is the exchange settling
            # it. Folding that in as a correction would lose the payout; the position stays on the
            # books until the result arrives (``MarketDetermined``) and settles it.
            self.counters["settlement_pending"] += 1
            return []
        if pos.qty != ev.position:
            self.counters["reconciliations"] += 1
            old = pos.qty
            new = ev.position
            if old and new and (old > 0) == (new > 0):
                pos.cost = pos.cost * abs(new) // abs(old)
            else:
                mm0 = self.markets.get(ev.ticker)
                mid = mm0.ctx.mid if mm0 is not None else None
                mark = round(mid) if mid is not None else ONE_DOLLAR // 2
                pos.cost = abs(new) * (mark if new > 0 else ONE_DOLLAR - mark)
            pos.qty = new
            self._pnl_dirty.add(ev.ticker)
        mm = self.markets.get(ev.ticker)
        if mm is None:
            return []
        self._touch(mm)
        return self._run([mm], ev.ts_ms)

    def _trading_over(self, ticker: str, ts_ms: int) -> bool:
        mm = self.markets.get(ticker)
        if mm is not None and mm.closed:
            return True
        close = self._close_ms.get(ticker)
        return close is not None and ts_ms >= close

    def on_balance_changed(self, ev: BalanceChanged) -> list[Command]:
        self.balance = ev.balance
        return []

    def _register(self, mm: MarketMaker, o: LiveOrder) -> None:
        mm.orders[o.client_order_id] = o
        self._by_coid[o.client_order_id] = mm
        if o.order_id:
            self._oid_to_coid[o.order_id] = o.client_order_id

    def _forget(self, mm: MarketMaker, coid: str, status: OrderStatus) -> LiveOrder | None:
        o = mm.orders.pop(coid, None)
        self._by_coid.pop(coid, None)
        if o is not None:
            if o.order_id:
                self._oid_to_coid.pop(o.order_id, None)
            if not o.is_terminal and status in (OrderStatus.CANCELED, OrderStatus.EXECUTED, OrderStatus.REJECTED):
                o.status = status
        return o

    def _order_done(self, mm: MarketMaker, o: LiveOrder, status: OrderStatus, ts: int) -> None:
        self._forget(mm, o.client_order_id, status)
        ctx = mm.ctx
        ctx.ts_ms = ts
        mm.strategy.on_order_done(o.tag, ctx)
        self._maybe_drop(mm)

    def _touch(self, mm: MarketMaker) -> None:
        new = mm.compute_exposure()
        total = self._total_exposure = self._total_exposure + new - mm.exposure
        mm.exposure = new
        if total > self._exposure_free:
            self._full_tick = True  # near the total limit every market's room depends on the others

    def _maybe_drop(self, mm: MarketMaker) -> None:
        if mm.ticker in self._removing and not mm.has_risk():
            self._removing.discard(mm.ticker)
            self.markets.pop(mm.ticker, None)
            self._total_exposure -= mm.exposure
            mm.exposure = 0
            self._pnl_dirty.add(mm.ticker)

    # == timers ================================================================================
    def on_tick(self, ev: Tick) -> list[Command]:
        """Time passes. Runs only the markets whose deadline came (see ``_due``), in market order.

        A market that no timer concerns costs nothing here: a Tick with nothing due returns ``[]``
        after a look at the top of a heap. Every Tick runs every market (the reference
        behaviour, ``_full_tick_run``) when global state changed since the last one (kill switch,
        halt, trading on/off, alpha, a new UTC day), near the total exposure limit (where each
        market's room depends on all others), or when time went backwards.
        """
        ts = ev.ts_ms
        state = self._global_state()
        if (
            self._full_tick
            or not self._lazy
            or state is None
            or state != self._tick_state
            or ts < self._max_run_ts
            or ts // _DAY_MS != self.risk.day
            or self._total_exposure > self._exposure_free
        ):
            return self._full_tick_run(ts, state)
        heap = self._heap
        if not heap or heap[0][0] > ts:
            return self._check_loss(ts)
        due: list[MarketMaker] = []
        markets = self.markets
        while heap and heap[0][0] <= ts:
            _, seq, mm = heappop(heap)
            if seq != mm.heap_seq:
                continue  # superseded by an earlier deadline
            mm.heap_due = NEVER
            if markets.get(mm.ticker) is not mm:
                continue  # dropped
            d = self._due(mm, ts)
            if d > ts:
                self._schedule(mm, d)
            else:
                due.append(mm)
        stale_ms = self.risk.stale_ms
        timeout = self._inflight_ms
        for mm in due:
            self._tick_market(mm, ts, stale_ms, timeout)
        out = self._check_loss(ts)
        if out:
            return out
        if not due:
            return due  # type: ignore[return-value]
        if len(due) > 1:
            due.sort(key=_ordinal)
        self.counters["tick_runs"] += len(due)
        return self._run(due, ts)

    def _tick_market(self, mm: MarketMaker, ts: int, stale_ms: int, timeout: int) -> None:
        mm.signals.advance(ts)
        if not mm.awaiting_snapshot and not mm.closed and ts - mm.book.updated_ms > stale_ms:
            mm.stale = True
        for o in mm.orders.values():
            if o.inflight is not None and ts - o.inflight_ms > timeout:
                # no answer: forget the command so the diff can retry (a cancel is re-sent)
                o.inflight = None
                o.pending_price = o.pending_remaining = 0
        self._touch(mm)

    def _full_tick_run(self, ts: int, state: object) -> list[Command]:
        """Every market's timers and pipeline (the reference behaviour of a Tick)."""
        self.counters["full_ticks"] += 1
        self._full_tick = False
        self._tick_state = state
        stale_ms = self.risk.stale_ms
        timeout = self._inflight_ms
        for mm in self.markets.values():
            self._tick_market(mm, ts, stale_ms, timeout)
        out = self._check_loss(ts)
        if out:
            return out
        self.counters["tick_runs"] += len(self.markets)
        return self._run(list(self.markets.values()), ts)

    def _global_state(self) -> object:
        """What every market's quotes depend on; None if unknown (an alpha without ``state_key``)."""
        key = getattr(self.alpha, "state_key", None)
        if key is None:
            return None
        risk = self.risk
        return (self.trading, risk.killed, risk.halted, key())

    def _schedule(self, mm: MarketMaker, due: int) -> None:
        """Make sure a Tick at or after ``due`` looks at ``mm``."""
        if due < mm.heap_due:
            self._heap_seq = seq = self._heap_seq + 1
            mm.heap_due = due
            mm.heap_seq = seq
            heappush(self._heap, (due, seq, mm))

    def _due(self, mm: MarketMaker, ts: int) -> int:
        """The earliest Tick time at which running ``mm`` could differ from its last run (at
        ``mm.run_ts``) with no event in between: every timer its pipeline reads."""
        if mm.kick:
            return 0
        d = mm.hold_due  # a debounced reprice is released
        sd = mm.strat_due  # the strategy's quote drifts with time (A-S: tau, decaying sigma)
        if sd < d:
            if mm.strat_lazy and sd <= ts:
                mm.strat_lazy = False
                f = getattr(mm.strategy, "next_change_ms", None)
                sd = mm.strat_due = f(mm.ctx) if f is not None else sd
            if sd < d:
                d = sd
        if not mm.awaiting_snapshot and not mm.closed and not mm.stale:
            x = mm.book.updated_ms + self._stale_due  # the book goes stale
            if x < d:
                d = x
        for o in mm.orders.values():
            if o.inflight is not None:
                x = o.inflight_ms + self._inflight_due  # an unanswered command times out
                if x < d:
                    d = x
        run_ts = mm.run_ts
        if mm.blocked_until:
            for x in mm.blocked_until.values():  # a reject backoff ends
                if run_ts < x < d:
                    d = x
        x = mm.cw_ms  # the close window begins
        if run_ts < x < d:
            d = x
        trades = mm.signals._trades
        if trades:
            x = trades[0][0] + self._window_due  # a trade leaves the volatility window
            if x < d:
                d = x
        return d

    def _marks(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for t, mm in self.markets.items():
            mid = mm.ctx.mid
            out[t] = round(mid) if mid is not None else None
        return out

    def total_pnl(self) -> int:
        return self.portfolio.total_pnl(self._marks())

    def _total_pnl_fast(self) -> int:
        """``total_pnl()`` kept incrementally: only markets whose mark or position changed."""
        dirty = self._pnl_dirty
        if dirty:
            parts = self._pnl_parts
            positions = self.portfolio.positions
            markets = self.markets
            total = self._pnl_sum
            for t in dirty:
                pos = positions.get(t)
                if pos is None:
                    new = 0
                else:
                    mm = markets.get(t)
                    mid = mm.ctx.mid if mm is not None else None
                    new = pos.realized + pos.unrealized(round(mid) if mid is not None else None)
                total += new - parts.get(t, 0)
                parts[t] = new
            self._pnl_sum = total
            dirty.clear()
        return self._pnl_sum - self.portfolio.fees_paid

    def _check_loss(self, ts: int) -> list[Command]:
        if self.risk.update_pnl(ts, self._total_pnl_fast()):
            return self._cancel_everything(ts, self.risk.halted or "daily_loss")
        return []

    # == controls ==============================================================================
    def kill(self, reason: str, ts_ms: int) -> list[Command]:
        """Kill switch: cancel everything, quote nothing until ``reset_kill``."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms
        self.risk.killed = f"kill_switch: {reason}"
        return self._cancel_everything(ts_ms, f"kill switch: {reason}")

    def _cancel_everything(self, ts: int, reason: str) -> list[Command]:
        for mm in self.markets.values():
            for o in mm.orders.values():
                if o.order_id:
                    o.inflight = "cancel"
                    o.inflight_ms = ts
            mm.quote_block = reason
        self._full_tick = True
        self.counters["commands"] += 1
        return [CancelAll(ticker="", reason=reason)]

    def reset_kill(self) -> list[Command]:
        """Clear the kill switch (and a daily-loss halt); quoting resumes."""
        self.risk.killed = None
        self.risk.halted = None
        self.risk.day_baseline = self.total_pnl()
        return self._run(list(self.markets.values()), self.now_ms)

    def set_trading(self, enabled: bool) -> list[Command]:
        """Start or stop quoting (stopping cancels our quotes)."""
        self.trading = enabled
        return self._run(list(self.markets.values()), self.now_ms)

    def remove_market(self, ticker: str) -> list[Command]:
        """Stop quoting ``ticker``; it leaves ``markets`` once flat with no live orders."""
        mm = self.markets.get(ticker)
        if mm is None:
            return []
        mm.enabled = False
        self._removing.add(ticker)
        out = self._run([mm], self.now_ms)
        self._maybe_drop(mm)
        return out

    def held_tickers(self) -> set[str]:
        """Markets holding a position or live orders (selection must keep them)."""
        return {t for t, mm in self.markets.items() if mm.has_risk()}

    # == the pipeline ==========================================================================
    def _block_reason(self, mm: MarketMaker, ts: int) -> str | None:
        r = self.risk.blocked
        if r:
            return r
        if not self.trading:
            return "trading disabled"
        if not mm.enabled:
            return "market removed"
        if mm.closed:
            return "market closed"
        if not mm.market.is_open:
            return f"market status {mm.market.status}"
        if mm.awaiting_snapshot:
            return mm.quote_block if mm.quote_block and mm.quote_block.startswith("book error") else (
                "awaiting book snapshot"
            )
        if mm.stale:
            age = (ts - mm.book.updated_ms) / 1000
            return f"stale_data: no book update for {age:.1f} s > {self.risk.limits.stale_after_s:g} s"
        return None

    def _targets(self, mm: MarketMaker, ts: int) -> tuple[TargetOrder, ...]:
        block = self._block_reason(mm, ts)
        mm.quote_block = block
        if block is not None:
            return _NO_TARGETS
        ctx = mm.ctx
        ctx.ts_ms = ts
        pos = mm.pos
        qty = ctx.position = pos.qty
        ctx.avg_cost = pos.cost / abs(qty) if qty else 0.0  # pos.avg_cost
        risk = self.risk
        scale = risk.size_scale(mm.signals.window_std())
        mm.size_scale = scale
        lim = mm.position_limit = risk.max_position if scale >= 1.0 else int(risk.max_position * scale)
        ctx.max_position = lim
        bb, ba = ctx.best_bid, ctx.best_ask
        if bb is None or ba is None:  # ctx.mid
            ctx.skew = 0.0
        else:
            ctx.skew = self.alpha.get_external_skew(mm.ticker, (bb + ba) / 2.0)
        ctx._live = None  # ctx.live (mm.live_by_tag()), built if the strategy reads it
        targets = mm.strategy.quote(ctx)
        if not targets:
            return targets
        return risk.shape(targets, mm, self._total_exposure - mm.exposure, ts)

    def on_market_data_batch(self, ev: MarketDataBatch) -> list[Command]:
        """Apply the batch's events in order; every market they would have run, runs once at the end."""
        deferred: dict[str, MarketMaker] = {}
        self._deferred = deferred
        self._events -= 1  # the inner events are counted
        budget = self._budget
        try:
            for e in ev.events:
                if type(e) not in _BATCHABLE:
                    raise ProtocolError(f"a MarketDataBatch holds market data only, not {type(e).__name__}")
                self.handle(e, budget=budget)
        finally:
            self._deferred = None
            self._budget = budget
        if not deferred:
            return []
        ts = max(e.ts_ms for e in ev.events)  # (a batch need not be in time order across markets)
        return self._run(list(deferred.values()), ts)

    def _run(self, mms: list[MarketMaker], ts: int) -> list[Command]:
        deferred = self._deferred
        if deferred is not None:
            for mm in mms:
                deferred[mm.ticker] = mm
            return []
        proposed: list[Command] = []
        by_ticker: dict[str, MarketMaker] = {}
        for mm in mms:
            mm.run_ts = ts
            mm.kick = False
            if mm.closed and not mm.orders:
                mm.hold_due = mm.strat_due = NEVER
                continue
            targets = self._targets(mm, ts)
            mm.last_targets = targets
            if mm.quote_block is None:  # the strategy quoted: its quotes may drift with time
                if getattr(mm.strategy, "time_invariant", False):
                    mm.strat_due = NEVER
                else:
                    mm.strat_due = ts + 1  # asked at the next Tick (strategy.next_change_ms)
                    mm.strat_lazy = True
            else:
                mm.strat_due = NEVER
            orders = mm.orders
            if not targets and not orders:
                mm.hold_due = NEVER
                mm.requote_pending = False
                continue
            bu = mm.blocked_until
            blocked = [t for t, until in bu.items() if until > ts] if bu else ()
            cmds, mm.hold_due = diff_held(
                mm.ticker, targets, orders.values(), mm.market.grid, self.exec, ts, self.next_id, blocked
            )
            if cmds:
                proposed.extend(cmds)
                by_ticker[mm.ticker] = mm
                # the commands put orders in flight, which the next run's risk shaping reads (an
                # order being canceled still counts as exposure): the next Tick runs it again, as
                # the reference (every market on every Tick) would
                mm.kick = True
            mm.requote_pending = False
        if ts > self._max_run_ts:
            self._max_run_ts = ts
        out = self._emit(proposed, by_ticker, ts) if proposed else proposed
        for mm in mms:
            self._schedule(mm, self._due(mm, ts))
        return out

    def _emit(self, proposed: list[Command], by_ticker: dict[str, MarketMaker], ts: int) -> list[Command]:
        budget = self._budget
        if budget is not None:
            kept, _ = apply_budget(proposed, budget, self.exec)
            if len(kept) < len(proposed):
                self.counters["budget_deferred"] += len(proposed) - len(kept)
                for c in proposed:
                    mm = by_ticker[c.ticker]
                    mm.requote_pending = True
                    mm.kick = True
            proposed = kept
            self._budget = budget - sum(command_cost(c, self.exec) for c in kept)
        elif len(proposed) > 1:
            proposed, _ = apply_budget(proposed, None, self.exec)
        out: list[Command] = []
        risk = self.risk
        open_orders = len(self._by_coid)
        for c in proposed:
            mm = by_ticker[c.ticker]
            if isinstance(c, PlaceOrder | AmendOrder):
                v = risk.check(c, mm, self._total_exposure - mm.exposure, open_orders, ts)
                if v is not None:
                    risk.record(v, c.ticker, ts)
                    mm.kick = True  # re-proposed (and checked again) at every Tick
                    continue
            self._apply_command(mm, c, ts)
            if isinstance(c, PlaceOrder):
                open_orders += 1
            out.append(c)
        if out:
            self.counters["commands"] += len(out)
        return out

    def _apply_command(self, mm: MarketMaker, c: Command, ts: int) -> None:
        """Record a command as in flight on its order (or a new pending order)."""
        if isinstance(c, PlaceOrder):
            o = LiveOrder(
                c.client_order_id,
                c.ticker,
                c.side,
                c.price,
                c.count,
                created_ms=ts,
                updated_ms=ts,
                post_only=c.post_only,
                tag=c.tag,
                time_in_force=c.time_in_force,
                reduce_only=c.reduce_only,
                inflight="place",
                inflight_ms=ts,
                priced_ms=ts,
            )
            self._register(mm, o)
        elif isinstance(c, CancelOrder | AmendOrder | DecreaseOrder):
            o = mm.orders[c.client_order_id]
            o.inflight_ms = ts
            if isinstance(c, CancelOrder):
                o.inflight = "cancel"
            elif isinstance(c, AmendOrder):
                o.inflight = "amend"
                o.pending_price = c.price
                o.pending_remaining = c.count - o.filled
            else:
                o.inflight = "decrease"
                o.pending_remaining = c.reduce_to
        self._touch(mm)

    # == views =================================================================================
    def status(self) -> dict[str, Any]:
        """A plain-dict snapshot for the dashboard and the journal."""
        marks = self._marks()
        markets: dict[str, Any] = {}
        for t, mm in self.markets.items():
            book = mm.book
            pos = mm.pos
            mark = marks.get(t)
            wl, ws = mm.worst()
            markets[t] = {
                "status": mm.market.status,
                "close_ts_ms": mm.market.close_ts_ms,
                "bid": book.best_bid,
                "ask": book.best_ask,
                "mid": book.mid,
                "spread": book.spread,
                "bid_ex_own": mm.top[0],
                "ask_ex_own": mm.top[2],
                "book_updated_ms": book.updated_ms,
                "orders": [
                    {
                        "client_order_id": o.client_order_id,
                        "order_id": o.order_id,
                        "tag": o.tag,
                        "side": o.side,
                        "price": o.price,
                        "remaining": o.remaining,
                        "filled": o.filled,
                        "status": str(o.status),
                        "inflight": o.inflight,
                    }
                    for o in mm.orders.values()
                ],
                "targets": [
                    {"tag": x.tag, "side": x.side, "price": x.price, "size": x.size} for x in mm.last_targets
                ],
                "position": pos.qty,
                "avg_cost": pos.avg_cost,
                "realized_pnl": pos.realized,
                "unrealized_pnl": pos.unrealized(mark),
                "fees": pos.fees,
                "risk": {
                    "quote_block": mm.quote_block,
                    "stale": mm.stale,
                    "near_close": self.risk.in_close_window(mm, self.now_ms),
                    "size_scale": mm.size_scale,
                    "position_limit": mm.position_limit,
                    "worst_long": wl,
                    "worst_short": ws,
                },
                "signals": mm.signals.snapshot(self.now_ms),
            }
        realized = self.portfolio.realized()
        unrealized = self.portfolio.unrealized(marks)
        return {
            "ts_ms": self.now_ms,
            "strategy": self.config.strategy,
            "trading": self.trading,
            "killed": self.risk.killed,
            "halted": self.risk.halted,
            "markets": markets,
            "totals": {
                "realized_pnl": realized,
                "unrealized_pnl": unrealized,
                "fees": self.portfolio.fees_paid,
                "total_pnl": realized + unrealized - self.portfolio.fees_paid,
                "daily_pnl": self.risk.daily_pnl,
                "daily_loss_limit": self.risk.max_daily_loss,
                "cash": self.portfolio.cash,
                "balance": self.balance,
                "exposure": self._total_exposure,
                "exposure_limit": self.risk.max_total,
                "open_orders": len(self._by_coid),
                "pnl_dollars": (realized + unrealized - self.portfolio.fees_paid) / MONEY_SCALE,
            },
            "rejections": list(self.risk.rejections)[-20:],
            "counters": dict(self.counters),
        }
