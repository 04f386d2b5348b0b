"""WS messages: the section 14 examples decode to the right struct and to the right core events."""

from __future__ import annotations

import ast
import contextlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.errors import ProtocolError
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s

# -- section 14 examples, verbatim ----------------------------------------------------------------
SUBSCRIBE = (
    b'{"id":1,"cmd":"subscribe","params":{"channels":["orderbook_delta"],"market_tickers":["KXA-1","KXB-2"]}}'
)
UNSUBSCRIBE = b'{"id":2,"cmd":"unsubscribe","params":{"sids":[1]}}'
LIST_SUBS = b'{"id":3,"cmd":"list_subscriptions"}'
UPDATE_SUB = b'{"id":4,"cmd":"update_subscription","params":{"sid":1,"market_tickers":["KXC-3"],"action":"add_markets"}}'

SUBSCRIBED = b'{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":1}}'
UNSUBSCRIBED = b'{"id":2,"type":"unsubscribed","sid":1,"seq":7}'
OK_LIST = b'{"id":3,"type":"ok","msg":[{"channel":"orderbook_delta","sid":1}]}'
OK_UPDATE = b'{"id":4,"type":"ok","sid":1,"seq":9,"msg":{"market_tickers":["KXA-1","KXB-2","KXC-3"]}}'
ERROR = b'{"id":5,"type":"error","msg":{"code":6,"msg":"Already subscribed"}}'
SNAPSHOT = (
    b'{"type":"orderbook_snapshot","sid":2,"seq":1,"msg":{"market_ticker":"KXA-1","market_id":"9b0f...",'
    b'"yes_dollars_fp":[["0.0800","300.00"],["0.2200","333.00"]],"no_dollars_fp":[["0.5400","20.00"]]}}'
)
DELTA = (
    b'{"type":"orderbook_delta","sid":2,"seq":2,"msg":{"market_ticker":"KXA-1","market_id":"9b0f...",'
    b'"price_dollars":"0.2200","delta_fp":"-33.00","side":"yes","ts_ms":1669149841000,"client_order_id":"c-1"}}'
)
TICKER = (
    b'{"type":"ticker","msg":{"market_id":"...","market_ticker":"KXA-1","price_dollars":"0.4800",'
    b'"yes_bid_dollars":"0.4500","yes_ask_dollars":"0.5300","yes_bid_size_fp":"300.00","yes_ask_size_fp":"150.00",'
    b'"last_trade_size_fp":"25.00","volume_fp":"33896.00","open_interest_fp":"20422.00","dollar_volume":16948,'
    b'"dollar_open_interest":10211,"ts":1669149841,"ts_ms":1669149841000,"time":"2022-11-22T20:44:01Z"}}'
)
TRADE = (
    b'{"type":"trade","msg":{"trade_id":"...","market_ticker":"KXA-1","yes_price_dollars":"0.3600",'
    b'"no_price_dollars":"0.6400","count_fp":"136.00","taker_outcome_side":"no","taker_book_side":"ask",'
    b'"taker_side":"no","is_block_trade":false,"ts":1669149841,"ts_ms":1669149841000}}'
)
FILL = (
    b'{"type":"fill","msg":{"trade_id":"...","order_id":"...","client_order_id":"c-1","market_ticker":"KXA-1",'
    b'"exchange_index":0,"is_taker":true,"side":"yes","action":"buy","outcome_side":"yes","book_side":"bid",'
    b'"purchased_side":"yes","yes_price_dollars":"0.7500","count_fp":"278.00","fee_cost":"0.010000",'
    b'"post_position_fp":"500.00","ts":1671899397,"ts_ms":1671899397000}}'
)
USER_ORDER = (
    b'{"type":"user_order","msg":{"order_id":"...","user_id":"...","ticker":"KXA-1","status":"resting",'
    b'"side":"yes","is_yes":true,"outcome_side":"yes","book_side":"bid","yes_price_dollars":"0.3500",'
    b'"fill_count_fp":"0.00","remaining_count_fp":"10.00","initial_count_fp":"10.00",'
    b'"taker_fill_cost_dollars":"0.0000","maker_fill_cost_dollars":"0.0000","taker_fees_dollars":"0.0000",'
    b'"maker_fees_dollars":"0.0000","client_order_id":"c-1","created_time":"2024-12-01T10:00:00Z",'
    b'"created_ts_ms":1733047200000}}'
)
MARKET_POSITION = (
    b'{"type":"market_position","msg":{"user_id":"...","market_ticker":"KXA-1","position_fp":"100.00",'
    b'"position_cost_dollars":"50.0000","realized_pnl_dollars":"10.0000","fees_paid_dollars":"1.0000",'
    b'"position_fee_cost_dollars":"0.5000","volume_fp":"15.00"}}'
)
ORDER_GROUP = (
    b'{"type":"order_group_updates","seq":7,"msg":{"event_type":"limit_updated","order_group_id":"og_1",'
    b'"contracts_limit_fp":"150.00","ts_ms":1715793600123}}'
)
DETERMINED = (
    b'{"type":"market_lifecycle_v2","sid":13,"seq":3,"msg":{"market_ticker":"KXA-1","event_type":"determined",'
    b'"result":"yes","settlement_value":"1.0000","determination_ts":1694721700}}'
)
EVENT_LIFECYCLE = (
    b'{"type":"event_lifecycle","sid":13,"seq":4,"msg":{"event_ticker":"KXA","exchange_index":0,"title":"...",'
    b'"subtitle":"...","collateral_return_type":"MECNET","series_ticker":"KXA"}}'
)
CREATED = (
    b'{"type":"market_lifecycle_v2","sid":13,"seq":1,"msg":{"market_ticker":"KXA-26JAN01-T60",'
    b'"event_type":"created","open_ts":1767225600,"close_ts":1767312000,"exchange_index":0,'
    b'"additional_metadata":{"name":"n","title":"High temp","yes_sub_title":"60+","no_sub_title":"<60",'
    b'"rules_primary":"r","rules_secondary":"","can_close_early":true,"event_ticker":"KXA-26JAN01",'
    b'"expected_expiration_ts":1767315600},"price_level_structure":"tapered_deci_cent",'
    b'"price_ranges":[{"start":"0.0000","end":"0.1000","step":"0.0010"},{"start":"0.1000","end":"0.9000",'
    b'"step":"0.0100"},{"start":"0.9000","end":"1.0000","step":"0.0010"}]}}'
)

