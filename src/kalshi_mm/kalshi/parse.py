"""Wire -> domain: the only place that reads Kalshi JSON.

Public API

- :func:`decode_ws` bytes -> typed WS server message (``schemas.ServerMessage`` or
  ``schemas.UnknownMessage`` for a ``type`` this version does not know);
  :func:`decode_ws_command` for the server side; :func:`decode_recorded_line` for recordings.
- :func:`ws_events` typed WS message -> ``list[core.events.Event]``.
- :func:`decode_delta_fast` / :class:`DeltaApplier`: the hot path for ``orderbook_delta`` bytes.
- :func:`decode_rest` bytes -> REST struct; :func:`decode_error_body` for error responses (all
  three shapes); :func:`encode` struct -> bytes.
- Domain conversions: :func:`market_from_wire`, :func:`market_from_lifecycle`,
  :func:`grid_from_wire`, :func:`order_from_wire`, :func:`fill_from_wire`,
  :func:`fill_from_ws`, :func:`position_from_wire`, :func:`book_levels`,
  :func:`snapshot_from_rest`, :func:`rfc3339_to_ms`, :func:`ms_to_rfc3339`.

Every failure is a :class:`~kalshi_mm.errors.ProtocolError` whose message names the field
(msgspec's ``$.markets[0].yes_bid_dollars`` path is kept); no raw msgspec error escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import msgspec

from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.domain.market import Market, PriceGrid, PriceRange, grid_from_ranges
from kalshi_mm.domain.orders import Fill, Order, OrderStatus
from kalshi_mm.domain.units import ONE_DOLLAR, parse_money, parse_price, parse_qty, parse_signed_qty
from kalshi_mm.errors import ProtocolError
from kalshi_mm.kalshi import schemas as s

T = TypeVar("T")

# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------

_PATH_RE = re.compile(r"at `(\$[^`]*)`")
_MISSING_RE = re.compile(r"missing required field `([^`]+)`")


def _field_path(text: str) -> str | None:
    """``$.markets[0].ticker`` from a msgspec message (missing fields are appended to the path)."""
    m = _PATH_RE.search(text)
    path = m.group(1) if m else "$"
    missing = _MISSING_RE.search(text)
    if missing:
        path = f"{path}.{missing.group(1)}"
    return None if path == "$" else path


def _protocol_error(what: str, err: Exception) -> ProtocolError:
    text = str(err)
    if isinstance(err, msgspec.ValidationError):
        path = _field_path(text)
        where = f" (field {path})" if path else ""
        return ProtocolError(f"{what}: invalid{where}: {text}", field=path)
    return ProtocolError(f"{what}: malformed JSON: {text}")


# ------------------------------------------------------------------------------------------------
# generic encode / decode
# ------------------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_ws_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(s.ServerMessage)
_unknown_decoder = msgspec.json.Decoder(s.UnknownMessage)
_command_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(s.Command)
_line_decoder = msgspec.json.Decoder(s.RecordedLine)
_rest_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def message_type(msg: Any) -> str:
    """The wire ``type`` of a decoded WS message (``"orderbook_delta"`` ...)."""
    if isinstance(msg, s.UnknownMessage):
        return msg.type
    tag = type(msg).__struct_config__.tag if isinstance(msg, msgspec.Struct) else None
    return str(tag) if tag is not None else type(msg).__name__


def encode(obj: Any) -> bytes:
    """Any schema struct (or plain JSON value) -> JSON bytes."""
    return _encoder.encode(obj)


def decode_ws(data: bytes | str) -> Any:
    """One WS text frame -> its typed message struct (see ``schemas.ServerMessage``).

    A well-formed envelope with an unknown ``type`` decodes to ``schemas.UnknownMessage`` so a
    new server message kind never breaks the feed; anything else that is wrong raises
    :class:`ProtocolError` naming the field.
    """
    try:
        return _ws_decoder.decode(data)
    except msgspec.ValidationError as e:
        if str(e).startswith("Invalid value") and str(e).endswith("at `$.type`"):
            try:
                return _unknown_decoder.decode(data)
            except msgspec.DecodeError:
                pass
        raise _protocol_error("WS message", e) from None
    except msgspec.DecodeError as e:
        raise _protocol_error("WS message", e) from None
    except TypeError as e:  # not bytes/str
        raise ProtocolError(f"WS message: expected bytes or str, got {type(data).__name__}") from e


def decode_ws_command(data: bytes | str) -> Any:
    """One client command frame -> ``schemas.Command`` (for the local exchange)."""
    try:
        return _command_decoder.decode(data)
    except (msgspec.DecodeError, TypeError) as e:
        raise _protocol_error("WS command", e) from None


def decode_recorded_line(line: bytes | str) -> tuple[int, Any]:
    """A recording line ``{"recv_ms": ..., "event": <WS message>}`` -> (recv_ms, message)."""
    try:
        rec = _line_decoder.decode(line)
    except (msgspec.DecodeError, TypeError) as e:
        raise _protocol_error("recorded line", e) from None
    return rec.recv_ms, decode_ws(bytes(rec.event))


def decode_rest(struct_type: type[T], body: bytes | str) -> T:
    """A REST body -> ``struct_type``; a ProtocolError naming the failing field path otherwise."""
    dec = _rest_decoders.get(struct_type)
    if dec is None:
        dec = _rest_decoders[struct_type] = msgspec.json.Decoder(struct_type)
    try:
        return dec.decode(body)  # type: ignore[no-any-return]
    except (msgspec.DecodeError, TypeError) as e:
        raise _protocol_error(getattr(struct_type, "__name__", str(struct_type)), e) from None


class ErrorInfo(NamedTuple):
    code: str
    message: str
    details: str
    service: str


def decode_error_body(body: bytes | str) -> ErrorInfo:
    """Any of the three error shapes of section 11 (or non-JSON text) -> ErrorInfo. Never raises."""
    try:
        b = msgspec.json.decode(body, type=s.AnyErrorBody)
    except (msgspec.DecodeError, TypeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
        return ErrorInfo("", text.strip()[:500], "", "")
    code, message, details, service = b.code, b.message, b.details, b.service
    if isinstance(b.error, str):
        message = message or b.error
    elif b.error is not None:
        code = code or b.error.code
        message = message or b.error.message
        details = details if details is not None else b.error.details
        service = service or b.error.service
    if b.msg is not None and not message:
        message = b.msg
    if details is not None and not isinstance(details, str):
        details = encode(details).decode()
    return ErrorInfo(code or "", message or "", details or "", service or "")


# ------------------------------------------------------------------------------------------------
# times
# ------------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$"
)


def rfc3339_to_ms(text: str, field: str = "time") -> int:
    """``"2026-08-10T21:46:09.379425Z"`` -> Unix ms (fraction truncated to the millisecond)."""
    m = _RFC3339_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ProtocolError(f"{field}: {text!r} is not an RFC 3339 time", field=field)
    y, mo, d, h, mi, sec, frac, z, sign, oh, om = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), min(int(sec), 59), tzinfo=UTC)
    except ValueError:
        raise ProtocolError(f"{field}: {text!r} is not a valid date/time", field=field) from None
    ms = (dt - _EPOCH) // timedelta(milliseconds=1)
    if frac:
        ms += int((frac + "00")[:3])
    if not z:
        offset = (int(oh) * 60 + int(om)) * 60_000
        ms += -offset if sign == "+" else offset
    return ms


def ms_to_rfc3339(ms: int) -> str:
    """Unix ms -> ``"2026-08-10T21:46:09.379Z"`` (what the local exchange puts in *_time fields)."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _opt_ms(text: str | None, field: str) -> int:
    return rfc3339_to_ms(text, field) if text else 0


