"""Integer units and Kalshi's fixed-point strings.

Inside kalshi-mm every amount is an ``int``:

====== ======================= =====================================
type   unit                    example
====== ======================= =====================================
Price  1/10,000 dollar         ``"0.4800"`` -> 4800; one cent = 100
Qty    1/100 contract          ``"40.00"`` -> 4000
Money  1/1,000,000 dollar      price x qty is exact (1e-4 * 1e-2)
====== ======================= =====================================

Kalshi sends prices as dollar strings (2-4 dp), counts as contract strings (0-2 dp) and money
as dollar strings (up to 6 dp). Some feeds occasionally send a JSON number instead of a string;
those are accepted and parsed through their decimal text, never through float arithmetic.

Parsing is on the hot path (every order-book delta carries a price and a size), so parsed strings
are memoised in bounded dictionaries: the set of distinct prices is tiny and sizes repeat a lot.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from kalshi_mm.errors import ProtocolError

Price: TypeAlias = int
Qty: TypeAlias = int
Money: TypeAlias = int

PRICE_DP: Final = 4
QTY_DP: Final = 2
MONEY_DP: Final = 6

PRICE_SCALE: Final = 10_000  # Price units per dollar
QTY_SCALE: Final = 100  # Qty units per contract
MONEY_SCALE: Final = 1_000_000  # Money units per dollar

ONE_DOLLAR: Final[Price] = PRICE_SCALE  # the payout of one winning contract, as a Price
CENT: Final[Price] = 100
ONE_CONTRACT: Final[Qty] = QTY_SCALE
MONEY_PER_CENT: Final[Money] = 10_000
FEE_QUANTUM: Final[Money] = 100  # fees round up to $0.0001

_CACHE_LIMIT: Final = 1 << 16
_ASCII_DIGITS = frozenset("0123456789")


def _parse_fixed(value: object, dp: int, field: str, *, signed: bool) -> int:
    """Parse a decimal string (or JSON number) with at most ``dp`` decimals into an int of 10^-dp."""
    if isinstance(value, bool):
        raise ProtocolError(f"{field}: expected a decimal string, got a boolean {value!r}", field=field)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ProtocolError(f"{field}: {value!r} is not a finite number", field=field)
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(value, f".{dp + 1}f").rstrip("0")
    elif isinstance(value, str):
        text = value
    else:
        raise ProtocolError(f"{field}: expected a decimal string, got {type(value).__name__}", field=field)

    s = text.strip()
    negative = False
    if s[:1] == "-":
        negative = True
        s = s[1:]
    elif s[:1] == "+":
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if (
        not whole
        or not _ASCII_DIGITS.issuperset(whole)
        or (dot and not frac)
        or not _ASCII_DIGITS.issuperset(frac)
    ):
        raise ProtocolError(f"{field}: {text!r} is not a decimal number", field=field)
    if len(frac) > dp:
        raise ProtocolError(f"{field}: {text!r} has more than {dp} decimal places", field=field)
    n = int(whole) * 10**dp + (int(frac) * 10 ** (dp - len(frac)) if frac else 0)
    if negative:
        if not signed and n != 0:
            raise ProtocolError(f"{field}: {text!r} must not be negative", field=field)
        n = -n
    return n


def _memo(dp: int, signed: bool, default_field: str):  # type: ignore[no-untyped-def]
    cache: dict[object, int] = {}
    get = cache.get

    def parse(value: object, field: str = default_field) -> int:
        if type(value) is str:
            n = get(value)
            if n is not None:
                return n
        n = _parse_fixed(value, dp, field, signed=signed)
        if type(value) is str:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[value] = n
        return n

    return parse


#: ``"0.4800"`` -> 4800 (1/10,000 dollar). Non-negative, at most 4 dp.
parse_price = _memo(PRICE_DP, False, "price")
#: ``"40.00"`` -> 4000 (1/100 contract). Non-negative, at most 2 dp.
parse_qty = _memo(QTY_DP, False, "count")
#: ``"-33.00"`` -> -3300. Signed count (order-book deltas, positions).
parse_signed_qty = _memo(QTY_DP, True, "delta")
#: ``"0.017500"`` -> 17500 (1/1,000,000 dollar). Signed money, at most 6 dp.
parse_money = _memo(MONEY_DP, True, "dollars")


def _format_fixed(n: int, dp: int) -> str:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected an int, got {type(n).__name__}")
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n), 10**dp)
    return f"{sign}{q}.{r:0{dp}d}" if dp else f"{sign}{q}"


def format_price(p: Price) -> str:
    """4800 -> ``"0.4800"``."""
    return _format_fixed(p, PRICE_DP)


def format_qty(q: Qty) -> str:
    """4000 -> ``"40.00"``; signed values keep their sign (``"-33.00"``)."""
    return _format_fixed(q, QTY_DP)


def format_money(m: Money, dp: int = MONEY_DP) -> str:
    """17500 -> ``"0.017500"``; with ``dp=4`` the value must be a whole $0.0001."""
    if dp > MONEY_DP or dp < 0:
        raise ValueError(f"dp must be 0..{MONEY_DP}")
    step = 10 ** (MONEY_DP - dp)
    if m % step:
        raise ValueError(f"{m} micro-dollars is not a whole multiple of 10^-{dp} dollar")
    return _format_fixed(m // step, dp)


def money_to_cents_floor(m: Money) -> int:
    """Money -> whole cents, rounded toward minus infinity (Kalshi's integer ``balance``)."""
    return m // MONEY_PER_CENT


def cents_to_money(c: int) -> Money:
    return c * MONEY_PER_CENT


def notional(price: Price, qty: Qty) -> Money:
    """Cost of ``qty`` contracts at ``price``, exact in Money."""
    return price * qty


def price_from_float(x: float) -> Price:
    """Nearest Price to a float dollar value (for strategies that compute in floats)."""
    return round(x * PRICE_SCALE)


def price_to_float(p: Price) -> float:
    return p / PRICE_SCALE


def qty_to_float(q: Qty) -> float:
    return q / QTY_SCALE


def money_to_float(m: Money) -> float:
    return m / MONEY_SCALE


def complement(p: Price) -> Price:
    """The other leg's price: a NO bid at q is a YES ask at 1 - q."""
    return ONE_DOLLAR - p
