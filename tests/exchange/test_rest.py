"""REST API of the local exchange over real sockets, checked field by field (sections 4-11)."""

from __future__ import annotations

import asyncio
import time

from conftest import (
    EVENT,
    EVENT_POSITION,
    FILL,
    MARKET,
    MARKET_POSITION,
    ORDER,
    SERIES,
    SETTLEMENT,
    TRADE,
    check,
)
from kclient import KClient, sign_headers

from kalshi_mm.exchange.server import ExchangeConfig, run_exchange


async def test_exchange_and_market_data_public(client, ticker):
    r = await client.get("/exchange/status", auth=False)
    assert r.status == 200 and r.json == {"exchange_active": True, "trading_active": True}
    r = await client.get("/exchange/schedule", auth=False)
    sch = r.json["schedule"]
    assert (
        r.status == 200
        and isinstance(sch["standard_hours"], list)
        and isinstance(sch["maintenance_windows"], list)
    )
    assert set(sch["standard_hours"][0]) >= {"start_time", "end_time", "monday", "sunday"}
    r = await client.get("/exchange/user_data_timestamp", auth=False)
    check(r.json, {"as_of_time": "time"})

    r = await client.get("/markets", auth=False)
    assert r.status == 200 and r.json["cursor"] == ""
    for m in r.json["markets"]:
        check(m, MARKET)
        assert m["status"] == "active" and m["result"] == ""
        assert m["price_ranges"] and set(m["price_ranges"][0]) == {"start", "end", "step"}
    r = await client.get(f"/markets/{ticker}", auth=False)
    check(r.json["market"], MARKET)
    assert r.json["market"]["yes_bid_dollars"] == "0.0000" and r.json["market"]["yes_ask_dollars"] == "1.0000"
    r = await client.get("/markets/NOPE-1", auth=False)
    assert r.status == 404 and r.json["error"]["code"] == "market_not_found"

    # pagination: cursor "" on the last page, limits enforced
    r1 = await client.get("/markets", {"limit": 1}, auth=False)
    assert len(r1.json["markets"]) == 1 and r1.json["cursor"]
    r2 = await client.get("/markets", {"limit": 1, "cursor": r1.json["cursor"]}, auth=False)
    assert r2.json["markets"][0]["ticker"] != r1.json["markets"][0]["ticker"] and r2.json["cursor"] == ""
    r = await client.get("/markets", {"limit": 1001}, auth=False)
    assert r.status == 400 and "msg" in r.json
    r = await client.get("/markets", {"cursor": "garbage!!"}, auth=False)
    assert r.status == 200
    r = await client.get("/markets", {"status": "open"}, auth=False)
    assert len(r.json["markets"]) == 2
    r = await client.get("/markets", {"status": "settled"}, auth=False)
    assert r.json["markets"] == []
    r = await client.get("/markets", {"status": "active"}, auth=False)
    assert r.status == 400
    r = await client.get("/markets", {"tickers": ticker}, auth=False)
    assert [m["ticker"] for m in r.json["markets"]] == [ticker]

    # events and series
    r = await client.get("/events", {"with_nested_markets": "true"}, auth=False)
    assert r.status == 200 and r.json["cursor"] == ""
    for e in r.json["events"]:
        check(e, EVENT)
        assert "settlement_sources" in e
        for m in e["markets"]:
            check(m, MARKET)
    r = await client.get("/events", {"limit": 201}, auth=False)
    assert r.status == 400
    et = r1.json["markets"][0]["event_ticker"]
    r = await client.get(f"/events/{et}", auth=False)
    check(r.json["event"], EVENT)
    assert isinstance(r.json["markets"], list) and r.json["markets"]
    assert (await client.get("/events/NOPE", auth=False)).status == 404
    r = await client.get("/series", auth=False)
    assert "cursor" not in r.json
    for s in r.json["series"]:
        check(s, SERIES)
        assert s["tags"] is None or isinstance(s["tags"], list)
    st = r.json["series"][0]["ticker"]
    r = await client.get(f"/series/{st}", auth=False)
    check(r.json["series"], SERIES)
    assert (await client.get("/series/NOPE", auth=False)).status == 404
    for what, key in (("markets", "markets"), ("orders", "orders"), ("fills", "fills"), ("trades", "trades")):
        r = await client.get(f"/historical/{what}", auth=False)
        assert r.status == 200 and r.json[key] == [] and r.json["cursor"] == ""
    assert (await client.get("/historical/cutoff", auth=False)).status == 200


