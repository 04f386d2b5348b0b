"""The order book of one market: two bid ladders, YES and NO.

Kalshi's book is bid-only. A NO bid at q is a YES ask at 1 - q, so

- best YES bid = highest YES bid price,
- best YES ask = 1 - highest NO bid price.

Each ladder is a dict ``price -> size`` plus a sorted list of its prices, so that the best
level is ``prices[-1]`` and a delta costs a dict update (plus a bisect insert/remove only when a
level appears or disappears). Prices are ``Price`` ints, sizes ``Qty`` ints.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from kalshi_mm.domain.units import ONE_DOLLAR, Price, Qty
from kalshi_mm.errors import ProtocolError

Level = tuple[Price, Qty]


class Ladder:
    """One side's bids: price -> resting size, with the prices kept sorted ascending."""

    __slots__ = ("prices", "sizes")

    def __init__(self, levels: Iterable[Level] = ()) -> None:
        self.sizes: dict[Price, Qty] = {}
        self.prices: list[Price] = []
        self.reset(levels)

    def reset(self, levels: Iterable[Level]) -> None:
        sizes: dict[Price, Qty] = {}
        for price, size in levels:
            if size < 0:
                raise ProtocolError(f"snapshot level {price} has negative size {size}", field="size")
            if size:
                sizes[price] = sizes.get(price, 0) + size
        self.sizes = sizes
        self.prices = sorted(sizes)

    def apply(self, price: Price, delta: Qty) -> Qty:
        """Add ``delta`` at ``price``; returns the new size. Negative results are a protocol error."""
        sizes = self.sizes
        old = sizes.get(price)
        if old is None:
            if delta > 0:
                sizes[price] = delta
                insort(self.prices, price)
                return delta
            if delta == 0:
                return 0
            raise ProtocolError(
                f"delta {delta} at {price} removes from an empty level; resync needed",
                field="delta_fp",
                resync=True,
            )
        new = old + delta
        if new > 0:
            sizes[price] = new
            return new
        if new < 0:
            raise ProtocolError(
                f"delta {delta} at {price} would leave {new} (was {old}); resync needed",
                field="delta_fp",
                resync=True,
            )
        del sizes[price]
        prices = self.prices
        if prices[-1] == price:
            prices.pop()
        else:
            del prices[bisect_left(prices, price)]
        return 0

    @property
    def best(self) -> Price | None:
        return self.prices[-1] if self.prices else None

    @property
    def best_size(self) -> Qty:
        return self.sizes[self.prices[-1]] if self.prices else 0

    def depth(self, n: int | None = None) -> Qty:
        """Total size of the best ``n`` levels (all levels when n is None)."""
        prices = self.prices if n is None else self.prices[-n:]
        return sum(self.sizes[p] for p in prices)

    def top(self, n: int) -> list[Level]:
        """Best ``n`` levels, best first."""
        sizes = self.sizes
        return [(p, sizes[p]) for p in reversed(self.prices[-n:])] if n > 0 else []

    def levels(self) -> list[Level]:
        """All levels ascending by price (Kalshi's wire order)."""
        sizes = self.sizes
        return [(p, sizes[p]) for p in self.prices]

    def size_at(self, price: Price) -> Qty:
        return self.sizes.get(price, 0)

    def __len__(self) -> int:
        return len(self.prices)


