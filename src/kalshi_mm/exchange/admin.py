"""Admin endpoints of the local exchange (outside ``/trade-api``; for tests and operators).

All bodies and answers are JSON; money in cents (ints) and dollars (strings) side by side.
If ``ExchangeConfig.admin_token`` is set, every call needs ``Authorization: Bearer <token>``.

====================================================== =============================================
``GET /admin/faults``                                  current faults
``POST /admin/faults``                                 set fields of ``Faults`` and/or run actions:
                                                       ``close_sockets`` (true: abort every WS TCP
                                                       connection; or a close code, e.g. 1001),
                                                       ``skip_seq`` (skip one seq on every sid),
                                                       ``stall_s`` (hold all WS output for N s),
                                                       ``pause_market`` / ``resume_market`` (ticker),
                                                       ``trading_active`` (bool, exchange-wide)
``DELETE /admin/faults``                               clear every fault
``GET /admin/markets``                                 markets: status, times, fair value, top, volume
``POST /admin/markets``                                create: ``{ticker?, event_ticker?,
                                                       series_ticker?, open_in_s=0, close_in_s=60,
                                                       price_level_structure?, fee_type?, fair?,
                                                       result?}`` (result: what determination says)
``POST /admin/markets/{ticker}/close``                 close now (cancels resting orders)
``POST /admin/markets/{ticker}/determine``             ``{result: yes|no|scalar, settlement_value?}``
``POST /admin/markets/{ticker}/settle``                pay out now (determines first if ``result``)
``POST /admin/markets/{ticker}/pause`` / ``resume``    inactive <-> active
``POST /admin/markets/{ticker}/close_time``            ``{close_ts}`` or ``{close_in_s}``
``POST /admin/users``                                  ``{balance_cents?, key_type?}`` -> new funded
                                                       user ``{user_id, api_key_id, private_key_pem}``
``GET /admin/accounts``                                every account: balance, collateral, fees ...
``GET /admin/accounts/{user_id}``                      one account (user id or API key id), positions
``GET /admin/accounts/{user_id}/orders_log``           every order-entry request received from it
``GET /admin/stats``                                   counters (requests, WS messages, connections)
``GET /admin/audit``                                   invariant violations of the engine (``[]``)
``POST /admin/flow``                                   ``{enabled?, speed?}``
====================================================== =============================================
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from kalshi_mm.domain.fees import FeeSchedule
from kalshi_mm.domain.units import (
    MONEY_PER_CENT,
    ONE_DOLLAR,
    format_money,
    format_qty,
    money_to_cents_floor,
    parse_price,
)
from kalshi_mm.exchange import rest, wire
from kalshi_mm.exchange.flow import SeriesSpec, SyntheticFlow, _Event
from kalshi_mm.exchange.model import EngineReject
from kalshi_mm.exchange.server import Faults

if TYPE_CHECKING:
    from kalshi_mm.exchange.server import ExchangeState

_enc = msgspec.json.Encoder()


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_enc.encode(obj), status=status, content_type="application/json")


def _st(request: web.Request) -> ExchangeState:
    st: ExchangeState = request.app[rest.STATE]
    tok = st.config.admin_token
    if tok and request.headers.get("Authorization") != f"Bearer {tok}":
        raise web.HTTPUnauthorized(text='{"error":"admin token required"}', content_type="application/json")
    return st


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise web.HTTPBadRequest(text='{"error":"invalid JSON"}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error":"expected a JSON object"}', content_type="application/json")
    return data


def _guard(fn: Any) -> Any:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await fn(request)  # type: ignore[no-any-return]
        except EngineReject as e:
            return _json({"error": {"code": e.code, "message": e.details}}, e.status)
        except (KeyError, ValueError, TypeError) as e:
            return _json({"error": {"code": "bad_request", "message": str(e)}}, 400)
        finally:
            request.app[rest.STATE].publish()

    return wrapped


# -- faults ------------------------------------------------------------------------------------------
async def get_faults(request: web.Request) -> web.Response:
    return _json(_st(request).faults.public())


async def post_faults(request: web.Request) -> web.Response:
    st = _st(request)
    body = await _body(request)
    f = st.faults
    now = st.now_ms()
    names = {fl.name for fl in dataclasses.fields(Faults)}
    for k, v in body.items():
        if k in names and k != "stall_until":
            setattr(f, k, v)
        elif k == "stall_s":
            f.stall_until = time.monotonic() + float(v)
        elif k == "skip_seq":
            if v:
                st.hub.skip_seq()
        elif k == "close_sockets":
            for conn in list(st.hub.conns):
                if v is True:
                    st.hub.abort(conn)
                else:
                    st.hub.close_conn(conn)
                    await conn.ws.close(code=int(v))
        elif k == "pause_market":
            st.engine.pause(v, now)
        elif k == "resume_market":
            st.engine.resume(v, now)
        elif k == "trading_active":
            st.engine.trading_active = bool(v)
        else:
            raise ValueError(f"unknown fault {k!r}")
    return _json(f.public())


async def delete_faults(request: web.Request) -> web.Response:
    st = _st(request)
    fresh = Faults()
    for fl in dataclasses.fields(Faults):
        setattr(st.faults, fl.name, getattr(fresh, fl.name))
    st.engine.trading_active = True
    return _json(st.faults.public())


# -- markets -----------------------------------------------------------------------------------------
def _market_info(st: ExchangeState, t: str) -> dict[str, Any]:
    m = st.engine.markets[t]
    bid, bs, ask, as_ = wire.top(m)
    fair = st.scheduler.fair(t)
    return {
        "ticker": t,
        "event_ticker": m.event_ticker,
        "series_ticker": m.series_ticker,
        "status": m.status,
        "open_ts_ms": m.open_ms,
        "close_ts_ms": m.close_ms,
        "result": m.result,
        "pending_result": m.pending_result,
        "fair": fair,
        "yes_bid": bid,
        "yes_bid_size": bs,
        "yes_ask": ask,
        "yes_ask_size": as_,
        "volume_fp": format_qty(m.volume),
        "open_interest_fp": format_qty(m.open_interest),
        "levels": [len(m.book.bid_prices), len(m.book.ask_prices)],
    }


async def list_markets(request: web.Request) -> web.Response:
    st = _st(request)
    return _json({"markets": [_market_info(st, t) for t in st.engine.markets]})


@_guard
async def create_market(request: web.Request) -> web.Response:
    st = _st(request)
    b = await _body(request)
    now = st.now_ms()
    series = b.get("series_ticker", "KXADMIN")
    if series not in st.series:
        st.series[series] = SeriesSpec(
            series, float(b.get("close_in_s", 60)), "Admin-created market", "custom"
        )
    event = b.get("event_ticker") or f"{series}-{st.engine.new_id(6)[-6:].upper()}"
    ticker = b.get("ticker") or f"{event}-T100"
    open_ms = now + int(float(b.get("open_in_s", 0)) * 1000)
    close_ms = now + int(float(b.get("close_in_s", 60)) * 1000)
    structure = b.get("price_level_structure", "linear_cent")
    fee_type = b.get("fee_type") or st.config.fee_type or "quadratic"
    m = st.engine.add_market(
        ticker,
        event_ticker=event,
        series_ticker=series,
        open_ms=open_ms,
        close_ms=close_ms,
        now_ms=now,
        structure=structure,
        fees=FeeSchedule(fee_type),
        title=b.get("title", f"Admin market {ticker}"),
        yes_sub_title="Yes",
        no_sub_title="No",
        rules_primary="Admin-created market of the kalshi-mm local exchange.",
        rules_secondary="",
        determine_delay_ms=int(st.params.determine_delay_s * 1000),
        settlement_timer_s=st.params.settlement_timer_s,
        expected_expiration_ms=close_ms,
    )
    fair = float(b.get("fair", 0.5))
    import math

    x = math.log(fair / (1 - fair))
    e = _Event(event, x, [ticker], [0.0])
    st.scheduler.events[event] = e
    st.scheduler.fair_of[ticker] = (e, 0)
    if b.get("result"):
        m.pending_result = b["result"]
    return _json(_market_info(st, ticker), 201)


@_guard
async def market_action(request: web.Request) -> web.Response:
    st = _st(request)
    t = request.match_info["ticker"]
    action = request.match_info["action"]
    b = await _body(request)
    now = st.now_ms()
    eng = st.engine
    if t not in eng.markets:
        raise EngineReject(404, "market_not_found", f"market {t} not found")
    if action == "close":
        eng.close_market(t, now)
    elif action == "determine":
        value = parse_price(b["settlement_value"]) if b.get("settlement_value") is not None else None
        eng.determine(t, b["result"], now, value)
    elif action == "settle":
        m = eng.markets[t]
        if m.status != "determined":
            result = b.get("result") or m.pending_result
            if result is None:
                fair = st.scheduler.fair(t) or 0.5
                result = "yes" if st.rng.random() < fair else "no"
            eng.determine(t, result, now)
        eng.settle(t, now)
    elif action == "pause":
        eng.pause(t, now)
    elif action == "resume":
        eng.resume(t, now)
    elif action == "close_time":
        close_ms = int(b["close_ts"]) * 1000 if "close_ts" in b else now + int(float(b["close_in_s"]) * 1000)
        eng.set_close_time(t, close_ms, now)
    else:
        raise EngineReject(404, "not_found", f"unknown action {action}")
    return _json(_market_info(st, t))


# -- users and accounts --------------------------------------------------------------------------------
@_guard
async def create_user(request: web.Request) -> web.Response:
    st = _st(request)
    b = await _body(request)
    k = st.add_user(b.get("balance_cents"), kind=b.get("key_type"))
    return _json(
        {"user_id": k.user_id, "api_key_id": k.api_key_id, "private_key_pem": k.private_key_pem.decode()}, 201
    )


def _account_info(st: ExchangeState, uid: str, positions: bool = False) -> dict[str, Any]:
    a = st.engine.accounts[uid]
    pf = a.portfolio
    info: dict[str, Any] = {
        "user_id": uid,
        "api_key_id": st.user_keys.get(uid),
        "synthetic": not a.record,
        "cash_dollars": format_money(pf.cash),
        "balance_cents": money_to_cents_floor(pf.cash - a.reserved),
        "available_dollars": format_money(pf.cash - a.reserved),
        "collateral_dollars": format_money(a.reserved),
        "fees_paid_dollars": format_money(pf.fees_paid + a.rounding_fees),
        "payouts_dollars": format_money(pf.payouts),
        "deposited_dollars": format_money(a.deposited),
        "open_orders": len(a.open_orders),
        "orders_received": len(a.log),
        "fills": len(a.fills),
    }
    if positions:
        info["positions"] = [
            {
                "ticker": t,
                "position_fp": format_qty(p.qty),
                "cost_dollars": format_money(p.cost),
                "realized_pnl_dollars": format_money(p.realized),
                "fees_paid_dollars": format_money(p.fees),
                "settled": p.settled,
            }
            for t, p in pf.positions.items()
        ]
    return info


def _uid(st: ExchangeState, ident: str) -> str:
    if ident in st.engine.accounts:
        return ident
    if ident in st.keys:
        return st.keys[ident][0]
    raise EngineReject(404, "not_found", f"no account {ident}")


@_guard
async def list_accounts(request: web.Request) -> web.Response:
    st = _st(request)
    eng = st.engine
    return _json(
        {
            "accounts": [_account_info(st, u) for u in eng.accounts],
            "fees_collected_dollars": format_money(eng.fees_collected),
            "escrow_dollars": format_money(eng.escrow()),
        }
    )


@_guard
async def get_account(request: web.Request) -> web.Response:
    st = _st(request)
    return _json(_account_info(st, _uid(st, request.match_info["user_id"]), positions=True))


@_guard
async def orders_log(request: web.Request) -> web.Response:
    st = _st(request)
    uid = _uid(st, request.match_info["user_id"])
    return _json({"user_id": uid, "orders": st.engine.accounts[uid].log})


async def stats(request: web.Request) -> web.Response:
    st = _st(request)
    eng = st.engine
    return _json(
        {
            "requests": st.requests,
            "ws_connections": len(st.hub.conns),
            "ws_messages_out": st.hub.messages_out,
            "markets": len(eng.markets),
            "open_orders": sum(len(a.open_orders) for a in eng.accounts.values()),
            "fees_collected_dollars": format_money(eng.fees_collected),
            "flow": None if st.flow is None else st.flow.stats,
            "cents_per_dollar": ONE_DOLLAR // 100,
            "money_per_cent": MONEY_PER_CENT,
        }
    )


async def audit(request: web.Request) -> web.Response:
    return _json({"problems": _st(request).engine.audit()})


@_guard
async def flow_ctl(request: web.Request) -> web.Response:
    st = _st(request)
    b = await _body(request)
    if "speed" in b:
        st.params.speed = float(b["speed"])
    if "enabled" in b:
        if b["enabled"] and st.flow is None:
            st.flow = SyntheticFlow(st.engine, st.scheduler, st.params, st.rng)
        elif not b["enabled"] and st.flow is not None:
            st.flow = None
    return _json({"enabled": st.flow is not None, "speed": st.params.speed})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/faults", get_faults)
    r.add_post("/admin/faults", _guard(post_faults))
    r.add_delete("/admin/faults", _guard(delete_faults))
    r.add_get("/admin/markets", list_markets)
    r.add_post("/admin/markets", create_market)
    r.add_post("/admin/markets/{ticker}/{action}", market_action)
    r.add_post("/admin/users", create_user)
    r.add_get("/admin/accounts", list_accounts)
    r.add_get("/admin/accounts/{user_id}", get_account)
    r.add_get("/admin/accounts/{user_id}/orders_log", orders_log)
    r.add_get("/admin/stats", stats)
    r.add_get("/admin/audit", audit)
    r.add_post("/admin/flow", flow_ctl)
