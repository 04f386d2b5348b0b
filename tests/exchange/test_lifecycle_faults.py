"""Market lifecycle end to end (close -> determined -> finalized, payouts), flow determinism,
and fault injection (429/500, dropped sockets, seq gaps, stalls, paused markets)."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from kclient import KClient, KWs

from kalshi_mm.domain.units import MONEY_PER_CENT
from kalshi_mm.exchange.flow import DEFAULT_SERIES, FlowParams, MarketScheduler, SyntheticFlow
from kalshi_mm.exchange.matching import MatchingEngine
from kalshi_mm.exchange.server import ExchangeConfig, Faults, run_exchange


async def test_market_closes_determines_and_settles_on_its_own():
    cfg = ExchangeConfig(
        seed=4,
        flow=True,
        flow_speed=3,
        markets=1,
        market_seconds=2.5,
        determine_delay_s=0.3,
        settlement_timer_s=1,
    )
    async with run_exchange(cfg) as ex:
        eng = ex.state.engine
        t = next(iter(eng.markets))
        c = KClient(ex.base_url, ex.api_key_id, ex.private_key_pem)
        w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
        try:
            await w.send({"cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2", "user_orders"]}})
            await asyncio.sleep(0.3)
            book = (await c.get(f"/markets/{t}/orderbook", auth=False)).json["orderbook_fp"]
            assert book["yes_dollars"] and book["no_dollars"]  # liquidity providers quote
            best_ask = 1 - float(book["no_dollars"][-1][0])
            r = await c.order(t, "bid", f"{best_ask:.4f}", "5.00", time_in_force="immediate_or_cancel")
            bought = r.json["fill_count"]
            resting = await c.order(t, "bid", "0.0100", "2.00")
            assert resting.status == 201
            acct = eng.accounts[ex.state.keys[ex.api_key_id][0]]
            cash_before = acct.portfolio.cash
            qty = acct.portfolio.qty(t)
            assert qty == int(float(bought) * 100)
            events = []
            while not any(
                m["type"] == "market_lifecycle_v2"
                and m["msg"]["event_type"] == "settled"
                and m["msg"]["market_ticker"] == t
                for m in events
            ):
                events.append(await w.recv(timeout=10))
            m = eng.markets[t]
            assert m.status == "finalized" and m.result in ("yes", "no")
            canceled = [
                e
                for e in events
                if e["type"] == "user_order" and e["msg"]["order_id"] == resting.json["order_id"]
            ]
            assert canceled and canceled[-1]["msg"]["status"] == "canceled"
            det = next(
                e
                for e in events
                if e["type"] == "market_lifecycle_v2"
                and e["msg"]["event_type"] == "determined"
                and e["msg"]["market_ticker"] == t
            )
            assert det["msg"]["result"] == m.result
            payout = qty * (10_000 if m.result == "yes" else 0)
            # balances change by exactly the payout (the resting order's collateral was released at close)
            assert acct.portfolio.cash - cash_before == payout
            assert acct.reserved == 0
            r = await c.order(t, "bid", "0.5000", "1.00")
            assert r.status == 400 and r.json["error"]["code"] == "market_not_active"
            bal = (await c.get("/portfolio/balance")).json["balance"]
            assert bal == acct.portfolio.cash // MONEY_PER_CENT
            # a new market of the series appeared and trades
            nxt = [x for x, mm in eng.markets.items() if mm.status == "active"]
            assert nxt and t not in nxt
            assert eng.audit() == []
        finally:
            await w.close()
            await c.close()


def test_flow_is_deterministic_and_sees_whole_lifecycle():
    def run(seed):
        e = MatchingEngine(id_salt=seed)
        rng = random.Random(seed)
        series = tuple(s.__class__(s.ticker, s.period_s / 600, s.title, s.frequency) for s in DEFAULT_SERIES)
        sch = MarketScheduler(e, series, FlowParams(), rng, 0)
        fl = SyntheticFlow(e, sch, FlowParams(speed=3), rng)
        trades = 0
        for now in range(0, 120_000, 50):
            e.advance(now)
            sch.step(now)
            fl.step(now)
            trades += sum(1 for ev in e.drain() if type(ev).__name__ == "Trade")
        assert e.audit() == []
        return trades, sorted((t, m.status, m.result, m.volume) for t, m in e.markets.items())

    a, b = run(9), run(9)
    assert a == b and a[0] > 100
    statuses = {s for _, s, _, _ in a[1]}
    assert "finalized" in statuses and "active" in statuses


async def test_rest_faults_and_admin():
    async with run_exchange(
        ExchangeConfig(seed=5, flow=False, markets=1, tier="prime", faults=Faults(error_429_rate=1.0))
    ) as ex:
        c = KClient(ex.base_url, ex.api_key_id, ex.private_key_pem)
        try:
            r = await c.get("/exchange/status")
            assert r.status == 429 and r.json == {"error": "too many requests"}
            await c.admin("POST", "/admin/faults", {"error_429_rate": 0.0, "error_500_rate": 1.0})
            r = await c.get("/exchange/status")
            assert r.status == 500
            await c.admin("DELETE", "/admin/faults")
            t = next(iter(ex.state.engine.markets))
            await c.admin("POST", "/admin/faults", {"error_500_after_rate": 1.0})
            r = await c.order(t, "bid", "0.3000", "1.00", client_order_id="maybe")
            assert r.status == 500
            await c.admin("DELETE", "/admin/faults")
            r = await c.get("/portfolio/orders")
            assert [o["client_order_id"] for o in r.json["orders"]] == ["maybe"]  # it was applied
            await c.admin("POST", "/admin/faults", {"pause_market": t})
            r = await c.order(t, "bid", "0.3000", "1.00")
            assert r.status == 400 and r.json["error"]["code"] == "market_not_active"
            await c.admin("POST", "/admin/faults", {"resume_market": t})
            accts = await c.admin("GET", "/admin/accounts")
            me = next(a for a in accts["accounts"] if a["api_key_id"] == ex.api_key_id)
            assert {"balance_cents", "collateral_dollars", "fees_paid_dollars", "open_orders"} <= set(me)
            log = await c.admin("GET", f"/admin/accounts/{ex.api_key_id}/orders_log")
            assert len(log["orders"]) == 2 and log["orders"][0]["status"] == 201  # processed, answered 500
            u = await c.admin("POST", "/admin/users", {"balance_cents": 500})
            c2 = KClient(ex.base_url, u["api_key_id"], u["private_key_pem"].encode())
            assert (await c2.get("/portfolio/balance")).json["balance"] == 500
            await c2.close()
            m = await c.admin(
                "POST", "/admin/markets", {"ticker": "KXT-1", "close_in_s": 30, "result": "yes"}
            )
            assert m["status"] == "active"
            assert (await c.get("/markets/KXT-1", auth=False)).status == 200
            assert (await c.admin("GET", "/admin/audit"))["problems"] == []
        finally:
            await c.close()


async def test_ws_faults_skip_seq_drop_and_stall():
    async with run_exchange(ExchangeConfig(seed=6, flow=True, flow_speed=20, markets=1, tier="prime")) as ex:
        t = next(iter(ex.state.engine.markets))
        c = KClient(ex.base_url, ex.api_key_id, ex.private_key_pem)
        w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
        try:
            await w.send(
                {"cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_tickers": [t]}}
            )
            await w.recv()
            seqs = [(await w.recv())["seq"] for _ in range(3)]
            await c.admin("POST", "/admin/faults", {"skip_seq": True})
            for _ in range(500):  # messages already queued before the fault keep their seqs
                seqs.append((await w.recv(timeout=10))["seq"])
                if seqs[-1] - seqs[-2] != 1:
                    break
            gaps = [b - a for a, b in itertools.pairwise(seqs)]
            assert 2 in gaps and set(gaps) <= {1, 2}
            # stall: nothing for a while, then the backlog arrives
            await c.admin("POST", "/admin/faults", {"stall_s": 0.6})
            loop = asyncio.get_running_loop()
            t0 = last = loop.time()
            longest = 0.0
            while loop.time() - t0 < 1.5:
                await w.recv(timeout=5)
                now = loop.time()
                longest = max(longest, now - last)
                last = now
            assert longest >= 0.4  # the feed went quiet, then the backlog arrived
            # drop every socket
            await c.admin("POST", "/admin/faults", {"close_sockets": True})
            with pytest.raises(Exception):  # noqa: B017 - any connection-closed error
                for _ in range(10_000):
                    await w.recv(timeout=5)
            w2 = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
            await c.admin("POST", "/admin/faults", {"ws_drop_after": 3})
            await w2.send(
                {"cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_tickers": [t]}}
            )
            with pytest.raises(Exception):  # noqa: B017
                for _ in range(10):
                    await w2.recv(timeout=5)
            await c.admin("DELETE", "/admin/faults")
        finally:
            await c.close()


async def test_ws_writer_batches_intact_frames_and_keeps_per_message_faults():
    """The WS writer frames many queued messages per socket write: every size of frame (7-bit,
    16-bit and 64-bit lengths) arrives intact and in order; ``ws_delay_ms`` still holds each
    message; ``ws_drop_after`` still cuts the socket right after the N-th message."""
    async with run_exchange(ExchangeConfig(seed=9, flow=False, markets=1, tier="prime")) as ex:
        w = await KWs.connect(ex.base_url, ex.api_key_id, ex.private_key_pem)
        try:
            await w.send({"cmd": "list_subscriptions"})
            assert (await w.recv())["type"] == "ok"
            (conn,) = ex.state.hub.conns
            sizes = [0, 100, 125, 126, 127, 65_000, 65_535, 65_536, 200_000] + [50] * 3000
            for i, n in enumerate(sizes):  # queued synchronously: drained in a few batched writes
                conn.push(b'{"i":%d,"pad":"%s"}' % (i, b"x" * n))
            for i, n in enumerate(sizes):
                msg = await w.recv(timeout=10)
                assert msg == {"i": i, "pad": "x" * n}

            ex.state.faults.ws_delay_ms = 300
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            conn.push(b'{"i":-1}')
            assert await w.recv(timeout=5) == {"i": -1}
            assert loop.time() - t0 >= 0.25
            ex.state.faults.ws_delay_ms = 0

            ex.state.faults.ws_drop_after = conn.sent + 5
            for i in range(20):
                conn.push(b'{"j":%d}' % i)
            got = []
            with pytest.raises(Exception):  # noqa: B017 - any connection-closed error
                for _ in range(20):
                    got.append((await w.recv(timeout=5))["j"])
            assert got == [0, 1, 2, 3, 4]
        finally:
            ex.state.faults.ws_drop_after = None
            await w.close()