SERVER_EXAMPLES = {
    SUBSCRIBED: s.Subscribed,
    UNSUBSCRIBED: s.Unsubscribed,
    OK_LIST: s.Ok,
    OK_UPDATE: s.Ok,
    ERROR: s.Error,
    SNAPSHOT: s.OrderbookSnapshot,
    DELTA: s.OrderbookDelta,
    TICKER: s.Ticker,
    TRADE: s.TradeMessage,
    FILL: s.FillMessage,
    USER_ORDER: s.UserOrder,
    MARKET_POSITION: s.MarketPositionMessage,
    ORDER_GROUP: s.OrderGroupUpdate,
    DETERMINED: s.MarketLifecycle,
    EVENT_LIFECYCLE: s.EventLifecycle,
    CREATED: s.MarketLifecycle,
}


@pytest.mark.parametrize("raw", list(SERVER_EXAMPLES), ids=[t.__name__ for t in SERVER_EXAMPLES.values()])
def test_server_examples_decode_and_roundtrip(raw: bytes) -> None:
    msg = parse.decode_ws(raw)
    assert type(msg) is SERVER_EXAMPLES[raw]
    # encoding with the same structs reproduces the message (the local exchange relies on it)
    assert json.loads(parse.encode(msg)) == json.loads(raw)
    assert parse.decode_ws(parse.encode(msg)) == msg


@pytest.mark.parametrize("raw", [SUBSCRIBE, UNSUBSCRIBE, LIST_SUBS, UPDATE_SUB])
def test_command_examples_decode_and_roundtrip(raw: bytes) -> None:
    cmd = parse.decode_ws_command(raw)
    assert json.loads(parse.encode(cmd)) == json.loads(raw)
    assert cmd.id == json.loads(raw)["id"]


