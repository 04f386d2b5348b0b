"""`kmm backtest` over every kxgold15m-ws window with each strategy (issue 7 acceptance)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kalshi_mm.research import data

STRATEGIES = ("avellaneda_stoikov", "dual_sided", "spread_capture")
_RUN_DEPENDENT = ("wall_s", "events_per_s")


def _backtest(out, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kalshi_mm.cli", "backtest", "--seed", "3", "--out", str(out), *args],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _numbers(path) -> dict:
    d = json.loads(path.read_text())
    for k in _RUN_DEPENDENT:
        d.pop(k)
    return d


@pytest.mark.slow
def test_every_window_with_each_strategy_end_to_end_and_deterministic(tmp_path):
    windows = sorted(data.gold_windows())
    assert len(windows) == 30
    _backtest(tmp_path / "a")  # every strategy, every window (one engine session over them all)
    for strategy in STRATEGIES:
        run = tmp_path / "a" / f"{strategy}-all-seed3"
        for name in ("report.html", "result.json", "equity.png", "inventory.png", "quotes.png", "markouts.png"):
            assert (run / name).stat().st_size > 0, (strategy, name)
        r = json.loads((run / "result.json").read_text())
        assert sorted(r["markets"]) == windows
        assert r["events"] > 1_700_000 and r["commands"] > 0
        assert set(r["per_market"]) == set(windows)
        html = (run / "report.html").read_text()
        assert "equity.png" in html and strategy in html
    # the same seed gives the same numbers
    _backtest(tmp_path / "b", "-s", "spread_capture")
    a = _numbers(tmp_path / "a" / "spread_capture-all-seed3" / "result.json")
    b = _numbers(tmp_path / "b" / "spread_capture-all-seed3" / "result.json")
    assert a == b
