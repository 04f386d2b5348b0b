"""Every message of the real KXGOLD15M WebSocket recording decodes, converts and builds a sane book.

Data: ``shared/data/kalshi/kxgold15m-ws`` (see its SOURCE.md). Each line is
``{"recv_ms", "event": <raw WS message>}``. Books are kept per market across files (the window
``...102000-00`` is split over two UTC-day files and its second file starts with deltas that
continue the first). A seq going *down* on the order-book sid marks a reconnect: the market's
book is stale until the next snapshot rebuilds it.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.domain.units import parse_price
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kalshi"
GOLD = DATA / "kxgold15m-ws"
BOOK_SID = 1  # SOURCE.md: sid 1 = orderbook_delta channel, sid 2 = trade channel

pytestmark = pytest.mark.slow


def _source_table() -> dict[tuple[str, str], tuple[int, int, int]]:
    """(window, file date) -> (snapshots, deltas, trades) from SOURCE.md's per-file table."""
    rows = {}
    for line in (GOLD / "SOURCE.md").read_text().splitlines():
        m = re.match(r"\|(KXGOLD15M-[^|]+)\|(\d{4}-\d{2}-\d{2})\|(\d+)\|(\d+)\|(\d+)\|", line)
        if m:
            rows[(m.group(1), m.group(2))] = (int(m.group(3)), int(m.group(4)), int(m.group(5)))
    return rows


def test_gold_recording_decodes_and_books_never_cross() -> None:
    files = sorted((GOLD / "events").glob("*/*.ndjson.gz"))
    assert len(files) == 31, f"expected the 31 recorded files under {GOLD}, found {len(files)}"

    line_decoder = msgspec.json.Decoder(s.RecordedLine)
    books: dict[str, OrderBook] = {}  # built from ws_events (the slow, general path)
    fast = parse.DeltaApplier()  # built from raw bytes (the fast path); must agree
    stale: set[str] = set()  # markets awaiting a snapshot after a reconnect
    last_seq: dict[tuple[str, int], int] = {}
    per_file: dict[tuple[str, str], Counter[str]] = {}
    totals: Counter[str] = Counter()
    reconnects: list[tuple[str, int]] = []
    crossings: list[tuple[str, int]] = []
    skipped_while_stale = 0

    for path in files:
        window, day = path.parent.name, path.name.split(".")[0]
        counts = per_file.setdefault((window, day), Counter())
        with gzip.open(path, "rb") as f:
            for lineno, line in enumerate(f):
                rec = line_decoder.decode(line)
                raw = bytes(rec.event)
                msg = parse.decode_ws(raw)
                events = parse.ws_events(msg, rec.recv_ms)
                assert len(events) == 1, (path.name, lineno, msg)
                (event,) = events
                counts[type(msg).__name__] += 1
                totals[type(msg).__name__] += 1

                key = (window, msg.sid)
                if msg.seq < last_seq.get(key, -1) and msg.sid == BOOK_SID:
                    reconnects.append((window, lineno))
                    stale.add(window)
                last_seq[key] = msg.seq

                if isinstance(event, ev.BookSnapshot):
                    assert type(msg) is s.OrderbookSnapshot
                    assert event.ticker == msg.msg.market_ticker == window
                    for side in (event.yes, event.no):
                        assert all(type(p) is int and type(q) is int and q > 0 for p, q in side)
                        assert [p for p, _ in side] == sorted({p for p, _ in side})  # strictly ascending
                    book = books.setdefault(event.ticker, OrderBook(event.ticker))
                    book.apply_snapshot(event.yes, event.no, event.ts_ms)
                    fast.apply_snapshot(msg, rec.recv_ms)
                    stale.discard(event.ticker)
                elif isinstance(event, ev.BookDelta):
                    d = msg.msg
                    assert type(msg) is s.OrderbookDelta
                    assert event.ts_ms == d.ts_ms and event.ticker == d.market_ticker == window
                    assert event.side == d.side and event.delta != 0
                    tup = parse.decode_delta_fast(raw, rec.recv_ms)
                    assert tup[:5] == (event.ticker, event.side, event.price, event.delta, event.ts_ms)
                    if event.ticker in stale:
                        skipped_while_stale += 1
                        continue
                    book = books[event.ticker]
                    book.apply_delta(event.side, event.price, event.delta, event.ts_ms)
                    fast_book = fast.apply(raw, rec.recv_ms)
                    assert fast_book.ticker == event.ticker
                else:
                    assert isinstance(event, ev.TradePrinted) and type(msg) is s.TradeMessage
                    t = msg.msg
                    assert event.taker_side == t.taker_side == t.taker_outcome_side
                    assert event.price + parse_price(t.no_price_dollars) == 10_000
                    assert event.ts_ms == t.ts_ms and t.ts == t.ts_ms // 1000
                    assert event.count > 0
                    continue

                if book.is_crossed:
                    crossings.append((window, lineno))

        # the fast path built exactly the same books as the general path
        for ticker, book in books.items():
            assert fast.books[ticker].levels() == book.levels(), ticker

    # SOURCE.md totals and its per-file table
    assert totals["OrderbookDelta"] == 1_719_431
    assert totals["TradeMessage"] == 41_577
    assert totals["OrderbookSnapshot"] == 83
    assert sum(totals.values()) == 1_761_091
    table = _source_table()
    assert len(table) == 31
    for key, (snaps, deltas, trades) in table.items():
        c = per_file[key]
        assert (c["OrderbookSnapshot"], c["OrderbookDelta"], c["TradeMessage"]) == (snaps, deltas, trades), (
            key
        )

    # SOURCE.md: the seq goes down twice in this subset, each followed by a fresh snapshot that
    # arrives before any delta of the market (so nothing had to be dropped).
    assert [w for w, _ in reconnects] == ["KXGOLD15M-26AUG102030-30", "KXGOLD15M-26AUG102130-30"]
    assert skipped_while_stale == 0
    assert not stale
    # Measured: the recorded books never cross (best YES bid + best NO bid < $1) after any
    # snapshot or delta, so the expected list of crossings is empty.
    assert crossings == []
    # At close the feed sends empty snapshots: every window's book ends empty.
    assert all(len(b.yes) == 0 and len(b.no) == 0 for b in books.values())
