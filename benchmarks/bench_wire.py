"""Wire hot path: one ``orderbook_delta`` message's bytes -> typed struct -> OrderBook.

The gold recording's WS messages (the ``event`` part of each NDJSON line) are re-encoded once up
front to the raw bytes they had on the socket. Deltas are timed in batches of ``BATCH`` (one
``perf_counter_ns`` pair per batch, divided by the batch size); the median over batches is
reported. Snapshots between batches are applied untimed so the books stay correct.

- ``delta_decode_ns``: bytes -> ``schemas.OrderbookDelta`` through ``parse.decode_ws`` (the full
  tagged-union decoder every WS message goes through);
- ``delta_fast_decode_ns``: bytes -> ``DeltaTuple`` (ints) through ``parse.decode_delta_fast``;
- ``delta_bytes_to_book_ns``: bytes -> decoded -> applied to the market's ``OrderBook`` through
  ``parse.DeltaApplier.apply`` (the target is <= 1000 ns).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import msgspec

from benchmarks.common import gold_lines
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s

BATCH = 1000
FILES = 6  # the first six windows: ~250k deltas, enough for a stable median


class _Line(msgspec.Struct):
    event: msgspec.Raw


def _messages() -> list[bytes]:
    dec = msgspec.json.Decoder(_Line)
    return [bytes(dec.decode(line).event) for line in gold_lines(FILES)]


def _batches(messages: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """("delta", [<=BATCH deltas]) runs and ("other", [one message]) in stream order."""
    run: list[bytes] = []
    for m in messages:
        if m.startswith(b'{"type":"orderbook_delta"'):
            run.append(m)
            if len(run) == BATCH:
                yield "delta", run
                run = []
        else:
            if run:
                yield "delta", run
                run = []
            yield "other", [m]
    if run:
        yield "delta", run


class _YardstickDelta(msgspec.Struct):
    market_ticker: str
    price_dollars: str
    delta_fp: str
    side: str


class _YardstickEnvelope(msgspec.Struct):
    type: str
    msg: _YardstickDelta


def _median_ns(samples: list[float]) -> float:
    return statistics.median(samples)


def run() -> list[tuple[str, float, str]]:
    messages = _messages()
    batches = list(_batches(messages))
    full = [b for kind, b in batches if kind == "delta" and len(b) == BATCH]
    clock = time.perf_counter_ns

    # 1) bytes -> typed struct (full union decoder)
    decode_ws = parse.decode_ws
    decode_samples: list[float] = []
    for _ in range(2):
        for batch in full:
            t0 = clock()
            for m in batch:
                decode_ws(m)
            decode_samples.append((clock() - t0) / len(batch))
    assert type(decode_ws(full[0][0])) is s.OrderbookDelta

    # 2) bytes -> ints (fast decoder)
    fast = parse.decode_delta_fast
    fast_samples: list[float] = []
    for _ in range(2):
        for batch in full:
            t0 = clock()
            for m in batch:
                fast(m)
            fast_samples.append((clock() - t0) / len(batch))

    # 3) bytes -> applied to the book, in stream order with snapshots applied untimed
    apply_samples: list[float] = []
    applied = 0
    for _ in range(2):
        applier = parse.DeltaApplier()
        apply = applier.apply
        for kind, batch in batches:
            if kind == "other":
                msg = decode_ws(batch[0])
                if type(msg) is s.OrderbookSnapshot:
                    applier.apply_snapshot(msg)
                continue
            t0 = clock()
            for m in batch:
                apply(m)
            dt = clock() - t0
            applied += len(batch)
            if len(batch) == BATCH:
                apply_samples.append(dt / len(batch))

    # 4) the machine's yardsticks, over the same batches: what the issues quote their targets
    # against (stdlib json alone about 2.5 us a delta, a bare msgspec + dict book about 0.55 us on
    # the machine the targets were set on), so a reader can scale every number of a run
    import json

    bare_dec = msgspec.json.Decoder(_YardstickEnvelope)
    json_samples: list[float] = []
    bare_samples: list[float] = []
    book: dict[tuple[str, str, str], int] = {}
    for batch in full:
        t0 = clock()
        for m in batch:
            json.loads(m)
        json_samples.append((clock() - t0) / len(batch))
        t0 = clock()
        for m in batch:
            d = bare_dec.decode(m).msg
            k = (d.market_ticker, d.side, d.price_dollars)
            book[k] = book.get(k, 0) + int(d.delta_fp.replace(".", ""))
        bare_samples.append((clock() - t0) / len(batch))

    return [
        ("yardstick_delta_stdlib_json_ns", _median_ns(json_samples), "ns"),
        ("yardstick_delta_bare_msgspec_dict_book_ns", _median_ns(bare_samples), "ns"),
        ("delta_decode_ns", _median_ns(decode_samples), "ns"),
        ("delta_fast_decode_ns", _median_ns(fast_samples), "ns"),
        ("delta_bytes_to_book_ns", _median_ns(apply_samples), "ns"),
        ("delta_bench_messages", float(applied // 2), "deltas"),
    ]
