"""Replay: recordings -> one ordered event stream, with the live feed's resync rules."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kalshi_mm.core import events as ev
from kalshi_mm.domain.market import Market, PriceGrid
from kalshi_mm.research import data, replay

GOLD = data.gold_dir()
needs_data = pytest.mark.skipif(not GOLD.exists(), reason="shared recordings not present")


def snap(seq, yes=(("0.4500", "10.00"),), no=(("0.5000", "10.00"),), tk="KX-1"):
    msg = {"market_ticker": tk, "market_id": "m"}
    if yes:
        msg["yes_dollars_fp"] = [list(x) for x in yes]
    if no:
        msg["no_dollars_fp"] = [list(x) for x in no]
    return {"type": "orderbook_snapshot", "sid": 1, "seq": seq, "msg": msg}


def delta(seq, price, d, side="yes", ts=1, tk="KX-1"):
    return {"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
        "market_ticker": tk, "market_id": "m", "price_dollars": price, "delta_fp": d, "side": side, "ts_ms": ts}}


def trade(seq, price, count, taker="no", ts=1, tk="KX-1"):
    return {"type": "trade", "sid": 2, "seq": seq, "msg": {
        "trade_id": f"t{seq}", "market_ticker": tk, "yes_price_dollars": price,
        "no_price_dollars": f"{1 - float(price):.4f}", "count_fp": count, "taker_side": taker,
        "taker_outcome_side": taker, "taker_book_side": "ask" if taker == "no" else "bid", "ts": 0, "ts_ms": ts}}


def write(path: Path, lines) -> Path:
    with gzip.open(path, "wt") as f:
        for recv, msg in lines:
            f.write(json.dumps({"recv_ms": recv, "event": msg}) + "\n")
    return path


def kinds(tape):
    return [type(e).__name__ for e in tape.events]


def test_book_before_trade_on_equal_receive_time(tmp_path):
    p = write(tmp_path / "a.ndjson.gz", [
        (100, snap(1)), (105, trade(1, "0.4500", "1.00")), (105, delta(2, "0.4500", "-1.00")), (106, delta(3, "0.4400", "2.00")),
    ])
    tape = replay.decode_recording(p)
    assert kinds(tape) == ["BookSnapshot", "BookDelta", "TradePrinted", "BookDelta"]
    assert tape.recv == [100, 105, 105, 106]


def test_reconnect_resyncs_and_drops_deltas_until_snapshot(tmp_path):
    p = write(tmp_path / "b.ndjson.gz", [
        (100, snap(10)), (101, delta(11, "0.4500", "1.00")),
        (102, delta(3, "0.4500", "1.00")),  # seq went down: a reconnect, yet no snapshot
        (103, delta(4, "0.4400", "1.00")),
        (104, snap(5)), (105, delta(6, "0.4400", "1.00")),
    ])
    tape = replay.decode_recording(p)
    assert kinds(tape) == ["BookSnapshot", "BookDelta", "FeedResynced", "BookSnapshot", "BookDelta"]
    assert tape.resyncs == 1 and tape.dropped == 2


def test_negative_level_is_a_gap(tmp_path):
    p = write(tmp_path / "c.ndjson.gz", [
        (100, snap(1)), (101, delta(2, "0.4500", "-11.00")), (102, delta(3, "0.4500", "1.00")), (103, snap(4)),
    ])
    tape = replay.decode_recording(p)
    assert kinds(tape) == ["BookSnapshot", "FeedResynced", "BookSnapshot"]
    assert tape.events[1].reason == "negative level"


def test_merge_orders_across_files(tmp_path):
    a = replay.decode_recording(write(tmp_path / "a.ndjson.gz", [(100, snap(1, tk="A")), (110, trade(1, "0.4500", "1.00", tk="A"))]))
    b = replay.decode_recording(write(tmp_path / "b.ndjson.gz", [(105, snap(1, tk="B")), (110, delta(2, "0.4500", "1.00", tk="B"))]))
    m = replay.merge([a, b])
    assert m.recv == [100, 105, 110, 110]
    assert kinds(m) == ["BookSnapshot", "BookSnapshot", "BookDelta", "TradePrinted"]


def test_kmm_lines_and_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("KMM_CACHE_DIR", str(tmp_path / "cache"))
    market = Market(ticker="KX-1", close_ts_ms=999, grid=PriceGrid(((0, 10_000, 100),)))
    p = tmp_path / "s.ndjson.gz"
    with gzip.open(p, "wb") as f:
        f.write(b'{"recv_ms":1,"kmm":%s}\n' % replay.encode_event(ev.MarketOpened(ts_ms=1, market=market)))
        f.write(b'{"recv_ms":2,"kmm":%s}\n' % replay.encode_event(ev.Tick(ts_ms=2)))
    t1 = replay.load(p)
    t2 = replay.load(p)  # from the cache
    assert t1.events == t2.events
    assert t1.events[0].market == market
    assert type(t1.events[1]) is ev.Tick


@needs_data
def test_gold_window_counts_match_source():
    f = sorted((GOLD / "events" / "KXGOLD15M-26AUG102130-30").glob("*.ndjson.gz"))
    tape = replay.load(f[0])
    counts = {k: kinds(tape).count(k) for k in set(kinds(tape))}
    assert counts["BookDelta"] == 196008 and counts["TradePrinted"] == 1884 and counts["BookSnapshot"] == 4
    assert counts["FeedResynced"] == 1  # the reconnect at 01:16:27
    assert all(a <= b for a, b in zip(tape.recv, tape.recv[1:], strict=False))


@needs_data
def test_replay_adds_lifecycle_from_markets_csv():
    f = sorted((GOLD / "events" / "KXGOLD15M-26AUG050000-00").glob("*.ndjson.gz"))
    tape, markets = replay.replay(f)
    m = markets["KXGOLD15M-26AUG050000-00"]
    assert m.result == "no" and m.settlement_value == 0
    assert type(tape.events[0]) is ev.MarketOpened
    closed = [(r, e) for r, e in zip(tape.recv, tape.events, strict=True) if type(e) is ev.MarketClosed]
    assert [r for r, _ in closed] == [m.close_ts_ms]
    assert any(type(e) is ev.MarketDetermined and e.settlement_value == 0 for e in tape.events)


@needs_data
def test_trades_only_parquet():
    f = data.kxinx_files()[0]
    tape = replay.load(f)
    assert len(tape) > 0 and all(type(e) is ev.TradePrinted for e in tape.events)
    e = tape.events[0]
    assert e.price % 100 == 0 and 0 < e.price < 10_000 and e.count > 0
    assert all(a <= b for a, b in zip(tape.recv, tape.recv[1:], strict=False))
