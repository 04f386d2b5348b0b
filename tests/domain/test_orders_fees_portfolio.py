from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_mm.domain.fees import (
    DEFAULT_FEES,
    TAKER_RATE,
    FeeAccumulator,
    FeeSchedule,
    result_value,
    settlement_payout,
    trading_fee,
)
from kalshi_mm.domain.orders import IllegalTransition, Order, OrderStatus
from kalshi_mm.domain.portfolio import Portfolio
from kalshi_mm.errors import ConfigError, ProtocolError


# -- orders ---------------------------------------------------------------------------------
def test_order_lifecycle():
    o = Order("c-1", "KXA-1", "bid", 5600, 1000)
    assert o.status == OrderStatus.PENDING and o.remaining == 1000
    o.transition(OrderStatus.RESTING)
    o.apply_fill(400, fee=100)
    assert (o.filled, o.remaining, o.status) == (400, 600, OrderStatus.RESTING)
    o.apply_fill(600)
    assert o.status == OrderStatus.EXECUTED and o.is_terminal and o.fees == 100
    with pytest.raises(IllegalTransition):
        o.transition(OrderStatus.RESTING)
    with pytest.raises(IllegalTransition):
        o.apply_fill(1)


def test_canceled_order_can_carry_fills_but_never_revives():
    o = Order("c-2", "KXA-1", "ask", 4000, 500, status=OrderStatus.RESTING, remaining=500)
    o.transition(OrderStatus.CANCELED)
    o.apply_fill(100)  # a fill that raced the cancel
    assert o.status == OrderStatus.CANCELED and o.filled == 100
    with pytest.raises(IllegalTransition):
        o.transition(OrderStatus.RESTING)


@pytest.mark.parametrize(("side", "price", "count"), [("buy", 5000, 1), ("bid", 0, 1), ("bid", 10000, 1), ("ask", 5000, 0)])
def test_bad_orders(side, price, count):
    with pytest.raises(ProtocolError):
        Order("c", "T", side, price, count)


# -- fees -----------------------------------------------------------------------------------
def test_fee_matches_reported_real_fill():
    # kalshi-api.md section 12: 1 contract at 0.52 taker => fee_cost "0.017500"
    assert DEFAULT_FEES.taker_fee(5200, 100) == 17500


def test_maker_fee_types():
    assert FeeSchedule("quadratic").maker_fee(5000, 10000) == 0
    assert FeeSchedule("quadratic_with_maker_fees").maker_fee(5000, 10000) == 437500  # 0.0175*100*.25
    assert FeeSchedule("quadratic_with_combo_maker_fees").maker_fee(5000, 10000) == 875000
    assert FeeSchedule.from_wire("quadratic", "0.5").taker_fee(5000, 10000) == 875000
    with pytest.raises(ConfigError):
        FeeSchedule("flat")


def test_fee_rounds_up_to_a_hundredth_cent():
    # 0.01 contracts at 0.50: 0.07*0.01*0.25 = 0.000175 -> 0.0002
    assert trading_fee(5000, 1, TAKER_RATE) == 200


@given(
    st.integers(1, 9999),
    st.integers(1, 10**7),
    st.sampled_from(["quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"]),
    st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(3, 2)]),
)
def test_fee_never_negative_and_maker_never_above_taker(price, count, fee_type, mult):
    s = FeeSchedule(fee_type, mult)
    maker, taker = s.maker_fee(price, count), s.taker_fee(price, count)
    assert 0 <= maker <= taker
    assert taker % 100 == 0 and maker % 100 == 0
    exact = Fraction(7, 100) * mult * Fraction(count, 100) * Fraction(price, 10000) * Fraction(10000 - price, 10000)
    assert Fraction(taker, 10**6) >= exact > Fraction(taker - 100, 10**6)


def test_fee_accumulator_rebates_whole_cents():
    acc = FeeAccumulator(precision=10_000)  # $0.01 account precision
    total_rounding = 0
    total_rebate = 0
    for _ in range(10):
        change, rounding, rebate = acc.apply(-4_801_000, 17500)  # $4.801 cost, $0.0175 fee
        total_rounding += rounding
        total_rebate += rebate
        assert change % 10_000 == 0 or rebate
    assert total_rebate % 10_000 == 0 and total_rebate <= total_rounding
    assert total_rounding - total_rebate == acc.accumulated < 10_000
    off = FeeAccumulator(enabled=False)
    assert off.apply(-4_801_000, 17500) == (-4_818_500, 0, 0)


def test_settlement_payout():
    assert settlement_payout(1000, result_value("yes")) == 10_000_000  # 10 contracts -> $10
    assert settlement_payout(-1000, result_value("yes")) == 0
    assert settlement_payout(-1000, result_value("no")) == 10_000_000
    assert settlement_payout(100, result_value("scalar", 2500)) == 250_000


# -- portfolio ------------------------------------------------------------------------------
def test_portfolio_netting_follows_kalshi_cash_model():
    p = Portfolio(cash=100_000_000)
    p.apply_fill("T", "bid", 4000, 1000)  # buy 10 YES at .40: -$4
    assert p.cash == 96_000_000 and p.qty("T") == 1000
    p.apply_fill("T", "ask", 4500, 400)  # sell 4 YES at .45: +$1.80, realized +0.20
    assert p.cash == 97_800_000 and p.qty("T") == 600
    assert p.position("T").realized == 200_000
    p.apply_fill("T", "ask", 4500, 1000)  # close 6 YES (+2.70), open 4 NO at .55 (-2.20)
    assert p.qty("T") == -400 and p.cash == 97_800_000 + 2_700_000 - 2_200_000
    assert p.position("T").cost == 2_200_000
    assert p.position("T").unrealized(5000) == 400 * 5000 - 2_200_000
    payout = p.settle("T", result_value("no"))
    assert payout == 4_000_000 and p.qty("T") == 0


def test_portfolio_rejects_bad_fills():
    p = Portfolio()
    for args in [("T", "buy", 5000, 1), ("T", "bid", 0, 1), ("T", "bid", 5000, 0), ("T", "bid", 5000, 1, -1)]:
        with pytest.raises(ProtocolError):
            p.apply_fill(*args)


fills = st.lists(
    st.tuples(st.sampled_from(["bid", "ask"]), st.integers(1, 99).map(lambda c: c * 100), st.integers(1, 5000), st.booleans()),
    min_size=1,
    max_size=40,
)


@given(fills, st.sampled_from(["yes", "no"]))
def test_fills_then_settlement_conserve_money(seq, result):
    """cash_end = cash_start - fees + payouts - net premium, equal to the plain YES-trading model."""
    p = Portfolio(cash=10**12)
    yes_cash = 10**12  # independent model: trade YES only, short YES allowed, settle pos * value
    pos = 0
    fees = 0
    for side, price, count, taker in seq:
        fee = DEFAULT_FEES.fee(price, count, taker)
        p.apply_fill("T", side, price, count, fee)
        sign = 1 if side == "bid" else -1
        yes_cash -= sign * price * count
        pos += sign * count
        fees += fee
    value = result_value(result)
    payout = p.settle("T", value)
    yes_cash += pos * value
    assert p.cash == yes_cash - fees
    assert p.fees_paid == fees and p.payouts == payout
    # realized P&L over the market's life equals the cash change net of fees
    assert p.realized() == p.cash - 10**12 + fees
