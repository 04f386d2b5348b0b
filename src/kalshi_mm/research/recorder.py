"""Record Kalshi market data (and our own sessions) in the format of ``kxgold15m-ws``.

Files: NDJSON.gz, one line per received message, ``{"recv_ms": <int>, "event": <raw WS message>}``,
one file per market per UTC day (``<out>/<ticker>/<yyyy-mm-dd>.ndjson.gz``). Two extensions, which
:mod:`kalshi_mm.research.replay` reads back:

- ``{"recv_ms", "kmm": <core event>}``: an event a shell synthesised (tick, REST order response,
  market metadata), so a recorded *session* replays exactly what its engine saw;
- ``{"recv_ms", "rest": "orderbook"|"trades", "ticker", "body": <REST response>}``: the REST polling
  mode (ind_research's ``create_orderbook_history``): an order-book snapshot and new trades of each
  market every few seconds. It writes JSONL (``<ticker>/<yyyy-mm-dd>.jsonl``).

``to_parquet`` flattens any recording into columns (one row per event). ``RecordStats`` is the
live progress line: markets, messages, bytes, sequence gaps.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from kalshi_mm.core import events as ev
from kalshi_mm.research.replay import encode_event, load

_enc = msgspec.json.Encoder()


class _Peek(msgspec.Struct):
    """Just enough of a WS envelope to route it: type, sid, seq and the market's ticker."""

    class _Msg(msgspec.Struct):
        market_ticker: str | None = None
        ticker: str | None = None

    type: str = ""
    sid: int | None = None
    seq: int | None = None
    msg: _Msg | None = None


_peek = msgspec.json.Decoder(_Peek)


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass
class RecordStats:
    markets: set[str] = field(default_factory=set)
    messages: int = 0
    bytes: int = 0
    gaps: int = 0
    reconnects: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        el = time.monotonic() - self.started
        return (
            f"markets {len(self.markets)} | messages {self.messages:,} ({self.messages / max(el, 1e-9):.0f}/s) | "
            f"{self.bytes / 1e6:.2f} MB | gaps {self.gaps} | reconnects {self.reconnects} | {el:.0f} s"
        )


class RecordingWriter:
    """Appends recording lines to one gzip file per (market, UTC day); or to one file (``single``).

    A sequence gap is a ``seq`` that is not the previous one + 1 on a subscription (the recorder
    sees every market of its subscriptions, so here, unlike in a per-market file, a jump is a
    real gap); a ``seq`` going down is a reconnect.
    """

    def __init__(self, out_dir: Path | str, *, single: str | None = None, jsonl: bool = False) -> None:
        self.out = Path(out_dir)
        self.single = single
        self.jsonl = jsonl
        self.files: dict[tuple[str, str], IO[bytes]] = {}
        self.paths: list[Path] = []
        self.stats = RecordStats()
        self._last_seq: dict[int, int] = {}

    def _file(self, ticker: str, recv_ms: int) -> IO[bytes]:
        key = ("", "") if self.single else (ticker or "_", utc_day(recv_ms))
        f = self.files.get(key)
        if f is None:
            if self.single:
                path = self.out / self.single
            else:
                ext = ".jsonl" if self.jsonl else ".ndjson.gz"
                path = self.out / key[0] / f"{key[1]}{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            new: IO[bytes] = open(path, "ab") if path.suffix == ".jsonl" else gzip.open(path, "ab")  # type: ignore[assignment]  # noqa: SIM115
            self.files[key] = new
            self.paths.append(path)
            return new
        return f

    def _write(self, ticker: str, recv_ms: int, line: bytes) -> None:
        self._file(ticker, recv_ms).write(line)
        self.stats.messages += 1
        self.stats.bytes += len(line)
        if ticker:
            self.stats.markets.add(ticker)

    def write_ws(self, recv_ms: int, raw: bytes | str) -> None:
        """One raw WS frame, exactly as received."""
        data = raw.encode() if isinstance(raw, str) else raw
        p = _peek.decode(data)
        if p.sid is not None and p.seq is not None:
            last = self._last_seq.get(p.sid)
            if last is not None:
                if p.seq <= last:
                    self.stats.reconnects += 1
                elif p.seq != last + 1:
                    self.stats.gaps += 1
            self._last_seq[p.sid] = p.seq
        ticker = (p.msg.market_ticker or p.msg.ticker or "") if p.msg else ""
        if not ticker and not self.single:
            return  # acks and subscription bookkeeping: not market data
        self._write(ticker, recv_ms, b'{"recv_ms":%d,"event":%s}\n' % (recv_ms, data.strip()))

    def write_event(self, recv_ms: int, e: ev.Event) -> None:
        """A core event a shell synthesised (``kmm`` line)."""
        ticker = getattr(e, "ticker", "") or (e.market.ticker if isinstance(e, ev.MarketOpened) else "")
        self._write(ticker, recv_ms, b'{"recv_ms":%d,"kmm":%s}\n' % (recv_ms, encode_event(e)))

    def write_rest(self, recv_ms: int, kind: str, ticker: str, body: Any) -> None:
        raw = body if isinstance(body, bytes) else _enc.encode(body)
        line = b'{"recv_ms":%d,"rest":"%s","ticker":%s,"body":%s}\n' % (recv_ms, kind.encode(), _enc.encode(ticker), raw)
        self._write(ticker, recv_ms, line)

    def flush(self) -> None:
        for f in self.files.values():
            f.flush()

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.files.clear()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- live WebSocket recording -------------------------------------------------------------------------
def now_ms() -> int:
    return time.time_ns() // 1_000_000


