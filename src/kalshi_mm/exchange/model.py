"""State objects of the local exchange's matching engine (pure: no asyncio, time or random).

Everything here is plain data (``__slots__`` classes; the events are untracked ``msgspec.Struct``
types, see below); the rules live in ``matching.py``.

Units are the project's (``domain.units``): ``Price`` 1/10,000 dollar, ``Qty`` 1/100 contract,
``Money`` 1/1,000,000 dollar. Times are Unix milliseconds, passed in by the caller.

Events
------
Every state change of the engine appends one of the event objects below to
``MatchingEngine.out`` (drain it with ``MatchingEngine.drain()``). They are what the WebSocket
channels need:

======================= =================================================================
event                   channel / message
======================= =================================================================
``BookDelta``           ``orderbook_delta`` (``side`` yes/no, NO prices on the NO ladder)
``Trade``               ``trade`` (public) and ``ticker``
``Fill``                ``fill`` (private, one per party of a trade)
``OrderUpdate``         ``user_orders`` (the order's state at the event: a copy for API users)
``PositionUpdate``      ``market_positions``
``LifecycleEvent``      ``market_lifecycle_v2`` (``event_type`` + extra fields in ``data``)
``OrderGroupEvent``     ``order_group_updates``
======================= =================================================================

An ``OrderUpdate`` of an API user (``Account.record``) holds a copy of the order as it was at
the event, so two updates of one order within one engine call (a flow step that fills it twice)
report two states; synthetic participants' updates reference the live order (nobody subscribes).
``PositionUpdate`` references live state: the position when the event is consumed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec

from kalshi_mm.domain.fees import FeeAccumulator, FeeSchedule
from kalshi_mm.domain.market import PriceGrid
from kalshi_mm.domain.orders import OrderStatus
from kalshi_mm.domain.portfolio import Portfolio
from kalshi_mm.domain.units import Money, Price, Qty

PENDING = OrderStatus.PENDING
RESTING = OrderStatus.RESTING
EXECUTED = OrderStatus.EXECUTED
CANCELED = OrderStatus.CANCELED

GTC = "good_till_canceled"
IOC = "immediate_or_cancel"
FOK = "fill_or_kill"
TIME_IN_FORCE = frozenset({GTC, IOC, FOK})
STP_TYPES = frozenset({"taker_at_cross", "maker"})

GROUP_WINDOW_MS = 15_000


class EngineReject(Exception):
    """A request the exchange refuses: HTTP ``status``, Kalshi error ``code`` and ``details``."""

    def __init__(self, status: int, code: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {details}")
        self.status = status
        self.code = code
        self.details = details


class Order:
    """One order as the exchange knows it. ``side`` is the YES-leg side (``bid``/``ask``)."""

    __slots__ = (
        "acc",
        "cancel_on_pause",
        "client_order_id",
        "created_ms",
        "expiration_ts",
        "filled",
        "group_id",
        "initial",
        "maker_cost",
        "maker_fees",
        "order_id",
        "post_only",
        "price",
        "prio",
        "reason",
        "reduce_only",
        "remaining",
        "reserved",
        "side",
        "status",
        "stp",
        "subaccount",
        "taker_cost",
        "taker_fees",
        "ticker",
        "tif",
        "updated_ms",
        "user_id",
    )

    def __init__(
        self,
        order_id: str,
        user_id: str,
        ticker: str,
        side: str,
        price: Price,
        count: Qty,
        tif: str,
        stp: str,
        now_ms: int,
        client_order_id: str | None = None,
        expiration_ts: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        cancel_on_pause: bool = False,
        group_id: str | None = None,
        subaccount: int = 0,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.ticker = ticker
        self.side = side
        self.price = price
        self.initial = count
        self.filled = 0
        self.remaining = count
        self.status: OrderStatus = PENDING
        self.tif = tif
        self.stp = stp
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.cancel_on_pause = cancel_on_pause
        self.client_order_id = client_order_id
        self.expiration_ts = expiration_ts  # Unix seconds
        self.group_id = group_id
        self.subaccount = subaccount
        self.created_ms = now_ms
        self.updated_ms = now_ms
        self.prio = 0
        self.taker_cost: Money = 0
        self.maker_cost: Money = 0
        self.taker_fees: Money = 0
        self.maker_fees: Money = 0
        self.reserved: Money = 0
        self.reason = ""
        self.acc: FeeAccumulator | None = None

    def __copy__(self) -> Order:
        """The order as it is now (``OrderUpdate`` of an API user): slot by slot, several times
        cheaper than ``copy.copy``'s generic reduce path."""
        new = Order.__new__(Order)
        for name in _ORDER_SLOTS:
            setattr(new, name, getattr(self, name))
        return new

    @property
    def is_resting(self) -> bool:
        return self.status is RESTING

    def __repr__(self) -> str:
        return (
            f"Order({self.order_id[-6:]} {self.user_id} {self.ticker} {self.side} {self.price} "
            f"{self.filled}/{self.initial} rem={self.remaining} {self.status})"
        )



