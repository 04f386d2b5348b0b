"""The A-S (2008) §3.3 reproduction matches the published table within three standard errors."""

from __future__ import annotations

import json

import pytest

from kalshi_mm.core.strategies import as_formula
from kalshi_mm.research.experiments import avellaneda_stoikov_2008 as as2008


@pytest.fixture(scope="module")
def results():
    return as2008.run(paths=1000, seed=0)


def test_means_match_published_within_three_standard_errors(results):
    assert as2008.check_against_paper(results, n_se=3.0) == []


def test_spreads_match_published(results):
    for gamma, by in results.items():
        for name, st in by.items():
            assert st.spread == pytest.approx(as2008.PUBLISHED[gamma][name][0], abs=0.015)


def test_inventory_strategy_has_lower_variance_than_symmetric(results):
    # the paper's qualitative finding: inventory control trades a little mean for much less risk
    for by in results.values():
        assert by["inventory"].profit_std < by["symmetric"].profit_std
        assert by["inventory"].q_std < by["symmetric"].q_std


def test_check_flags_a_wrong_result(results):
    bad = {0.1: {"inventory": as2008.StrategyStats(1.49, 60.0, 6.6, 0.08, 2.9, 1000)}}
    assert any("profit" in p for p in as2008.check_against_paper(bad))


def test_same_seed_same_numbers_and_json_shape(tmp_path):
    a = as2008.run(paths=200, seed=7)
    b = as2008.run(paths=200, seed=7)
    assert as2008.as_json(a) == as2008.as_json(b)
    out = tmp_path / "as.json"
    as2008.main(paths=100, seed=1, json_file=out)
    data = json.loads(out.read_text())
    assert set(data) == {"0.1", "0.01", "1"}
    assert set(data["0.1"]) == {"inventory", "symmetric"}
    assert set(data["1"]["symmetric"]) == {"spread", "profit_mean", "profit_std", "q_mean", "q_std"}


def test_uses_the_live_formula(monkeypatch):
    calls = []
    real = as_formula.as_quotes

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(as2008, "as_quotes", spy)
    as2008.simulate(0.1, paths=10, seed=0)
    assert len(calls) == as2008.Params().steps
