"""Engine lifecycle: orders, fills, portfolio, resync, close/settle, controls, budget, status."""

from __future__ import annotations

import json

import pytest
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

from kalshi_mm.core.alpha import FileFairValueAlpha, ZeroAlpha
from kalshi_mm.core.commands import AmendOrder, CancelOrder, PlaceOrder
from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.events import (
    FeedResynced,
    MarketCloseChanged,
    MarketClosed,
    MarketDataBatch,
    MarketDetermined,
    MarketOpened,
    MarketStatusChanged,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    Tick,
)
from kalshi_mm.errors import ProtocolError

SC = "spread_capture"


def run_script(prefix: str) -> list:
    e = Engine(EngineConfig(strategy="avellaneda_stoikov"), id_prefix=prefix)
    out = []
    out += e.handle(MarketOpened(ts_ms=T0, market=market()))
    out += e.handle(snapshot([(4000, 100)], [(4800, 100)]))
    for i in range(20):
        out += e.handle(trade(T0 + 100 * i, 4000 + (i % 3) * 100, n=i))
        out += e.handle(delta(T0 + 100 * i + 50, "yes", 4100 + (i % 2) * 100, 5 if i % 4 else -5 if i > 3 else 5))
    out += tick(e, T0 + 5000)
    return out


def test_deterministic_ids_and_commands() -> None:
    a, b = run_script("run1"), run_script("run1")
    assert a == b and a
    ids = [c.client_order_id for c in a if isinstance(c, PlaceOrder)]
    assert ids[:2] == ["run1-1", "run1-2"]
    assert next(c.client_order_id for c in run_script("zz") if isinstance(c, PlaceOrder)) == "zz-1"


def quoting(**risk):
    """A spread-capture engine quoting one market (bid 0.41 / ask 0.49, 10 contracts each), acked."""
    e = make_engine(SC, {"skew_ticks": 0}, risk=risk or None)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    bid = next(o for o in e.markets[TICKER].orders.values() if o.tag == "bid")
    return e, echo, bid


def test_fills_update_the_portfolio_and_duplicates_are_ignored() -> None:
    e, _, bid = quoting()
    fill = OrderFilled(ts_ms=T0 + 1, ticker=TICKER, order_id=bid.order_id, client_order_id=None, fill_id="F1",
                       side="bid", price=4100, count=400, fee=0, is_taker=False)
    e.handle(fill)
    assert e.portfolio.qty(TICKER) == 400
    assert e.portfolio.cash == -4100 * 400
    assert e.markets[TICKER].orders[bid.client_order_id].remaining == 600
    assert e.handle(fill) == []
    assert e.portfolio.qty(TICKER) == 400 and e.counters["duplicate_fills"] == 1
    st = e.status()["markets"][TICKER]
    assert st["position"] == 400 and st["avg_cost"] == 4100


def test_a_fill_reported_first_by_an_order_update_is_not_subtracted_twice() -> None:
    """A REST read or ``user_order`` (absolute ``filled``) may overtake the ``fill`` message."""
    e, _, bid = quoting()
    assert bid.remaining == 1000
    # the order update says 4 contracts filled, 6 left ...
    e.handle(OrderAccepted(ts_ms=T0 + 1, ticker=TICKER, order_id=bid.order_id, client_order_id=bid.client_order_id,
                           side="bid", price=bid.price, remaining=600, filled=400))
    o = e.markets[TICKER].orders[bid.client_order_id]
    assert (o.filled, o.remaining) == (400, 600)
    # ... then the fill message for the same 4 contracts arrives: position moves, sizes do not
    e.handle(OrderFilled(ts_ms=T0 + 2, ticker=TICKER, order_id=bid.order_id, client_order_id=None, fill_id="F1",
                         side="bid", price=bid.price, count=400, fee=0, is_taker=False))
    assert e.portfolio.qty(TICKER) == 400
    assert (o.filled, o.remaining) == (400, 600) and o.is_live
    # a later fill the order update has not seen counts in full
    e.handle(OrderFilled(ts_ms=T0 + 3, ticker=TICKER, order_id=bid.order_id, client_order_id=None, fill_id="F2",
                         side="bid", price=bid.price, count=200, fee=0, is_taker=False))
    assert (o.filled, o.remaining) == (600, 400) and e.portfolio.qty(TICKER) == 600


