"""Engine state -> Kalshi wire objects (``kalshi.schemas`` Structs), for the local exchange.

One place that knows how the exchange's integer state is spelled on the wire:
prices ``"0.5600"`` (4 dp), counts ``"10.00"`` (2 dp), money ``"0.017500"`` (6 dp),
object times RFC 3339 (``2026-08-11T01:00:00.123Z``), filter/lifecycle times Unix seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from kalshi_mm.domain.units import ONE_DOLLAR, Money, Price, format_money, format_price, format_qty
from kalshi_mm.exchange.model import Fill, MarketState, Order, SettlementRecord, Trade
from kalshi_mm.kalshi import schemas as S

_ts_cache: dict[int, str] = {}


def rfc3339(ms: int) -> str:
    """Unix ms -> ``YYYY-MM-DDTHH:MM:SS[.mmm]Z`` (fraction only when not a whole second)."""
    sec, frac = divmod(ms, 1000)
    base = _ts_cache.get(sec)
    if base is None:
        if len(_ts_cache) > 4096:
            _ts_cache.clear()
        base = _ts_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{base}.{frac:03d}Z" if frac else f"{base}Z"


def outcome(side: str) -> str:
    return "yes" if side == "bid" else "no"


def avg_price(cost_yes: int, filled: int) -> str | None:
    """Average YES price (4 dp, half up) of ``filled`` Qty costing ``cost_yes`` Money."""
    if not filled:
        return None
    return format_price((cost_yes * 2 + filled) // (filled * 2))


def avg_fee(fees: Money, filled: int) -> str | None:
    """Average fee per contract in dollars (6 dp, rounded up)."""
    if not filled:
        return None
    return format_money(-(-fees * 100 // filled))


def yes_cost(o: Order) -> int:
    """Total YES-price notional of an order's fills (Money)."""
    if o.side == "bid":
        return o.taker_cost + o.maker_cost
    return ONE_DOLLAR * o.filled - (o.taker_cost + o.maker_cost)


def order(o: Order) -> S.Order:
    side = o.side
    return S.Order(
        order_id=o.order_id,
        user_id=o.user_id,
        client_order_id=o.client_order_id or "",
        ticker=o.ticker,
        outcome_side="yes" if side == "bid" else "no",
        book_side=side,  # type: ignore[arg-type]
        type="limit",
        status=str(o.status),
        yes_price_dollars=format_price(o.price),
        no_price_dollars=format_price(ONE_DOLLAR - o.price),
        fill_count_fp=format_qty(o.filled),
        remaining_count_fp=format_qty(o.remaining),
        initial_count_fp=format_qty(o.initial),
        taker_fill_cost_dollars=format_money(o.taker_cost),
        maker_fill_cost_dollars=format_money(o.maker_cost),
        taker_fees_dollars=format_money(o.taker_fees),
        maker_fees_dollars=format_money(o.maker_fees),
        side="yes" if side == "bid" else "no",
        action="buy",
        expiration_time=rfc3339(o.expiration_ts * 1000) if o.expiration_ts is not None else None,
        created_time=rfc3339(o.created_ms),
        last_update_time=rfc3339(o.updated_ms),
        self_trade_prevention_type=o.stp,
        order_group_id=o.group_id,
        cancel_order_on_pause=o.cancel_on_pause,
        subaccount_number=o.subaccount,
        exchange_index=0,
        last_update_reason=o.reason,
    )


def user_order_msg(o: Order) -> S.UserOrderMsg:
    side = o.side
    return S.UserOrderMsg(
        order_id=o.order_id,
        user_id=o.user_id,
        ticker=o.ticker,
        status=str(o.status),
        side="yes" if side == "bid" else "no",
        is_yes=side == "bid",
        outcome_side="yes" if side == "bid" else "no",
        book_side=side,  # type: ignore[arg-type]
        yes_price_dollars=format_price(o.price),
        fill_count_fp=format_qty(o.filled),
        remaining_count_fp=format_qty(o.remaining),
        initial_count_fp=format_qty(o.initial),
        taker_fill_cost_dollars=format_money(o.taker_cost),
        maker_fill_cost_dollars=format_money(o.maker_cost),
        taker_fees_dollars=format_money(o.taker_fees),
        maker_fees_dollars=format_money(o.maker_fees),
        client_order_id=o.client_order_id,
        order_group_id=o.group_id,
        self_trade_prevention_type=o.stp,
        subaccount_number=o.subaccount,
        created_time=rfc3339(o.created_ms),
        created_ts_ms=o.created_ms,
        last_updated_ts_ms=o.updated_ms,
        last_update_time=rfc3339(o.updated_ms),
        expiration_ts_ms=o.expiration_ts * 1000 if o.expiration_ts is not None else None,
        expiration_time=rfc3339(o.expiration_ts * 1000) if o.expiration_ts is not None else None,
        last_update_reason=o.reason,
    )


