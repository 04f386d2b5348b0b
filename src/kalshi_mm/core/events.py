"""Events pushed into the pure core, named in the past tense.

Every event carries ``ts_ms``, the time it happened on the exchange's clock (or, for ``Tick``,
the shell's clock). The core never reads a clock of its own. Prices are ``Price`` ints, sizes
``Qty`` ints, money ``Money`` ints (see ``domain.units``). ``side`` on orders is the YES-leg side
of Kalshi's V2 API: ``"bid"`` buys YES, ``"ask"`` sells YES (= buys NO).

Events are ``msgspec.Struct`` values: immutable, cheap to create and serialisable for the journal
and the research tape.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from kalshi_mm.domain.market import Market

BookSide = Literal["yes", "no"]
OrderSide = Literal["bid", "ask"]
Level = tuple[int, int]  # (Price, Qty)


class Event(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    ts_ms: int


class BookSnapshot(Event, frozen=True, kw_only=True):
    """Full replacement of a market's book: YES bids and NO bids, each ascending by price."""

    ticker: str
    yes: tuple[Level, ...] = ()
    no: tuple[Level, ...] = ()


class BookDelta(Event, frozen=True, kw_only=True):
    """A signed change of resting size at one price of one ladder."""

    ticker: str
    side: BookSide
    price: int
    delta: int
    client_order_id: str | None = None


class TradePrinted(Event, frozen=True, kw_only=True):
    """A public trade. ``price`` is the YES price; ``taker_side`` is the outcome the taker bought."""

    ticker: str
    trade_id: str
    price: int
    count: int
    taker_side: BookSide


class OrderAccepted(Event, frozen=True, kw_only=True):
    """Our order is live (or was amended/decreased): its current price and remaining size."""

    ticker: str
    order_id: str
    client_order_id: str
    side: OrderSide
    price: int
    remaining: int
    filled: int = 0


class OrderRejected(Event, frozen=True, kw_only=True):
    """The exchange refused a command for ``client_order_id`` (or ``order_id`` for amends)."""

    ticker: str
    client_order_id: str
    order_id: str | None = None
    code: str = ""
    reason: str = ""


class OrderFilled(Event, frozen=True, kw_only=True):
    """A fill of our order. ``count`` is this fill's size; ``fee`` its fee in Money."""

    ticker: str
    order_id: str
    client_order_id: str | None
    fill_id: str
    side: OrderSide
    price: int
    count: int
    fee: int
    is_taker: bool
    post_position: int | None = None


class OrderCanceled(Event, frozen=True, kw_only=True):
    """Our order left the book without filling further (user cancel, IOC rest, expiry, close...)."""

    ticker: str
    order_id: str
    client_order_id: str | None = None
    reason: str = ""


class OrderExecuted(Event, frozen=True, kw_only=True):
    """Our order is fully filled (terminal)."""

    ticker: str
    order_id: str
    client_order_id: str | None = None


class PositionChanged(Event, frozen=True, kw_only=True):
    """The exchange's view of our signed position (YES > 0, NO < 0)."""

    ticker: str
    position: int
    realized_pnl: int | None = None
    fees_paid: int | None = None


class BalanceChanged(Event, frozen=True, kw_only=True):
    balance: int


class MarketOpened(Event, frozen=True, kw_only=True):
    """A market the engine should know about (metadata: grid, close time, status)."""

    market: Market


class MarketStatusChanged(Event, frozen=True, kw_only=True):
    """A lifecycle change: ``status`` is Kalshi's market status (active, inactive, closed...)."""

    ticker: str
    status: str


class MarketClosed(Event, frozen=True, kw_only=True):
    """Trading stopped in the market (close time reached or closed early)."""

    ticker: str


class MarketCloseChanged(Event, frozen=True, kw_only=True):
    """The market's close time moved (``market_lifecycle_v2`` ``close_date_updated``): earlier
    for an early close, later for an extension (a closed market can reopen)."""

    ticker: str
    close_ts_ms: int


class MarketDetermined(Event, frozen=True, kw_only=True):
    """Result known; ``settlement_value`` is the YES payout per contract as a Price."""

    ticker: str
    result: str
    settlement_value: int


class FeedResynced(Event, frozen=True, kw_only=True):
    """The feed reconnected or resynced; books will be rebuilt from fresh snapshots."""

    tickers: tuple[str, ...] = ()
    reason: str = ""


class Tick(Event, frozen=True, kw_only=True):
    """Time passes: drives TTLs, debounce, staleness and close-time rules."""


class ExternalSignal(Event, frozen=True, kw_only=True):
    """An external fair value for a market (Price), from a signal provider."""

    ticker: str
    fair_value: int


class MarketDataBatch(Event, frozen=True, kw_only=True):
    """Market data that arrived together (what the shell read in one go), applied in order.

    Each market it touched re-quotes once, after the last of them, instead of after each: one
    exchange action often yields several messages (an amend is a delta off the old price and one
    onto the new), and quoting on the state between them would cancel or move orders for
    nothing. ``ts_ms`` is the last event's.
    """

    events: tuple[BookSnapshot | BookDelta | TradePrinted, ...]


AnyEvent = (
    MarketDataBatch
    | BookSnapshot
    | BookDelta
    | TradePrinted
    | OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderCanceled
    | OrderExecuted
    | PositionChanged
    | BalanceChanged
    | MarketOpened
    | MarketStatusChanged
    | MarketClosed
    | MarketCloseChanged
    | MarketDetermined
    | FeedResynced
    | Tick
    | ExternalSignal
)