async def test_orderbook_and_trades(client, ex, ticker):
    other = ex.add_user()
    c2 = KClient(ex.base_url, other.api_key_id, other.private_key_pem)
    try:
        assert (await client.order(ticker, "bid", "0.4500", "10.00")).status == 201
        assert (await client.order(ticker, "bid", "0.4400", "5.50")).status == 201
        assert (await c2.order(ticker, "ask", "0.5200", "7.00")).status == 201
        r = await client.get(f"/markets/{ticker}/orderbook", auth=False)
        assert r.json == {
            "orderbook_fp": {
                "yes_dollars": [["0.4400", "5.50"], ["0.4500", "10.00"]],
                "no_dollars": [["0.4800", "7.00"]],
            }
        }
        r = await client.get(f"/markets/{ticker}/orderbook", {"depth": 1}, auth=False)
        assert r.json["orderbook_fp"]["yes_dollars"] == [["0.4500", "10.00"]]
        assert (await client.get(f"/markets/{ticker}/orderbook", {"depth": 101}, auth=False)).status == 400
        tickers = list(ex.state.engine.markets)
        r = await client.get(
            "/markets/orderbooks", [("tickers", tickers[0]), ("tickers", tickers[1])], auth=False
        )
        assert [b["ticker"] for b in r.json["orderbooks"]] == tickers[:2]
        empty = next(b for b in r.json["orderbooks"] if b["ticker"] != ticker)
        assert empty["orderbook_fp"] == {"yes_dollars": [], "no_dollars": []}
        r = await client.get(f"/markets/{ticker}", auth=False)
        m = r.json["market"]
        assert (m["yes_bid_dollars"], m["yes_bid_size_fp"], m["yes_ask_dollars"], m["yes_ask_size_fp"]) == (
            "0.4500",
            "10.00",
            "0.5200",
            "7.00",
        )
        assert (m["no_bid_dollars"], m["no_ask_dollars"]) == ("0.4800", "0.5500")
        # a trade: c2 sells 3 into the 0.45 bid
        r = await c2.order(ticker, "ask", "0.4500", "3.00", time_in_force="immediate_or_cancel")
        assert r.status == 201 and r.json["fill_count"] == "3.00" and r.json["remaining_count"] == "0.00"
        assert r.json["average_fill_price"] == "0.4500"
        r = await client.get("/markets/trades", {"ticker": ticker}, auth=False)
        assert r.json["cursor"] == "" and len(r.json["trades"]) == 1
        t = r.json["trades"][0]
        check(t, TRADE)
        assert (t["yes_price_dollars"], t["no_price_dollars"], t["count_fp"]) == ("0.4500", "0.5500", "3.00")
        assert (t["taker_outcome_side"], t["taker_book_side"]) == ("no", "ask")
        r = await client.get(
            "/markets/trades", {"ticker": ticker, "min_ts": int(time.time()) + 100}, auth=False
        )
        assert r.json["trades"] == []
    finally:
        await c2.close()


async def test_auth_rules(client, ex, ticker):
    r = await client.get("/portfolio/balance", auth=False)
    assert r.status == 401 and r.json["error"]["code"] == "unauthorized"
    path = "/trade-api/v2/portfolio/balance"
    stale = sign_headers(ex.api_key_id, ex.private_key_pem, "GET", path, int(time.time() * 1000) - 30_000)
    async with client.session.get(ex.base_url + path, headers=stale) as resp:
        assert resp.status == 401
    ok_skew = sign_headers(ex.api_key_id, ex.private_key_pem, "GET", path, int(time.time() * 1000) - 3_000)
    async with client.session.get(ex.base_url + path, headers=ok_skew) as resp:
        assert resp.status == 200
    wrong_path = sign_headers(ex.api_key_id, ex.private_key_pem, "GET", "/trade-api/v2/portfolio/orders")
    async with client.session.get(ex.base_url + path, headers=wrong_path) as resp:
        assert resp.status == 401
    # the query string is not signed
    h = sign_headers(ex.api_key_id, ex.private_key_pem, "GET", "/trade-api/v2/portfolio/orders")
    async with client.session.get(ex.base_url + "/trade-api/v2/portfolio/orders?limit=5", headers=h) as resp:
        assert resp.status == 200
    bad_key = dict(h, **{"KALSHI-ACCESS-KEY": "00000000-0000-4000-8000-000000000000"})
    async with client.session.get(ex.base_url + "/trade-api/v2/portfolio/orders", headers=bad_key) as resp:
        assert resp.status == 401
    # Ed25519 keys work too
    ed = ex.add_user(kind="ed25519")
    c3 = KClient(ex.base_url, ed.api_key_id, ed.private_key_pem)
    try:
        assert (await c3.get("/portfolio/balance")).status == 200
    finally:
        await c3.close()
    r = await client.get("/nope/nothing")
    assert r.status == 404 and r.json["error"]["code"] == "not_found"


