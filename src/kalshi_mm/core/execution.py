"""Diff target quotes against live orders into the fewest commands.

For each tag (one order per tag: "bid", "ask", "exit", "reduce" ...):

- no target, live order          -> ``CancelOrder``
- target, no live order          -> ``PlaceOrder``
- target and a compatible order  (same side, time in force, post-only and reduce-only flags):
    price changed                -> ``AmendOrder`` (new price; count = filled + target size)
    same price, smaller size     -> ``DecreaseOrder`` (keeps queue priority)
    same price, larger size      -> ``AmendOrder``
    identical                    -> nothing
- incompatible live order        -> ``CancelOrder`` + ``PlaceOrder``
- extra live orders with a tag   -> ``CancelOrder``

Rules: an order with a command in flight gets no other command (at most one in flight per
order; a pending placement has no order id yet, so it waits for ``OrderAccepted``); IOC orders
are never amended. **Debounce**: a price move that makes a quote *more* aggressive (bid up, ask
down) is sent only when it is at least ``min_move_ticks`` grid steps or the order is older than
its maximum age (``TargetOrder.max_age_ms`` or ``max_quote_age_s``); protective moves (bid down,
ask up), size cuts and cancels are never held back. Commands come out cancels first
(``commands.PRIORITY``), and ``apply_budget`` trims them to a write budget in tokens (cancel
``cancel_cost``, anything else ``write_cost``; Kalshi's V2 costs are 2 and 10).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kalshi_mm.core.commands import PRIORITY, AmendOrder, CancelOrder, Command, DecreaseOrder, PlaceOrder
from kalshi_mm.core.strategies.base import GTC, TargetOrder
from kalshi_mm.domain.market import PriceGrid
from kalshi_mm.domain.orders import Order
from kalshi_mm.domain.units import Price, Qty


@dataclass(slots=True)
class ExecutionParams:
    min_move_ticks: int = 2  # debounce: smallest more-aggressive reprice sent at once
    max_quote_age_s: float = 1.0  # ... or reprice anyway once the order is this old
    use_amend: bool = True  # False: reprice by cancel + place
    inflight_timeout_s: float = 5.0  # an unanswered command is forgotten (and retried) after this
    reject_backoff_s: float = 1.0  # after a rejected placement, wait before placing that tag again
    cancel_cost: int = 2  # write tokens per cancel (Kalshi V2)
    write_cost: int = 10  # write tokens per place / amend / decrease


@dataclass(slots=True)
class LiveOrder(Order):
    """One of our orders as the engine tracks it: ``Order`` plus the command in flight."""

    time_in_force: str = GTC
    reduce_only: bool = False
    inflight: str | None = None  # "place" | "amend" | "decrease" | "cancel"
    inflight_ms: int = 0
    pending_price: Price = 0  # amend in flight: the requested price
    pending_remaining: Qty = 0  # amend/decrease in flight: the requested remaining size
    priced_ms: int = 0  # when the current price was set (placement or amend accepted)
    amend_failed: bool = False
    #: contracts reported by OrderFilled events; ``filled`` may run ahead of it when an
    #: OrderAccepted (a REST read or a user_order message) reported the fills first
    fill_events: Qty = 0

    @property
    def exposure(self) -> Qty:
        """Size that could still fill: the larger of current and requested remaining."""
        if self.inflight == "amend" and self.pending_remaining > self.remaining:
            return self.pending_remaining
        return self.remaining

    def compatible(self, t: TargetOrder) -> bool:
        return (
            self.side == t.side
            and self.time_in_force == t.time_in_force
            and self.post_only == t.post_only
            and self.reduce_only == t.reduce_only
        )


def cancel_command(o: LiveOrder, reason: str) -> CancelOrder:
    return CancelOrder(ticker=o.ticker, order_id=o.order_id, client_order_id=o.client_order_id, reason=reason)


def place_command(ticker: str, t: TargetOrder, client_order_id: str) -> PlaceOrder:
    return PlaceOrder(
        ticker=ticker,
        client_order_id=client_order_id,
        side=t.side,  # type: ignore[arg-type]
        price=t.price,
        count=t.size,
        time_in_force=t.time_in_force,  # type: ignore[arg-type]
        post_only=t.post_only,
        reduce_only=t.reduce_only,
        tag=t.tag,
    )


NEVER = 1 << 62


def diff(
    ticker: str,
    targets: Sequence[TargetOrder],
    live: Iterable[LiveOrder],
    grid: PriceGrid,
    params: ExecutionParams,
    now_ms: int,
    new_id: Callable[[], str],
    blocked_tags: Iterable[str] = (),
) -> list[Command]:
    """Commands that move ``live`` toward ``targets``; ``blocked_tags`` may not be placed now."""
    return diff_held(ticker, targets, live, grid, params, now_ms, new_id, blocked_tags)[0]


def diff_held(
    ticker: str,
    targets: Sequence[TargetOrder],
    live: Iterable[LiveOrder],
    grid: PriceGrid,
    params: ExecutionParams,
    now_ms: int,
    new_id: Callable[[], str],
    blocked_tags: Iterable[str] = (),
) -> tuple[list[Command], int]:
    """``diff`` plus the earliest time a reprice it held back (debounce) would be sent (or NEVER)."""
    held = NEVER
    groups: dict[str, list[LiveOrder]] = {}
    for o in live:
        if o.inflight != "cancel":
            g = groups.get(o.tag)
            if g is None:
                groups[o.tag] = [o]
            else:
                g.append(o)
    if not targets and not groups:
        return [], held
    cancels: list[Command] = []
    changes: list[Command] = []
    places: list[Command] = []
    keep_by_tag: dict[str, LiveOrder] = {}
    replace: set[str] = set()
    for t in targets:
        for o in groups.get(t.tag, ()):
            if o.compatible(t):
                if o.price != t.price and o.inflight is None and (o.amend_failed or not params.use_amend):
                    if not _debounced(o, t, grid, params, now_ms):
                        replace.add(t.tag)  # reprice by cancel + place
                        break
                    held = min(held, _release(o, t, params))
                keep_by_tag[t.tag] = o
                break

    for tag, orders in groups.items():
        keep = keep_by_tag.get(tag)
        for o in orders:
            if o is not keep and o.inflight is None and o.order_id:
                cancels.append(cancel_command(o, "reprice" if tag in replace else "no target"))

    blocked = set(blocked_tags) if blocked_tags else ()
    for t in targets:
        keep = keep_by_tag.get(t.tag)
        if keep is None:
            pending = groups.get(t.tag)
            if t.tag in blocked:
                continue
            if pending and t.tag not in replace and (
                t.time_in_force != GTC or any(o.inflight == "place" for o in pending)
            ):
                continue  # an IOC waits for its predecessor; an unanswered placement blocks
            places.append(place_command(ticker, t, new_id()))
            continue
        if keep.inflight is not None or keep.time_in_force != GTC:
            continue
        if keep.price != t.price:
            if not _debounced(keep, t, grid, params, now_ms):
                changes.append(_amend(ticker, keep, t))
            else:
                held = min(held, _release(keep, t, params))
                if t.size < keep.remaining:
                    changes.append(_decrease(ticker, keep, t.size))
        elif t.size < keep.remaining:
            changes.append(_decrease(ticker, keep, t.size))
        elif t.size > keep.remaining:
            changes.append(_amend(ticker, keep, t))
    if cancels:
        cancels.extend(changes)
        cancels.extend(places)
        return cancels, held
    if changes:
        changes.extend(places)
        return changes, held
    return places, held


def _amend(ticker: str, o: LiveOrder, t: TargetOrder) -> AmendOrder:
    return AmendOrder(
        ticker=ticker,
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        side=t.side,  # type: ignore[arg-type]
        price=t.price,
        count=o.filled + t.size,
    )


def _decrease(ticker: str, o: LiveOrder, size: Qty) -> DecreaseOrder:
    return DecreaseOrder(ticker=ticker, order_id=o.order_id, client_order_id=o.client_order_id, reduce_to=size)


def _debounced(o: LiveOrder, t: TargetOrder, grid: PriceGrid, params: ExecutionParams, now_ms: int) -> bool:
    """True if the reprice of ``o`` to ``t.price`` should wait."""
    protective = t.price < o.price if o.side == "bid" else t.price > o.price
    if protective:
        return False
    max_age = t.max_age_ms or int(params.max_quote_age_s * 1000)
    if now_ms - o.priced_ms >= max_age:
        return False
    ticks = abs(grid.ticks_between(o.price, t.price))
    return ticks < params.min_move_ticks


def _release(o: LiveOrder, t: TargetOrder, params: ExecutionParams) -> int:
    """When a debounced reprice of ``o`` to ``t`` stops being held back (its maximum age)."""
    return o.priced_ms + (t.max_age_ms or int(params.max_quote_age_s * 1000))


def command_cost(cmd: Command, params: ExecutionParams) -> int:
    return params.cancel_cost if isinstance(cmd, CancelOrder) else params.write_cost


def prioritize(cmds: list[Command]) -> list[Command]:
    """Cancels first, then amends/decreases, then placements (stable within a class)."""
    prio: dict[Any, int] = PRIORITY  # type: ignore[assignment]
    return sorted(cmds, key=lambda c: prio[type(c)])


def apply_budget(cmds: list[Command], budget: int | None, params: ExecutionParams) -> tuple[list[Command], int]:
    """The prioritized commands that fit in ``budget`` write tokens (None = unlimited); tokens used."""
    cmds = prioritize(cmds)
    if budget is None:
        return cmds, sum(command_cost(c, params) for c in cmds)
    out: list[Command] = []
    used = 0
    for c in cmds:
        cost = command_cost(c, params)
        if used + cost > budget:
            continue
        out.append(c)
        used += cost
    return out, used
