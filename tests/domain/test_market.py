import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_mm.domain.market import LINEAR_CENT, PriceGrid, grid_from_ranges
from kalshi_mm.errors import ProtocolError

DECI = PriceGrid.for_structure("deci_cent")
TAPERED = PriceGrid.for_structure("tapered_deci_cent")


def test_linear_cent_grid_excludes_endpoints():
    assert LINEAR_CENT.min_price == 100 and LINEAR_CENT.max_price == 9900
    assert len(LINEAR_CENT.prices) == 99
    assert LINEAR_CENT.is_valid(4800)
    assert not LINEAR_CENT.is_valid(4850)
    assert not LINEAR_CENT.is_valid(0) and not LINEAR_CENT.is_valid(10000)


def test_tapered_grid():
    assert TAPERED.is_valid(10) and TAPERED.is_valid(990) and TAPERED.is_valid(9990)
    assert not TAPERED.is_valid(1010)  # 0.101 is off the cent grid in the middle
    assert TAPERED.tick_above(990) == 1000
    assert TAPERED.tick_above(1000) == 1100
    assert TAPERED.tick_below(9000) == 8900
    assert TAPERED.tick_above(9000) == 9010
    assert TAPERED.tick_size_at(500) == 10 and TAPERED.tick_size_at(5000) == 100


def test_rounding_floats_and_ints():
    assert LINEAR_CENT.floor(4850) == 4800 and LINEAR_CENT.ceil(4850) == 4900
    assert LINEAR_CENT.floor(4849.9999) == 4800
    assert LINEAR_CENT.floor_dollars(0.4899) == 4800
    assert LINEAR_CENT.ceil_dollars(0.4801) == 4900
    assert LINEAR_CENT.floor_dollars(0.48) == 4800  # float noise does not drop a tick
    assert LINEAR_CENT.floor(50) is None and LINEAR_CENT.ceil(9950) is None
    assert LINEAR_CENT.clamp(-5) == 100 and LINEAR_CENT.clamp(20000) == 9900
    assert DECI.floor_dollars(0.4857) == 4850


def test_ticks_between():
    assert LINEAR_CENT.ticks_between(4800, 5000) == 2
    assert LINEAR_CENT.ticks_between(5000, 4800) == -2


def test_custom_ranges_and_errors():
    g = grid_from_ranges([(0, 5000, 500), (5000, 10000, 1000)])
    assert g.prices == (500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000, 7000, 8000, 9000)
    assert grid_from_ranges(None, "deci_cent") == DECI
    with pytest.raises(ProtocolError):
        PriceGrid([])
    with pytest.raises(ProtocolError):
        PriceGrid([(0, 10000, 0)])
    with pytest.raises(ProtocolError):
        PriceGrid.for_structure("banded_centi_cent")


@given(st.sampled_from([LINEAR_CENT, DECI, TAPERED]), st.integers(min_value=1, max_value=9999))
def test_floor_ceil_bracket(grid, p):
    f, c = grid.floor(p), grid.ceil(p)
    if f is not None:
        assert grid.is_valid(f) and f <= p
        assert grid.tick_above(f) is None or grid.tick_above(f) > p or grid.tick_above(f) == c
    if c is not None:
        assert grid.is_valid(c) and c >= p
    if grid.is_valid(p):
        assert f == c == p