async def test_order_entry_v2(client, ex, ticker):
    other = ex.add_user()
    c2 = KClient(ex.base_url, other.api_key_id, other.private_key_pem)
    try:
        r = await client.order(ticker, "bid", "0.5600", "10.00", client_order_id="c-1", post_only=True)
        assert r.status == 201
        check(r.json, {"order_id": "id", "fill_count": "qty", "remaining_count": "qty", "ts_ms": "int"})
        assert r.json["client_order_id"] == "c-1" and "average_fill_price" not in r.json
        oid = r.json["order_id"]
        # duplicates: 409 even after cancel
        r = await client.order(ticker, "bid", "0.5000", "1.00", client_order_id="c-1")
        assert r.status == 409 and r.json["error"]["code"] == "order_already_exists"
        # strict typing
        bad = {
            "ticker": ticker,
            "side": "bid",
            "count": 10,
            "price": "0.5000",
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
        }
        r = await client.post("/portfolio/events/orders", bad)
        assert r.status == 400 and r.json["error"]["code"] == "bad_request"
        r = await client.post("/portfolio/events/orders", dict(bad, count="10.00", price=0.5))
        assert r.status == 400
        r = await client.post("/portfolio/events/orders", dict(bad, count="10.00", time_in_force="GTT"))
        assert r.status == 400
        r = await client.post("/portfolio/events/orders", raw_body=b"{not json")
        assert r.status == 400
        r = await client.order(ticker, "bid", "0.5650", "1.00")
        assert r.status == 400 and r.json["error"]["code"] == "invalid_order"  # off the cent grid
        r = await client.order("NOPE-1", "bid", "0.5000", "1.00")
        assert r.status == 404 and r.json["error"]["code"] == "market_not_found"
        r = await client.order(
            ticker,
            "bid",
            "0.5000",
            "1.00",
            time_in_force="immediate_or_cancel",
            expiration_time=int(time.time()) + 60,
        )
        assert r.status == 400
        r = await client.order(ticker, "bid", "0.5000", "1.00", expiration_time=int(time.time()) - 60)
        assert r.status == 400
        r = await client.order(ticker, "bid", "0.9900", "1000000.00")
        assert r.status == 400 and r.json["error"]["code"] == "insufficient_balance"
        # post only cross
        r = await c2.order(ticker, "ask", "0.5600", "1.00", post_only=True)
        assert r.status == 400 and r.json["error"] == {
            "code": "invalid_order",
            "message": "post only cross",
            "details": "post only cross",
        }
        # STP taker_at_cross: 201 with fill 0 / remaining 0
        r = await client.order(ticker, "ask", "0.5000", "2.00")
        assert r.status == 201 and r.json["fill_count"] == "0.00" and r.json["remaining_count"] == "0.00"
        # amend: count = new total; decrease; queue position
        r = await client.post(
            f"/portfolio/events/orders/{oid}/amend",
            {
                "ticker": ticker,
                "side": "bid",
                "price": "0.5700",
                "count": "12.00",
                "updated_client_order_id": "c-1b",
            },
        )
        assert r.status == 200 and r.json["order_id"] == oid and r.json["remaining_count"] == "12.00"
        assert r.json["client_order_id"] == "c-1b"
        r = await client.post(f"/portfolio/events/orders/{oid}/decrease", {"reduce_by": "2.00"})
        assert r.status == 200 and r.json["remaining_count"] == "10.00"
        check(r.json, {"order_id": "id", "remaining_count": "qty", "ts_ms": "int"})
        r = await client.post(
            f"/portfolio/events/orders/{oid}/decrease", {"reduce_by": "1.00", "reduce_to": "1.00"}
        )
        assert r.status == 400
        r = await c2.order(ticker, "bid", "0.5700", "4.00")
        oid2 = r.json["order_id"]
        r = await c2.get(f"/portfolio/orders/{oid2}/queue_position")
        assert r.json == {"queue_position_fp": "10.00"}
        r = await c2.get("/portfolio/orders/queue_positions", {"market_tickers": ticker})
        assert r.json["queue_positions"] == [
            {"order_id": oid2, "market_ticker": ticker, "queue_position_fp": "10.00"}
        ]
        # fill against it: c2 sells 4 at 0.57 -> hits our order first (price-time)
        r = await c2.order(
            ticker, "ask", "0.5700", "4.00", time_in_force="fill_or_kill", self_trade_prevention_type="maker"
        )
        assert r.status == 201
        # FOK that cannot fill entirely: canceled with nothing filled
        r = await c2.order(
            ticker,
            "ask",
            "0.5700",
            "500.00",
            time_in_force="fill_or_kill",
            self_trade_prevention_type="maker",
        )
        assert r.status == 201 and r.json["fill_count"] == "0.00" and r.json["remaining_count"] == "0.00"
        r = await client.get(f"/portfolio/orders/{oid}")
        o = r.json["order"]
        check(o, ORDER)
        assert (o["status"], o["fill_count_fp"], o["remaining_count_fp"], o["client_order_id"]) == (
            "resting",
            "4.00",
            "6.00",
            "c-1b",
        )
        assert (o["outcome_side"], o["book_side"], o["yes_price_dollars"], o["no_price_dollars"]) == (
            "yes",
            "bid",
            "0.5700",
            "0.4300",
        )
        assert o["maker_fill_cost_dollars"] == "2.280000"
        # cancel: 200, then 404 on the dead order
        r = await client.delete(f"/portfolio/events/orders/{oid}")
        assert r.status == 200 and r.json["reduced_by"] == "6.00" and r.json["order_id"] == oid
        check(r.json, {"order_id": "id", "reduced_by": "qty", "ts_ms": "int"})
        r = await client.delete(f"/portfolio/events/orders/{oid}")
        assert r.status == 404 and r.json["error"]["code"] == "not_found"
        assert (await client.get("/portfolio/orders/00000000-0000-4000-8000-000000000000")).status == 404
        # batch create (per-item errors inline) and batch cancel
        items = [
            {
                "ticker": ticker,
                "side": "bid",
                "price": "0.3000",
                "count": "1.00",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
                "client_order_id": "b-1",
            },
            {
                "ticker": ticker,
                "side": "bid",
                "price": "0.3000",
                "count": "1.00",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
                "client_order_id": "b-1",
            },
            {
                "ticker": "NOPE-1",
                "side": "bid",
                "price": "0.3000",
                "count": "1.00",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
            },
        ]
        r = await client.post("/portfolio/events/orders/batched", {"orders": items})
        assert r.status == 201 and len(r.json["orders"]) == 3
        a, b, c = r.json["orders"]
        assert a["client_order_id"] == "b-1" and "error" not in a and a["remaining_count"] == "1.00"
        assert b["error"]["code"] == "order_already_exists" and "order_id" not in b
        assert c["error"]["code"] == "market_not_found"
        r = await client.delete(
            "/portfolio/events/orders/batched",
            {"orders": [{"order_id": a["order_id"]}, {"order_id": "00000000-0000-4000-8000-000000000000"}]},
        )
        assert r.status == 200
        x, y = r.json["orders"]
        assert x == {
            "order_id": a["order_id"],
            "reduced_by": "1.00",
            "client_order_id": "b-1",
            "ts_ms": x["ts_ms"],
        }
        assert y["error"]["code"] == "not_found"
        # cancel all: 204, no body
        await client.order(ticker, "bid", "0.3000", "1.00")
        await client.order(ticker, "bid", "0.3100", "1.00")
        r = await client.delete("/portfolio/events/orders")
        assert r.status == 204 and r.raw == b""
        r = await client.get("/portfolio/orders", {"status": "resting"})
        assert r.json["orders"] == [] and r.json["cursor"] == ""
        # legacy V1 endpoints: 410
        for method, path in (
            ("POST", "/portfolio/orders"),
            ("DELETE", f"/portfolio/orders/{oid}"),
            ("POST", f"/portfolio/orders/{oid}/amend"),
            ("POST", f"/portfolio/orders/{oid}/decrease"),
            ("POST", "/portfolio/orders/batched"),
            ("DELETE", "/portfolio/orders/batched"),
        ):
            r = await client.request(method, path, body={})
            assert r.status == 410 and r.json["error"]["code"] == "deprecated_v1_order_endpoint", (
                method,
                path,
            )
        # the exchange logged every order request of the user, none of the (never sent) other one
        log = ex.state.engine.accounts[ex.state.keys[ex.api_key_id][0]].log
        assert len(log) > 10 and all({"ts_ms", "method", "path", "status"} <= set(e) for e in log)
        fresh = ex.add_user()
        assert ex.state.engine.accounts[fresh.user_id].log == []
    finally:
        await c2.close()


