"""``KalshiFeed``: the WebSocket shell (kalshi-api.md section 14) producing core events.

- Signed handshake (``KALSHI-ACCESS-*`` headers over ``GET /trade-api/ws/v2``), a fresh
  signature on every (re)connect.
- Market channels (``orderbook_delta`` and, by default, ``trade``) follow a market set that can
  change at run time (``add_markets`` / ``remove_markets`` / ``set_markets`` send
  ``update_subscription`` add/delete); private channels (``fill``, ``user_orders``,
  ``market_positions``) are subscribed for all markets.
- Per-sid ``seq`` checks (``feedstate.FeedState``): on a gap every market of the book sid is
  unsynced, its deltas are dropped and a snapshot is requested with ``get_snapshot``; if that is
  refused or does not arrive within ``snapshot_timeout`` the channel is resubscribed.
- Liveness: every frame, data or the server's ping, stamps the connection; nothing for
  ``dead_after`` seconds means a dead socket, which is aborted.
- Reconnect with exponential backoff and full jitter, resubscribe, and a ``FeedResynced`` event
  (``reason="reconnect"``) once the private channels are live again, so that the engine can pull
  quotes and the venue can reconcile from REST. A gap emits ``FeedResynced(reason="seq_gap")``.
- Output: the core events of ``kalshi.parse.ws_events`` in a bounded queue. A slow consumer
  back-pressures the socket (the reader waits; ``websockets``' own ``max_queue`` bounds the frames
  in flight) instead of growing memory; the liveness check is suspended while the reader waits.

With ``keep_books=True`` (default) the feed also keeps an ``OrderBook`` per market in ``books``
(only synced markets are current: see ``is_synced``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from kalshi_mm.config import WS_PATH, ws_url
from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.errors import ConfigError, Fatal, ProtocolError
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.kalshi.auth import Signer
from kalshi_mm.kalshi.parse import decode_delta_fast, decode_ws, encode, ws_events
from kalshi_mm.venue.feedstate import FeedState, SeqVerdict
from kalshi_mm.venue.policy import Backoff

log = logging.getLogger("kalshi_mm.venue.feed")

BOOK = "orderbook_delta"
DEFAULT_MARKET_CHANNELS = (BOOK, "trade")
DEFAULT_PRIVATE_CHANNELS = ("fill", "user_orders", "market_positions")
_DELTA_PREFIX = b'{"type":"orderbook_delta"'
_STOP = object()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _StampedConnection(ClientConnection):
    """A client connection that records when the last frame of any kind (incl. pings) arrived."""

    last_frame: float = 0.0

    def process_event(self, event: Any) -> None:
        self.last_frame = time.monotonic()
        super().process_event(event)


class KalshiFeed:
    """One WebSocket session to Kalshi (or the local exchange), kept alive forever.

    Use ``async with KalshiFeed(...) as feed: async for event in feed: ...`` or ``start()`` /
    ``stop()`` and ``await feed.get()``.
    """

    def __init__(
        self,
        env: str = "local",
        *,
        base_url: str | None = None,
        signer: Signer,
        markets: Iterable[str] = (),
        market_channels: Iterable[str] = DEFAULT_MARKET_CHANNELS,
        private_channels: Iterable[str] = DEFAULT_PRIVATE_CHANNELS,
        queue_size: int = 65_536,
        dead_after: float = 25.0,
        snapshot_timeout: float = 5.0,
        ack_timeout: float = 10.0,
        open_timeout: float = 10.0,
        backoff: Backoff | None = None,
        keep_books: bool = True,
        max_frames_queued: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if signer is None:
            raise ConfigError("the WebSocket handshake always needs an API key (signer)")
        self.url = ws_url(env if env in ("local", "demo", "prod") else "local", base_url)
        self.signer = signer
        self.market_channels = tuple(market_channels)
        self.private_channels = tuple(private_channels)
        self.markets: set[str] = set(markets)
        self.dead_after = dead_after
        self.snapshot_timeout = snapshot_timeout
        self.ack_timeout = ack_timeout
        self.open_timeout = open_timeout
        self.backoff = backoff or Backoff(base=0.2, cap=10.0)
        self.keep_books = keep_books
        self.max_frames_queued = max_frames_queued
        self._clock = clock
        self.books: dict[str, OrderBook] = {}
        self.state = FeedState(book_channel=BOOK)
        self.state.add_markets(self.markets)
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._sub_markets: dict[str, set[str]] = {}  # channel -> markets asked for on this connection
        self._subscribing: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._blocked = False
        self._connected = asyncio.Event()
        self.error: BaseException | None = None
        #: counters
        self.connects = 0
        self.reconnects = 0
        self.resubscribes = 0
        self.snapshot_requests = 0
        self.messages = 0
        self.protocol_errors = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> KalshiFeed:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self.run(), name="kalshi-feed")

    async def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def is_synced(self, ticker: str) -> bool:
        return ticker in self.state.synced

    # -- consuming ---------------------------------------------------------------------------------
    async def get(self) -> ev.Event:
        item = await self.queue.get()
        if item is _STOP:
            self.queue.put_nowait(_STOP)
            if self.error is not None:
                raise self.error
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self

    async def __anext__(self) -> ev.Event:
        return await self.get()

    def _emit(self, e: Any) -> None:
        self.queue.put_nowait(e)

    async def _emit_wait(self, e: Any) -> None:
        try:
            self.queue.put_nowait(e)
        except asyncio.QueueFull:
            self._blocked = True
            try:
                await self.queue.put(e)
            finally:
                self._blocked = False
                self.state.touch(self._clock())

    # -- markets -------------------------------------------------------------------------------------
    async def add_markets(self, tickers: Iterable[str]) -> None:
        new = [t for t in tickers if t not in self.markets]
        if not new:
            return
        self.markets.update(new)
        self.state.add_markets(new)
        await self._sync_subscriptions()

    async def remove_markets(self, tickers: Iterable[str]) -> None:
        gone = [t for t in tickers if t in self.markets]
        if not gone:
            return
        self.markets.difference_update(gone)
        self.state.remove_markets(gone)
        for t in gone:
            self.books.pop(t, None)
        await self._sync_subscriptions()

    async def set_markets(self, tickers: Iterable[str]) -> None:
        want = set(tickers)
        await self.remove_markets(self.markets - want)
        await self.add_markets(want - self.markets)

    async def _sync_subscriptions(self) -> None:
        """Bring each market channel's server-side market set in line with ``self.markets``."""
        ws = self._ws
        if ws is None:
            return
        for ch in self.market_channels:
            sid = self.state.sids.get(ch)
            asked = self._sub_markets.get(ch)
            if ch in self._subscribing:
                continue  # reconciled when the ack arrives
            if sid is None or asked is None:
                if self.markets:
                    await self._subscribe(ch, sorted(self.markets), wait=False)
                continue
            add = sorted(self.markets - asked)
            delete = sorted(asked - self.markets)
            if add:
                asked.update(add)
                await self._command(
                    "update_subscription",
                    {"sid": sid, "market_tickers": add, "action": "add_markets"},
                    wait=False,
                )
            if delete:
                asked.difference_update(delete)
                await self._command(
                    "update_subscription",
                    {"sid": sid, "market_tickers": delete, "action": "delete_markets"},
                    wait=False,
                )

    # -- commands ------------------------------------------------------------------------------------
    async def _command(self, cmd: str, params: dict[str, Any] | None, *, wait: bool, kind: str = "") -> Any:
        ws = self._ws
        if ws is None:
            raise ConnectionError("feed not connected")
        cid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[cid] = (kind or (params or {}).get("action", cmd), fut)
        frame: dict[str, Any] = {"id": cid, "cmd": cmd}
        if params is not None:
            frame["params"] = params
        await ws.send(encode(frame).decode())
        if not wait:
            return None
        return await asyncio.wait_for(fut, self.ack_timeout)

    async def _subscribe(self, channel: str, tickers: list[str] | None, *, wait: bool) -> Any:
        params: dict[str, Any] = {"channels": [channel]}
        if tickers is not None:
            params["market_tickers"] = tickers
            self._sub_markets[channel] = set(tickers)
            if channel == BOOK:
                self.state.snapshot_requested(tickers, self._clock())
        self._subscribing.add(channel)
        return await self._command("subscribe", params, wait=wait, kind=f"subscribe:{channel}")

    async def _request_snapshots(self, tickers: list[str]) -> None:
        sid = self.state.sids.get(BOOK)
        if sid is None or not tickers or self._ws is None:
            return
        self.snapshot_requests += 1
        self.state.snapshot_requested(tickers, self._clock())
        await self._command(
            "update_subscription", {"sid": sid, "market_tickers": tickers, "action": "get_snapshot"}, wait=False
        )

    async def _resubscribe_books(self, reason: str) -> None:
        """Fallback when get_snapshot is refused or late: unsubscribe and subscribe again."""
        if self._ws is None or BOOK in self._subscribing:
            return
        self.resubscribes += 1
        log.warning("resubscribing %s: %s", BOOK, reason)
        sid = self.state.sids.get(BOOK)
        if sid is not None:
            self.state.on_unsubscribed(sid)
            await self._command("unsubscribe", {"sids": [sid]}, wait=False)
        for t in list(self.state.synced):
            self.state.unsync(t)
        if self.markets:
            await self._subscribe(BOOK, sorted(self.markets), wait=False)

    # -- the connection loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        try:
            while not self._stopping:
                try:
                    ws = await self._connect()
                except Fatal as e:
                    self.error = e
                    log.error("feed stopped: %s", e)
                    self._emit_final()
                    return
                except (TimeoutError, OSError, InvalidHandshake, ConnectionClosed) as e:
                    delay = self.backoff.delay(attempt)
                    attempt += 1
                    log.warning("feed connect failed (%s: %s); retrying in %.2fs", type(e).__name__, e, delay)
                    await asyncio.sleep(delay)
                    continue
                ok = await self._session(ws)
                if ok:
                    attempt = 0
                if self._stopping:
                    break
                delay = self.backoff.delay(attempt)
                attempt += 1
                await asyncio.sleep(delay)
        finally:
            self._connected.clear()

    def _emit_final(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(_STOP)

    async def _connect(self) -> ClientConnection:
        headers = self.signer.headers("GET", WS_PATH, _now_ms())
        try:
            return await websockets.connect(
                self.url,
                additional_headers=headers,
                ping_interval=None,  # the server pings; our liveness check watches frames
                open_timeout=self.open_timeout,
                max_size=2**24,
                max_queue=self.max_frames_queued,
                compression=None,
                create_connection=_StampedConnection,
                user_agent_header=None,
            )
        except InvalidStatus as e:
            code = e.response.status_code
            if code in (401, 403):
                why = "authentication failed (key id, private key or clock)" if code == 401 else "forbidden (scope)"
                raise Fatal(f"WebSocket handshake refused: HTTP {code} {why}", status=code) from None
            raise

    async def _session(self, ws: ClientConnection) -> bool:
        """Run one connection until it closes; True if it got as far as being subscribed."""
        self._ws = ws
        first = self.connects == 0
        self.connects += 1
        if not first:
            self.reconnects += 1
        now = self._clock()
        self.state.reset(now)
        self.state.add_markets(self.markets)
        self._sub_markets.clear()
        self._subscribing.clear()
        reader = asyncio.create_task(self._read_loop(ws), name="kalshi-feed-reader")
        watchdog = asyncio.create_task(self._watchdog(ws), name="kalshi-feed-watchdog")
        subscribed = False
        try:
            setup = asyncio.create_task(self._setup(first))
            done, _ = await asyncio.wait({reader, setup}, return_when=asyncio.FIRST_COMPLETED)
            if setup in done and setup.exception() is None:
                subscribed = True
                self._connected.set()
                await reader
            elif setup in done:
                log.warning("feed setup failed: %r", setup.exception())
            else:
                setup.cancel()
        except ConnectionClosed:
            pass
        finally:
            self._connected.clear()
            self._ws = None
            for t in (reader, watchdog):
                t.cancel()
            for t in (reader, watchdog):
                with contextlib.suppress(BaseException):
                    await t
            for _, fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("feed connection closed"))
            self._pending.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 0.5)
            ws.transport.abort()
        return subscribed

    async def _setup(self, first: bool) -> None:
        waits = [self._subscribe(ch, None, wait=True) for ch in self.private_channels]
        if self.markets:
            tickers = sorted(self.markets)
            waits += [self._subscribe(ch, tickers, wait=True) for ch in self.market_channels]
        results = await asyncio.gather(*waits)
        for r in results:
            if isinstance(r, s.Error):
                raise ProtocolError(f"subscribe refused: code {r.msg.code} {r.msg.msg}")
        await self._emit_wait(
            ev.FeedResynced(
                ts_ms=_now_ms(), tickers=tuple(sorted(self.markets)), reason="connect" if first else "reconnect"
            )
        )

    async def _watchdog(self, ws: ClientConnection) -> None:
        tick = max(0.02, min(0.5, self.dead_after / 5, self.snapshot_timeout / 5))
        while True:
            await asyncio.sleep(tick)
            now = self._clock()
            last = getattr(ws, "last_frame", 0.0)
            if last and last > self.state.last_rx and self._clock is time.monotonic:
                self.state.last_rx = last
            if not self._blocked and self.state.is_dead(now, self.dead_after):
                log.warning("feed silent for %.1fs: closing the socket", now - self.state.last_rx)
                ws.transport.abort()
                return
            try:
                if self.state.overdue(now, self.snapshot_timeout):
                    await self._resubscribe_books("snapshot overdue")
                pending = [t for t in self.state.unrequested() if t in self.markets]
                if pending and BOOK not in self._subscribing:
                    await self._request_snapshots(pending)
            except (ConnectionClosed, ConnectionError):
                return

    async def _read_loop(self, ws: ClientConnection) -> None:
        handle = self.handle_frame
        clock = self._clock
        state = self.state
        while True:
            raw = await ws.recv(decode=False)
            state.last_rx = clock()
            extra = handle(raw, time.time_ns() // 1_000_000)
            if extra is not None:
                await extra

    # -- message handling (synchronous hot path; returns an awaitable only for rare follow-ups) ----------
    def handle_frame(self, raw: bytes, recv_ms: int) -> Any:
        """Process one frame; returns a coroutine to await when a command must be sent."""
        self.messages += 1
        if raw.startswith(_DELTA_PREFIX):
            try:
                ticker, side, price, delta, ts, seq, coid = decode_delta_fast(raw, recv_ms)
            except ProtocolError as e:
                self.protocol_errors += 1
                log.warning("bad orderbook_delta dropped: %s", e)
                return None
            state = self.state
            sid = state.sids.get(BOOK)
            if seq is not None and sid is not None:
                verdict = state.check_seq(sid, seq)
                if verdict is not SeqVerdict.OK:
                    return None if verdict is SeqVerdict.DUPLICATE else self._on_gap()
            if ticker not in state.synced:
                state.dropped_deltas += 1
                return None
            if self.keep_books:
                book = self.books.get(ticker)
                try:
                    if book is None:
                        raise ProtocolError(f"no book for {ticker}", resync=True)
                    book.apply_delta(side, price, delta, ts)
                except ProtocolError as e:
                    log.warning("book %s out of sync (%s): requesting a snapshot", ticker, e)
                    state.unsync(ticker)
                    return self._request_snapshots([ticker])
            e_ = ev.BookDelta(ts_ms=ts, ticker=ticker, side=side, price=price, delta=delta, client_order_id=coid)  # type: ignore[arg-type]
            try:
                self.queue.put_nowait(e_)
            except asyncio.QueueFull:
                return self._emit_wait(e_)
            return None
        try:
            msg = decode_ws(raw)
        except ProtocolError as e:
            self.protocol_errors += 1
            log.warning("bad WS message dropped: %s", e)
            return None
        return self._handle_message(msg, recv_ms)

    def _on_gap(self) -> Any:
        log.warning("seq gap on %s: dropping deltas, requesting snapshots", BOOK)
        tickers = tuple(sorted(t for t in self.state.awaiting if t in self.markets))

        async def follow_up() -> None:
            await self._emit_wait(ev.FeedResynced(ts_ms=_now_ms(), tickers=tickers, reason="seq_gap"))
            await self._request_snapshots(list(tickers))

        return follow_up()

    def _handle_message(self, msg: Any, recv_ms: int) -> Any:
        t = type(msg)
        state = self.state
        if t is s.OrderbookSnapshot:
            sid = state.sids.get(BOOK)
            follow = None
            if msg.seq is not None and sid is not None:
                verdict = state.check_seq(sid, msg.seq)
                if verdict is SeqVerdict.DUPLICATE:
                    return None
                if verdict is SeqVerdict.GAP:
                    follow = self._on_gap()
            ticker = msg.msg.market_ticker
            if not state.on_snapshot(ticker):
                return follow
            try:
                events = ws_events(msg, recv_ms)
            except ProtocolError as e:
                self.protocol_errors += 1
                state.unsync(ticker)
                log.warning("bad snapshot for %s: %s", ticker, e)
                return follow
            snap = events[0]
            if self.keep_books:
                book = self.books.get(ticker)
                if book is None:
                    book = self.books[ticker] = OrderBook(ticker)
                book.apply_snapshot(snap.yes, snap.no, snap.ts_ms)  # type: ignore[attr-defined]
            return self._chain(follow, self._emit_wait(snap))
        if t is s.Subscribed:
            state.on_subscribed(msg.msg.channel, msg.msg.sid)
            self._subscribing.discard(msg.msg.channel)
            self._resolve(msg)
            if msg.msg.channel in self.market_channels:
                asked = self._sub_markets.setdefault(msg.msg.channel, set())
                if asked != self.markets:
                    return self._sync_subscriptions()
            return None
        if t is s.Error or t is s.Ok or t is s.Unsubscribed:
            return self._on_reply(msg)
        if (
            msg.sid is not None
            and msg.seq is not None
            and t is not s.UnknownMessage
            and state.check_seq(msg.sid, msg.seq) is SeqVerdict.DUPLICATE
        ):
            return None
        try:
            events = ws_events(msg, recv_ms)
        except ProtocolError as e:
            self.protocol_errors += 1
            log.warning("WS message dropped: %s", e)
            return None
        if not events:
            return None
        if len(events) == 1:
            return self._emit_wait(events[0])

        async def emit_all() -> None:
            for e in events:
                await self._emit_wait(e)

        return emit_all()

    @staticmethod
    async def _chain(first: Any, second: Any) -> None:
        if first is not None:
            await first
        await second

    def _resolve(self, msg: Any) -> tuple[str, Any] | None:
        cid = msg.id
        if not cid:
            return None
        entry = self._pending.pop(cid, None)
        if entry is not None and not entry[1].done():
            entry[1].set_result(msg)
        return entry

    def _on_reply(self, msg: Any) -> Any:
        entry = self._resolve(msg)
        if type(msg) is s.Error:
            kind = entry[0] if entry else "?"
            log.warning("WS command %s refused: code %s %s", kind, msg.msg.code, msg.msg.msg)
            if kind.startswith("subscribe:"):
                self._subscribing.discard(kind.split(":", 1)[1])
            if kind == "get_snapshot":
                return self._resubscribe_books(f"get_snapshot refused ({msg.msg.code})")
        return None
