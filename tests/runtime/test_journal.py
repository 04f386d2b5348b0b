import os
import signal
import subprocess
import sys
import textwrap
import time

from kalshi_mm.core.commands import PlaceOrder
from kalshi_mm.core.events import BookDelta, MarketOpened, OrderFilled
from kalshi_mm.domain.market import Market
from kalshi_mm.runtime.journal import TAPE_COLUMNS, Journal, JournalReader


def test_journal_records_everything_and_dedupes_fills(tmp_path):
    j = Journal(tmp_path / "j.sqlite", tape_path=tmp_path / "tape.csv")
    run = j.start_run(started_ms=1, env="local", strategy="x", id_prefix="r1", dry_run=False, config={"a": 1})
    j.record_event(MarketOpened(ts_ms=1, market=Market("KXA-1")))
    j.record_event(BookDelta(ts_ms=2, ticker="KXA-1", side="yes", price=4800, delta=100))
    j.record_command(3, PlaceOrder(ticker="KXA-1", client_order_id="r1-1", side="bid", price=4700, count=100), sent=True)
    j.upsert_order(client_order_id="r1-1", ticker="KXA-1", side="bid", price=4700, initial=100, remaining=100, status="pending", ts_ms=3)
    j.upsert_order(client_order_id="r1-1", order_id="o1", ticker="KXA-1", side="bid", price=4700, initial=100, remaining=0, filled=100, status="executed", ts_ms=4)
    fill = OrderFilled(ts_ms=4, ticker="KXA-1", order_id="o1", client_order_id="r1-1", fill_id="f1", side="bid", price=4700, count=100, fee=17500, is_taker=False)
    j.record_fill(fill)
    j.record_fill(fill)  # the same fill from REST reconciliation: counted once
    j.set_position("KXA-1", 100, 470000, 0, 17500, 4)
    j.record_pnl(5, cash=1000, realized=0, unrealized=-5, fees=17500)
    j.tape(5, "KXA-1", 4750.0, 4700, 4800, 100, -5, 0, 1.5)
    assert j.flush()
    r = JournalReader(tmp_path / "j.sqlite")
    assert r.runs()[0]["run_id"] == run
    assert r.count("events") == 2 and r.count("commands") == 1
    orders = r.orders()
    assert len(orders) == 1 and orders[0]["status"] == "executed" and orders[0]["order_id"] == "o1"
    assert r.open_orders() == []
    assert len(r.fills()) == 1 and r.fills()[0]["fee"] == 17500
    assert r.positions()[0]["qty"] == 100
    assert r.pnl()[0]["equity"] == 995
    j.close()
    r.close()
    lines = (tmp_path / "tape.csv").read_text().splitlines()
    assert lines[0].split(",") == list(TAPE_COLUMNS)
    assert lines[1].startswith("5,KXA-1,4750.0,4700,4800,100,-5,0,1.5")


def test_committed_rows_survive_kill_9(tmp_path):
    """A writer process is SIGKILLed mid-stream; every row it confirmed as flushed is there."""
    path = tmp_path / "crash.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        from kalshi_mm.core.events import BookDelta
        from kalshi_mm.runtime.journal import Journal
        j = Journal({str(path)!r})
        j.start_run(started_ms=0, env="local", strategy="x", id_prefix="p", dry_run=False, config={{}})
        n = 0
        while True:
            for _ in range(500):
                n += 1
                j.record_event(BookDelta(ts_ms=n, ticker="T", side="yes", price=100, delta=1))
            j.flush()
            print(n, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    confirmed = 0
    deadline = time.monotonic() + 30
    while confirmed < 20_000 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        confirmed = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert confirmed >= 20_000
    r = JournalReader(path)
    assert r.integrity_ok()
    assert r.count("events") >= confirmed
    # rows are contiguous: nothing committed was lost in the middle
    ts = [row["ts_ms"] for row in r.query("SELECT ts_ms FROM events ORDER BY id")]
    assert ts == list(range(1, len(ts) + 1))
    r.close()
    # the journal continues after a crash: a new writer appends to the same file
    j = Journal(path)
    j.start_run(started_ms=1, env="local", strategy="x", id_prefix="p2", dry_run=False, config={})
    j.record_event(BookDelta(ts_ms=10**9, ticker="T", side="yes", price=100, delta=1))
    j.flush()
    j.close()
    r = JournalReader(path)
    assert len(r.runs()) == 2 and r.count("events") == len(ts) + 1
    r.close()