async def test_portfolio_reads(client, ex, ticker):
    other = ex.add_user()
    c2 = KClient(ex.base_url, other.api_key_id, other.private_key_pem)
    try:
        r = await client.get("/portfolio/balance")
        assert r.json["balance"] == 10_000_000 and r.json["balance_dollars"] == "100000.000000"
        check(
            r.json,
            {"balance": "int", "portfolio_value": "int", "updated_ts": "int", "balance_dollars": "money"},
        )
        await c2.order(ticker, "ask", "0.4000", "10.00")
        r = await client.order(ticker, "bid", "0.4000", "10.00", time_in_force="immediate_or_cancel")
        oid = r.json["order_id"]
        assert r.json["average_fee_paid"] == "0.016800"  # 0.07 * 0.4 * 0.6 rounded up per 10 contracts / 10
        r = await client.get("/portfolio/balance")
        assert r.json["balance"] == 10_000_000 - 400 - 17  # $4 cost + $0.168 fee -> floor cents
        assert r.json["portfolio_value"] == 400
        r = await client.get("/portfolio/positions")
        assert r.json["cursor"] == ""
        (mp,) = r.json["market_positions"]
        check(mp, MARKET_POSITION)
        assert (mp["ticker"], mp["position_fp"], mp["market_exposure_dollars"], mp["fees_paid_dollars"]) == (
            ticker,
            "10.00",
            "4.000000",
            "0.168000",
        )
        (ep,) = r.json["event_positions"]
        check(ep, EVENT_POSITION)
        r2 = await c2.get("/portfolio/positions", {"count_filter": "position"})
        assert r2.json["market_positions"][0]["position_fp"] == "-10.00"
        assert (await client.get("/portfolio/positions", {"settlement_status": "bogus"})).status == 400
        assert (await client.get("/portfolio/positions", {"settlement_status": "settled"})).json[
            "market_positions"
        ] == []
        r = await client.get("/portfolio/fills")
        (f,) = r.json["fills"]
        check(f, FILL)
        assert (f["order_id"], f["is_taker"], f["count_fp"], f["fee_cost"], f["trade_id"]) == (
            oid,
            True,
            "10.00",
            "0.168000",
            f["fill_id"],
        )
        assert (await client.get("/portfolio/fills", {"order_id": "x"})).json["fills"] == []
        r = await client.get("/portfolio/orders", {"ticker": ticker, "status": "executed", "limit": 1})
        assert [o["order_id"] for o in r.json["orders"]] == [oid] and r.json["cursor"] == ""
        assert (await client.get("/portfolio/orders", {"status": "open"})).status == 400
        # settlement
        async with client.session.post(
            f"{ex.base_url}/admin/markets/{ticker}/determine", json={"result": "yes"}
        ) as resp:
            assert resp.status == 200
        async with client.session.post(f"{ex.base_url}/admin/markets/{ticker}/settle", json={}) as resp:
            assert resp.status == 200
        r = await client.get("/portfolio/settlements")
        (s,) = r.json["settlements"]
        check(s, SETTLEMENT)
        assert (s["market_result"], s["yes_count_fp"], s["revenue"], s["value"]) == (
            "yes",
            "10.00",
            1000,
            100,
        )
        r = await client.get("/portfolio/balance")
        assert r.json["balance"] == 10_000_000 - 400 - 17 + 1000
        r = await client.get("/portfolio/positions", {"settlement_status": "settled"})
        assert r.json["market_positions"][0]["position_fp"] == "0.00"
        r = await client.get(f"/markets/{ticker}", auth=False)
        m = r.json["market"]
        assert (m["status"], m["result"], m["settlement_value_dollars"]) == ("finalized", "yes", "1.0000")
        r = await client.order(ticker, "bid", "0.4000", "1.00")
        assert r.status == 400 and r.json["error"]["code"] == "market_not_active"
    finally:
        await c2.close()