# ------------------------------------------------------------------------------------------------
# numbers
# ------------------------------------------------------------------------------------------------


def _book_price(value: object, field: str) -> int:
    p = parse_price(value, field)
    if not 0 < p < ONE_DOLLAR:
        raise ProtocolError(f"{field}: price {value!r} is outside (0, 1)", field=field)
    return p


def book_levels(levels: Iterable[tuple[Any, Any]], field: str = "levels") -> tuple[ev.Level, ...]:
    """``[[price_dollars, count_fp], ...]`` -> ascending ``((Price, Qty), ...)``."""
    out = [(_book_price(p, f"{field}.price"), parse_qty(q, f"{field}.count")) for p, q in levels]
    if any(out[i][0] >= out[i + 1][0] for i in range(len(out) - 1)):
        out.sort()
    return tuple(out)


def grid_from_wire(ranges: Iterable[s.PriceRange | s.WsPriceRange] | None, structure: str = "") -> PriceGrid:
    parsed: list[PriceRange] = [
        (
            parse_price(r.start, "price_ranges.start"),
            parse_price(r.end, "price_ranges.end"),
            parse_price(r.step, "price_ranges.step"),
        )
        for r in ranges or ()
    ]
    return grid_from_ranges(parsed, structure)


# ------------------------------------------------------------------------------------------------
# REST objects -> domain
# ------------------------------------------------------------------------------------------------


