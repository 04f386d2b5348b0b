"""The simulated venue: queue position, fills, latency, fees, settlement."""

from __future__ import annotations

from kalshi_mm.core import commands as cm
from kalshi_mm.core import events as ev
from kalshi_mm.domain.fees import FeeSchedule
from kalshi_mm.research.simvenue import (
    ConstantLatency,
    OptimisticQueue,
    ProRataQueue,
    RiskAverseQueue,
    SimVenue,
)

TK = "KX-1"


def venue(queue=None, entry=0, fees=FeeSchedule(), **kw) -> SimVenue:
    v = SimVenue(entry_latency=ConstantLatency(entry), response_latency=ConstantLatency(0),
                 queue_model=queue or ProRataQueue(), fees=fees, echo_own_orders=False, **kw)
    # YES bids 0.45 x 10 contracts; NO bids 0.50 x 10 (YES ask 0.50)
    v.on_snapshot(ev.BookSnapshot(ts_ms=0, ticker=TK, yes=((4500, 1000),), no=((5000, 1000),)), 0)
    return v


def place(v: SimVenue, side="bid", price=4500, count=100, at=1, **kw) -> None:
    v.submit([cm.PlaceOrder(ticker=TK, client_order_id=f"c{at}{side}", side=side, price=price, count=count, **kw)], at)
    v.advance(at + 10_000)


def delta(v, side, price, d, ts):
    v.on_delta(ev.BookDelta(ts_ms=ts, ticker=TK, side=side, price=price, delta=d), ts)


def trade(v, price, count, taker, ts):
    v.on_trade(ev.TradePrinted(ts_ms=ts, ticker=TK, trade_id=f"t{ts}", price=price, count=count, taker_side=taker), ts)


def fills(v):
    return [e for _, _, e in sorted(v.outbox) if type(e) is ev.OrderFilled]


def test_joins_behind_displayed_size_and_trades_consume_queue_first():
    v = venue()
    place(v)
    (o,) = v.live_orders()
    assert o.front == 1000
    delta(v, "yes", 4500, -300, 10)  # Kalshi sends the trade's delta first, same ts
    trade(v, 4500, 300, "no", 10)
    assert o.front == 700 and not fills(v)
    delta(v, "yes", 4500, -700, 20)
    trade(v, 4500, 750, "no", 20)  # 50 beyond the queue ahead reaches us
    (f,) = fills(v)
    assert f.count == 50 and f.price == 4500 and not f.is_taker
    assert o.front == 0 and o.remaining == 50


def test_cancels_shrink_queue_pro_rata_and_not_twice_for_trades():
    v = venue()
    place(v)
    (o,) = v.live_orders()
    delta(v, "yes", 4500, 500, 5)  # joins behind us: level 1500, 1000 ahead
    delta(v, "yes", 4500, -300, 6)  # a cancel (no trade at ts 6)
    delta(v, "yes", 4500, -100, 7)  # flushes ts 6: 300 * 1000/1500 = 200 of it was ahead
    assert o.front == 800
    trade(v, 4500, 100, "no", 7)  # the ts-7 decrease was this trade, not a cancel
    assert o.front == 700
    delta(v, "yes", 4500, 1, 8)
    assert o.front == 700


def test_queue_models_differ():
    fronts = {}
    for name, q in (("pro", ProRataQueue()), ("averse", RiskAverseQueue()), ("opt", OptimisticQueue())):
        v = venue(q)
        place(v)
        delta(v, "yes", 4500, 500, 5)
        delta(v, "yes", 4500, -600, 6)
        delta(v, "yes", 4500, 1, 7)  # flush
        fronts[name] = v.live_orders()[0].front
    assert fronts == {"pro": 600, "averse": 900, "opt": 400}


def test_trade_through_fills_everything_at_our_price():
    v = venue()
    place(v, count=300)
    trade(v, 4400, 5, "no", 10)  # someone sold below our bid: the sweep went through us
    (f,) = fills(v)
    assert (f.count, f.price, f.is_taker) == (300, 4500, False)
    assert v.portfolio.qty(TK) == 300