def test_rejected_placement_backs_off_then_retries() -> None:
    e = make_engine(SC, execution={"reject_backoff_s": 1.0}, risk={"stale_after_s": 1e6})
    open_market(e)
    cmds = e.handle(snapshot([(4000, 100)], [(5000, 100)]))
    bid = next(c for c in cmds if c.tag == "bid")
    out = e.handle(OrderRejected(ts_ms=T0 + 1, ticker=TICKER, client_order_id=bid.client_order_id,
                                 code="invalid_order", reason="post only cross"))
    assert out == []  # the tag waits
    assert e.status()["rejections"][-1] == {
        "ts_ms": T0 + 1, "ticker": TICKER, "rule": "exchange", "message": "invalid_order: post only cross"
    }
    assert tick(e, T0 + 500) == []
    again = tick(e, T0 + 1002)
    assert [(c.tag, c.price) for c in again] == [("bid", 4100)]
    assert again[0].client_order_id != bid.client_order_id


def test_feed_resync_pulls_quotes_until_a_snapshot() -> None:
    e = make_engine(SC)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    cmds = e.handle(FeedResynced(ts_ms=T0 + 1, tickers=(TICKER,), reason="seq gap"))
    assert sorted(type(c).__name__ for c in cmds) == ["CancelOrder", "CancelOrder"]
    echo.settle(cmds, T0 + 2)
    assert e.handle(delta(T0 + 3, "yes", 4300, 10)) == []  # deltas before the snapshot: nothing
    cmds = e.handle(snapshot([(4000, 100)], [(5000, 100)], ts=T0 + 4))
    assert {c.tag for c in cmds} == {"bid", "ask"}


def test_book_error_pulls_quotes() -> None:
    e = make_engine(SC)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    cmds = e.handle(delta(T0 + 1, "yes", 3000, -5))  # removes from an empty level
    assert sorted(type(c).__name__ for c in cmds) == ["CancelOrder", "CancelOrder"]
    assert e.counters["book_errors"] == 1
    assert e.status()["markets"][TICKER]["risk"]["quote_block"].startswith("book error")


def test_market_close_and_settlement() -> None:
    e = make_engine(SC)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    bid = next(o for o in e.markets[TICKER].orders.values() if o.tag == "bid")
    echo.fill(TICKER, bid.client_order_id, 1000, T0 + 1)
    assert e.handle(MarketClosed(ts_ms=T0 + 2, ticker=TICKER)) == []  # no order calls after close
    assert live(e) == {}
    assert e.handle(snapshot([(4000, 100)], [(5000, 100)], ts=T0 + 3)) == []
    e.handle(MarketDetermined(ts_ms=T0 + 4, ticker=TICKER, result="yes", settlement_value=10_000))
    pos = e.portfolio.positions[TICKER]
    assert pos.qty == 0 and pos.settled and pos.realized == (10_000 - 4100) * 1000


def test_position_zeroed_by_settlement_waits_for_the_result() -> None:
    """The exchange reports position 0 when it settles; the payout must still be booked."""
    e = make_engine(SC)
    open_market(e, market(close_in_s=100))
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    bid = next(o for o in e.markets[TICKER].orders.values() if o.tag == "bid")
    echo.fill(TICKER, bid.client_order_id, 500, T0 + 1)
    # before the close a position report is a correction and is folded in
    e.handle(PositionChanged(ts_ms=T0 + 2, ticker=TICKER, position=400))
    assert e.portfolio.qty(TICKER) == 400
    e.handle(MarketClosed(ts_ms=T0 + 100_000, ticker=TICKER))
    # after it, a drop to zero is the exchange settling: the position waits for its result
    assert e.handle(PositionChanged(ts_ms=T0 + 101_000, ticker=TICKER, position=0)) == []
    assert e.portfolio.qty(TICKER) == 400 and e.counters["settlement_pending"] == 1
    e.handle(MarketDetermined(ts_ms=T0 + 102_000, ticker=TICKER, result="yes", settlement_value=10_000))
    assert e.portfolio.payouts == 400 * 10_000 and e.portfolio.qty(TICKER) == 0
    # a market dropped before its close is covered by its close time
    e2 = make_engine(SC)
    open_market(e2, market(close_in_s=10))
    e2.portfolio.apply_fill(TICKER, "ask", 6000, 300, 0)
    e2.handle(PositionChanged(ts_ms=T0 + 10_001, ticker=TICKER, position=0))
    assert e2.portfolio.qty(TICKER) == -300


def test_market_status_pause_pulls_quotes() -> None:
    e = make_engine(SC)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    cmds = e.handle(MarketStatusChanged(ts_ms=T0 + 1, ticker=TICKER, status="inactive"))
    assert len(cmds) == 2 and all(isinstance(c, CancelOrder) for c in cmds)
    assert e.status()["markets"][TICKER]["risk"]["quote_block"] == "market status inactive"


