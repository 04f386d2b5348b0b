"""Pure rules of the shells: seq/gap/liveness bookkeeping, error mapping, backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshi_mm.errors import Fatal, OutcomeUnknown, RateLimited, Rejected, Retryable
from kalshi_mm.venue.feedstate import FeedState, SeqVerdict
from kalshi_mm.venue.policy import Backoff, error_from_response, parse_error_body, transport_error

# -- FeedState -------------------------------------------------------------------------------------


def _state() -> FeedState:
    fs = FeedState()
    fs.reset(0.0)
    fs.on_subscribed("orderbook_delta", 2)
    fs.on_subscribed("trade", 3)
    fs.add_markets(["A", "B"])
    fs.on_snapshot("A")
    fs.on_snapshot("B")
    return fs


def test_in_order_and_first_seq_arbitrary() -> None:
    fs = _state()
    assert fs.check_seq(2, 17) is SeqVerdict.OK  # first value is arbitrary
    assert fs.check_seq(2, 18) is SeqVerdict.OK
    assert fs.accept_delta("A") and fs.accept_delta("B")


def test_gap_unsyncs_every_market_of_the_book_sid_until_snapshot() -> None:
    fs = _state()
    fs.check_seq(2, 1)
    assert fs.check_seq(2, 3) is SeqVerdict.GAP
    assert not fs.accept_delta("A") and not fs.accept_delta("B")
    assert sorted(fs.unrequested()) == ["A", "B"]
    fs.snapshot_requested(["A", "B"], now=10.0)
    assert fs.unrequested() == []
    assert fs.overdue(12.0, timeout=5.0) == []
    assert sorted(fs.overdue(15.0, timeout=5.0)) == ["A", "B"]
    assert fs.check_seq(2, 4) is SeqVerdict.OK  # the sequence continues from the new value
    assert fs.on_snapshot("A")
    assert fs.accept_delta("A") and not fs.accept_delta("B")
    assert fs.dropped_deltas == 3


def test_duplicates_dropped_and_gap_on_other_channel_keeps_books() -> None:
    fs = _state()
    fs.check_seq(2, 5)
    assert fs.check_seq(2, 5) is SeqVerdict.DUPLICATE
    assert fs.check_seq(2, 4) is SeqVerdict.DUPLICATE
    fs.check_seq(3, 1)
    assert fs.check_seq(3, 9) is SeqVerdict.GAP  # trade channel: no book to resync
    assert fs.accept_delta("A")


def test_reset_on_reconnect_requires_fresh_snapshots() -> None:
    fs = _state()
    fs.check_seq(2, 100)
    fs.reset(50.0)
    assert fs.sids == {} and fs.last_seq == {}
    assert sorted(fs.unrequested()) == ["A", "B"]
    assert not fs.accept_delta("A")
    fs.on_subscribed("orderbook_delta", 9)
    assert fs.check_seq(9, 1) is SeqVerdict.OK


def test_removed_market_snapshot_ignored() -> None:
    fs = _state()
    fs.remove_markets(["B"])
    assert not fs.on_snapshot("B")
    assert not fs.accept_delta("B")


def test_liveness() -> None:
    fs = FeedState()
    fs.reset(100.0)
    assert not fs.is_dead(104.0, dead_after=5.0)
    assert fs.is_dead(105.5, dead_after=5.0)
    fs.touch(105.0)
    assert not fs.is_dead(105.5, dead_after=5.0)


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=200))
def test_seq_property_gaps_counted_exactly(steps: list[int]) -> None:
    """Every jump > 1 is exactly one gap; every message after a gap lands as OK again."""
    fs = _state()
    seq = 0
    gaps = 0
    for k in steps:
        seq += k
        v = fs.check_seq(2, seq)
        if seq == steps[0] or k == 1:
            assert v is SeqVerdict.OK
        else:
            gaps += 1
            assert v is SeqVerdict.GAP
    assert fs.gaps == gaps


# -- error mapping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "method", "exc", "code", "msg"),
    [
        (400, b'{"error":{"code":"invalid_order","message":"bad","details":"post only cross"}}', "POST", Rejected, "invalid_order", "bad"),
        (409, b'{"code":"order_already_exists","message":"dup"}', "POST", Rejected, "order_already_exists", "dup"),
        (404, b'{"code":"not_found"}', "DELETE", Rejected, "not_found", None),
        (400, b'{"msg":"limit out of range"}', "GET", Rejected, None, "limit out of range"),
        (429, b'{"error":"too many requests"}', "GET", RateLimited, None, "too many requests"),
        (429, b'{"error":"too many requests"}', "POST", RateLimited, None, "too many requests"),
        (401, b"", "GET", Fatal, None, None),
        (403, b'{"code":"forbidden"}', "POST", Fatal, "forbidden", None),
        (500, b"oops", "GET", Retryable, None, "oops"),
        (503, b"{}", "POST", OutcomeUnknown, None, None),
        (502, b"", "DELETE", OutcomeUnknown, None, None),
    ],
)
def test_error_mapping(status: int, body: bytes, method: str, exc: type, code: str | None, msg: str | None) -> None:
    e = error_from_response(status, body, method, "/trade-api/v2/portfolio/events/orders?secret=1")
    assert type(e) is exc
    assert e.status == status
    assert e.code == code
    if msg:
        assert msg in str(e)
    assert "secret" not in str(e)  # query strings never reach messages
    if status >= 500 and method == "GET":
        assert not isinstance(e, OutcomeUnknown)


def test_parse_error_body_shapes() -> None:
    assert parse_error_body(b'{"error":{"code":"x","message":"y","details":"z"}}') == ("x", "y", "z")
    assert parse_error_body(b"not json") == (None, "not json", None)
    assert parse_error_body(b"") == (None, None, None)


def test_transport_error_by_method() -> None:
    assert type(transport_error(TimeoutError(), "GET", "/x")) is Retryable
    assert type(transport_error(ConnectionResetError("reset"), "POST", "/x")) is OutcomeUnknown


def test_backoff_bounds_and_growth() -> None:
    b = Backoff(base=0.1, factor=2, cap=1.0, rng=lambda: 1.0)
    assert [b.delay(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    zero = Backoff(base=0.1, rng=lambda: 0.0, floor=0.05)
    assert zero.delay(3) == 0.05
    import random

    rnd = random.Random(7)
    j = Backoff(base=0.1, cap=2.0, rng=rnd.random)
    ds = list(j.delays(50))
    assert all(0 <= d <= 2.0 for d in ds)
    assert len(set(ds)) > 40  # jittered
