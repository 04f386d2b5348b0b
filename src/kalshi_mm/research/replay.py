"""Recordings -> one time-ordered stream of core events.

Inputs:

- WebSocket recordings, ours or ``kxgold15m-ws``: NDJSON(.gz) lines ``{"recv_ms": ..., "event":
  <raw Kalshi WS message>}``. Our recorder may add lines ``{"recv_ms": ..., "kmm": <core event>}``
  for events a shell synthesised (ticks, REST order responses, market metadata); they replay
  verbatim. Raw messages are decoded by :mod:`kalshi_mm.kalshi.parse` (the project's one parser).
- REST polling recordings (``kmm record --rest``): JSONL lines ``{"recv_ms", "rest": "orderbook" |
  "trades", "ticker", "body": <raw REST response>}``.
- Trades-only parquet (``kxinx-trades``): one ``TradePrinted`` per row.

The stream is ordered by the time we *received* each message (``recv``, the engine's clock);
on equal times book events come before trades (market metadata first, lifecycle last). Each
event keeps the exchange's time in ``ts_ms``.

Feed rules, as the live feed applies them: a ``seq`` that goes down on a subscription is a
reconnect; it yields ``FeedResynced`` and the market's deltas are dropped until its next
snapshot. A delta that would leave a negative level is a gap: ``FeedResynced`` and drop until the
next snapshot, too. Deltas before a market's first snapshot are dropped.

Decoding a large recording takes seconds, so :func:`load` caches the decoded tape (msgpack,
under ``data/cache/research``) keyed by the file's path, size, mtime and ``TAPE_VERSION``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.domain.market import Market, PriceGrid
from kalshi_mm.domain.units import parse_price, parse_qty
from kalshi_mm.errors import ProtocolError
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.research.data import cache_dir, known_markets

TAPE_VERSION = 4  # 4: session (kmm) lines are kept exactly as the engine saw them

#: tie-break rank on equal receive times: metadata, book, trades, our orders, lifecycle
_RANK: dict[type, int] = {
    ev.MarketOpened: 0,
    ev.FeedResynced: 1,
    ev.BookSnapshot: 1,
    ev.BookDelta: 1,
    ev.MarketDataBatch: 1,
    ev.TradePrinted: 2,
    ev.OrderAccepted: 3,
    ev.OrderRejected: 3,
    ev.OrderFilled: 3,
    ev.OrderCanceled: 3,
    ev.OrderExecuted: 3,
    ev.PositionChanged: 3,
    ev.BalanceChanged: 3,
    ev.Tick: 3,
    ev.ExternalSignal: 3,
    ev.MarketStatusChanged: 4,
    ev.MarketClosed: 4,
    ev.MarketCloseChanged: 4,
    ev.MarketDetermined: 5,
}

PRIVATE = (ev.OrderAccepted, ev.OrderRejected, ev.OrderFilled, ev.OrderCanceled, ev.OrderExecuted,
           ev.PositionChanged, ev.BalanceChanged)


_SESSION = frozenset((*PRIVATE, ev.Tick))


class Tape(msgspec.Struct):
    """A decoded stream: ``events[i]`` was received at ``recv[i]`` (ms); sorted by receive time."""

    recv: list[int]
    events: list[ev.AnyEvent]
    sources: list[str] = []
    resyncs: int = 0
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.events)

    def tickers(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self.events:
            t = getattr(e, "ticker", None)
            if t:
                seen.setdefault(t, None)
        return list(seen)

    def span_ms(self) -> tuple[int, int]:
        return (self.recv[0], self.recv[-1]) if self.recv else (0, 0)


# -- core events on disk (msgspec with a hook for the Market's price grid) ------------------------
def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, PriceGrid):
        return [list(r) for r in obj.ranges]
    if isinstance(obj, Market):
        return {f: getattr(obj, f) for f in obj.__dataclass_fields__}
    raise NotImplementedError(type(obj))


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is PriceGrid:
        return PriceGrid(tuple(tuple(r) for r in obj))
    if tp is Market:
        d = dict(obj)
        d["grid"] = PriceGrid(tuple(tuple(r) for r in d["grid"]))
        return Market(**d)
    raise NotImplementedError(tp)


_json_enc = msgspec.json.Encoder(enc_hook=_enc_hook)
_event_dec = msgspec.json.Decoder(ev.AnyEvent, dec_hook=_dec_hook)
_mp_enc = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_tape_dec = msgspec.msgpack.Decoder(Tape, dec_hook=_dec_hook)


def encode_event(e: ev.Event) -> bytes:
    """A core event as JSON (the ``kmm`` field of a recording line)."""
    return _json_enc.encode(e)


def decode_event(data: bytes | str) -> ev.Event:
    return _event_dec.decode(data)


def encode_tape(t: Tape) -> bytes:
    return _mp_enc.encode(t)


def decode_tape(b: bytes) -> Tape:
    return _tape_dec.decode(b)


# -- reading -------------------------------------------------------------------------------------
def iter_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            if line.strip():
                yield line


class _Extra(msgspec.Struct):
    recv_ms: int
    kmm: msgspec.Raw = msgspec.Raw(b"")
    rest: str | None = None
    ticker: str = ""
    body: msgspec.Raw = msgspec.Raw(b"")


_extra_dec = msgspec.json.Decoder(_Extra)


class FeedState:
    """The live feed's rules for one recording: seq resets, bad deltas, waiting for snapshots."""

    def __init__(self, check_book: bool = True) -> None:
        self.last_seq: dict[int, int] = {}
        self.books: dict[str, OrderBook] = {}
        self.waiting: set[str] = set()  # markets whose deltas are dropped until a snapshot
        self.check_book = check_book
        self.resyncs = 0
        self.dropped = 0

    def seq_reset(self, msg: Any) -> bool:
        sid, seq = getattr(msg, "sid", None), getattr(msg, "seq", None)
        if sid is None or seq is None:
            return False
        last = self.last_seq.get(sid)
        self.last_seq[sid] = seq
        return last is not None and seq <= last

    def admit_as_seen(self, e: ev.Event, out_recv: list[int], out_ev: list[Any], recv: int) -> None:
        """An event a shell handed its engine (a ``kmm`` line): kept exactly as it was, never
        dropped (the live feed already filtered it); the books follow it for later raw lines."""
        for x in e.events if type(e) is ev.MarketDataBatch else (e,):  # type: ignore[attr-defined]
            t = type(x)
            if t is ev.BookSnapshot:
                book = self.books.get(x.ticker)  # type: ignore[attr-defined]
                if book is None:
                    book = self.books[x.ticker] = OrderBook(x.ticker)  # type: ignore[attr-defined]
                book.apply_snapshot(x.yes, x.no)  # type: ignore[attr-defined]
                self.waiting.discard(x.ticker)  # type: ignore[attr-defined]
            elif t is ev.BookDelta and self.check_book:
                book = self.books.get(x.ticker)  # type: ignore[attr-defined]
                if book is not None:
                    with contextlib.suppress(ProtocolError):
                        book.apply_delta(x.side, x.price, x.delta)  # type: ignore[attr-defined]
        out_recv.append(recv)
        out_ev.append(e)

    def admit(self, e: ev.Event, out_recv: list[int], out_ev: list[Any], recv: int) -> None:
        t = type(e)
        if t is ev.BookDelta:
            tk = e.ticker  # type: ignore[attr-defined]
            book = self.books.get(tk)
            if book is None or tk in self.waiting:
                self.dropped += 1
                return
            if self.check_book:
                try:
                    book.apply_delta(e.side, e.price, e.delta)  # type: ignore[attr-defined]
                except ProtocolError:
                    self._resync(tk, recv, "negative level", out_recv, out_ev)
                    self.dropped += 1
                    return
        elif t is ev.BookSnapshot:
            tk = e.ticker  # type: ignore[attr-defined]
            book = self.books.get(tk)
            if book is None:
                book = self.books[tk] = OrderBook(tk)
            book.apply_snapshot(e.yes, e.no)  # type: ignore[attr-defined]
            self.waiting.discard(tk)
        out_recv.append(recv)
        out_ev.append(e)

    def _resync(self, ticker: str, recv: int, reason: str, out_recv: list[int], out_ev: list[Any]) -> None:
        if ticker in self.waiting:
            return
        self.waiting.add(ticker)
        self.resyncs += 1
        out_recv.append(recv)
        out_ev.append(ev.FeedResynced(ts_ms=recv, tickers=(ticker,), reason=reason))

    def reconnect(self, recv: int, out_recv: list[int], out_ev: list[Any]) -> None:
        for tk in list(self.books):
            self._resync(tk, recv, "reconnect", out_recv, out_ev)


