"""REST structs: doc examples round-trip; real GET /events responses decode into domain markets."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kalshi_mm.domain.market import LINEAR_CENT
from kalshi_mm.errors import ProtocolError
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s

GOLD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kalshi" / "kxgold15m-ws"


def roundtrip(struct: type, doc: dict[str, Any] | list[Any]) -> Any:
    """Decode ``doc``, re-encode, and check the JSON is the same object (no key added or lost)."""
    obj = parse.decode_rest(struct, json.dumps(doc).encode())
    again = parse.encode(obj)
    assert json.loads(again) == doc, struct.__name__
    assert parse.decode_rest(struct, again) == obj
    return obj


# -- section 7 doc example, verbatim --------------------------------------------------------------

CREATE_REQ = {
    "ticker": "KXHIGHNY-26JAN01-T60",
    "client_order_id": "c-1",
    "side": "bid",
    "count": "10.00",
    "price": "0.5600",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "taker_at_cross",
    "post_only": True,
}
CREATE_RESP = {
    "order_id": "3b23...",
    "client_order_id": "c-1",
    "fill_count": "0.00",
    "remaining_count": "10.00",
    "ts_ms": 1715793600123,
}


def test_create_order_doc_example_roundtrips() -> None:
    req = roundtrip(s.CreateOrderRequest, CREATE_REQ)
    assert req.side == "bid" and req.count == "10.00" and req.expiration_time is None
    resp = roundtrip(s.CreateOrderResponse, CREATE_RESP)
    assert resp.ts_ms == 1715793600123 and resp.average_fill_price is None
    # encoding a freshly built request omits absent optional keys
    built = s.CreateOrderRequest(
        ticker="T",
        side="ask",
        count="1.00",
        price="0.4200",
        time_in_force="immediate_or_cancel",
        self_trade_prevention_type="maker",
    )
    assert json.loads(parse.encode(built)) == {
        "ticker": "T",
        "side": "ask",
        "count": "1.00",
        "price": "0.4200",
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "maker",
    }


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("count", 10, "Expected `str`, got `int` - at `$.count`"),  # numeric count is rejected
        ("price", 0.56, "Expected `str`, got `float` - at `$.price`"),
        ("side", "yes", "Invalid enum value 'yes' - at `$.side`"),
        ("time_in_force", "GTT", "Invalid enum value 'GTT' - at `$.time_in_force`"),
    ],
)
def test_create_order_strict_types(field: str, value: Any, expect: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse.decode_rest(s.CreateOrderRequest, json.dumps({**CREATE_REQ, field: value}))
    assert expect in str(info.value)
    assert info.value.field == f"$.{field}"


def test_create_order_missing_required() -> None:
    body = {k: v for k, v in CREATE_REQ.items() if k != "self_trade_prevention_type"}
    with pytest.raises(ProtocolError) as info:
        parse.decode_rest(s.CreateOrderRequest, json.dumps(body))
    assert info.value.field == "$.self_trade_prevention_type"


# -- other section 5-10 shapes, as the doc lists their keys --------------------------------------

ORDER = {
    "order_id": "o-1",
    "user_id": "u-1",
    "client_order_id": "c-1",
    "ticker": "KXA-1",
    "outcome_side": "yes",
    "book_side": "bid",
    "type": "limit",
    "status": "resting",
    "yes_price_dollars": "0.3500",
    "no_price_dollars": "0.6500",
    "fill_count_fp": "2.50",
    "remaining_count_fp": "7.50",
    "initial_count_fp": "10.00",
    "taker_fill_cost_dollars": "0.0000",
    "maker_fill_cost_dollars": "0.8750",
    "taker_fees_dollars": "0.0000",
    "maker_fees_dollars": "0.0100",
    "created_time": "2026-08-10T21:46:09.379425Z",
    "last_update_time": "2026-08-10T21:46:10Z",
    "last_update_reason": "Trade",
}
FILL = {
    "fill_id": "f-1",
    "trade_id": "f-1",
    "order_id": "o-1",
    "ticker": "KXA-1",
    "market_ticker": "KXA-1",
    "exchange_index": 0,
    "outcome_side": "no",
    "book_side": "ask",
    "count_fp": "1.00",
    "yes_price_dollars": "0.5200",
    "no_price_dollars": "0.4800",
    "is_taker": True,
    "fee_cost": "0.017500",
    "created_time": "2026-08-10T21:46:09Z",
    "ts": 1786398369,
}
EXAMPLES: list[tuple[type, Any]] = [
    (s.ExchangeStatus, {"exchange_active": True, "trading_active": False}),
    (
        s.ExchangeStatus,
        {
            "exchange_active": False,
            "trading_active": False,
            "exchange_estimated_resume_time": "2026-08-10T22:00:00Z",
        },
    ),
    (
        s.GetExchangeScheduleResponse,
        {
            "schedule": {
                "standard_hours": [
                    {
                        "start_time": "2026-01-01T00:00:00Z",
                        "end_time": "2027-01-01T00:00:00Z",
                        "monday": [{"open_time": "08:00", "close_time": "03:00"}],
                        "tuesday": [],
                        "wednesday": [],
                        "thursday": [],
                        "friday": [],
                        "saturday": [],
                        "sunday": [],
                    }
                ],
                "maintenance_windows": [
                    {"start_datetime": "2026-08-13T07:00:00Z", "end_datetime": "2026-08-13T09:00:00Z"}
                ],
            }
        },
    ),
    (s.UserDataTimestamp, {"as_of_time": "2026-08-10T21:46:09Z"}),
    (
        s.GetOrderbookResponse,
        {"orderbook_fp": {"yes_dollars": [["0.0100", "475.00"], ["0.4400", "1.00"]], "no_dollars": []}},
    ),
    (
        s.GetOrderbooksResponse,
        {
            "orderbooks": [
                {"ticker": "KXA-1", "orderbook_fp": {"yes_dollars": [], "no_dollars": [["0.5400", "2.00"]]}}
            ]
        },
    ),
    (
        s.GetTradesResponse,
        {
            "trades": [
                {
                    "trade_id": "t-1",
                    "ticker": "KXA-1",
                    "count_fp": "136.00",
                    "yes_price_dollars": "0.3600",
                    "no_price_dollars": "0.6400",
                    "taker_outcome_side": "no",
                    "taker_book_side": "ask",
                    "created_time": "2026-08-10T21:46:09Z",
                    "is_block_trade": False,
                }
            ],
            "cursor": "",
        },
    ),
    (
        s.GetSeriesResponse,
        {
            "series": {
                "ticker": "KXGOLD15M",
                "frequency": "fifteen_min",
                "title": "Gold 15 min",
                "category": "Commodities",
                "categories": ["Commodities"],
                "contract_url": "https://kalshi.com/c.pdf",
                "contract_terms_url": "https://kalshi.com/t.pdf",
                "fee_type": "quadratic",
                "fee_multiplier": 1.0,
                "tags": None,
                "settlement_sources": [{"name": "Pyth - Gold", "url": "https://pyth.network"}],
                "additional_prohibitions": None,
            }
        },
    ),
    (
        s.Balance,
        {
            "balance": 12345,
            "balance_dollars": "123.4500",
            "portfolio_value": 500,
            "updated_ts": 1786398369,
            "balance_breakdown": [{"exchange_index": 0, "balance": "123.4500"}],
        },
    ),
    (
        s.GetPositionsResponse,
        {
            "market_positions": [
                {
                    "ticker": "KXA-1",
                    "exchange_index": 0,
                    "total_traded_dollars": "10.0000",
                    "position_fp": "-12.50",
                    "market_exposure_dollars": "6.2500",
                    "realized_pnl_dollars": "-0.1200",
                    "fees_paid_dollars": "0.0300",
                    "last_updated_ts": "2026-08-10T21:46:09Z",
                }
            ],
            "event_positions": [
                {
                    "event_ticker": "KXA",
                    "total_cost_dollars": "6.2500",
                    "total_cost_shares_fp": "12.50",
                    "event_exposure_dollars": "6.2500",
                    "realized_pnl_dollars": "-0.1200",
                    "fees_paid_dollars": "0.0300",
                }
            ],
            "cursor": "abc",
        },
    ),
    (s.GetOrdersResponse, {"orders": [ORDER], "cursor": ""}),
    (s.GetOrderResponse, {"order": ORDER}),
    (s.QueuePositionResponse, {"queue_position_fp": "120.00"}),
    (
        s.GetQueuePositionsResponse,
        {"queue_positions": [{"order_id": "o-1", "market_ticker": "KXA-1", "queue_position_fp": "0.00"}]},
    ),
    (s.GetFillsResponse, {"fills": [FILL], "cursor": ""}),
    (
        s.GetSettlementsResponse,
        {
            "settlements": [
                {
                    "ticker": "KXA-1",
                    "market_result": "yes",
                    "yes_count_fp": "10.00",
                    "yes_total_cost_dollars": "4.5000",
                    "no_count_fp": "0.00",
                    "no_total_cost_dollars": "0.0000",
                    "revenue": 1000,
                    "value": 100,
                    "fee_cost": "0.0000",
                    "settled_time": "2026-08-10T22:00:05Z",
                }
            ]
        },
    ),
    (s.CancelOrderResponse, {"order_id": "o-1", "client_order_id": "c-1", "reduced_by": "7.50", "ts_ms": 1}),
    (
        s.AmendOrderRequest,
        {
            "ticker": "KXA-1",
            "side": "bid",
            "price": "0.3600",
            "count": "10.00",
            "updated_client_order_id": "c-2",
        },
    ),
    (s.AmendOrderResponse, {"order_id": "o-1", "remaining_count": "7.50", "fill_count": "2.50", "ts_ms": 2}),
    (s.DecreaseOrderRequest, {"reduce_by": "2.00"}),
    (s.DecreaseOrderRequest, {"reduce_to": "0.00", "market_ticker": "KXA-1"}),
    (s.DecreaseOrderResponse, {"order_id": "o-1", "remaining_count": "5.50", "ts_ms": 3}),
    (s.BatchCreateOrdersRequest, {"orders": [CREATE_REQ, {**CREATE_REQ, "client_order_id": "c-2"}]}),
    (
        s.BatchCreateOrdersResponse,
        {
            "orders": [
                CREATE_RESP,
                {"client_order_id": "c-2", "error": {"code": "order_already_exists", "message": "duplicate"}},
            ]
        },
    ),
    (
        s.BatchCancelOrdersRequest,
        {"orders": [{"order_id": "o-1"}, {"order_id": "o-2", "market_ticker": "KXA-1"}]},
    ),
    (
        s.BatchCancelOrdersResponse,
        {
            "orders": [
                {"order_id": "o-1", "reduced_by": "7.50", "ts_ms": 4},
                {"order_id": "o-2", "reduced_by": "0.00", "error": {"code": "not_found"}},
            ]
        },
    ),
    (s.CreateOrderGroupRequest, {"contracts_limit_fp": "150.00"}),
    (s.CreateOrderGroupResponse, {"order_group_id": "og_1", "subaccount": 0}),
    (
        s.GetOrderGroupsResponse,
        {"order_groups": [{"id": "og_1", "contracts_limit_fp": "150.00", "is_auto_cancel_enabled": True}]},
    ),
    (
        s.GetOrderGroupResponse,
        {"is_auto_cancel_enabled": False, "orders": ["o-1"], "contracts_limit_fp": "5.00"},
    ),
    (s.UpdateOrderGroupLimitRequest, {"contracts_limit": 10}),
    (s.EmptyBody, {}),
    (
        s.AccountLimits,
        {
            "usage_tier": "basic",
            "read": {"refill_rate": 200, "bucket_capacity": 200},
            "write": {"refill_rate": 100, "bucket_capacity": 100},
            "grants": [{"exchange_instance": 0, "level": "basic", "source": "default"}],
        },
    ),
    (
        s.EndpointCosts,
        {
            "default_cost": 10,
            "endpoint_costs": [
                {"method": "DELETE", "path": "/portfolio/events/orders/{order_id}", "cost": 2}
            ],
        },
    ),
    (
        s.ErrorResponse,
        {"code": "invalid_order", "message": "bad", "details": "post only cross", "service": "x"},
    ),
    (s.NestedErrorResponse, {"error": {"code": "invalid_order", "details": "post only cross"}}),
    (s.NestedErrorResponse, {"error": "too many requests"}),
    (s.MsgErrorResponse, {"msg": "limit: must be <= 1000"}),
]


@pytest.mark.parametrize(
    ("struct", "doc"), EXAMPLES, ids=[f"{t.__name__}-{i}" for i, (t, _) in enumerate(EXAMPLES)]
)
def test_rest_struct_roundtrip(struct: type, doc: Any) -> None:
    roundtrip(struct, doc)


def test_rest_orderbook_sides_always_encoded() -> None:
    empty = s.GetOrderbookResponse(orderbook_fp=s.OrderbookFp())
    assert json.loads(parse.encode(empty)) == {"orderbook_fp": {"yes_dollars": [], "no_dollars": []}}
    # the demo's {"orderbook_fp": {}} still decodes to two empty ladders
    got = parse.decode_rest(s.GetOrderbookResponse, b'{"orderbook_fp":{}}')
    assert got.orderbook_fp.yes_dollars == [] and got.orderbook_fp.no_dollars == []
    snap = parse.snapshot_from_rest(
        "KXA-1",
        parse.decode_rest(
            s.GetOrderbookResponse,
            b'{"orderbook_fp":{"yes_dollars":[["0.0800","300.00"],["0.2200","333.00"]],"no_dollars":[["0.5400","20.00"]]}}',
        ),
        ts_ms=7,
    )
    assert snap.yes == ((800, 30000), (2200, 33300)) and snap.no == ((5400, 2000),) and snap.ts_ms == 7


def test_decrease_needs_exactly_one_of_reduce_by_reduce_to() -> None:
    for body in (b"{}", b'{"reduce_by":"1.00","reduce_to":"0.00"}'):
        with pytest.raises(ProtocolError, match="exactly one of reduce_by / reduce_to"):
            parse.decode_rest(s.DecreaseOrderRequest, body)
    with pytest.raises(ValueError):
        s.DecreaseOrderRequest()


def test_order_and_fill_to_domain() -> None:
    order = parse.order_from_wire(parse.decode_rest(s.Order, json.dumps(ORDER)))
    assert (order.side, order.price, order.initial, order.filled, order.remaining) == (
        "bid",
        3500,
        1000,
        250,
        750,
    )
    assert order.status == "resting" and order.fees == 10_000
    assert order.created_ms == 1786398369379 and order.updated_ms == 1786398370000
    fill = parse.fill_from_wire(parse.decode_rest(s.Fill, json.dumps(FILL)))
    assert (fill.side, fill.price, fill.count, fill.fee, fill.ts_ms) == (
        "ask",
        5200,
        100,
        17500,
        1786398369000,
    )
    assert fill.signed_count == -100
    with pytest.raises(ProtocolError, match="unknown order status 'pending'"):
        parse.order_from_wire(parse.decode_rest(s.Order, json.dumps({**ORDER, "status": "pending"})))


def test_position_from_wire() -> None:
    resp = parse.decode_rest(s.GetPositionsResponse, json.dumps(EXAMPLES[9][1]))
    pos = parse.position_from_wire(resp.market_positions[0])
    assert (pos.ticker, pos.position, pos.realized_pnl, pos.fees_paid) == ("KXA-1", -1250, -120_000, 30_000)


def test_error_bodies_all_shapes() -> None:
    info = parse.decode_error_body(b'{"code":"market_not_found","message":"no such market"}')
    assert (info.code, info.message) == ("market_not_found", "no such market")
    info = parse.decode_error_body(b'{"error":{"code":"invalid_order","details":"post only cross"}}')
    assert (info.code, info.details) == ("invalid_order", "post only cross")
    info = parse.decode_error_body(b'{"error":"too many requests"}')
    assert (info.code, info.message) == ("", "too many requests")
    info = parse.decode_error_body(b'{"msg":"limit out of range"}')
    assert info.message == "limit out of range"
    info = parse.decode_error_body(b"<html>502 Bad Gateway</html>")
    assert info.message == "<html>502 Bad Gateway</html>" and info.code == ""
    info = parse.decode_error_body(b'{"error":{"code":"bad_request","details":{"field":"count"}}}')
    assert info.code == "bad_request" and json.loads(info.details) == {"field": "count"}


def test_rest_malformed_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="GetMarketResponse: malformed JSON"):
        parse.decode_rest(s.GetMarketResponse, b'{"market": ')


# -- real GET /events/{event_ticker} responses -----------------------------------------------------


def _metadata() -> list[dict[str, Any]]:
    files = sorted((GOLD / "metadata").glob("*.json"))
    assert len(files) == 39
    return [json.loads(p.read_text()) for p in files]


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)


def test_real_event_responses_decode_to_domain_markets() -> None:
    with (GOLD / "MARKETS.csv").open() as f:
        rows = {r["window"]: r for r in csv.DictReader(f)}
    for doc in _metadata():
        assert doc["status"] == 200
        raw = msgspec.json.encode(doc["response"])
        resp = parse.decode_rest(s.GetEventResponse, raw)
        assert resp.event.series_ticker == "KXGOLD15M"
        assert resp.event.settlement_sources and resp.event.settlement_sources[0].name == "Pyth - Gold"
        (wire,) = resp.markets
        assert wire.price_level_structure == "linear_cent"
        assert parse.decode_rest(s.GetEventResponse, parse.encode(resp)) == resp  # encode round trip
        (market,) = parse.markets_from_event(resp)
        row = rows[market.ticker]
        assert market.event_ticker == row["event_ticker"] and market.series_ticker == "KXGOLD15M"
        assert market.grid == LINEAR_CENT and market.grid.prices == tuple(range(100, 10_000, 100))
        assert market.open_ts_ms == _iso_ms(row["open_time"])
        assert market.close_ts_ms == _iso_ms(row["close_time"])
        assert market.close_ts_ms - market.open_ts_ms == 15 * 60 * 1000
        assert market.status == row["status"] == "finalized"
        assert market.result == row["result"] in ("yes", "no")
        assert market.settlement_value == (10_000 if market.result == "yes" else 0)
        assert market.volume == round(float(row["volume_fp"]) * 100)
        assert market.open_interest == round(float(row["open_interest_fp"]) * 100)
        assert market.can_close_early is True
        assert wire.floor_strike == pytest.approx(float(row["floor_strike"]))


def test_event_response_markets_key_is_required() -> None:
    doc = _metadata()[0]["response"]
    body = json.dumps({"event": doc["event"]}).encode()
    with pytest.raises(ProtocolError) as info:
        parse.decode_rest(s.GetEventResponse, body)
    assert info.value.field == "$.markets"
    # a market with a price field as a JSON number: the path names the market and the field
    bad = {**doc, "markets": [{**doc["markets"][0], "yes_bid_dollars": 0.42}]}
    with pytest.raises(ProtocolError) as info:
        parse.decode_rest(s.GetEventResponse, json.dumps(bad).encode())
    assert info.value.field == "$.markets[0].yes_bid_dollars"
    assert "Expected `str`, got `float` - at `$.markets[0].yes_bid_dollars`" in str(info.value)


def test_time_helpers() -> None:
    assert parse.rfc3339_to_ms("2026-08-10T21:46:09.379425Z") == 1786398369379
    assert parse.rfc3339_to_ms("2026-08-10T23:46:09.379+02:00") == 1786398369379
    assert parse.rfc3339_to_ms("1970-01-01T00:00:00Z") == 0
    assert parse.rfc3339_to_ms("2026-08-10T21:46:09.123456789Z") == 1786398369123
    assert parse.ms_to_rfc3339(1786398369379) == "2026-08-10T21:46:09.379Z"
    assert parse.rfc3339_to_ms(parse.ms_to_rfc3339(1786398369379)) == 1786398369379
    for bad in ("2026-08-10", "yesterday", "2026-13-10T00:00:00Z", ""):
        with pytest.raises(ProtocolError):
            parse.rfc3339_to_ms(bad, "created_time")
