"""Commands returned by the pure core, named in the imperative.

A shell executes them: ``venue.live.LiveVenue`` against Kalshi or the local exchange,
``research.simvenue`` in a backtest, the dry-run printer in ``--dry-run``. Prices and sizes are
ints (``domain.units``); ``side`` is the YES-leg side (``"bid"`` buys YES, ``"ask"`` sells YES).
"""

from __future__ import annotations

from typing import Literal

import msgspec

OrderSide = Literal["bid", "ask"]
TimeInForce = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]


class Command(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    ticker: str


class PlaceOrder(Command, frozen=True, kw_only=True):
    client_order_id: str
    side: OrderSide
    price: int
    count: int
    time_in_force: TimeInForce = "good_till_canceled"
    post_only: bool = False
    reduce_only: bool = False
    expiration_ts: int | None = None  # Unix seconds, GTC only
    tag: str = ""  # which strategy leg asked for it ("bid", "ask", "exit", "reduce" ...)


class AmendOrder(Command, frozen=True, kw_only=True):
    """Move an order: ``count`` is the new *total* (filled + desired remaining), as Kalshi wants."""

    order_id: str
    client_order_id: str
    side: OrderSide
    price: int
    count: int
    updated_client_order_id: str | None = None


class DecreaseOrder(Command, frozen=True, kw_only=True):
    """Cut an order's remaining size to ``reduce_to`` (keeps queue priority)."""

    order_id: str
    client_order_id: str
    reduce_to: int


class CancelOrder(Command, frozen=True, kw_only=True):
    order_id: str
    client_order_id: str
    reason: str = ""


class CancelAll(Command, frozen=True, kw_only=True):
    """Cancel every order of ours; ``ticker=""`` means all markets."""

    reason: str = ""


AnyCommand = PlaceOrder | AmendOrder | DecreaseOrder | CancelOrder | CancelAll

#: Execution priority: cancels first, then amends/decreases, then new orders.
PRIORITY = {CancelAll: 0, CancelOrder: 0, DecreaseOrder: 1, AmendOrder: 1, PlaceOrder: 2}