_ORDER_SLOTS = Order.__slots__

class Level:
    """One price level: a FIFO of orders (canceled ones are skipped and compacted lazily)."""

    __slots__ = ("dead", "live", "orders", "price", "size")

    def __init__(self, price: Price) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.size: Qty = 0  # total remaining of live orders
        self.live = 0  # number of live orders
        self.dead = 0  # canceled orders still in the deque


class Book:
    """One YES book: bids and asks by YES price; each side a dict of levels + sorted prices."""

    __slots__ = ("ask_prices", "asks", "bid_prices", "bids")

    def __init__(self) -> None:
        self.bids: dict[Price, Level] = {}
        self.asks: dict[Price, Level] = {}
        self.bid_prices: list[Price] = []  # ascending; best bid = last
        self.ask_prices: list[Price] = []  # ascending; best ask = first

    @property
    def best_bid(self) -> Price | None:
        return self.bid_prices[-1] if self.bid_prices else None

    @property
    def best_ask(self) -> Price | None:
        return self.ask_prices[0] if self.ask_prices else None

    def depth(self, side: str) -> list[tuple[Price, Qty]]:
        """Levels of one YES side ascending by YES price."""
        levels = self.bids if side == "bid" else self.asks
        prices = self.bid_prices if side == "bid" else self.ask_prices
        return [(p, levels[p].size) for p in prices]