def _rest_events(x: _Extra) -> list[ev.Event]:
    if x.rest == "orderbook":
        book = parse.decode_rest(s.GetOrderbookResponse, bytes(x.body))
        return [parse.snapshot_from_rest(x.ticker, book, x.recv_ms)]
    if x.rest == "trades":
        resp = parse.decode_rest(s.GetTradesResponse, bytes(x.body))
        out: list[ev.Event] = []
        for tr in sorted(resp.trades, key=lambda t: t.created_time):
            out.append(
                ev.TradePrinted(
                    ts_ms=parse.rfc3339_to_ms(tr.created_time, "created_time"),
                    ticker=tr.ticker,
                    trade_id=tr.trade_id,
                    price=parse_price(tr.yes_price_dollars, "yes_price_dollars"),
                    count=parse_qty(tr.count_fp, "count_fp"),
                    taker_side=tr.taker_outcome_side,
                )
            )
        return out
    return []


_BOOK_MSGS = (s.OrderbookSnapshot, s.OrderbookDelta)


def decode_recording(path: Path, check_book: bool = True) -> Tape:
    """One NDJSON(.gz) recording (WS lines, ``kmm`` lines, REST poll lines) -> a sorted tape."""
    recv_out: list[int] = []
    ev_out: list[Any] = []
    feed = FeedState(check_book)
    seen_trades: set[str] = set()
    for line in iter_lines(path):
        head = line[:48]
        if b'"event"' in head or (b'"kmm"' not in head and b'"rest"' not in head):
            recv, msg = parse.decode_recorded_line(line)
            if feed.seq_reset(msg) and type(msg) in _BOOK_MSGS:
                # the book subscription restarted: every book is stale until its snapshot
                # (a reset of the trade subscription carries no state to rebuild)
                feed.reconnect(recv, recv_out, ev_out)
            for e in parse.ws_events(msg, recv):
                feed.admit(e, recv_out, ev_out, recv)
            continue
        x = _extra_dec.decode(line)
        if len(x.kmm):
            e = decode_event(bytes(x.kmm))
            feed.admit_as_seen(e, recv_out, ev_out, x.recv_ms)
        elif x.rest:
            for e in _rest_events(x):
                if type(e) is ev.TradePrinted:
                    if e.trade_id in seen_trades:  # polls overlap; keep each trade once
                        continue
                    seen_trades.add(e.trade_id)
                feed.admit(e, recv_out, ev_out, x.recv_ms)
    tape = Tape(recv_out, ev_out, [str(path)], feed.resyncs, feed.dropped)
    session = any(type(e) in _SESSION for e in ev_out)
    return sort_tape(tape, ties=not session)


