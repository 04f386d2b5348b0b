"""Orders, fills and the order lifecycle.

Kalshi's statuses are ``resting``, ``executed`` and ``canceled`` (no ``pending`` on the wire).
Locally an order is ``pending`` from the moment a command is sent until the exchange answers,
and ``rejected`` if it never existed. Transitions are a table; an illegal one raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kalshi_mm.domain.units import ONE_DOLLAR, Money, Price, Qty
from kalshi_mm.errors import ProtocolError


class OrderStatus(StrEnum):
    PENDING = "pending"
    RESTING = "resting"
    EXECUTED = "executed"
    CANCELED = "canceled"
    REJECTED = "rejected"


TERMINAL = frozenset({OrderStatus.EXECUTED, OrderStatus.CANCELED, OrderStatus.REJECTED})

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.PENDING, OrderStatus.RESTING, OrderStatus.EXECUTED, OrderStatus.CANCELED, OrderStatus.REJECTED}
    ),
    OrderStatus.RESTING: frozenset({OrderStatus.RESTING, OrderStatus.EXECUTED, OrderStatus.CANCELED}),
    OrderStatus.EXECUTED: frozenset({OrderStatus.EXECUTED}),
    OrderStatus.CANCELED: frozenset({OrderStatus.CANCELED}),
    OrderStatus.REJECTED: frozenset({OrderStatus.REJECTED}),
}


class IllegalTransition(ProtocolError):
    """An order was asked to move between two states the lifecycle does not connect."""


def check_transition(old: OrderStatus, new: OrderStatus) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"order cannot go from {old} to {new}", field="status")


@dataclass(slots=True)
class Order:
    """One of our orders as we know it. ``side`` is the YES-leg side (``bid``/``ask``)."""

    client_order_id: str
    ticker: str
    side: str
    price: Price
    initial: Qty
    order_id: str = ""
    filled: Qty = 0
    remaining: Qty = 0
    status: OrderStatus = OrderStatus.PENDING
    created_ms: int = 0
    updated_ms: int = 0
    fees: Money = 0
    post_only: bool = False
    tag: str = ""

    def __post_init__(self) -> None:
        if self.side not in ("bid", "ask"):
            raise ProtocolError(f"order side must be 'bid' or 'ask', got {self.side!r}", field="side")
        if not 0 < self.price < ONE_DOLLAR:
            raise ProtocolError(f"order price {self.price} outside (0, 1)", field="price")
        if self.initial <= 0:
            raise ProtocolError(f"order count {self.initial} must be positive", field="count")
        if not self.remaining and self.status == OrderStatus.PENDING:
            self.remaining = self.initial

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_live(self) -> bool:
        return self.status in (OrderStatus.PENDING, OrderStatus.RESTING)

    def transition(self, new: OrderStatus, ts_ms: int = 0) -> None:
        check_transition(self.status, new)
        self.status = new
        if ts_ms:
            self.updated_ms = ts_ms

    def apply_fill(self, count: Qty, fee: Money = 0, ts_ms: int = 0) -> None:
        if count <= 0:
            raise ProtocolError(f"fill count {count} must be positive", field="count")
        if self.is_terminal and self.status != OrderStatus.CANCELED:
            # a fill may race a cancel on the wire; an executed/rejected order takes no more fills
            raise IllegalTransition(f"fill of {count} on {self.status} order {self.order_id}", field="status")
        self.filled += count
        self.remaining = max(0, self.remaining - count)
        self.fees += fee
        if self.remaining == 0 and self.status != OrderStatus.CANCELED:
            self.transition(OrderStatus.EXECUTED, ts_ms)
        elif self.status == OrderStatus.PENDING:
            self.transition(OrderStatus.RESTING, ts_ms)
        elif ts_ms:
            self.updated_ms = ts_ms


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of one of our orders."""

    fill_id: str
    order_id: str
    ticker: str
    side: str  # YES-leg side of our order
    price: Price  # YES price
    count: Qty
    fee: Money
    is_taker: bool
    ts_ms: int = 0
    client_order_id: str | None = None

    @property
    def signed_count(self) -> Qty:
        """Change of our signed YES position."""
        return self.count if self.side == "bid" else -self.count
