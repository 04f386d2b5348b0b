"""Risk rules: limits on what may rest, when quoting must stop, and the kill switch.

Exposure counts every live order as if it filled: in a market with signed position ``pos``,
resting bids ``B`` and asks ``A`` (in-flight amends count at the larger of old and new size),

    worst long  = pos + B          worst short = A - pos          exposure = max(both)

Rules (``RiskLimits``; a refusal is a ``RiskViolation`` naming the rule and the numbers):

- ``position_limit``: worst long and worst short <= ``max_position`` x size scale;
- ``total_position_limit``: sum of exposures over markets <= ``max_total_position``;
  (a command that lowers an already excessive number is allowed: limits never block a reduction)
- ``order_size``: no order larger than ``max_order_size`` (fat finger);
- ``max_open_orders``: live orders across markets <= ``max_open_orders``;
- ``close_window``: from ``stop_before_close_s`` before the close, only orders that cannot
  increase the position's size;
- ``reduce_only``: a reduce-only order must reduce the position;
- ``price_grid``: prices on the market's grid;
- ``daily_loss``: realized + unrealized - fees since the UTC day began <= -``max_daily_loss``
  halts the engine (cancel everything, quote nothing) until the next UTC day or ``reset``;
- ``kill_switch``: cancel everything, quote nothing until ``reset_kill``;
- ``stale_data``: no book update for ``stale_after_s`` -> that market's quotes are pulled;
- volatility-adaptive sizing (seed ind_research): with ``vol`` the stdev of the last 60 s of
  trade prices, ``scale = clamp(vol_ref / vol, min_size_scale, 1)`` multiplies order sizes (whole
  contracts, at least one) and ``max_position``.

``shape`` trims a strategy's targets so that they pass (sizes, capacity, close window); ``check``
is the last word on every command that could add exposure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kalshi_mm.core.commands import AmendOrder, Command, PlaceOrder
from kalshi_mm.core.strategies.base import TargetOrder, contracts
from kalshi_mm.domain.units import MONEY_SCALE, ONE_CONTRACT, Qty, format_qty
from kalshi_mm.errors import RiskViolation

if TYPE_CHECKING:
    from kalshi_mm.core.execution import LiveOrder
    from kalshi_mm.core.maker import MarketMaker


@dataclass(slots=True)
class RiskLimits:
    max_position: float = 100.0  # contracts per market (seed Kalshi_MM: 100)
    max_total_position: float = 500.0  # contracts, sum over markets
    max_order_size: float = 100.0  # contracts per order (fat finger)
    max_daily_loss: float = 50.0  # dollars (seed Kalshi_MM: 50.00)
    max_open_orders: int = 50  # live orders across markets
    stale_after_s: float = 10.0  # no book update for this long -> pull the market's quotes
    stop_before_close_s: float = 60.0  # no opening risk this close to the close
    vol_adaptive: bool = True
    vol_ref: float = 0.02  # dollars: 60 s trade stdev above which sizes shrink
    min_size_scale: float = 0.25


def exposure_sums(orders: Iterable[LiveOrder]) -> tuple[Qty, Qty]:
    """(resting bids, resting asks) counting in-flight amends at their larger size."""
    b = a = 0
    for o in orders:
        if o.side == "bid":
            b += o.exposure
        else:
            a += o.exposure
    return b, a


def exposure(pos: Qty, bids: Qty, asks: Qty) -> Qty:
    return max(pos + bids, asks - pos)


def _c(q: Qty) -> str:
    return format_qty(q)


class RiskManager:
    """Global risk state (kill switch, daily-loss halt, rejections) and the per-command checks."""

    def __init__(self, limits: RiskLimits | None = None) -> None:
        lim = self.limits = limits or RiskLimits()
        self.max_position: Qty = contracts(lim.max_position)
        self.max_total: Qty = contracts(lim.max_total_position)
        self.max_order: Qty = contracts(lim.max_order_size)
        self.max_daily_loss = round(lim.max_daily_loss * MONEY_SCALE)
        self.stale_ms = int(lim.stale_after_s * 1000)
        self.close_ms = int(lim.stop_before_close_s * 1000)
        self.killed: str | None = None
        self.halted: str | None = None
        self.day = -1
        self.day_baseline = 0  # total P&L (Money) when the UTC day began
        self.daily_pnl = 0
        self.rejections: deque[dict[str, Any]] = deque(maxlen=100)
        self.rejection_count = 0

    # -- state -------------------------------------------------------------------------------
    @property
    def blocked(self) -> str | None:
        """Why nothing may be quoted (kill switch or halt), or None."""
        return self.killed or self.halted

    def update_pnl(self, ts_ms: int, total_pnl: int) -> bool:
        """Track the day's P&L; True if the daily-loss limit was just breached (halt now)."""
        day = ts_ms // 86_400_000
        if day != self.day:
            if self.day >= 0 and self.halted and self.halted.startswith("daily_loss"):
                self.halted = None
            self.day = day
            self.day_baseline = total_pnl
        self.daily_pnl = total_pnl - self.day_baseline
        if self.halted is None and self.daily_pnl <= -self.max_daily_loss:
            self.halted = (
                f"daily_loss: day P&L {self.daily_pnl / MONEY_SCALE:.2f} $ <= "
                f"-{self.max_daily_loss / MONEY_SCALE:.2f} $"
            )
            return True
        return False

    def size_scale(self, vol: float) -> float:
        lim = self.limits
        if not lim.vol_adaptive or vol <= lim.vol_ref or vol <= 0:
            return 1.0
        return max(lim.min_size_scale, lim.vol_ref / vol)

    def record(self, v: RiskViolation, ticker: str, ts_ms: int) -> None:
        self.rejection_count += 1
        self.rejections.append({"ts_ms": ts_ms, "ticker": ticker, "rule": v.rule, "message": str(v)})

    # -- shaping -----------------------------------------------------------------------------
    def side_limits(self, mm: MarketMaker, others_exposure: Qty, ts_ms: int) -> tuple[Qty, Qty]:
        """(max worst long, max worst short) for this market now."""
        lim = min(mm.position_limit, self.max_total - others_exposure)
        long_lim = short_lim = lim
        if self.in_close_window(mm, ts_ms):
            pos = mm.position
            long_lim = min(long_lim, max(pos, 0))
            short_lim = min(short_lim, max(-pos, 0))
        return long_lim, short_lim

    def in_close_window(self, mm: MarketMaker, ts_ms: int) -> bool:
        close = mm.market.close_ts_ms
        return close > 0 and close - ts_ms <= self.close_ms

    def shape(
        self, targets: tuple[TargetOrder, ...], mm: MarketMaker, others_exposure: Qty, ts_ms: int
    ) -> tuple[TargetOrder, ...]:
        """Targets trimmed to pass ``check``: fat finger, volatility scale, capacity, close window."""
        if not targets:
            return targets
        pos = mm.pos.qty
        scale = mm.size_scale
        # side_limits(mm, others_exposure, ts_ms), inline
        lim = mm.position_limit
        x = self.max_total - others_exposure
        if x < lim:
            lim = x
        long_lim = short_lim = lim
        close = mm.market.close_ts_ms
        if close > 0 and close - ts_ms <= self.close_ms:  # in_close_window
            long_lim = min(long_lim, max(pos, 0))
            short_lim = min(short_lim, max(-pos, 0))
        base_b = base_a = 0
        for o in mm.orders.values():
            t = None
            tag = o.tag
            for x_ in targets:  # the last target with this tag (as a dict by tag would keep)
                if x_.tag == tag:
                    t = x_
            if (
                t is not None
                and o.inflight != "cancel"
                and o.side == t.side  # o.compatible(t)
                and o.time_in_force == t.time_in_force
                and o.post_only == t.post_only
                and o.reduce_only == t.reduce_only
            ):
                continue  # will be replaced by its target
            if o.side == "bid":
                base_b += o.exposure
            else:
                base_a += o.exposure
        room_b = long_lim - pos - base_b
        room_a = short_lim + pos - base_a
        max_order = self.max_order
        out: list[TargetOrder] = []
        for t in targets:
            size = t.size
            if t.reduce_only:
                cap = -pos if t.side == "bid" else pos
                size = min(size, cap, max_order)
            else:
                if scale < 1.0:
                    size = max(ONE_CONTRACT, int(size * scale) // ONE_CONTRACT * ONE_CONTRACT)
                room = room_b if t.side == "bid" else room_a
                if max_order < size:
                    size = max_order
                if room < size:
                    size = room
            if size <= 0:
                continue
            if t.side == "bid":
                room_b -= size
            else:
                room_a -= size
            if size == t.size:
                out.append(t)
            else:
                # the last resize of this tag, reused while the target and size are the same
                resized = mm.resized
                c = resized.get(t.tag)
                if c is None or c[0] is not t or c[1] != size:
                    c = resized[t.tag] = (t, size, _resize(t, size))
                out.append(c[2])
        if len(out) == len(targets) and all(a is b for a, b in zip(out, targets, strict=True)):
            return targets
        return tuple(out)

    # -- checks ------------------------------------------------------------------------------
    def check(
        self, cmd: Command, mm: MarketMaker, others_exposure: Qty, open_orders: int, ts_ms: int
    ) -> RiskViolation | None:
        """None if ``cmd`` may go out; else the violated rule with the numbers."""
        if not isinstance(cmd, PlaceOrder | AmendOrder):
            return None  # cancels and decreases only lower risk
        if self.blocked:
            rule = "kill_switch" if self.killed else "daily_loss"
            return RiskViolation(rule, f"{self.blocked}; {type(cmd).__name__} refused")
        grid = mm.market.grid
        if not grid.is_valid(cmd.price):
            return RiskViolation("price_grid", f"price {cmd.price} is not on the grid of {mm.ticker}")
        pos = mm.position
        bids, asks = exposure_sums(mm.orders.values())
        before_long, before_short = pos + bids, asks - pos
        if isinstance(cmd, PlaceOrder):
            size = cmd.count
            if open_orders + 1 > self.limits.max_open_orders:
                return RiskViolation(
                    "max_open_orders", f"{open_orders} open + 1 > limit {self.limits.max_open_orders}"
                )
            if cmd.reduce_only:
                ok = (cmd.side == "bid" and pos < 0) or (cmd.side == "ask" and pos > 0)
                if not ok:
                    return RiskViolation("reduce_only", f"{cmd.side} of {_c(size)} cannot reduce position {_c(pos)}")
            if cmd.side == "bid":
                bids += size
            else:
                asks += size
        else:
            o = mm.orders.get(cmd.client_order_id)
            if o is None:
                return RiskViolation("unknown_order", f"amend of unknown order {cmd.client_order_id}")
            size = cmd.count - o.filled
            old = o.exposure
            new = max(size, o.remaining)  # while in flight either size may fill
            if o.side == "bid":
                bids += new - old
            else:
                asks += new - old
        if size > self.max_order:
            return RiskViolation("order_size", f"size {_c(size)} > max_order_size {_c(self.max_order)}")
        after_long, after_short = pos + bids, asks - pos
        limit = mm.position_limit
        for side, before, after in (("long", before_long, after_long), ("short", before_short, after_short)):
            if after > limit and after > before:
                return RiskViolation(
                    "position_limit",
                    f"{mm.ticker}: worst {side} {_c(after)} (position {_c(pos)}, bids {_c(bids)}, "
                    f"asks {_c(asks)}) > limit {_c(limit)}",
                )
        total_before = others_exposure + max(before_long, before_short)
        total_after = others_exposure + max(after_long, after_short)
        if total_after > self.max_total and total_after > total_before:
            return RiskViolation(
                "total_position_limit",
                f"total exposure {_c(total_after)} > limit {_c(self.max_total)} (was {_c(total_before)})",
            )
        if self.in_close_window(mm, ts_ms) and (
            (after_long > max(pos, 0) and after_long > before_long)
            or (after_short > max(-pos, 0) and after_short > before_short)
        ):
            left = (mm.market.close_ts_ms - ts_ms) / 1000
            return RiskViolation(
                "close_window",
                f"{mm.ticker} closes in {left:.1f} s <= {self.limits.stop_before_close_s:g} s: "
                f"only reducing orders (position {_c(pos)})",
            )
        return None


def _resize(t: TargetOrder, size: Qty) -> TargetOrder:
    return TargetOrder(t.tag, t.side, t.price, size, t.post_only, t.time_in_force, t.reduce_only, t.max_age_ms)
