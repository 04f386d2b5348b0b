import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_mm.domain import units as u
from kalshi_mm.errors import ProtocolError


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.4800", 4800), ("0.48", 4800), ("0.485", 4850), ("1.0000", 10000), ("0.0001", 1), ("0", 0), ("1", 10000)],
)
def test_parse_price(text, value):
    assert u.parse_price(text) == value


@pytest.mark.parametrize(("text", "value"), [("40.00", 4000), ("40", 4000), ("0.01", 1), ("12.5", 1250)])
def test_parse_qty(text, value):
    assert u.parse_qty(text) == value


def test_json_numbers_are_accepted_through_their_decimal_text():
    assert u.parse_price(0.48) == 4800
    assert u.parse_price(0.1) == 1000  # no float error: 0.1 * 10000 is not computed
    assert u.parse_qty(40) == 4000
    assert u.parse_signed_qty(-33.5) == -3350
    assert u.parse_money(0.0175) == 17500


@pytest.mark.parametrize("bad", ["abc", "1.23456", "-0.10", "nan", "NaN", "", ".5", "5.", "1e3", "0x10", "٣.٠", " "])
def test_price_junk_is_rejected_clearly(bad):
    with pytest.raises(ProtocolError) as e:
        u.parse_price(bad)
    assert "price" in str(e.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, None, [1]])
def test_non_numbers_rejected(bad):
    with pytest.raises(ProtocolError):
        u.parse_qty(bad)


def test_negative_count_rejected_but_signed_delta_allowed():
    with pytest.raises(ProtocolError, match="negative"):
        u.parse_qty("-1.00")
    assert u.parse_signed_qty("-46.02") == -4602


def test_qty_more_than_two_decimals_rejected():
    with pytest.raises(ProtocolError, match="2 decimal"):
        u.parse_qty("1.001")


def test_error_names_the_field():
    with pytest.raises(ProtocolError) as e:
        u.parse_price("x", "yes_bid_dollars")
    assert e.value.field == "yes_bid_dollars"
    assert "yes_bid_dollars" in str(e.value)


def test_format():
    assert u.format_price(4800) == "0.4800"
    assert u.format_qty(4000) == "40.00"
    assert u.format_qty(-3300) == "-33.00"
    assert u.format_money(17500) == "0.017500"
    assert u.format_money(17500, 4) == "0.0175"
    with pytest.raises(ValueError):
        u.format_money(17550, 4)
    with pytest.raises(TypeError):
        u.format_price(0.48)  # type: ignore[arg-type]


def test_notional_is_exact_money():
    assert u.notional(4800, 4000) == 19_200_000  # 40 contracts at $0.48 = $19.20


@given(st.integers(min_value=0, max_value=10**9))
def test_price_round_trip(p):
    assert u.parse_price(u.format_price(p)) == p


@given(st.integers(min_value=0, max_value=10**12))
def test_qty_round_trip(q):
    assert u.parse_qty(u.format_qty(q)) == q


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_signed_money_round_trip(m):
    assert u.parse_money(u.format_money(m)) == m
    assert u.parse_signed_qty(u.format_qty(m)) == m


@given(st.text(max_size=12))
def test_random_text_never_raises_anything_but_protocol_error(s):
    try:
        v = u.parse_price(s)
    except ProtocolError:
        return
    assert isinstance(v, int) and v >= 0
