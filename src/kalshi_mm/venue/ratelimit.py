"""Client-side token buckets mirroring Kalshi's read and write budgets (kalshi-api.md section 10).

Kalshi meters every request against two buckets per account: *Write* (order create, amend,
decrease, cancel, batches, order groups) and *Read* (GETs and everything else). Each request costs
tokens (10 by default; a V2 cancel 2; batch cancel 2 per item; batch create 10 per item;
``GET /portfolio/orders/{id}`` 2). Buckets refill continuously at the tier's rate and hold
1 s (Read, and Write on Basic) or 2 s (Write above Basic) of budget.

``RateLimiter.acquire(method, path, items=1, priority=...)`` waits until the right bucket holds
the request's tokens, so requests wait locally instead of earning a 429. Waiters are served in
priority order (``PRIORITY_CANCEL`` < ``PRIORITY_MODIFY`` < ``PRIORITY_NEW``, then FIFO): a burst
of new orders never delays a cancel queued behind it. A 429 that happens anyway (another process
on the same key, a clock mismatch) calls ``penalize()``, which drains the bucket so that the next
requests wait a full refill.

The clock and the sleep are injectable so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

BucketName = Literal["read", "write"]

PRIORITY_CANCEL = 0
PRIORITY_MODIFY = 1
PRIORITY_NEW = 2
PRIORITY_READ = 3

DEFAULT_COST = 10
_EPS = 1e-9  # float refill arithmetic: 9.999999999 tokens are 10

#: tier -> (read tokens/s, write tokens/s), section 10.
TIERS: dict[str, tuple[int, int]] = {
    "basic": (200, 100),
    "advanced": (300, 300),
    "premier": (1_000, 1_000),
    "paragon": (2_000, 2_000),
    "prime": (4_000, 4_000),
}

_ORDER_ID = re.compile(r"^/portfolio/orders/[^/]+$")
_V2_ORDER = re.compile(r"^/portfolio/events/orders/[^/]+$")  # DELETE = cancel


def _relative(path: str) -> str:
    path = path.split("?", 1)[0]
    i = path.find("/trade-api/v2")
    if i >= 0:
        path = path[i + len("/trade-api/v2") :]
    return path.rstrip("/") or "/"


def classify(method: str, path: str, items: int = 1) -> tuple[BucketName, int]:
    """Which bucket a request draws from and how many tokens it costs.

    ``path`` may be absolute (``/trade-api/v2/...``) or relative to the API root; a query string
    is ignored. ``items`` is the number of orders in a batch call.
    """
    method = method.upper()
    rel = _relative(path)
    n = max(1, items)
    if rel.startswith("/portfolio/events/orders") or rel.startswith("/portfolio/order_groups"):
        if method == "GET":
            return "read", DEFAULT_COST
        if rel == "/portfolio/events/orders/batched":
            return "write", (2 if method == "DELETE" else DEFAULT_COST) * n
        if method == "DELETE" and _V2_ORDER.match(rel):
            return "write", 2
        return "write", DEFAULT_COST
    if rel.startswith("/portfolio/orders") and method != "GET":  # legacy V1 mutations: 10x
        return "write", DEFAULT_COST * 10 * n
    if method == "GET" and _ORDER_ID.match(rel) and not rel.endswith("/queue_positions"):
        return "read", 2
    return "read", DEFAULT_COST


@dataclass(slots=True)
class _Waiter:
    cost: float
    future: asyncio.Future[None]


class TokenBucket:
    """Continuous-refill token bucket with a priority queue of waiters.

    ``try_take`` never waits; ``take`` waits for tokens (highest priority first, FIFO within a
    priority). A request costing more than the capacity is charged the capacity (it would never
    be served otherwise).
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.name = name
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._stamp = clock()
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._seq = itertools.count()
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        #: counters for metrics and tests
        self.granted = 0
        self.waited = 0
        self.penalties = 0

    # -- state ---------------------------------------------------------------------------------
    def _refill(self) -> None:
        now = self._clock()
        dt = now - self._stamp
        if dt > 0:
            self._tokens = min(self.capacity, self._tokens + dt * self.rate)
        self._stamp = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    @property
    def queued(self) -> int:
        return len(self._heap)

    def _clip(self, cost: float) -> float:
        return min(float(cost), self.capacity)

    # -- taking ----------------------------------------------------------------------------------
    def try_take(self, cost: float) -> bool:
        """Take ``cost`` tokens now if nobody is queued and they are there."""
        cost = self._clip(cost)
        self._refill()
        if not self._heap and self._tokens >= cost - _EPS:
            self._tokens = max(0.0, self._tokens - cost)
            self.granted += 1
            return True
        return False

    async def take(self, cost: float, priority: int = PRIORITY_NEW) -> None:
        """Wait until ``cost`` tokens are available for this request, then take them."""
        if self.try_take(cost):
            return
        loop = asyncio.get_running_loop()
        w = _Waiter(self._clip(cost), loop.create_future())
        heapq.heappush(self._heap, (priority, next(self._seq), w))
        self.waited += 1
        self._kick()
        try:
            await w.future
        except asyncio.CancelledError:
            if not w.future.done() or w.future.cancelled():
                self._remove(w)
            else:  # granted just as we were cancelled: give the tokens back
                self._tokens = min(self.capacity, self._tokens + w.cost)
            raise

    def _remove(self, w: _Waiter) -> None:
        self._heap = [e for e in self._heap if e[2] is not w]
        heapq.heapify(self._heap)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()
        if self._pump is None or self._pump.done():
            self._wake = asyncio.Event()
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while self._heap:
            self._refill()
            _, _, head = self._heap[0]
            if head.future.done():  # cancelled waiter
                heapq.heappop(self._heap)
                continue
            if self._tokens >= head.cost - _EPS:
                heapq.heappop(self._heap)
                self._tokens = max(0.0, self._tokens - head.cost)
                self.granted += 1
                head.future.set_result(None)
                continue
            wait = max(1e-6, (head.cost - self._tokens) / self.rate)
            wake.clear()
            sleeper = asyncio.ensure_future(self._sleep(wait))
            waker = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (sleeper, waker):
                    if not t.done():
                        t.cancel()

    # -- feedback from the exchange ----------------------------------------------------------------
    def penalize(self) -> None:
        """The exchange said 429: our picture is too optimistic, so empty the bucket."""
        self._refill()
        self._tokens = 0.0
        self.penalties += 1

    def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        for _, _, w in self._heap:
            if not w.future.done():
                w.future.cancel()
        self._heap.clear()

    def __repr__(self) -> str:
        return f"TokenBucket({self.name!r}, rate={self.rate:g}/s, capacity={self.capacity:g}, queued={self.queued})"


