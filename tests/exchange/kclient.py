"""A small Kalshi client of the tests' own, written from kalshi-api.md only.

Signing (section 2) is done here with ``cryptography`` directly, not with the project's
``kalshi.auth``: RSA-PSS SHA-256 MGF1(SHA-256) salt 32 (or Ed25519) over
``<ts_ms><METHOD><path without query>``, base64 in ``KALSHI-ACCESS-SIGNATURE``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import websockets
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding

_KEYS: dict[bytes, Any] = {}


def sign_headers(key_id: str, pem: bytes, method: str, path: str, ts_ms: int | None = None) -> dict[str, str]:
    key = _KEYS.get(pem)
    if key is None:  # loading (and checking) an RSA key costs milliseconds: once per key
        key = _KEYS[pem] = serialization.load_pem_private_key(pem, password=None)
    ts = str(int(time.time() * 1000) if ts_ms is None else ts_ms)
    msg = (ts + method.upper() + path.split("?")[0]).encode()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        sig = key.sign(msg)
    else:
        sig = key.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": ts,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(sig).decode(),
    }


class Resp:
    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        self.status = status
        self.raw = body
        self.headers = headers

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


class KClient:
    """REST: ``await c.get("/markets", params)``; ``auth=False`` sends no signature headers."""

    def __init__(self, base_url: str, key_id: str | None = None, pem: bytes | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.prefix = "/trade-api/v2"
        self.key_id = key_id
        self.pem = pem
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.session.close()

    def headers(self, method: str, path: str) -> dict[str, str]:
        assert self.key_id and self.pem
        return sign_headers(self.key_id, self.pem, method, path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        body: Any = None,
        auth: bool = True,
        raw_body: bytes | None = None,
    ) -> Resp:
        full = self.prefix + path
        headers = self.headers(method, full) if auth and self.key_id else {}
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(
            method, self.base + full, params=params, data=data, headers=headers
        ) as r:
            return Resp(r.status, await r.read(), r.headers)

    async def get(self, path: str, params: Any = None, **kw: Any) -> Resp:
        return await self.request("GET", path, params=params, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Resp:
        return await self.request("POST", path, body=body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Resp:
        return await self.request("PUT", path, body=body, **kw)

    async def delete(self, path: str, body: Any = None, **kw: Any) -> Resp:
        return await self.request("DELETE", path, body=body, **kw)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.base + path, json=body) as r:
            assert r.status < 300, (r.status, await r.text())
            return await r.json()

    async def order(self, ticker: str, side: str, price: str, count: str, **extra: Any) -> Resp:
        body = {
            "ticker": ticker,
            "side": side,
            "price": price,
            "count": count,
            "time_in_force": extra.pop("time_in_force", "good_till_canceled"),
            "self_trade_prevention_type": extra.pop("self_trade_prevention_type", "taker_at_cross"),
            **extra,
        }
        return await self.post("/portfolio/events/orders", body)


class KWs:
    """WS client: ``await w.send({...})``, ``await w.recv()`` (decoded JSON), pings answered by websockets."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.next_id = 1

    @classmethod
    async def connect(cls, base_url: str, key_id: str, pem: bytes, **kw: Any) -> KWs:
        u = urlsplit(base_url)
        url = f"ws://{u.netloc}/trade-api/ws/v2"
        h = sign_headers(key_id, pem, "GET", "/trade-api/ws/v2")
        conn = await websockets.connect(url, additional_headers=h, max_size=None, **kw)
        return cls(conn)

    async def send(self, obj: dict[str, Any]) -> int:
        if "id" not in obj:
            obj = {"id": self.next_id, **obj}
            self.next_id += 1
        await self.conn.send(json.dumps(obj))
        return int(obj["id"])

    async def recv(self, timeout: float = 5.0) -> Any:
        import asyncio

        return json.loads(await asyncio.wait_for(self.conn.recv(), timeout))

    async def recv_until(self, pred: Any, timeout: float = 5.0) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, end - loop.time()))
            if pred(msg):
                return msg

    async def close(self) -> None:
        await self.conn.close()
