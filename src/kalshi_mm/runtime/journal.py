"""The journal: SQLite (WAL) record of every event and command, orders, fills, positions and P&L.

Writes never block the event loop: callers enqueue rows and a background thread writes them in
batched transactions. Every committed row survives ``kill -9`` (WAL, ``synchronous=NORMAL``: a
process crash loses nothing that was committed; only an OS crash could lose the last batch).

Tables
------
``runs``      one row per process start (run id, env, strategy, client-order-id prefix)
``events``    every event pushed into the engine (kind, ticker, JSON payload)
``commands``  every command the engine returned, and whether it was sent (dry run: not sent)
``orders``    our orders, upserted as their state changes (keyed by client_order_id)
``fills``     our fills, keyed by fill id (a fill is never counted twice)
``positions`` the latest position per market (qty, cost, realized, fees)
``pnl``       periodic snapshots: cash, realized, unrealized, fees, equity
``kv``        small state (e.g. the time of the last fill seen), survives restarts

The CSV tape (KMM-v1 columns) is written by the same thread:
``ts, ticker, mid, my_bid, my_ask, inventory, unrealized_pnl, realized_pnl, latency_ms``.
"""

from __future__ import annotations

import csv
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import msgspec

from kalshi_mm.core.commands import Command
from kalshi_mm.core.events import Event, OrderFilled
from kalshi_mm.domain.market import PriceGrid

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    env TEXT NOT NULL,
    strategy TEXT NOT NULL,
    id_prefix TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ticker TEXT,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ticker TEXT,
    client_order_id TEXT,
    sent INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    order_id TEXT,
    run_id INTEGER NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    price INTEGER NOT NULL,
    initial INTEGER NOT NULL,
    filled INTEGER NOT NULL DEFAULT 0,
    remaining INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS orders_by_order_id ON orders(order_id);
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY,
    run_id INTEGER NOT NULL,
    order_id TEXT NOT NULL,
    client_order_id TEXT,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    price INTEGER NOT NULL,
    count INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    is_taker INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    ticker TEXT PRIMARY KEY,
    qty INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    realized INTEGER NOT NULL,
    fees INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pnl (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    cash INTEGER NOT NULL,
    realized INTEGER NOT NULL,
    unrealized INTEGER NOT NULL,
    fees INTEGER NOT NULL,
    payouts INTEGER NOT NULL DEFAULT 0,
    equity INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

TAPE_COLUMNS = (
    "ts",
    "ticker",
    "mid",
    "my_bid",
    "my_ask",
    "inventory",
    "unrealized_pnl",
    "realized_pnl",
    "latency_ms",
)


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, PriceGrid):
        return [list(r) for r in obj.ranges]
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    raise NotImplementedError(f"cannot journal {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(obj: Any) -> bytes:
    """JSON bytes of an event or command (tagged with its type name)."""
    return _encoder.encode(obj)


_STOP = object()


class Journal:
    """SQLite journal with a background writer thread. Thread-safe ``record_*`` methods."""

    def __init__(
        self,
        path: str | Path,
        *,
        tape_path: str | Path | None = None,
        record_market_data: bool = True,
        batch_max: int = 5000,
        flush_interval_s: float = 0.05,
        max_queue: int = 1_000_000,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.record_market_data = record_market_data
        self._batch_max = batch_max
        self._flush_interval = flush_interval_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._dropped = 0
        self.run_id: int = 0
        db = self._connect()
        db.executescript(SCHEMA)
        db.close()
        self._tape_file = None
        self._tape = None
        if tape_path is not None:
            tape_path = Path(tape_path)
            tape_path.parent.mkdir(parents=True, exist_ok=True)
            new = not tape_path.exists() or tape_path.stat().st_size == 0
            self._tape_file = open(tape_path, "a", newline="", encoding="utf-8")  # noqa: SIM115
            self._tape = csv.writer(self._tape_file)
            if new:
                self._tape.writerow(TAPE_COLUMNS)
                self._tape_file.flush()
        self._flushed = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    # -- run bookkeeping (synchronous: called once at start/stop) -------------------------------
    def start_run(
        self, *, started_ms: int, env: str, strategy: str, id_prefix: str, dry_run: bool, config: dict[str, Any]
    ) -> int:
        db = self._connect()
        try:
            cur = db.execute(
                "INSERT INTO runs (started_ms, env, strategy, id_prefix, dry_run, config) VALUES (?,?,?,?,?,?)",
                (started_ms, env, strategy, id_prefix, int(dry_run), msgspec.json.encode(config).decode()),
            )
            db.commit()
            self.run_id = int(cur.lastrowid or 0)
        finally:
            db.close()
        return self.run_id

    def end_run(self, ended_ms: int) -> None:
        self._put(("sql", "UPDATE runs SET ended_ms=? WHERE run_id=?", (ended_ms, self.run_id)))

    # -- recording (non-blocking) ---------------------------------------------------------------
    def _put(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
            with self._flushed:
                self._pending += 1
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                log.error("journal queue full: %d rows dropped (disk too slow?)", self._dropped)

    def record_event(self, event: Event) -> None:
        kind = type(event).__name__
        if not self.record_market_data and kind in ("BookDelta", "BookSnapshot", "TradePrinted", "Tick"):
            return
        self._put(("event", event))

    def record_events(self, events: Iterable[Event]) -> None:
        for e in events:
            self.record_event(e)

    def record_command(self, ts_ms: int, command: Command, *, sent: bool) -> None:
        self._put(("command", ts_ms, command, sent))

    def upsert_order(
        self,
        *,
        client_order_id: str,
        ticker: str,
        side: str,
        price: int,
        initial: int,
        remaining: int,
        status: str,
        ts_ms: int,
        order_id: str | None = None,
        filled: int = 0,
        reason: str = "",
    ) -> None:
        self._put(
            (
                "order",
                (client_order_id, order_id, self.run_id, ticker, side, price, initial, filled, remaining, status, ts_ms, ts_ms, reason),
            )
        )

    def record_fill(self, fill: OrderFilled) -> None:
        self._put(("fill", fill))

    def set_position(self, ticker: str, qty: int, cost: int, realized: int, fees: int, ts_ms: int) -> None:
        self._put(("position", (ticker, qty, cost, realized, fees, ts_ms)))

    def record_pnl(
        self, ts_ms: int, cash: int, realized: int, unrealized: int, fees: int, payouts: int = 0
    ) -> None:
        """A P&L snapshot; ``cash`` includes settlement ``payouts`` received so far."""
        equity = cash + unrealized
        self._put(("pnl", (self.run_id, ts_ms, cash, realized, unrealized, fees, payouts, equity)))

    def set_kv(self, key: str, value: str) -> None:
        self._put(("kv", (key, value)))

    def tape(
        self,
        ts_ms: int,
        ticker: str,
        mid: float | None,
        my_bid: int | None,
        my_ask: int | None,
        inventory: int,
        unrealized_pnl: int,
        realized_pnl: int,
        latency_ms: float | None,
    ) -> None:
        if self._tape is not None:
            self._put(("tape", (ts_ms, ticker, mid, my_bid, my_ask, inventory, unrealized_pnl, realized_pnl, latency_ms)))

    # -- writer thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        db = self._connect()
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=self._flush_interval)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if any(item is _STOP for item in batch):
                stop = True
                batch = [i for i in batch if i is not _STOP]
            try:
                self._write(db, batch)
            except Exception:  # never let the writer die silently
                log.exception("journal write failed for a batch of %d rows", len(batch))
            with self._flushed:
                self._pending -= len(batch) + (1 if stop else 0)
                self._flushed.notify_all()
        db.close()
        if self._tape_file is not None:
            self._tape_file.close()

    def _write(self, db: sqlite3.Connection, batch: list[Any]) -> None:
        events, commands, orders, fills, positions, pnl, kv, sql, tape = [], [], [], [], [], [], [], [], []
        run_id = self.run_id
        for item in batch:
            tag = item[0]
            if tag == "event":
                e = item[1]
                events.append((run_id, e.ts_ms, type(e).__name__, getattr(e, "ticker", None), encode(e)))
            elif tag == "command":
                _, ts_ms, c, sent = item
                commands.append(
                    (run_id, ts_ms, type(c).__name__, c.ticker, getattr(c, "client_order_id", None), int(sent), encode(c))
                )
            elif tag == "order":
                orders.append(item[1])
            elif tag == "fill":
                f = item[1]
                fills.append(
                    (f.fill_id, run_id, f.order_id, f.client_order_id, f.ticker, f.side, f.price, f.count, f.fee, int(f.is_taker), f.ts_ms)
                )
            elif tag == "position":
                positions.append(item[1])
            elif tag == "pnl":
                pnl.append(item[1])
            elif tag == "kv":
                kv.append(item[1])
            elif tag == "sql":
                sql.append(item[1:])
            elif tag == "tape":
                tape.append(item[1])
        with db:
            if events:
                db.executemany("INSERT INTO events (run_id, ts_ms, kind, ticker, payload) VALUES (?,?,?,?,?)", events)
            if commands:
                db.executemany(
                    "INSERT INTO commands (run_id, ts_ms, kind, ticker, client_order_id, sent, payload) VALUES (?,?,?,?,?,?,?)",
                    commands,
                )
            if orders:
                db.executemany(
                    """INSERT INTO orders (client_order_id, order_id, run_id, ticker, side, price, initial, filled,
                           remaining, status, created_ms, updated_ms, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(client_order_id) DO UPDATE SET
                           order_id=COALESCE(excluded.order_id, orders.order_id), price=excluded.price,
                           initial=excluded.initial, filled=excluded.filled, remaining=excluded.remaining,
                           status=excluded.status, updated_ms=excluded.updated_ms, reason=excluded.reason""",
                    orders,
                )
            if fills:
                db.executemany("INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?)", fills)
            if positions:
                db.executemany(
                    """INSERT INTO positions (ticker, qty, cost, realized, fees, updated_ms) VALUES (?,?,?,?,?,?)
                       ON CONFLICT(ticker) DO UPDATE SET qty=excluded.qty, cost=excluded.cost,
                           realized=excluded.realized, fees=excluded.fees, updated_ms=excluded.updated_ms""",
                    positions,
                )
            if pnl:
                db.executemany(
                    "INSERT INTO pnl (run_id, ts_ms, cash, realized, unrealized, fees, payouts, equity) VALUES (?,?,?,?,?,?,?,?)",
                    pnl,
                )
            if kv:
                db.executemany("INSERT INTO kv (key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", kv)
            for stmt, params in sql:
                db.execute(stmt, params)
        if tape and self._tape is not None and self._tape_file is not None:
            self._tape.writerows(tape)
            self._tape_file.flush()

    # -- control ----------------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is committed (for shutdown and tests)."""
        with self._flushed:
            return self._flushed.wait_for(lambda: self._pending <= 0, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        with self._flushed:
            self._pending += 1
        self._thread.join(timeout)

    @property
    def dropped(self) -> int:
        return self._dropped

    # -- reading (any thread; separate connection) -------------------------------------------------
    def reader(self) -> JournalReader:
        return JournalReader(self.path)


class JournalReader:
    """Read-only queries over a journal file (recovery, dashboard, tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(sql, params)]

    def runs(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM runs ORDER BY run_id")

    def open_orders(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM orders WHERE status IN ('pending', 'resting') ORDER BY created_ms")

    def orders(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM orders ORDER BY created_ms")

    def fills(self, since_ms: int = 0) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM fills WHERE ts_ms >= ? ORDER BY ts_ms, fill_id", (since_ms,))

    def positions(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM positions ORDER BY ticker")

    def pnl(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM pnl ORDER BY id DESC LIMIT ?", (limit,))
        return rows[::-1]

    def kv(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM kv WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def count(self, table: str) -> int:
        if table not in ("runs", "events", "commands", "orders", "fills", "positions", "pnl", "kv"):
            raise ValueError(f"unknown table {table!r}")
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
