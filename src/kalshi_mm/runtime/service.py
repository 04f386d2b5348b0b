"""The runtime's read-only view (plus controls) that the dashboard serves.

Everything shown is derived from the runner's single sources of truth: the engine's status and
portfolio, the venue's exchange-confirmed orders and the fills the venue reported. Amounts are
formatted from integers at the edge (dollars as strings with 4 decimals, contracts with 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kalshi_mm.domain.units import MONEY_SCALE, format_price, format_qty

if TYPE_CHECKING:
    from kalshi_mm.runtime.runner import Runner


def _dollars(m: int | None) -> str:
    if m is None:
        return ""
    return f"{m / MONEY_SCALE:,.4f}"


def _price(p: int | float | None) -> str:
    if p is None:
        return ""
    if isinstance(p, float):
        return f"{p / 10_000:.4f}"
    return format_price(p)


def _qty(q: int | None) -> str:
    return "" if q is None else format_qty(q)


class RuntimeService:
    """Implements ``dashboard.app.DashboardSource`` over a running ``Runner``."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner

    # -- reads -----------------------------------------------------------------------------------
    def balance(self) -> dict[str, Any]:
        r = self.r
        st = r.engine.status()["totals"]
        return {
            "cash": _dollars(r.cash),
            "starting_balance": _dollars(r.start_balance),
            "realized_pnl": _dollars(st["realized_pnl"]),
            "unrealized_pnl": _dollars(st["unrealized_pnl"]),
            "fees": _dollars(st["fees"]),
            "total_pnl": _dollars(st["total_pnl"]),
        }

    def positions(self) -> list[dict[str, Any]]:
        out = []
        marks = {t: (None if mm.book.mid is None else round(mm.book.mid)) for t, mm in self.r.engine.markets.items()}
        for t, p in sorted(self.r.engine.portfolio.positions.items()):
            if not p.qty and not p.realized and not p.fees:
                continue
            out.append(
                {
                    "ticker": t,
                    "position": _qty(p.qty),
                    "avg_cost": _price(p.avg_cost) if p.qty else "",
                    "realized_pnl": _dollars(p.realized),
                    "unrealized_pnl": _dollars(p.unrealized(marks.get(t))),
                    "fees": _dollars(p.fees),
                }
            )
        return out

    def open_orders(self) -> list[dict[str, Any]]:
        return [
            {
                "ticker": o.ticker,
                "order_id": o.order_id,
                "client_order_id": o.client_order_id,
                "side": o.side,
                "price": _price(o.price),
                "remaining": _qty(o.remaining),
                "status": o.status,
            }
            for o in sorted(self.r.venue.live_orders(), key=lambda o: (o.ticker, o.side, o.price))
        ]

    def recent_fills(self, limit: int = 50) -> list[dict[str, Any]]:
        return [
            {
                "ts_ms": f.ts_ms,
                "ticker": f.ticker,
                "side": f.side,
                "price": _price(f.price),
                "count": _qty(f.count),
                "fee": _dollars(f.fee),
                "is_taker": f.is_taker,
            }
            for f in reversed(self.r.fills[-limit:])
        ]

    def strategy_status(self) -> dict[str, Any]:
        r = self.r
        return {
            "name": r.settings.strategy,
            "running": bool(r.engine.trading) and not r.stopping.is_set(),
            "killed": bool(r.engine.risk.killed),
            "halted": bool(r.engine.risk.halted),
            "markets": len(r.traders),
            "run": r.id_prefix,
            "started_ms": r.started_ms,
            "dry_run": r.opts.dry_run,
        }

    def risk_status(self) -> dict[str, Any]:
        st = self.r.engine.status()
        t = st["totals"]
        limits = self.r.engine.config.risk
        return {
            "killed": bool(st["killed"]),
            "kill_reason": st["killed"] or "",
            "halted": bool(st["halted"]),
            "exposure": _qty(t["exposure"]),
            "exposure_limit": _qty(t["exposure_limit"]),
            "daily_pnl": _dollars(t["daily_pnl"]),
            "daily_loss_limit": _dollars(t["daily_loss_limit"]),
            "open_orders": t["open_orders"],
            "max_position": limits.max_position,
            "max_order_size": limits.max_order_size,
            "last_rejections": [str(x) for x in st["rejections"][-3:]],
        }

    def markets(self) -> list[dict[str, Any]]:
        st = self.r.engine.status()["markets"]
        out = []
        for t, m in sorted(st.items()):
            bids = [o["price"] for o in m["orders"] if o["side"] == "bid"]
            asks = [o["price"] for o in m["orders"] if o["side"] == "ask"]
            out.append(
                {
                    "ticker": t,
                    "status": m["status"],
                    "bid": _price(m["bid"]),
                    "ask": _price(m["ask"]),
                    "mid": _price(m["mid"]),
                    "spread": _price(m["spread"]),
                    "our_bid": _price(max(bids)) if bids else "",
                    "our_ask": _price(min(asks)) if asks else "",
                    "position": _qty(m["position"]),
                    "close_ts_ms": m["close_ts_ms"],
                }
            )
        return out

    def equity_curve(self) -> list[dict[str, Any]]:
        return list(self.r.equity[-500:])

    def metrics_text(self) -> bytes:
        return self.r.metrics.render()

    def snapshot(self) -> dict[str, Any]:
        r = self.r
        return {
            "ts_ms": r.engine.now_ms or r.started_ms,
            "env": r.settings.env,
            "dry_run": r.opts.dry_run,
            "strategy": self.strategy_status(),
            "balance": self.balance(),
            "positions": self.positions(),
            "orders": self.open_orders(),
            "markets": self.markets(),
            "risk": self.risk_status(),
            "fills": self.recent_fills(20),
            "equity": self.equity_curve()[-300:],
        }

    # -- controls --------------------------------------------------------------------------------
    async def start_trading(self) -> dict[str, Any]:
        self.r.set_trading(True)
        return self.strategy_status()

    async def stop_trading(self) -> dict[str, Any]:
        self.r.set_trading(False)
        return self.strategy_status()

    async def kill_switch(self, engage: bool, reason: str) -> dict[str, Any]:
        if engage:
            self.r.kill(reason)
            await self.r.venue.drain(timeout=10)
        else:
            self.r.reset_kill()
        return self.risk_status()