def fill(f: Fill) -> S.Fill:
    return S.Fill(
        # Kalshi: trade_id = fill_id on the Fill object, and the WS ``fill`` carries the same
        # trade_id, so a client can match the two reports. One user is never on both sides of a
        # trade (self-trade prevention), so the trade id identifies the user's fill.
        fill_id=f.trade_id,
        trade_id=f.trade_id,
        order_id=f.order_id,
        ticker=f.ticker,
        market_ticker=f.ticker,
        exchange_index=0,
        outcome_side="yes" if f.side == "bid" else "no",
        book_side=f.side,  # type: ignore[arg-type]
        count_fp=format_qty(f.count),
        yes_price_dollars=format_price(f.price),
        no_price_dollars=format_price(ONE_DOLLAR - f.price),
        is_taker=f.is_taker,
        fee_cost=format_money(f.fee),
        side="yes" if f.side == "bid" else "no",
        action="buy",
        created_time=rfc3339(f.ts_ms),
        subaccount_number=f.subaccount,
        ts=f.ts_ms // 1000,
    )


def fill_msg(f: Fill) -> S.FillMsg:
    o = "yes" if f.side == "bid" else "no"
    return S.FillMsg(
        trade_id=f.trade_id,
        order_id=f.order_id,
        client_order_id=f.client_order_id,
        market_ticker=f.ticker,
        exchange_index=0,
        is_taker=f.is_taker,
        side=o,
        action="buy",
        outcome_side=o,  # type: ignore[arg-type]
        book_side=f.side,  # type: ignore[arg-type]
        purchased_side=o,
        yes_price_dollars=format_price(f.price),
        count_fp=format_qty(f.count),
        fee_cost=format_money(f.fee),
        post_position_fp=format_qty(f.post_position),
        subaccount=f.subaccount,
        ts=f.ts_ms // 1000,
        ts_ms=f.ts_ms,
    )


def trade(t: Trade) -> S.Trade:
    o = "yes" if t.taker_side == "bid" else "no"
    return S.Trade(
        trade_id=t.trade_id,
        ticker=t.ticker,
        count_fp=format_qty(t.count),
        yes_price_dollars=format_price(t.price),
        no_price_dollars=format_price(ONE_DOLLAR - t.price),
        taker_outcome_side=o,  # type: ignore[arg-type]
        taker_book_side=t.taker_side,  # type: ignore[arg-type]
        created_time=rfc3339(t.ts_ms),
        is_block_trade=False,
        taker_side=o,
    )


def trade_msg(t: Trade) -> S.TradeMsg:
    o = "yes" if t.taker_side == "bid" else "no"
    return S.TradeMsg(
        trade_id=t.trade_id,
        market_ticker=t.ticker,
        yes_price_dollars=format_price(t.price),
        no_price_dollars=format_price(ONE_DOLLAR - t.price),
        count_fp=format_qty(t.count),
        taker_outcome_side=o,  # type: ignore[arg-type]
        taker_book_side=t.taker_side,  # type: ignore[arg-type]
        taker_side=o,  # type: ignore[arg-type]
        is_block_trade=False,
        ts=t.ts_ms // 1000,
        ts_ms=t.ts_ms,
    )


def top(m: MarketState) -> tuple[Price, int, Price, int]:
    """(yes bid, bid size, yes ask, ask size); an empty side is 0 / 1.0000 with size 0."""
    b = m.book
    bid = b.bid_prices[-1] if b.bid_prices else 0
    ask = b.ask_prices[0] if b.ask_prices else ONE_DOLLAR
    return bid, b.bids[bid].size if bid else 0, ask, b.asks[ask].size if b.ask_prices else 0


