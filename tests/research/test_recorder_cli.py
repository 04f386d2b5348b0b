"""Recorder writer + Parquet, the REST polling format, analyze, and the research CLI."""

from __future__ import annotations

import json

import msgspec
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from kalshi_mm.cli import app
from kalshi_mm.core import events as ev
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.research import analyze, data, replay
from kalshi_mm.research.recorder import RecordingWriter, to_parquet

GOLD = data.gold_dir()
needs_data = pytest.mark.skipif(not GOLD.exists(), reason="shared recordings not present")


def test_writer_one_file_per_market_per_day_counts_gaps_and_replays(tmp_path):
    day1, day2 = 1786410915524, 1786410915524 + 86_400_000
    with RecordingWriter(tmp_path) as w:
        snap = {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": "A", "market_id": "x",
                "yes_dollars_fp": [["0.4500", "10.00"]], "no_dollars_fp": [["0.5000", "10.00"]]}}
        w.write_ws(day1, json.dumps(snap))
        d = {"type": "orderbook_delta", "sid": 1, "seq": 3, "msg": {"market_ticker": "A", "market_id": "x",
             "price_dollars": "0.4500", "delta_fp": "1.00", "side": "yes", "ts_ms": day1}}
        w.write_ws(day1 + 1, json.dumps(d))  # seq 1 -> 3: a gap
        w.write_ws(day1 + 2, b'{"id":1,"type":"subscribed","msg":{"channel":"trade","sid":2}}')  # not data
        w.write_event(day1 + 3, ev.Tick(ts_ms=day1 + 3))  # no ticker: its own file
        snap["msg"]["market_ticker"] = "B"
        snap["seq"] = 4
        w.write_ws(day2, json.dumps(snap))
        assert w.stats.gaps == 1 and len(w.stats.markets) == 2 and w.stats.messages == 4
        assert "gaps 1" in w.stats.line()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.ndjson.gz"))
    assert files == ["A/2026-08-11.ndjson.gz", "B/2026-08-12.ndjson.gz", "_/2026-08-11.ndjson.gz"]
    tape = replay.load(tmp_path / "A" / "2026-08-11.ndjson.gz", cache=False)
    assert [type(e) for e in tape.events] == [ev.BookSnapshot, ev.BookDelta]
    out = to_parquet([tmp_path / "A" / "2026-08-11.ndjson.gz"], tmp_path / "a.parquet")
    t = pq.read_table(out).to_pydict()
    assert t["type"] == ["BookSnapshot", "BookDelta"] and t["price"][1] == 4500 and t["qty"][1] == 100


def test_rest_polling_lines_replay(tmp_path):
    ob = s.GetOrderbookResponse(orderbook_fp=s.OrderbookFp(yes_dollars=[["0.4000", "5.00"]], no_dollars=[["0.5500", "3.00"]]))
    trades = msgspec.json.decode(json.dumps({"trades": [
        {"trade_id": "t1", "ticker": "A", "count_fp": "2.00", "yes_price_dollars": "0.4200", "no_price_dollars": "0.5800",
         "taker_outcome_side": "yes", "taker_book_side": "bid", "created_time": "2026-08-11T01:00:00Z", "is_block_trade": False}],
        "cursor": ""}), type=s.GetTradesResponse)
    with RecordingWriter(tmp_path, jsonl=True) as w:
        w.write_rest(1000, "orderbook", "A", ob)
        w.write_rest(1001, "trades", "A", trades)
        w.write_rest(4000, "trades", "A", trades)  # the next poll overlaps: kept once
    (path,) = tmp_path.rglob("*.jsonl")
    tape = replay.load(path, cache=False)
    assert [type(e) for e in tape.events] == [ev.BookSnapshot, ev.TradePrinted]
    assert tape.events[1].price == 4200 and tape.events[1].count == 200


@needs_data
def test_analyze_from_recording(tmp_path):
    files = data.gold_windows()["KXGOLD15M-26AUG101830-30"]
    tape, _ = replay.replay(files, lifecycle=False)
    mid_ms = tape.recv[len(tape) // 2]
    (row,) = analyze.from_recording(files, at_ms=mid_ms)
    assert row.spread is not None and row.spread > 0 and row.trades_1h > 0
    assert row.low_1h <= row.high_1h
    (end,) = analyze.from_recording(files)
    assert end.volume_1h == pytest.approx(37901.63)  # SOURCE.md: traded contracts of this window
    analyze.write_csv([row], tmp_path / "a.csv")
    assert "spread" in (tmp_path / "a.csv").read_text().splitlines()[0]


def test_cli_experiment_as2008(tmp_path):
    out = tmp_path / "as.json"
    res = CliRunner().invoke(app, ["experiment", "as2008", "--paths", "1000", "--seed", "0", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "within 3 standard errors" in res.output and "| 0.1 | inventory |" in res.output
    assert set(json.loads(out.read_text())) == {"0.1", "0.01", "1"}


@needs_data
def test_cli_backtest_writes_report(tmp_path):
    res = CliRunner().invoke(app, ["backtest", "-m", "26AUG050000", "-s", "spread_capture", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    (rep,) = tmp_path.rglob("report.html")
    assert (rep.parent / "result.json").exists()
