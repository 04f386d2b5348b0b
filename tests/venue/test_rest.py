"""KalshiRestClient against the local exchange over real sockets: every method, errors, retries."""

from __future__ import annotations

import asyncio
import logging

import pytest
from venue_helpers import admin, make_client, make_config

from kalshi_mm.errors import ConfigError, Fatal, OutcomeUnknown, RateLimited, Rejected, Retryable
from kalshi_mm.exchange.server import ExchangeHandle, run_exchange
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.kalshi.auth import Signer, generate_key
from kalshi_mm.venue.rest import KalshiRestClient, order_request


async def _ticker(client: KalshiRestClient) -> str:
    markets = await client.get_all_markets(status="open")
    assert markets
    return markets[0].ticker


async def test_market_data_reads(client: KalshiRestClient) -> None:
    st = await client.get_exchange_status()
    assert st.exchange_active and st.trading_active
    sched = await client.get_exchange_schedule()
    assert isinstance(sched, s.ExchangeSchedule)
    assert (await client.get_user_data_timestamp()).as_of_time
    markets = await client.get_all_markets()
    tickers = [m.ticker for m in markets]
    assert len(tickers) == len(set(tickers)) >= 3
    one = await client.get_market(tickers[0])
    assert one.ticker == tickers[0] and one.price_ranges
    by_event = await client.get_markets(event_ticker=one.event_ticker)
    assert one.ticker in [m.ticker for m in by_event.markets]
    by_list = await client.get_markets(tickers=tickers[:2])
    assert sorted(m.ticker for m in by_list.markets) == sorted(tickers[:2])
    book = await client.get_orderbook(tickers[0], depth=10)
    assert isinstance(book, s.OrderbookFp)
    books = await client.get_orderbooks(tickers)
    assert sorted(b.ticker for b in books) == sorted(tickers)
    trades = await client.get_trades(ticker=tickers[0], limit=5)
    assert isinstance(trades.trades, list)
    assert isinstance([t async for t in client.iter_trades(ticker=tickers[0])], list)
    events = await client.get_events(limit=5)
    assert events.events
    ev_all = [e async for e in client.iter_events()]
    assert one.event_ticker in [e.event_ticker for e in ev_all]
    event = await client.get_event(one.event_ticker, with_nested_markets=True)
    assert one.ticker in [m.ticker for m in event.markets]
    series = await client.get_series_list()
    assert series
    assert (await client.get_series(event.event.series_ticker)).ticker == event.event.series_ticker
    limits = await client.get_account_limits()
    assert limits.write.refill_rate > 0
    lim = await client.limiter_from_account(headroom=0)
    assert (lim.write.rate, lim.write.capacity) == (limits.write.refill_rate, limits.write.bucket_capacity)
    costs = await client.get_endpoint_costs()
    assert costs.default_cost == 10


async def test_pagination_walks_every_page(client: KalshiRestClient) -> None:
    t = await _ticker(client)
    ids = set()
    for i in range(7):
        r = await client.create_order(t, "bid", 100 + 100 * (i % 3), 100, client_order_id=f"pg-{i}")
        ids.add(r.order_id)
    seen = [o.order_id async for o in client.paginate("/portfolio/orders", s.GetOrdersResponse, "orders", limit=2)]
    assert set(seen) == ids and len(seen) == len(ids)  # 4 pages of <= 2, none repeated
    first = await client.get_orders(limit=3)
    assert len(first.orders) == 3 and first.cursor
    nxt = await client.get_orders(limit=3, cursor=first.cursor)
    assert not {o.order_id for o in first.orders} & {o.order_id for o in nxt.orders}


async def test_order_entry_lifecycle(client: KalshiRestClient, exchange: ExchangeHandle) -> None:
    t = await _ticker(client)
    bal0 = await client.get_balance()
    assert bal0.balance > 0
    r = await client.create_order(t, "bid", 2000, 500, client_order_id="life-1", post_only=True)
    assert r.client_order_id == "life-1" and r.remaining_count == "5.00" and r.fill_count == "0.00"
    o = await client.get_order(r.order_id)
    assert o.status == "resting" and o.yes_price_dollars == "0.2000" and o.book_side == "bid"
    assert (await client.find_order_by_client_id("life-1", ticker=t)).order_id == r.order_id
    assert await client.find_order_by_client_id("nope", ticker=t) is None
    # queue position: alone at the level => nothing ahead
    qp = await client.get_queue_position(r.order_id)
    assert qp.queue_position_fp == "0.00"
    qps = await client.get_queue_positions(market_tickers=[t])
    assert r.order_id in [q.order_id for q in qps]
    # amend: new price, new total
    a = await client.amend_order(r.order_id, ticker=t, side="bid", price=2100, count=700, client_order_id="life-1")
    assert a.order_id
    o = await client.get_order(a.order_id)
    assert o.yes_price_dollars == "0.2100" and o.remaining_count_fp == "7.00"
    # decrease to 3 contracts
    d = await client.decrease_order(a.order_id, reduce_to=300)
    assert d.remaining_count == "3.00"
    d2 = await client.decrease_order(a.order_id, reduce_by=100)
    assert d2.remaining_count == "2.00"
    # cancel, then a second cancel is a 404 Rejected
    c = await client.cancel_order(a.order_id, market_ticker=t)
    assert c.reduced_by == "2.00"
    with pytest.raises(Rejected) as ei:
        await client.cancel_order(a.order_id)
    assert ei.value.status == 404
    assert (await client.get_order(a.order_id)).status == "canceled"
    # duplicate client_order_id => 409 with the exchange's code
    with pytest.raises(Rejected) as ei:
        await client.create_order(t, "bid", 2000, 100, client_order_id="life-1")
    assert ei.value.status == 409 and ei.value.code == "order_already_exists"
    # an off-grid price => 400
    with pytest.raises(Rejected) as ei:
        await client.create_order(t, "bid", 2055, 100, client_order_id="life-bad")
    assert ei.value.status == 400
    with pytest.raises(ValueError):
        await client.create_order(t, "bid", 2000, 100, client_order_id="")


