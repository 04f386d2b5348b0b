"""``KalshiRestClient``: the signed, rate-budgeted aiohttp client of Kalshi's Trade API v2.

One client talks to one environment (``local``, ``demo``, ``prod``; ``base_url`` overrides the
server root). Every response is decoded into the msgspec structs of ``kalshi.schemas`` through
``kalshi.parse.decode_rest`` (a ``ProtocolError`` names a bad field).

Failure policy (the exceptions of ``kalshi_mm.errors``):

- **GET** requests retry on ``Retryable`` (429, 5xx, timeouts, dropped connections) with
  exponential backoff and full jitter, ``read_retries`` times, then raise the last error.
- **POST/PUT/DELETE** are never blindly retried. A 429 is a definite *no* (nothing was applied),
  so writes wait for tokens and are re-sent after a 429 (``write_429_retries`` times). A timeout, a
  5xx or a dropped connection raises ``OutcomeUnknown``: the caller must read the order back
  (``find_order_by_client_id`` / ``get_order``) before sending anything else for that market;
  every order carries a ``client_order_id`` for exactly that reason.
- 400/404/409/410 raise ``Rejected``, 401/403 ``Fatal``; each keeps the exchange's code and
  message (never a header, key or signature).

Every request first waits for tokens from the ``RateLimiter`` (cancels before amends before new
orders) and a 429 drains the local bucket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec
import yarl

from kalshi_mm.config import Settings, rest_root
from kalshi_mm.domain.units import format_price, format_qty
from kalshi_mm.errors import ConfigError, ExchangeError, OutcomeUnknown, RateLimited, Retryable
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.kalshi.auth import Signer
from kalshi_mm.kalshi.parse import decode_rest
from kalshi_mm.venue.policy import Backoff, error_from_response, transport_error
from kalshi_mm.venue.ratelimit import (
    PRIORITY_CANCEL,
    PRIORITY_MODIFY,
    PRIORITY_NEW,
    RateLimiter,
)

log = logging.getLogger("kalshi_mm.venue.rest")

T = TypeVar("T")
Params = dict[str, Any] | Sequence[tuple[str, Any]] | None
Env = Literal["local", "demo", "prod"]

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_ACCEPT = {"Accept": "application/json"}
_encode = msgspec.json.Encoder().encode


def _q(segment: str) -> str:
    """Percent-encode one path parameter (tickers and ids are signed as sent)."""
    return quote(segment, safe="")


def _query(params: Params) -> list[tuple[str, str]]:
    """Query pairs without Nones; bools as true/false; lists repeated (``?tickers=A&tickers=B``)."""
    if not params:
        return []
    items = params.items() if isinstance(params, dict) else params
    out: list[tuple[str, str]] = []
    for k, v in items:
        if v is None:
            continue
        if isinstance(v, bool):
            out.append((k, "true" if v else "false"))
        elif isinstance(v, list | tuple | set | frozenset):
            out.extend((k, str(x)) for x in v)
        else:
            out.append((k, str(v)))
    return out


def _csv(v: str | Iterable[str] | None) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return ",".join(v)


def order_request(
    ticker: str,
    side: Literal["bid", "ask"],
    price: int,
    count: int,
    *,
    client_order_id: str | None,
    time_in_force: str = "good_till_canceled",
    self_trade_prevention_type: str = "taker_at_cross",
    post_only: bool | None = None,
    reduce_only: bool | None = None,
    expiration_time: int | None = None,
    cancel_order_on_pause: bool | None = None,
    order_group_id: str | None = None,
    subaccount: int | None = None,
    exchange_index: int | None = None,
) -> s.CreateOrderRequest:
    """A V2 create body from domain ints (``price`` Price, ``count`` Qty)."""
    return s.CreateOrderRequest(
        ticker=ticker,
        side=side,
        count=format_qty(count),
        price=format_price(price),
        time_in_force=time_in_force,  # type: ignore[arg-type]
        self_trade_prevention_type=self_trade_prevention_type,  # type: ignore[arg-type]
        client_order_id=client_order_id,
        expiration_time=expiration_time,
        post_only=post_only,
        reduce_only=reduce_only,
        cancel_order_on_pause=cancel_order_on_pause,
        order_group_id=order_group_id,
        subaccount=subaccount,
        exchange_index=exchange_index,
    )


class KalshiRestClient:
    """Async client of the REST API. Use as ``async with KalshiRestClient(...) as client:``.

    ``signer`` is required for portfolio and order endpoints (public market data works without).
    ``sign_cache_ms`` > 0 reuses a signature for the same method+path for that long
    (``Signer.headers_cached``), taking RSA signing off the hot path; 0 signs every request.
    """

    def __init__(
        self,
        env: Env | str = "local",
        *,
        base_url: str | None = None,
        signer: Signer | None = None,
        limiter: RateLimiter | None = None,
        timeout: float = 10.0,
        read_retries: int = 4,
        write_429_retries: int = 3,
        backoff: Backoff | None = None,
        sign_cache_ms: int = 0,
        session: aiohttp.ClientSession | None = None,
        clock_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if env not in ("local", "demo", "prod") and base_url is None:
            raise ConfigError(f"unknown environment {env!r}; use local, demo or prod (or a base URL)")
        self.env = env
        self.root = rest_root(env if env in ("local", "demo", "prod") else "local", base_url)
        self.prefix = urlsplit(self.root).path.rstrip("/")  # "/trade-api/v2": signed with every path
        self.signer = signer
        self.limiter = limiter or RateLimiter.unlimited()
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.read_retries = read_retries
        self.write_429_retries = write_429_retries
        self.backoff = backoff or Backoff(base=0.05, cap=2.0)
        self.sign_cache_ms = sign_cache_ms
        self._session = session
        self._own_session = session is None
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._sleep = sleep
        #: counters (for tests, metrics and the probe)
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> KalshiRestClient:
        """Client for ``settings.env`` / ``settings.base_url`` with the key from the settings."""
        signer = signer_from_settings(settings) if settings.credentials.present else None
        kw.setdefault("limiter", RateLimiter.for_tier(settings.tier))
        return cls(settings.env, base_url=settings.base_url, signer=signer, **kw)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> KalshiRestClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, skip_auto_headers=("User-Agent",)
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._own_session and not self._session.closed:
            await self._session.close()
        self._session = None

    def __repr__(self) -> str:
        return f"KalshiRestClient(env={self.env!r}, root={self.root!r}, signer={self.signer!r})"

    # -- the one request path ----------------------------------------------------------------------
    def _headers(self, method: str, full_path: str, has_body: bool) -> dict[str, str]:
        h = dict(_JSON if has_body else _ACCEPT)
        if self.signer is not None:
            ts = self._clock_ms()
            if self.sign_cache_ms > 0:
                h.update(self.signer.headers_cached(method, full_path, ts, self.sign_cache_ms))
            else:
                h.update(self.signer.headers(method, full_path, ts))
        return h

    async def _send_once(
        self, method: str, path: str, query: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, bytes]:
        session = self._ensure_session()
        full_path = self.prefix + path
        url = self.root + path
        if query:
            url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe=',')}" for k, v in query)
        headers = self._headers(method, full_path, body is not None)
        self.requests += 1
        t0 = time.perf_counter()
        try:
            async with session.request(
                method, yarl.URL(url, encoded=True), data=body, headers=headers, allow_redirects=False
            ) as resp:
                data = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise transport_error(e, method, full_path) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d in %.2f ms", method, full_path, status, (time.perf_counter() - t0) * 1e3)
        return status, data

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        body: Any = None,
        items: int = 1,
        priority: int | None = None,
    ) -> bytes:
        """Send ``method path`` (relative to ``/trade-api/v2``); the raw 2xx body or an exception."""
        method = method.upper()
        query = _query(params)
        raw = None if body is None else (body if isinstance(body, bytes) else _encode(body))
        is_read = method == "GET"
        attempt = 0
        while True:
            await self.limiter.acquire(method, path, items, priority)
            try:
                status, data = await self._send_once(method, path, query, raw)
                if 200 <= status < 300:
                    return data
                err = error_from_response(status, data, method, self.prefix + path)
            except ExchangeError as e:  # transport errors
                err = e
            if isinstance(err, RateLimited):
                self.rate_limited += 1
                self.limiter.penalize(method, path)
                if attempt < (self.read_retries if is_read else self.write_429_retries):
                    attempt += 1
                    self.retries += 1
                    await self._sleep(self.backoff.delay(attempt))
                    continue
                raise err
            if is_read and isinstance(err, Retryable) and attempt < self.read_retries:
                attempt += 1
                self.retries += 1
                log.info("retrying %s %s after %s", method, path, err)
                await self._sleep(self.backoff.delay(attempt))
                continue
            raise err

    async def _get(self, path: str, t: type[T], params: Params = None) -> T:
        return decode_rest(t, await self.request("GET", path, params=params))

    # -- pagination ----------------------------------------------------------------------------------
    async def paginate(
        self,
        path: str,
        response_type: type[Any],
        field: str,
        params: dict[str, Any] | None = None,
        *,
        limit: int = 1000,
        max_pages: int | None = None,
    ) -> AsyncIterator[Any]:
        """Every item of a cursor-paginated list endpoint, page after page."""
        p = dict(params or {})
        p["limit"] = limit
        pages = 0
        cursor: str | None = None
        while True:
            p["cursor"] = cursor or None
            resp = await self._get(path, response_type, p)
            for item in getattr(resp, field):
                yield item
            pages += 1
            cursor = getattr(resp, "cursor", None)
            if not cursor or (max_pages is not None and pages >= max_pages):
                return

    async def collect(self, it: AsyncIterator[T]) -> list[T]:
        return [x async for x in it]

    # ============================================================================================
    # section 5: market data
    # ============================================================================================
    async def get_exchange_status(self) -> s.ExchangeStatus:
        return await self._get("/exchange/status", s.ExchangeStatus)

    async def get_exchange_schedule(self) -> s.ExchangeSchedule:
        return (await self._get("/exchange/schedule", s.GetExchangeScheduleResponse)).schedule

    async def get_user_data_timestamp(self) -> s.UserDataTimestamp:
        return await self._get("/exchange/user_data_timestamp", s.UserDataTimestamp)

    async def get_markets(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        event_ticker: str | None = None,
        series_ticker: str | None = None,
        tickers: str | Iterable[str] | None = None,
        status: str | None = None,
        **filters: Any,
    ) -> s.GetMarketsResponse:
        params = {
            "limit": limit,
            "cursor": cursor,
            "event_ticker": event_ticker,
            "series_ticker": series_ticker,
            "tickers": _csv(tickers),
            "status": status,
            **filters,
        }
        return await self._get("/markets", s.GetMarketsResponse, params)

    def iter_markets(self, **filters: Any) -> AsyncIterator[s.Market]:
        if "tickers" in filters:
            filters["tickers"] = _csv(filters["tickers"])
        return self.paginate("/markets", s.GetMarketsResponse, "markets", filters)

    async def get_all_markets(self, **filters: Any) -> list[s.Market]:
        return await self.collect(self.iter_markets(**filters))

    async def get_market(self, ticker: str) -> s.Market:
        return (await self._get(f"/markets/{_q(ticker)}", s.GetMarketResponse)).market

    async def get_orderbook(self, ticker: str, depth: int | None = None) -> s.OrderbookFp:
        resp = await self._get(f"/markets/{_q(ticker)}/orderbook", s.GetOrderbookResponse, {"depth": depth})
        return resp.orderbook_fp

    async def get_orderbooks(self, tickers: Sequence[str]) -> list[s.MarketOrderbook]:
        out: list[s.MarketOrderbook] = []
        for i in range(0, len(tickers), 100):  # <= 100 per call
            chunk = list(tickers[i : i + 100])
            resp = await self._get("/markets/orderbooks", s.GetOrderbooksResponse, [("tickers", chunk)])
            out.extend(resp.orderbooks)
        return out

    async def get_trades(self, **params: Any) -> s.GetTradesResponse:
        return await self._get("/markets/trades", s.GetTradesResponse, params)

    def iter_trades(self, **params: Any) -> AsyncIterator[s.Trade]:
        return self.paginate("/markets/trades", s.GetTradesResponse, "trades", params)

    async def get_events(self, **params: Any) -> s.GetEventsResponse:
        if "tickers" in params:
            params["tickers"] = _csv(params["tickers"])
        return await self._get("/events", s.GetEventsResponse, params)

    def iter_events(self, **params: Any) -> AsyncIterator[s.Event]:
        return self.paginate("/events", s.GetEventsResponse, "events", params, limit=200)

    async def get_event(self, event_ticker: str, with_nested_markets: bool | None = None) -> s.GetEventResponse:
        return await self._get(
            f"/events/{_q(event_ticker)}", s.GetEventResponse, {"with_nested_markets": with_nested_markets}
        )

    async def get_series_list(self, **params: Any) -> list[s.Series]:
        return (await self._get("/series", s.GetSeriesListResponse, params)).series

    async def get_series(self, series_ticker: str, include_volume: bool | None = None) -> s.Series:
        resp = await self._get(
            f"/series/{_q(series_ticker)}", s.GetSeriesResponse, {"include_volume": include_volume}
        )
        return resp.series

    # ============================================================================================
    # section 6: portfolio reads
    # ============================================================================================
    async def get_balance(self, subaccount: int | None = None) -> s.Balance:
        return await self._get("/portfolio/balance", s.Balance, {"subaccount": subaccount})

    async def get_positions(self, **params: Any) -> s.GetPositionsResponse:
        return await self._get("/portfolio/positions", s.GetPositionsResponse, params)

    def iter_positions(self, **params: Any) -> AsyncIterator[s.MarketPosition]:
        return self.paginate("/portfolio/positions", s.GetPositionsResponse, "market_positions", params)

    async def get_all_positions(self, **params: Any) -> list[s.MarketPosition]:
        return await self.collect(self.iter_positions(**params))

    async def get_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | Iterable[str] | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        **params: Any,
    ) -> s.GetOrdersResponse:
        q = {
            "ticker": ticker,
            "event_ticker": _csv(event_ticker),
            "status": status,
            "limit": limit,
            "cursor": cursor,
            **params,
        }
        return await self._get("/portfolio/orders", s.GetOrdersResponse, q)

    def iter_orders(self, **params: Any) -> AsyncIterator[s.Order]:
        if "event_ticker" in params:
            params["event_ticker"] = _csv(params["event_ticker"])
        return self.paginate("/portfolio/orders", s.GetOrdersResponse, "orders", params)

    async def get_all_orders(self, **params: Any) -> list[s.Order]:
        return await self.collect(self.iter_orders(**params))

    async def get_order(self, order_id: str) -> s.Order:
        return (await self._get(f"/portfolio/orders/{_q(order_id)}", s.GetOrderResponse)).order

    async def find_order_by_client_id(
        self, client_order_id: str, *, ticker: str | None = None, min_ts: int | None = None
    ) -> s.Order | None:
        """Read back an order by its ``client_order_id`` (after an ``OutcomeUnknown``); None if absent."""
        async for o in self.iter_orders(ticker=ticker, min_ts=min_ts):
            if o.client_order_id == client_order_id:
                return o
        return None

    async def get_queue_position(self, order_id: str) -> s.QueuePositionResponse:
        return await self._get(f"/portfolio/orders/{_q(order_id)}/queue_position", s.QueuePositionResponse)

    async def get_queue_positions(
        self,
        *,
        market_tickers: str | Iterable[str] | None = None,
        event_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> list[s.QueuePosition]:
        params = {"market_tickers": _csv(market_tickers), "event_ticker": event_ticker, "subaccount": subaccount}
        return (await self._get("/portfolio/orders/queue_positions", s.GetQueuePositionsResponse, params)).queue_positions

    async def get_fills(self, **params: Any) -> s.GetFillsResponse:
        if "ticker" in params:
            params["ticker"] = _csv(params["ticker"])
        return await self._get("/portfolio/fills", s.GetFillsResponse, params)

    def iter_fills(self, **params: Any) -> AsyncIterator[s.Fill]:
        if "ticker" in params:
            params["ticker"] = _csv(params["ticker"])
        return self.paginate("/portfolio/fills", s.GetFillsResponse, "fills", params)

    async def get_all_fills(self, **params: Any) -> list[s.Fill]:
        return await self.collect(self.iter_fills(**params))

    async def get_settlements(self, **params: Any) -> s.GetSettlementsResponse:
        return await self._get("/portfolio/settlements", s.GetSettlementsResponse, params)

    def iter_settlements(self, **params: Any) -> AsyncIterator[s.Settlement]:
        return self.paginate("/portfolio/settlements", s.GetSettlementsResponse, "settlements", params)

    # -- account ---------------------------------------------------------------------------------------
    async def get_account_limits(self) -> s.AccountLimits:
        return await self._get("/account/limits", s.AccountLimits)

    async def limiter_from_account(self, headroom: float = 0.1) -> RateLimiter:
        """Replace the limiter with one sized from ``GET /account/limits`` (call at start-up)."""
        self.limiter = RateLimiter.from_limits(await self.get_account_limits(), headroom=headroom)
        return self.limiter

    async def get_endpoint_costs(self) -> s.EndpointCosts:
        return await self._get("/account/endpoint_costs", s.EndpointCosts)

    # ============================================================================================
    # section 7: order entry V2
    # ============================================================================================
    async def create_order_request(
        self, req: s.CreateOrderRequest, *, priority: int = PRIORITY_NEW
    ) -> s.CreateOrderResponse:
        data = await self.request("POST", "/portfolio/events/orders", body=req, priority=priority)
        return decode_rest(s.CreateOrderResponse, data)

    async def create_order(
        self,
        ticker: str,
        side: Literal["bid", "ask"],
        price: int,
        count: int,
        *,
        client_order_id: str,
        time_in_force: str = "good_till_canceled",
        self_trade_prevention_type: str = "taker_at_cross",
        post_only: bool | None = None,
        reduce_only: bool | None = None,
        expiration_time: int | None = None,
        cancel_order_on_pause: bool | None = None,
        order_group_id: str | None = None,
        subaccount: int | None = None,
    ) -> s.CreateOrderResponse:
        """Create a V2 order (``price`` Price, ``count`` Qty). ``OutcomeUnknown`` => read it back."""
        if not client_order_id:
            raise ValueError("every order needs a client_order_id (it is how an unknown outcome is resolved)")
        req = order_request(
            ticker,
            side,
            price,
            count,
            client_order_id=client_order_id,
            time_in_force=time_in_force,
            self_trade_prevention_type=self_trade_prevention_type,
            post_only=post_only,
            reduce_only=reduce_only,
            expiration_time=expiration_time,
            cancel_order_on_pause=cancel_order_on_pause,
            order_group_id=order_group_id,
            subaccount=subaccount,
        )
        return await self.create_order_request(req)

    async def amend_order(
        self,
        order_id: str,
        *,
        ticker: str,
        side: Literal["bid", "ask"],
        price: int,
        count: int,
        client_order_id: str | None = None,
        updated_client_order_id: str | None = None,
        expiration_time: int | None = None,
        subaccount: int | None = None,
    ) -> s.AmendOrderResponse:
        """Amend price and/or size; ``count`` is the new total (filled + desired remaining)."""
        req = s.AmendOrderRequest(
            ticker=ticker,
            side=side,
            price=format_price(price),
            count=format_qty(count),
            client_order_id=client_order_id,
            updated_client_order_id=updated_client_order_id,
            expiration_time=expiration_time,
        )
        data = await self.request(
            "POST",
            f"/portfolio/events/orders/{_q(order_id)}/amend",
            params={"subaccount": subaccount},
            body=req,
            priority=PRIORITY_MODIFY,
        )
        return decode_rest(s.AmendOrderResponse, data)

    async def decrease_order(
        self,
        order_id: str,
        *,
        reduce_by: int | None = None,
        reduce_to: int | None = None,
        market_ticker: str | None = None,
        subaccount: int | None = None,
    ) -> s.DecreaseOrderResponse:
        """Reduce an order by ``reduce_by`` or to ``reduce_to`` (Qty; exactly one of them)."""
        req = s.DecreaseOrderRequest(
            reduce_by=None if reduce_by is None else format_qty(reduce_by),
            reduce_to=None if reduce_to is None else format_qty(reduce_to),
            market_ticker=market_ticker,
        )
        data = await self.request(
            "POST",
            f"/portfolio/events/orders/{_q(order_id)}/decrease",
            params={"subaccount": subaccount},
            body=req,
            priority=PRIORITY_MODIFY,
        )
        return decode_rest(s.DecreaseOrderResponse, data)

    async def cancel_order(
        self, order_id: str, *, market_ticker: str | None = None, subaccount: int | None = None
    ) -> s.CancelOrderResponse:
        """Cancel one order; 404 (``Rejected``) if it is unknown, canceled or executed already."""
        data = await self.request(
            "DELETE",
            f"/portfolio/events/orders/{_q(order_id)}",
            params={"market_ticker": market_ticker, "subaccount": subaccount},
            priority=PRIORITY_CANCEL,
        )
        return decode_rest(s.CancelOrderResponse, data)

    async def batch_create_orders(
        self, orders: Sequence[s.CreateOrderRequest]
    ) -> list[s.BatchCreateOrderResult]:
        """One result per input, in order; per-item errors inline (``result.error``)."""
        if any(not o.client_order_id for o in orders):
            raise ValueError("every order needs a client_order_id")
        data = await self.request(
            "POST",
            "/portfolio/events/orders/batched",
            body=s.BatchCreateOrdersRequest(orders=list(orders)),
            items=len(orders),
            priority=PRIORITY_NEW,
        )
        return decode_rest(s.BatchCreateOrdersResponse, data).orders

    async def batch_cancel_orders(
        self, order_ids: Sequence[str | s.BatchCancelOrderItem]
    ) -> list[s.BatchCancelOrderResult]:
        items = [o if isinstance(o, s.BatchCancelOrderItem) else s.BatchCancelOrderItem(order_id=o) for o in order_ids]
        data = await self.request(
            "DELETE",
            "/portfolio/events/orders/batched",
            body=s.BatchCancelOrdersRequest(orders=items),
            items=len(items),
            priority=PRIORITY_CANCEL,
        )
        return decode_rest(s.BatchCancelOrdersResponse, data).orders

    async def cancel_all_orders(self, subaccount: int | None = None) -> None:
        """DELETE /portfolio/events/orders (204). Orders placed just after may also be canceled."""
        await self.request(
            "DELETE", "/portfolio/events/orders", params={"subaccount": subaccount}, priority=PRIORITY_CANCEL
        )

    # ============================================================================================
    # section 9: order groups
    # ============================================================================================
    async def create_order_group(self, contracts_limit: int, subaccount: int | None = None) -> s.CreateOrderGroupResponse:
        """``contracts_limit`` in Qty (1/100 contract)."""
        body = s.CreateOrderGroupRequest(contracts_limit_fp=format_qty(contracts_limit), subaccount=subaccount)
        data = await self.request("POST", "/portfolio/order_groups/create", body=body)
        return decode_rest(s.CreateOrderGroupResponse, data)

    async def get_order_groups(self, subaccount: int | None = None) -> list[s.OrderGroup]:
        resp = await self._get("/portfolio/order_groups", s.GetOrderGroupsResponse, {"subaccount": subaccount})
        return resp.order_groups

    async def get_order_group(self, group_id: str) -> s.GetOrderGroupResponse:
        return await self._get(f"/portfolio/order_groups/{_q(group_id)}", s.GetOrderGroupResponse)

    async def update_order_group_limit(self, group_id: str, contracts_limit: int) -> None:
        body = s.UpdateOrderGroupLimitRequest(contracts_limit_fp=format_qty(contracts_limit))
        await self.request("PUT", f"/portfolio/order_groups/{_q(group_id)}/limit", body=body)

    async def trigger_order_group(self, group_id: str) -> None:
        await self.request("PUT", f"/portfolio/order_groups/{_q(group_id)}/trigger", body=b"{}")

    async def reset_order_group(self, group_id: str) -> None:
        await self.request("PUT", f"/portfolio/order_groups/{_q(group_id)}/reset", body=b"{}")

    async def delete_order_group(self, group_id: str) -> None:
        await self.request("DELETE", f"/portfolio/order_groups/{_q(group_id)}", priority=PRIORITY_CANCEL)


def signer_from_settings(settings: Settings) -> Signer:
    """A ``Signer`` from the configured key id and key file, with clear errors (never the key)."""
    creds = settings.credentials
    key_id = creds.key_id()
    pem = creds.read_private_key()
    return Signer.from_pem(key_id, pem)


__all__ = [
    "KalshiRestClient",
    "OutcomeUnknown",
    "order_request",
    "signer_from_settings",
]
