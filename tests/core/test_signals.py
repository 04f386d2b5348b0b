"""Signals: trade-window volatility, EWMA of mid changes, trade intensity, OFI."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from kalshi_mm.core.signals import MarketSignals, SignalParams, logit

T0 = 1_000_000


def test_window_std_is_the_seed_stdev_of_the_last_60_s_of_trade_prices() -> None:
    s = MarketSignals()
    prices = [0.40, 0.42, 0.41, 0.45, 0.44]
    for i, p in enumerate(prices):
        s.on_trade(T0 + i * 10_000, p, 100, None)
    assert s.window_std() == pytest.approx(statistics.stdev(prices))
    assert s.window_std(logit_space=True) == pytest.approx(statistics.stdev([logit(p) for p in prices]))
    # 60 s after the second trade, the first two have left the window
    s.on_trade(T0 + 71_000, 0.43, 100, None)
    assert s.window_trades == 4
    assert s.window_std() == pytest.approx(statistics.stdev([0.41, 0.45, 0.44, 0.43]))
    assert s.trade_volume == 400


def test_window_var_rate_sums_squared_changes_inside_the_window_per_second() -> None:
    s = MarketSignals(SignalParams(window_s=60))
    for i, p in enumerate([0.50, 0.52, 0.51, 0.55]):
        s.on_trade(T0 + i * 1000, p, 100, None)
    expect = (0.02**2 + 0.01**2 + 0.04**2) / 60
    assert s.window_var_rate() == pytest.approx(expect)
    # the change into the oldest remaining trade refers to a trade that left: it no longer counts
    s.advance(T0 + 60_500)  # the 0.50 trade (t=0) leaves
    assert s.window_var_rate() == pytest.approx((0.01**2 + 0.04**2) / 60)
    s.advance(T0 + 200_000)
    assert s.window_var_rate() == 0.0 and s.window_std() == 0.0


def test_fewer_than_two_trades_give_zero_volatility() -> None:
    s = MarketSignals()
    assert s.window_std() == 0.0
    s.on_trade(T0, 0.5, 100, None)
    assert s.window_std() == 0.0


def test_ewma_of_mid_changes_estimates_variance_per_second() -> None:
    # a mid that moves +-1 cent every second has variance 1e-4 per second
    s = MarketSignals(SignalParams(ewma_halflife_s=30))
    rng = random.Random(7)
    mid = 5000
    for i in range(2000):
        mid += rng.choice((-100, 100))
        mid = min(max(mid, 2000), 8000)
        s.on_top(T0 + i * 1000, mid - 100, 500, mid + 100, 500)
    assert s.ewma_var_rate() == pytest.approx(1e-4, rel=0.35)
    assert s.sigma("mid") == pytest.approx(0.01, rel=0.2)
    # logit space: d logit / dp = 1 / (p (1 - p)) ~ 4 near 0.5
    assert s.ewma_var_rate(logit_space=True) > 10 * s.ewma_var_rate()
    # with no changes, it decays with time
    later = s.ewma_var_rate(T0 + 1999 * 1000 + 60_000)
    assert later == pytest.approx(s.ewma_var_rate(T0 + 1999 * 1000) / 4, rel=0.01)


def test_sigma_sources() -> None:
    s = MarketSignals()
    for i, p in enumerate([0.50, 0.53, 0.50, 0.53]):
        s.on_trade(T0 + i * 1000, p, 100, None)
    assert s.sigma("trades") == pytest.approx(math.sqrt(3 * 0.03**2 / 60))
    assert s.sigma("mid") == 0.0
    assert s.sigma("max") == s.sigma("trades")


def test_intensity_fit_recovers_k_from_trades_against_the_mid() -> None:
    # trades reach depth >= d with probability exp(-k d): d ~ Exponential(k), k = 80 per dollar
    k_true = 80.0
    rng = random.Random(3)
    s = MarketSignals(SignalParams(intensity_bin=0.005, intensity_bins=40, intensity_halflife_s=1e9))
    mid = 0.5
    for i in range(4000):
        d = rng.expovariate(k_true)
        side = 1 if i % 2 else -1
        s.on_trade(T0 + i * 100, mid + side * d, 100, mid)
    fit = s.intensity()
    assert fit is not None
    a, k = fit
    assert k == pytest.approx(k_true, rel=0.15)
    assert a > 0
    # cached until the next trade
    assert s.intensity() is fit


def test_intensity_needs_enough_trades() -> None:
    s = MarketSignals()
    s.on_trade(T0, 0.5, 100, 0.49)
    assert s.intensity() is None


def test_ofi_sign_follows_buying_pressure_and_decays() -> None:
    s = MarketSignals(SignalParams(ofi_halflife_s=10))
    s.on_top(T0, 4800, 1000, 5200, 1000)
    s.on_top(T0 + 1, 4900, 500, 5200, 1000)  # bid improves: +5 contracts
    assert s.ofi() == pytest.approx(5.0)
    s.on_top(T0 + 2, 4900, 500, 5200, 400)  # ask shrinks by 6: +6
    assert s.ofi() == pytest.approx(11.0, rel=1e-3)
    assert s.ofi(T0 + 2 + 10_000) == pytest.approx(5.5, rel=1e-3)
    s.on_top(T0 + 3, 4800, 700, 5200, 400)  # bid retreats: -5 (the old bid size)
    assert s.ofi() < 11.0


def test_reset_book_does_not_bridge_a_gap() -> None:
    s = MarketSignals()
    s.on_top(T0, 4800, 100, 5200, 100)
    s.reset_book()
    s.on_top(T0 + 1000, 2000, 100, 2200, 100)
    assert s.ewma_s == 0.0 and s.ofi() == 0.0
