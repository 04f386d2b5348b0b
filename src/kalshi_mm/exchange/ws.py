"""WebSocket side of the local exchange: ``/trade-api/ws/v2`` (kalshi-api.md section 14).

- The upgrade needs the three ``KALSHI-ACCESS-*`` headers signed over ``<ts>GET/trade-api/ws/v2``
  (401 otherwise, before the upgrade).
- Commands: ``subscribe``, ``unsubscribe``, ``update_subscription`` (``add_markets``,
  ``delete_markets``, ``get_snapshot``), ``list_subscriptions``; errors use the numeric codes
  of section 14 (1 unparsable ... 16 market not found, 25 buffer overflow).
- One sid per channel per connection; ``seq`` counts 1, 2, 3 ... per sid on the sequenced
  channels (``orderbook_delta``, ``market_lifecycle_v2``, ``order_group_updates``, and
  ``trade``, whose real recordings carry a seq too).
- A Ping frame with payload ``heartbeat`` every ``ping_interval_s`` (10 s).
- ``orderbook_delta`` messages carry ``client_order_id`` only to the connection of the user whose
  order changed the level.

Every connection has an outgoing queue drained by its own writer task, so fan-out from the
engine is synchronous and cheap, and the fault injector can delay, stall, gap or cut a feed.
Fan-out encodes each message body once and gives every subscription only its own envelope
(type, sid, seq; cached per sid). The writer frames whatever is queued (up to 256 KiB of payload)
and hands it to the socket in one write, waiting only while the transport is above its
high-water mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSMsgType, web

from kalshi_mm.domain.units import ONE_DOLLAR, format_price, format_qty
from kalshi_mm.exchange import wire
from kalshi_mm.exchange.model import (
    BookDelta,
    Fill,
    LifecycleEvent,
    OrderGroupEvent,
    OrderUpdate,
    PositionUpdate,
    Trade,
)
from kalshi_mm.kalshi import schemas as S

if TYPE_CHECKING:
    from kalshi_mm.exchange.server import ExchangeState

CHANNELS = (
    "orderbook_delta",
    "ticker",
    "trade",
    "fill",
    "user_orders",
    "market_positions",
    "market_lifecycle_v2",
    "order_group_updates",
)
SEQUENCED = frozenset({"orderbook_delta", "market_lifecycle_v2", "order_group_updates", "trade"})
MARKET_FILTERED = frozenset({"orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions"})

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()

# Server-to-client TEXT frame headers (FIN, no mask, no compression): the writer frames
# messages itself so that many go to the transport in one write.
_HDR7 = tuple(bytes((0x81, n)) for n in range(126))
_HDR16 = struct.Struct("!BBH")
_HDR64 = struct.Struct("!BBQ")
_BATCH_BYTES = 1 << 18  # payload bytes per transport write
_monotonic = time.monotonic

ERR_TEXT = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Sids required",
    5: "Unknown command",
    6: "Already subscribed",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    9: "Authentication required",
    10: "Channel error",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    16: "Market not found",
    17: "Internal error",
    25: "Subscription buffer overflow",
}


class CommandError(Exception):
    def __init__(self, code: int, text: str | None = None) -> None:
        super().__init__(text or ERR_TEXT.get(code, "error"))
        self.code = code
        self.text = text or ERR_TEXT.get(code, "error")


class Sub:
    __slots__ = ("channel", "conn", "heads", "seq", "sequenced", "sid", "tickers", "use_yes_price")

    def __init__(
        self, conn: Conn, sid: int, channel: str, tickers: set[str] | None, use_yes_price: bool
    ) -> None:
        self.conn = conn
        self.sid = sid
        self.channel = channel
        self.tickers = tickers  # None = every market
        self.seq = 0
        self.use_yes_price = use_yes_price
        self.sequenced = channel in SEQUENCED
        self.heads: dict[bytes, bytes] = {}  # message type -> encoded envelope up to seq / msg

    def head(self, typ: bytes) -> bytes:
        """``{"type":<typ>,"sid":<sid>,"seq":`` (sequenced channels) or ``...,"msg":``."""
        h = self.heads.get(typ)
        if h is None:
            tail = b'"seq":' if self.sequenced else b'"msg":'
            h = self.heads[typ] = b'{"type":"%s","sid":%d,%s' % (typ, self.sid, tail)
        return h

    def wants(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers


class Conn:
    """One WebSocket connection: its subscriptions and outgoing queue."""

    __slots__ = (
        "by_channel",
        "closed",
        "idle",
        "next_sid",
        "queue",
        "sent",
        "subs",
        "user_id",
        "wake",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, user_id: str) -> None:
        self.ws = ws
        self.user_id = user_id
        self.subs: dict[int, Sub] = {}
        self.by_channel: dict[str, Sub] = {}
        self.next_sid = 1
        self.queue: deque[tuple[float, bytes]] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.idle = False  # the writer waits on ``wake``
        self.sent = 0

    def push(self, data: bytes) -> None:
        self.queue.append((_monotonic(), data))
        if self.idle:
            self.idle = False
            self.wake.set()


class Hub:
    """All connections; turns engine events into channel messages."""

    def __init__(self, state: ExchangeState) -> None:
        self.state = state
        self.conns: set[Conn] = set()
        self.book_subs: dict[str, set[Sub]] = {}
        self.skip_once: set[Sub] = set()  # one-shot "skip a seq" fault: subs still to skip one
        self.messages_out = 0
        self._last_ticker: dict[str, tuple[Any, ...]] = {}

    # -- sending ---------------------------------------------------------------------------------
    def _seq(self, sub: Sub) -> int:
        f = self.state.faults
        sub.seq += 1
        if (f.skip_seq_every and sub.seq % f.skip_seq_every == 0) or (
            self.skip_once and sub in self.skip_once
        ):
            self.skip_once.discard(sub)
            sub.seq += 1
        return sub.seq

    def send(self, sub: Sub, typ: bytes, body: bytes) -> None:
        """Queue ``body`` (the encoded ``msg``) in ``sub``'s envelope; bodies are shared, only
        the envelope (type, sid, seq) is per subscription."""
        if sub.sequenced:
            if self.state.faults.skip_seq_every or self.skip_once:
                seq = self._seq(sub)
            else:
                seq = sub.seq = sub.seq + 1
            sub.conn.push(b'%b%d,"msg":%b}' % (sub.head(typ), seq, body))
        else:
            sub.conn.push(b"%b%b}" % (sub.head(typ), body))
        self.messages_out += 1

    def reply(self, conn: Conn, obj: Any) -> None:
        conn.push(_enc.encode(obj))

    def error(self, conn: Conn, cid: int, code: int, text: str | None = None) -> None:
        msg: dict[str, Any] = {
            "type": "error",
            "msg": {"code": code, "msg": text or ERR_TEXT.get(code, "error")},
        }
        if cid:
            msg = {"id": cid, **msg}
        conn.push(_enc.encode(msg))

    # -- fan-out ---------------------------------------------------------------------------------
    def publish(self, events: list[Any]) -> None:
        if not self.conns:
            return
        touched: dict[str, None] = {}
        by_user: dict[str, list[Conn]] = {}
        for c in self.conns:
            by_user.setdefault(c.user_id, []).append(c)
        eng = self.state.engine
        for ev in events:
            t = type(ev)
            if t is BookDelta:
                touched[ev.ticker] = None
                subs = self.book_subs.get(ev.ticker)
                if subs:
                    self._book_delta(ev, subs)
            elif t is Trade:
                touched[ev.ticker] = None
                body = None
                for c in self.conns:
                    s = c.by_channel.get("trade")
                    if s is not None and s.wants(ev.ticker):
                        if body is None:
                            body = _enc.encode(wire.trade_msg(ev))
                        self.send(s, b"trade", body)
            elif t is Fill:
                for c in by_user.get(ev.user_id, ()):
                    s = c.by_channel.get("fill")
                    if s is not None and s.wants(ev.ticker):
                        self.send(s, b"fill", _enc.encode(wire.fill_msg(ev)))
            elif t is OrderUpdate:
                o = ev.order
                for c in by_user.get(o.user_id, ()):
                    s = c.by_channel.get("user_orders")
                    if s is not None and s.wants(o.ticker):
                        self.send(s, b"user_order", _enc.encode(wire.user_order_msg(o)))
            elif t is PositionUpdate:
                for c in by_user.get(ev.user_id, ()):
                    s = c.by_channel.get("market_positions")
                    if s is not None and s.wants(ev.ticker):
                        self.send(
                            s, b"market_position", _enc.encode(self.position_msg(ev.user_id, ev.ticker))
                        )
            elif t is LifecycleEvent:
                body = None
                for c in self.conns:
                    s = c.by_channel.get("market_lifecycle_v2")
                    if s is not None:
                        if body is None:
                            m = eng.markets.get(ev.ticker)
                            body = _enc.encode(
                                wire.lifecycle_msg(m, ev.ticker, ev.event_type, ev.ts_ms, ev.data)
                            )
                        self.send(s, b"market_lifecycle_v2", body)
                if ev.event_type == "created":
                    self._event_lifecycle(ev.ticker)
            elif t is OrderGroupEvent:
                for c in by_user.get(ev.user_id, ()):
                    s = c.by_channel.get("order_group_updates")
                    if s is not None:
                        msg = S.OrderGroupUpdateMsg(
                            event_type=ev.event_type,
                            order_group_id=ev.group_id,
                            contracts_limit_fp=format_qty(ev.limit) if ev.limit is not None else None,
                            ts_ms=ev.ts_ms,
                        )
                        self.send(s, b"order_group_updates", _enc.encode(msg))
        if touched:
            for ticker in touched:
                self.ticker_update(ticker)

    def _event_lifecycle(self, ticker: str) -> None:
        m = self.state.engine.markets.get(ticker)
        if m is None or self.state.announced_events.get(m.event_ticker):
            return
        self.state.announced_events[m.event_ticker] = True
        body = _enc.encode(
            S.EventLifecycleMsg(
                event_ticker=m.event_ticker,
                exchange_index=0,
                title=m.title,
                subtitle=m.subtitle,
                collateral_return_type="",
                series_ticker=m.series_ticker,
            )
        )
        for c in self.conns:
            s = c.by_channel.get("market_lifecycle_v2")
            if s is not None:
                self.send(s, b"event_lifecycle", body)

    def _book_delta(self, ev: BookDelta, subs: set[Sub]) -> None:
        m = self.state.engine.markets.get(ev.ticker)
        market_id = m.market_id if m is not None else None
        plain = None
        coid = ev.client_order_id
        send = self.send
        for s in subs:
            own = coid is not None and s.conn.user_id == ev.user_id
            if own or s.use_yes_price:
                price = ev.price if not (s.use_yes_price and ev.side == "no") else ONE_DOLLAR - ev.price
                body = _enc.encode(
                    S.OrderbookDeltaMsg(
                        market_ticker=ev.ticker,
                        market_id=market_id,
                        price_dollars=format_price(price),
                        delta_fp=format_qty(ev.delta),
                        side=ev.side,  # type: ignore[arg-type]
                        ts_ms=ev.ts_ms,
                        client_order_id=ev.client_order_id if own else None,
                    )
                )
            else:
                if plain is None:
                    plain = _enc.encode(
                        S.OrderbookDeltaMsg(
                            market_ticker=ev.ticker,
                            market_id=market_id,
                            price_dollars=format_price(ev.price),
                            delta_fp=format_qty(ev.delta),
                            side=ev.side,  # type: ignore[arg-type]
                            ts_ms=ev.ts_ms,
                        )
                    )
                body = plain
            send(s, b"orderbook_delta", body)

    def snapshot(self, sub: Sub, ticker: str) -> None:
        m = self.state.engine.markets.get(ticker)
        if m is None:
            return
        yes, no = wire.levels(m)
        if sub.use_yes_price:  # NO levels on the YES scale (ask prices), ascending
            no = [(format_price(p), format_qty(m.book.asks[p].size)) for p in m.book.ask_prices]
        msg = S.OrderbookSnapshotMsg(
            market_ticker=ticker, market_id=m.market_id, yes_dollars_fp=yes, no_dollars_fp=no  # type: ignore[arg-type]
        )
        self.send(sub, b"orderbook_snapshot", _enc.encode(msg))

    def ticker_msg(self, ticker: str) -> tuple[tuple[Any, ...], S.TickerMsg] | None:
        m = self.state.engine.markets.get(ticker)
        if m is None:
            return None
        bid, bs, ask, as_ = wire.top(m)
        last_size = m.trades[-1].count if m.trades else 0
        key = (bid, bs, ask, as_, m.last_price, m.volume, m.open_interest)
        now = self.state.now_ms()
        msg = S.TickerMsg(
            market_ticker=ticker,
            market_id=m.market_id,
            price_dollars=format_price(m.last_price),
            yes_bid_dollars=format_price(bid),
            yes_ask_dollars=format_price(ask),
            yes_bid_size_fp=format_qty(bs),
            yes_ask_size_fp=format_qty(as_),
            last_trade_size_fp=format_qty(last_size),
            volume_fp=format_qty(m.volume),
            open_interest_fp=format_qty(m.open_interest),
            dollar_volume=m.volume // 100,
            dollar_open_interest=m.open_interest // 100,
            ts=now // 1000,
            ts_ms=now,
            time=wire.rfc3339(now),
        )
        return key, msg

    def ticker_update(self, ticker: str) -> None:
        subs = [s for c in self.conns if (s := c.by_channel.get("ticker")) is not None and s.wants(ticker)]
        if not subs:
            return
        km = self.ticker_msg(ticker)
        if km is None:
            return
        key, msg = km
        if self._last_ticker.get(ticker) == key:
            return
        self._last_ticker[ticker] = key
        body = _enc.encode(msg)
        for s in subs:
            self.send(s, b"ticker", body)

    def position_msg(self, user_id: str, ticker: str) -> S.MarketPositionMsg:
        acct = self.state.engine.accounts[user_id]
        pos = acct.portfolio.positions.get(ticker)
        qty = pos.qty if pos else 0
        return S.MarketPositionMsg(
            user_id=user_id,
            market_ticker=ticker,
            position_fp=format_qty(qty),
            position_cost_dollars=wire.format_money(pos.cost if pos else 0),
            realized_pnl_dollars=wire.format_money(pos.realized if pos else 0),
            fees_paid_dollars=wire.format_money(pos.fees if pos else 0),
            position_fee_cost_dollars=wire.format_money(pos.fees if pos and qty else 0),
            volume_fp=format_qty(pos.volume if pos else 0),
        )

    # -- commands --------------------------------------------------------------------------------
    def command(self, conn: Conn, raw: str | bytes) -> None:
        cid = 0
        try:
            try:
                data = _dec.decode(raw)
            except msgspec.DecodeError:
                raise CommandError(1) from None
            if not isinstance(data, dict):
                raise CommandError(1)
            cid = data.get("id", 0)
            if not isinstance(cid, int) or isinstance(cid, bool):
                cid = 0
                raise CommandError(1)
            cmd = data.get("cmd")
            params = data.get("params")
            if params is not None and not isinstance(params, dict):
                raise CommandError(1)
            if cmd == "subscribe":
                self._subscribe(conn, cid, params)
            elif cmd == "unsubscribe":
                self._unsubscribe(conn, cid, params)
            elif cmd == "update_subscription":
                self._update(conn, cid, params)
            elif cmd == "list_subscriptions":
                info = [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()]
                self.reply(conn, {"id": cid, "type": "ok", "msg": info})
            else:
                raise CommandError(5)
        except CommandError as e:
            self.error(conn, cid, e.code, e.text)

    def _tickers(self, params: dict[str, Any], required: bool) -> list[str] | None:
        tickers: list[str] = []
        one = params.get("market_ticker")
        many = params.get("market_tickers")
        if one is not None:
            if not isinstance(one, str):
                raise CommandError(1)
            tickers.append(one)
        if many is not None:
            if not isinstance(many, list) or not all(isinstance(t, str) for t in many):
                raise CommandError(1)
            tickers.extend(many)
        ids = params.get("market_ids") or ([params["market_id"]] if params.get("market_id") else [])
        if ids:
            by_id = {m.market_id: t for t, m in self.state.engine.markets.items()}
            for i in ids:
                if i not in by_id:
                    raise CommandError(16)
                tickers.append(by_id[i])
        if not tickers:
            if required:
                raise CommandError(14)
            return None
        for t in tickers:
            if t not in self.state.engine.markets:
                raise CommandError(16, f"Market not found: {t}")
        return list(dict.fromkeys(tickers))

    def _subscribe(self, conn: Conn, cid: int, params: dict[str, Any] | None) -> None:
        if params is None:
            raise CommandError(2)
        channels = params.get("channels")
        if channels is None or channels == []:
            raise CommandError(3)
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise CommandError(1)
        for ch in channels:
            if ch not in CHANNELS:
                raise CommandError(8, f"Unknown channel name: {ch}")
        if (params.get("market_id") or params.get("market_ids")) and channels != ["ticker"]:
            raise CommandError(11, "market_id(s) are only supported on the ticker channel")
        tickers = self._tickers(params, required="orderbook_delta" in channels)
        use_yes = bool(params.get("use_yes_price", False))
        for ch in dict.fromkeys(channels):
            if ch in conn.by_channel:
                self.error(conn, cid, 6)
                continue
            sid = conn.next_sid
            conn.next_sid += 1
            filt = set(tickers) if tickers is not None and ch in MARKET_FILTERED else None
            sub = Sub(conn, sid, ch, filt, use_yes)
            conn.subs[sid] = sub
            conn.by_channel[ch] = sub
            self.reply(conn, {"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sid}})
            if ch == "orderbook_delta":
                for t in tickers or ():
                    self.book_subs.setdefault(t, set()).add(sub)
                    self.snapshot(sub, t)
            elif ch == "ticker" and params.get("send_initial_snapshot"):
                for t in tickers if tickers is not None else list(self.state.engine.markets):
                    km = self.ticker_msg(t)
                    if km is not None:
                        self.send(sub, b"ticker", _enc.encode(km[1]))

    def skip_seq(self) -> None:
        """Fault: the next sequenced message of every current subscription skips one seq."""
        self.skip_once = {s for c in self.conns for s in c.subs.values() if s.channel in SEQUENCED}

    def _drop(self, conn: Conn, sub: Sub) -> None:
        self.skip_once.discard(sub)
        conn.subs.pop(sub.sid, None)
        if conn.by_channel.get(sub.channel) is sub:
            del conn.by_channel[sub.channel]
        if sub.channel == "orderbook_delta":
            for t in sub.tickers or ():
                s = self.book_subs.get(t)
                if s is not None:
                    s.discard(sub)
                    if not s:
                        del self.book_subs[t]

    def _unsubscribe(self, conn: Conn, cid: int, params: dict[str, Any] | None) -> None:
        if params is None:
            raise CommandError(2)
        sids = params.get("sids")
        if not sids:
            raise CommandError(4)
        if not isinstance(sids, list) or not all(isinstance(s, int) for s in sids):
            raise CommandError(1)
        for sid in sids:
            sub = conn.subs.get(sid)
            if sub is None:
                self.error(conn, cid, 7)
                continue
            self._drop(conn, sub)
            msg: dict[str, Any] = {"id": cid, "type": "unsubscribed", "sid": sid}
            if sub.channel in SEQUENCED:
                msg["seq"] = sub.seq
            self.reply(conn, msg)

    def _update(self, conn: Conn, cid: int, params: dict[str, Any] | None) -> None:
        if params is None:
            raise CommandError(2)
        sid = params.get("sid")
        sids = params.get("sids")
        if sid is None and sids is None:
            raise CommandError(4)
        if sid is not None and sids is not None:
            raise CommandError(12)
        if sids is not None:
            if not isinstance(sids, list) or len(sids) != 1:
                raise CommandError(12)
            sid = sids[0]
        if not isinstance(sid, int):
            raise CommandError(1)
        action = params.get("action")
        if action is None:
            raise CommandError(15)
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            raise CommandError(13)
        sub = conn.subs.get(sid)
        if sub is None:
            raise CommandError(7)
        if sub.channel not in MARKET_FILTERED or (
            action == "get_snapshot" and sub.channel != "orderbook_delta"
        ):
            raise CommandError(13)
        tickers = self._tickers(params, required=True) or []
        if action == "add_markets":
            # a subscription to every market (no filter) already has them: adding must not narrow it
            held = sub.tickers
            if held is not None:
                for t in tickers:
                    if t in held:
                        continue
                    held.add(t)
                    if sub.channel == "orderbook_delta":
                        self.book_subs.setdefault(t, set()).add(sub)
                        self.snapshot(sub, t)
        elif action == "delete_markets":
            if sub.tickers is not None:
                for t in tickers:
                    sub.tickers.discard(t)
                    if sub.channel == "orderbook_delta":
                        s = self.book_subs.get(t)
                        if s is not None:
                            s.discard(sub)
        else:
            # get_snapshot: only for markets the subscription holds (a snapshot without deltas after
            # it would be a book that silently goes stale)
            for t in tickers:
                if sub.tickers is None or t in sub.tickers:
                    self.snapshot(sub, t)
        msg: dict[str, Any] = {"id": cid, "type": "ok", "sid": sid}
        if sub.channel in SEQUENCED:
            msg["seq"] = sub.seq
        msg["msg"] = {"market_tickers": sorted(sub.tickers) if sub.tickers is not None else []}
        self.reply(conn, msg)

    # -- connection lifecycle ----------------------------------------------------------------------
    async def handle(self, request: web.Request, user_id: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(ws, user_id)
        self.conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT or msg.type == WSMsgType.BINARY:
                    self.command(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.close_conn(conn)
            writer.cancel()
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pinger
        return ws

    def close_conn(self, conn: Conn) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            for sub in list(conn.subs.values()):
                self._drop(conn, sub)
        conn.closed = True
        conn.wake.set()

    def abort(self, conn: Conn) -> None:
        """Drop the TCP connection without a close handshake (fault injection)."""
        self.close_conn(conn)
        req = conn.ws._req
        if req is not None and req.transport is not None:
            req.transport.abort()

    async def _writer(self, conn: Conn) -> None:
        """Drain ``conn.queue`` to the socket, many frames per transport write.

        Every pass takes what is due from the queue (up to ``_BATCH_BYTES`` of payload), frames
        each message as an unmasked, uncompressed TEXT frame and hands them to the transport in
        one ``write`` (one syscall instead of one per message). The writer waits only when the
        transport pauses the protocol (its buffer is above the high-water mark) or there is
        nothing to send. Faults act per message as before: ``stall_until`` holds all output,
        ``ws_delay_ms`` holds each message until it is that old, ``ws_drop_after`` aborts the
        connection right after the N-th message, and a queue over ``ws_queue_limit`` is
        replaced by error 25 and the connection closed (1008).
        """
        ws = conn.ws
        faults = self.state.faults
        q = conn.queue
        limit = self.state.config.ws_queue_limit
        text = WSMsgType.TEXT
        req = ws._req
        protocol = req.protocol if req is not None else None
        transport = req.transport if req is not None else None
        if transport is None or protocol is None:
            return
        popleft = q.popleft
        hdr16 = _HDR16.pack
        monotonic = time.monotonic
        while not conn.closed:
            if not q:
                conn.wake.clear()
                conn.idle = True
                await conn.wake.wait()
                conn.idle = False
                continue
            if len(q) > limit:
                q.clear()
                self.error(conn, 0, 25)
                _, data = q.popleft()
                await ws.send_frame(data, text)
                await ws.close(code=1008)
                self.close_conn(conn)
                return
            if faults.stall_until > monotonic():
                await asyncio.sleep(faults.stall_until - monotonic())
                continue
            delay = faults.ws_delay_ms / 1000.0 if faults.ws_delay_ms else 0.0
            if delay:
                wait = q[0][0] + delay - monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
            n = len(q)
            drop_after = faults.ws_drop_after
            if drop_after:
                n = min(n, max(1, drop_after - conn.sent))
            if ws.closed or transport.is_closing():
                return
            parts: list[bytes] = []
            size = 0
            due = monotonic() - delay if delay else 0.0
            count = 0
            while count < n and size < _BATCH_BYTES:
                if delay and q[0][0] > due:
                    break
                _, data = popleft()
                ln = len(data)
                if ln < 126:
                    parts.append(_HDR7[ln])
                elif ln < 65536:
                    parts.append(hdr16(0x81, 126, ln))
                else:
                    parts.append(_HDR64.pack(0x81, 127, ln))
                parts.append(data)
                size += ln
                count += 1
            transport.write(b"".join(parts))
            conn.sent += count
            if drop_after and conn.sent >= drop_after:
                self.abort(conn)
                return
            if protocol.writing_paused:
                await protocol._drain_helper()

    async def _pinger(self, conn: Conn) -> None:
        interval = self.state.config.ping_interval_s
        while not conn.closed:
            await asyncio.sleep(interval)
            if conn.closed or conn.ws.closed:
                return
            with contextlib.suppress(Exception):
                await conn.ws.ping(b"heartbeat")

    async def close_all(self, code: int = 1001) -> None:
        for conn in list(self.conns):
            self.close_conn(conn)
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code)