def recording_feed(writer: RecordingWriter, **feed_kw: Any) -> Any:
    """A ``venue.feed.KalshiFeed`` that also writes every frame it receives, raw, to ``writer``.

    The feed does the live work (signed handshake, subscriptions, per-sid seq checks with
    ``get_snapshot`` on a gap, reconnect and resubscribe), so the recording holds exactly what
    the live system sees, resync snapshots included. No private channels by default.
    """
    from kalshi_mm.venue.feed import KalshiFeed

    class RecordingFeed(KalshiFeed):
        def handle_frame(self, raw: bytes, recv_ms: int) -> Any:
            writer.write_ws(recv_ms, raw)
            return super().handle_frame(raw, recv_ms)

    feed_kw.setdefault("private_channels", ())
    return RecordingFeed(**feed_kw)


async def record_feed(
    feed: Any,
    writer: RecordingWriter,
    *,
    duration_s: float | None = None,
    on_progress: Callable[[RecordStats], None] | None = None,
) -> RecordStats:
    """Run ``feed`` (from :func:`recording_feed`) until ``duration_s``; its events are drained."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    last = 0.0
    async with feed:
        while deadline is None or time.monotonic() < deadline:
            timeout = 0.5 if deadline is None else max(0.01, min(0.5, deadline - time.monotonic()))
            try:
                await asyncio.wait_for(feed.get(), timeout)
            except TimeoutError:
                pass
            except StopAsyncIteration:
                break
            if on_progress is not None and time.monotonic() - last > 0.5:
                last = time.monotonic()
                writer.stats.reconnects = getattr(feed, "reconnects", 0)
                on_progress(writer.stats)
    writer.stats.reconnects = getattr(feed, "reconnects", 0)
    writer.flush()
    return writer.stats


async def poll_rest(
    client: Any,
    tickers: Sequence[str],
    writer: RecordingWriter,
    *,
    interval_s: float = 3.0,
    duration_s: float | None = None,
    on_progress: Callable[[RecordStats], None] | None = None,
) -> RecordStats:
    """Every ``interval_s``: each market's order book and its trades since the last poll."""
    import kalshi_mm.kalshi.schemas as s

    deadline = None if duration_s is None else time.monotonic() + duration_s
    since: dict[str, int] = {}
    while True:
        t0 = time.monotonic()
        for tk in tickers:
            ob = await client.get_orderbook(tk)
            writer.write_rest(now_ms(), "orderbook", tk, s.GetOrderbookResponse(orderbook_fp=ob))
            params: dict[str, Any] = {"ticker": tk, "limit": 1000}
            if tk in since:
                params["min_ts"] = since[tk]
            trades = await client.get_trades(**params)
            since[tk] = int(time.time()) - 1
            writer.write_rest(now_ms(), "trades", tk, trades)
        writer.flush()
        if on_progress is not None:
            on_progress(writer.stats)
        if deadline is not None and time.monotonic() >= deadline:
            break
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - t0)))
    return writer.stats


# -- Parquet --------------------------------------------------------------------------------------------
def tape_columns(paths: Iterable[Path]) -> dict[str, list[Any]]:
    """Recordings -> flat columns, one row per event (snapshot levels as JSON text)."""
    cols: dict[str, list[Any]] = {k: [] for k in (
        "recv_ms", "ts_ms", "type", "ticker", "side", "price", "qty", "trade_id", "yes_levels", "no_levels")}
    for p in paths:
        tape = load(p)
        events: list[Any] = tape.events
        for r, e in zip(tape.recv, events, strict=True):
            t = type(e)
            cols["recv_ms"].append(r)
            cols["ts_ms"].append(e.ts_ms)
            cols["type"].append(t.__name__)
            cols["ticker"].append(getattr(e, "ticker", None))
            side = price = qty = tid = yl = nl = None
            if t is ev.BookDelta:
                side, price, qty = e.side, e.price, e.delta
            elif t is ev.TradePrinted:
                side, price, qty, tid = e.taker_side, e.price, e.count, e.trade_id
            elif t is ev.BookSnapshot:
                yl, nl = _enc.encode(e.yes).decode(), _enc.encode(e.no).decode()
            elif t is ev.OrderFilled:
                side, price, qty, tid = e.side, e.price, e.count, e.fill_id
            cols["side"].append(side)
            cols["price"].append(price)
            cols["qty"].append(qty)
            cols["trade_id"].append(tid)
            cols["yes_levels"].append(yl)
            cols["no_levels"].append(nl)
    return cols


def to_parquet(paths: Iterable[Path | str], dest: Path | str) -> Path:
    """Convert recordings to one Parquet file (ints: Price 1e-4 $, Qty 1e-2 contract)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = tape_columns(Path(p) for p in paths)
    schema = pa.schema([
        ("recv_ms", pa.int64()), ("ts_ms", pa.int64()), ("type", pa.string()), ("ticker", pa.string()),
        ("side", pa.string()), ("price", pa.int32()), ("qty", pa.int64()), ("trade_id", pa.string()),
        ("yes_levels", pa.string()), ("no_levels", pa.string()),
    ])
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols, schema=schema), dest, compression="zstd")
    return dest
