"""Spread capture (seed Kalshi_MM): provide liquidity only where the spread is wide enough.

With the other participants' best bid ``b`` and ask ``a`` (our own orders excluded)::

    quote only if a - b >= min_spread
    bid = b + 1 tick (improve) or b (join),   ask = a - 1 tick or a
    shift = round(skew_ticks * position / max_position)   ticks, both quotes move down when long
    bid <= a - 1 tick, ask >= b + 1 tick, bid < ask  (never crossing; fall back to joining)

Size ``order_size`` contracts per side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kalshi_mm.core.strategies.base import QuoteContext, StrategyBase, TargetOrder, contracts, dollars
from kalshi_mm.domain.market import Market, PriceGrid
from kalshi_mm.domain.units import Price


@dataclass(slots=True)
class SpreadCaptureParams:
    min_spread: float = 0.05  # dollars: quote only where ask - bid >= this (seed: 5 cents)
    order_size: float = 10.0  # contracts per side
    improve: bool = True  # improve the best bid/ask by one tick (False: join)
    skew_ticks: int = 2  # ticks both quotes shift at the position limit (inventory skew)


def _step(grid: PriceGrid, p: Price, ticks: int) -> Price | None:
    """``p`` moved ``ticks`` grid steps (positive = up); None past the grid."""
    out: Price | None = p
    while ticks > 0 and out is not None:
        out = grid.tick_above(out)
        ticks -= 1
    while ticks < 0 and out is not None:
        out = grid.tick_below(out)
        ticks += 1
    return out


class SpreadCapture(StrategyBase):
    name: ClassVar[str] = "spread_capture"
    time_invariant: ClassVar[bool] = True  # quotes depend on the book and position, not the clock
    Params = SpreadCaptureParams

    def __init__(self, params: SpreadCaptureParams | None, market: Market) -> None:
        self.p = params or SpreadCaptureParams()
        self.market = market
        self.size = contracts(self.p.order_size)
        self.min_spread = dollars(self.p.min_spread)

    def quote(self, ctx: QuoteContext) -> tuple[TargetOrder, ...]:
        b, a = ctx.best_bid, ctx.best_ask
        if b is None or a is None or a - b < self.min_spread:
            return ()
        grid = ctx.market.grid
        bid: Price | None = b
        ask: Price | None = a
        if self.p.improve:
            ib, ia = grid.tick_above(b), grid.tick_below(a)
            if ib is not None and ia is not None and ib < ia:
                bid, ask = ib, ia
        shift = 0
        if ctx.max_position > 0 and self.p.skew_ticks:
            shift = -round(self.p.skew_ticks * ctx.position / ctx.max_position)
        if shift:
            bid = _step(grid, bid, shift) if bid is not None else None
            ask = _step(grid, ask, shift) if ask is not None else None
        # never cross the others' book, never cross ourselves
        if bid is not None and bid >= a:
            bid = grid.tick_below(a)
        if ask is not None and ask <= b:
            ask = grid.tick_above(b)
        if bid is not None and ask is not None and bid >= ask:
            bid, ask = b, a
        out: list[TargetOrder] = []
        if bid is not None:
            out.append(TargetOrder("bid", "bid", bid, self.size))
        if ask is not None:
            out.append(TargetOrder("ask", "ask", ask, self.size))
        return tuple(out)
