"""Market metadata and the price grid.

Kalshi describes each market's valid prices with ``price_ranges``: a list of
``{start, end, step}`` dollar strings (``tick_size`` is gone). Known structures:

- ``linear_cent``: 0.01 everywhere;
- ``deci_cent``: 0.001 everywhere;
- ``tapered_deci_cent``: 0.001 below 0.10 and above 0.90, 0.01 between.

Any list of ranges is accepted. Orderable prices are strictly inside (0, 1): the endpoints
0.0000 and 1.0000 are excluded. ``PriceGrid`` precomputes the sorted valid prices so that every
query is a bisect.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kalshi_mm.domain.units import ONE_DOLLAR, PRICE_SCALE, Price
from kalshi_mm.errors import ProtocolError

PriceRange = tuple[Price, Price, Price]  # (start, end, step), inclusive bounds

STRUCTURES: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": ((0, ONE_DOLLAR, 100),),
    "deci_cent": ((0, ONE_DOLLAR, 10),),
    "tapered_deci_cent": ((0, 1000, 10), (1000, 9000, 100), (9000, ONE_DOLLAR, 10)),
}


class PriceGrid:
    """The set of orderable prices of one market."""

    __slots__ = ("_set", "prices", "ranges")

    def __init__(self, ranges: Iterable[PriceRange]) -> None:
        self.ranges: tuple[PriceRange, ...] = tuple(ranges)
        if not self.ranges:
            raise ProtocolError("price_ranges: at least one range is required", field="price_ranges")
        valid: set[int] = set()
        for start, end, step in self.ranges:
            if step <= 0 or start < 0 or end > ONE_DOLLAR or start > end:
                raise ProtocolError(
                    f"price_ranges: bad range start={start} end={end} step={step}", field="price_ranges"
                )
            valid.update(p for p in range(start, end + 1, step) if 0 < p < ONE_DOLLAR)
        if not valid:
            raise ProtocolError("price_ranges: no orderable price inside (0, 1)", field="price_ranges")
        self.prices: tuple[Price, ...] = tuple(sorted(valid))
        self._set = frozenset(valid)

    @classmethod
    def for_structure(cls, name: str) -> PriceGrid:
        try:
            return cls(STRUCTURES[name])
        except KeyError:
            raise ProtocolError(f"unknown price_level_structure {name!r}", field="price_level_structure") from None

    @property
    def min_price(self) -> Price:
        return self.prices[0]

    @property
    def max_price(self) -> Price:
        return self.prices[-1]

    def is_valid(self, p: Price) -> bool:
        return p in self._set

    def floor(self, p: float | int) -> Price | None:
        """Highest valid price <= p (None below the grid). Floats are dollars*10,000 units."""
        if isinstance(p, float):
            p = math.floor(p + 1e-9)
        i = bisect_right(self.prices, p)
        return self.prices[i - 1] if i else None

    def ceil(self, p: float | int) -> Price | None:
        """Lowest valid price >= p (None above the grid)."""
        if isinstance(p, float):
            p = math.ceil(p - 1e-9)
        i = bisect_left(self.prices, p)
        return self.prices[i] if i < len(self.prices) else None

    def floor_dollars(self, x: float) -> Price | None:
        return self.floor(x * PRICE_SCALE)

    def ceil_dollars(self, x: float) -> Price | None:
        return self.ceil(x * PRICE_SCALE)

    def clamp(self, p: Price) -> Price:
        """Nearest valid price at or inside the grid's bounds (rounding down between ticks)."""
        if p <= self.prices[0]:
            return self.prices[0]
        if p >= self.prices[-1]:
            return self.prices[-1]
        f = self.floor(p)
        assert f is not None
        return f

    def tick_above(self, p: Price) -> Price | None:
        i = bisect_right(self.prices, p)
        return self.prices[i] if i < len(self.prices) else None

    def tick_below(self, p: Price) -> Price | None:
        i = bisect_left(self.prices, p)
        return self.prices[i - 1] if i else None

    def tick_size_at(self, p: Price) -> Price:
        """Size of the tick just above ``p`` (or below at the top of the grid)."""
        up = self.tick_above(p)
        if up is not None:
            return up - p if self.is_valid(p) else up - (self.tick_below(up) or 0)
        down = self.tick_below(p)
        return p - down if down is not None else self.prices[0]

    def ticks_between(self, lo: Price, hi: Price) -> int:
        """Number of grid steps from ``lo`` up to ``hi`` (negative if hi < lo)."""
        return bisect_left(self.prices, hi) - bisect_left(self.prices, lo)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriceGrid) and other.ranges == self.ranges

    def __hash__(self) -> int:
        return hash(self.ranges)

    def __repr__(self) -> str:
        return f"PriceGrid({list(self.ranges)!r})"


LINEAR_CENT = PriceGrid.for_structure("linear_cent")


@dataclass(frozen=True, slots=True)
class Market:
    """What the core needs to know about a market. Times are Unix milliseconds."""

    ticker: str
    event_ticker: str = ""
    series_ticker: str = ""
    status: str = "active"
    market_type: str = "binary"
    open_ts_ms: int = 0
    close_ts_ms: int = 0
    grid: PriceGrid = field(default=LINEAR_CENT)
    price_level_structure: str = "linear_cent"
    result: str = ""
    settlement_value: Price | None = None
    title: str = ""
    volume: int = 0  # Qty
    volume_24h: int = 0  # Qty
    open_interest: int = 0  # Qty
    yes_bid: Price = 0
    yes_ask: Price = ONE_DOLLAR
    last_price: Price = 0
    can_close_early: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in ("active", "open")

    def seconds_to_close(self, now_ms: int) -> float:
        return (self.close_ts_ms - now_ms) / 1000.0


def grid_from_ranges(ranges: Sequence[PriceRange] | None, structure: str = "") -> PriceGrid:
    """Grid from parsed ranges, falling back to the named structure, then to linear_cent."""
    if ranges:
        return PriceGrid(ranges)
    if structure in STRUCTURES:
        return PriceGrid.for_structure(structure)
    return LINEAR_CENT
