"""One market's state inside the engine: book, signals, strategy, our live orders.

The engine (``core.engine``) owns the portfolio and global risk and drives each ``MarketMaker``;
a MarketMaker never emits commands itself. Its top of book (``top``) excludes our own orders,
so strategies compare against the *other* participants' prices.
"""

from __future__ import annotations

from typing import Any

from kalshi_mm.core.execution import LiveOrder
from kalshi_mm.core.signals import MarketSignals, SignalParams
from kalshi_mm.core.strategies.base import QuoteContext, TargetOrder
from kalshi_mm.domain.book import Ladder, OrderBook
from kalshi_mm.domain.fees import FeeSchedule
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.portfolio import Position
from kalshi_mm.domain.units import ONE_DOLLAR, Price, Qty

Top = tuple[Price | None, Qty, Price | None, Qty]
NEVER = 1 << 62  # a time (ms) that never comes
_EMPTY_TOP: Top = (None, 0, None, 0)


class MarketMaker:
    """State of one market. ``orders`` maps client_order_id -> LiveOrder."""

    __slots__ = (
        "awaiting_snapshot",
        "blocked_until",
        "book",
        "closed",
        "ctx",
        "cw_ms",
        "enabled",
        "exposure",
        "heap_due",
        "heap_seq",
        "hold_due",
        "kick",
        "last_targets",
        "market",
        "no_apply",
        "orders",
        "ordinal",
        "pos",
        "position_limit",
        "quote_block",
        "requote_pending",
        "resized",
        "run_ts",
        "signals",
        "size_scale",
        "stale",
        "strat_due",
        "strat_lazy",
        "strategy",
        "thr_no",
        "thr_yes",
        "ticker",
        "top",
        "yes_apply",
    )

    def __init__(
        self,
        market: Market,
        strategy: Any,
        position: Position,
        fees: FeeSchedule,
        signal_params: SignalParams | None = None,
        position_limit: Qty = 0,
    ) -> None:
        self.ticker = market.ticker
        self.market = market
        self.book = OrderBook(market.ticker)
        self.signals = MarketSignals(signal_params)
        self.strategy = strategy
        self.pos = position
        self.orders: dict[str, LiveOrder] = {}
        self.ctx = QuoteContext(market, self.book, self.signals, fees)
        self.ctx._orders = self.orders  # ctx.live is built from these when a strategy reads it
        self.enabled = True  # False once remove_market asked to wind it down
        self.closed = False
        self.awaiting_snapshot = True  # no book until the first snapshot
        self.stale = False
        self.top: Top = _EMPTY_TOP
        # a delta at or above these (YES bid / NO bid price) may change ``top``; -1: no top yet
        self.thr_yes: Price = -1
        self.thr_no: Price = -1
        self.yes_apply = self.book.yes.apply  # the ladders are reset in place, never replaced
        self.no_apply = self.book.no.apply
        self.position_limit = position_limit  # volatility-adjusted per-market limit
        self.size_scale = 1.0
        self.exposure: Qty = 0  # cached max(worst long, worst short)
        self.blocked_until: dict[str, int] = {}  # tag -> ts_ms before which it may not be placed
        self.quote_block: str | None = "awaiting book snapshot"
        self.last_targets: tuple[TargetOrder, ...] = ()
        self.requote_pending = False  # a budget cut left work to do
        self.resized: dict[str, tuple[TargetOrder, Qty, TargetOrder]] = {}  # risk.shape's last resizes
        # timers (see Engine.on_tick): the engine keeps each market in a heap keyed by the next
        # time a Tick could change its quotes; these are the pieces of that deadline
        self.ordinal = 0  # position in the engine's markets dict (ticks run markets in this order)
        self.heap_due = NEVER  # due time of this market's live heap entry (NEVER: none)
        self.heap_seq = 0  # sequence number of that entry
        self.run_ts = 0  # ts of the last pipeline run
        self.kick = False  # run at the next Tick (a trade changed the signals, a command was refused ...)
        self.hold_due = NEVER  # a debounced reprice is released at this time
        self.strat_due = NEVER  # the strategy's quote may change with time alone from here on
        self.strat_lazy = False  # strat_due is a placeholder: ask the strategy at the next Tick
        self.cw_ms = NEVER  # start of the close window (no opening risk from here on)

    @property
    def position(self) -> Qty:
        return self.pos.qty

    def set_market(self, market: Market) -> None:
        self.market = market
        self.ctx.market = market
        if hasattr(self.strategy, "market"):
            self.strategy.market = market

    # -- top of book excluding our own orders -------------------------------------------------
    def _own(self, side: str) -> list[tuple[Price, Qty]]:
        """Our live size per price on the YES bid (side 'bid') or NO bid ladder (side 'ask')."""
        out: list[tuple[Price, Qty]] = []
        for o in self.orders.values():
            if o.side != side or o.remaining <= 0:
                continue
            p = o.price if side == "bid" else ONE_DOLLAR - o.price
            out.append((p, o.remaining))
            if o.inflight == "amend" and o.pending_price and o.pending_price != o.price:
                pp = o.pending_price if side == "bid" else ONE_DOLLAR - o.pending_price
                out.append((pp, o.pending_remaining))
        return out

    @staticmethod
    def _best_ex_own(ladder: Ladder, own: list[tuple[Price, Qty]] | None) -> tuple[Price | None, Qty]:
        prices, sizes = ladder.prices, ladder.sizes
        i = len(prices) - 1
        if not own:
            return (prices[i], sizes[prices[i]]) if i >= 0 else (None, 0)
        while i >= 0:
            p = prices[i]
            s = sizes[p]
            for op, oq in own:
                if op == p:
                    s -= oq
            if s > 0:
                return p, s
            i -= 1
        return None, 0

    def refresh_top(self) -> int:
        """Recompute ``top``; 0 = unchanged, 1 = sizes changed, 2 = a price changed."""
        orders = self.orders
        yes, no = self.book.yes, self.book.no
        if orders:
            # our live sizes per price, YES bid ladder (bids) and NO bid ladder (asks), one pass
            ob: list[tuple[Price, Qty]] | None = None
            oa: list[tuple[Price, Qty]] | None = None
            for o in orders.values():
                r = o.remaining
                if r <= 0:
                    continue
                if o.side == "bid":
                    if ob is None:
                        ob = [(o.price, r)]
                    else:
                        ob.append((o.price, r))
                    if o.inflight == "amend" and o.pending_price and o.pending_price != o.price:
                        ob.append((o.pending_price, o.pending_remaining))
                else:
                    if oa is None:
                        oa = [(ONE_DOLLAR - o.price, r)]
                    else:
                        oa.append((ONE_DOLLAR - o.price, r))
                    if o.inflight == "amend" and o.pending_price and o.pending_price != o.price:
                        oa.append((ONE_DOLLAR - o.pending_price, o.pending_remaining))
            bid, bs = self._best_ex_own(yes, ob)
            nb, as_ = self._best_ex_own(no, oa)
        else:
            if yes.prices:
                bid = yes.prices[-1]
                bs = yes.sizes[bid]
            else:
                bid, bs = None, 0
            if no.prices:
                nb = no.prices[-1]
                as_ = no.sizes[nb]
            else:
                nb, as_ = None, 0
        ask = None if nb is None else ONE_DOLLAR - nb
        old = self.top
        if bid == old[0] and ask == old[2]:
            if bs == old[1] and as_ == old[3]:
                return 0
            changed = 1
        else:
            changed = 2
            self.thr_yes = -1 if bid is None else bid
            self.thr_no = -1 if nb is None else nb
        self.top = (bid, bs, ask, as_)
        ctx = self.ctx
        ctx.best_bid, ctx.bid_size, ctx.best_ask, ctx.ask_size = bid, bs, ask, as_
        return changed

    def reset_top(self) -> None:
        self.top = _EMPTY_TOP
        self.thr_yes = self.thr_no = -1
        ctx = self.ctx
        ctx.best_bid, ctx.bid_size, ctx.best_ask, ctx.ask_size = None, 0, None, 0

    # -- orders --------------------------------------------------------------------------------
    def live_by_tag(self) -> dict[str, LiveOrder]:
        out: dict[str, LiveOrder] = {}
        for o in self.orders.values():
            if o.inflight != "cancel" and o.tag not in out:
                out[o.tag] = o
        return out

    def worst(self) -> tuple[Qty, Qty]:
        """(worst long, worst short) if every live order filled."""
        b = a = 0
        for o in self.orders.values():
            if o.side == "bid":
                b += o.exposure
            else:
                a += o.exposure
        pos = self.pos.qty
        return pos + b, a - pos

    def compute_exposure(self) -> Qty:
        wl, ws = self.worst()
        return wl if wl > ws else ws

    def has_risk(self) -> bool:
        """Holds a position or live orders (must not be dropped)."""
        return bool(self.orders) or self.pos.qty != 0
