"""REST handlers of the local exchange under ``/trade-api/v2`` (kalshi-api.md sections 5-10).

Handlers are thin: parse and type-check the request (strict: fixed-point strings where Kalshi
wants strings, so a numeric ``count``/``price`` is a 400), call the matching engine, publish its
events to the WebSocket hub, encode the answer with ``kalshi.schemas`` Structs.

Error bodies: business and body-type errors use the nested shape
``{"error":{"code","message","details"}}``; query-parameter validation errors (bad ``limit``,
unknown ``status``) use ``{"msg": "..."}``; 429 is ``{"error":"too many requests"}``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from aiohttp import web

from kalshi_mm.domain.units import (
    ONE_DOLLAR,
    format_money,
    format_qty,
    money_to_cents_floor,
    parse_price,
    parse_qty,
)
from kalshi_mm.errors import ProtocolError
from kalshi_mm.exchange import wire
from kalshi_mm.exchange.matching import KEEP
from kalshi_mm.exchange.model import EngineReject, MarketState, Order
from kalshi_mm.kalshi import schemas as S

if TYPE_CHECKING:
    from kalshi_mm.exchange.server import ExchangeState

T = TypeVar("T")
_enc = msgspec.json.Encoder()
JSON = "application/json"

STATUS_FILTER = {
    "unopened": ("initialized",),
    "open": ("active",),
    "paused": ("inactive",),
    "closed": ("closed", "determined"),
    "settled": ("finalized",),
}


STATE: web.AppKey[Any] = web.AppKey("state", object)
USER: web.RequestKey[Any] = web.RequestKey("user", object)


class QueryError(Exception):
    """A query-parameter validation failure: 400 ``{"msg": ...}``."""


def respond(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_enc.encode(obj), status=status, content_type=JSON)


def error_body(code: str, message: str, details: str = "") -> bytes:
    return _enc.encode({"error": {"code": code, "message": message, "details": details or message}})


def error(status: int, code: str, message: str, details: str = "") -> web.Response:
    return web.Response(body=error_body(code, message, details), status=status, content_type=JSON)


def state_of(request: web.Request) -> ExchangeState:
    return request.app[STATE]  # type: ignore[no-any-return]


def user_of(request: web.Request) -> str:
    return request[USER]  # type: ignore[no-any-return]


# -- query helpers ---------------------------------------------------------------------------------
def q_int(
    request: web.Request, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
) -> int | None:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v)
    except ValueError:
        raise QueryError(f"{name} must be an integer") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise QueryError(f"{name} must be between {lo} and {hi}")
    return n


def q_limit(request: web.Request, hi: int = 1000) -> int:
    n = q_int(request, "limit", 100, 1, hi)
    assert n is not None
    return n


def q_csv(request: web.Request, name: str) -> list[str] | None:
    v = request.query.get(name)
    if not v:
        return None
    return [x for x in v.split(",") if x]


def q_bool(request: web.Request, name: str) -> bool:
    v = request.query.get(name, "")
    if v in ("", "false", "False", "0"):
        return False
    if v in ("true", "True", "1"):
        return True
    raise QueryError(f"{name} must be true or false")


def paginate(request: web.Request, items: Sequence[T], hi: int = 1000) -> tuple[list[T], str]:
    """A page of ``items`` and the next cursor (``""`` on the last page; garbage cursor = start)."""
    limit = q_limit(request, hi)
    start = 0
    cur = request.query.get("cursor")
    if cur:
        try:
            start = int(base64.urlsafe_b64decode(cur.encode() + b"==").decode())
        except (ValueError, UnicodeDecodeError):
            start = 0
        start = max(0, start)
    page = list(items[start : start + limit])
    end = start + len(page)
    nxt = base64.urlsafe_b64encode(str(end).encode()).decode().rstrip("=") if end < len(items) else ""
    return page, nxt


def decode(body: bytes, typ: type[T]) -> T:
    try:
        return msgspec.json.decode(body or b"{}", type=typ)
    except msgspec.ValidationError as e:
        raise EngineReject(400, "bad_request", f"invalid request body: {e}") from None
    except msgspec.DecodeError:
        raise EngineReject(400, "bad_request", "request body is not valid JSON") from None


def fixed(parse: Callable[[object, str], int], value: str, field: str) -> int:
    try:
        return parse(value, field)
    except ProtocolError as e:
        raise EngineReject(400, "bad_request", str(e)) from None


# -- market data (section 5) -----------------------------------------------------------------------
async def exchange_status(request: web.Request) -> web.Response:
    st = state_of(request)
    return respond(S.ExchangeStatus(exchange_active=True, trading_active=st.engine.trading_active))


async def exchange_schedule(request: web.Request) -> web.Response:
    day = [S.DailyHours(open_time="00:00", close_time="23:59")]
    hours = S.StandardHours(
        start_time="2020-01-01T00:00:00Z",
        end_time="2100-01-01T00:00:00Z",
        monday=day,
        tuesday=day,
        wednesday=day,
        thursday=day,
        friday=day,
        saturday=day,
        sunday=day,
    )
    return respond(S.GetExchangeScheduleResponse(schedule=S.ExchangeSchedule(standard_hours=[hours])))


async def user_data_timestamp(request: web.Request) -> web.Response:
    return respond(S.UserDataTimestamp(as_of_time=wire.rfc3339(state_of(request).now_ms())))


def _status_filter(request: web.Request) -> tuple[str, ...] | None:
    status = request.query.get("status")
    if not status:
        return None
    if status not in STATUS_FILTER:
        raise QueryError(f"invalid status filter {status!r}: use unopened, open, paused, closed or settled")
    return STATUS_FILTER[status]


def _markets_filtered(request: web.Request) -> list[MarketState]:
    st = state_of(request)
    statuses = _status_filter(request)
    event = request.query.get("event_ticker")
    series = request.query.get("series_ticker")
    tickers = q_csv(request, "tickers")
    bounds = {
        k: q_int(request, k)
        for k in (
            "min_close_ts",
            "max_close_ts",
            "min_created_ts",
            "max_created_ts",
            "min_settled_ts",
            "max_settled_ts",
            "min_updated_ts",
            "max_updated_ts",
        )
    }
    out = []
    for m in st.engine.markets.values():
        if statuses is not None and m.status not in statuses:
            continue
        if event and m.event_ticker != event:
            continue
        if series and m.series_ticker != series:
            continue
        if tickers is not None and m.ticker not in tickers:
            continue
        times = {
            "close": m.close_ms,
            "created": m.created_ms,
            "settled": m.settled_ms,
            "updated": m.updated_ms,
        }
        ok = True
        for k, v in bounds.items():
            if v is None:
                continue
            t = times[k.split("_")[1]]
            if (
                t is None
                or (k.startswith("min") and t // 1000 < v)
                or (k.startswith("max") and t // 1000 > v)
            ):
                ok = False
                break
        if ok:
            out.append(m)
    out.sort(key=lambda m: (m.close_ms, m.ticker))
    return out


async def get_markets(request: web.Request) -> web.Response:
    page, cur = paginate(request, _markets_filtered(request))
    return respond(S.GetMarketsResponse(markets=[wire.market(m) for m in page], cursor=cur))


def _market(request: web.Request, ticker: str) -> MarketState:
    m = state_of(request).engine.markets.get(ticker)
    if m is None:
        raise EngineReject(404, "market_not_found", f"market {ticker} not found")
    return m


async def get_market(request: web.Request) -> web.Response:
    return respond(S.GetMarketResponse(market=wire.market(_market(request, request.match_info["ticker"]))))


def _book(m: MarketState, depth: int) -> S.OrderbookFp:
    yes, no = wire.levels(m, depth)
    return S.OrderbookFp(yes_dollars=yes, no_dollars=no)


async def get_orderbook(request: web.Request) -> web.Response:
    m = _market(request, request.match_info["ticker"])
    depth = q_int(request, "depth", 0, 0, 100) or 0
    return respond(S.GetOrderbookResponse(orderbook_fp=_book(m, depth)))


async def get_orderbooks(request: web.Request) -> web.Response:
    tickers = request.query.getall("tickers", [])
    if len(tickers) == 1 and "," in tickers[0]:
        tickers = [t for t in tickers[0].split(",") if t]
    if not tickers:
        raise QueryError("tickers is required")
    if len(tickers) > 100:
        raise QueryError("at most 100 tickers")
    books = []
    for t in tickers:
        m = _market(request, t)
        books.append(S.MarketOrderbook(ticker=t, orderbook_fp=_book(m, 0)))
    return respond(S.GetOrderbooksResponse(orderbooks=books))


async def get_trades(request: web.Request) -> web.Response:
    st = state_of(request)
    ticker = request.query.get("ticker")
    lo, hi = q_int(request, "min_ts"), q_int(request, "max_ts")
    if q_bool(request, "is_block_trade"):
        trades: list[Any] = []
    else:
        markets = [_market(request, ticker)] if ticker else list(st.engine.markets.values())
        trades = [t for m in markets for t in m.trades]
        if lo is not None:
            trades = [t for t in trades if t.ts_ms // 1000 >= lo]
        if hi is not None:
            trades = [t for t in trades if t.ts_ms // 1000 <= hi]
        trades.sort(key=lambda t: t.ts_ms, reverse=True)
    page, cur = paginate(request, trades)
    return respond(S.GetTradesResponse(trades=[wire.trade(t) for t in page], cursor=cur))


def _event(st: ExchangeState, event_ticker: str, markets: list[MarketState], nested: bool) -> S.Event:
    m0 = markets[0]
    spec = st.series.get(m0.series_ticker)
    return S.Event(
        event_ticker=event_ticker,
        series_ticker=m0.series_ticker,
        title=(spec.title if spec else m0.series_ticker) + f" closing {wire.rfc3339(m0.close_ms)}",
        sub_title=wire.rfc3339(m0.close_ms),
        collateral_return_type="",
        mutually_exclusive=False,
        settlement_sources=[],
        markets=[wire.market(m) for m in markets] if nested else None,
        strike_date=wire.rfc3339(m0.close_ms),
        strike_period="",
        category=spec.category if spec else "Simulated",
        exchange_index=0,
    )


def _events_index(st: ExchangeState) -> dict[str, list[MarketState]]:
    ev: dict[str, list[MarketState]] = {}
    for m in st.engine.markets.values():
        ev.setdefault(m.event_ticker, []).append(m)
    return ev


async def get_events(request: web.Request) -> web.Response:
    st = state_of(request)
    statuses = _status_filter(request)
    series = request.query.get("series_ticker")
    tickers = q_csv(request, "tickers")
    nested = q_bool(request, "with_nested_markets")
    q_bool(request, "with_milestones")
    min_close = q_int(request, "min_close_ts")
    items = []
    for et, ms in _events_index(st).items():
        if series and ms[0].series_ticker != series:
            continue
        if tickers is not None and et not in tickers:
            continue
        if statuses is not None and not any(m.status in statuses for m in ms):
            continue
        if min_close is not None and not any(m.close_ms // 1000 >= min_close for m in ms):
            continue
        items.append((et, ms))
    items.sort(key=lambda x: (x[1][0].close_ms, x[0]))
    page, cur = paginate(request, items, 200)
    return respond(S.GetEventsResponse(events=[_event(st, et, ms, nested) for et, ms in page], cursor=cur))


async def get_event(request: web.Request) -> web.Response:
    st = state_of(request)
    et = request.match_info["event_ticker"]
    ms = _events_index(st).get(et)
    if not ms:
        raise EngineReject(404, "not_found", f"event {et} not found")
    nested = q_bool(request, "with_nested_markets")
    return respond(S.GetEventResponse(event=_event(st, et, ms, nested), markets=[wire.market(m) for m in ms]))


def _series(st: ExchangeState, ticker: str) -> S.Series:
    spec = st.series[ticker]
    return S.Series(
        ticker=spec.ticker,
        frequency=spec.frequency,
        title=spec.title or spec.ticker,
        category=spec.category,
        categories=[spec.category],
        contract_url="",
        contract_terms_url="",
        fee_type=st.config.fee_type or spec.fee_type,
        fee_multiplier=1.0,
        tags=[],
        settlement_sources=[],
        additional_prohibitions=[],
    )


async def get_series_list(request: web.Request) -> web.Response:
    st = state_of(request)
    cat = request.query.get("category")
    out = [_series(st, t) for t, s in st.series.items() if not cat or s.category == cat]
    return respond(S.GetSeriesListResponse(series=out))


async def get_series(request: web.Request) -> web.Response:
    st = state_of(request)
    t = request.match_info["series_ticker"]
    if t not in st.series:
        raise EngineReject(404, "not_found", f"series {t} not found")
    return respond(S.GetSeriesResponse(series=_series(st, t)))


async def historical(request: web.Request) -> web.Response:
    """The simulator keeps no data older than the live window: empty pages."""
    what = request.match_info["what"]
    st = state_of(request)
    if what == "cutoff":
        ts = wire.rfc3339((st.started_ms // 1000) * 1000)
        return respond({"market_settled_ts": ts, "trades_created_ts": ts, "orders_updated_ts": ts})
    keys = {
        "markets": "markets",
        "orders": "orders",
        "fills": "fills",
        "trades": "trades",
        "positions": "market_positions",
    }
    if what not in keys:
        raise EngineReject(404, "not_found", "unknown historical resource")
    q_limit(request)
    return respond({keys[what]: [], "cursor": ""})


# -- portfolio reads (section 6) -------------------------------------------------------------------
def _mark(m: MarketState | None) -> int | None:
    if m is None:
        return None
    if m.settlement_value is not None:
        return m.settlement_value
    b = m.book
    if b.bid_prices and b.ask_prices:
        return (b.bid_prices[-1] + b.ask_prices[0]) // 2
    return m.last_price or None


async def get_balance(request: web.Request) -> web.Response:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    avail = acct.portfolio.cash - acct.reserved
    value = 0
    for t, pos in acct.portfolio.positions.items():
        if pos.qty:
            mark = _mark(st.engine.markets.get(t))
            if mark is not None:
                value += pos.qty * mark if pos.qty > 0 else -pos.qty * (ONE_DOLLAR - mark)
    return respond(
        S.Balance(
            balance=money_to_cents_floor(avail),
            balance_dollars=format_money(avail),
            portfolio_value=money_to_cents_floor(value),
            updated_ts=st.now_ms() // 1000,
            balance_breakdown=[S.BalanceBreakdown(exchange_index=0, balance=format_money(avail))],
        )
    )


async def get_positions(request: web.Request) -> web.Response:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    settle = request.query.get("settlement_status", "unsettled")
    if settle not in ("unsettled", "settled", "all"):
        raise QueryError("settlement_status must be unsettled, settled or all")
    cf = q_csv(request, "count_filter") or []
    for c in cf:
        if c not in ("position", "total_traded"):
            raise QueryError("count_filter must be position and/or total_traded")
    ticker = request.query.get("ticker")
    event = request.query.get("event_ticker")
    rows = []
    for t, pos in acct.portfolio.positions.items():
        if ticker and t != ticker:
            continue
        m = st.engine.markets.get(t)
        et = m.event_ticker if m else ""
        if event and et != event:
            continue
        if (settle == "unsettled" and pos.settled) or (settle == "settled" and not pos.settled):
            continue
        if "position" in cf and not pos.qty:
            continue
        if "total_traded" in cf and not acct.traded.get(t):
            continue
        rows.append((t, et, pos))
    rows.sort(key=lambda r: r[0])
    page, cur = paginate(request, rows)
    mps = [
        S.MarketPosition(
            ticker=t,
            exchange_index=0,
            total_traded_dollars=format_money(acct.traded.get(t, 0)),
            position_fp=format_qty(pos.qty),
            market_exposure_dollars=format_money(pos.cost),
            realized_pnl_dollars=format_money(pos.realized),
            fees_paid_dollars=format_money(pos.fees),
            last_updated_ts=wire.rfc3339(acct.pos_updated_ms.get(t, 0)),
            resting_orders_count=sum(1 for o in acct.open_orders.values() if o.ticker == t),
        )
        for t, _, pos in page
    ]
    events: dict[str, list[Any]] = {}
    for _t, et, pos in page:
        events.setdefault(et, []).append(pos)
    eps = [
        S.EventPosition(
            event_ticker=et,
            total_cost_dollars=format_money(sum(p.cost for p in ps)),
            total_cost_shares_fp=format_qty(sum(abs(p.qty) for p in ps)),
            event_exposure_dollars=format_money(sum(p.cost for p in ps)),
            realized_pnl_dollars=format_money(sum(p.realized for p in ps)),
            fees_paid_dollars=format_money(sum(p.fees for p in ps)),
        )
        for et, ps in events.items()
    ]
    return respond(S.GetPositionsResponse(market_positions=mps, event_positions=eps, cursor=cur))


def _orders_filtered(request: web.Request) -> list[Order]:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    ticker = request.query.get("ticker")
    events = q_csv(request, "event_ticker")
    if events is not None and len(events) > 10:
        raise QueryError("at most 10 event tickers")
    status = request.query.get("status")
    if status and status not in ("resting", "canceled", "executed"):
        raise QueryError("status must be resting, canceled or executed")
    lo, hi = q_int(request, "min_ts"), q_int(request, "max_ts")
    sub = q_int(request, "subaccount", None, 0, 63)
    out = []
    source = acct.open_orders.values() if status == "resting" else acct.orders.values()
    for o in source:
        if ticker and o.ticker != ticker:
            continue
        if status and o.status != status:
            continue
        if events is not None:
            m = st.engine.markets.get(o.ticker)
            if m is None or m.event_ticker not in events:
                continue
        if lo is not None and o.created_ms // 1000 < lo:
            continue
        if hi is not None and o.created_ms // 1000 > hi:
            continue
        if sub is not None and o.subaccount != sub:
            continue
        out.append(o)
    out.sort(key=lambda o: (o.created_ms, o.order_id), reverse=True)
    return out


async def get_orders(request: web.Request) -> web.Response:
    page, cur = paginate(request, _orders_filtered(request))
    return respond(S.GetOrdersResponse(orders=[wire.order(o) for o in page], cursor=cur))


def _order(request: web.Request) -> Order:
    st = state_of(request)
    oid = request.match_info["order_id"]
    o = st.engine.accounts[user_of(request)].orders.get(oid)
    if o is None:
        raise EngineReject(404, "not_found", f"order {oid} not found")
    return o


async def get_order(request: web.Request) -> web.Response:
    return respond(S.GetOrderResponse(order=wire.order(_order(request))))


async def get_queue_position(request: web.Request) -> web.Response:
    o = _order(request)
    qp = state_of(request).engine.queue_position(o)
    return respond(S.QueuePositionResponse(queue_position_fp=format_qty(qp)))


async def get_queue_positions(request: web.Request) -> web.Response:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    tickers = q_csv(request, "market_tickers")
    event = request.query.get("event_ticker")
    out = []
    for o in sorted(acct.open_orders.values(), key=lambda o: o.prio):
        if tickers is not None and o.ticker not in tickers:
            continue
        if event:
            m = st.engine.markets.get(o.ticker)
            if m is None or m.event_ticker != event:
                continue
        out.append(
            S.QueuePosition(
                order_id=o.order_id,
                market_ticker=o.ticker,
                queue_position_fp=format_qty(st.engine.queue_position(o)),
            )
        )
    return respond(S.GetQueuePositionsResponse(queue_positions=out))


async def get_fills(request: web.Request) -> web.Response:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    tickers = q_csv(request, "ticker")
    if tickers is not None and len(tickers) > 100:
        raise QueryError("at most 100 tickers")
    oid = request.query.get("order_id")
    lo, hi = q_int(request, "min_ts"), q_int(request, "max_ts")
    fills = [
        f
        for f in acct.fills
        if (tickers is None or f.ticker in tickers)
        and (not oid or f.order_id == oid)
        and (lo is None or f.ts_ms // 1000 >= lo)
        and (hi is None or f.ts_ms // 1000 <= hi)
    ]
    fills.reverse()
    page, cur = paginate(request, fills)
    return respond(S.GetFillsResponse(fills=[wire.fill(f) for f in page], cursor=cur))


async def get_settlements(request: web.Request) -> web.Response:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    ticker = request.query.get("ticker")
    event = request.query.get("event_ticker")
    lo, hi = q_int(request, "min_ts"), q_int(request, "max_ts")
    rows = [
        s
        for s in reversed(acct.settlements)
        if (not ticker or s.ticker == ticker)
        and (not event or s.event_ticker == event)
        and (lo is None or s.settled_ms // 1000 >= lo)
        and (hi is None or s.settled_ms // 1000 <= hi)
    ]
    page, cur = paginate(request, rows)
    return respond(S.GetSettlementsResponse(settlements=[wire.settlement(s) for s in page], cursor=cur))


# -- order entry (section 7) -----------------------------------------------------------------------
def _create(st: ExchangeState, user: str, req: S.CreateOrderRequest, now: int) -> Order:
    count = fixed(parse_qty, req.count, "count")
    price = fixed(parse_price, req.price, "price")
    if req.subaccount is not None and not 0 <= req.subaccount <= 63:
        raise EngineReject(400, "bad_request", "subaccount must be 0-63")
    return st.engine.place(
        user,
        req.ticker,
        req.side,
        price,
        count,
        now,
        tif=req.time_in_force,
        stp=req.self_trade_prevention_type,
        client_order_id=req.client_order_id,
        expiration_ts=req.expiration_time,
        post_only=bool(req.post_only),
        reduce_only=bool(req.reduce_only),
        cancel_on_pause=bool(req.cancel_order_on_pause),
        group_id=req.order_group_id,
        subaccount=req.subaccount or 0,
    )


def _create_result(o: Order, now: int) -> S.CreateOrderResponse:
    return S.CreateOrderResponse(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        fill_count=format_qty(o.filled),
        remaining_count=format_qty(o.remaining),
        average_fill_price=wire.avg_price(wire.yes_cost(o), o.filled),
        average_fee_paid=wire.avg_fee(o.taker_fees + o.maker_fees, o.filled),
        ts_ms=now,
    )


async def create_order(request: web.Request) -> web.Response:
    st = state_of(request)
    req = decode(await request.read(), S.CreateOrderRequest)
    now = st.now_ms()
    st.engine.advance(now)
    try:
        o = _create(st, user_of(request), req, now)
    finally:
        st.publish()
    return respond(_create_result(o, now), 201)


async def cancel_order(request: web.Request) -> web.Response:
    st = state_of(request)
    now = st.now_ms()
    st.engine.advance(now)
    try:
        o, reduced = st.engine.cancel(user_of(request), request.match_info["order_id"], now)
    finally:
        st.publish()
    return respond(
        S.CancelOrderResponse(
            order_id=o.order_id, client_order_id=o.client_order_id, reduced_by=format_qty(reduced), ts_ms=now
        )
    )


async def amend_order(request: web.Request) -> web.Response:
    st = state_of(request)
    req = decode(await request.read(), S.AmendOrderRequest)
    now = st.now_ms()
    st.engine.advance(now)
    count = fixed(parse_qty, req.count, "count")
    price = fixed(parse_price, req.price, "price")
    try:
        o = st.engine.amend(
            user_of(request),
            request.match_info["order_id"],
            now,
            ticker=req.ticker,
            side=req.side,
            price=price,
            count=count,
            updated_client_order_id=req.updated_client_order_id,
            expiration_ts=KEEP if req.expiration_time is None else req.expiration_time,
        )
    finally:
        st.publish()
    return respond(
        S.AmendOrderResponse(
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            remaining_count=format_qty(o.remaining),
            fill_count=format_qty(o.filled),
            average_fill_price=wire.avg_price(wire.yes_cost(o), o.filled),
            average_fee_paid=wire.avg_fee(o.taker_fees + o.maker_fees, o.filled),
            ts_ms=now,
        )
    )


async def decrease_order(request: web.Request) -> web.Response:
    st = state_of(request)
    try:
        req = msgspec.json.decode(await request.read() or b"{}", type=S.DecreaseOrderRequest)
    except (msgspec.ValidationError, ValueError) as e:
        raise EngineReject(400, "bad_request", f"invalid request body: {e}") from None
    now = st.now_ms()
    st.engine.advance(now)
    by = fixed(parse_qty, req.reduce_by, "reduce_by") if req.reduce_by is not None else None
    to = fixed(parse_qty, req.reduce_to, "reduce_to") if req.reduce_to is not None else None
    try:
        o = st.engine.decrease(
            user_of(request), request.match_info["order_id"], now, reduce_by=by, reduce_to=to
        )
    finally:
        st.publish()
    return respond(
        S.DecreaseOrderResponse(
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            remaining_count=format_qty(o.remaining),
            ts_ms=now,
        )
    )


def _err(e: EngineReject) -> S.ErrorDetail:
    return S.ErrorDetail(code=e.code, message=e.details, details=e.details)


async def batch_create(request: web.Request) -> web.Response:
    st = state_of(request)
    req = decode(await request.read(), S.BatchCreateOrdersRequest)
    if not req.orders:
        raise EngineReject(400, "bad_request", "orders must not be empty")
    if len(req.orders) > st.max_batch:
        raise EngineReject(400, "bad_request", f"at most {st.max_batch} orders per batch")
    st.charge(request, "write", 10 * len(req.orders))
    now = st.now_ms()
    st.engine.advance(now)
    out = []
    user = user_of(request)
    try:
        for item in req.orders:
            try:
                o = _create(st, user, item, now)
            except EngineReject as e:
                out.append(S.BatchCreateOrderResult(client_order_id=item.client_order_id, error=_err(e)))
                continue
            r = _create_result(o, now)
            out.append(
                S.BatchCreateOrderResult(
                    order_id=r.order_id,
                    client_order_id=r.client_order_id,
                    fill_count=r.fill_count,
                    remaining_count=r.remaining_count,
                    average_fill_price=r.average_fill_price,
                    average_fee_paid=r.average_fee_paid,
                    ts_ms=now,
                )
            )
    finally:
        st.publish()
    return respond(S.BatchCreateOrdersResponse(orders=out), 201)


async def batch_cancel(request: web.Request) -> web.Response:
    st = state_of(request)
    req = decode(await request.read(), S.BatchCancelOrdersRequest)
    if not req.orders:
        raise EngineReject(400, "bad_request", "orders must not be empty")
    if len(req.orders) > st.max_batch:
        raise EngineReject(400, "bad_request", f"at most {st.max_batch} orders per batch")
    st.charge(request, "write", 2 * len(req.orders))
    now = st.now_ms()
    st.engine.advance(now)
    out = []
    user = user_of(request)
    try:
        for item in req.orders:
            try:
                o, reduced = st.engine.cancel(user, item.order_id, now)
            except EngineReject as e:
                out.append(S.BatchCancelOrderResult(order_id=item.order_id, reduced_by="0.00", error=_err(e)))
                continue
            out.append(
                S.BatchCancelOrderResult(
                    order_id=o.order_id,
                    client_order_id=o.client_order_id,
                    reduced_by=format_qty(reduced),
                    ts_ms=now,
                )
            )
    finally:
        st.publish()
    return respond(S.BatchCancelOrdersResponse(orders=out))


async def cancel_all(request: web.Request) -> web.Response:
    st = state_of(request)
    sub = q_int(request, "subaccount", None, 0, 63)
    now = st.now_ms()
    try:
        st.engine.cancel_all(user_of(request), now, sub)
    finally:
        st.publish()
    return web.Response(status=204)


async def legacy_v1(request: web.Request) -> web.Response:
    return error(
        410, "deprecated_v1_order_endpoint", "V1 order endpoints are disabled; use /portfolio/events/orders"
    )


# -- order groups (section 9) ----------------------------------------------------------------------
def _limit(req: S.CreateOrderGroupRequest | S.UpdateOrderGroupLimitRequest) -> int:
    if req.contracts_limit_fp is not None:
        return fixed(parse_qty, req.contracts_limit_fp, "contracts_limit_fp")
    if req.contracts_limit is not None:
        return req.contracts_limit * 100
    raise EngineReject(400, "bad_request", "contracts_limit or contracts_limit_fp is required")


async def create_group(request: web.Request) -> web.Response:
    st = state_of(request)
    req = decode(await request.read(), S.CreateOrderGroupRequest)
    try:
        g = st.engine.create_group(user_of(request), _limit(req), st.now_ms(), req.subaccount or 0)
    finally:
        st.publish()
    return respond(
        S.CreateOrderGroupResponse(order_group_id=g.group_id, subaccount=g.subaccount, exchange_index=0), 201
    )


async def list_groups(request: web.Request) -> web.Response:
    st = state_of(request)
    acct = st.engine.accounts[user_of(request)]
    sub = q_int(request, "subaccount", None, 0, 63)
    out = [
        S.OrderGroup(
            id=g.group_id,
            contracts_limit_fp=format_qty(g.limit),
            is_auto_cancel_enabled=True,
            exchange_index=0,
        )
        for g in acct.groups.values()
        if sub is None or g.subaccount == sub
    ]
    return respond(S.GetOrderGroupsResponse(order_groups=out))


async def get_group(request: web.Request) -> web.Response:
    st = state_of(request)
    g = st.engine.group(user_of(request), request.match_info["group_id"])
    return respond(
        S.GetOrderGroupResponse(
            is_auto_cancel_enabled=True,
            contracts_limit_fp=format_qty(g.limit),
            orders=list(g.order_ids),
            exchange_index=0,
        )
    )


async def group_limit(request: web.Request) -> web.Response:
    st = state_of(request)
    req = decode(await request.read(), S.UpdateOrderGroupLimitRequest)
    try:
        st.engine.group_set_limit(user_of(request), request.match_info["group_id"], _limit(req), st.now_ms())
    finally:
        st.publish()
    return respond({})


async def group_trigger(request: web.Request) -> web.Response:
    st = state_of(request)
    try:
        st.engine.group_trigger(user_of(request), request.match_info["group_id"], st.now_ms())
    finally:
        st.publish()
    return respond({})


async def group_reset(request: web.Request) -> web.Response:
    st = state_of(request)
    try:
        st.engine.group_reset(user_of(request), request.match_info["group_id"], st.now_ms())
    finally:
        st.publish()
    return respond({})


async def group_delete(request: web.Request) -> web.Response:
    st = state_of(request)
    try:
        st.engine.group_delete(user_of(request), request.match_info["group_id"], st.now_ms())
    finally:
        st.publish()
    return respond({})


# -- account (section 10) --------------------------------------------------------------------------
async def account_limits(request: web.Request) -> web.Response:
    st = state_of(request)
    (rr, rc), (wr, wc) = st.tier_limits()
    return respond(
        S.AccountLimits(
            usage_tier=st.config.tier,
            read=S.BucketLimit(refill_rate=rr, bucket_capacity=rc),
            write=S.BucketLimit(refill_rate=wr, bucket_capacity=wc),
            grants=[],
        )
    )


async def endpoint_costs(request: web.Request) -> web.Response:
    from kalshi_mm.exchange.server import ENDPOINT_COSTS

    costs = [S.EndpointCost(method=m, path=p, cost=c) for (m, p), c in sorted(ENDPOINT_COSTS.items())]
    return respond(S.EndpointCosts(default_cost=10, endpoint_costs=costs))


def add_routes(app: web.Application, prefix: str = "/trade-api/v2") -> None:
    r = app.router
    g, po, de, pu = r.add_get, r.add_post, r.add_delete, r.add_put
    P = prefix
    g(P + "/exchange/status", exchange_status, allow_head=False)
    g(P + "/exchange/schedule", exchange_schedule, allow_head=False)
    g(P + "/exchange/user_data_timestamp", user_data_timestamp, allow_head=False)
    g(P + "/markets", get_markets, allow_head=False)
    g(P + "/markets/orderbooks", get_orderbooks, allow_head=False)
    g(P + "/markets/trades", get_trades, allow_head=False)
    g(P + "/markets/{ticker}", get_market, allow_head=False)
    g(P + "/markets/{ticker}/orderbook", get_orderbook, allow_head=False)
    g(P + "/events", get_events, allow_head=False)
    g(P + "/events/{event_ticker}", get_event, allow_head=False)
    g(P + "/series", get_series_list, allow_head=False)
    g(P + "/series/{series_ticker}", get_series, allow_head=False)
    g(P + "/historical/{what}", historical, allow_head=False)
    g(P + "/portfolio/balance", get_balance, allow_head=False)
    g(P + "/portfolio/positions", get_positions, allow_head=False)
    g(P + "/portfolio/orders", get_orders, allow_head=False)
    g(P + "/portfolio/orders/queue_positions", get_queue_positions, allow_head=False)
    g(P + "/portfolio/orders/{order_id}", get_order, allow_head=False)
    g(P + "/portfolio/orders/{order_id}/queue_position", get_queue_position, allow_head=False)
    g(P + "/portfolio/fills", get_fills, allow_head=False)
    g(P + "/portfolio/settlements", get_settlements, allow_head=False)
    po(P + "/portfolio/events/orders", create_order)
    de(P + "/portfolio/events/orders", cancel_all)
    po(P + "/portfolio/events/orders/batched", batch_create)
    de(P + "/portfolio/events/orders/batched", batch_cancel)
    de(P + "/portfolio/events/orders/{order_id}", cancel_order)
    po(P + "/portfolio/events/orders/{order_id}/amend", amend_order)
    po(P + "/portfolio/events/orders/{order_id}/decrease", decrease_order)
    po(P + "/portfolio/orders", legacy_v1)
    po(P + "/portfolio/orders/batched", legacy_v1)
    de(P + "/portfolio/orders/batched", legacy_v1)
    de(P + "/portfolio/orders/{order_id}", legacy_v1)
    po(P + "/portfolio/orders/{order_id}/amend", legacy_v1)
    po(P + "/portfolio/orders/{order_id}/decrease", legacy_v1)
    po(P + "/portfolio/order_groups/create", create_group)
    g(P + "/portfolio/order_groups", list_groups, allow_head=False)
    g(P + "/portfolio/order_groups/{group_id}", get_group, allow_head=False)
    pu(P + "/portfolio/order_groups/{group_id}/limit", group_limit)
    pu(P + "/portfolio/order_groups/{group_id}/trigger", group_trigger)
    pu(P + "/portfolio/order_groups/{group_id}/reset", group_reset)
    de(P + "/portfolio/order_groups/{group_id}", group_delete)
    g(P + "/account/limits", account_limits, allow_head=False)
    g(P + "/account/endpoint_costs", endpoint_costs, allow_head=False)


__all__ = ["QueryError", "add_routes", "error", "error_body", "respond"]