async def test_order_groups(client, ex, ticker):
    other = ex.add_user()
    c2 = KClient(ex.base_url, other.api_key_id, other.private_key_pem)
    try:
        r = await client.post("/portfolio/order_groups/create", {"contracts_limit": 5})
        assert r.status == 201 and r.json["subaccount"] == 0
        gid = r.json["order_group_id"]
        r = await client.get("/portfolio/order_groups")
        assert r.json["order_groups"] == [
            {"id": gid, "is_auto_cancel_enabled": True, "contracts_limit_fp": "5.00", "exchange_index": 0}
        ]
        r = await client.order(ticker, "bid", "0.4000", "3.00", order_group_id=gid)
        o1 = r.json["order_id"]
        r = await client.order(ticker, "bid", "0.3900", "10.00", order_group_id=gid)
        o2 = r.json["order_id"]
        r = await client.get(f"/portfolio/order_groups/{gid}")
        assert r.json["orders"] == [o1, o2] and r.json["contracts_limit_fp"] == "5.00"
        r = await client.put(f"/portfolio/order_groups/{gid}/limit", {"contracts_limit_fp": "4.00"})
        assert r.status == 200 and r.json == {}
        r = await c2.order(ticker, "ask", "0.3900", "5.00", time_in_force="immediate_or_cancel")
        assert r.json["fill_count"] == "5.00"  # 3 at 0.40, 2 at 0.39 -> 5 >= 4: triggered
        r = await client.get(f"/portfolio/orders/{o2}")
        assert r.json["order"]["status"] == "canceled"
        r = await client.order(ticker, "bid", "0.3000", "1.00", order_group_id=gid)
        assert r.status == 400
        assert (await client.put(f"/portfolio/order_groups/{gid}/reset", {})).json == {}
        assert (await client.order(ticker, "bid", "0.3000", "1.00", order_group_id=gid)).status == 201
        assert (await client.put(f"/portfolio/order_groups/{gid}/trigger", {})).status == 200
        assert (await client.get(f"/portfolio/order_groups/{gid}")).json["orders"] == []
        assert (await client.delete(f"/portfolio/order_groups/{gid}")).json == {}
        assert (await client.get(f"/portfolio/order_groups/{gid}")).status == 404
        assert (await client.post("/portfolio/order_groups/create", {"contracts_limit": 0})).status == 400
    finally:
        await c2.close()


