"""Risk rules, event in -> command out, and the rejection messages."""

from __future__ import annotations

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
    trade,
)

from kalshi_mm.core.commands import AmendOrder, CancelAll, CancelOrder, DecreaseOrder, PlaceOrder
from kalshi_mm.core.events import MarketOpened, PositionChanged

SC = "spread_capture"


def quoting_engine(risk=None, params=None, **kw):
    e = make_engine(SC, params, risk={"stale_after_s": 1e6, **(risk or {})}, **kw)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    return e, echo


def coid(e, tag, ticker=TICKER):
    return next(o.client_order_id for o in e.markets[ticker].orders.values() if o.tag == tag)


def test_position_limit_counts_resting_orders_as_filled() -> None:
    e, echo = quoting_engine({"max_position": 10}, {"order_size": 10, "skew_ticks": 0})
    assert live(e)["bid"] == ("bid", 4100, 1000)
    # long 4: the bid may only add 6 more (worst long = 4 + 6 = 10)
    cmds = e.handle(PositionChanged(ts_ms=T0 + 1, ticker=TICKER, position=400))
    assert cmds == [DecreaseOrder(ticker=TICKER, order_id="o1", client_order_id=coid(e, "bid"), reduce_to=600)]
    echo.settle(cmds, T0 + 2)
    # at the limit: the bid is pulled, the ask stays
    cmds = e.handle(PositionChanged(ts_ms=T0 + 3, ticker=TICKER, position=1000))
    assert [type(c) for c in cmds] == [CancelOrder] and cmds[0].client_order_id == coid(e, "bid")


def test_check_rejects_with_rule_and_numbers() -> None:
    e, _ = quoting_engine({"max_position": 10, "max_order_size": 5}, {"order_size": 5})
    mm = e.markets[TICKER]
    big = PlaceOrder(ticker=TICKER, client_order_id="x", side="bid", price=4100, count=600)
    v = e.risk.check(big, mm, 0, 2, T0)
    assert v.rule == "order_size" and "6.00 > max_order_size 5.00" in str(v)
    more = PlaceOrder(ticker=TICKER, client_order_id="x", side="bid", price=4100, count=500)
    e.handle(PositionChanged(ts_ms=T0, ticker=TICKER, position=300))
    v = e.risk.check(more, mm, 0, 2, T0)
    assert v.rule == "position_limit"
    assert "worst long 10.00" in str(v) or "worst long 1" in str(v)
    assert "limit 10.00" in str(v)
    off = PlaceOrder(ticker=TICKER, client_order_id="x", side="bid", price=4150, count=100)
    assert e.risk.check(off, mm, 0, 2, T0).rule == "price_grid"
    ro = PlaceOrder(ticker=TICKER, client_order_id="x", side="bid", price=4100, count=100, reduce_only=True)
    assert e.risk.check(ro, mm, 0, 2, T0).rule == "reduce_only"
    # cancels and decreases always pass
    assert e.risk.check(DecreaseOrder(ticker=TICKER, order_id="o", client_order_id="c", reduce_to=0), mm, 0, 0, T0) is None


def test_total_position_limit_across_markets() -> None:
    e = make_engine(
        SC, {"order_size": 10, "skew_ticks": 0},
        risk={"max_position": 100, "max_total_position": 30, "stale_after_s": 1e6},
    )
    echo = Echo(e)
    for t in ("A", "B"):
        e.handle(MarketOpened(ts_ms=T0, market=market(t)))
        echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)], ticker=t)), T0)
    assert e.status()["totals"]["exposure"] == 2000  # 10 + 10
    # A goes long 15: its bid may add only 30 - 10 (B) - 15 = 5
    cmds = e.handle(PositionChanged(ts_ms=T0 + 1, ticker="A", position=1500))
    assert cmds == [DecreaseOrder(ticker="A", order_id="o1", client_order_id=coid(e, "bid", "A"), reduce_to=500)]
    echo.settle(cmds, T0 + 1)
    assert e.status()["totals"]["exposure"] == 3000
    # B cannot add anything on the bid side now
    v = e.risk.check(
        PlaceOrder(ticker="B", client_order_id="x", side="bid", price=4100, count=100, tag="bid"),
        e.markets["B"], e.markets["A"].exposure, 4, T0 + 2,
    )
    assert v.rule == "total_position_limit" and "total exposure 31.00 > limit 30.00 (was 30.00)" in str(v)
    # A at 20: its bid goes entirely
    cmds = e.handle(PositionChanged(ts_ms=T0 + 3, ticker="A", position=2000))
    assert [type(c) for c in cmds] == [CancelOrder]
    echo.settle(cmds, T0 + 3)
    assert sum(max(mm.worst()) for mm in e.markets.values()) <= 3000


def test_fat_finger_caps_target_sizes() -> None:
    e = make_engine(SC, {"order_size": 500}, risk={"max_order_size": 50})
    open_market(e)
    cmds = e.handle(snapshot([(4000, 100)], [(5000, 100)]))
    assert [c.count for c in cmds] == [5000, 5000]