class RateLimiter:
    """The Read and Write buckets of one API key.

    Build it from a tier name (``RateLimiter.for_tier("basic")``), from ``GET /account/limits``
    (``RateLimiter.from_limits(body)``), or with explicit rates. ``unlimited()`` gives a limiter
    that never waits (benchmarks, tests of other things).
    """

    def __init__(
        self,
        read_rate: float,
        write_rate: float,
        *,
        read_capacity: float | None = None,
        write_capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.read = TokenBucket(read_rate, read_capacity or read_rate, name="read", clock=clock, sleep=sleep)
        self.write = TokenBucket(
            write_rate, write_capacity or 2 * write_rate, name="write", clock=clock, sleep=sleep
        )

    @classmethod
    def for_tier(cls, tier: str = "basic", *, headroom: float = 0.1, **kw: Any) -> RateLimiter:
        """Buckets of a tier, kept ``headroom`` below the exchange's.

        The exchange's bucket starts refilling when *it* processes a burst, a little after we sent
        it, so a local bucket of exactly the same size would earn a 429 right after a full burst.
        By default the capacity is 10% smaller (absorbing ~100 ms of latency skew on Basic) and
        the rate 2% lower (clock drift); ``headroom=0`` mirrors the published numbers exactly.
        """
        try:
            r, w = TIERS[tier.lower()]
        except KeyError:
            raise ValueError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}") from None
        wcap = w if tier.lower() == "basic" else 2 * w
        return cls._with_headroom(r, w, r, wcap, headroom, **kw)

    @classmethod
    def from_limits(cls, body: Any, *, headroom: float = 0.1, **kw: Any) -> RateLimiter:
        """From ``GET /account/limits`` (a dict or ``schemas.AccountLimits``)."""
        if isinstance(body, dict):
            read, write = body["read"], body["write"]
            rr, rc, wr, wc = read["refill_rate"], read["bucket_capacity"], write["refill_rate"], write["bucket_capacity"]
        else:
            rr, rc = body.read.refill_rate, body.read.bucket_capacity
            wr, wc = body.write.refill_rate, body.write.bucket_capacity
        return cls._with_headroom(float(rr), float(wr), float(rc), float(wc), headroom, **kw)

    @classmethod
    def _with_headroom(
        cls, rr: float, wr: float, rc: float, wc: float, headroom: float, **kw: Any
    ) -> RateLimiter:
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be in [0, 1)")
        fr, fc = 1 - headroom / 5, 1 - headroom
        return cls(rr * fr, wr * fr, read_capacity=rc * fc, write_capacity=wc * fc, **kw)

    @classmethod
    def unlimited(cls) -> RateLimiter:
        return cls(1e9, 1e9, enabled=False)

    def bucket(self, name: BucketName) -> TokenBucket:
        return self.write if name == "write" else self.read

    async def acquire(self, method: str, path: str, items: int = 1, priority: int | None = None) -> None:
        """Wait for the tokens of one request (``items`` orders for a batch)."""
        if not self.enabled:
            return
        name, cost = classify(method, path, items)
        if priority is None:
            priority = PRIORITY_READ if name == "read" else PRIORITY_NEW
        await self.bucket(name).take(cost, priority)

    def penalize(self, method: str, path: str) -> None:
        """A 429 came back for this request: drain the bucket it drew from."""
        if self.enabled:
            self.bucket(classify(method, path)[0]).penalize()

    def close(self) -> None:
        self.read.close()
        self.write.close()

    def __repr__(self) -> str:
        return f"RateLimiter(read={self.read!r}, write={self.write!r}, enabled={self.enabled})"