class MarketState:
    """A market: metadata, lifecycle status, its book and running statistics."""

    __slots__ = (
        "book",
        "can_close_early",
        "close_ms",
        "created_ms",
        "determine_delay_ms",
        "determined_ms",
        "event_ticker",
        "expected_expiration_ms",
        "fees",
        "floor_strike",
        "grid",
        "last_price",
        "latest_expiration_ms",
        "market_id",
        "market_type",
        "no_sub_title",
        "open_interest",
        "open_ms",
        "pending_result",
        "pending_value",
        "previous_price",
        "previous_yes_ask",
        "previous_yes_bid",
        "price_level_structure",
        "result",
        "rules_primary",
        "rules_secondary",
        "series_ticker",
        "settled_ms",
        "settlement_timer_s",
        "settlement_value",
        "status",
        "subtitle",
        "ticker",
        "title",
        "trades",
        "updated_ms",
        "volume",
        "volume_24h",
        "yes_sub_title",
    )

    def __init__(
        self,
        ticker: str,
        *,
        event_ticker: str,
        series_ticker: str,
        open_ms: int,
        close_ms: int,
        created_ms: int,
        grid: PriceGrid,
        price_level_structure: str,
        fees: FeeSchedule,
        market_id: str,
        trade_history: int = 10_000,
    ) -> None:
        self.ticker = ticker
        self.event_ticker = event_ticker
        self.series_ticker = series_ticker
        self.market_id = market_id
        self.market_type = "binary"
        self.status = "initialized"
        self.open_ms = open_ms
        self.close_ms = close_ms
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.expected_expiration_ms = close_ms
        self.latest_expiration_ms = close_ms + 7 * 86_400_000
        self.grid = grid
        self.price_level_structure = price_level_structure
        self.fees = fees
        self.book = Book()
        self.volume: Qty = 0
        self.volume_24h: Qty = 0
        self.open_interest: Qty = 0
        self.last_price: Price = 0
        self.previous_price: Price = 0
        self.previous_yes_bid: Price = 0
        self.previous_yes_ask: Price = 10_000
        self.result = ""
        self.settlement_value: Price | None = None
        self.pending_result: str | None = None  # what determination will say (flow / admin)
        self.pending_value: Price | None = None  # scalar value if any
        self.determine_delay_ms = 0
        self.determined_ms: int | None = None
        self.settled_ms: int | None = None
        self.settlement_timer_s = 1
        self.can_close_early = False
        self.title = ""
        self.subtitle = ""
        self.yes_sub_title = ""
        self.no_sub_title = ""
        self.rules_primary = ""
        self.rules_secondary = ""
        self.floor_strike: float | None = None
        self.trades: deque[Trade] = deque(maxlen=trade_history)

    @property
    def is_trading(self) -> bool:
        return self.status == "active"


class OrderGroup:
    """Rolling 15 s filled-contract limiter over a set of orders."""

    __slots__ = (
        "group_id",
        "limit",
        "order_ids",
        "subaccount",
        "triggered",
        "user_id",
        "window",
        "window_sum",
    )

    def __init__(self, group_id: str, user_id: str, limit: Qty, subaccount: int = 0) -> None:
        self.group_id = group_id
        self.user_id = user_id
        self.limit = limit
        self.subaccount = subaccount
        self.triggered = False
        self.order_ids: dict[str, None] = {}  # live (resting) orders, insertion-ordered
        self.window: deque[tuple[int, Qty]] = deque()
        self.window_sum: Qty = 0

    def roll(self, now_ms: int) -> None:
        w = self.window
        cutoff = now_ms - GROUP_WINDOW_MS
        while w and w[0][0] <= cutoff:
            self.window_sum -= w.popleft()[1]


class Account:
    """A user: cash and positions (``domain.portfolio.Portfolio``) plus collateral and history.

    ``portfolio.cash`` is all cash; ``reserved`` is the part held as collateral by resting
    orders, so the available balance is ``cash - reserved``.
    """

    __slots__ = (
        "coids",
        "deposited",
        "fills",
        "groups",
        "log",
        "open_orders",
        "orders",
        "portfolio",
        "pos_updated_ms",
        "record",
        "reserved",
        "rounding_fees",
        "settlements",
        "traded",
        "user_id",
    )

    def __init__(self, user_id: str, balance: Money, *, record: bool = True) -> None:
        self.user_id = user_id
        self.portfolio = Portfolio(cash=balance)
        self.deposited: Money = balance
        self.reserved: Money = 0
        self.rounding_fees: Money = 0
        self.orders: dict[str, Order] = {}  # every order (only resting ones when record=False)
        self.open_orders: dict[str, Order] = {}  # resting orders
        self.coids: dict[str, str] = {}  # client_order_id -> order_id, forever
        self.fills: list[Fill] = []
        self.settlements: list[SettlementRecord] = []
        self.log: list[dict[str, Any]] = []  # every order request received (admin order log)
        self.groups: dict[str, OrderGroup] = {}
        self.traded: dict[str, Money] = {}
        self.pos_updated_ms: dict[str, int] = {}
        self.record = record  # False for synthetic participants: no history kept

    @property
    def available(self) -> Money:
        return self.portfolio.cash - self.reserved


