"""The live process: the pure ``Engine`` wired to Kalshi (or the local exchange).

One asyncio loop runs:

- the **event pump**: every event of the ``LiveVenue`` stream (market data from the feed, our
  orders, fills and positions) goes through ``Engine.handle``; the commands that come back are
  journaled and submitted (or, in a dry run, printed, journaled and acknowledged locally);
- a **clock**: a ``Tick`` every ``tick_s`` drives TTLs, debounce, staleness and close windows;
- the **selection loop**: every ``select_every_s`` the open markets are read over REST, ranked
  by ``core.selection`` and the top N traded (a market holding a position or resting orders is
  never dropped); the feed subscription follows the chosen set;
- one **trader lifetime per market** (TAJIR's ``wait_for``): it ends at the market's close, then
  the market is wound down (no new orders, its quotes gone), unsubscribed, and its position kept
  until the result is known and settled;
- **bookkeeping**: P&L snapshots, the CSV tape and metrics once a second; the dashboard.

Recovery at start (and after every feed reconnect, inside ``LiveVenue``): orders, fills and
positions are reconciled from REST. Resting orders not placed by this run are canceled
(``orphans = "cancel"``) or handed to the engine, which manages them like its own quotes
(``orphans = "adopt"``); journal orders left open by an earlier run are resolved against the
exchange so that no order stays unknown. Quotes stay pulled until each book has a fresh snapshot.

Shutdown (``--duration``, SIGINT, SIGTERM, or ``stop()``): trading off, every order of ours
canceled and confirmed by a REST read, everything flushed to the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from kalshi_mm.config import Settings
from kalshi_mm.core import commands as cmds
from kalshi_mm.core import events as ev
from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.selection import MarketStats, SelectionParams, select, stats_from_maker
from kalshi_mm.domain.fees import result_value
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.units import MONEY_SCALE, parse_money, parse_price, parse_qty
from kalshi_mm.errors import ConfigError, ExchangeError, Fatal, KalshiMMError
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.kalshi.auth import Signer
from kalshi_mm.kalshi.parse import market_from_wire
from kalshi_mm.research.recorder import RecordingWriter, recording_feed
from kalshi_mm.runtime.journal import Journal
from kalshi_mm.runtime.logs import REDACTOR
from kalshi_mm.runtime.metrics import Metrics
from kalshi_mm.venue.feed import BOOK, DEFAULT_PRIVATE_CHANNELS, KalshiFeed
from kalshi_mm.venue.live import LiveVenue
from kalshi_mm.venue.ratelimit import RateLimiter
from kalshi_mm.venue.rest import KalshiRestClient

log = logging.getLogger("kalshi_mm.runtime")

_BATCHABLE = (ev.BookDelta, ev.BookSnapshot, ev.TradePrinted)
#: ``market_lifecycle_v2`` (every market, unfiltered): results arrive as they are determined
#: instead of at the next settlement poll, pauses and early closes as they happen
_LIFECYCLE_CHANNEL = "market_lifecycle_v2"
_PRIVATE_CHANNELS = (*DEFAULT_PRIVATE_CHANNELS, _LIFECYCLE_CHANNEL)
_LIFECYCLE = (ev.MarketOpened, ev.MarketStatusChanged, ev.MarketClosed, ev.MarketCloseChanged, ev.MarketDetermined)
_MARKET_DATA = (*_BATCHABLE, ev.MarketDataBatch)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class RunOptions:
    """What ``kmm run`` decides beyond ``Settings``."""

    markets: tuple[str, ...] = ()  # fixed set; empty = selection
    series: tuple[str, ...] = ()  # restrict selection to these series
    dry_run: bool = False
    duration_s: float | None = None
    max_markets: int = 5
    select_every_s: float = 30.0
    tick_s: float = 0.2
    snapshot_every_s: float = 1.0
    orphans: str = "cancel"  # cancel | adopt
    confirm_prod: bool = False
    record_market_data: bool = True
    reconcile_every_s: float = 30.0
    settle_poll_s: float = 2.0
    settle_wait_s: float = 5.0  # at shutdown, wait this long for closed markets to settle
    #: reuse a request signature for the same method+path for this long (0 = sign every request).
    #: Kalshi signs only timestamp+method+path and accepts a few seconds of skew, so this takes
    #: RSA signing (~330 us) off most orders at the cost of part of the skew window.
    sign_cache_ms: int = 1000
    #: record the session: every event the engine handles, in order, as ``kmm`` lines of
    #: ``<record_dir>/session-<run>.ndjson.gz`` (replayable by the backtester for parity), and the
    #: raw WebSocket frames per market and UTC day (the format of shared/data/kalshi/kxgold15m-ws)
    record_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _OrderRow:
    ticker: str
    side: str
    price: int
    initial: int
    order_id: str | None = None
    filled: int = 0
    remaining: int = 0
    status: str = "pending"
    created_ms: int = 0


class DryRunVenue:
    """Executes nothing: acknowledges commands locally so the engine's order state moves on."""

    def __init__(self) -> None:
        self.sent: list[cmds.Command] = []
        self._orders: dict[str, tuple[str, str, int, int]] = {}  # coid -> (ticker, side, price, remaining)

    def ack(self, commands: Iterable[cmds.Command], ts: int) -> list[ev.Event]:
        out: list[ev.Event] = []
        for c in commands:
            if isinstance(c, cmds.PlaceOrder):
                if c.time_in_force != "good_till_canceled":
                    out.append(ev.OrderCanceled(ts_ms=ts, ticker=c.ticker, order_id=f"dry-{c.client_order_id}",
                                                client_order_id=c.client_order_id, reason="dry run IOC"))
                    continue
                self._orders[c.client_order_id] = (c.ticker, c.side, c.price, c.count)
                out.append(ev.OrderAccepted(ts_ms=ts, ticker=c.ticker, order_id=f"dry-{c.client_order_id}",
                                            client_order_id=c.client_order_id, side=c.side, price=c.price,
                                            remaining=c.count))
            elif isinstance(c, cmds.AmendOrder):
                if c.client_order_id in self._orders:
                    self._orders[c.client_order_id] = (c.ticker, c.side, c.price, c.count)
                    out.append(ev.OrderAccepted(ts_ms=ts, ticker=c.ticker, order_id=c.order_id,
                                                client_order_id=c.client_order_id, side=c.side, price=c.price,
                                                remaining=c.count))
            elif isinstance(c, cmds.DecreaseOrder):
                o = self._orders.get(c.client_order_id)
                if o is not None:
                    self._orders[c.client_order_id] = (o[0], o[1], o[2], c.reduce_to)
                    if c.reduce_to <= 0:
                        del self._orders[c.client_order_id]
                        out.append(ev.OrderCanceled(ts_ms=ts, ticker=c.ticker, order_id=c.order_id,
                                                    client_order_id=c.client_order_id, reason="dry run"))
                    else:
                        out.append(ev.OrderAccepted(ts_ms=ts, ticker=c.ticker, order_id=c.order_id,
                                                    client_order_id=c.client_order_id, side=o[1], price=o[2],  # type: ignore[arg-type]
                                                    remaining=c.reduce_to))
            elif isinstance(c, cmds.CancelOrder):
                if self._orders.pop(c.client_order_id, None) is not None:
                    out.append(ev.OrderCanceled(ts_ms=ts, ticker=c.ticker, order_id=c.order_id,
                                                client_order_id=c.client_order_id, reason="dry run"))
            elif isinstance(c, cmds.CancelAll):
                for coid, (t, _side, _p, _r) in list(self._orders.items()):
                    if not c.ticker or c.ticker == t:
                        del self._orders[coid]
                        out.append(ev.OrderCanceled(ts_ms=ts, ticker=t, order_id=f"dry-{coid}",
                                                    client_order_id=coid, reason="dry run"))
        return out


