"""Market selection: the seed's score, ranking, top N, and held markets are never dropped."""

from __future__ import annotations

import math

import pytest
from kmm_core_support import T0, Echo, make_engine, market, snapshot, trade

from kalshi_mm.core.events import MarketOpened
from kalshi_mm.core.selection import MarketStats, SelectionParams, rank, score, select, stats_from_maker

P = SelectionParams(top_n=2, target_spread=0.04, spread_sigma=0.02, eps=0.01, min_time_to_close_s=120,
                    time_scale_s=600, idle_scale_s=300)


def test_score_formula() -> None:
    s = MarketStats("A", volume=1000, volatility=0.02, spread=0.06, seconds_to_close=720, seconds_since_trade=30)
    expect = (
        1000 / (0.02 + 0.01)
        * math.exp(-((0.06 - 0.04) ** 2) / (2 * 0.02**2))
        * (1 - math.exp(-(720 - 120) / 600))
        * math.exp(-30 / 300)
    )
    assert score(s, P) == pytest.approx(expect)


def test_score_zero_cases() -> None:
    base = {"volume": 1000, "volatility": 0.01, "spread": 0.04}
    assert score(MarketStats("A", **base, active=False), P) == 0
    assert score(MarketStats("A", volume=1000, volatility=0.01, spread=None), P) == 0
    assert score(MarketStats("A", **base, seconds_to_close=60), P) == 0
    assert score(MarketStats("A", volume=0, volatility=0.01, spread=0.04), P) == 0


def test_rank_prefers_volume_calm_and_target_spread() -> None:
    stats = [
        MarketStats("loud", volume=1000, volatility=0.10, spread=0.04),
        MarketStats("calm", volume=1000, volatility=0.005, spread=0.04),
        MarketStats("tight", volume=1000, volatility=0.005, spread=0.01),
        MarketStats("thin", volume=10, volatility=0.005, spread=0.04),
    ]
    assert [t for t, _ in rank(stats, P)] == ["calm", "tight", "loud", "thin"]
    assert select(stats, P) == ["calm", "tight"]


def test_held_markets_are_never_dropped() -> None:
    stats = [
        MarketStats("a", volume=1000, volatility=0.005, spread=0.04),
        MarketStats("b", volume=900, volatility=0.005, spread=0.04),
        MarketStats("c", volume=1, volatility=0.5, spread=0.5),
    ]
    assert select(stats, P, held={"c", "zz"}) == ["a", "b", "c", "zz"]


def test_stats_from_a_running_market_and_engine_held_tickers() -> None:
    e = make_engine("spread_capture")
    e.handle(MarketOpened(ts_ms=T0, market=market("A", close_in_s=900)))
    Echo(e).settle(e.handle(snapshot([(4000, 100)], [(5000, 100)], ticker="A")), T0)
    for i, p in enumerate([4000, 4200, 4100]):
        e.handle(trade(T0 + i * 1000, p, 10, ticker="A", n=i))
    s = stats_from_maker(e.markets["A"], T0 + 3000)
    assert s.spread == pytest.approx(0.10) and s.volume == 30 and s.seconds_since_trade == 1.0
    assert s.seconds_to_close == pytest.approx(897.0) and s.volatility == pytest.approx(0.01)
    assert e.held_tickers() == {"A"}  # resting orders