def market_from_wire(m: s.Market, series_ticker: str = "") -> Market:
    """A REST ``Market`` -> ``domain.market.Market`` (grid from ``price_ranges``, times in ms)."""
    settlement = (
        parse_price(m.settlement_value_dollars, "settlement_value_dollars")
        if m.settlement_value_dollars not in (None, "")
        else None
    )
    return Market(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        series_ticker=series_ticker or m.event_ticker.split("-", 1)[0],
        status=m.status,
        market_type=m.market_type,
        open_ts_ms=rfc3339_to_ms(m.open_time, "open_time"),
        close_ts_ms=rfc3339_to_ms(m.close_time, "close_time"),
        grid=grid_from_wire(m.price_ranges, m.price_level_structure),
        price_level_structure=m.price_level_structure,
        result=m.result,
        settlement_value=settlement,
        title=m.title or "",
        volume=parse_qty(m.volume_fp, "volume_fp"),
        volume_24h=parse_qty(m.volume_24h_fp, "volume_24h_fp"),
        open_interest=parse_qty(m.open_interest_fp, "open_interest_fp"),
        yes_bid=parse_price(m.yes_bid_dollars, "yes_bid_dollars"),
        yes_ask=parse_price(m.yes_ask_dollars, "yes_ask_dollars"),
        last_price=parse_price(m.last_price_dollars, "last_price_dollars"),
        can_close_early=m.can_close_early,
    )


def markets_from_event(resp: s.GetEventResponse) -> list[Market]:
    """``GET /events/{event_ticker}`` -> its markets, with the event's series ticker."""
    return [market_from_wire(m, resp.event.series_ticker) for m in resp.markets]


_ORDER_STATUS = {
    "resting": OrderStatus.RESTING,
    "executed": OrderStatus.EXECUTED,
    "canceled": OrderStatus.CANCELED,
}


def _order_status(status: str, field: str) -> OrderStatus:
    try:
        return _ORDER_STATUS[status]
    except KeyError:
        raise ProtocolError(f"{field}: unknown order status {status!r}", field=field) from None


def order_from_wire(o: s.Order) -> Order:
    """A REST ``Order`` -> ``domain.orders.Order`` (YES-leg side and price, Qty, Money fees)."""
    return Order(
        client_order_id=o.client_order_id,
        ticker=o.ticker,
        side=o.book_side,
        price=parse_price(o.yes_price_dollars, "yes_price_dollars"),
        initial=parse_qty(o.initial_count_fp, "initial_count_fp"),
        order_id=o.order_id,
        filled=parse_qty(o.fill_count_fp, "fill_count_fp"),
        remaining=parse_qty(o.remaining_count_fp, "remaining_count_fp"),
        status=_order_status(o.status, "status"),
        created_ms=_opt_ms(o.created_time, "created_time"),
        updated_ms=_opt_ms(o.last_update_time, "last_update_time"),
        fees=parse_money(o.taker_fees_dollars, "taker_fees_dollars")
        + parse_money(o.maker_fees_dollars, "maker_fees_dollars"),
        post_only=False,
    )


def fill_from_wire(f: s.Fill) -> Fill:
    """A REST ``Fill`` -> ``domain.orders.Fill``."""
    if f.ts is not None:
        ts_ms = f.ts * 1000
    else:
        ts_ms = _opt_ms(f.created_time, "created_time")
    return Fill(
        fill_id=f.fill_id,
        order_id=f.order_id,
        ticker=f.market_ticker or f.ticker,
        side=f.book_side,
        price=parse_price(f.yes_price_dollars, "yes_price_dollars"),
        count=parse_qty(f.count_fp, "count_fp"),
        fee=parse_money(f.fee_cost, "fee_cost"),
        is_taker=f.is_taker,
        ts_ms=ts_ms,
    )