async def test_batches_and_cancel_all(client: KalshiRestClient) -> None:
    t = await _ticker(client)
    reqs = [order_request(t, "bid", 1000 + 100 * i, 100, client_order_id=f"b-{i}") for i in range(4)]
    reqs.append(order_request(t, "bid", 1055, 100, client_order_id="b-bad"))  # off grid
    res = await client.batch_create_orders(reqs)
    assert len(res) == 5
    assert all(r.order_id and r.error is None for r in res[:4])
    assert res[4].error is not None and res[4].order_id is None
    cancels = await client.batch_cancel_orders([res[0].order_id, res[1].order_id])
    assert [c.order_id for c in cancels] == [res[0].order_id, res[1].order_id]
    assert all(c.reduced_by == "1.00" for c in cancels)
    resting = await client.get_all_orders(status="resting")
    assert {o.order_id for o in resting} == {res[2].order_id, res[3].order_id}
    await client.cancel_all_orders()
    assert await client.get_all_orders(status="resting") == []


async def test_portfolio_after_a_trade(exchange: ExchangeHandle, client: KalshiRestClient) -> None:
    t = await _ticker(client)
    other = exchange.add_user()
    async with KalshiRestClient(
        "local", base_url=exchange.base_url, signer=Signer.from_pem(other.api_key_id, other.private_key_pem)
    ) as taker:
        r = await client.create_order(t, "ask", 6000, 300, client_order_id="pf-ask")
        tr = await taker.create_order(t, "bid", 6000, 200, client_order_id="pf-take", time_in_force="immediate_or_cancel")
        assert tr.fill_count == "2.00"
    fills = await client.get_all_fills()
    assert len(fills) == 1 and fills[0].order_id == r.order_id and fills[0].count_fp == "2.00"
    assert fills[0].fill_id == fills[0].trade_id
    assert (await client.get_fills(order_id=r.order_id)).fills[0].fill_id == fills[0].fill_id
    pos = await client.get_all_positions()
    assert [(p.ticker, p.position_fp) for p in pos if p.position_fp != "0.00"] == [(t, "-2.00")]
    assert isinstance((await client.get_positions()).event_positions, list)
    assert isinstance((await client.get_settlements()).settlements, list)
    assert isinstance([x async for x in client.iter_settlements()], list)


async def test_order_groups(client: KalshiRestClient) -> None:
    t = await _ticker(client)
    g = await client.create_order_group(contracts_limit=1000)
    gid = g.order_group_id
    assert gid in [x.id for x in await client.get_order_groups()]
    r = await client.create_order(t, "bid", 1500, 100, client_order_id="og-1", order_group_id=gid)
    assert r.order_id in (await client.get_order_group(gid)).orders
    await client.update_order_group_limit(gid, 2000)
    assert (await client.get_order_group(gid)).contracts_limit_fp == "20.00"
    await client.trigger_order_group(gid)
    assert (await client.get_order(r.order_id)).status == "canceled"
    with pytest.raises(Rejected):
        await client.create_order(t, "bid", 1500, 100, client_order_id="og-2", order_group_id=gid)
    await client.reset_order_group(gid)
    await client.create_order(t, "bid", 1500, 100, client_order_id="og-3", order_group_id=gid)
    await client.delete_order_group(gid)
    assert gid not in [x.id for x in await client.get_order_groups()]


async def test_auth_errors_are_fatal_and_secret_free(exchange: ExchangeHandle, caplog: pytest.LogCaptureFixture) -> None:
    wrong_pem, _ = generate_key("ed25519")
    caplog.set_level(logging.DEBUG)
    async with KalshiRestClient(
        "local", base_url=exchange.base_url, signer=Signer.from_pem(exchange.api_key_id, wrong_pem)
    ) as bad:
        with pytest.raises(Fatal) as ei:
            await bad.get_balance()
        assert ei.value.status == 401
        # public market data needs no auth and still works with an unsigned client
    async with KalshiRestClient("local", base_url=exchange.base_url) as anon:
        assert await anon.get_all_markets()
        with pytest.raises(Fatal):
            await anon.get_balance()
    text = str(ei.value) + repr(bad) + caplog.text
    assert wrong_pem.decode() not in text and "PRIVATE" not in text
    with pytest.raises(ConfigError):
        KalshiRestClient("staging")


