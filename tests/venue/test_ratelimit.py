"""Token buckets on virtual time: costs of section 10, waiting instead of 429s, cancels first."""

from __future__ import annotations

import asyncio

import pytest

from kalshi_mm.venue.ratelimit import (
    PRIORITY_CANCEL,
    PRIORITY_MODIFY,
    PRIORITY_NEW,
    RateLimiter,
    TokenBucket,
    classify,
)


class VirtualClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, dt: float) -> None:
        self.t += max(0.0, dt)
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("method", "path", "items", "expected"),
    [
        ("POST", "/trade-api/v2/portfolio/events/orders", 1, ("write", 10)),
        ("DELETE", "/trade-api/v2/portfolio/events/orders/abc-123", 1, ("write", 2)),
        ("DELETE", "/portfolio/events/orders/abc?market_ticker=X", 1, ("write", 2)),
        ("POST", "/portfolio/events/orders/abc/amend", 1, ("write", 10)),
        ("POST", "/portfolio/events/orders/abc/decrease", 1, ("write", 10)),
        ("POST", "/portfolio/events/orders/batched", 7, ("write", 70)),
        ("DELETE", "/portfolio/events/orders/batched", 7, ("write", 14)),
        ("DELETE", "/portfolio/events/orders", 1, ("write", 10)),
        ("POST", "/portfolio/order_groups/create", 1, ("write", 10)),
        ("PUT", "/portfolio/order_groups/og/limit", 1, ("write", 10)),
        ("GET", "/trade-api/v2/portfolio/orders/abc", 1, ("read", 2)),
        ("GET", "/portfolio/orders/queue_positions", 1, ("read", 10)),
        ("GET", "/portfolio/orders", 1, ("read", 10)),
        ("GET", "/markets/X/orderbook", 1, ("read", 10)),
        ("POST", "/portfolio/orders", 1, ("write", 100)),  # legacy V1: 10x
    ],
)
def test_classify_costs(method: str, path: str, items: int, expected: tuple[str, int]) -> None:
    assert classify(method, path, items) == expected


def test_tiers() -> None:
    basic = RateLimiter.for_tier("basic", headroom=0)
    assert (basic.read.rate, basic.read.capacity) == (200, 200)
    assert (basic.write.rate, basic.write.capacity) == (100, 100)  # Basic write holds 1 s
    prem = RateLimiter.for_tier("premier", headroom=0)
    assert (prem.write.rate, prem.write.capacity) == (1000, 2000)  # others hold 2 s
    lim = RateLimiter.from_limits(
        {"read": {"refill_rate": 300, "bucket_capacity": 300}, "write": {"refill_rate": 300, "bucket_capacity": 600}},
        headroom=0,
    )
    assert lim.write.capacity == 600
    with pytest.raises(ValueError):
        RateLimiter.for_tier("gold")
    safe = RateLimiter.for_tier("basic")  # default: 10% smaller bucket, 2% slower refill
    assert (safe.write.rate, safe.write.capacity) == (pytest.approx(98), pytest.approx(90))


async def test_waits_for_tokens_instead_of_bursting() -> None:
    clk = VirtualClock()
    lim = RateLimiter(100, 100, read_capacity=100, write_capacity=100, clock=clk, sleep=clk.sleep)
    t0 = clk.t
    grants: list[float] = []

    async def create() -> None:
        await lim.acquire("POST", "/portfolio/events/orders")
        grants.append(clk.t - t0)

    await asyncio.gather(*(create() for _ in range(30)))
    # 10 immediately from the full bucket, then one every 0.1 s: the rate is never exceeded
    assert grants[:10] == [0.0] * 10
    assert grants[-1] == pytest.approx(2.0, abs=1e-6)
    for i in range(len(grants)):
        for j in range(i + 1, len(grants)):
            window = grants[j] - grants[i]
            assert (j - i + 1) * 10 <= 100 + 100 * window + 1e-6
    lim.close()


async def test_cancels_jump_the_queue() -> None:
    clk = VirtualClock()
    bucket = TokenBucket(10, 10, clock=clk, sleep=clk.sleep)
    assert bucket.try_take(10)
    order: list[str] = []

    async def req(name: str, prio: int) -> None:
        await bucket.take(10, prio)
        order.append(name)

    tasks = [asyncio.create_task(req(f"new{i}", PRIORITY_NEW)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(req("amend", PRIORITY_MODIFY)))
    tasks.append(asyncio.create_task(req("cancel", PRIORITY_CANCEL)))
    await asyncio.gather(*tasks)
    assert order[0] == "cancel"
    assert order[1] == "amend"
    assert order[2:] == ["new0", "new1", "new2"]


async def test_penalize_drains_bucket() -> None:
    clk = VirtualClock()
    lim = RateLimiter(100, 100, clock=clk, sleep=clk.sleep)
    assert lim.read.tokens == 100
    lim.penalize("GET", "/markets")
    assert lim.read.tokens == 0
    assert lim.write.tokens == 200  # the other bucket is untouched
    t0 = clk.t
    await lim.acquire("GET", "/markets")
    assert clk.t - t0 == pytest.approx(0.1)
    assert lim.read.penalties == 1


async def test_cancelled_waiter_leaves_queue() -> None:
    clk = VirtualClock()
    bucket = TokenBucket(10, 10, clock=clk, sleep=clk.sleep)
    bucket.try_take(10)

    async def never_sleep(dt: float) -> None:  # freeze time so waiters stay queued
        await asyncio.Event().wait()

    bucket._sleep = never_sleep
    t = asyncio.create_task(bucket.take(5))
    await asyncio.sleep(0)
    assert bucket.queued == 1
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    await asyncio.sleep(0)
    assert bucket.queued == 0
    bucket.close()


async def test_cost_above_capacity_is_clipped() -> None:
    clk = VirtualClock()
    lim = RateLimiter(100, 50, write_capacity=50, clock=clk, sleep=clk.sleep)
    await asyncio.wait_for(lim.acquire("POST", "/portfolio/events/orders/batched", items=20), 1)
    assert lim.write.tokens == 0


async def test_unlimited_never_waits() -> None:
    lim = RateLimiter.unlimited()
    for _ in range(1000):
        await lim.acquire("POST", "/portfolio/events/orders")
