"""A small sweep on a LocalCluster writes the four result files."""

from __future__ import annotations

import json

import pytest

from kalshi_mm.research import data, sweep

pytestmark = pytest.mark.skipif(not data.gold_dir().exists(), reason="shared recordings not present")


def test_parse_grid():
    g = sweep.parse_grid(["gamma=0.1,0.5", "kappa=1:3:1", "fit_k=false"])
    assert g == {"gamma": [0.1, 0.5], "kappa": [1.0, 2.0, 3.0], "fit_k": [False]}
    assert len(sweep.grid_points(g)) == 6
    assert len(sweep.grid_points(sweep.DEFAULT_GRID)) == 200


def test_summarize_picks_best_overall_and_by_market_with_inventory_tiebreak():
    rows = [
        {"market": "A", "params": {"g": 1}, "cash": 1.0, "inventory": 5.0, "fills": 1},
        {"market": "A", "params": {"g": 2}, "cash": 1.0, "inventory": -2.0, "fills": 1},
        {"market": "B", "params": {"g": 1}, "cash": 3.0, "inventory": 0.0, "fills": 1},
        {"market": "B", "params": {"g": 2}, "cash": -1.0, "inventory": 0.0, "fills": 1},
    ]
    s = sweep.summarize(rows)
    assert s["best_overall"]["params"] == {"g": 1} and s["best_overall"]["mean_cash"] == 2.0
    assert s["best_by_market"]["A"]["params"] == {"g": 2}  # tie on cash: smaller |inventory|
    assert s["best_by_market"]["B"]["params"] == {"g": 1}


def test_small_sweep_on_local_cluster(tmp_path):
    windows = {w: fs for w, fs in data.gold_windows().items() if w in ("KXGOLD15M-26AUG101830-30", "KXGOLD15M-26AUG050000-00")}
    progress = []
    sweep.sweep(windows, grid={"gamma": [0.1, 0.5], "kappa": [1.0, 3.0]}, n_workers=1, processes=False,
                    chunk=2, out_dir=tmp_path, on_progress=lambda d, n: progress.append((d, n)))
    assert progress[-1] == (4, 4)
    files = {p.name: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert set(files) == {"market_results.json", "overall_results.json", "best_overall.json", "best_by_market.json"}
    assert set(files["market_results.json"]) == set(windows)
    assert all(len(v) == 4 for v in files["market_results.json"].values())
    assert len(files["overall_results.json"]) == 4
    best = files["best_overall.json"]
    assert best["mean_cash"] == max(o["mean_cash"] for o in files["overall_results.json"])
    # different parameters really ran different backtests
    assert len({(r["cash"], r["fills"]) for r in files["market_results.json"]["KXGOLD15M-26AUG101830-30"]}) > 1