async def test_reads_retry_through_429_and_500() -> None:
    async with run_exchange(make_config(), port=0) as ex, make_client(ex) as c:
        await admin(ex, "POST", "/admin/faults", {"error_500_rate": 0.3, "error_429_rate": 0.3})
        for _ in range(20):
            assert await c.get_all_markets()
        assert c.retries > 0 and c.rate_limited > 0
        assert c.limiter.read.penalties == c.rate_limited  # each 429 drained the local bucket
        # every GET succeeded; writes are not retried on 500
        await admin(ex, "POST", "/admin/faults", {"error_429_rate": 0.0, "error_500_rate": 1.0})
        t = ex.state.engine.markets and next(iter(ex.state.engine.markets))
        with pytest.raises(OutcomeUnknown):
            await c.create_order(t, "bid", 100, 100, client_order_id="x-500")
        async with make_client(ex, read_retries=1) as once:
            with pytest.raises(Retryable):
                await once.get_all_markets()
        await admin(ex, "DELETE", "/admin/faults")
        assert await c.find_order_by_client_id("x-500") is None  # rejected before processing


async def test_write_timeout_is_outcome_unknown_and_read_back_resolves_it() -> None:
    async with run_exchange(make_config(), port=0) as ex, make_client(ex, timeout=0.3) as c:
        t = next(iter(ex.state.engine.markets))
        await admin(ex, "POST", "/admin/faults", {"rest_delay_ms": 600})
        with pytest.raises(OutcomeUnknown):
            await c.create_order(t, "bid", 300, 100, client_order_id="slow-1")
        await admin(ex, "DELETE", "/admin/faults")
        await asyncio.sleep(0.7)
        o = await c.find_order_by_client_id("slow-1", ticker=t)
        # the server may or may not have read the request before we hung up: the read-back
        # says which, and the order exists at most once
        log = (await admin(ex, "GET", f"/admin/accounts/{ex.user_id}/orders_log"))["orders"]  # type: ignore[index]
        applied = [e for e in log if e["status"] == 201 and "slow-1" in (e["body"] or "")]  # type: ignore[union-attr,index]
        assert len(applied) == (0 if o is None else 1)
        # processed, then answered 500: OutcomeUnknown, and the read-back finds it
        await admin(ex, "POST", "/admin/faults", {"error_500_after_rate": 1.0})
        with pytest.raises(OutcomeUnknown) as ei:
            await c.create_order(t, "bid", 300, 100, client_order_id="slow-2")
        assert ei.value.status == 500
        await admin(ex, "DELETE", "/admin/faults")
        o2 = await c.find_order_by_client_id("slow-2", ticker=t)
        assert o2 is not None and o2.status == "resting"


async def test_signature_cache_reuses_signatures(exchange: ExchangeHandle) -> None:
    key, _ = generate_key("rsa")
    u = exchange.state.add_user(kind="rsa")
    async with KalshiRestClient(
        "local",
        base_url=exchange.base_url,
        signer=Signer.from_pem(u.api_key_id, u.private_key_pem),
        sign_cache_ms=1000,
    ) as c:
        t = await _ticker(c)
        for i in range(5):
            await c.create_order(t, "bid", 500, 100, client_order_id=f"sc-{i}")
        assert len(await c.get_all_orders(status="resting")) == 5
    assert key  # the generated key never left the test


async def test_limiter_waits_instead_of_earning_429s() -> None:
    """Basic tier (write 100 tokens/s, 1 s capacity): a burst of 25 creates + 25 cancels, no 429."""
    async with run_exchange(make_config(tier="basic"), port=0) as ex, make_client(ex, write_429_retries=0) as c:
        t = next(iter(ex.state.engine.markets))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        created = await asyncio.gather(
            *(c.create_order(t, "bid", 500, 100, client_order_id=f"burst-{i}") for i in range(25))
        )
        await asyncio.gather(*(c.cancel_order(r.order_id) for r in created))
        elapsed = loop.time() - t0
        assert c.rate_limited == 0 and c.limiter.write.waited > 0
        assert elapsed >= 1.2  # (25*10 + 25*2 - 100) / 100 tokens/s = 2 s, minus what refilled
        # without the limiter the same burst earns 429s from the exchange's bucket
        async with make_client(ex, limiter=None, write_429_retries=0) as raw:
            await asyncio.sleep(1.0)
            results = await asyncio.gather(
                *(raw.create_order(t, "bid", 500, 100, client_order_id=f"raw-{i}") for i in range(25)),
                return_exceptions=True,
            )
            assert any(isinstance(r, RateLimited) for r in results)