# -- events ------------------------------------------------------------------------------------
#
# Events are ``msgspec.Struct`` types with ``gc=False`` (never tracked by the cyclic garbage
# collector: they hold plain values, or a reference to an ``Order`` that never points back) and
# ``eq=False`` (identity comparison, like plain objects). The engine emits a few per operation and
# they sit in ``MatchingEngine.out`` until drained, and trades stay in each market's history;
# untracked, they neither trigger nor lengthen garbage collections. Construction is C-level too.


class BookDelta(msgspec.Struct, gc=False, eq=False):
    """Resting size at ``price`` on ladder ``side`` (``yes``: YES bids; ``no``: NO bids at NO price)
    changed by ``delta``, because of ``user_id``'s order ``client_order_id``."""

    ticker: str
    side: str
    price: Price
    delta: Qty
    ts_ms: int
    user_id: str
    client_order_id: str | None


class Trade(msgspec.Struct, gc=False, eq=False):
    """A public trade at YES ``price``; ``taker_side`` is the taker's YES-leg side."""

    trade_id: str
    ticker: str
    price: Price
    count: Qty
    taker_side: str
    ts_ms: int


class Fill(msgspec.Struct, gc=False, eq=False):
    """One party's side of a trade (also the record behind ``GET /portfolio/fills``).

    Built with ``Fill.of(fill_id, trade_id, order, price, count, fee, is_taker, post_position,
    ts_ms)``, which copies the order's identity fields as they are at the fill."""

    fill_id: str
    trade_id: str
    user_id: str
    order_id: str
    client_order_id: str | None
    ticker: str
    side: str
    subaccount: int
    price: Price
    count: Qty
    fee: Money
    is_taker: bool
    post_position: Qty
    ts_ms: int

    @classmethod
    def of(
        cls,
        fill_id: str,
        trade_id: str,
        order: Order,
        price: Price,
        count: Qty,
        fee: Money,
        is_taker: bool,
        post_position: Qty,
        ts_ms: int,
    ) -> Fill:
        return cls(
            fill_id,
            trade_id,
            order.user_id,
            order.order_id,
            order.client_order_id,
            order.ticker,
            order.side,
            order.subaccount,
            price,
            count,
            fee,
            is_taker,
            post_position,
            ts_ms,
        )


class OrderUpdate(msgspec.Struct, gc=False, eq=False):
    order: Order
    ts_ms: int


class PositionUpdate(msgspec.Struct, gc=False, eq=False):
    user_id: str
    ticker: str
    ts_ms: int


class LifecycleEvent(msgspec.Struct, gc=False, eq=False):
    """``market_lifecycle_v2`` event: ``event_type`` plus the message fields in ``data``."""

    ticker: str
    event_type: str
    ts_ms: int
    data: dict[str, Any]


class OrderGroupEvent(msgspec.Struct, gc=False, eq=False):
    user_id: str
    group_id: str
    event_type: str
    limit: Qty | None
    ts_ms: int


class SettlementRecord:
    __slots__ = (
        "event_ticker",
        "fee_cost",
        "no_cost",
        "no_count",
        "result",
        "revenue",
        "settled_ms",
        "ticker",
        "value",
        "yes_cost",
        "yes_count",
    )

    def __init__(
        self,
        ticker: str,
        event_ticker: str,
        result: str,
        value: Price,
        yes_count: Qty,
        no_count: Qty,
        yes_cost: Money,
        no_cost: Money,
        revenue: Money,
        settled_ms: int,
    ) -> None:
        self.ticker = ticker
        self.event_ticker = event_ticker
        self.result = result
        self.value = value
        self.yes_count = yes_count
        self.no_count = no_count
        self.yes_cost = yes_cost
        self.no_cost = no_cost
        self.revenue = revenue
        self.fee_cost: Money = 0
        self.settled_ms = settled_ms


Event = BookDelta | Trade | Fill | OrderUpdate | PositionUpdate | LifecycleEvent | OrderGroupEvent