def test_command_fields() -> None:
    sub = parse.decode_ws_command(SUBSCRIBE)
    assert isinstance(sub, s.SubscribeCommand)
    assert sub.params.channels == ["orderbook_delta"] and sub.params.market_tickers == ["KXA-1", "KXB-2"]
    upd = parse.decode_ws_command(UPDATE_SUB)
    assert isinstance(upd, s.UpdateSubscriptionCommand) and upd.params.action == "add_markets"
    built = s.SubscribeCommand(id=7, params=s.SubscribeParams(channels=["fill"]))
    assert json.loads(parse.encode(built)) == {"cmd": "subscribe", "id": 7, "params": {"channels": ["fill"]}}
    with pytest.raises(ProtocolError, match=r"\$\.cmd"):
        parse.decode_ws_command(b'{"id":1,"cmd":"subscribe_all"}')


def test_acks_decode_fields() -> None:
    assert parse.decode_ws(SUBSCRIBED).msg == s.SubscriptionInfo(channel="orderbook_delta", sid=1)
    un = parse.decode_ws(UNSUBSCRIBED)
    assert (un.id, un.sid, un.seq) == (2, 1, 7)
    assert parse.decode_ws(OK_LIST).msg == [s.SubscriptionInfo(channel="orderbook_delta", sid=1)]
    assert parse.decode_ws(OK_UPDATE).msg.market_tickers == ["KXA-1", "KXB-2", "KXC-3"]
    err = parse.decode_ws(ERROR)
    assert (err.msg.code, err.msg.msg) == (6, "Already subscribed")
    for raw in (SUBSCRIBED, UNSUBSCRIBED, OK_LIST, ERROR, TICKER, ORDER_GROUP, EVENT_LIFECYCLE):
        assert parse.ws_events(parse.decode_ws(raw), 5) == []


def test_snapshot_and_delta_events() -> None:
    (snap,) = parse.ws_events(parse.decode_ws(SNAPSHOT), recv_ms=123)
    assert snap == ev.BookSnapshot(
        ts_ms=123, ticker="KXA-1", yes=((800, 30000), (2200, 33300)), no=((5400, 2000),)
    )
    (delta,) = parse.ws_events(parse.decode_ws(DELTA), recv_ms=999)
    assert delta == ev.BookDelta(
        ts_ms=1669149841000, ticker="KXA-1", side="yes", price=2200, delta=-3300, client_order_id="c-1"
    )
    book = OrderBook("KXA-1")
    book.apply_snapshot(snap.yes, snap.no)
    book.apply_delta(delta.side, delta.price, delta.delta)
    assert book.yes.size_at(2200) == 30000 and book.best_ask == 4600


def test_snapshot_sides_omitted_when_empty() -> None:
    empty = s.OrderbookSnapshot(sid=1, seq=5, msg=s.OrderbookSnapshotMsg(market_ticker="KXA-1"))
    assert json.loads(parse.encode(empty)) == {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 5,
        "msg": {"market_ticker": "KXA-1"},
    }
    (e,) = parse.ws_events(parse.decode_ws(parse.encode(empty)))
    assert e.yes == () and e.no == () and e.ts_ms == 0
    # unsorted levels come out ascending
    raw = (
        b'{"type":"orderbook_snapshot","msg":{"market_ticker":"X","no_dollars_fp":[["0.5","1"],["0.2","2"]]}}'
    )
    (e,) = parse.ws_events(parse.decode_ws(raw), 1)
    assert e.no == ((2000, 200), (5000, 100))


def test_ts_fallbacks() -> None:
    no_ts = DELTA.replace(b',"ts_ms":1669149841000', b',"ts":"2022-11-22T20:44:01.5Z"')
    assert parse.ws_events(parse.decode_ws(no_ts), recv_ms=42)[0].ts_ms == 42
    assert parse.ws_events(parse.decode_ws(no_ts))[0].ts_ms == 1669149841500
    trade = TRADE.replace(b',"ts_ms":1669149841000', b"")
    assert parse.ws_events(parse.decode_ws(trade), recv_ms=42)[0].ts_ms == 42
    assert parse.ws_events(parse.decode_ws(trade))[0].ts_ms == 1669149841000
    assert parse.ws_events(parse.decode_ws(TRADE), recv_ms=42)[0].ts_ms == 1669149841000