def decode_trades_parquet(path: Path) -> Tape:
    """``kxinx-trades`` parquet -> TradePrinted events (trades only; received = exchange time)."""
    import pyarrow.parquet as pq

    cols = pq.read_table(path, columns=["ticker", "ts", "price", "quantity", "direction"]).to_pydict()
    recv: list[int] = []
    events: list[Any] = []
    for i, (tk, ts, price, qty, direction) in enumerate(
        zip(cols["ticker"], cols["ts"], cols["price"], cols["quantity"], cols["direction"], strict=True)
    ):
        ms = int(ts.timestamp() * 1000) if hasattr(ts, "timestamp") else int(ts) // 1000
        # the file stores dollars and contracts as floats; they are whole cents / hundredths
        events.append(
            ev.TradePrinted(
                ts_ms=ms,
                ticker=tk,
                trade_id=f"{tk}#{i}",
                price=round(price * 100) * 100,
                count=round(qty * 100),
                taker_side="yes" if direction == "yes_taker" else "no",
            )
        )
        recv.append(ms)
    return sort_tape(Tape(recv, events, [str(path)]))


def sort_tape(t: Tape, ties: bool = True) -> Tape:
    """Stable sort by (receive time, rank): book before trade on equal times.

    ``ties=False`` keeps the recorded order as it is: a recorded *session* (one with our own order
    events or ticks) is replayed exactly in the order its engine saw it.
    """
    if not ties:
        return t  # a session is replayed in the order its engine saw it
    rank = _RANK
    recv, events = t.recv, t.events
    n = len(events)
    if all(recv[i] <= recv[i + 1] for i in range(n - 1)):
        # already in receive order: only reorder runs of equal times where a rank goes down
        bad = any(
            recv[i] == recv[i + 1] and rank[type(events[i])] > rank[type(events[i + 1])] for i in range(n - 1)
        )
        if not bad:
            return t
    order = sorted(range(n), key=lambda i: (recv[i], rank[type(events[i])]))
    return Tape([recv[i] for i in order], [events[i] for i in order], t.sources, t.resyncs, t.dropped)