def engine_config(st: Settings) -> EngineConfig:
    """The engine's configuration from validated settings (clear error when a field is wrong)."""
    try:
        return EngineConfig.from_dicts(
            st.strategy,
            st.strategy_params.get(st.strategy),
            risk=st.risk or None,
            execution=st.execution or None,
        )
    except (TypeError, ValueError, KeyError) as e:
        raise ConfigError(f"invalid strategy/risk configuration: {e}") from None


def make_id_prefix(started_ms: int) -> str:
    """A per-run client_order_id prefix; Kalshi dedupes client_order_id forever."""
    return f"k{started_ms:x}{secrets.token_hex(2)}"


class Runner:
    def __init__(self, settings: Settings, options: RunOptions | None = None) -> None:
        self.settings = settings
        self.opts = options or RunOptions()
        if settings.env == "prod" and not self.opts.confirm_prod:
            raise ConfigError(
                "refusing to trade production without --i-understand-this-is-real-money "
                "(confirm_prod); try --env demo or --dry-run first"
            )
        creds = settings.credentials
        key_id = creds.key_id()
        REDACTOR.add_secret(key_id)
        self.signer = Signer.from_pem(key_id, creds.read_private_key())
        self.started_ms = now_ms()
        self.id_prefix = make_id_prefix(self.started_ms)
        self.metrics = Metrics()
        self.engine = Engine(self._engine_config(), id_prefix=self.id_prefix)
        self.dry = DryRunVenue() if self.opts.dry_run else None
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(
            data_dir / "journal.sqlite", tape_path=data_dir / "tape.csv", record_market_data=self.opts.record_market_data
        )
        self.client = KalshiRestClient(
            settings.env,
            base_url=settings.base_url,
            signer=self.signer,
            limiter=RateLimiter.for_tier(settings.tier),
            sign_cache_ms=self.opts.sign_cache_ms,
        )
        channels = (BOOK, "trade")
        self.recorder: RecordingWriter | None = None
        self.session: RecordingWriter | None = None
        if self.opts.record_dir is not None:
            self.recorder = RecordingWriter(self.opts.record_dir)
            self.session = RecordingWriter(self.opts.record_dir, single=f"session-{self.id_prefix}.ndjson.gz")
            self.feed = recording_feed(
                self.recorder, env=settings.env, base_url=settings.base_url, signer=self.signer,
                market_channels=channels, private_channels=_PRIVATE_CHANNELS,
            )
        else:
            self.feed = KalshiFeed(
                settings.env, base_url=settings.base_url, signer=self.signer, market_channels=channels,
                private_channels=_PRIVATE_CHANNELS,
            )
        self.venue = LiveVenue(
            self.client,
            self.feed,
            reconcile_every=self.opts.reconcile_every_s,
            cancel_lost_orders=not self.opts.dry_run,
        )
        sel = dict(settings.selection)
        sel.setdefault("top_n", self.opts.max_markets)
        self.selection = SelectionParams(**sel)
        self.start_balance = 0  # Money, read at start
        self.orders: dict[str, _OrderRow] = {}
        self.fills: list[ev.OrderFilled] = []
        self.traders: dict[str, asyncio.Task[None]] = {}
        self.closed: set[str] = set()
        self.stopping = asyncio.Event()
        self.equity: list[dict[str, Any]] = []
        self.last_latency_ms: float | None = None
        self.balance_cents: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._event_count = 0
        self._event_counters: dict[type, Any] = {}
        self.stop_reason = ""

    # -- configuration -----------------------------------------------------------------------------
    def _engine_config(self) -> EngineConfig:
        return engine_config(self.settings)

    # -- run ---------------------------------------------------------------------------------------
    async def run(self) -> int:
        """Run until the duration elapses, a signal arrives or ``stop()`` is called. Exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop, f"signal {sig.name}")
        self.journal.start_run(
            started_ms=self.started_ms,
            env=self.settings.env,
            strategy=self.settings.strategy,
            id_prefix=self.id_prefix,
            dry_run=self.opts.dry_run,
            config={"strategy_params": self.settings.strategy_params, "risk": self.settings.risk,
                    "markets": list(self.opts.markets), "series": list(self.opts.series)},
        )
        code = 0
        try:
            await self._start()
            self._tasks = [
                loop.create_task(self._pump(), name="pump"),
                loop.create_task(self._clock(), name="clock"),
                loop.create_task(self._selection_loop(), name="selection"),
                loop.create_task(self._bookkeeping(), name="bookkeeping"),
            ]
            waiter = loop.create_task(self.stopping.wait())
            timeout = self.opts.duration_s
            done, _ = await asyncio.wait([waiter, *self._tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                self.stop_reason = self.stop_reason or f"duration {timeout:g} s elapsed"
            for t in done:
                if t is not waiter and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            waiter.cancel()
        except Fatal as e:
            log.error("fatal: %s", e)
            self.stop_reason = f"fatal: {e}"
            code = 2
        except KalshiMMError as e:
            log.error("stopping on error: %s", e)
            self.stop_reason = f"error: {e}"
            code = 1
        finally:
            await self._shutdown()
        return code

    def stop(self, reason: str = "stop requested") -> None:
        if not self.stopping.is_set():
            self.stop_reason = reason
            log.info("stopping: %s", reason)
            self.stopping.set()

    async def _start(self) -> None:
        # fills before this run are already in the balance and positions we read now
        self.venue._last_fill_ts_ms = self.started_ms
        await self.venue.start()
        bal = await self.client.get_balance()
        self.start_balance = parse_money(bal.balance_dollars, "balance_dollars")
        self.balance_cents = bal.balance
        log.info(
            "run %s started: env=%s strategy=%s dry_run=%s balance=$%.2f",
            self.id_prefix, self.settings.env, self.settings.strategy, self.opts.dry_run,
            self.start_balance / MONEY_SCALE,
        )
        await self._recover()
        await self._select()

    async def _recover(self) -> None:
        """Resolve journal orders left open by earlier runs; handle orphans per config."""
        reader = self.journal.reader()
        try:
            stale = [o for o in reader.open_orders() if o["run_id"] != self.journal.run_id]
        finally:
            reader.close()
        known = {o.client_order_id: o for o in self.venue.orders.values()}
        for row in stale:
            coid = row["client_order_id"]
            o = known.get(coid)
            status, remaining, filled, oid = row["status"], row["remaining"], row["filled"], row["order_id"]
            if o is not None:
                status, remaining, filled, oid = o.status, o.remaining, o.filled, o.order_id
            else:
                try:
                    w = await self.client.find_order_by_client_id(coid, ticker=row["ticker"])
                except ExchangeError as e:
                    log.warning("could not read back order %s: %s", coid, e)
                    continue
                if w is None:
                    status, remaining = "rejected", 0  # never reached the exchange
                else:
                    status, oid = w.status, w.order_id
                    remaining = parse_qty(w.remaining_count_fp)
                    filled = parse_qty(w.fill_count_fp)
            self.journal.upsert_order(
                client_order_id=coid, order_id=oid, ticker=row["ticker"], side=row["side"], price=row["price"],
                initial=row["initial"], remaining=remaining, filled=filled, status=status, ts_ms=now_ms(),
                reason="recovered at restart",
            )
        orphans = [o for o in self.venue.live_orders() if not o.client_order_id.startswith(self.id_prefix + "-")]
        if not orphans:
            return
        if self.opts.dry_run:
            log.warning("dry run: %d resting orders not ours are left alone", len(orphans))
            return
        if self.opts.orphans == "adopt":
            tickers = sorted({o.ticker for o in orphans})
            await self._add_markets(tickers)
            for o in orphans:
                self._handle(ev.OrderAccepted(ts_ms=now_ms(), ticker=o.ticker, order_id=o.order_id,
                                              client_order_id=o.client_order_id, side=o.side,  # type: ignore[arg-type]
                                              price=o.price, remaining=o.remaining, filled=o.filled))
            log.warning("adopted %d orphan orders in %s", len(orphans), ", ".join(tickers))
            return
        log.warning("canceling %d orphan orders left by an earlier run", len(orphans))
        await asyncio.gather(
            *(self.venue.execute(cmds.CancelOrder(ticker=o.ticker, order_id=o.order_id,
                                                  client_order_id=o.client_order_id, reason="orphan"))
              for o in orphans)
        )

    # -- the event path ------------------------------------------------------------------------------
    async def _pump(self) -> None:
        """Drain what is already queued without yielding to the loop per event; market data that
        arrived together is handed over as one MarketDataBatch, so that each market re-quotes once
        on the state after it (not on the half-way state of an amend's two deltas); anything else
        ends the batch, so the engine sees every event in order."""
        venue = self.venue
        batch: list[ev.Event] = []
        e: ev.Event | None = None
        while True:
            if e is None:
                e = await venue.get()
            for _ in range(1000):
                self._route(e, batch)
                e = venue.get_nowait()
                if e is None:
                    break
            self._flush(batch)  # (an event drawn past the 1000th is routed next round)

    def _route(self, e: ev.Event, batch: list[ev.Event]) -> None:
        t = type(e)
        if t in _BATCHABLE:
            batch.append(e)
        elif t in _LIFECYCLE:
            if self._lifecycle_wanted(e):  # other markets' news neither splits a batch nor stops here
                self._flush(batch)
                self._on_lifecycle(e)
        else:
            self._flush(batch)
            self._handle(e)

    def _flush(self, batch: list[ev.Event]) -> None:
        if len(batch) == 1:
            self._handle(batch[0])
        elif batch:
            self._handle(ev.MarketDataBatch(ts_ms=batch[-1].ts_ms, events=tuple(batch)))  # type: ignore[arg-type]
        batch.clear()

    def _lifecycle_wanted(self, e: ev.Event) -> bool:
        """``market_lifecycle_v2`` speaks of every market on the exchange: only news of a market we
        trade or hold (or wound down and may trade again) concerns us; selection alone decides
        what is traded, so a new market waits for the selection loop."""
        t = type(e)
        if t is ev.MarketOpened:
            return False
        ticker: str = e.ticker  # type: ignore[attr-defined]
        if ticker in self.engine.markets:
            return True
        if t is ev.MarketDetermined:
            pos = self.engine.portfolio.positions.get(ticker)
            return pos is not None and bool(pos.qty) and not pos.settled
        return t is ev.MarketCloseChanged and ticker in self.closed

    def _on_lifecycle(self, e: ev.Event) -> None:
        """A wanted lifecycle event (``_lifecycle_wanted``)."""
        t = type(e)
        ticker: str = e.ticker  # type: ignore[attr-defined]
        if t is ev.MarketDetermined:
            if ticker in self.traders:
                self._end_trader(ticker, closed=True)
            self._settle(e, "lifecycle")  # type: ignore[arg-type]
            return
        if t is ev.MarketCloseChanged:
            self._close_changed(e)  # type: ignore[arg-type]
            return
        if t is ev.MarketClosed and ticker in self.traders:
            log.info("%s closed (lifecycle); winding down", ticker)
            self._end_trader(ticker, closed=True)
            return
        self._handle(e)

    def _close_changed(self, e: ev.MarketCloseChanged) -> None:
        """A traded market's trader now lives until the new close (an early close ends it now); a
        market wound down at its old close that reopened may be selected again."""
        ticker = e.ticker
        if ticker in self.engine.markets:
            self._handle(e)
        task = self.traders.get(ticker)
        if task is not None:
            mm = self.engine.markets.get(ticker)
            if mm is not None:
                log.info("%s close time moved to %s", ticker, _iso(e.close_ts_ms))
                task.cancel()
                self.traders[ticker] = asyncio.get_running_loop().create_task(
                    self._trader(mm.market), name=f"trader-{ticker}"
                )
        elif ticker in self.closed and e.close_ts_ms > now_ms():
            log.info("%s reopened (close moved to %s)", ticker, _iso(e.close_ts_ms))
            self.closed.discard(ticker)

    def _settle(self, e: ev.MarketDetermined, source: str) -> None:
        self._handle(e)
        pos = self.engine.portfolio.position(e.ticker)
        self.journal.set_position(e.ticker, pos.qty, pos.cost, pos.realized, pos.fees, now_ms())
        log.info("%s settled %s (%s)", e.ticker, e.result, source)

    def _handle(self, e: ev.Event) -> None:
        t = type(e)
        if t is ev.OrderFilled and e.ts_ms < self.started_ms:  # type: ignore[attr-defined]
            self.journal.record_fill(e)  # type: ignore[arg-type]
            return
        if self.session is not None:
            self.session.write_event(now_ms(), e)
        t0 = time.perf_counter()
        commands = self.engine.handle(e)
        dt = time.perf_counter() - t0
        self._event_count += 1
        counter = self._event_counters.get(t)
        if counter is None:
            counter = self._event_counters[t] = self.metrics.events.labels(t.__name__)
        counter.inc()
        if t is ev.FeedResynced:
            self.metrics.resyncs.inc()
        if t not in _MARKET_DATA or self.opts.record_market_data:
            self.journal.record_event(e)
        if t in _MARKET_DATA:
            self.metrics.tick_to_quote.observe(dt)
        else:
            self._book_order_event(e)
        if commands:
            self.metrics.quotes.inc()
            self._dispatch(commands, e.ts_ms)

    def _dispatch(self, commands: list[cmds.Command], ts: int) -> None:
        sent = self.dry is None
        now = now_ms()
        for c in commands:
            self.journal.record_command(now, c, sent=sent)
            self.metrics.commands.labels(type(c).__name__).inc()
            if isinstance(c, cmds.PlaceOrder):
                row = _OrderRow(c.ticker, c.side, c.price, c.count, remaining=c.count, created_ms=now)
                self.orders[c.client_order_id] = row
                self._journal_order(c.client_order_id, row, now)
        if self.dry is not None:
            for c in commands:
                print(f"[dry-run] {type(c).__name__} {msgspec_text(c)}", flush=True)
            for e in self.dry.ack(commands, ts):
                self._handle(e)
            return
        for task in self.venue.submit(commands):
            task.add_done_callback(self._timed(now))

    def _timed(self, sent_ms: int) -> Any:
        t0 = time.perf_counter()

        def done(_task: asyncio.Task[Any]) -> None:
            rtt = time.perf_counter() - t0
            self.metrics.order_rtt.observe(rtt)
            self.last_latency_ms = rtt * 1000.0

        return done

    def _journal_order(self, coid: str, row: _OrderRow, ts: int, reason: str = "") -> None:
        self.journal.upsert_order(
            client_order_id=coid, order_id=row.order_id, ticker=row.ticker, side=row.side, price=row.price,
            initial=row.initial, remaining=row.remaining, filled=row.filled, status=row.status, ts_ms=ts,
            reason=reason,
        )

    def _book_order_event(self, e: ev.Event) -> None:
        t = type(e)
        ts = e.ts_ms
        if t is ev.OrderFilled:
            f: ev.OrderFilled = e  # type: ignore[assignment]
            self.fills.append(f)
            del self.fills[:-500]
            self.journal.record_fill(f)
            self.metrics.fills.labels("taker" if f.is_taker else "maker").inc()
            self.metrics.fill_contracts.inc(f.count)
            pos = self.engine.portfolio.position(f.ticker)
            self.journal.set_position(f.ticker, pos.qty, pos.cost, pos.realized, pos.fees, ts)
            row = self.orders.get(f.client_order_id or "")
            if row is not None:
                row.filled += f.count
                row.remaining = max(0, row.remaining - f.count)
                self._journal_order(f.client_order_id or "", row, ts)
            return
        if t is ev.PositionChanged:
            pos = self.engine.portfolio.position(e.ticker)  # type: ignore[attr-defined]
            self.journal.set_position(pos.ticker, pos.qty, pos.cost, pos.realized, pos.fees, ts)
            self.metrics.position.labels(pos.ticker).set(pos.qty / 100)
            return
        coid = getattr(e, "client_order_id", None)
        if not coid:
            return
        row = self.orders.get(coid)
        if t is ev.OrderAccepted:
            a: ev.OrderAccepted = e  # type: ignore[assignment]
            if row is None:
                row = self.orders[coid] = _OrderRow(a.ticker, a.side, a.price, a.remaining + a.filled, created_ms=ts)
            row.order_id, row.price, row.remaining = a.order_id, a.price, a.remaining
            row.filled = max(row.filled, a.filled)
            row.initial = max(row.initial, row.remaining + row.filled)
            row.status = "resting" if a.remaining > 0 else ("executed" if row.filled else "canceled")
            self.metrics.orders.labels("accepted").inc()
        elif row is None:
            return
        elif t is ev.OrderRejected:
            r: ev.OrderRejected = e  # type: ignore[assignment]
            if r.order_id:  # a refused amend/decrease/cancel: the order's own events tell its state
                self.metrics.orders.labels("modify_rejected").inc()
                return
            row.status, row.remaining = "rejected", 0
            self.metrics.orders.labels("rejected").inc()
            self._journal_order(coid, row, ts, reason=f"{r.code}: {r.reason}"[:300])
            return
        elif t is ev.OrderCanceled:
            row.status, row.remaining = "canceled", 0
            if isinstance(e, ev.OrderCanceled) and e.order_id:
                row.order_id = row.order_id or e.order_id
            self.metrics.orders.labels("canceled").inc()
        elif t is ev.OrderExecuted:
            row.status, row.remaining = "executed", 0
            row.filled = max(row.filled, row.initial)
            self.metrics.orders.labels("executed").inc()
        self._journal_order(coid, row, ts)

    # -- clock ---------------------------------------------------------------------------------------------
    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(self.opts.tick_s)
            self._handle(ev.Tick(ts_ms=now_ms()))

    # -- market selection and trader lifetimes --------------------------------------------------------------
    async def _selection_loop(self) -> None:
        while True:
            await asyncio.sleep(self.opts.select_every_s)
            try:
                await self._select()
                await self._poll_settlements()
            except (Fatal, asyncio.CancelledError):
                raise
            except ExchangeError as e:
                log.warning("market selection failed this round: %s", e)

    async def _open_markets(self) -> list[s.Market]:
        if self.opts.series:
            out: list[s.Market] = []
            for series in self.opts.series:
                out.extend(await self.client.get_all_markets(status="open", series_ticker=series))
            return out
        return await self.client.get_all_markets(status="open")

    async def _select(self) -> None:
        now = now_ms()
        if self.opts.markets:
            wanted = [t for t in self.opts.markets if t not in self.closed]
        else:
            wire = await self._open_markets()
            stats = []
            for m in wire:
                if m.ticker in self.closed:
                    continue
                mm = self.engine.markets.get(m.ticker)
                stats.append(stats_from_maker(mm, now) if mm is not None else self._wire_stats(m, now))
            held = {t for t in self.engine.held_tickers() if t not in self.closed}
            wanted = select(stats, self.selection, held=held)
        current = set(self.traders)
        add = [t for t in wanted if t not in current]
        drop = [t for t in current if t not in wanted]
        if add:
            await self._add_markets(add)
        for t in drop:
            log.info("dropping %s (no longer selected)", t)
            self._end_trader(t, closed=False)
        self.metrics.markets.set(len(self.traders))

    @staticmethod
    def _wire_stats(m: s.Market, now: int) -> MarketStats:
        bid = parse_price(m.yes_bid_dollars) if m.yes_bid_dollars else 0
        ask = parse_price(m.yes_ask_dollars) if m.yes_ask_dollars else 0
        spread = (ask - bid) / 10_000 if 0 < bid < ask else None
        volume = max(parse_qty(m.volume_24h_fp or "0"), parse_qty(m.volume_fp or "0")) / 100
        market = market_from_wire(m)
        return MarketStats(
            ticker=m.ticker,
            volume=volume,
            volatility=0.0,
            spread=spread,
            seconds_to_close=(market.close_ts_ms - now) / 1000 if market.close_ts_ms else None,
            active=m.status in ("active", "open"),
        )

    async def _add_markets(self, tickers: list[str]) -> None:
        markets: list[Market] = []
        for t in tickers:
            if t in self.traders:
                continue
            try:
                m = market_from_wire(await self.client.get_market(t))
            except ExchangeError as e:
                log.warning("cannot trade %s: %s", t, e)
                continue
            if m.close_ts_ms and m.close_ts_ms <= now_ms():
                self.closed.add(t)
                continue
            markets.append(m)
        for m in markets:
            self._handle(ev.MarketOpened(ts_ms=now_ms(), market=m))
            self.traders[m.ticker] = asyncio.get_running_loop().create_task(self._trader(m), name=f"trader-{m.ticker}")
            log.info("trading %s (closes in %.0f s)", m.ticker, (m.close_ts_ms - now_ms()) / 1000)
        if markets:
            await self.feed.add_markets([m.ticker for m in markets])

    async def _trader(self, market: Market) -> None:
        """Lives until the market's close (asyncio.wait_for), then winds the market down."""
        seconds = max(0.0, (market.close_ts_ms - now_ms()) / 1000) if market.close_ts_ms else None
        done = asyncio.Event()
        try:
            await asyncio.wait_for(done.wait(), timeout=seconds)
        except TimeoutError:
            log.info("%s reached its close time; winding down", market.ticker)
            self._end_trader(market.ticker, closed=True)

    def _end_trader(self, ticker: str, *, closed: bool) -> None:
        task = self.traders.pop(ticker, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        ts = now_ms()
        if closed:
            self.closed.add(ticker)
            self._handle(ev.MarketClosed(ts_ms=ts, ticker=ticker))
        else:
            commands = self.engine.remove_market(ticker)
            if commands:
                self._dispatch(commands, ts)
        asyncio.get_running_loop().create_task(self.feed.remove_markets([ticker]))
        self.metrics.markets.set(len(self.traders))

    def _unsettled(self) -> list[str]:
        """Markets not being traded where we still hold a position: wait for their result."""
        return [
            t for t, p in self.engine.portfolio.positions.items() if p.qty and not p.settled and t not in self.traders
        ]

    async def _poll_settlements(self) -> None:
        for t in self._unsettled():
            m = await self.client.get_market(t)
            if m.result in ("yes", "no") or (m.result == "scalar" and m.settlement_value_dollars):
                value = (
                    parse_price(m.settlement_value_dollars)
                    if m.settlement_value_dollars
                    else result_value(m.result)
                )
                self._settle(
                    ev.MarketDetermined(ts_ms=now_ms(), ticker=t, result=m.result, settlement_value=value), "poll"
                )

    async def _await_settlements(self) -> None:
        """At shutdown: give markets that already closed a moment to settle (``settle_wait_s``)."""
        deadline = time.monotonic() + self.opts.settle_wait_s
        while True:
            with contextlib.suppress(Exception):
                await self._poll_settlements()
            pending = [t for t in self._unsettled() if t in self.closed]
            if not pending or time.monotonic() >= deadline:
                if pending:
                    log.info("not yet settled at exit: %s", ", ".join(pending))
                return
            await asyncio.sleep(0.5)

    # -- bookkeeping -----------------------------------------------------------------------------------------
    async def _bookkeeping(self) -> None:
        while True:
            await asyncio.sleep(self.opts.snapshot_every_s)
            self._snapshot()

    def _snapshot(self, final: bool = False) -> None:
        ts = now_ms()
        pf = self.engine.portfolio
        marks: dict[str, int | None] = {}
        for t, mm in self.engine.markets.items():
            mid = mm.book.mid
            marks[t] = None if mid is None else round(mid)
        realized = pf.realized()
        unrealized = pf.unrealized(marks)
        cash = self.start_balance + pf.cash
        self.journal.record_pnl(
            ts, cash=cash, realized=realized, unrealized=unrealized, fees=pf.fees_paid, payouts=pf.payouts
        )
        if final:
            for t, p in pf.positions.items():
                self.journal.set_position(t, p.qty, p.cost, p.realized, p.fees, ts)
        inventory = sum(p.qty for p in pf.positions.values())
        self.equity.append({"ts_ms": ts, "equity": (cash + unrealized) / MONEY_SCALE, "inventory": inventory / 100})
        del self.equity[:-2000]
        self.metrics.cash.set(cash / MONEY_SCALE)
        self.metrics.realized.set(realized / MONEY_SCALE)
        self.metrics.unrealized.set(unrealized / MONEY_SCALE)
        self.metrics.fees.set(pf.fees_paid / MONEY_SCALE)
        self.metrics.killed.set(1 if self.engine.risk.killed else 0)
        limiter = self.client.limiter
        if limiter.enabled:
            self.metrics.rate_tokens.labels("read").set(limiter.read.tokens)
            self.metrics.rate_tokens.labels("write").set(limiter.write.tokens)
        self.metrics.reconnects.inc(max(0, self.feed.reconnects - getattr(self, "_seen_reconnects", 0)))
        self._seen_reconnects = self.feed.reconnects
        for t, mm in self.engine.markets.items():
            bid = ask = None
            for o in mm.orders.values():
                if o.side == "bid":
                    bid = o.price if bid is None else max(bid, o.price)
                else:
                    ask = o.price if ask is None else min(ask, o.price)
            pos = pf.position(t)
            self.journal.tape(ts, t, mm.book.mid, bid, ask, pos.qty, pos.unrealized(marks.get(t)), pos.realized,
                              self.last_latency_ms)

    # -- controls (dashboard) -------------------------------------------------------------------------------
    def set_trading(self, enabled: bool) -> None:
        self._dispatch_now(self.engine.set_trading(enabled))

    def kill(self, reason: str) -> None:
        self._dispatch_now(self.engine.kill(reason, now_ms()))

    def reset_kill(self) -> None:
        self._dispatch_now(self.engine.reset_kill())

    def _dispatch_now(self, commands: list[cmds.Command]) -> None:
        if commands:
            self._dispatch(commands, now_ms())

    # -- shutdown ----------------------------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in list(self.traders.values()):
            t.cancel()
        for t in [*self._tasks, *self.traders.values()]:
            with contextlib.suppress(BaseException):
                await t
        try:
            if self.dry is None:
                await self._cancel_everything()
        except Exception as e:  # the journal must still be flushed
            log.error("shutdown: could not confirm every order canceled: %s", e)
        finally:
            # fold in whatever the venue learned while canceling
            while (late := self.venue.get_nowait()) is not None:
                self._handle_quiet(late)
            if self.dry is None:
                await self._await_settlements()
            self._snapshot(final=True)
            with contextlib.suppress(Exception):
                await self.venue.stop()
            with contextlib.suppress(Exception):
                await self.client.close()
            for w in (self.session, self.recorder):
                if w is not None:
                    w.close()
            self.journal.end_run(now_ms())
            self.journal.flush()
            self.journal.close()
            log.info("run %s stopped (%s)", self.id_prefix, self.stop_reason or "done")

    def _handle_quiet(self, e: ev.Event) -> None:
        """Record a late event without sending anything (trading is over)."""
        self.engine.handle(e)
        self.journal.record_event(e)
        if type(e) not in _MARKET_DATA:
            self._book_order_event(e)

    async def _cancel_everything(self) -> None:
        """Cancel every order of ours and confirm it with a REST read."""
        self.engine.set_trading(False)
        await self.venue.drain(timeout=10)
        for attempt in range(5):
            await self.venue.reconcile("shutdown")
            live = [o for o in self.venue.live_orders() if o.client_order_id.startswith(self.id_prefix + "-")]
            if not live:
                log.info("shutdown: no resting orders of ours remain")
                return
            log.info("shutdown: canceling %d orders (attempt %d)", len(live), attempt + 1)
            await asyncio.gather(
                *(self.venue.execute(cmds.CancelOrder(ticker=o.ticker, order_id=o.order_id,
                                                      client_order_id=o.client_order_id, reason="shutdown"))
                  for o in live),
                return_exceptions=True,
            )
            while (e := self.venue.get_nowait()) is not None:
                self._handle_quiet(e)
        raise ExchangeError("orders still resting after 5 cancel rounds")

    # -- views for the dashboard --------------------------------------------------------------------------------
    @property
    def cash(self) -> int:
        return self.start_balance + self.engine.portfolio.cash


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def msgspec_text(c: cmds.Command) -> str:
    return msgspec.json.encode(c).decode()