async def test_account_limits_and_rate_limits():
    async with run_exchange(ExchangeConfig(seed=3, flow=False, markets=1, tier="basic")) as ex:
        c = KClient(ex.base_url, ex.api_key_id, ex.private_key_pem)
        try:
            r = await c.get("/account/limits")
            assert r.json == {
                "usage_tier": "basic",
                "read": {"refill_rate": 200, "bucket_capacity": 200},
                "write": {"refill_rate": 100, "bucket_capacity": 100},
                "grants": [],
            }
            r = await c.get("/account/endpoint_costs")
            assert r.json["default_cost"] == 10
            assert {"method": "DELETE", "path": "/portfolio/events/orders/{order_id}", "cost": 2} in r.json[
                "endpoint_costs"
            ]
            # write bucket: 100 tokens, creates cost 10 -> the 11th burst create is 429
            t = next(iter(ex.state.engine.markets))
            t0 = time.monotonic()
            statuses = [(await c.order(t, "bid", "0.0100", "1.00")).status for _ in range(30)]
            elapsed = time.monotonic() - t0
            assert statuses[:10] == [201] * 10 and 429 in statuses
            assert statuses.count(201) <= 10 + elapsed * 100 / 10 + 1
            r = await c.order(t, "bid", "0.0100", "1.00")
            assert r.status == 429 and r.json == {"error": "too many requests"}
            await asyncio.sleep(0.15)  # 15 tokens refilled
            assert (await c.order(t, "bid", "0.0100", "1.00")).status == 201
        finally:
            await c.close()
