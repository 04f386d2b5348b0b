"""LiveVenue against the local exchange: commands -> events, fill dedupe, faults, reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter

from venue_helpers import admin, make_client, make_config

from kalshi_mm.core import commands as C
from kalshi_mm.core import events as ev
from kalshi_mm.domain.units import parse_qty, parse_signed_qty
from kalshi_mm.exchange.flow import FlowParams
from kalshi_mm.exchange.server import ExchangeHandle, run_exchange
from kalshi_mm.kalshi.auth import Signer
from kalshi_mm.venue.feed import KalshiFeed
from kalshi_mm.venue.live import LiveVenue
from kalshi_mm.venue.policy import Backoff
from kalshi_mm.venue.rest import KalshiRestClient


def make_venue(ex: ExchangeHandle, client: KalshiRestClient, **kw: object) -> LiveVenue:
    feed = KalshiFeed(
        "local",
        base_url=ex.base_url,
        signer=Signer.from_pem(ex.api_key_id, ex.private_key_pem),
        markets=sorted(ex.state.engine.markets),
        dead_after=1.5,
        snapshot_timeout=1.0,
        backoff=Backoff(base=0.05, cap=0.3),
    )
    kw.setdefault("reconcile_every", 0)
    kw.setdefault("readback_delay", 0.05)
    return LiveVenue(client, feed, **kw)  # type: ignore[arg-type]


async def collect(venue: LiveVenue, seconds: float) -> list[ev.Event]:
    out: list[ev.Event] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            out.append(await asyncio.wait_for(venue.get(), left))
        except TimeoutError:
            break
    return out


def mine(events: list[ev.Event]) -> list[ev.Event]:
    return [e for e in events if not isinstance(e, ev.BookDelta | ev.BookSnapshot | ev.TradePrinted)]


async def test_commands_become_events_once(exchange: ExchangeHandle, client: KalshiRestClient) -> None:
    t = sorted(exchange.state.engine.markets)[0]
    async with make_venue(exchange, client) as venue:
        await venue.feed.wait_connected(5)  # type: ignore[union-attr]
        await collect(venue, 0.2)

        async def step(cmd: C.Command) -> list[ev.Event]:
            """Run a command; what the stream says about our orders (REST answer + WS echoes)."""
            await venue.execute(cmd)
            return mine(await collect(venue, 0.15))

        out = await step(C.PlaceOrder(ticker=t, client_order_id="lv-1", side="bid", price=3000, count=500))
        assert [type(e) for e in out] == [ev.OrderAccepted]
        acc = out[0]
        assert (acc.client_order_id, acc.price, acc.remaining, acc.filled) == ("lv-1", 3000, 500, 0)
        oid = acc.order_id
        out = await step(C.AmendOrder(ticker=t, order_id=oid, client_order_id="lv-1", side="bid", price=3100, count=800))
        assert [(type(e), e.price, e.remaining) for e in out] == [(ev.OrderAccepted, 3100, 800)]
        out = await step(C.DecreaseOrder(ticker=t, order_id=oid, client_order_id="lv-1", reduce_to=200))
        assert [(type(e), e.remaining) for e in out] == [(ev.OrderAccepted, 200)]
        bad = await venue.execute(C.PlaceOrder(ticker=t, client_order_id="lv-1", side="bid", price=3000, count=100))
        assert [type(e) for e in bad] == [ev.OrderRejected] and bad[0].code == "order_already_exists"
        assert [type(e) for e in await collect(venue, 0.1)] == [ev.OrderRejected]
        out = await step(C.CancelOrder(ticker=t, order_id=oid, client_order_id="lv-1"))
        assert [(type(e), e.order_id, e.client_order_id) for e in out] == [(ev.OrderCanceled, oid, "lv-1")]
        again = await step(C.CancelOrder(ticker=t, order_id=oid, client_order_id="lv-1"))
        assert again == []  # 404 on a dead order: nothing new to say
        assert venue.orders[oid].status == "canceled"


async def test_fills_counted_once_across_ws_and_rest(exchange: ExchangeHandle, client: KalshiRestClient) -> None:
    t = sorted(exchange.state.engine.markets)[0]
    other = exchange.add_user()
    async with make_venue(exchange, client) as venue, KalshiRestClient(
        "local", base_url=exchange.base_url, signer=Signer.from_pem(other.api_key_id, other.private_key_pem)
    ) as taker:
        await venue.feed.wait_connected(5)  # type: ignore[union-attr]
        (acc,) = await venue.execute(C.PlaceOrder(ticker=t, client_order_id="f-1", side="ask", price=6000, count=1000))
        for i in range(3):
            await taker.create_order(t, "bid", 6000, 200, client_order_id=f"tk-{i}", time_in_force="immediate_or_cancel")
        await taker.create_order(t, "bid", 6000, 400, client_order_id="tk-9", time_in_force="immediate_or_cancel")
        events = mine(await collect(venue, 0.8))
        # reconcile twice more: REST fills must not be reported again
        events += await venue.reconcile("test")
        events += await venue.reconcile("test")
        fills = [e for e in events if isinstance(e, ev.OrderFilled)]
        assert sorted(f.count for f in fills) == [200, 200, 200, 400]
        assert len({f.fill_id for f in fills}) == 4
        assert all(f.client_order_id == "f-1" and f.order_id == acc.order_id for f in fills)
        assert [type(e) for e in events if getattr(e, "order_id", None) == acc.order_id][-1] is ev.OrderExecuted
        assert venue.position(t) == -1000
        assert venue.duplicate_fills >= 4  # the REST copies were seen and dropped


async def test_reconcile_at_start_adopts_existing_orders(exchange: ExchangeHandle, client: KalshiRestClient) -> None:
    t = sorted(exchange.state.engine.markets)[1]
    r = await client.create_order(t, "bid", 2500, 300, client_order_id="pre-existing")
    venue = make_venue(exchange, client)
    await venue.start()
    try:
        first = mine(await collect(venue, 0.3))
        acc = [e for e in first if isinstance(e, ev.OrderAccepted)]
        assert [(e.order_id, e.client_order_id, e.remaining) for e in acc] == [(r.order_id, "pre-existing", 300)]
        await venue.execute(C.CancelAll(ticker="", reason="test"))
        out = mine(await collect(venue, 0.3))
        assert [(type(e), e.order_id) for e in out] == [(ev.OrderCanceled, r.order_id)]
        assert venue.live_orders() == []
    finally:
        await venue.stop()


FLOW = FlowParams(speed=3, lp_latency_s=0.05, lp_refresh_s=0.2, sigma=0.5)


async def test_no_duplicates_and_states_match_after_faults() -> None:
    """Random trading under 429s, 500s (before and after processing), delays and socket drops."""
    rng = random.Random(5)
    cfg = make_config(flow=True, markets=3, flow_params=FLOW, tick_s=0.02, tier="prime")
    async with run_exchange(cfg, port=0) as ex, make_client(ex, timeout=0.5, read_retries=8) as client:
        tickers = sorted(ex.state.engine.markets)
        venue = make_venue(ex, client, reconcile_every=1.0)
        await venue.start()
        stream: list[ev.Event] = []

        async def consume() -> None:
            with contextlib.suppress(StopAsyncIteration):
                async for e in venue:
                    stream.append(e)

        consumer = asyncio.create_task(consume())
        try:
            await admin(
                ex,
                "POST",
                "/admin/faults",
                {"error_429_rate": 0.05, "error_500_rate": 0.05, "error_500_after_rate": 0.05, "rest_delay_ms": 2},
            )
            n = 0
            loop = asyncio.get_running_loop()
            end = loop.time() + 5.0
            step = 0
            while loop.time() < end:
                step += 1
                if step % 15 == 0:
                    await admin(ex, "POST", "/admin/faults", {"close_sockets": True})
                live = venue.live_orders()
                t = rng.choice(tickers)
                r = rng.random()
                cmds: list[C.Command] = []
                if r < 0.45 or not live:
                    n += 1
                    side = rng.choice(["bid", "ask"])
                    price = rng.randrange(2000, 8001, 100)
                    cmds.append(C.PlaceOrder(ticker=t, client_order_id=f"rt-{n}", side=side, price=price, count=100 * rng.randint(1, 5)))
                else:
                    o = rng.choice(live)
                    if r < 0.7:
                        cmds.append(C.CancelOrder(ticker=o.ticker, order_id=o.order_id, client_order_id=o.client_order_id))
                    elif r < 0.85:
                        cmds.append(
                            C.AmendOrder(
                                ticker=o.ticker,
                                order_id=o.order_id,
                                client_order_id=o.client_order_id,
                                side=o.side,  # type: ignore[arg-type]
                                price=min(9900, max(100, o.price + rng.choice([-100, 100]))),
                                count=o.filled + o.remaining,
                            )
                        )
                    elif o.remaining > 100:
                        cmds.append(C.DecreaseOrder(ticker=o.ticker, order_id=o.order_id, client_order_id=o.client_order_id, reduce_to=100))
                venue.submit(cmds)
                await asyncio.sleep(0.02)
            await venue.drain(20)
            await admin(ex, "DELETE", "/admin/faults")
            await admin(ex, "POST", "/admin/flow", {"enabled": False})
            await venue.feed.wait_connected(5)  # type: ignore[union-attr]
            await asyncio.sleep(0.5)
            await venue.reconcile("final")
            await asyncio.sleep(0.3)
            assert venue.unknown_outcomes > 0  # the faults did bite
            assert n > 50

            # 1. no order was created twice: one accepted create per client_order_id at the exchange
            log = (await admin(ex, "GET", f"/admin/accounts/{ex.user_id}/orders_log"))["orders"]  # type: ignore[index]
            created = Counter()
            for e in log:  # type: ignore[union-attr]
                if e["method"] == "POST" and e["path"].endswith("/portfolio/events/orders") and e["status"] in (201, 500):
                    body = e["body"] or ""
                    coid = body.split('"client_order_id":"', 1)[1].split('"', 1)[0]
                    created[coid] += 1
            exch = {o.order_id: o for o in await client.get_all_orders()}
            per_coid = Counter(o.client_order_id for o in exch.values())
            assert max(per_coid.values()) == 1

            # 2. every order's state matches the exchange's, and the venue knows every order
            assert set(exch) == set(venue.orders)
            for oid, o in exch.items():
                mine_ = venue.orders[oid]
                assert mine_.status == o.status, oid
                assert mine_.remaining == parse_qty(o.remaining_count_fp), oid
                assert mine_.filled == parse_qty(o.fill_count_fp), oid
                assert mine_.price == round(float(o.yes_price_dollars) * 10_000)

            # 3. fills: each reported once, and they add up to the exchange's fill counts
            fills = [e for e in stream if isinstance(e, ev.OrderFilled)]
            assert len({(f.fill_id, f.order_id) for f in fills}) == len(fills)
            by_order = Counter()
            for f in fills:
                by_order[f.order_id] += f.count
            for oid, o in exch.items():
                assert by_order.get(oid, 0) == parse_qty(o.fill_count_fp), oid
            rest_fills = await client.get_all_fills()
            assert len(rest_fills) == len(fills)

            # 4. positions match
            for p in await client.get_all_positions():
                assert venue.position(p.ticker) == parse_signed_qty(p.position_fp)
            # 5. every terminal event once per order
            term = Counter(e.order_id for e in stream if isinstance(e, ev.OrderCanceled | ev.OrderExecuted))
            assert term and max(term.values()) == 1
        finally:
            consumer.cancel()
            await venue.stop()


def _fill(fid: str) -> ev.OrderFilled:
    return ev.OrderFilled(ts_ms=1, ticker="T-1", order_id="o1", client_order_id="c1", fill_id=fid, side="bid",
                          price=5000, count=100, fee=0, is_taker=False)


async def test_equal_fills_of_one_order_stay_distinct_whichever_source_comes_first() -> None:
    """Two fills of one order with the same size and price are two fills: only the id pairs reports."""
    venue = LiveVenue(None, None)  # type: ignore[arg-type]  # fills need no exchange
    out: list[ev.Event] = []
    await venue._on_fill(_fill("a"), out)  # WS first
    await venue._on_fill(_fill("a"), out, ids=("a",))  # REST copy
    await venue._on_fill(_fill("b"), out, ids=("b",))  # REST first this time
    await venue._on_fill(_fill("b"), out)  # WS copy
    assert [e.fill_id for e in out if isinstance(e, ev.OrderFilled)] == ["a", "b"]
    assert venue.duplicate_fills == 2


class _LaggingReads:
    """Kalshi's REST read models lag writes (kalshi-api.md section 6): a just-created order reads 404."""

    def __init__(self) -> None:
        self.reads = 0

    async def get_order(self, order_id: str) -> None:
        from kalshi_mm.errors import Rejected

        self.reads += 1
        raise Rejected("not found", status=404, code="not_found")


async def test_a_lagging_read_does_not_cancel_an_order_we_just_heard_of() -> None:
    from kalshi_mm.venue.live import OrderState

    client = _LaggingReads()
    venue = LiveVenue(client, None, read_lag_s=2.0)  # type: ignore[arg-type]
    out: list[ev.Event] = []
    await venue._update(OrderState("o1", "c1", "T-1", "bid", 5000, 100), out, 1)
    await venue._refresh_order("o1", out, lagging=True)  # reconcile: too fresh to overrule
    assert venue.orders["o1"].live and client.reads == 1
    venue.orders["o1"].seen_ms -= 5_000  # older than the lag: the 404 is believed
    await venue._refresh_order("o1", out, lagging=True)
    assert not venue.orders["o1"].live and client.reads == 2
    assert isinstance(out[-1], ev.OrderCanceled)
