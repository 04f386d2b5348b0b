"""KalshiFeed against the local exchange: books equal REST books, faults, runtime market sets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
import websockets
from venue_helpers import admin, make_client, make_config

from kalshi_mm.core import events as ev
from kalshi_mm.errors import Fatal
from kalshi_mm.exchange.flow import FlowParams
from kalshi_mm.exchange.server import ExchangeHandle, run_exchange
from kalshi_mm.kalshi.auth import Signer, generate_key
from kalshi_mm.kalshi.parse import book_levels
from kalshi_mm.venue.feed import KalshiFeed
from kalshi_mm.venue.policy import Backoff
from kalshi_mm.venue.rest import KalshiRestClient

FAST_FLOW = FlowParams(speed=5, lp_latency_s=0.01, lp_refresh_s=0.05, sigma=1.0)


def busy_config(**kw: object) -> object:
    base: dict[str, object] = {"flow": True, "markets": 6, "flow_params": FAST_FLOW, "tick_s": 0.02}
    base.update(kw)
    return make_config(**base)


def make_feed(ex: ExchangeHandle, markets: list[str], **kw: object) -> KalshiFeed:
    kw.setdefault("dead_after", 3.0)
    kw.setdefault("snapshot_timeout", 1.0)
    kw.setdefault("backoff", Backoff(base=0.05, cap=0.5))
    return KalshiFeed(
        "local",
        base_url=ex.base_url,
        signer=Signer.from_pem(ex.api_key_id, ex.private_key_pem),
        markets=markets,
        **kw,  # type: ignore[arg-type]
    )


class Collector:
    """Consumes a feed in the background (like an engine would) and keeps what it saw."""

    def __init__(self, feed: KalshiFeed) -> None:
        self.feed = feed
        self.events: list[ev.Event] = []
        self.counts: dict[str, int] = {}
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(StopAsyncIteration):
            async for e in self.feed:
                name = type(e).__name__
                self.counts[name] = self.counts.get(name, 0) + 1
                if not isinstance(e, ev.BookDelta):
                    self.events.append(e)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def open_tickers(client: KalshiRestClient) -> list[str]:
    return sorted(m.ticker for m in await client.get_all_markets(status="open"))


async def settle_and_compare(ex: ExchangeHandle, client: KalshiRestClient, feed: KalshiFeed, tickers: list[str]) -> None:
    """Stop the flow, let the feed catch up, then every feed book must equal the REST book."""
    await admin(ex, "POST", "/admin/flow", {"enabled": False})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(feed.is_synced(t) for t in tickers) and feed.queue.empty():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    for t in tickers:
        assert feed.is_synced(t), f"{t} never resynced"
        b = await client.get_orderbook(t)
        yes, no = feed.books[t].levels()
        assert tuple(yes) == book_levels(b.yes_dollars), t
        assert tuple(no) == book_levels(b.no_dollars), t


async def test_books_from_feed_equal_rest_after_thousands_of_steps() -> None:
    async with run_exchange(busy_config(), port=0) as ex, make_client(ex) as client:
        tickers = await open_tickers(client)
        assert len(tickers) == 6
        async with make_feed(ex, tickers) as feed:
            col = Collector(feed)
            deadline = time.monotonic() + 20
            while col.counts.get("BookDelta", 0) < 3000 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert col.counts.get("BookDelta", 0) >= 3000
            await settle_and_compare(ex, client, feed, tickers)
            assert feed.state.gaps == 0 and feed.reconnects == 0
            assert col.counts["BookSnapshot"] == len(tickers)
            assert col.counts.get("TradePrinted", 0) > 0
            assert [e.reason for e in col.events if isinstance(e, ev.FeedResynced)] == ["connect"]
            await col.close()


async def test_feed_recovers_from_closed_sockets_gaps_stalls_and_delays() -> None:
    async with run_exchange(busy_config(), port=0) as ex, make_client(ex) as client:
        tickers = await open_tickers(client)
        async with make_feed(ex, tickers, dead_after=1.0) as feed:
            col = Collector(feed)
            await feed.wait_connected(5)
            await admin(ex, "POST", "/admin/faults", {"ws_delay_ms": 5, "skip_seq_every": 400})
            for i in range(6):
                await asyncio.sleep(0.6)
                action = [{"close_sockets": True}, {"skip_seq": True}, {"stall_s": 0.4}][i % 3]
                await admin(ex, "POST", "/admin/faults", action)
            await asyncio.sleep(0.6)
            await admin(ex, "DELETE", "/admin/faults")
            await feed.wait_connected(5)
            await settle_and_compare(ex, client, feed, tickers)
            reasons = [e.reason for e in col.events if isinstance(e, ev.FeedResynced)]
            assert feed.reconnects >= 2 and reasons.count("reconnect") == feed.reconnects
            assert feed.state.gaps >= 1 and "seq_gap" in reasons
            assert feed.snapshot_requests >= 1
            assert col.counts["BookSnapshot"] > len(tickers)  # rebuilt from fresh snapshots
            await col.close()


async def test_market_set_changes_at_run_time() -> None:
    async with run_exchange(busy_config(), port=0) as ex, make_client(ex) as client:
        tickers = await open_tickers(client)
        async with make_feed(ex, tickers[:1]) as feed:
            col = Collector(feed)
            await feed.wait_connected(5)
            await feed.add_markets(tickers[1:4])
            await asyncio.sleep(1.0)
            assert all(feed.is_synced(t) for t in tickers[:4])
            await feed.remove_markets([tickers[0]])
            await feed.set_markets(tickers[1:3] + tickers[4:5])  # drop #3, add #4
            await asyncio.sleep(0.3)
            n = len(col.events)
            await asyncio.sleep(0.7)
            assert set(feed.books) == set(tickers[1:3] + tickers[4:5])
            late = [e for e in col.events[n:] if getattr(e, "ticker", None) in (tickers[0], tickers[3])]
            assert late == []
            await settle_and_compare(ex, client, feed, tickers[1:3] + tickers[4:5])
            await col.close()


async def test_slow_consumer_is_back_pressured_not_buffered_without_limit() -> None:
    async with run_exchange(busy_config(), port=0) as ex, make_client(ex) as client:
        tickers = await open_tickers(client)
        async with make_feed(ex, tickers, queue_size=50, dead_after=1.0) as feed:
            await feed.wait_connected(5)
            for _ in range(15):  # nobody consumes for 1.5 s
                await asyncio.sleep(0.1)
                assert feed.queue.qsize() <= 50
            col = Collector(feed)
            await asyncio.sleep(0.5)
            assert feed.reconnects == 0  # our own slowness is not a dead socket
            await settle_and_compare(ex, client, feed, tickers)
            await col.close()


async def test_wrong_key_is_fatal() -> None:
    async with run_exchange(make_config(), port=0) as ex:
        wrong, _ = generate_key("ed25519")
        feed = KalshiFeed("local", base_url=ex.base_url, signer=Signer.from_pem(ex.api_key_id, wrong))
        async with feed:
            with pytest.raises(Fatal) as ei:
                await asyncio.wait_for(feed.get(), 5)
            assert ei.value.status == 401


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A WS peer that acknowledges subscriptions and then never sends anything (no pings)."""
    conns: list[int] = []

    async def handler(ws: websockets.ServerConnection) -> None:
        conns.append(1)
        sid = 0
        async for raw in ws:
            cmd = msgspec.json.decode(raw)
            for ch in cmd["params"]["channels"]:
                sid += 1
                await ws.send(msgspec.json.encode({"id": cmd["id"], "type": "subscribed", "msg": {"channel": ch, "sid": sid}}).decode())

    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", conns


async def test_silent_socket_is_declared_dead_and_replaced() -> None:
    pem, _ = generate_key("ed25519")
    async with silent_server() as (url, conns):
        feed = KalshiFeed(
            "local",
            base_url=url,
            signer=Signer.from_pem("kid", pem),
            markets=["M1"],
            dead_after=0.4,
            backoff=Backoff(base=0.01, cap=0.05),
        )
        async with feed:
            col = Collector(feed)
            await asyncio.sleep(1.6)
            assert len(conns) >= 3 and feed.reconnects >= 2
            reasons = [e.reason for e in col.events if isinstance(e, ev.FeedResynced)]
            assert reasons[0] == "connect" and reasons.count("reconnect") >= 2
            await col.close()
