"""Strategies, event in -> command out: spread_capture, avellaneda_stoikov, dual_sided."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kmm_core_support import (
    T0,
    TICKER,
    Echo,
    delta,
    live,
    make_engine,
    market,
    open_market,
    snapshot,
    tick,
)

from kalshi_mm.core.commands import AmendOrder, CancelOrder, PlaceOrder
from kalshi_mm.core.events import ExternalSignal, PositionChanged
from kalshi_mm.core.signals import MarketSignals
from kalshi_mm.core.strategies import (
    STRATEGIES,
    AvellanedaStoikov,
    AvellanedaStoikovParams,
    DualSided,
    DualSidedParams,
    QuoteContext,
    SpreadCapture,
    SpreadCaptureParams,
    strategy_params,
)
from kalshi_mm.core.strategies.as_formula import as_quotes
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.domain.fees import DEFAULT_FEES, FeeSchedule
from kalshi_mm.domain.market import PriceGrid
from kalshi_mm.errors import ConfigError


def places(cmds):
    return {c.tag: c for c in cmds if isinstance(c, PlaceOrder)}


def test_registry_and_params() -> None:
    assert set(STRATEGIES) == {"spread_capture", "avellaneda_stoikov", "dual_sided"}
    assert strategy_params("dual_sided", {"cushion": 0.05}).cushion == 0.05
    assert isinstance(strategy_params("spread_capture"), SpreadCaptureParams)
    with pytest.raises(ConfigError):
        strategy_params("nope")
    with pytest.raises(ConfigError):
        strategy_params("spread_capture", {"bogus": 1})


# == spread_capture ============================================================================


def test_spread_capture_quotes_only_wide_spreads_and_improves_by_one_tick() -> None:
    e = make_engine("spread_capture")
    open_market(e)
    assert e.handle(snapshot([(4500, 100)], [(4900, 100)])) == []  # 4 c < 5 c
    cmds = e.handle(snapshot([(4500, 100)], [(5000, 100)], ts=T0 + 1))
    p = places(cmds)
    assert (p["bid"].price, p["ask"].price) == (4600, 4900)
    assert p["bid"].count == p["ask"].count == 1000 and p["bid"].post_only


def test_spread_capture_join_mode() -> None:
    e = make_engine("spread_capture", {"improve": False})
    open_market(e)
    p = places(e.handle(snapshot([(4000, 100)], [(4800, 100)])))
    assert (p["bid"].price, p["ask"].price) == (4000, 4800)


def test_spread_capture_does_not_chase_its_own_orders() -> None:
    e = make_engine("spread_capture")
    open_market(e)
    cmds = e.handle(snapshot([(4000, 100)], [(4800, 100)]))
    Echo(e).settle(cmds, T0 + 5)
    # our bid at 41 c and our ask at 47 c appear in the book: no reaction
    assert e.handle(delta(T0 + 10, "yes", 4100, 10)) == []
    assert e.handle(delta(T0 + 11, "no", 10_000 - 4700, 10)) == []
    assert live(e) == {"bid": ("bid", 4100, 1000), "ask": ("ask", 4700, 1000)}
    # someone else improves the bid to 42: we follow to 43
    cmds = e.handle(delta(T0 + 12, "yes", 4200, 5))
    assert [(type(c), c.price) for c in cmds] == [(AmendOrder, 4300)]


def test_spread_capture_inventory_skew_moves_both_quotes_against_the_position() -> None:
    e = make_engine("spread_capture", {"skew_ticks": 2}, risk={"max_position": 100})
    m = open_market(e)
    e.handle(PositionChanged(ts_ms=T0, ticker=m.ticker, position=5000))  # long half the limit
    p = places(e.handle(snapshot([(4000, 100)], [(5000, 100)])))
    assert (p["bid"].price, p["ask"].price) == (4000, 4800)  # 41/49 shifted down one tick
    e2 = make_engine("spread_capture", {"skew_ticks": 2}, risk={"max_position": 100})
    open_market(e2)
    e2.handle(PositionChanged(ts_ms=T0, ticker=TICKER, position=-10_000))  # short at the limit
    p = places(e2.handle(snapshot([(4000, 100)], [(5000, 100)])))
    assert p["bid"].price == 4300 and "ask" not in p  # no room to sell more


@settings(max_examples=200, deadline=None)
@given(
    b=st.integers(1, 97),
    width=st.integers(1, 30),
    pos=st.integers(-100, 100),
    improve=st.booleans(),
    skew=st.integers(0, 10),
)
def test_spread_capture_never_crosses_or_leaves_the_grid(b, width, pos, improve, skew) -> None:
    bid, ask = b * 100, min(b + width, 99) * 100
    if ask <= bid:
        return
    ctx = _ctx(bid, ask, position=pos * 100, max_position=10_000)
    s = SpreadCapture(SpreadCaptureParams(min_spread=0.01, improve=improve, skew_ticks=skew), ctx.market)
    for t in s.quote(ctx):
        assert ctx.grid.is_valid(t.price)
        if t.side == "bid":
            assert t.price < ask
        else:
            assert t.price > bid
    q = {t.side: t.price for t in s.quote(ctx)}
    if len(q) == 2:
        assert q["bid"] < q["ask"]


# == avellaneda_stoikov ========================================================================


def _ctx(bid, ask, *, position=0, grid=None, ts=T0, bid_size=10_000, ask_size=10_000, max_position=10_000,
         fees=DEFAULT_FEES, close_in_s=3600.0):
    m = market(grid=grid, close_in_s=close_in_s)
    ctx = QuoteContext(m, OrderBook(m.ticker), MarketSignals(), fees)
    ctx.best_bid, ctx.best_ask, ctx.bid_size, ctx.ask_size = bid, ask, bid_size, ask_size
    ctx.position, ctx.ts_ms, ctx.max_position = position, ts, max_position
    return ctx


def test_as_quotes_are_integer_ticks_rounded_outward_from_the_float_formula() -> None:
    p = AvellanedaStoikovParams(gamma=0.5, k=40.0, fit_k=False, min_sigma=0.002, horizon_s=900)
    ctx = _ctx(3000, 7000, position=700)  # wide book so nothing is clamped
    s = AvellanedaStoikov(p, ctx.market)
    out = {t.side: t for t in s.quote(ctx)}
    bid_f, ask_f = as_quotes(0.5, 7.0, 0.5, 0.002, 900.0, 40.0)
    assert type(out["bid"].price) is int and type(out["ask"].price) is int
    assert out["bid"].price == math.floor(bid_f * 100) * 100
    assert out["ask"].price == math.ceil(ask_f * 100) * 100
    assert out["bid"].price <= bid_f * 10_000 < ask_f * 10_000 <= out["ask"].price
    assert out["bid"].size == out["ask"].size == 1000


def test_as_inventory_and_time_shape_the_quotes() -> None:
    p = AvellanedaStoikovParams(gamma=0.1, k=50.0, fit_k=False, min_sigma=0.003, horizon_s=3600)

    def quotes(pos, close_in_s=3600.0):
        ctx = _ctx(2000, 8000, position=pos, close_in_s=close_in_s)
        s = AvellanedaStoikov(p, ctx.market)
        return {t.side: t.price for t in s.quote(ctx)}, s.last

    (flat, _), (long_, lf), (short, _) = quotes(0), quotes(1000), quotes(-1000)
    assert long_["bid"] < flat["bid"] and long_["ask"] < flat["ask"]  # long: lean down to sell
    assert short["bid"] > flat["bid"] and short["ask"] > flat["ask"]
    near, nf = quotes(1000, close_in_s=10)
    # tau -> 0: the inventory term and the volatility part of the spread vanish
    assert nf["ask_f"] - nf["bid_f"] < lf["ask_f"] - lf["bid_f"]
    assert abs((near["bid"] + near["ask"]) / 2 - 5000) < abs((long_["bid"] + long_["ask"]) / 2 - 5000)
    assert nf["tau"] == pytest.approx(10.0) and lf["tau"] == 3600.0


def test_as_fee_aware_widening_never_quotes_a_losing_round_trip() -> None:
    fees = FeeSchedule("quadratic_with_maker_fees", Fraction(1))
    p = AvellanedaStoikovParams(gamma=0.01, k=1000.0, fit_k=False, min_sigma=0.0001, min_edge=0.02)
    ctx = _ctx(4000, 6000, fees=fees)
    q = {t.side: t.price for t in AvellanedaStoikov(p, ctx.market).quote(ctx)}
    size = 1000
    assert (q["ask"] - q["bid"]) * size >= fees.maker_fee(q["bid"], size) + fees.maker_fee(q["ask"], size) + 100 * size
    p.fee_aware = False
    q2 = {t.side: t.price for t in AvellanedaStoikov(p, ctx.market).quote(ctx)}
    assert q2["ask"] - q2["bid"] < q["ask"] - q["bid"]


def test_as_uses_fitted_k_and_external_skew_through_the_engine() -> None:
    e = make_engine("avellaneda_stoikov", {"fit_k": False, "gamma": 0.2, "k": 30.0})
    open_market(e)
    base = places(e.handle(snapshot([(3000, 100)], [(7000, 100)])))
    e.handle(ExternalSignal(ts_ms=T0 + 1, ticker=TICKER, fair_value=6000))
    st_ = e.markets[TICKER].strategy.last
    e2 = make_engine("avellaneda_stoikov", {"fit_k": False, "gamma": 0.2, "k": 30.0})
    open_market(e2)
    e2.handle(ExternalSignal(ts_ms=T0, ticker=TICKER, fair_value=6000))
    skewed = places(e2.handle(snapshot([(3000, 100)], [(7000, 100)])))
    assert skewed["bid"].price > base["bid"].price and skewed["ask"].price > base["ask"].price
    assert st_["k"] == 30.0


def test_as_without_a_two_sided_book_quotes_nothing() -> None:
    e = make_engine("avellaneda_stoikov")
    open_market(e)
    assert e.handle(snapshot([(4000, 100)], [])) == []


GRIDS = [PriceGrid.for_structure(n) for n in ("linear_cent", "deci_cent", "tapered_deci_cent")]


@settings(max_examples=300, deadline=None)
@given(
    grid=st.sampled_from(GRIDS),
    bid_i=st.integers(0, 200),
    width=st.integers(1, 60),
    pos=st.integers(-20_000, 20_000),
    gamma=st.floats(0.01, 5.0),
    k=st.floats(1.0, 500.0),
    sigma=st.floats(0.0, 0.05),
    close_in_s=st.floats(0.0, 7200.0),
    skew=st.floats(-2000.0, 2000.0),
    fees=st.sampled_from([DEFAULT_FEES, FeeSchedule("quadratic_with_maker_fees")]),
)
def test_as_quotes_never_cross_and_stay_on_the_grid(
    grid, bid_i, width, pos, gamma, k, sigma, close_in_s, skew, fees
) -> None:
    prices = grid.prices
    i = min(bid_i * len(prices) // 201, len(prices) - 2)
    j = min(i + max(1, width * len(prices) // 200), len(prices) - 1)
    best_bid, best_ask = prices[i], prices[j]
    ctx = _ctx(best_bid, best_ask, position=pos, grid=grid, fees=fees, close_in_s=close_in_s)
    ctx.skew = skew
    p = AvellanedaStoikovParams(gamma=gamma, k=k, fit_k=False, min_sigma=sigma)
    q = {t.side: t.price for t in AvellanedaStoikov(p, ctx.market).quote(ctx)}
    for side, price in q.items():
        assert isinstance(price, int) and grid.is_valid(price)
        if side == "bid":
            assert price < best_ask
        else:
            assert price > best_bid
    if len(q) == 2:
        assert q["bid"] < q["ask"]


# == dual_sided ================================================================================


def test_dual_sided_guardrail_sum_of_bids_keeps_the_cushion() -> None:
    # spread 3 c, both queues thin: improving both legs would leave 1 c < cushion 3 c
    e = make_engine("dual_sided", {"min_spread": 0.03, "cushion": 0.03, "thin_queue": 50})
    open_market(e)
    p = places(e.handle(snapshot([(4500, 10)], [(4800, 10)])))
    bid_yes, bid_no = p["bid"].price, 10_000 - p["ask"].price
    assert bid_yes + bid_no <= 10_000 - 300
    assert (p["bid"].price, p["ask"].price) == (4500, 4800)
    # spread 5 c: one leg may improve (4 c >= 3 c) but not both (3 c... allowed) -> both improve
    e2 = make_engine("dual_sided", {"min_spread": 0.03, "cushion": 0.03, "thin_queue": 50})
    open_market(e2)
    p = places(e2.handle(snapshot([(4500, 10)], [(5000, 10)])))
    assert (p["bid"].price, p["ask"].price) == (4600, 4900)
    # spread 4 c: improving both leaves 2 c: the thicker queue's improvement is dropped
    e3 = make_engine("dual_sided", {"min_spread": 0.03, "cushion": 0.03, "thin_queue": 50})
    open_market(e3)
    p = places(e3.handle(snapshot([(4500, 40)], [(4900, 10)])))
    assert (p["bid"].price, p["ask"].price) == (4500, 4800)


@settings(max_examples=300, deadline=None)
@given(
    b=st.integers(1, 97),
    width=st.integers(1, 40),
    cushion=st.integers(0, 20),
    min_spread=st.integers(1, 10),
    bs=st.integers(0, 200),
    as_=st.integers(0, 200),
    improve=st.booleans(),
)
def test_dual_sided_guardrail_holds_for_any_book(b, width, cushion, min_spread, bs, as_, improve) -> None:
    bid, ask = b * 100, min(b + width, 99) * 100
    if ask <= bid:
        return
    ctx = _ctx(bid, ask, bid_size=bs * 100, ask_size=as_ * 100)
    p = DualSidedParams(cushion=cushion / 100, min_spread=min_spread / 100, improve=improve)
    q = {t.tag: t for t in DualSided(p, ctx.market).quote(ctx)}
    if "bid" in q and "ask" in q:
        assert q["bid"].price + (10_000 - q["ask"].price) <= 10_000 - cushion * 100
    for t in q.values():
        assert ctx.grid.is_valid(t.price)
        assert t.price < ask if t.side == "bid" else t.price > bid


def test_dual_sided_min_spread_thin_queue_and_no_improve() -> None:
    e = make_engine("dual_sided")
    open_market(e)
    assert e.handle(snapshot([(4500, 10)], [(4700, 10)])) == []  # 2 c < 3 c per leg
    p = places(e.handle(snapshot([(4000, 10)], [(4800, 500)], ts=T0 + 1)))
    assert (p["bid"].price, p["ask"].price) == (4100, 4800)  # thin YES queue improved, thick NO joined
    assert p["bid"].count == 500
    e2 = make_engine("dual_sided", {"improve": False})
    open_market(e2)
    p = places(e2.handle(snapshot([(4000, 10)], [(4800, 10)])))
    assert (p["bid"].price, p["ask"].price) == (4000, 4800)


def _dual(**kw):
    params = {"improve": False, **kw}
    e = make_engine(
        "dual_sided", params, risk={"stale_after_s": 1000}, execution={"min_move_ticks": 1, "max_quote_age_s": 0.0}
    )
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 500)], [(4800, 500)])), T0 + 1)
    return e, echo


def _coid(e, tag):
    return next(o.client_order_id for o in e.markets[TICKER].orders.values() if o.tag == tag)


def test_dual_sided_take_profit_exit_after_a_yes_fill_and_cancel_when_flat() -> None:
    e, echo = _dual()
    cmds = echo.fill(TICKER, _coid(e, "bid"), 300, T0 + 2)
    exit_ = places(cmds)["exit"]
    assert (exit_.side, exit_.price, exit_.count, exit_.post_only) == ("ask", 4200, 300, True)
    echo.settle(cmds, T0 + 3)
    # flat again (e.g. the exit filled elsewhere / reconciled): the exit is canceled
    cmds = e.handle(PositionChanged(ts_ms=T0 + 4, ticker=TICKER, position=0))
    assert any(isinstance(c, CancelOrder) for c in cmds)
    echo.settle(cmds, T0 + 5)
    assert "exit" not in live(e)


def test_dual_sided_no_leg_fill_exits_with_a_yes_bid_below_one_minus_the_no_cost() -> None:
    e, echo = _dual()
    cmds = echo.fill(TICKER, _coid(e, "ask"), 500, T0 + 2)  # sold YES at 48 = bought NO at 52
    exit_ = places(cmds)["exit"]
    # NO take-profit: sell NO at 54 = buy YES at 46
    assert (exit_.side, exit_.price, exit_.count) == ("bid", 4600, 500)


def test_dual_sided_exit_never_crosses() -> None:
    e, echo = _dual(take_profit_ticks=1)
    echo.settle(echo.fill(TICKER, _coid(e, "bid"), 500, T0 + 2), T0 + 2)
    # the market rallies: best bid 45 is above entry + 1 tick: the exit rests above the bid
    cmds = e.handle(snapshot([(4500, 500)], [(4800, 500)], ts=T0 + 3))
    ex = [c for c in cmds if getattr(c, "client_order_id", "") == _coid(e, "exit")]
    assert ex and ex[0].price == 4600


def test_dual_sided_exit_ttl_decays_the_take_profit_toward_the_entry() -> None:
    e, echo = _dual(exit_ttl_s=20, take_profit_ticks=2)
    echo.settle(echo.fill(TICKER, _coid(e, "bid"), 500, T0 + 2), T0 + 2)
    assert live(e)["exit"][1] == 4200
    assert tick(e, T0 + 10_000) == []
    cmds = tick(e, T0 + 22_100)
    assert [(type(c), c.price) for c in cmds if isinstance(c, AmendOrder)] == [(AmendOrder, 4100)]
    echo.settle(cmds, T0 + 22_200)
    # (a scratch at 40 c needs the best bid below 40 c, or the post-only exit would cross)
    echo.settle(e.handle(snapshot([(3800, 500)], [(4800, 500)], ts=T0 + 30_000)), T0 + 30_000)
    assert live(e)["exit"][1] == 4100
    cmds = tick(e, T0 + 43_000)
    echo.settle(cmds, T0 + 43_000)
    assert live(e)["exit"][1] == 4000  # a scratch at the entry
    echo.settle(tick(e, T0 + 70_000), T0 + 70_000)
    assert live(e)["exit"][1] == 4000  # never below the entry


def test_dual_sided_quote_ttl_refreshes_entries_past_the_debounce() -> None:
    e = make_engine("dual_sided", {"quote_ttl_s": 6}, execution={"min_move_ticks": 3, "max_quote_age_s": 60})
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 500)], [(4800, 500)])), T0)
    assert e.handle(delta(T0 + 1000, "yes", 4100, 500)) == []  # one tick more aggressive: debounced
    assert tick(e, T0 + 3000) == []
    cmds = tick(e, T0 + 6001)  # the quote TTL expired
    assert [(type(c), c.price) for c in cmds] == [(AmendOrder, 4100)]


def test_dual_sided_inventory_cap_stops_the_leg_and_sends_reduce_only_iocs() -> None:
    e, echo = _dual(max_inventory=10, reduce_step=4, reduce_cooldown_s=1)
    cmds = e.handle(PositionChanged(ts_ms=T0 + 2, ticker=TICKER, position=1000))
    kinds = {(type(c).__name__, getattr(c, "tag", "")) for c in cmds}
    assert ("CancelOrder", "") in kinds  # the YES entry bid is pulled
    r = places(cmds)["reduce"]
    assert (r.side, r.price, r.count, r.time_in_force, r.reduce_only, r.post_only) == (
        "ask", 4000, 400, "immediate_or_cancel", True, False,
    )
    echo.settle(cmds, T0 + 3)  # the IOC "rests" in the echo; cancel it as the exchange would
    coid = _coid(e, "reduce")
    o = e.markets[TICKER].orders[coid]
    from kalshi_mm.core.events import OrderCanceled

    cmds = e.handle(OrderCanceled(ts_ms=T0 + 4, ticker=TICKER, order_id=o.order_id, client_order_id=coid))
    assert "reduce" not in places(cmds)  # cooldown
    cmds = tick(e, T0 + 1100)
    assert "reduce" in places(cmds)
    assert "bid" not in live(e)