def test_trade_fill_user_order_position_events() -> None:
    (t,) = parse.ws_events(parse.decode_ws(TRADE))
    assert t == ev.TradePrinted(
        ts_ms=1669149841000, ticker="KXA-1", trade_id="...", price=3600, count=13600, taker_side="no"
    )
    (f,) = parse.ws_events(parse.decode_ws(FILL))
    assert f == ev.OrderFilled(
        ts_ms=1671899397000,
        ticker="KXA-1",
        order_id="...",
        client_order_id="c-1",
        fill_id="...",
        side="bid",
        price=7500,
        count=27800,
        fee=10_000,
        is_taker=True,
        post_position=50_000,
    )
    (o,) = parse.ws_events(parse.decode_ws(USER_ORDER), recv_ms=77)
    assert o == ev.OrderAccepted(
        ts_ms=77,
        ticker="KXA-1",
        order_id="...",
        client_order_id="c-1",
        side="bid",
        price=3500,
        remaining=1000,
    )
    (o,) = parse.ws_events(parse.decode_ws(USER_ORDER))
    assert o.ts_ms == 1733047200000  # created_ts_ms when nothing better is known
    canceled = USER_ORDER.replace(b'"resting"', b'"canceled"').replace(
        b'"created_ts_ms":1733047200000',
        b'"created_ts_ms":1,"last_updated_ts_ms":5,"last_update_reason":"ExpiryCancel"',
    )
    (o,) = parse.ws_events(parse.decode_ws(canceled), recv_ms=9)
    assert o == ev.OrderCanceled(
        ts_ms=5, ticker="KXA-1", order_id="...", client_order_id="c-1", reason="ExpiryCancel"
    )
    (o,) = parse.ws_events(parse.decode_ws(USER_ORDER.replace(b'"resting"', b'"executed"')), recv_ms=9)
    assert o == ev.OrderExecuted(ts_ms=9, ticker="KXA-1", order_id="...", client_order_id="c-1")
    with pytest.raises(ProtocolError, match=r"unknown status 'weird'") as info:
        parse.ws_events(parse.decode_ws(USER_ORDER.replace(b'"resting"', b'"weird"')))
    assert info.value.field == "msg.status"
    (p,) = parse.ws_events(parse.decode_ws(MARKET_POSITION), recv_ms=3)
    assert p == ev.PositionChanged(
        ts_ms=3, ticker="KXA-1", position=10_000, realized_pnl=10_000_000, fees_paid=1_000_000
    )


def test_ask_fill_side_from_book_side() -> None:
    raw = FILL.replace(b'"book_side":"bid"', b'"book_side":"ask"').replace(
        b'"post_position_fp":"500.00"', b'"post_position_fp":"-2.50"'
    )
    (f,) = parse.ws_events(parse.decode_ws(raw))
    assert f.side == "ask" and f.post_position == -250


def test_lifecycle_events() -> None:
    closed, determined = parse.ws_events(parse.decode_ws(DETERMINED), recv_ms=None)
    assert closed == ev.MarketClosed(ts_ms=1694721700000, ticker="KXA-1")
    assert determined == ev.MarketDetermined(
        ts_ms=1694721700000, ticker="KXA-1", result="yes", settlement_value=10_000
    )
    no_value = DETERMINED.replace(b'"result":"yes","settlement_value":"1.0000"', b'"result":"no"')
    assert parse.ws_events(parse.decode_ws(no_value), 1)[1].settlement_value == 0
    (opened,) = parse.ws_events(parse.decode_ws(CREATED), recv_ms=55)
    m = opened.market
    assert isinstance(opened, ev.MarketOpened) and opened.ts_ms == 55
    assert (m.ticker, m.event_ticker, m.series_ticker) == ("KXA-26JAN01-T60", "KXA-26JAN01", "KXA")
    assert m.open_ts_ms == 1767225600000 and m.close_ts_ms == 1767312000000 and m.can_close_early
    assert (
        m.grid.is_valid(10) and m.grid.is_valid(9990) and not m.grid.is_valid(1010) and m.grid.is_valid(1100)
    )
    base = (
        b'{"type":"market_lifecycle_v2","sid":13,"seq":2,"msg":{"market_ticker":"KXA-1","event_type":"%s"%s}}'
    )
    (e,) = parse.ws_events(parse.decode_ws(base % (b"deactivated", b',"is_deactivated":true')), 8)
    assert e == ev.MarketStatusChanged(ts_ms=8, ticker="KXA-1", status="inactive")
    (e,) = parse.ws_events(parse.decode_ws(base % (b"activated", b',"is_deactivated":false')), 8)
    assert e.status == "active"
    (e,) = parse.ws_events(parse.decode_ws(base % (b"settled", b',"settled_ts":10')))
    assert e == ev.MarketStatusChanged(ts_ms=10_000, ticker="KXA-1", status="finalized")
    (e,) = parse.ws_events(parse.decode_ws(base % (b"close_date_updated", b',"close_ts":99')), 8)
    assert e == ev.MarketCloseChanged(ts_ms=8, ticker="KXA-1", close_ts_ms=99_000)
    assert parse.ws_events(parse.decode_ws(base % (b"metadata_updated", b"")), 8) == []


