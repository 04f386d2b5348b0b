"""What a strategy sees (``QuoteContext``), what it returns (``TargetOrder``), and the one place
where float prices are rounded onto a market's grid (``to_grid``).

A strategy is an object per market, built as ``cls(params, market)``. ``quote(ctx)`` returns the
orders it wants resting now, one per *tag* ("bid", "ask", "exit", "reduce" ...); the execution
layer (``core.execution``) turns the difference between targets and live orders into commands.
Strategies never see commands, order ids or the clock other than ``ctx.ts_ms``.

Book views in the context exclude our own resting orders (``best_bid``/``best_ask`` are the best
*other* prices), so a strategy that improves the best bid never chases itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from kalshi_mm.domain.fees import FeeSchedule
from kalshi_mm.domain.market import Market, PriceGrid
from kalshi_mm.domain.units import ONE_CONTRACT, PRICE_SCALE, Price, Qty

if TYPE_CHECKING:
    from kalshi_mm.core.execution import LiveOrder
    from kalshi_mm.core.signals import MarketSignals
    from kalshi_mm.domain.book import OrderBook

GTC = "good_till_canceled"
IOC = "immediate_or_cancel"


@dataclass(frozen=True, slots=True)
class TargetOrder:
    """One order a strategy wants resting: YES-leg ``side``, ``price`` (Price), ``size`` (Qty)."""

    tag: str
    side: str
    price: Price
    size: Qty
    post_only: bool = True
    time_in_force: str = GTC
    reduce_only: bool = False
    max_age_ms: int = 0  # refresh (reprice past the debounce) after this age; 0 = execution default


class QuoteContext:
    """Everything a strategy may read, refreshed in place by the MarketMaker before ``quote``."""

    __slots__ = (
        "_live",
        "_orders",
        "ask_size",
        "avg_cost",
        "best_ask",
        "best_bid",
        "bid_size",
        "book",
        "fees",
        "market",
        "max_position",
        "position",
        "signals",
        "skew",
        "ts_ms",
    )

    def __init__(self, market: Market, book: OrderBook, signals: MarketSignals, fees: FeeSchedule) -> None:
        self.market = market
        self.book = book
        self.signals = signals
        self.fees = fees
        self.ts_ms = 0
        self.best_bid: Price | None = None  # best YES bid excluding our own orders
        self.bid_size: Qty = 0
        self.best_ask: Price | None = None  # best YES ask excluding our own orders
        self.ask_size: Qty = 0
        self.position: Qty = 0  # signed: YES > 0, NO < 0
        self.avg_cost: float = 0.0  # Price units per contract on the held leg
        self.skew: float = 0.0  # external alpha, Price units, added to the reservation price
        self.max_position: Qty = 0  # the (volatility-adjusted) per-market limit
        self._live: dict[str, LiveOrder] | None = {}
        self._orders: dict[str, LiveOrder] | None = None  # the market's orders (live is built on use)

    @property
    def live(self) -> dict[str, LiveOrder]:
        """Our live orders by tag (the first per tag, orders being canceled excluded)."""
        live = self._live
        if live is None:
            live = self._live = {}
            for o in (self._orders or {}).values():
                if o.inflight != "cancel" and o.tag not in live:
                    live[o.tag] = o
        return live

    @live.setter
    def live(self, value: dict[str, LiveOrder]) -> None:
        self._live = value

    @property
    def grid(self) -> PriceGrid:
        return self.market.grid

    @property
    def mid(self) -> float | None:
        """Mid of the other participants' best prices, in Price units."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2.0

    @property
    def microprice(self) -> float | None:
        bb, ba, bs, as_ = self.best_bid, self.best_ask, self.bid_size, self.ask_size
        if bb is None or ba is None:
            return None
        if bs + as_ <= 0:
            return (bb + ba) / 2.0
        return (bb * as_ + ba * bs) / (bs + as_)


class Strategy(Protocol):
    """A per-market quoting policy.

    Time: ``Engine`` re-runs a market on a ``Tick`` only when something it reads may have changed
    with time. A strategy says how its quotes depend on the clock with one of (optional):

    - ``time_invariant = True``: ``quote`` never reads ``ctx.ts_ms``;
    - ``next_change_ms(ctx) -> int``: a time (ms) before which the last ``quote`` would return
      the same targets if every other input stayed the same (earlier is always safe);

    without either, the strategy is re-run on every Tick.
    """

    name: ClassVar[str]
    #: True if quotes depend on top-of-book *sizes* (so size-only changes must requote).
    uses_top_size: ClassVar[bool]

    def __init__(self, params: Any, market: Market) -> None: ...

    def quote(self, ctx: QuoteContext) -> tuple[TargetOrder, ...]: ...

    def on_fill(self, side: str, price: Price, count: Qty, tag: str, ctx: QuoteContext) -> None: ...

    def on_order_done(self, tag: str, ctx: QuoteContext) -> None: ...


class StrategyBase:
    """Default no-op hooks."""

    name: ClassVar[str] = ""
    uses_top_size: ClassVar[bool] = False

    def on_fill(self, side: str, price: Price, count: Qty, tag: str, ctx: QuoteContext) -> None:
        return None

    def on_order_done(self, tag: str, ctx: QuoteContext) -> None:
        return None


def contracts(x: float) -> Qty:
    """Contracts (float, as in config) -> Qty."""
    return round(x * ONE_CONTRACT)


def dollars(x: float) -> Price:
    """Dollars (float, as in config) -> Price."""
    return round(x * PRICE_SCALE)


def to_grid(
    grid: PriceGrid,
    bid: float | None,
    ask: float | None,
    best_bid: Price | None,
    best_ask: Price | None,
) -> tuple[Price | None, Price | None]:
    """Round float quotes (Price units) onto the grid: the one place floats become prices.

    The bid rounds down and the ask up (never more aggressive than asked); a side that falls
    outside the grid is dropped (None). Neither side may cross the other participants' book
    (bid < best ask, ask > best bid: a post-only order would be refused), and bid < ask.
    """
    b: Price | None = None
    a: Price | None = None
    if bid is not None and bid == bid:
        b = grid.floor(float(bid))
        if b is not None and best_ask is not None and b >= best_ask:
            b = grid.tick_below(best_ask)
    if ask is not None and ask == ask:
        a = grid.ceil(float(ask))
        if a is not None and best_bid is not None and a <= best_bid:
            a = grid.tick_above(best_bid)
    if b is not None and a is not None and b >= a:
        return None, None
    return b, a
