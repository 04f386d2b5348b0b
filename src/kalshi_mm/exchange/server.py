"""The local Kalshi-compatible exchange: an aiohttp app serving kalshi-api.md over real sockets.

REST under ``/trade-api/v2`` (``exchange/rest.py``), WebSocket at ``/trade-api/ws/v2``
(``exchange/ws.py``), admin endpoints under ``/admin`` (``exchange/admin.py``), matching in the
pure ``exchange/matching.py``, synthetic markets and participants in ``exchange/flow.py``.

Use it from tests (port 0 = an ephemeral port; never hard-code ports)::

    async with run_exchange(ExchangeConfig(seed=1, flow=False, market_seconds=5)) as ex:
        ex.base_url          # "http://127.0.0.1:<port>" (REST at + "/trade-api/v2")
        ex.rest_url, ex.ws_url
        ex.api_key_id        # a funded account's key id
        ex.private_key_pem   # bytes (PKCS#1 RSA by default); ex.private_key_file if keys_dir
        ex.state             # ExchangeState: .engine (MatchingEngine), .scheduler, .flow, .faults
        ex.add_user(balance_cents=...)  # -> UserKey(user_id, api_key_id, private_key_pem)

``ExchangeConfig`` (all optional):

=========================== =====================================================================
``seed``                    seeds every RNG (flow, results, fault draws); ids are deterministic
``flow`` / ``flow_speed``   synthetic participants on/off and their activity multiplier
``markets``                 markets open at once (spread over the series as strikes per event)
``market_seconds``          lifetime of the shortest series (others scale: x4, x96); None = real
                            (15 min / 1 h / 1 day)
``series``                  explicit ``SeriesSpec`` tuple instead of the defaults
``determine_delay_s``       close -> determined delay; ``settlement_timer_s`` determined -> paid
``starting_balance_cents``  cash of every funded user (default $100,000)
``tier``                    basic | advanced | premier | paragon | prime (token buckets, section 10)
``rate_limits``             False disables the token buckets
``fee_type``                override every series' fee_type (quadratic, quadratic_with_maker_fees ...)
``fee_rounding``            Kalshi's balance rounding accumulator (domain.fees.FeeAccumulator)
``post_only_reject``        True: crossing post-only => 400 "post only cross"; False: cancel-style
``skew_s``                  accepted clock skew of KALSHI-ACCESS-TIMESTAMP (default 5 s)
``ping_interval_s``         WS ping period (10 s, payload "heartbeat")
``tick_s``                  period of the background loop (lifecycle, flow, expiries)
``faults``                  ``Faults`` (see below); also changeable at run time (POST /admin/faults)
``key_kind``                "rsa" (PKCS#1 PEM) or "ed25519" (PKCS#8) for generated keys
``max_batch``               batch size limit (default: write bucket capacity / 10)
``admin_token``             if set, /admin needs ``Authorization: Bearer <token>``
=========================== =====================================================================

``Faults``: ``error_429_rate`` / ``error_500_rate`` (fraction of /trade-api requests answered
429/500 before being processed), ``error_500_after_rate`` (processed, then answered 500: the
"outcome unknown" case), ``rest_delay_ms``, ``ws_delay_ms`` (every WS message held that long),
``ws_drop_after`` (abort each WS connection after N messages), ``skip_seq_every`` (skip a seq
number every N sequenced messages per sid), ``stall_until`` (monotonic time; the admin action
``stall_s`` sets it). One-shot admin actions: ``close_sockets``, ``skip_seq``, ``stall_s``,
``pause_market``, ``resume_market``, ``trading_active``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from aiohttp import web

from kalshi_mm.domain.units import MONEY_PER_CENT
from kalshi_mm.errors import ProtocolError
from kalshi_mm.exchange import rest
from kalshi_mm.exchange.flow import DEFAULT_SERIES, FlowParams, MarketScheduler, SeriesSpec, SyntheticFlow
from kalshi_mm.exchange.matching import MatchingEngine
from kalshi_mm.exchange.model import EngineReject
from kalshi_mm.exchange.ws import Hub
from kalshi_mm.kalshi import auth

log = logging.getLogger("kalshi_mm.exchange")

REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"

#: tier -> ((read rate, read capacity), (write rate, write capacity)); kalshi-api.md section 10.
TIERS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "basic": ((200, 200), (100, 100)),
    "advanced": ((300, 300), (300, 600)),
    "premier": ((1000, 1000), (1000, 2000)),
    "paragon": ((2000, 2000), (2000, 4000)),
    "prime": ((4000, 4000), (4000, 8000)),
}
DEFAULT_COST = 10
#: Non-default costs (path relative to /trade-api/v2); batch costs are per item.
ENDPOINT_COSTS: dict[tuple[str, str], int] = {
    ("DELETE", "/portfolio/events/orders/{order_id}"): 2,
    ("DELETE", "/portfolio/events/orders/batched"): 2,
    ("POST", "/portfolio/events/orders/batched"): 10,
    ("GET", "/portfolio/orders/{order_id}"): 2,
}
_BATCH = {("DELETE", "/portfolio/events/orders/batched"), ("POST", "/portfolio/events/orders/batched")}
_ORDER_PATHS = ("/portfolio/events/orders", "/portfolio/orders")


@dataclass
class Faults:
    """Fault injection; every field may be changed while the exchange runs."""

    error_429_rate: float = 0.0
    error_500_rate: float = 0.0
    error_500_after_rate: float = 0.0
    rest_delay_ms: int = 0
    ws_delay_ms: int = 0
    ws_drop_after: int | None = None
    skip_seq_every: int | None = None
    stall_until: float = 0.0  # time.monotonic() until which WS output is held

    def public(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stall_s"] = max(0.0, self.stall_until - time.monotonic())
        del d["stall_until"]
        return d


@dataclass
class ExchangeConfig:
    seed: int = 1
    flow: bool = True
    flow_speed: float = 1.0
    markets: int = 3
    market_seconds: float | None = None
    series: tuple[SeriesSpec, ...] | None = None
    determine_delay_s: float = 1.0
    settlement_timer_s: int = 1
    starting_balance_cents: int = 10_000_000
    tier: str = "basic"
    rate_limits: bool = True
    fee_type: str | None = None
    fee_rounding: bool = False
    post_only_reject: bool = True
    skew_s: float = 5.0
    ping_interval_s: float = 10.0
    tick_s: float = 0.05
    faults: Faults = field(default_factory=Faults)
    flow_params: FlowParams | None = None
    key_kind: str = "rsa"
    max_batch: int | None = None
    ws_queue_limit: int = 200_000
    admin_token: str | None = None

    def resolved_series(self) -> tuple[SeriesSpec, ...]:
        base = self.series if self.series is not None else DEFAULT_SERIES
        if self.series is None:
            n = max(1, min(self.markets, len(base)))
            counts = [0] * n
            for i in range(max(1, self.markets)):
                counts[i % n] += 1
            base = tuple(
                dataclasses.replace(s, markets_per_event=c) for s, c in zip(base[:n], counts, strict=True)
            )
        if self.market_seconds is not None:
            p0 = base[0].period_s
            base = tuple(dataclasses.replace(s, period_s=self.market_seconds * s.period_s / p0) for s in base)
        if self.fee_type is not None:
            base = tuple(dataclasses.replace(s, fee_type=self.fee_type) for s in base)
        return base


class UserKey(NamedTuple):
    user_id: str
    api_key_id: str
    private_key_pem: bytes


class TokenBucket:
    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.last = time.monotonic()

    def take(self, cost: float) -> bool:
        now = time.monotonic()
        t = self.tokens + (now - self.last) * self.rate
        self.tokens = t if t < self.capacity else self.capacity
        self.last = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


class RateLimited(Exception):
    pass


class Unauthorized(Exception):
    """401 with a Kalshi-style error body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExchangeState:
    """Everything the running exchange holds: engine, flow, keys, buckets, faults, WS hub."""

    def __init__(self, config: ExchangeConfig) -> None:
        self.config = config
        self.faults = config.faults
        self.rng = random.Random(config.seed)
        self.fault_rng = random.Random(config.seed + 1)
        self.engine = MatchingEngine(
            post_only_reject=config.post_only_reject,
            fee_rounding=config.fee_rounding,
            id_salt=config.seed,
        )
        self.started_ms = self.now_ms()
        params = config.flow_params or FlowParams()
        params = dataclasses.replace(
            params,
            speed=config.flow_speed if config.flow_params is None else params.speed,
            determine_delay_s=config.determine_delay_s,
            settlement_timer_s=config.settlement_timer_s,
        )
        self.params = params
        series = config.resolved_series()
        self.series: dict[str, SeriesSpec] = {s.ticker: s for s in series}
        self.scheduler = MarketScheduler(
            self.engine, series, params, self.rng, self.started_ms, config.fee_type
        )
        self.flow: SyntheticFlow | None = (
            SyntheticFlow(self.engine, self.scheduler, params, self.rng) if config.flow else None
        )
        self.keys: dict[str, tuple[str, auth.PublicKey]] = {}
        self.user_keys: dict[str, str] = {}  # user id -> key id
        self.buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self.hub = Hub(self)
        self.announced_events: dict[str, bool] = {}
        self._verified: dict[tuple[str, str, str, str, str], None] = {}
        self._task: asyncio.Task[None] | None = None
        (_, _), (_, wc) = self.tier_limits()
        self.max_batch = config.max_batch or max(1, wc // DEFAULT_COST)
        self.requests = 0
        self.scheduler.step(self.started_ms)
        self.engine.advance(self.started_ms)
        self.engine.drain()

    # -- clock, users, keys ----------------------------------------------------------------------
    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    def tier_limits(self) -> tuple[tuple[int, int], tuple[int, int]]:
        if self.config.tier not in TIERS:
            raise ValueError(f"unknown tier {self.config.tier!r}; use one of {', '.join(TIERS)}")
        return TIERS[self.config.tier]

    def add_user(
        self, balance_cents: int | None = None, *, kind: str | None = None, user_id: str | None = None
    ) -> UserKey:
        """A new funded account with a fresh key pair (the private key is returned, not kept)."""
        priv, pub = auth.generate_key(kind or self.config.key_kind)
        uid = user_id or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        bal = self.config.starting_balance_cents if balance_cents is None else balance_cents
        self.engine.add_account(uid, bal * MONEY_PER_CENT)
        kid = self.register_key(uid, pub)
        return UserKey(uid, kid, priv)

    def register_key(self, user_id: str, public_pem: bytes, key_id: str | None = None) -> str:
        kid = key_id or str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.keys[kid] = (user_id, auth.load_public_key(public_pem))
        self.user_keys[user_id] = kid
        return kid

    # -- auth and rate limits --------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> str | None:
        """The user id of a correctly signed request, None without auth headers; raises 401."""
        h = request.headers
        kid = h.get(auth.HEADER_KEY)
        ts = h.get(auth.HEADER_TIMESTAMP)
        sig = h.get(auth.HEADER_SIGNATURE)
        if kid is None and ts is None and sig is None:
            return None
        if not kid or not ts or not sig:
            raise Unauthorized("missing authentication headers")
        entry = self.keys.get(kid)
        if entry is None:
            raise Unauthorized("unknown API key")
        try:
            ts_ms = int(ts)
        except ValueError:
            raise Unauthorized("invalid timestamp") from None
        if abs(self.now_ms() - ts_ms) > self.config.skew_s * 1000:
            raise Unauthorized("timestamp outside the accepted window")
        path = request.raw_path.split("?", 1)[0]
        key = (kid, ts, request.method, path, sig)
        if key not in self._verified:
            if not auth.verify_signature(entry[1], ts, request.method, path, sig):
                raise Unauthorized("invalid signature")
            if len(self._verified) > 4096:
                self._verified.clear()
            self._verified[key] = None
        return entry[0]

    def _buckets(self, key: str) -> tuple[TokenBucket, TokenBucket]:
        b = self.buckets.get(key)
        if b is None:
            (rr, rc), (wr, wc) = self.tier_limits()
            b = self.buckets[key] = (TokenBucket(rr, rc), TokenBucket(wr, wc))
        return b

    def charge(self, request: web.Request, bucket: str, cost: int) -> None:
        if not self.config.rate_limits or cost <= 0:
            return
        key = request.get(rest.USER) or "ip:" + (request.remote or "")
        b = self._buckets(key)[0 if bucket == "read" else 1]
        if not b.take(cost):
            raise RateLimited()

    # -- loop ------------------------------------------------------------------------------------
    def publish(self) -> None:
        events = self.engine.drain()
        if events:
            self.hub.publish(events)

    def tick(self) -> None:
        now = self.now_ms()
        self.engine.advance(now)
        self.scheduler.step(now)
        if self.flow is not None:
            self.flow.step(now)
        self.engine.advance(now)
        self.publish()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                self.tick()
            except Exception:  # the loop must survive a bug in one tick; it is logged
                log.exception("exchange tick failed")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.hub.close_all()


def _route_template(request: web.Request) -> str:
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    canonical = getattr(resource, "canonical", None) or request.path
    return canonical[len(REST_PREFIX) :] if canonical.startswith(REST_PREFIX) else canonical


@web.middleware
async def api_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    path = request.path
    if not path.startswith(REST_PREFIX + "/"):
        return await handler(request)  # type: ignore[no-any-return]
    st: ExchangeState = request.app[rest.STATE]
    st.requests += 1
    f = st.faults
    if f.rest_delay_ms:
        await asyncio.sleep(f.rest_delay_ms / 1000)
    if f.error_429_rate and st.fault_rng.random() < f.error_429_rate:
        return web.Response(body=b'{"error":"too many requests"}', status=429, content_type=rest.JSON)
    if f.error_500_rate and st.fault_rng.random() < f.error_500_rate:
        return rest.error(500, "internal_server_error", "injected fault")
    template = _route_template(request)
    method = request.method
    log_order = False
    try:
        user = st.authenticate(request)
        if user is None and (template.startswith("/portfolio") or template.startswith("/account")):
            return rest.error(401, "unauthorized", "authentication required")
        request[rest.USER] = user
        log_order = user is not None and template.startswith(_ORDER_PATHS) and method != "GET"
        if template.startswith(("/portfolio/orders", "/portfolio/orders/")) and method != "GET":
            cost = 0  # legacy V1 mutation: answered 410
        elif (method, template) in _BATCH:
            cost = 0  # charged per item by the handler
        else:
            cost = ENDPOINT_COSTS.get((method, template), DEFAULT_COST)
        write = method != "GET" and template.startswith(
            ("/portfolio/events/orders", "/portfolio/order_groups")
        )
        st.charge(request, "write" if write else "read", cost)
        resp = await handler(request)
    except RateLimited:
        resp = web.Response(body=b'{"error":"too many requests"}', status=429, content_type=rest.JSON)
    except EngineReject as e:
        resp = rest.error(e.status, e.code, e.details)
    except rest.QueryError as e:
        resp = rest.respond({"msg": str(e)}, 400)
    except ProtocolError as e:
        resp = rest.error(400, "bad_request", str(e))
    except Unauthorized as e:
        resp = rest.error(401, "unauthorized", e.message)
    except web.HTTPMethodNotAllowed:
        resp = rest.error(405, "method_not_allowed", f"{method} is not allowed on {path}")
    except web.HTTPNotFound:
        resp = rest.error(404, "not_found", f"no route {method} {path}")
    if log_order:
        body: Any = None
        with contextlib.suppress(Exception):
            raw = await request.read()
            body = raw.decode() if raw else None
        acct = st.engine.accounts.get(request[rest.USER])
        if acct is not None:
            acct.log.append(
                {
                    "ts_ms": st.now_ms(),
                    "method": method,
                    "path": path,
                    "query": request.query_string,
                    "body": body,
                    "status": resp.status,
                }
            )
    if f.error_500_after_rate and st.fault_rng.random() < f.error_500_after_rate:
        return rest.error(500, "internal_server_error", "injected fault (request was processed)")
    return resp


async def ws_handler(request: web.Request) -> web.StreamResponse:
    st: ExchangeState = request.app[rest.STATE]
    try:
        user = st.authenticate(request)
    except Unauthorized as e:
        return rest.error(401, "unauthorized", e.message)
    if user is None:
        return rest.error(401, "unauthorized", "authentication required")
    return await st.hub.handle(request, user)


def create_app(state: ExchangeState) -> web.Application:
    from kalshi_mm.exchange import admin

    app = web.Application(middlewares=[api_middleware], client_max_size=4 << 20)
    app[rest.STATE] = state
    app.router.add_get(WS_PATH, ws_handler)
    rest.add_routes(app, REST_PREFIX)
    admin.add_routes(app)
    return app


def write_keys(keys_dir: Path, key: UserKey) -> Path:
    """Write ``api_key_id`` and ``private_key.pem`` (chmod 600) into ``keys_dir``; returns the pem path."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    (keys_dir / "api_key_id").write_text(key.api_key_id + "\n")
    pem = keys_dir / "private_key.pem"
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_key_pem)
    os.chmod(pem, 0o600)
    return pem


@dataclass
class ExchangeHandle:
    state: ExchangeState
    host: str
    port: int
    api_key_id: str
    private_key_pem: bytes
    user_id: str
    private_key_file: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return self.base_url + REST_PREFIX

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    def add_user(self, balance_cents: int | None = None, *, kind: str | None = None) -> UserKey:
        return self.state.add_user(balance_cents, kind=kind)


@contextlib.asynccontextmanager
async def run_exchange(
    config: ExchangeConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    keys_dir: str | Path | None = None,
) -> AsyncIterator[ExchangeHandle]:
    """Serve the exchange on ``host:port`` (0 = ephemeral) until the block exits."""
    state = ExchangeState(config or ExchangeConfig())
    key = state.add_user()
    app = create_app(state)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    actual = runner.addresses[0][1]
    pem_file = write_keys(Path(keys_dir), key) if keys_dir is not None else None
    state.start()
    handle = ExchangeHandle(state, host, actual, key.api_key_id, key.private_key_pem, key.user_id, pem_file)
    try:
        yield handle
    finally:
        await state.stop()
        await runner.cleanup()