def test_set_trading_and_remove_market() -> None:
    e = make_engine(SC)
    open_market(e)
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    cmds = e.set_trading(False)
    assert len(cmds) == 2 and all(isinstance(c, CancelOrder) for c in cmds)
    echo.settle(cmds, T0 + 1)
    assert e.handle(snapshot([(4000, 100)], [(5000, 100)], ts=T0 + 2)) == []
    cmds = e.set_trading(True)
    assert {c.tag for c in cmds} == {"bid", "ask"}
    echo.settle(cmds, T0 + 3)
    bid = next(o for o in e.markets[TICKER].orders.values() if o.tag == "bid")
    echo.settle(echo.fill(TICKER, bid.client_order_id, 200, T0 + 4), T0 + 4)
    cmds = e.remove_market(TICKER)
    assert len(cmds) == 2 and all(isinstance(c, CancelOrder) for c in cmds)
    echo.settle(cmds, T0 + 5)
    assert TICKER in e.markets and e.held_tickers() == {TICKER}  # still holds a position
    e.handle(MarketDetermined(ts_ms=T0 + 6, ticker=TICKER, result="no", settlement_value=0))
    assert TICKER not in e.markets


def test_write_budget_sends_cancels_first_and_defers_the_rest() -> None:
    from kalshi_mm.core.events import Tick

    e = make_engine(SC, risk={"stale_after_s": 1e6})
    open_market(e)
    cmds = e.handle(snapshot([(4000, 100)], [(5000, 100)]), budget=10)
    assert [c.tag for c in cmds] == ["bid"] and e.counters["budget_deferred"] == 1
    bid = cmds[0]
    acc = OrderAccepted(ts_ms=T0 + 1, ticker=TICKER, order_id="o1", client_order_id=bid.client_order_id,
                        side="bid", price=bid.price, remaining=bid.count)
    assert e.handle(acc, budget=0) == []
    # a cancel (2 tokens) goes before a placement (10 tokens)
    e.set_trading(False)  # cancel the bid ...
    e.markets[TICKER].orders[bid.client_order_id].inflight = None  # ... pretend it was never sent
    e.trading = True
    e.handle(snapshot([(4000, 100)], [(5000, 100)], ts=T0 + 2), budget=0)
    e.trading = False
    out = e.handle(Tick(ts_ms=T0 + 3), budget=2)
    assert [type(c) for c in out] == [CancelOrder]
    e.trading = True
    out = e.handle(Tick(ts_ms=T0 + 4), budget=100)
    assert sorted(c.tag for c in out if isinstance(c, PlaceOrder)) == ["ask", "bid"]


def test_unknown_orders_are_adopted_and_canceled() -> None:
    e = make_engine(SC)
    open_market(e)
    Echo(e).settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    cmds = e.handle(OrderAccepted(ts_ms=T0 + 1, ticker=TICKER, order_id="zzz", client_order_id="old-7",
                                  side="bid", price=3000, remaining=500))
    assert cmds == [CancelOrder(ticker=TICKER, order_id="zzz", client_order_id="old-7", reason="no target")]


def test_unanswered_cancel_is_resent_after_the_timeout() -> None:
    e = make_engine(SC, execution={"inflight_timeout_s": 2.0}, risk={"stale_after_s": 1e6})
    open_market(e)
    Echo(e).settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    cmds = e.set_trading(False)
    assert len(cmds) == 2
    assert tick(e, T0 + 1000) == []
    again = tick(e, T0 + 2500)
    assert sorted(c.client_order_id for c in again) == sorted(c.client_order_id for c in cmds)


def test_hot_path_delta_below_the_top_returns_nothing() -> None:
    e = make_engine(SC)
    open_market(e)
    Echo(e).settle(e.handle(snapshot([(4000, 100), (3500, 10)], [(5000, 100)])), T0)
    top = e.markets[TICKER].top
    assert e.handle(delta(T0 + 1, "yes", 3500, 5)) == []
    assert e.handle(delta(T0 + 2, "no", 10_000 - 5500, 5)) == []
    assert e.markets[TICKER].top is top  # not even recomputed
    assert e.handle(delta(T0 + 3, "yes", 4000, 5)) == []  # top size only: spread_capture ignores it
    cmds = e.handle(delta(T0 + 4, "yes", 4300, 5))
    assert [type(c) for c in cmds] == [AmendOrder]


def test_status_snapshot_is_plain_data() -> None:
    e = make_engine("avellaneda_stoikov")
    open_market(e)
    Echo(e).settle(e.handle(snapshot([(4000, 100)], [(4800, 100)])), T0)
    st = e.status()
    json.dumps(st)
    m = st["markets"][TICKER]
    assert (m["bid"], m["ask"], m["spread"], m["mid"]) == (4000, 4800, 800, 4400.0)
    assert (m["bid_ex_own"], m["ask_ex_own"]) == (4000, 4800)
    assert {o["tag"] for o in m["orders"]} == {"bid", "ask"}
    assert set(st["totals"]) >= {"realized_pnl", "unrealized_pnl", "total_pnl", "exposure", "open_orders"}
    assert st["totals"]["open_orders"] == 2