class OrderBook:
    """YES and NO bid ladders of one market, with YES-scale views (bid, ask, mid, spread)."""

    __slots__ = ("no", "ticker", "updated_ms", "yes")

    def __init__(self, ticker: str = "") -> None:
        self.ticker = ticker
        self.yes = Ladder()
        self.no = Ladder()
        self.updated_ms = 0

    # -- updates -------------------------------------------------------------------------------
    def apply_snapshot(self, yes: Iterable[Level], no: Iterable[Level], ts_ms: int = 0) -> None:
        self.yes.reset(yes)
        self.no.reset(no)
        if ts_ms:
            self.updated_ms = ts_ms

    def apply_delta(self, side: str, price: Price, delta: Qty, ts_ms: int = 0) -> Qty:
        """Apply a signed size change to ``side`` (``"yes"`` or ``"no"``) at ``price``."""
        if side == "yes":
            new = self.yes.apply(price, delta)
        elif side == "no":
            new = self.no.apply(price, delta)
        else:
            raise ProtocolError(f"unknown book side {side!r}", field="side")
        if ts_ms:
            self.updated_ms = ts_ms
        return new

    def clear(self) -> None:
        self.yes.reset(())
        self.no.reset(())

    # -- YES-scale views -----------------------------------------------------------------------
    @property
    def best_bid(self) -> Price | None:
        return self.yes.best

    @property
    def best_ask(self) -> Price | None:
        b = self.no.best
        return None if b is None else ONE_DOLLAR - b

    @property
    def bid_size(self) -> Qty:
        return self.yes.best_size

    @property
    def ask_size(self) -> Qty:
        return self.no.best_size

    @property
    def best_no_bid(self) -> Price | None:
        return self.no.best

    @property
    def best_no_ask(self) -> Price | None:
        b = self.yes.best
        return None if b is None else ONE_DOLLAR - b

    @property
    def spread(self) -> Price | None:
        bid, nb = self.yes.best, self.no.best
        if bid is None or nb is None:
            return None
        return ONE_DOLLAR - nb - bid

    @property
    def mid(self) -> float | None:
        """Mid price in Price units (may fall between ticks, hence a float)."""
        bid, nb = self.yes.best, self.no.best
        if bid is None or nb is None:
            return None
        return (bid + ONE_DOLLAR - nb) / 2.0

    @property
    def microprice(self) -> float | None:
        """Size-weighted mid: leans toward the side with less resting size."""
        bid, nb = self.yes.best, self.no.best
        if bid is None or nb is None:
            return None
        ask = ONE_DOLLAR - nb
        bs, as_ = self.yes.sizes[bid], self.no.sizes[nb]
        return (bid * as_ + ask * bs) / (bs + as_)

    @property
    def is_crossed(self) -> bool:
        """True if a YES bid meets or exceeds the YES ask (bid_yes + bid_no >= 1)."""
        bid, nb = self.yes.best, self.no.best
        return bid is not None and nb is not None and bid + nb >= ONE_DOLLAR

    def imbalance(self, levels: int = 1) -> float:
        """(bid depth - ask depth) / total over the best ``levels`` levels; 0 when empty."""
        b = self.yes.depth(levels)
        a = self.no.depth(levels)
        return (b - a) / (a + b) if a + b else 0.0

    def top(self) -> tuple[Price | None, Qty, Price | None, Qty]:
        """(best bid, bid size, best ask, ask size) on the YES scale."""
        return self.best_bid, self.bid_size, self.best_ask, self.ask_size

    def top_levels(self, n: int) -> tuple[list[Level], list[Level]]:
        """Best ``n`` YES bids and best ``n`` YES asks (ask price, size), best first."""
        asks = [(ONE_DOLLAR - p, s) for p, s in self.no.top(n)]
        return self.yes.top(n), asks

    def depth_at_or_better(self, side: str, price: Price) -> Qty:
        """Size resting at ``price`` or better on the YES bid (side='bid') or YES ask (side='ask')."""
        if side == "bid":
            ladder, limit = self.yes, price
        else:
            ladder, limit = self.no, ONE_DOLLAR - price
        i = bisect_left(ladder.prices, limit)
        return sum(ladder.sizes[p] for p in ladder.prices[i:])

    def levels(self) -> tuple[list[Level], list[Level]]:
        """(YES levels, NO levels) ascending by price, as Kalshi's REST book lists them."""
        return self.yes.levels(), self.no.levels()

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.ticker!r}, bid={self.best_bid}x{self.bid_size}, "
            f"ask={self.best_ask}x{self.ask_size}, levels={len(self.yes)}/{len(self.no)})"
        )


def order_flow_imbalance(
    prev: tuple[Price | None, Qty, Price | None, Qty], cur: tuple[Price | None, Qty, Price | None, Qty]
) -> int:
    """Cont-Kukanov-Stoikov OFI between two tops of book ``(bid, bid_size, ask, ask_size)``.

    Positive when buying pressure grows (bid improves or grows, ask recedes or shrinks).
    """
    pb, pbs, pa, pas = prev
    cb, cbs, ca, cas = cur
    e = 0
    if cb is not None and pb is not None:
        if cb > pb:
            e += cbs
        elif cb == pb:
            e += cbs - pbs
        else:
            e -= pbs
    if ca is not None and pa is not None:
        if ca < pa:
            e -= cas
        elif ca == pa:
            e -= cas - pas
        else:
            e += pas
    return e
