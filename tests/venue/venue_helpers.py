"""Shared helpers of the venue tests (imported by conftest and the test modules)."""

from __future__ import annotations

import aiohttp

from kalshi_mm.exchange.server import ExchangeConfig, ExchangeHandle
from kalshi_mm.kalshi.auth import Signer
from kalshi_mm.venue.policy import Backoff
from kalshi_mm.venue.ratelimit import RateLimiter
from kalshi_mm.venue.rest import KalshiRestClient


def make_config(**kw: object) -> ExchangeConfig:
    base: dict[str, object] = {
        "seed": 1,
        "flow": False,
        "markets": 3,
        "key_kind": "ed25519",
        "tier": "prime",
        "ping_interval_s": 1.0,
    }
    base.update(kw)
    return ExchangeConfig(**base)  # type: ignore[arg-type]


def make_client(ex: ExchangeHandle, **kw: object) -> KalshiRestClient:
    kw.setdefault("limiter", RateLimiter.for_tier(ex.state.config.tier))
    kw.setdefault("backoff", Backoff(base=0.01, cap=0.2))
    kw.setdefault("timeout", 5.0)
    return KalshiRestClient(
        "local", base_url=ex.base_url, signer=Signer.from_pem(ex.api_key_id, ex.private_key_pem), **kw  # type: ignore[arg-type]
    )


async def admin(ex: ExchangeHandle, method: str, path: str, body: object = None) -> object:
    async with aiohttp.ClientSession() as s, s.request(method, ex.base_url + path, json=body) as r:
        assert r.status < 300, await r.text()
        return await r.json()
