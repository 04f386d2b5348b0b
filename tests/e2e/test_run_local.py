"""`kmm run` against `kmm exchange`, both real processes over real sockets (issue 6 acceptance)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kalshi_mm.domain.units import parse_money, parse_signed_qty

CONFIG = """
strategy = "avellaneda_stoikov"

[strategy_params.avellaneda_stoikov]
order_size = 5.0
gamma = 0.1

[selection]
min_time_to_close_s = 4.0
time_scale_s = 30.0

[risk]
stop_before_close_s = 3
max_position = 40
max_total_position = 200
"""


def kmm_run(ex, data_dir: Path, *extra: str, duration: int = 60) -> subprocess.Popen[str]:
    cfg = data_dir.parent / "config.toml"
    cfg.write_text(CONFIG)
    return subprocess.Popen(
        [
            sys.executable, "-m", "kalshi_mm.cli", "run", "--env", "local", "--base-url", ex.base_url,
            "--duration", str(duration), "--no-dashboard", "--data-dir", str(data_dir), "--config", str(cfg),
            "--select-every", "3", "--max-markets", "8", *extra,
        ],
        env=ex.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def journal(data_dir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(data_dir / "journal.sqlite")
    db.row_factory = sqlite3.Row
    return db


def test_paper_session_matches_exchange_accounts(exchange_factory, tmp_path):
    ex = exchange_factory("--seed", "7", "--markets", "6", "--market-seconds", "25", "--flow-speed", "3")
    data = tmp_path / "data"
    proc = kmm_run(ex, data, duration=60)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-4000:]
    acct = ex.account()
    db = journal(data)

    # several markets traded, fills happened
    tickers = {r["ticker"] for r in db.execute("SELECT DISTINCT ticker FROM orders")}
    assert len(tickers) >= 2, out[-3000:]
    fills = db.execute("SELECT COUNT(*), COALESCE(SUM(fee), 0) FROM fills").fetchone()
    assert fills[0] > 0, "no fills in a 60 s session"
    assert acct["fills"] == fills[0]

    # no order of ours is left resting, on the exchange or in the journal
    assert acct["open_orders"] == 0
    assert db.execute("SELECT COUNT(*) FROM orders WHERE status IN ('pending','resting')").fetchone()[0] == 0

    # positions, cash and fees equal the exchange's own accounts to the micro-dollar
    assert parse_money(acct["fees_paid_dollars"]) == fills[1]
    last = db.execute("SELECT * FROM pnl ORDER BY id DESC LIMIT 1").fetchone()
    assert last["fees"] == fills[1]
    assert last["payouts"] == parse_money(acct["payouts_dollars"]), (last["payouts"], acct["payouts_dollars"])
    assert last["cash"] == parse_money(acct["cash_dollars"]), (last["cash"], acct["cash_dollars"])
    ours = {r["ticker"]: r["qty"] for r in db.execute("SELECT ticker, qty FROM positions") if r["qty"]}
    theirs = {p["ticker"]: parse_signed_qty(p["position_fp"]) for p in acct["positions"]}
    theirs = {t: q for t, q in theirs.items() if q}
    assert ours == theirs

    # a market closed during the session and was wound down; a market that opened was picked up
    log = (data / "ops.log").read_text()
    assert "reached its close time; winding down" in log
    assert "settled" in log and "(lifecycle)" in log  # results pushed by market_lifecycle_v2, not only polled
    first = db.execute("SELECT MIN(created_ms) FROM orders").fetchone()[0]
    late = db.execute(
        "SELECT COUNT(DISTINCT ticker) FROM orders WHERE ticker NOT IN "
        "(SELECT ticker FROM orders WHERE created_ms < ?)",
        (first + 20_000,),
    ).fetchone()[0]
    assert late >= 1, "no market that opened during the session was traded"


def test_dry_run_sends_nothing(exchange_factory, tmp_path):
    ex = exchange_factory("--seed", "3", "--markets", "4", "--market-seconds", "120")
    data = tmp_path / "dry"
    proc = kmm_run(ex, data, "--dry-run", duration=15)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert "[dry-run] PlaceOrder" in out
    acct = ex.account()
    assert acct["orders_received"] == 0 and acct["open_orders"] == 0
    db = journal(data)
    n, sent = db.execute("SELECT COUNT(*), COALESCE(SUM(sent), 0) FROM commands").fetchone()
    assert n > 0 and sent == 0


def test_kill_9_and_restart(exchange_factory, tmp_path):
    ex = exchange_factory("--seed", "5", "--markets", "4", "--market-seconds", "300", "--flow-speed", "2")
    data = tmp_path / "crash"
    proc = kmm_run(ex, data, duration=120)
    # wait until it has orders resting, then kill -9 mid-session
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and ex.account()["open_orders"] == 0:
        time.sleep(0.5)
    assert ex.account()["open_orders"] > 0
    time.sleep(2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    orphans = ex.account()["open_orders"]
    assert orphans > 0  # the killed bot left orders resting

    # restart: orphans canceled, no order unknown, the journal intact and continuing
    proc2 = kmm_run(ex, data, duration=12)
    out, _ = proc2.communicate(timeout=120)
    assert proc2.returncode == 0, out[-3000:]
    assert "orphan orders left by an earlier run" in out
    assert ex.account()["open_orders"] == 0
    db = journal(data)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    runs = db.execute("SELECT run_id, ended_ms FROM runs ORDER BY run_id").fetchall()
    assert len(runs) == 2 and runs[0]["ended_ms"] is None and runs[1]["ended_ms"] is not None
    unknown = db.execute("SELECT COUNT(*) FROM orders WHERE status IN ('pending','resting')").fetchone()[0]
    assert unknown == 0
    assert db.execute("SELECT COUNT(*) FROM orders WHERE run_id = ?", (runs[0]["run_id"],)).fetchone()[0] > 0


def test_a_moved_close_time_is_followed(exchange_factory, tmp_path):
    """close_date_updated (an early close): the trader winds the market down at the new close."""
    ex = exchange_factory("--seed", "9", "--markets", "4", "--market-seconds", "600", "--flow-speed", "2")
    data = tmp_path / "moved"
    proc = kmm_run(ex, data, duration=25)
    deadline = time.monotonic() + 40
    ticker = None
    while time.monotonic() < deadline and ticker is None:
        time.sleep(0.5)
        if (data / "journal.sqlite").exists():
            with contextlib.suppress(sqlite3.OperationalError):
                row = journal(data).execute("SELECT ticker FROM orders ORDER BY created_ms LIMIT 1").fetchone()
                ticker = row[0] if row else None
    assert ticker is not None, "the bot never quoted"
    ex.admin(f"/admin/markets/{ticker}/close_time", {"close_in_s": 5})
    moved_ms = int(time.time() * 1000)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    log = (data / "ops.log").read_text()
    assert f"{ticker} close time moved" in log
    # wound down at the new close, or dropped before it (selection wants min_time_to_close_s left)
    assert f"{ticker} reached its close time; winding down" in log or f"dropping {ticker}" in log
    # nothing new was opened there from the close window on (stop_before_close_s = 3 in CONFIG)
    late = journal(data).execute(
        "SELECT COUNT(*) FROM orders WHERE ticker = ? AND created_ms > ?", (ticker, moved_ms + 5_000)
    ).fetchone()[0]
    assert late == 0
    assert ex.account()["open_orders"] == 0