def test_numbers_where_strings_expected_are_accepted_in_ws() -> None:
    raw = DELTA.replace(b'"0.2200"', b"0.22").replace(b'"-33.00"', b"-33")
    (d,) = parse.ws_events(parse.decode_ws(raw))
    assert (d.price, d.delta) == (2200, -3300)
    assert parse.decode_delta_fast(raw)[2:4] == (2200, -3300)
    raw = SNAPSHOT.replace(b'["0.5400","20.00"]', b"[0.54,20.5]")
    (e,) = parse.ws_events(parse.decode_ws(raw))
    assert e.no == ((5400, 2050),)
    raw = FILL.replace(b'"0.010000"', b"0.01").replace(b'"278.00"', b"278")
    (f,) = parse.ws_events(parse.decode_ws(raw))
    assert (f.fee, f.count) == (10_000, 27_800)


@pytest.mark.parametrize(
    ("raw", "field", "text"),
    [
        (DELTA.replace(b'"side":"yes"', b'"side":"maybe"'), "$.msg.side", "Invalid enum value 'maybe'"),
        (DELTA.replace(b'"delta_fp":"-33.00",', b""), "$.msg.delta_fp", "missing required field `delta_fp`"),
        (DELTA.replace(b'"0.2200"', b"true"), "$.msg.price_dollars", "got `bool`"),
        (DELTA.replace(b'"seq":2', b'"seq":"2"'), "$.seq", "Expected `int | null`, got `str`"),
        (b'{"msg":{}}', "$.type", "missing required field `type`"),
        (b'{"type":"trade","msg":[]}', "$.msg", "Expected `object`, got `array`"),
        (b"[1,2]", None, "Expected `object`, got `array`"),
        (b'{"type":"orderbook_delta"', None, "malformed JSON"),
    ],
)
def test_bad_ws_messages_name_the_field(raw: bytes, field: str | None, text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse.decode_ws(raw)
    assert info.value.field == field
    assert text in str(info.value) and "WS message" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (DELTA.replace(b'"0.2200"', b'"1.2000"'), "$.msg.price_dollars"),
        (DELTA.replace(b'"0.2200"', b'"0.0000"'), "$.msg.price_dollars"),
        (DELTA.replace(b'"0.2200"', b'"0.22001"'), "msg.price_dollars"),
        (DELTA.replace(b'"-33.00"', b'"-3.333"'), "msg.delta_fp"),
        (DELTA.replace(b'"-33.00"', b'"lots"'), "msg.delta_fp"),
    ],
)
def test_bad_values_raise_protocol_error_in_both_paths(raw: bytes, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse.ws_events(parse.decode_ws(raw))
    assert info.value.field is not None and info.value.field.endswith(field.removeprefix("$."))
    with pytest.raises(ProtocolError) as info:
        parse.decode_delta_fast(raw)
    assert info.value.field is not None and info.value.field.endswith(field.removeprefix("$."))


def test_unknown_type_is_tolerated() -> None:
    msg = parse.decode_ws(b'{"type":"multivariate_lookup","sid":9,"seq":1,"msg":{"x":1}}')
    assert isinstance(msg, s.UnknownMessage) and msg.type == "multivariate_lookup" and msg.sid == 9
    assert parse.ws_events(msg) == []


def test_fast_path_and_applier() -> None:
    assert parse.decode_delta_fast(DELTA) == ("KXA-1", "yes", 2200, -3300, 1669149841000, 2, "c-1")
    assert parse.DeltaTuple(*parse.decode_delta_fast(DELTA)).price == 2200
    applier = parse.DeltaApplier()
    with pytest.raises(ProtocolError, match="before its snapshot") as info:
        applier.apply(DELTA)
    assert info.value.resync
    book = applier.apply_snapshot(parse.decode_ws(SNAPSHOT), recv_ms=1)
    assert applier.apply(DELTA) is book
    assert book.yes.levels() == [(800, 30000), (2200, 30000)] and book.updated_ms == 1669149841000
    assert applier.last_seq == 2
    # removing more than rests: the book says resync
    too_much = DELTA.replace(b'"-33.00"', b'"-400.00"')
    with pytest.raises(ProtocolError) as info:
        applier.apply(too_much)
    assert info.value.resync
    # a non-delta message on the fast path names what it got
    with pytest.raises(ProtocolError, match="expected an orderbook_delta message, got trade"):
        parse.decode_delta_fast(TRADE)
    with pytest.raises(ProtocolError, match=r"msg\.side 'both' is not 'yes' or 'no'") as info:
        applier.apply(DELTA.replace(b'"side":"yes"', b'"side":"both"'))
    assert info.value.field == "$.msg.side"


def test_recorded_line() -> None:
    recv, msg = parse.decode_recorded_line(b'{"recv_ms":17,"event":' + TRADE + b"}")
    assert recv == 17 and type(msg) is s.TradeMessage
    with pytest.raises(ProtocolError, match="recorded line"):
        parse.decode_recorded_line(b'{"event":{}}')


# -- property tests: nothing but ProtocolError ever escapes ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
TYPES = [
    "orderbook_snapshot", "orderbook_delta", "trade", "fill", "user_order", "market_position",
    "market_lifecycle_v2", "ticker", "ok", "error", "subscribed", "unsubscribed", "event_lifecycle",
    "order_group_updates", "nope",
]  # fmt: skip
FIELD_NAMES = [
    "market_ticker", "price_dollars", "delta_fp", "side", "ts_ms", "ts", "yes_dollars_fp", "no_dollars_fp",
    "trade_id", "yes_price_dollars", "count_fp", "taker_outcome_side", "taker_side", "order_id", "is_taker",
    "book_side", "fee_cost", "post_position_fp", "ticker", "status", "fill_count_fp", "remaining_count_fp",
    "initial_count_fp", "position_fp", "event_type", "result", "settlement_value", "price_ranges",
]  # fmt: skip
ws_like = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        "sid": st.integers(-5, 5) | json_values,
        "seq": st.integers(0, 10) | json_values,
        "msg": st.dictionaries(
            st.sampled_from(FIELD_NAMES),
            json_values
            | st.sampled_from(
                ["yes", "no", "bid", "ask", "resting", "canceled", "executed", "determined", "created"]
            )
            | st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{0,7})?", fullmatch=True)
            | st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=3),
        ),
    },
)