def fill_from_ws(f: s.FillMsg, ts_ms: int) -> Fill:
    """A WS ``fill`` payload -> ``domain.orders.Fill``."""
    return Fill(
        fill_id=f.trade_id,
        order_id=f.order_id,
        ticker=f.market_ticker,
        side=f.book_side,
        price=parse_price(f.yes_price_dollars, "msg.yes_price_dollars"),
        count=parse_qty(f.count_fp, "msg.count_fp"),
        fee=parse_money(f.fee_cost, "msg.fee_cost"),
        is_taker=f.is_taker,
        ts_ms=ts_ms,
        client_order_id=f.client_order_id,
    )


def position_from_wire(p: s.MarketPosition) -> ev.PositionChanged:
    """A REST ``MarketPosition`` -> ``PositionChanged`` (for reconciliation after a resync)."""
    return ev.PositionChanged(
        ts_ms=_opt_ms(p.last_updated_ts, "last_updated_ts"),
        ticker=p.ticker,
        position=parse_signed_qty(p.position_fp, "position_fp"),
        realized_pnl=parse_money(p.realized_pnl_dollars, "realized_pnl_dollars"),
        fees_paid=parse_money(p.fees_paid_dollars, "fees_paid_dollars"),
    )


def snapshot_from_rest(
    ticker: str, book: s.OrderbookFp | s.GetOrderbookResponse, ts_ms: int
) -> ev.BookSnapshot:
    """A REST order book -> ``BookSnapshot`` (REST books carry no time: pass the receive time)."""
    if isinstance(book, s.GetOrderbookResponse):
        book = book.orderbook_fp
    return ev.BookSnapshot(
        ts_ms=ts_ms,
        ticker=ticker,
        yes=book_levels(book.yes_dollars, "orderbook_fp.yes_dollars"),
        no=book_levels(book.no_dollars, "orderbook_fp.no_dollars"),
    )


# ------------------------------------------------------------------------------------------------
# WS messages -> events
# ------------------------------------------------------------------------------------------------


def _ts(ts_ms: int | None, recv_ms: int | None, fallback_ms: int | None = None) -> int:
    """Exchange ms, else receive ms, else the message's own (seconds-based) time, else 0."""
    if ts_ms is not None:
        return ts_ms
    if recv_ms is not None:
        return recv_ms
    return fallback_ms or 0


def _secs(x: int | None) -> int | None:
    return None if x is None else x * 1000


def market_from_lifecycle(m: s.MarketLifecycleMsg) -> Market:
    """A ``market_lifecycle_v2`` ``created`` payload -> ``domain.market.Market``."""
    meta = m.additional_metadata or s.LifecycleMetadata()
    event_ticker = meta.event_ticker or m.market_ticker.rsplit("-", 1)[0]
    return Market(
        ticker=m.market_ticker,
        event_ticker=event_ticker,
        series_ticker=event_ticker.split("-", 1)[0],
        status="initialized",
        open_ts_ms=(m.open_ts or 0) * 1000,
        close_ts_ms=(m.close_ts or 0) * 1000,
        grid=grid_from_wire(m.price_ranges, m.price_level_structure or ""),
        price_level_structure=m.price_level_structure or "",
        title=meta.title or meta.name or "",
        can_close_early=bool(meta.can_close_early),
    )


