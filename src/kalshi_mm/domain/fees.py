"""Kalshi's fee schedule and settlement payouts, in integer Money (1e-6 dollar).

Trading fee per fill (kalshi-api.md section 12)::

    fee = ceil(rate * C * P * (1 - P) * multiplier)   rounded up to $0.0001

with C contracts, P the price in dollars, taker rate 0.07 and the maker rate chosen by the
series ``fee_type``. Rates are exact fractions, so the arithmetic is exact integer arithmetic.

Balance rounding (current rule, behind ``FeeAccumulator``): the balance change of a fill is
``revenue - fee`` floored to the account precision ($0.0001 for direct members, $0.01 for others);
the floored remainder is a rounding fee, and a per-order accumulator rebates whole cents of
rounding fees once they pass $0.01.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from kalshi_mm.domain.units import FEE_QUANTUM, MONEY_PER_CENT, ONE_DOLLAR, Money, Price, Qty
from kalshi_mm.errors import ConfigError

TAKER_RATE = Fraction(7, 100)
MAKER_RATES: dict[str, Fraction] = {
    "quadratic": Fraction(0),
    "quadratic_with_maker_fees": Fraction(175, 10_000),
    "quadratic_with_combo_maker_fees": Fraction(35, 1_000),
}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def trading_fee(price: Price, count: Qty, rate: Fraction, multiplier: Fraction = Fraction(1)) -> Money:
    """Fee of one fill in Money, rounded up to $0.0001. Never negative."""
    if count <= 0 or rate == 0 or multiplier == 0:
        return 0
    r = rate * multiplier
    # dollars = r * (count/100) * (price/1e4) * ((1e4-price)/1e4); in $0.0001 units multiply by 1e4
    num = r.numerator * count * price * (ONE_DOLLAR - price)
    den = r.denominator * 100 * ONE_DOLLAR * ONE_DOLLAR // 10_000
    return _ceil_div(num, den) * FEE_QUANTUM


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fees of one series: ``fee_type`` picks the maker rate; ``multiplier`` scales both."""

    fee_type: str = "quadratic"
    multiplier: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        if self.fee_type not in MAKER_RATES:
            raise ConfigError(
                f"unsupported fee_type {self.fee_type!r}; known: {', '.join(sorted(MAKER_RATES))}"
            )

    @classmethod
    def from_wire(cls, fee_type: str, multiplier: float | str | int = 1) -> FeeSchedule:
        return cls(fee_type, Fraction(str(multiplier)))

    @property
    def maker_rate(self) -> Fraction:
        return MAKER_RATES[self.fee_type]

    def taker_fee(self, price: Price, count: Qty) -> Money:
        return trading_fee(price, count, TAKER_RATE, self.multiplier)

    def maker_fee(self, price: Price, count: Qty) -> Money:
        return trading_fee(price, count, self.maker_rate, self.multiplier)

    def fee(self, price: Price, count: Qty, is_taker: bool) -> Money:
        return self.taker_fee(price, count) if is_taker else self.maker_fee(price, count)

    def round_trip_cost(self, bid: Price, ask: Price, count: Qty, *, taker: bool = False) -> Money:
        """Fees of buying at ``bid`` and selling at ``ask`` (both as maker unless ``taker``)."""
        return self.fee(bid, count, taker) + self.fee(ask, count, taker)


DEFAULT_FEES = FeeSchedule()


@dataclass(slots=True)
class FeeAccumulator:
    """Kalshi's balance rounding for one order (switch ``enabled`` off for plain per-fill fees).

    ``precision`` is the account precision in Money: 100 ($0.0001, direct members) or 10,000
    ($0.01). ``apply`` returns ``(balance_change, rounding_fee, rebate)`` for a fill whose cash
    ``revenue`` (negative for buys) and trading ``fee`` are given.
    """

    precision: Money = FEE_QUANTUM
    enabled: bool = True
    accumulated: Money = field(default=0)

    def apply(self, revenue: Money, fee: Money) -> tuple[Money, Money, Money]:
        raw = revenue - fee
        if not self.enabled:
            return raw, 0, 0
        floored = (raw // self.precision) * self.precision
        rounding = raw - floored
        self.accumulated += rounding
        rebate = 0
        if self.accumulated >= MONEY_PER_CENT:
            rebate = (self.accumulated // MONEY_PER_CENT) * MONEY_PER_CENT
            self.accumulated -= rebate
        return floored + rebate, rounding, rebate


def settlement_payout(position: Qty, settlement_value: Price) -> Money:
    """Payout of a net position at settlement: YES holders get the value, NO holders 1 - value."""
    if position >= 0:
        return position * settlement_value
    return -position * (ONE_DOLLAR - settlement_value)


def result_value(result: str, scalar_value: Price | None = None) -> Price:
    """Settlement value per YES contract for a market result (``yes``, ``no`` or ``scalar``)."""
    if result == "yes":
        return ONE_DOLLAR
    if result == "no":
        return 0
    if result == "scalar" and scalar_value is not None:
        return scalar_value
    raise ValueError(f"no settlement value for result {result!r}")
