"""Parity: a recorded session replayed through the backtester reproduces the engine's commands.

``kmm run`` does not exist yet, so the "live session" here is a small live-like shell: it feeds
the Engine the raw WS messages of a real recording (decoded by ``kalshi.parse``, as live does),
executes its commands on a stand-in exchange (the SimVenue) and turns the exchange's answers into
the raw ``fill``/``user_order`` WS messages a live session receives, recording everything it feeds
the engine with the research recorder (ticks, market metadata and REST-only answers as ``kmm``
lines). Replaying that file with ``RecordedFillsVenue`` (the exchange's own fills, nothing
simulated) must give the identical command sequence.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from kalshi_mm.core import events as ev
from kalshi_mm.domain.units import format_money, format_price, format_qty
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.research import backtest as bt
from kalshi_mm.research import data, replay
from kalshi_mm.research.recorder import RecordingWriter
from kalshi_mm.research.simvenue import ConstantLatency, SimVenue

WINDOW = "KXGOLD15M-26AUG101815-15"
LINES = 30_000
_line = msgspec.json.Decoder(s.RecordedLine)
_enc = msgspec.json.Encoder()

pytestmark = pytest.mark.skipif(not data.gold_dir().exists(), reason="shared recordings not present")


def _wire(x: ev.Event, orders: dict[str, ev.OrderAccepted]) -> dict | None:
    """A venue event as the raw private WS message a live session receives (None: REST-only)."""
    if type(x) is ev.OrderFilled:
        return {"type": "fill", "sid": 9, "msg": {
            "trade_id": x.fill_id, "order_id": x.order_id, "client_order_id": x.client_order_id,
            "market_ticker": x.ticker, "is_taker": x.is_taker, "book_side": x.side,
            "yes_price_dollars": format_price(x.price), "count_fp": format_qty(x.count),
            "fee_cost": format_money(x.fee), "post_position_fp": format_qty(x.post_position or 0), "ts_ms": x.ts_ms}}
    if type(x) in (ev.OrderAccepted, ev.OrderCanceled, ev.OrderExecuted):
        if type(x) is ev.OrderAccepted:
            orders[x.order_id] = x
        a = orders[x.order_id]
        status = {ev.OrderAccepted: "resting", ev.OrderCanceled: "canceled", ev.OrderExecuted: "executed"}[type(x)]
        msg = {
            "order_id": x.order_id, "ticker": x.ticker, "status": status, "book_side": a.side,
            "yes_price_dollars": format_price(a.price), "fill_count_fp": format_qty(a.filled),
            "remaining_count_fp": format_qty(a.remaining), "initial_count_fp": format_qty(a.remaining + a.filled),
            "client_order_id": x.client_order_id, "last_updated_ts_ms": x.ts_ms,
        }
        if type(x) is ev.OrderCanceled:
            msg["last_update_reason"] = x.reason
        return {"type": "user_order", "sid": 10, "msg": msg}
    return None


def live_session(path: Path, engine, markets) -> list:
    """The live-like shell; returns the commands the engine sent."""
    tk = WINDOW
    (src,) = data.gold_windows()[tk]
    venue = SimVenue(markets=markets, entry_latency=ConstantLatency(30), response_latency=ConstantLatency(20),
                     echo_own_orders=False)
    orders: dict[str, ev.OrderAccepted] = {}
    sent: list = []
    with RecordingWriter(path.parent, single=path.name) as rec:

        def feed(at, events):
            for e in events:
                cmds = engine.handle(e)
                if cmds:
                    sent.extend(cmds)
                    venue.submit(cmds, at)

        def deliver(upto):
            while venue.outbox and venue.outbox[0][0] <= upto:
                at = venue.outbox[0][0]
                for x in venue.due(at):
                    wire = _wire(x, orders)
                    if wire is None:
                        rec.write_event(at, x)
                        feed(at, [x])
                    else:
                        raw = _enc.encode(wire)
                        rec.write_ws(at, raw)
                        feed(at, parse.ws_events(parse.decode_ws(raw), at))

        lines = replay.iter_lines(src)
        first = next(lines)
        recv0 = _line.decode(first).recv_ms
        opened = ev.MarketOpened(ts_ms=recv0, market=markets[tk])
        rec.write_event(recv0, opened)
        feed(recv0, [opened])
        next_tick = (recv0 // 1000 + 1) * 1000
        for i, line in enumerate([first, *lines]):
            if i >= LINES:
                break
            rl = _line.decode(line)
            recv = rl.recv_ms
            while next_tick <= recv:
                venue.advance(next_tick)
                deliver(next_tick)
                tick = ev.Tick(ts_ms=next_tick)
                rec.write_event(next_tick, tick)
                feed(next_tick, [tick])
                next_tick += 1000
            msg = parse.decode_ws(bytes(rl.event))
            events = parse.ws_events(msg, recv)
            for e in events:
                venue.advance(e.ts_ms)
                if type(e) is ev.BookDelta:
                    venue.on_delta(e, recv)
                elif type(e) is ev.TradePrinted:
                    venue.on_trade(e, recv)
                elif type(e) is ev.BookSnapshot:
                    venue.on_snapshot(e, recv)
            deliver(recv - 1)
            rec.write_ws(recv, bytes(rl.event))
            feed(recv, events)
            deliver(recv)
    return sent


@pytest.mark.parametrize("strategy", ["avellaneda_stoikov", "spread_capture"])
def test_recorded_session_replays_to_the_same_commands(tmp_path, strategy):
    markets = data.gold_markets()
    path = tmp_path / "session.ndjson.gz"
    live = live_session(path, bt.build_engine(strategy, id_prefix="live"), markets)
    fills = sum(1 for ln in replay.iter_lines(path) if b'"type":"fill"' in ln)
    assert len(live) > 20 and fills > 0, "the session should trade for the test to mean something"

    tape = replay.load(path, cache=False)
    replayed = bt.replay_recorded(tape, bt.build_engine(strategy, id_prefix="live"), tick_ms=0)
    assert [c for _, c in replayed] == live


def test_replay_detects_a_different_engine(tmp_path):
    markets = data.gold_markets()
    path = tmp_path / "session.ndjson.gz"
    live = live_session(path, bt.build_engine("avellaneda_stoikov", id_prefix="live"), markets)
    tape = replay.load(path, cache=False)
    other = bt.replay_recorded(tape, bt.build_engine("avellaneda_stoikov", {"gamma": 0.9}, id_prefix="live"), tick_ms=0)
    assert [c for _, c in other] != live