def _lifecycle_events(m: s.MarketLifecycleMsg, recv_ms: int | None) -> list[ev.Event]:
    kind = m.event_type
    t = m.market_ticker
    if kind == "created":
        return [
            ev.MarketOpened(ts_ms=_ts(m.ts_ms, recv_ms, _secs(m.open_ts)), market=market_from_lifecycle(m))
        ]
    if kind in ("activated", "deactivated"):
        inactive = m.is_deactivated if m.is_deactivated is not None else kind == "deactivated"
        status = "inactive" if inactive else "active"
        return [ev.MarketStatusChanged(ts_ms=_ts(m.ts_ms, recv_ms), ticker=t, status=status)]
    if kind == "determined":
        ts = _ts(m.ts_ms, recv_ms, _secs(m.determination_ts))
        result = m.result or ""
        if m.settlement_value is not None and m.settlement_value != "":
            value = parse_price(m.settlement_value, "msg.settlement_value")
        elif result in ("yes", "no"):
            value = ONE_DOLLAR if result == "yes" else 0
        else:
            raise ProtocolError(
                f"market_lifecycle_v2 determined {t}: no settlement_value for result {result!r}",
                field="msg.settlement_value",
            )
        return [
            ev.MarketClosed(ts_ms=ts, ticker=t),
            ev.MarketDetermined(ts_ms=ts, ticker=t, result=result, settlement_value=value),
        ]
    if kind == "settled":
        ts = _ts(m.ts_ms, recv_ms, _secs(m.settled_ts))
        return [ev.MarketStatusChanged(ts_ms=ts, ticker=t, status="finalized")]
    if kind == "close_date_updated" and m.close_ts is not None:
        return [ev.MarketCloseChanged(ts_ms=_ts(m.ts_ms, recv_ms), ticker=t, close_ts_ms=m.close_ts * 1000)]
    # price_level_structure_updated, metadata_updated: no core event carries them (yet); the shell
    # should refetch the market (GET /markets/{ticker}) and emit MarketOpened.
    return []


def _user_order_events(m: s.UserOrderMsg, recv_ms: int | None) -> list[ev.Event]:
    ts = _ts(m.last_updated_ts_ms, recv_ms, m.created_ts_ms)
    status = m.status
    if status == "resting":
        return [
            ev.OrderAccepted(
                ts_ms=ts,
                ticker=m.ticker,
                order_id=m.order_id,
                client_order_id=m.client_order_id or "",
                side=m.book_side,
                price=parse_price(m.yes_price_dollars, "msg.yes_price_dollars"),
                remaining=parse_qty(m.remaining_count_fp, "msg.remaining_count_fp"),
                filled=parse_qty(m.fill_count_fp, "msg.fill_count_fp"),
            )
        ]
    if status == "canceled":
        return [
            ev.OrderCanceled(
                ts_ms=ts,
                ticker=m.ticker,
                order_id=m.order_id,
                client_order_id=m.client_order_id,
                reason=m.last_update_reason or "",
            )
        ]
    if status == "executed":
        return [
            ev.OrderExecuted(
                ts_ms=ts, ticker=m.ticker, order_id=m.order_id, client_order_id=m.client_order_id
            )
        ]
    raise ProtocolError(f"user_order {m.order_id}: unknown status {status!r}", field="msg.status")