def test_ask_side_fills_from_yes_takers():
    v = venue()
    place(v, side="ask", price=5000, count=100)
    (o,) = v.live_orders()
    assert o.ladder == "no" and o.level == 5000 and o.front == 1000
    trade(v, 5000, 1000, "no", 10)  # wrong side: a NO taker hits YES bids
    assert not fills(v)
    delta(v, "no", 5000, -1000, 11)
    trade(v, 5000, 1050, "yes", 11)
    (f,) = fills(v)
    assert f.count == 50 and f.side == "ask"
    assert v.portfolio.qty(TK) == -50


def test_crossing_order_takes_liquidity_with_taker_fee_and_post_only_is_rejected():
    v = venue()
    place(v, price=5100, count=200)  # best ask 0.50 x 10
    (f,) = fills(v)
    assert f.is_taker and f.price == 5000 and f.count == 200
    assert f.fee == FeeSchedule().taker_fee(5000, 200) > 0
    v2 = venue()
    place(v2, price=5100, count=200, post_only=True)
    rej = [e for _, _, e in v2.outbox if type(e) is ev.OrderRejected]
    assert rej and rej[0].reason == "post only cross" and not v2.live_orders()


def test_new_crossing_level_fills_our_resting_order():
    v = venue()
    place(v, price=4800, count=100)  # inside the spread
    delta(v, "no", 5300, 40, 10)  # a YES ask at 0.47 arrives: it would have hit us first
    (f,) = fills(v)
    assert f.count == 40 and f.price == 4800


def test_entry_latency_delays_arrival():
    v = venue(entry=50)
    v.submit([cm.PlaceOrder(ticker=TK, client_order_id="a", side="bid", price=4500, count=100)], 1000)
    v.advance(1040)
    assert not v.live_orders()
    trade(v, 4400, 10, "no", 1040)
    v.advance(1050)
    assert v.live_orders() and not fills(v)


def test_cancel_amend_and_decrease():
    v = venue()
    place(v, count=300)
    (o,) = v.live_orders()
    v.submit([cm.DecreaseOrder(ticker=TK, order_id=o.order_id, client_order_id=o.client_order_id, reduce_to=100)], 2)
    v.advance(2)
    assert o.remaining == 100 and o.front == 1000  # keeps its place
    v.submit([cm.AmendOrder(ticker=TK, order_id=o.order_id, client_order_id=o.client_order_id, side="bid",
                            price=4400, count=100)], 3)
    v.advance(3)
    assert o.price == 4400 and o.front == 0  # nothing displayed at 0.44: front of the new level
    v.submit([cm.CancelOrder(ticker=TK, order_id=o.order_id, client_order_id=o.client_order_id)], 4)
    v.advance(4)
    assert not v.live_orders()
    trade(v, 4300, 10, "no", 10)
    assert not fills(v)
    assert any(type(e) is ev.OrderCanceled for _, _, e in v.outbox)


def test_maker_fees_settlement_and_cash():
    fees = FeeSchedule("quadratic_with_maker_fees")
    v = venue(fees=fees)
    place(v, count=1000)
    trade(v, 4400, 1, "no", 10)
    (f,) = fills(v)
    assert f.fee == fees.maker_fee(4500, 1000) > 0
    assert v.portfolio.cash == -4500 * 1000 - f.fee
    payout = v.settle(TK, 10_000)
    assert payout == 1000 * 10_000
    assert v.portfolio.cash == (10_000 - 4500) * 1000 - f.fee


def test_closed_market_cancels_and_rejects():
    v = venue()
    place(v)
    v.on_closed(TK, 100, 100)
    assert not v.live_orders()
    place(v, at=200)
    assert any(type(e) is ev.OrderRejected and e.code == "market_closed" for _, _, e in v.outbox)
