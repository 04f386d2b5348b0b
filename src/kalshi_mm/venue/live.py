"""``LiveVenue``: executes core commands against Kalshi (or the local exchange) and reports events.

Commands in (``core.commands``): ``submit(commands)`` runs them concurrently, cancels first
(the ``RateLimiter``'s priority queue then keeps that order when tokens are short); ``execute(cmd)``
runs one and returns the events it produced. Events out (``core.events``), one bounded stream
(``await venue.get()`` / ``async for e in venue``): the feed's market data passes through, and
the venue adds what it learns about our orders:

===================== ==========================================================================
event                 when
===================== ==========================================================================
``OrderAccepted``     create/amend/decrease answered, a WS ``user_order`` or a REST read changed
                      an order's price, remaining or filled size (emitted once per change)
``OrderRejected``     the exchange refused a command (code and message kept)
``OrderFilled``       a fill, from WS ``fill`` or REST ``/portfolio/fills``: once per fill id
``OrderCanceled``     the order left the book (once per order)
``OrderExecuted``     fully filled (once per order)
``PositionChanged``   WS ``market_position`` or REST positions differ from what we last reported
===================== ==========================================================================

Unknown outcomes: a create/amend/decrease/cancel that times out, gets a 5xx or loses its
connection raises ``OutcomeUnknown`` in the client. The venue then closes that market's gate (no
other command for the market is sent), reads the order back (by ``client_order_id`` for a create,
by ``order_id`` otherwise) until it knows the truth, reports it, and reopens the gate.

Reconciliation (``reconcile``) reads resting orders, the state of orders we believe live, fills
since the last one seen and positions from REST; it runs at ``start()``, after every feed
reconnect (``FeedResynced(reason="reconnect")``) and every ``reconcile_every`` seconds, so no
order's state stays unknown and fills are neither lost nor counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kalshi_mm.core import commands as cmds
from kalshi_mm.core import events as ev
from kalshi_mm.domain.units import parse_price, parse_qty, parse_signed_qty
from kalshi_mm.errors import ExchangeError, Fatal, OutcomeUnknown, Rejected, Retryable
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.kalshi.parse import fill_from_wire, position_from_wire
from kalshi_mm.venue.feed import KalshiFeed
from kalshi_mm.venue.policy import Backoff
from kalshi_mm.venue.rest import KalshiRestClient

log = logging.getLogger("kalshi_mm.venue.live")

_STOP = object()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class OrderState:
    """What the venue knows about one of our orders (mirrors the exchange after reconcile)."""

    order_id: str
    client_order_id: str
    ticker: str
    side: str
    price: int
    remaining: int
    filled: int = 0
    status: str = "resting"  # resting | canceled | executed
    seen_ms: int = 0  # local time this state was recorded (REST read models lag it)

    @property
    def live(self) -> bool:
        return self.status == "resting"


class _BoundedSet:
    """Remembers the last ``limit`` keys (fill ids) in insertion order."""

    def __init__(self, limit: int = 200_000) -> None:
        self._d: OrderedDict[Any, None] = OrderedDict()
        self._limit = limit

    def add(self, key: Any) -> bool:
        """True if ``key`` is new."""
        if key in self._d:
            return False
        self._d[key] = None
        if len(self._d) > self._limit:
            self._d.popitem(last=False)
        return True

    def __contains__(self, key: Any) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)


class LiveVenue:
    def __init__(
        self,
        client: KalshiRestClient,
        feed: KalshiFeed | None = None,
        *,
        reconcile_every: float = 30.0,
        queue_size: int = 65_536,
        readback_attempts: int = 4,
        readback_delay: float = 0.25,
        read_lag_s: float = 2.0,
        cancel_lost_orders: bool = True,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.client = client
        self.feed = feed
        self.reconcile_every = reconcile_every
        self.readback_attempts = readback_attempts
        self.readback_delay = readback_delay
        #: REST read models lag writes (a GET 360 ms after an acked cancel still said resting):
        #: reconcile does not overrule an order state younger than this
        self.read_lag_ms = int(read_lag_s * 1000)
        self.cancel_lost_orders = cancel_lost_orders
        self._clock_ms = clock_ms
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        #: order_id -> state; client_order_id -> order_id
        self.orders: dict[str, OrderState] = {}
        self.by_client_id: dict[str, str] = {}
        self.positions: dict[str, int] = {}
        self.seen_fills = _BoundedSet()
        self._lost: set[str] = set()  # client ids reported rejected after an unknown outcome
        self._in_flight: set[str] = set()  # client ids of creates awaiting an answer
        self._gates: dict[str, asyncio.Event] = {}
        self._reconcile_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._ticker_task: asyncio.Task[None] | None = None
        self._last_fill_ts_ms = 0
        self.fatal: BaseException | None = None
        #: counters
        self.unknown_outcomes = 0
        self.reconciles = 0
        self.duplicate_fills = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> LiveVenue:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Reconcile from REST, then start the feed pump and the periodic reconcile."""
        if self.feed is not None:
            self.feed.start()
        await self.reconcile("start")
        loop = asyncio.get_running_loop()
        if self.feed is not None:
            self._pump = loop.create_task(self._pump_feed(), name="venue-feed-pump")
        if self.reconcile_every > 0:
            self._ticker_task = loop.create_task(self._periodic(), name="venue-reconcile")

    async def stop(self) -> None:
        for t in (self._pump, self._ticker_task, *self._tasks):
            if t is not None:
                t.cancel()
        for t in (self._pump, self._ticker_task, *self._tasks):
            if t is not None:
                with contextlib.suppress(BaseException):
                    await t
        self._tasks.clear()
        if self.feed is not None:
            await self.feed.stop()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every submitted command has finished."""
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*list(self._tasks), return_exceptions=True), timeout)

    # -- events out ----------------------------------------------------------------------------------
    async def get(self) -> ev.Event:
        item = await self.queue.get()
        if item is _STOP:
            self.queue.put_nowait(_STOP)
            if self.fatal is not None:
                raise self.fatal
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    def get_nowait(self) -> ev.Event | None:
        try:
            item = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is _STOP:
            self.queue.put_nowait(_STOP)
            return None
        return item  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self

    async def __anext__(self) -> ev.Event:
        return await self.get()

    async def _emit(self, out: list[ev.Event], e: ev.Event) -> None:
        out.append(e)
        await self.queue.put(e)

    # -- commands in ---------------------------------------------------------------------------------
    def submit(self, commands: Iterable[cmds.Command]) -> list[asyncio.Task[list[ev.Event]]]:
        """Execute ``commands`` concurrently (cancels first); events arrive on the stream."""
        loop = asyncio.get_running_loop()
        ordered = sorted(commands, key=lambda c: cmds.PRIORITY.get(type(c), 9))  # type: ignore[call-overload]
        tasks = []
        for c in ordered:
            t = loop.create_task(self.execute(c))
            self._tasks.add(t)
            t.add_done_callback(self._task_done)
            tasks.append(t)
        return tasks

    def _task_done(self, t: asyncio.Task[Any]) -> None:
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            exc = t.exception()
            if isinstance(exc, Fatal):
                self._set_fatal(exc)
            else:
                log.error("command task failed: %r", exc)

    def _set_fatal(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
            log.error("fatal venue error: %s", exc)
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(_STOP)

    async def _gate(self, ticker: str) -> None:
        g = self._gates.get(ticker)
        if g is not None:
            await g.wait()

    @contextlib.asynccontextmanager
    async def _closed_gate(self, ticker: str) -> AsyncIterator[None]:
        g = self._gates.get(ticker)
        if g is None or g.is_set():
            g = self._gates[ticker] = asyncio.Event()
        try:
            yield
        finally:
            g.set()

    async def execute(self, cmd: cmds.Command) -> list[ev.Event]:
        """Run one command; returns (and streams) the events it produced. ``Fatal`` propagates."""
        out: list[ev.Event] = []
        if isinstance(cmd, cmds.CancelAll):
            await self._cancel_all(cmd, out)
            return out
        await self._gate(cmd.ticker)
        try:
            if isinstance(cmd, cmds.PlaceOrder):
                await self._place(cmd, out)
            elif isinstance(cmd, cmds.CancelOrder):
                await self._cancel(cmd, out)
            elif isinstance(cmd, cmds.AmendOrder):
                await self._amend(cmd, out)
            elif isinstance(cmd, cmds.DecreaseOrder):
                await self._decrease(cmd, out)
            else:
                raise TypeError(f"unknown command {cmd!r}")
        except OutcomeUnknown as e:
            self.unknown_outcomes += 1
            log.warning("%s: outcome unknown (%s); reading back", type(cmd).__name__, e)
            async with self._closed_gate(cmd.ticker):
                await self._resolve_unknown(cmd, out)
        except Fatal:
            raise
        except Rejected as e:
            await self._emit(out, self._rejected(cmd, e))
        except Retryable as e:  # a read inside a command failed for good
            await self._emit(out, self._rejected(cmd, e))
        return out

    def _rejected(self, cmd: cmds.Command, e: ExchangeError) -> ev.OrderRejected:
        return ev.OrderRejected(
            ts_ms=self._clock_ms(),
            ticker=cmd.ticker,
            client_order_id=getattr(cmd, "client_order_id", ""),
            order_id=getattr(cmd, "order_id", None),
            code=e.code or (str(e.status) if e.status else ""),
            reason=str(e),
        )

    async def _place(self, cmd: cmds.PlaceOrder, out: list[ev.Event]) -> None:
        self._in_flight.add(cmd.client_order_id)
        try:
            resp = await self.client.create_order(
                cmd.ticker,
                cmd.side,
                cmd.price,
                cmd.count,
                client_order_id=cmd.client_order_id,
                time_in_force=cmd.time_in_force,
                post_only=cmd.post_only or None,
                reduce_only=cmd.reduce_only or None,
                expiration_time=cmd.expiration_ts,
            )
        finally:
            self._in_flight.discard(cmd.client_order_id)
        filled = parse_qty(resp.fill_count, "fill_count")
        remaining = parse_qty(resp.remaining_count, "remaining_count")
        if remaining == 0:
            status = "executed" if filled >= cmd.count else "canceled"
        else:
            status = "resting"
        await self._update(
            OrderState(
                order_id=resp.order_id,
                client_order_id=cmd.client_order_id,
                ticker=cmd.ticker,
                side=cmd.side,
                price=cmd.price,
                remaining=remaining,
                filled=filled,
                status=status,
            ),
            out,
            resp.ts_ms,
        )

    async def _cancel(self, cmd: cmds.CancelOrder, out: list[ev.Event]) -> None:
        try:
            await self.client.cancel_order(cmd.order_id, market_ticker=cmd.ticker)
        except Rejected as e:
            if e.status != 404:
                raise
            # unknown / already canceled / executed: learn which from the order itself
        await self._refresh_order(cmd.order_id, out)

    async def _amend(self, cmd: cmds.AmendOrder, out: list[ev.Event]) -> None:
        resp = await self.client.amend_order(
            cmd.order_id,
            ticker=cmd.ticker,
            side=cmd.side,
            price=cmd.price,
            count=cmd.count,
            client_order_id=cmd.client_order_id,
            updated_client_order_id=cmd.updated_client_order_id,
        )
        o = self.orders.get(cmd.order_id)
        filled = parse_qty(resp.fill_count, "fill_count") if resp.fill_count else (o.filled if o else 0)
        remaining = (
            parse_qty(resp.remaining_count, "remaining_count")
            if resp.remaining_count is not None
            else max(0, cmd.count - filled)
        )
        coid = cmd.updated_client_order_id or cmd.client_order_id
        st = OrderState(
            order_id=resp.order_id or cmd.order_id,
            client_order_id=coid,
            ticker=cmd.ticker,
            side=cmd.side,
            price=cmd.price,
            remaining=remaining,
            filled=filled,
            status="resting" if remaining > 0 else "executed",
        )
        if remaining == 0:
            await self._refresh_order(st.order_id, out)
        else:
            await self._update(st, out, resp.ts_ms)

    async def _decrease(self, cmd: cmds.DecreaseOrder, out: list[ev.Event]) -> None:
        resp = await self.client.decrease_order(cmd.order_id, reduce_to=cmd.reduce_to, market_ticker=cmd.ticker)
        remaining = parse_qty(resp.remaining_count, "remaining_count")
        o = self.orders.get(cmd.order_id)
        if o is None or remaining == 0:
            await self._refresh_order(cmd.order_id, out)
            return
        st = OrderState(
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            ticker=o.ticker,
            side=o.side,
            price=o.price,
            remaining=remaining,
            filled=o.filled,
            status=o.status,
        )
        await self._update(st, out, resp.ts_ms)

    async def _cancel_all(self, cmd: cmds.CancelAll, out: list[ev.Event]) -> None:
        try:
            if not cmd.ticker:
                await self.client.cancel_all_orders()
            else:
                items = [
                    s.BatchCancelOrderItem(order_id=o.order_id, market_ticker=o.ticker)  # routing, as single cancels
                    for o in self.orders.values()
                    if o.live and o.ticker == cmd.ticker
                ]
                for i in range(0, len(items), 20):
                    await self.client.batch_cancel_orders(items[i : i + 20])
        except (OutcomeUnknown, Retryable, Rejected) as e:
            log.warning("cancel-all: %s; reconciling", e)
        await self.reconcile("cancel_all", out=out)

    # -- unknown outcomes ------------------------------------------------------------------------------
    async def _resolve_unknown(self, cmd: cmds.Command, out: list[ev.Event]) -> None:
        backoff = Backoff(base=self.readback_delay, cap=5.0, floor=self.readback_delay / 2)
        if isinstance(cmd, cmds.PlaceOrder):
            for attempt in range(self.readback_attempts):
                await asyncio.sleep(backoff.delay(attempt))
                try:
                    o = await self.client.find_order_by_client_id(cmd.client_order_id, ticker=cmd.ticker)
                except Retryable:
                    continue
                if o is not None:
                    await self._update(self._from_wire(o), out, _now_ms(), force=True)
                    return
            self._lost.add(cmd.client_order_id)
            await self._emit(
                out,
                ev.OrderRejected(
                    ts_ms=self._clock_ms(),
                    ticker=cmd.ticker,
                    client_order_id=cmd.client_order_id,
                    code="not_found_after_unknown_outcome",
                    reason="create outcome unknown and the order was not found when read back",
                ),
            )
            return
        order_id: str = cmd.order_id  # type: ignore[attr-defined]
        attempt = 0
        while True:
            await asyncio.sleep(backoff.delay(attempt))
            attempt += 1
            try:
                o = await self.client.get_order(order_id)
            except Retryable:
                continue
            except Rejected as e:
                await self._emit(out, self._rejected(cmd, e))
                return
            st = self._from_wire(o)
            if isinstance(cmd, cmds.CancelOrder) and st.live:
                # the cancel did not land: now that we know, send it again
                try:
                    await self.client.cancel_order(order_id, market_ticker=cmd.ticker)
                except OutcomeUnknown:
                    continue
                except Rejected as e:
                    if e.status != 404:
                        await self._emit(out, self._rejected(cmd, e))
                        return
                continue
            if st.live and isinstance(cmd, cmds.AmendOrder | cmds.DecreaseOrder):
                if isinstance(cmd, cmds.AmendOrder):
                    applied = st.price == cmd.price and st.filled + st.remaining == cmd.count
                else:
                    applied = st.remaining == cmd.reduce_to
                if not applied:
                    await self._emit(
                        out,
                        ev.OrderRejected(
                            ts_ms=self._clock_ms(),
                            ticker=cmd.ticker,
                            client_order_id=cmd.client_order_id,
                            order_id=order_id,
                            code="not_applied",
                            reason="outcome was unknown; the order read back unchanged",
                        ),
                    )
            # report the order as it is now, even if unchanged, so the engine's pending ends
            await self._update(st, out, _now_ms(), force=True)
            return

    # -- state updates --------------------------------------------------------------------------------
    @staticmethod
    def _from_wire(o: s.Order) -> OrderState:
        return OrderState(
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            ticker=o.ticker,
            side=o.book_side,
            price=parse_price(o.yes_price_dollars, "yes_price_dollars"),
            remaining=parse_qty(o.remaining_count_fp, "remaining_count_fp"),
            filled=parse_qty(o.fill_count_fp, "fill_count_fp"),
            status=o.status,
        )

    def _fresh(self, order_id: str) -> bool:
        """True while our last news of the order is younger than the REST read-model lag."""
        known = self.orders.get(order_id)
        return known is not None and _now_ms() - known.seen_ms < self.read_lag_ms

    async def _refresh_order(self, order_id: str, out: list[ev.Event], *, lagging: bool = False) -> None:
        """Read one order and report it. ``lagging``: a read that may trail what we already know
        (reconciliation) neither overrules nor forgets an order we heard of moments ago."""
        try:
            o = await self.client.get_order(order_id)
        except Rejected:
            known = self.orders.get(order_id)
            if known is not None and known.live and not (lagging and self._fresh(order_id)):
                await self._update(dataclasses.replace(known, status="canceled", remaining=0), out, _now_ms())
            return
        if lagging and self._fresh(order_id) and o.status == "resting":
            return  # (a terminal state is never stale)
        await self._update(self._from_wire(o), out, _now_ms(), news=not lagging)

    async def _update(
        self, new: OrderState, out: list[ev.Event], ts_ms: int, *, force: bool = False, news: bool = True
    ) -> None:
        """Record an order's new state and emit the events that describe the change (once).

        ``news``: the state comes from the WS or a write's answer (it starts the read-lag window);
        False for a REST read, which may trail it."""
        old = self.orders.get(new.order_id)
        if not new.client_order_id and old is not None:
            new.client_order_id = old.client_order_id
        if old is not None and not old.live:
            # terminal is final: late or stale reports emit nothing, but a read of the same
            # terminal state may correct the details (e.g. the price of an amend that filled)
            if new.status == old.status and new.filled >= old.filled:
                self.orders[new.order_id] = new
            return
        if old is not None and new.filled < old.filled:
            return  # a stale read (REST read models lag the WS)
        new.seen_ms = _now_ms() if news or old is None else old.seen_ms
        self.orders[new.order_id] = new
        if new.client_order_id:
            self.by_client_id[new.client_order_id] = new.order_id
        changed = old is None or (old.price, old.remaining, old.filled, old.side) != (
            new.price,
            new.remaining,
            new.filled,
            new.side,
        )
        if old is None or (new.live and (changed or force)):
            await self._emit(
                out,
                ev.OrderAccepted(
                    ts_ms=ts_ms,
                    ticker=new.ticker,
                    order_id=new.order_id,
                    client_order_id=new.client_order_id,
                    side=new.side,  # type: ignore[arg-type]
                    price=new.price,
                    remaining=new.remaining,
                    filled=new.filled,
                ),
            )
        if new.status == "canceled":
            await self._emit(
                out,
                ev.OrderCanceled(
                    ts_ms=ts_ms, ticker=new.ticker, order_id=new.order_id, client_order_id=new.client_order_id
                ),
            )
        elif new.status == "executed":
            await self._emit(
                out,
                ev.OrderExecuted(
                    ts_ms=ts_ms, ticker=new.ticker, order_id=new.order_id, client_order_id=new.client_order_id
                ),
            )
        if new.live and new.client_order_id in self._lost and self.cancel_lost_orders:
            log.warning("order %s (client id %s) appeared after being reported lost: canceling", new.order_id, new.client_order_id)
            t = asyncio.get_running_loop().create_task(
                self.execute(cmds.CancelOrder(ticker=new.ticker, order_id=new.order_id, client_order_id=new.client_order_id))
            )
            self._tasks.add(t)
            t.add_done_callback(self._task_done)

    async def _on_fill(
        self, f: ev.OrderFilled, out: list[ev.Event], *, ids: tuple[str, ...] = ()
    ) -> None:
        """Report a fill once, whichever of WS and REST tells us first.

        Kalshi's REST ``Fill`` has ``trade_id`` = ``fill_id`` and the WS ``fill`` carries the same
        ``trade_id``, so a fill is known by ``(id, order_id)``; every id a report carries is
        remembered, so a later report under any of them is a duplicate.
        """
        keys = [(i, f.order_id) for i in (f.fill_id, *ids) if i]
        if any(k in self.seen_fills for k in keys):
            for k in keys:
                self.seen_fills.add(k)
            self.duplicate_fills += 1
            return
        for k in keys:
            self.seen_fills.add(k)
        if f.ts_ms > self._last_fill_ts_ms:
            self._last_fill_ts_ms = f.ts_ms
        if f.client_order_id is None:
            o = self.orders.get(f.order_id)
            if o is not None and o.client_order_id:
                f = ev.OrderFilled(
                    ts_ms=f.ts_ms,
                    ticker=f.ticker,
                    order_id=f.order_id,
                    client_order_id=o.client_order_id,
                    fill_id=f.fill_id,
                    side=f.side,
                    price=f.price,
                    count=f.count,
                    fee=f.fee,
                    is_taker=f.is_taker,
                    post_position=f.post_position,
                )
        await self._emit(out, f)

    async def _on_position(self, p: ev.PositionChanged, out: list[ev.Event]) -> None:
        if self.positions.get(p.ticker) == p.position:
            return
        self.positions[p.ticker] = p.position
        await self._emit(out, p)

    # -- the feed pump --------------------------------------------------------------------------------
    async def _pump_feed(self) -> None:
        assert self.feed is not None
        feed = self.feed
        while True:
            try:
                e = await feed.get()
            except StopAsyncIteration:
                if feed.error is not None:
                    self._set_fatal(feed.error)
                return
            try:
                await self.on_feed_event(e)
            except Fatal as exc:
                self._set_fatal(exc)
                return
            except Exception as exc:  # one bad message must not stop the stream; reconcile mends state
                log.error("feed event %s could not be handled: %r", type(e).__name__, exc)

    async def on_feed_event(self, e: ev.Event) -> None:
        """Route one feed event: private ones are deduplicated and folded into order state."""
        out: list[ev.Event] = []
        t = type(e)
        if t is ev.OrderFilled:
            await self._on_fill(e, out)  # type: ignore[arg-type]
        elif t is ev.OrderAccepted:
            o = self.orders.get(e.order_id)  # type: ignore[attr-defined]
            await self._update(
                OrderState(
                    order_id=e.order_id,  # type: ignore[attr-defined]
                    client_order_id=e.client_order_id or (o.client_order_id if o else ""),  # type: ignore[attr-defined]
                    ticker=e.ticker,  # type: ignore[attr-defined]
                    side=e.side,  # type: ignore[attr-defined]
                    price=e.price,  # type: ignore[attr-defined]
                    remaining=e.remaining,  # type: ignore[attr-defined]
                    filled=e.filled,  # type: ignore[attr-defined]
                ),
                out,
                e.ts_ms,
            )
        elif t is ev.OrderCanceled or t is ev.OrderExecuted:
            o = self.orders.get(e.order_id)  # type: ignore[attr-defined]
            if o is None:
                # not known yet (an IOC's cancel can beat its 201): read it without holding up the feed
                self._spawn(self._refresh_order(e.order_id, out))  # type: ignore[attr-defined]
            elif o.live:
                st = OrderState(
                    order_id=o.order_id,
                    client_order_id=o.client_order_id,
                    ticker=o.ticker,
                    side=o.side,
                    price=o.price,
                    remaining=0,
                    filled=o.filled + (o.remaining if t is ev.OrderExecuted else 0),
                    status="executed" if t is ev.OrderExecuted else "canceled",
                )
                await self._update(st, out, e.ts_ms)
        elif t is ev.PositionChanged:
            await self._on_position(e, out)  # type: ignore[arg-type]
        elif t is ev.FeedResynced:
            await self.queue.put(e)
            if e.reason in ("connect", "reconnect"):  # type: ignore[attr-defined]
                # private channels carry no seq: what happened before they were live comes from REST
                # (on the first connect too, as the start reconcile may have run before them)
                self._spawn(self.reconcile(e.reason))  # type: ignore[attr-defined]
        else:
            await self.queue.put(e)

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._task_done)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_every)
            try:
                await self.reconcile("periodic")
            except Fatal as e:
                self._set_fatal(e)
                return
            except Exception as e:
                log.warning("periodic reconcile failed: %r", e)

    # -- reconciliation --------------------------------------------------------------------------------
    async def reconcile(self, reason: str = "manual", *, out: list[ev.Event] | None = None) -> list[ev.Event]:
        """Bring orders, fills and positions in line with REST; returns the events emitted."""
        out = [] if out is None else out
        async with self._reconcile_lock:
            self.reconciles += 1
            t0 = time.perf_counter()
            # fills first, so that an executed order's fills precede its OrderExecuted
            since_s = max(0, self._last_fill_ts_ms // 1000 - 120) if self._last_fill_ts_ms else None
            fills = await self.client.get_all_fills(min_ts=since_s)
            for f in sorted(fills, key=lambda x: (x.ts or 0, x.fill_id)):
                d = fill_from_wire(f)
                o = self.orders.get(d.order_id)
                await self._on_fill(
                    ev.OrderFilled(
                        ts_ms=d.ts_ms,
                        ticker=d.ticker,
                        order_id=d.order_id,
                        client_order_id=o.client_order_id if o else None,
                        fill_id=d.fill_id,
                        side=d.side,  # type: ignore[arg-type]
                        price=d.price,
                        count=d.count,
                        fee=d.fee,
                        is_taker=d.is_taker,
                    ),
                    out,
                    ids=(f.trade_id,),
                )
            resting = await self.client.get_all_orders(status="resting")
            seen: set[str] = set()
            for w in resting:
                seen.add(w.order_id)
                if not self._fresh(w.order_id):
                    await self._update(self._from_wire(w), out, _now_ms(), news=False)
            for oid, st in list(self.orders.items()):
                if st.live and oid not in seen:
                    await self._refresh_order(oid, out, lagging=True)
            for p in await self.client.get_all_positions():
                await self._on_position(position_from_wire(p), out)
            log.info(
                "reconciled (%s) in %.0f ms: %d events", reason, (time.perf_counter() - t0) * 1e3, len(out)
            )
        return out

    # -- views --------------------------------------------------------------------------------------------
    def live_orders(self, ticker: str | None = None) -> list[OrderState]:
        return [o for o in self.orders.values() if o.live and (ticker is None or o.ticker == ticker)]

    def position(self, ticker: str) -> int:
        return self.positions.get(ticker, 0)


__all__ = ["LiveVenue", "OrderState", "parse_signed_qty"]
