"""The dashboard: a FastAPI app over a read-only view of the runtime, plus its controls.

The page is a view, never a second source of truth: every number comes from the runtime's
``DashboardSource`` (engine status, the exchange-confirmed orders and fills, the journal). State-
changing endpoints (start, stop, kill switch) need the token, sent as ``Authorization: Bearer``
or ``X-KMM-Token``; without it they answer 401. The app binds 127.0.0.1 unless told otherwise.

Endpoints (Kalshi_MM's, plus a few):

- ``GET /api/account/balance``, ``/api/account/positions``, ``/api/account/orders``,
  ``/api/account/fills``
- ``GET /api/strategy/status``, ``POST /api/strategy/start``, ``POST /api/strategy/stop``
- ``POST /api/risk/kill-switch`` (``{"engage": true|false}``), ``GET /api/risk/status``
- ``GET /api/markets``, ``GET /api/equity``, ``GET /api/snapshot`` (everything at once)
- ``WS /ws``: pushes the snapshot about twice a second
- ``GET /metrics``: Prometheus text format
- ``GET /``: the page
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from importlib import resources
from typing import Any, Protocol

from fastapi import Body, Depends, FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

log = logging.getLogger(__name__)


class DashboardSource(Protocol):
    """What the runtime offers the dashboard. Reads are cheap, synchronous snapshots."""

    def snapshot(self) -> dict[str, Any]: ...
    def balance(self) -> dict[str, Any]: ...
    def positions(self) -> list[dict[str, Any]]: ...
    def open_orders(self) -> list[dict[str, Any]]: ...
    def recent_fills(self, limit: int = 50) -> list[dict[str, Any]]: ...
    def strategy_status(self) -> dict[str, Any]: ...
    def risk_status(self) -> dict[str, Any]: ...
    def markets(self) -> list[dict[str, Any]]: ...
    def equity_curve(self) -> list[dict[str, Any]]: ...
    def metrics_text(self) -> bytes: ...
    async def start_trading(self) -> dict[str, Any]: ...
    async def stop_trading(self) -> dict[str, Any]: ...
    async def kill_switch(self, engage: bool, reason: str) -> dict[str, Any]: ...


def create_app(source: DashboardSource, token: str, *, push_interval_s: float = 0.5) -> FastAPI:
    if not token:
        raise ValueError("the dashboard needs a token for its state-changing endpoints")
    app = FastAPI(title="kalshi-mm dashboard", docs_url="/api/docs", openapi_url="/api/openapi.json")
    secret = token.encode()

    def require_token(
        authorization: str | None = Header(default=None), x_kmm_token: str | None = Header(default=None)
    ) -> None:
        given = x_kmm_token
        if given is None and authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:]
        if not given or not hmac.compare_digest(given.encode(), secret):
            raise HTTPException(status_code=401, detail="a valid dashboard token is required")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return resources.files("kalshi_mm.dashboard").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/api/account/balance")
    def balance() -> dict[str, Any]:
        return source.balance()

    @app.get("/api/account/positions")
    def positions() -> list[dict[str, Any]]:
        return source.positions()

    @app.get("/api/account/orders")
    def orders() -> list[dict[str, Any]]:
        return source.open_orders()

    @app.get("/api/account/fills")
    def fills(limit: int = 50) -> list[dict[str, Any]]:
        return source.recent_fills(max(1, min(limit, 1000)))

    @app.get("/api/strategy/status")
    def strategy_status() -> dict[str, Any]:
        return source.strategy_status()

    @app.post("/api/strategy/start", dependencies=[Depends(require_token)])
    async def start() -> dict[str, Any]:
        return await source.start_trading()

    @app.post("/api/strategy/stop", dependencies=[Depends(require_token)])
    async def stop() -> dict[str, Any]:
        return await source.stop_trading()

    @app.post("/api/risk/kill-switch", dependencies=[Depends(require_token)])
    async def kill_switch(body: dict[str, Any] | None = Body(default=None)) -> dict[str, Any]:
        body = body or {}
        engage = bool(body.get("engage", True))
        reason = str(body.get("reason", "dashboard"))[:200]
        return await source.kill_switch(engage, reason)

    @app.get("/api/risk/status")
    def risk_status() -> dict[str, Any]:
        return source.risk_status()

    @app.get("/api/markets")
    def markets() -> list[dict[str, Any]]:
        return source.markets()

    @app.get("/api/equity")
    def equity() -> list[dict[str, Any]]:
        return source.equity_curve()

    @app.get("/api/snapshot")
    def snapshot() -> dict[str, Any]:
        return source.snapshot()

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(source.metrics_text(), media_type="text/plain; version=0.0.4")

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        try:
            while True:
                await socket.send_json(source.snapshot())
                await asyncio.sleep(push_interval_s)
        except (WebSocketDisconnect, RuntimeError):
            return
        except Exception:  # a closed socket raises different errors per server
            log.debug("dashboard websocket closed", exc_info=True)

    return app
