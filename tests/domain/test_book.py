import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_mm.domain.book import OrderBook, order_flow_imbalance
from kalshi_mm.errors import ProtocolError


def make_book():
    b = OrderBook("KXA-1")
    b.apply_snapshot(yes=[(800, 30000), (2200, 33300)], no=[(5400, 2000)], ts_ms=1)
    return b


def test_snapshot_views():
    b = make_book()
    assert b.best_bid == 2200 and b.bid_size == 33300
    assert b.best_ask == 4600 and b.ask_size == 2000  # 1 - 0.54
    assert b.spread == 2400
    assert b.mid == 3400.0
    assert b.microprice == pytest.approx((2200 * 2000 + 4600 * 33300) / 35300)
    assert b.top_levels(5) == ([(2200, 33300), (800, 30000)], [(4600, 2000)])
    assert b.levels() == ([(800, 30000), (2200, 33300)], [(5400, 2000)])
    assert not b.is_crossed


def test_delta_adds_removes_and_level_disappears_at_zero():
    b = make_book()
    assert b.apply_delta("yes", 2200, -3300) == 30000
    b.apply_delta("yes", 2300, 500)
    assert b.best_bid == 2300
    b.apply_delta("yes", 2300, -500)
    assert b.best_bid == 2200 and 2300 not in b.yes.sizes
    b.apply_delta("no", 5400, -2000)
    assert b.best_ask is None and b.spread is None and b.mid is None


def test_fractional_sizes():
    b = OrderBook()
    b.apply_delta("yes", 5000, 4602)
    b.apply_delta("yes", 5000, -307)
    assert b.yes.sizes[5000] == 4295


def test_negative_level_asks_for_resync():
    b = make_book()
    with pytest.raises(ProtocolError) as e:
        b.apply_delta("yes", 2200, -40000)
    assert e.value.resync
    with pytest.raises(ProtocolError) as e:
        b.apply_delta("no", 9000, -1)
    assert e.value.resync


def test_unknown_side():
    with pytest.raises(ProtocolError):
        make_book().apply_delta("maybe", 100, 1)


def test_crossed_detection():
    b = make_book()
    b.apply_delta("yes", 4600, 100)
    assert b.is_crossed


def test_imbalance_and_depth():
    b = make_book()
    assert b.imbalance(1) == pytest.approx((33300 - 2000) / 35300)
    assert b.depth_at_or_better("bid", 800) == 63300
    assert b.depth_at_or_better("ask", 4600) == 2000
    assert b.depth_at_or_better("ask", 4500) == 0


def test_ofi():
    prev = (2200, 100, 4600, 100)
    assert order_flow_imbalance(prev, (2300, 50, 4600, 100)) == 50
    assert order_flow_imbalance(prev, (2200, 150, 4600, 80)) == 70
    assert order_flow_imbalance(prev, (2100, 10, 4500, 40)) == -140


levels = st.dictionaries(st.integers(1, 99).map(lambda c: c * 100), st.integers(1, 10**6), max_size=20)


@given(levels, levels, st.lists(st.tuples(st.sampled_from(["yes", "no"]), st.integers(1, 99), st.integers(-(10**6), 10**6)), max_size=60))
def test_snapshot_plus_deltas_equals_rebuilt_snapshot(yes, no, ops):
    """Applying deltas to a book gives the same book as a snapshot of the resulting levels."""
    book = OrderBook()
    book.apply_snapshot(sorted(yes.items()), sorted(no.items()))
    model = {"yes": dict(yes), "no": dict(no)}
    for side, cents, delta in ops:
        price = cents * 100
        cur = model[side].get(price, 0)
        delta = max(delta, -cur)  # only valid deltas
        book.apply_delta(side, price, delta)
        if cur + delta:
            model[side][price] = cur + delta
        else:
            model[side].pop(price, None)
    rebuilt = OrderBook()
    rebuilt.apply_snapshot(sorted(model["yes"].items()), sorted(model["no"].items()))
    assert book.levels() == rebuilt.levels()
    assert book.best_bid == rebuilt.best_bid and book.best_ask == rebuilt.best_ask
    assert book.yes.prices == sorted(book.yes.sizes) and book.no.prices == sorted(book.no.sizes)