def ws_events(msg: Any, recv_ms: int | None = None) -> list[ev.Event]:
    """A decoded WS message -> core events (possibly none: acks, ticker, event lifecycle ...).

    ``ts_ms`` comes from the message's ``ts_ms``, else ``recv_ms``, else its seconds ``ts``.
    """
    t = type(msg)
    if t is s.OrderbookDelta:
        d = msg.msg
        fallback = rfc3339_to_ms(d.ts, "msg.ts") if d.ts_ms is None and recv_ms is None and d.ts else None
        return [
            ev.BookDelta(
                ts_ms=_ts(d.ts_ms, recv_ms, fallback),
                ticker=d.market_ticker,
                side=d.side,
                price=_book_price(d.price_dollars, "msg.price_dollars"),
                delta=parse_signed_qty(d.delta_fp, "msg.delta_fp"),
                client_order_id=d.client_order_id,
            )
        ]
    if t is s.OrderbookSnapshot:
        m = msg.msg
        return [
            ev.BookSnapshot(
                ts_ms=_ts(msg.sending_ts_ms, recv_ms),
                ticker=m.market_ticker,
                yes=book_levels(m.yes_dollars_fp, "msg.yes_dollars_fp"),
                no=book_levels(m.no_dollars_fp, "msg.no_dollars_fp"),
            )
        ]
    if t is s.TradeMessage:
        m = msg.msg
        taker = m.taker_outcome_side or m.taker_side
        if taker is None:
            if m.taker_book_side is None:
                raise ProtocolError("trade: no taker_outcome_side/taker_side", field="msg.taker_outcome_side")
            taker = "yes" if m.taker_book_side == "bid" else "no"
        return [
            ev.TradePrinted(
                ts_ms=_ts(m.ts_ms, recv_ms, _secs(m.ts)),
                ticker=m.market_ticker,
                trade_id=m.trade_id,
                price=_book_price(m.yes_price_dollars, "msg.yes_price_dollars"),
                count=parse_qty(m.count_fp, "msg.count_fp"),
                taker_side=taker,
            )
        ]
    if t is s.FillMessage:
        m = msg.msg
        return [
            ev.OrderFilled(
                ts_ms=_ts(m.ts_ms, recv_ms, _secs(m.ts)),
                ticker=m.market_ticker,
                order_id=m.order_id,
                client_order_id=m.client_order_id,
                fill_id=m.trade_id,
                side=m.book_side,
                price=parse_price(m.yes_price_dollars, "msg.yes_price_dollars"),
                count=parse_qty(m.count_fp, "msg.count_fp"),
                fee=parse_money(m.fee_cost, "msg.fee_cost"),
                is_taker=m.is_taker,
                post_position=None
                if m.post_position_fp is None
                else parse_signed_qty(m.post_position_fp, "msg.post_position_fp"),
            )
        ]
    if t is s.UserOrder:
        return _user_order_events(msg.msg, recv_ms)
    if t is s.MarketPositionMessage:
        m = msg.msg
        return [
            ev.PositionChanged(
                ts_ms=_ts(m.ts_ms, recv_ms),
                ticker=m.market_ticker,
                position=parse_signed_qty(m.position_fp, "msg.position_fp"),
                realized_pnl=None
                if m.realized_pnl_dollars is None
                else parse_money(m.realized_pnl_dollars, "msg.realized_pnl_dollars"),
                fees_paid=None
                if m.fees_paid_dollars is None
                else parse_money(m.fees_paid_dollars, "msg.fees_paid_dollars"),
            )
        ]
    if t is s.MarketLifecycle:
        return _lifecycle_events(msg.msg, recv_ms)
    return []


# ------------------------------------------------------------------------------------------------
# the fast path: orderbook_delta bytes -> (ticker, side, price, delta, ts_ms) -> OrderBook
# ------------------------------------------------------------------------------------------------


class _FastDeltaMsg(msgspec.Struct, gc=False):
    market_ticker: str
    price_dollars: str | int | float
    delta_fp: str | int | float
    side: str
    ts_ms: int | None = None
    client_order_id: str | None = None


class _FastDelta(msgspec.Struct, gc=False, tag_field="type", tag="orderbook_delta"):
    msg: _FastDeltaMsg
    seq: int | None = None


_fast_decoder = msgspec.json.Decoder(_FastDelta)


class DeltaTuple(NamedTuple):
    """What :func:`decode_delta_fast` returns (a plain tuple in this field order)."""

    ticker: str
    side: str  # "yes" | "no"
    price: int  # Price
    delta: int  # signed Qty
    ts_ms: int
    seq: int | None
    client_order_id: str | None


# Hot-path memo tables: wire text -> validated int. The set of distinct prices is tiny and sizes
# repeat a lot; the tables are bounded (cleared when full) like domain.units' own caches.
_CACHE_LIMIT = 1 << 16
_delta_price: dict[object, int] = {}
_delta_qty: dict[object, int] = {}


def _price_miss(value: object) -> int:
    p = parse_price(value, "msg.price_dollars")
    if not 0 < p < ONE_DOLLAR:
        raise ProtocolError(
            f"orderbook_delta: msg.price_dollars {value!r} is outside (0, 1)", field="$.msg.price_dollars"
        )
    if type(value) is str:
        if len(_delta_price) >= _CACHE_LIMIT:
            _delta_price.clear()
        _delta_price[value] = p
    return p


def _qty_miss(value: object) -> int:
    q = parse_signed_qty(value, "msg.delta_fp")
    if type(value) is str:
        if len(_delta_qty) >= _CACHE_LIMIT:
            _delta_qty.clear()
        _delta_qty[value] = q
    return q


def _bad_side(side: str) -> ProtocolError:
    return ProtocolError(f"orderbook_delta: msg.side {side!r} is not 'yes' or 'no'", field="$.msg.side")