def _only_protocol_errors(data: bytes) -> None:
    for fn in (parse.decode_ws, parse.decode_delta_fast, parse.DeltaApplier({"X": OrderBook("X")}).apply):
        try:
            out = fn(data)
        except ProtocolError:
            continue
        if fn is parse.decode_ws:
            try:
                events = parse.ws_events(out, 1)
            except ProtocolError:
                continue
            assert all(isinstance(e, ev.Event) for e in events)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    _only_protocol_errors(data)


@settings(max_examples=600, deadline=None)
@given(ws_like)
def test_random_envelopes_only_raise_protocol_error(doc: dict[str, Any]) -> None:
    _only_protocol_errors(msgspec.json.encode(doc))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_random_text_only_raises_protocol_error(text: str) -> None:
    _only_protocol_errors(text.encode())
    with contextlib.suppress(ProtocolError):  # str input works like bytes
        parse.decode_ws(text)


# -- house rule: kalshi/ stays pure -----------------------------------------------------------------

FORBIDDEN = {"asyncio", "aiohttp", "websockets", "time", "random"}


def test_kalshi_package_imports_no_io_or_clock_modules() -> None:
    pkg = Path(parse.__file__).parent
    files = sorted(pkg.glob("*.py"))
    assert {p.name for p in files} >= {"schemas.py", "parse.py", "auth.py"}
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