def levels(m: MarketState, depth: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """REST/WS ladders: YES bids and NO bids (NO prices), each ascending; ``depth`` best levels."""
    b = m.book
    yes = [(format_price(p), format_qty(b.bids[p].size)) for p in b.bid_prices]
    no = [(format_price(ONE_DOLLAR - p), format_qty(b.asks[p].size)) for p in reversed(b.ask_prices)]
    if depth:
        yes, no = yes[-depth:], no[-depth:]
    return yes, no


def market(m: MarketState) -> S.Market:
    bid, bid_size, ask, ask_size = top(m)
    determined = m.settlement_value is not None
    return S.Market(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        market_type=m.market_type,
        title=m.title,
        subtitle=m.subtitle,
        yes_sub_title=m.yes_sub_title,
        no_sub_title=m.no_sub_title,
        created_time=rfc3339(m.created_ms),
        updated_time=rfc3339(m.updated_ms),
        open_time=rfc3339(m.open_ms),
        close_time=rfc3339(m.close_ms),
        expected_expiration_time=rfc3339(m.expected_expiration_ms),
        expiration_time=rfc3339(m.latest_expiration_ms),
        latest_expiration_time=rfc3339(m.latest_expiration_ms),
        settlement_timer_seconds=m.settlement_timer_s,
        status=m.status,
        yes_bid_dollars=format_price(bid),
        yes_bid_size_fp=format_qty(bid_size),
        yes_ask_dollars=format_price(ask),
        yes_ask_size_fp=format_qty(ask_size),
        no_bid_dollars=format_price(ONE_DOLLAR - ask),
        no_ask_dollars=format_price(ONE_DOLLAR - bid),
        last_price_dollars=format_price(m.last_price),
        volume_fp=format_qty(m.volume),
        volume_24h_fp=format_qty(m.volume_24h),
        result=m.result,
        can_close_early=m.can_close_early,
        open_interest_fp=format_qty(m.open_interest),
        notional_value_dollars="1.0000",
        previous_yes_bid_dollars=format_price(m.previous_yes_bid),
        previous_yes_ask_dollars=format_price(m.previous_yes_ask),
        previous_price_dollars=format_price(m.previous_price),
        settlement_bounds_type="default",
        expiration_value=format_price(m.settlement_value) if determined else "",  # type: ignore[arg-type]
        rules_primary=m.rules_primary,
        rules_secondary=m.rules_secondary,
        price_level_structure=m.price_level_structure,
        price_ranges=[
            S.PriceRange(start=format_price(a), end=format_price(b), step=format_price(c))
            for a, b, c in m.grid.ranges
        ],
        settlement_value_dollars=format_price(m.settlement_value) if determined else None,  # type: ignore[arg-type]
        settlement_ts=rfc3339(m.settled_ms) if m.settled_ms is not None else None,
        strike_type="greater_or_equal" if m.floor_strike is not None else None,
        floor_strike=m.floor_strike,
        exchange_index=0,
    )


def settlement(s: SettlementRecord) -> S.Settlement:
    return S.Settlement(
        ticker=s.ticker,
        event_ticker=s.event_ticker,
        market_result=s.result,
        yes_count_fp=format_qty(s.yes_count),
        yes_total_cost_dollars=format_money(s.yes_cost),
        no_count_fp=format_qty(s.no_count),
        no_total_cost_dollars=format_money(s.no_cost),
        revenue=s.revenue // 10_000,
        value=s.value // 100,
        fee_cost=format_money(s.fee_cost),
        settled_time=rfc3339(s.settled_ms),
    )


def price_ranges_ws(m: MarketState) -> list[S.WsPriceRange]:
    return [
        S.WsPriceRange(start=format_price(a), end=format_price(b), step=format_price(c))
        for a, b, c in m.grid.ranges
    ]


def lifecycle_msg(
    m: MarketState | None, ticker: str, event_type: str, ts_ms: int, data: dict
) -> S.MarketLifecycleMsg:
    msg = S.MarketLifecycleMsg(market_ticker=ticker, event_type=event_type)
    if event_type == "created" and m is not None:
        msg.open_ts = m.open_ms // 1000
        msg.close_ts = m.close_ms // 1000
        msg.exchange_index = 0
        msg.price_level_structure = m.price_level_structure
        msg.price_ranges = price_ranges_ws(m)
        msg.additional_metadata = S.LifecycleMetadata(
            name=m.title,
            title=m.title,
            yes_sub_title=m.yes_sub_title,
            no_sub_title=m.no_sub_title,
            rules_primary=m.rules_primary,
            rules_secondary=m.rules_secondary,
            can_close_early=m.can_close_early,
            event_ticker=m.event_ticker,
            expected_expiration_ts=m.expected_expiration_ms // 1000,
            strike_type="greater_or_equal" if m.floor_strike is not None else None,
            floor_strike=m.floor_strike,
        )
    elif event_type in ("activated", "deactivated"):
        msg.is_deactivated = bool(data.get("is_deactivated"))
    elif event_type == "close_date_updated":
        msg.close_ts = int(data["close_ms"]) // 1000
    elif event_type == "determined":
        msg.result = data["result"]
        msg.settlement_value = format_price(data["settlement_value"])
        msg.determination_ts = ts_ms // 1000
    elif event_type == "settled":
        msg.settled_ts = ts_ms // 1000
    return msg


def dollars_list(items: Iterable[tuple[Price, int]]) -> list[tuple[str, str]]:
    return [(format_price(p), format_qty(q)) for p, q in items]