def _fast_fail(data: bytes | str, err: Exception) -> ProtocolError:
    # Re-decode through the full schema for the clearest message (it names the field).
    try:
        msg = decode_ws(data)
    except ProtocolError as e:
        return e
    return ProtocolError(f"expected an orderbook_delta message, got {message_type(msg)}", field="$.type")


def decode_delta_fast(
    data: bytes | str,
    recv_ms: int | None = None,
    _decode: Any = _fast_decoder.decode,
    _pget: Any = _delta_price.get,
    _qget: Any = _delta_qty.get,
) -> tuple[str, str, int, int, int, int | None, str | None]:
    """``orderbook_delta`` bytes -> ``(ticker, side, price, delta, ts_ms, seq, client_order_id)``.

    Skips the full schema (only the needed fields are decoded); field order is
    :class:`DeltaTuple`'s. ``ts_ms`` falls back to ``recv_ms``, then 0. Raises ProtocolError for
    anything that is not a valid ``orderbook_delta`` message.
    """
    try:
        e = _decode(data)
    except (msgspec.DecodeError, TypeError) as err:
        raise _fast_fail(data, err) from None
    m = e.msg
    price = _pget(m.price_dollars)
    if price is None:
        price = _price_miss(m.price_dollars)
    delta = _qget(m.delta_fp)
    if delta is None:
        delta = _qty_miss(m.delta_fp)
    side = m.side
    if side != "yes" and side != "no":
        raise _bad_side(side)
    ts = m.ts_ms
    if ts is None:
        ts = recv_ms if recv_ms is not None else 0
    return (m.market_ticker, side, price, delta, ts, e.seq, m.client_order_id)


class DeltaApplier:
    """Applies ``orderbook_delta`` bytes straight to per-market ``OrderBook`` objects.

    ``books`` maps ticker -> OrderBook (shared with the caller); a delta for a market without a
    book raises ProtocolError(resync=True) since its snapshot is missing. Ladder errors (a delta
    removing more than rests) propagate as ProtocolError(resync=True) from ``domain.book``.
    Sequence numbers are the feed's business: :attr:`last_seq` holds the last delta's ``seq``.
    """

    __slots__ = ("books", "last_seq")

    def __init__(self, books: dict[str, OrderBook] | None = None) -> None:
        self.books: dict[str, OrderBook] = {} if books is None else books
        self.last_seq: int | None = None

    def apply(
        self,
        data: bytes | str,
        recv_ms: int | None = None,
        _decode: Any = _fast_decoder.decode,
        _pget: Any = _delta_price.get,
        _qget: Any = _delta_qty.get,
    ) -> OrderBook:
        """Decode one ``orderbook_delta`` frame and apply it; returns the market's book."""
        try:
            e = _decode(data)
        except (msgspec.DecodeError, TypeError) as err:
            raise _fast_fail(data, err) from None
        m = e.msg
        book = self.books.get(m.market_ticker)
        if book is None:
            raise ProtocolError(
                f"orderbook_delta for {m.market_ticker} before its snapshot; resync needed",
                field="$.msg.market_ticker",
                resync=True,
            )
        price = _pget(m.price_dollars)
        if price is None:
            price = _price_miss(m.price_dollars)
        delta = _qget(m.delta_fp)
        if delta is None:
            delta = _qty_miss(m.delta_fp)
        side = m.side
        if side == "yes":
            book.yes.apply(price, delta)
        elif side == "no":
            book.no.apply(price, delta)
        else:
            raise _bad_side(side)
        ts = m.ts_ms
        if ts is not None:
            book.updated_ms = ts
        elif recv_ms is not None:
            book.updated_ms = recv_ms
        self.last_seq = e.seq
        return book

    def apply_snapshot(self, msg: s.OrderbookSnapshot, recv_ms: int | None = None) -> OrderBook:
        """Reset (or create) the market's book from a decoded ``orderbook_snapshot``."""
        m = msg.msg
        book = self.books.get(m.market_ticker)
        if book is None:
            book = self.books[m.market_ticker] = OrderBook(m.market_ticker)
        book.apply_snapshot(
            book_levels(m.yes_dollars_fp, "msg.yes_dollars_fp"),
            book_levels(m.no_dollars_fp, "msg.no_dollars_fp"),
            recv_ms or 0,
        )
        self.last_seq = msg.seq
        return book