# -- cache ---------------------------------------------------------------------------------------
def _cache_key(path: Path) -> str:
    st = path.stat()
    raw = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{TAPE_VERSION}"
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def load(path: Path | str, *, cache: bool = True) -> Tape:
    """A recording -> its tape, from the cache when fresh (decoding once otherwise)."""
    path = Path(path)
    target = cache_dir() / f"{path.name}.{_cache_key(path)}.tape" if cache else None
    if target is not None and target.exists():
        return decode_tape(target.read_bytes())
    if path.suffix == ".parquet":
        tape = decode_trades_parquet(path)
    else:
        tape = decode_recording(path)
    if target is not None:
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(encode_tape(tape))
        tmp.replace(target)
    return tape


def merge(tapes: Sequence[Tape]) -> Tape:
    """Merge sorted tapes into one sorted tape (ties: rank, then input order)."""
    tapes = [t for t in tapes if len(t)]
    if not tapes:
        return Tape([], [])
    sources = [s_ for t in tapes for s_ in t.sources]
    resyncs = sum(t.resyncs for t in tapes)
    dropped = sum(t.dropped for t in tapes)
    if len(tapes) == 1:
        t = tapes[0]
        return Tape(list(t.recv), list(t.events), sources, resyncs, dropped)
    by_start = sorted(tapes, key=lambda t: t.recv[0])
    if all(a.recv[-1] < b.recv[0] for a, b in itertools.pairwise(by_start)):
        recv: list[int] = []
        events: list[Any] = []
        for t in by_start:
            recv += t.recv
            events += t.events
        return Tape(recv, events, sources, resyncs, dropped)
    rank = _RANK

    def keyed(j: int, t: Tape) -> Iterator[tuple[int, int, int, int, Any]]:
        for i, (r, e) in enumerate(zip(t.recv, t.events, strict=True)):
            yield r, rank[type(e)], j, i, e

    recv, events = [], []
    for r, _, _, _, e in heapq.merge(*(keyed(j, t) for j, t in enumerate(tapes))):
        recv.append(r)
        events.append(e)
    return Tape(recv, events, sources, resyncs, dropped)


def lifecycle_tape(markets: Iterable[Market], start_ms: int, settle: bool = True) -> Tape:
    """MarketOpened at the start, MarketClosed at close time, MarketDetermined at close (if known)."""
    recv: list[int] = []
    events: list[Any] = []
    for m in markets:
        recv.append(start_ms)
        events.append(ev.MarketOpened(ts_ms=start_ms, market=m))
        if m.close_ts_ms:
            recv.append(m.close_ts_ms)
            events.append(ev.MarketClosed(ts_ms=m.close_ts_ms, ticker=m.ticker))
            if settle and m.result and m.settlement_value is not None:
                recv.append(m.close_ts_ms)
                events.append(
                    ev.MarketDetermined(
                        ts_ms=m.close_ts_ms, ticker=m.ticker, result=m.result, settlement_value=m.settlement_value
                    )
                )
    return sort_tape(Tape(recv, events, ["lifecycle"]))


def replay(
    paths: Sequence[Path | str],
    *,
    markets: dict[str, Market] | None = None,
    lifecycle: bool = True,
    cache: bool = True,
) -> tuple[Tape, dict[str, Market]]:
    """Recordings -> (one merged tape with market lifecycle events, the markets' metadata)."""
    files = [Path(p) for p in paths]
    tapes = [load(p, cache=cache) for p in files]
    meta = dict(markets) if markets is not None else known_markets(files)
    tape = merge(tapes)
    if lifecycle and len(tape):
        # markets without metadata still need an opening event: a minimal Market
        for tk in tape.tickers():
            meta.setdefault(tk, Market(ticker=tk, event_ticker=tk.rsplit("-", 1)[0]))
        start = tape.recv[0]
        present = set(tape.tickers())
        tape = merge([lifecycle_tape([m for tk, m in meta.items() if tk in present], start), tape])
    return tape, meta