def test_alpha_providers(tmp_path) -> None:
    assert ZeroAlpha().get_external_skew("X", 5000.0) == 0.0
    f = tmp_path / "fair.json"
    f.write_text(json.dumps({"A": 0.6, "B": "0.4000"}))
    a = FileFairValueAlpha(f, weight=0.5, max_skew=0.05)
    assert a.get_external_skew("A", 5000.0) == 0.5 * 1000
    assert a.get_external_skew("B", 5000.0) == -500.0
    assert a.get_external_skew("C", 5000.0) == 0.0 and a.get_external_skew("A", None) == 0.0
    f2 = tmp_path / "fair.csv"
    f2.write_text("ticker,fair_value\nA,0.9000\n")
    b = FileFairValueAlpha(f2, weight=1.0, max_skew=0.05)
    assert b.get_external_skew("A", 5000.0) == 500.0  # clamped to 5 c
    f2.write_text("A,0.5100\n")
    b.refresh()
    assert b.get_external_skew("A", 5000.0) == 100.0
    # an engine with the file provider leans its A-S quotes up
    e = Engine(EngineConfig(strategy="avellaneda_stoikov"), id_prefix="x", alpha=b)
    e.handle(MarketOpened(ts_ms=T0, market=market("A")))
    up = {c.side: c.price for c in e.handle(snapshot([(3000, 100)], [(7000, 100)], ticker="A"))}
    e0 = Engine(EngineConfig(strategy="avellaneda_stoikov"), id_prefix="x")
    e0.handle(MarketOpened(ts_ms=T0, market=market("A")))
    flat = {c.side: c.price for c in e0.handle(snapshot([(3000, 100)], [(7000, 100)], ticker="A"))}
    assert up["bid"] > flat["bid"] and up["ask"] > flat["ask"]


def test_market_data_batch_requotes_once_on_the_final_state() -> None:
    """Another user's amend 0.40 -> 0.42 is two deltas; quoting between them would pull and re-place."""

    amend = (delta(T0 + 10, "yes", 4000, -100), delta(T0 + 10, "yes", 4200, 100))
    # one by one: the first delta leaves no other bid, so spread capture pulls both quotes
    e1, _, _ = quoting()
    one_by_one = e1.handle(amend[0]) + e1.handle(amend[1])
    assert sum(isinstance(c, CancelOrder) for c in one_by_one) == 2
    # as a batch: one amend of the bid to improve the new best bid, the ask untouched
    e2, _, bid = quoting()
    cmds = e2.handle(MarketDataBatch(ts_ms=T0 + 10, events=amend))
    assert cmds == [AmendOrder(ticker=TICKER, order_id=bid.order_id, client_order_id=bid.client_order_id,
                               side="bid", price=4300, count=1000)]
    assert e2.markets[TICKER].book.best_bid == 4200
    # a batch may hold market data only
    with pytest.raises(ProtocolError):
        e2.handle(MarketDataBatch(ts_ms=T0 + 11, events=(Tick(ts_ms=T0 + 11),)))  # type: ignore[arg-type]
    # the batch round-trips through the session encoding (recorded sessions replay it as it was)
    from kalshi_mm.research.replay import decode_event, encode_event

    b = MarketDataBatch(ts_ms=T0 + 10, events=amend)
    assert decode_event(encode_event(b)) == b



def test_close_time_moves_the_close_window_and_can_reopen() -> None:
    e = make_engine(SC, risk={"stop_before_close_s": 60, "stale_after_s": 1e6})
    open_market(e, market(close_in_s=3600))
    echo = Echo(e)
    echo.settle(e.handle(snapshot([(4000, 100)], [(5000, 100)])), T0)
    assert set(live(e)) == {"bid", "ask"}
    # an early close announced: 30 s from now is inside the 60 s close window -> no opening risk
    cmds = e.handle(MarketCloseChanged(ts_ms=T0 + 1, ticker=TICKER, close_ts_ms=T0 + 30_000))
    assert cmds and all(isinstance(c, CancelOrder) for c in cmds)
    assert e.markets[TICKER].market.close_ts_ms == T0 + 30_000
    echo.settle(cmds, T0 + 1)
    e.handle(MarketClosed(ts_ms=T0 + 30_000, ticker=TICKER))
    # the close moved later again: the market trades again
    cmds = e.handle(MarketCloseChanged(ts_ms=T0 + 31_000, ticker=TICKER, close_ts_ms=T0 + 7_200_000))
    assert not e.markets[TICKER].closed
    assert cmds == []  # its book stopped streaming at the close: nothing until a fresh snapshot
    cmds = e.handle(snapshot([(4000, 100)], [(5000, 100)], ts=T0 + 31_001))
    assert {c.tag for c in cmds if isinstance(c, PlaceOrder)} == {"bid", "ask"}