def test_max_open_orders() -> None:
    e = make_engine(SC, risk={"max_open_orders": 1})
    open_market(e)
    cmds = e.handle(snapshot([(4000, 100)], [(5000, 100)]))
    assert len(cmds) == 1
    rej = e.status()["rejections"][-1]
    assert rej["rule"] == "max_open_orders" and "1 open + 1 > limit 1" in rej["message"]


def test_daily_loss_halts_cancels_and_resumes_next_day() -> None:
    e, echo = quoting_engine({"max_daily_loss": 1.0}, {"order_size": 10})
    tick(e, T0 + 1)
    echo.settle(echo.fill(TICKER, coid(e, "bid"), 1000, T0 + 2), T0 + 2)  # long 10 at 41 c
    # the market collapses to 25/30: marked at 27.5 -> loss 10 x 0.135 = 1.35 $ > 1 $
    cmds = e.handle(snapshot([(2500, 100)], [(3000, 100)], ts=T0 + 3))
    cmds += tick(e, T0 + 4)
    assert any(isinstance(c, CancelAll) for c in cmds)
    assert e.status()["halted"].startswith("daily_loss")
    echo.settle(cmds, T0 + 5)
    out = e.handle(snapshot([(2600, 100)], [(3000, 100)], ts=T0 + 6)) + tick(e, T0 + 7)
    assert not any(isinstance(c, PlaceOrder | AmendOrder) for c in out)
    # the next UTC day lifts the halt
    next_day = (T0 // 86_400_000 + 1) * 86_400_000 + 1000
    e.handle(snapshot([(2500, 100)], [(3000, 100)], ts=next_day))
    out = tick(e, next_day + 1)
    assert e.status()["halted"] is None
    assert any(isinstance(c, PlaceOrder) for c in out)


def test_volatility_adaptive_size_and_limits() -> None:
    e = make_engine(SC, {"order_size": 20}, risk={"vol_adaptive": True, "vol_ref": 0.01, "min_size_scale": 0.25,
                                                  "max_position": 100, "stale_after_s": 1e6})
    open_market(e)
    calm = e.handle(snapshot([(4000, 100)], [(5000, 100)]))
    assert [c.count for c in calm] == [2000, 2000]
    Echo(e).settle(calm, T0)
    # trades with a 60 s stdev of ~4 c: scale = 0.01 / 0.04 -> sizes and limits shrink
    for i, p in enumerate([4000, 4800, 4000, 4800, 4000, 4800]):
        e.handle(trade(T0 + 100 + i, p, n=i))
    cmds = tick(e, T0 + 200)
    mm = e.markets[TICKER]
    assert 0.2 < mm.size_scale < 0.3
    assert mm.position_limit == int(10_000 * mm.size_scale)
    assert {type(c) for c in cmds} == {DecreaseOrder} and {c.reduce_to for c in cmds} == {500}


def test_kill_switch_cancels_everything_and_quotes_nothing_until_reset() -> None:
    e, echo = quoting_engine()
    cmds = e.kill("operator", T0 + 1)
    assert cmds == [CancelAll(ticker="", reason="kill switch: operator")]
    assert e.status()["killed"] == "kill_switch: operator"
    out = e.handle(snapshot([(4200, 100)], [(4800, 100)], ts=T0 + 2)) + tick(e, T0 + 3)
    assert out == []
    echo.settle(cmds, T0 + 4)
    assert live(e) == {}
    assert tick(e, T0 + 5) == []
    cmds = e.reset_kill()
    assert {c.tag for c in cmds if isinstance(c, PlaceOrder)} == {"bid", "ask"}


def test_stale_data_pulls_quotes_until_the_book_updates() -> None:
    e = make_engine(SC, risk={"stale_after_s": 5})
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    assert tick(e, T0 + 4000) == []
    cmds = tick(e, T0 + 5001)
    assert sorted(type(c).__name__ for c in cmds) == ["CancelOrder", "CancelOrder"]
    assert e.status()["markets"][TICKER]["risk"]["quote_block"].startswith("stale_data: no book update for 5.0 s")
    echo.settle(cmds, T0 + 5002)
    cmds = e.handle(delta(T0 + 6000, "yes", 3000, 1))  # any update: fresh again
    assert {c.tag for c in cmds if isinstance(c, PlaceOrder)} == {"bid", "ask"}


def test_no_opening_risk_close_to_the_close() -> None:
    e = make_engine(SC, risk={"stop_before_close_s": 60, "stale_after_s": 1e6})
    open_market(e, market(close_in_s=30))
    assert e.handle(snapshot([(4000, 100)], [(5000, 100)])) == []
    cmds = e.handle(PositionChanged(ts_ms=T0 + 1, ticker=TICKER, position=300))
    assert [(c.side, c.count) for c in cmds] == [("ask", 300)]  # only the reducing side, sized to the position
