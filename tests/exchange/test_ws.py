"""WebSocket API of the local exchange: handshake auth, commands, error codes, every channel,
per-sid seq, pings, and a WS-maintained book that agrees with REST after thousands of operations."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
import websockets
from conftest import check
from kclient import KClient, KWs, sign_headers

from kalshi_mm.exchange.server import ExchangeConfig, run_exchange


async def test_handshake_requires_auth(ex):
    url = ex.ws_url
    with pytest.raises(websockets.InvalidStatus) as e:
        await websockets.connect(url)
    assert e.value.response.status_code == 401
    bad = sign_headers(ex.api_key_id, ex.private_key_pem, "GET", "/trade-api/v2/portfolio/balance")
    with pytest.raises(websockets.InvalidStatus) as e:
        await websockets.connect(url, additional_headers=bad)
    assert e.value.response.status_code == 401


async def test_commands_and_error_codes(ex, ticker):
    w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
    try:

        async def ask(obj):
            await w.conn.send(obj if isinstance(obj, str) else __import__("json").dumps(obj))
            return await w.recv()

        assert (await ask("not json"))["msg"]["code"] == 1
        assert (await ask({"id": 1, "cmd": "dance"})) == {
            "id": 1,
            "type": "error",
            "msg": {"code": 5, "msg": "Unknown command"},
        }
        assert (await ask({"id": 2, "cmd": "subscribe"}))["msg"]["code"] == 2
        assert (await ask({"id": 3, "cmd": "subscribe", "params": {"channels": []}}))["msg"]["code"] == 3
        assert (await ask({"id": 4, "cmd": "subscribe", "params": {"channels": ["nope"]}}))["msg"][
            "code"
        ] == 8
        assert (await ask({"id": 5, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}))["msg"][
            "code"
        ] == 14
        assert (
            await ask(
                {
                    "id": 6,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_tickers": ["NOPE-1"]},
                }
            )
        )["msg"]["code"] == 16
        r = await ask(
            {
                "id": 7,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_tickers": [ticker]},
            }
        )
        assert r == {"id": 7, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
        snap = await w.recv()
        assert snap["type"] == "orderbook_snapshot" and snap["sid"] == 1 and snap["seq"] == 1
        assert (
            snap["msg"]["market_ticker"] == ticker and "yes_dollars_fp" not in snap["msg"]
        )  # empty side omitted
        r = await ask(
            {
                "id": 8,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_tickers": [ticker]},
            }
        )
        assert r["type"] == "error" and r["msg"]["code"] == 6 and r["id"] == 8
        r = await ask({"id": 9, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}})
        assert r["msg"] == {"channel": "market_lifecycle_v2", "sid": 2}
        r = await ask({"id": 10, "cmd": "list_subscriptions"})
        assert r == {
            "id": 10,
            "type": "ok",
            "msg": [{"channel": "orderbook_delta", "sid": 1}, {"channel": "market_lifecycle_v2", "sid": 2}],
        }
        other = next(t for t in ex.state.engine.markets if t != ticker)
        assert (
            await ask(
                {
                    "id": 11,
                    "cmd": "update_subscription",
                    "params": {"sids": [1, 2], "action": "add_markets", "market_tickers": [other]},
                }
            )
        )["msg"]["code"] == 12
        assert (
            await ask(
                {"id": 12, "cmd": "update_subscription", "params": {"sid": 1, "market_tickers": [other]}}
            )
        )["msg"]["code"] == 15
        assert (
            await ask(
                {
                    "id": 13,
                    "cmd": "update_subscription",
                    "params": {"sid": 1, "action": "explode", "market_tickers": [other]},
                }
            )
        )["msg"]["code"] == 13
        assert (
            await ask(
                {
                    "id": 14,
                    "cmd": "update_subscription",
                    "params": {"sid": 99, "action": "add_markets", "market_tickers": [other]},
                }
            )
        )["msg"]["code"] == 7
        assert (
            await ask({"id": 15, "cmd": "update_subscription", "params": {"sid": 1, "action": "add_markets"}})
        )["msg"]["code"] == 14
        assert (await ask({"id": 16, "cmd": "update_subscription", "params": {"action": "add_markets"}}))[
            "msg"
        ]["code"] == 4
        await w.send(
            {
                "id": 17,
                "cmd": "update_subscription",
                "params": {"sid": 1, "action": "add_markets", "market_tickers": [other]},
            }
        )
        snap2 = await w.recv()
        assert (
            snap2["type"] == "orderbook_snapshot"
            and snap2["seq"] == 2
            and snap2["msg"]["market_ticker"] == other
        )
        ok = await w.recv()
        assert ok == {
            "id": 17,
            "type": "ok",
            "sid": 1,
            "seq": 2,
            "msg": {"market_tickers": sorted([ticker, other])},
        }
        await w.send(
            {
                "id": 18,
                "cmd": "update_subscription",
                "params": {"sids": [1], "action": "get_snapshot", "market_tickers": [ticker]},
            }
        )
        snap3 = await w.recv()
        assert snap3["type"] == "orderbook_snapshot" and snap3["seq"] == 3
        ok = await w.recv()
        assert ok["id"] == 18 and ok["type"] == "ok"
        await w.send(
            {
                "id": 19,
                "cmd": "update_subscription",
                "params": {"sid": 1, "action": "delete_markets", "market_tickers": [other]},
            }
        )
        assert (await w.recv())["msg"] == {"market_tickers": [ticker]}
        assert (await ask({"id": 20, "cmd": "unsubscribe"}))["msg"]["code"] == 2
        assert (await ask({"id": 21, "cmd": "unsubscribe", "params": {}}))["msg"]["code"] == 4
        assert (await ask({"id": 22, "cmd": "unsubscribe", "params": {"sids": [42]}}))["msg"]["code"] == 7
        r = await ask({"id": 23, "cmd": "unsubscribe", "params": {"sids": [1]}})
        assert r == {"id": 23, "type": "unsubscribed", "sid": 1, "seq": 3}
        assert (await ask({"id": 24, "cmd": "list_subscriptions"}))["msg"] == [
            {"channel": "market_lifecycle_v2", "sid": 2}
        ]
    finally:
        await w.close()


async def test_every_channel(ex, client, ticker):
    other = ex.add_user()
    c2 = KClient(ex.base_url, other.api_key_id, other.private_key_pem)
    w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
    w2 = await KWs.connect(ex.base_url, other.api_key_id, other.private_key_pem)
    try:
        chans = [
            "orderbook_delta",
            "ticker",
            "trade",
            "fill",
            "user_orders",
            "market_positions",
            "market_lifecycle_v2",
            "order_group_updates",
        ]
        await w.send({"id": 1, "cmd": "subscribe", "params": {"channels": chans, "market_tickers": [ticker]}})
        await w2.send(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {
                    "channels": ["orderbook_delta"],
                    "market_tickers": [ticker],
                    "use_yes_price": True,
                },
            }
        )
        sids = {}
        got = []
        while len(sids) < len(chans):
            m = await w.recv()
            if m["type"] == "subscribed":
                sids[m["msg"]["channel"]] = m["msg"]["sid"]
            else:
                got.append(m)
        assert len(set(sids.values())) == len(chans)
        await w2.recv_until(lambda m: m["type"] == "orderbook_snapshot")
        r = await client.post("/portfolio/order_groups/create", {"contracts_limit_fp": "100.00"})
        gid = r.json["order_group_id"]
        r = await client.order(ticker, "bid", "0.4500", "10.00", client_order_id="mine-1", order_group_id=gid)
        oid = r.json["order_id"]
        r = await c2.order(
            ticker, "ask", "0.4500", "4.00", client_order_id="theirs-1", time_in_force="immediate_or_cancel"
        )
        tid_expected = None
        msgs: dict[str, list] = {}

        async def collect(n_types):
            while not all(t in msgs for t in n_types):
                m = await w.recv()
                msgs.setdefault(m["type"], []).append(m)

        await collect(
            [
                "orderbook_delta",
                "ticker",
                "trade",
                "fill",
                "user_order",
                "market_position",
                "order_group_updates",
            ]
        )
        d = msgs["orderbook_delta"]
        assert (
            d[0]["msg"]["client_order_id"] == "mine-1"
            and d[0]["msg"]["delta_fp"] == "10.00"
            and d[0]["msg"]["side"] == "yes"
        )
        check(
            d[0]["msg"],
            {
                "market_ticker": "str",
                "price_dollars": "price",
                "delta_fp": "qty",
                "side": "str",
                "ts_ms": "int",
            },
        )
        assert all(x["sid"] == sids["orderbook_delta"] for x in d)
        await collect(["orderbook_delta"])
        while len(msgs["orderbook_delta"]) < 2:
            m = await w.recv()
            msgs.setdefault(m["type"], []).append(m)
        d2 = msgs["orderbook_delta"][1]["msg"]
        assert (
            d2["delta_fp"] == "-4.00" and d2["client_order_id"] == "mine-1"
        )  # our order was reduced by the fill
        seqs = [x["seq"] for x in msgs["orderbook_delta"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        (tr,) = msgs["trade"]
        check(
            tr["msg"],
            {
                "trade_id": "str",
                "market_ticker": "str",
                "yes_price_dollars": "price",
                "no_price_dollars": "price",
                "count_fp": "qty",
                "taker_outcome_side": "str",
                "taker_book_side": "str",
                "ts": "int",
                "ts_ms": "int",
            },
        )
        tid_expected = tr["msg"]["trade_id"]
        f = msgs["fill"][0]["msg"]
        check(
            f,
            {
                "trade_id": "str",
                "order_id": "id",
                "market_ticker": "str",
                "is_taker": "bool",
                "outcome_side": "str",
                "book_side": "str",
                "yes_price_dollars": "price",
                "count_fp": "qty",
                "fee_cost": "money",
                "post_position_fp": "qty",
                "ts_ms": "int",
            },
        )
        assert (f["order_id"], f["client_order_id"], f["is_taker"], f["post_position_fp"], f["trade_id"]) == (
            oid,
            "mine-1",
            False,
            "4.00",
            tid_expected,
        )
        uo = msgs["user_order"][0]["msg"]
        check(
            uo,
            {
                "order_id": "id",
                "user_id": "str",
                "ticker": "str",
                "status": "str",
                "outcome_side": "str",
                "book_side": "str",
                "yes_price_dollars": "price",
                "fill_count_fp": "qty",
                "remaining_count_fp": "qty",
                "initial_count_fp": "qty",
                "created_ts_ms": "int",
            },
        )
        assert uo["status"] == "resting" and uo["client_order_id"] == "mine-1"
        mp = msgs["market_position"][0]["msg"]
        check(
            mp,
            {
                "user_id": "str",
                "market_ticker": "str",
                "position_fp": "qty",
                "position_cost_dollars": "money",
                "realized_pnl_dollars": "money",
                "fees_paid_dollars": "money",
            },
        )
        assert mp["position_fp"] == "4.00"
        tk = msgs["ticker"][-1]["msg"]
        check(
            tk,
            {
                "market_ticker": "str",
                "price_dollars": "price",
                "yes_bid_dollars": "price",
                "yes_ask_dollars": "price",
                "volume_fp": "qty",
                "open_interest_fp": "qty",
                "ts": "int",
                "ts_ms": "int",
            },
        )
        og = msgs["order_group_updates"][0]
        assert (
            og["msg"]["event_type"] == "created"
            and og["msg"]["contracts_limit_fp"] == "100.00"
            and og["seq"] == 1
        )
        # the other user's book view: no client_order_id of ours, NO levels on the YES scale
        m2 = await w2.recv_until(lambda m: m["type"] == "orderbook_delta")
        assert "client_order_id" not in m2["msg"]
        # lifecycle: pause/resume, determine, settle
        for action, body in (("pause", {}), ("resume", {}), ("determine", {"result": "no"}), ("settle", {})):
            async with client.session.post(
                f"{ex.base_url}/admin/markets/{ticker}/{action}", json=body
            ) as resp:
                assert resp.status == 200
        life = []
        while len(life) < 4:
            m = await w.recv()
            if m["type"] == "market_lifecycle_v2":
                life.append(m)
        assert [x["msg"]["event_type"] for x in life] == ["deactivated", "activated", "determined", "settled"]
        assert life[0]["msg"]["is_deactivated"] is True and life[2]["msg"]["result"] == "no"
        assert life[2]["msg"]["settlement_value"] == "0.0000" and isinstance(
            life[2]["msg"]["determination_ts"], int
        )
        assert [x["seq"] for x in life] == list(range(life[0]["seq"], life[0]["seq"] + 4))
    finally:
        await w.close()
        await w2.close()
        await c2.close()


async def test_pings_every_interval():
    async with run_exchange(ExchangeConfig(seed=2, flow=False, markets=1, ping_interval_s=0.2)) as ex:
        w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
        pings = []
        orig = w.conn.protocol.receive_data if hasattr(w.conn, "protocol") else None
        # websockets answers pings itself; observe them through its frame log
        from websockets.frames import Opcode

        protocol = w.conn.protocol
        real = protocol.recv_frame

        def spy(frame):
            if frame.opcode is Opcode.PING:
                pings.append(bytes(frame.data))
            return real(frame)

        protocol.recv_frame = spy
        await asyncio.sleep(0.75)
        with pytest.raises(asyncio.TimeoutError):
            await w.recv(timeout=0.05)
        assert len(pings) >= 2 and set(pings) == {b"heartbeat"}
        assert orig is None or orig
        await w.close()


def _apply(book, side, price, delta):
    lvl = book[side]
    lvl[price] = lvl.get(price, Decimal(0)) + Decimal(delta)
    assert lvl[price] >= 0, (side, price, lvl[price])
    if lvl[price] == 0:
        del lvl[price]


@pytest.mark.slow
async def test_ws_book_agrees_with_rest_after_thousands_of_operations():
    cfg = ExchangeConfig(seed=11, flow=True, flow_speed=20, markets=2, tier="prime", rate_limits=False)
    async with run_exchange(cfg) as ex:
        tickers = [t for t, m in ex.state.engine.markets.items() if m.status == "active"]
        users = [ex.add_user() for _ in range(2)]
        clients = [KClient(ex.base_url, u.api_key_id, u.private_key_pem) for u in users]
        w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
        books = {t: {"yes": {}, "no": {}} for t in tickers}
        last_seq = None

        def on(m):
            nonlocal last_seq
            if m["type"] == "orderbook_snapshot":
                b = books[m["msg"]["market_ticker"]]
                b["yes"] = {p: Decimal(q) for p, q in m["msg"].get("yes_dollars_fp", [])}
                b["no"] = {p: Decimal(q) for p, q in m["msg"].get("no_dollars_fp", [])}
            elif m["type"] == "orderbook_delta":
                _apply(
                    books[m["msg"]["market_ticker"]],
                    m["msg"]["side"],
                    m["msg"]["price_dollars"],
                    m["msg"]["delta_fp"],
                )
            if "seq" in m:
                assert last_seq is None or m["seq"] == last_seq + 1
                last_seq = m["seq"]

        async def reader():
            while True:
                on(await w.recv(timeout=30))

        await w.send(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_tickers": tickers},
            }
        )
        task = asyncio.create_task(reader())
        rng = random.Random(5)
        live: list[tuple[int, str]] = []
        ops = 0
        try:
            while ops < 2000:
                batch = []
                for _ in range(10):
                    i = rng.randrange(2)
                    c = clients[i]
                    t = rng.choice(tickers)
                    r = rng.random()
                    if r < 0.55 or not live:
                        price = f"0.{rng.randint(5, 95):02d}00"
                        batch.append(
                            (
                                "new",
                                i,
                                c.order(
                                    t,
                                    rng.choice(["bid", "ask"]),
                                    price,
                                    f"{rng.randint(1, 3000) / 100:.2f}",
                                    time_in_force=rng.choice(
                                        ["good_till_canceled"] * 3 + ["immediate_or_cancel"]
                                    ),
                                    self_trade_prevention_type=rng.choice(["maker", "taker_at_cross"]),
                                ),
                            )
                        )
                    elif r < 0.85:
                        j, oid = live.pop(rng.randrange(len(live)))
                        batch.append(("x", j, clients[j].delete(f"/portfolio/events/orders/{oid}")))
                    else:
                        j, oid = live[rng.randrange(len(live))]
                        batch.append(
                            (
                                "x",
                                j,
                                clients[j].post(
                                    f"/portfolio/events/orders/{oid}/decrease", {"reduce_by": "0.50"}
                                ),
                            )
                        )
                results = await asyncio.gather(*(b[2] for b in batch))
                for (kind, i, _), res in zip(batch, results, strict=True):
                    ops += 1
                    if kind == "new" and res.status == 201 and res.json["remaining_count"] != "0.00":
                        live.append((i, res.json["order_id"]))
            ex.state.flow = None  # freeze the market so both views can be compared at rest
            await asyncio.sleep(0.2)
            while True:  # wait until the feed is drained
                before = last_seq
                await asyncio.sleep(0.3)
                if last_seq == before:
                    break
            for t in tickers:
                r = await clients[0].get(f"/markets/{t}/orderbook", auth=False)
                ob = r.json["orderbook_fp"]
                assert {p: Decimal(q) for p, q in ob["yes_dollars"]} == books[t]["yes"]
                assert {p: Decimal(q) for p, q in ob["no_dollars"]} == books[t]["no"]
                assert books[t]["yes"] or books[t]["no"]
            assert ex.state.engine.audit() == []
        finally:
            task.cancel()
            await w.close()
            for c in clients:
                await c.close()
