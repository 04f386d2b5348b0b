"""Dual-sided passive bids (seed mm_ws_listener), in YES-leg terms.

A NO bid at q is a YES ask at 1 - q, so "bid YES at p and bid NO at q" is a YES bid at p and a YES
ask at 1 - q, and the seed's guardrail ``bid_yes + bid_no <= 1 - cushion`` is ``ask - bid >= cushion``.

With the other participants' best YES bid ``b`` (size ``bs``) and ask ``a`` (size ``as``):

- entries only while ``a - b >= min_spread`` (per leg: the YES and NO spreads are the same number);
- YES leg: ``bid = b``, plus one tick if ``improve`` and the queue is thin (``bs <= thin_queue``);
  NO leg likewise: ``ask = a`` minus one tick if ``as <= thin_queue``;
- guardrail: while ``ask - bid < cushion`` drop the improvements (thicker queue first), then widen
  both legs a tick at a time; never cross (bid < a, ask > b);
- per-leg cap: a leg whose inventory (YES = max(pos, 0), NO = max(-pos, 0)) reached
  ``max_inventory`` stops bidding and sends reduce-only IOC orders of ``reduce_step`` at the
  other side's best price, at most one every ``reduce_cooldown_s``;
- after a fill, a post-only take-profit exit rests ``take_profit_ticks`` beyond the leg's average
  entry (a YES ask above the YES cost, or a YES bid below ``1 - NO cost``), never crossing, for
  ``min(exit_size, inventory)``; exits disappear when inventory is flat;
- quote TTL: entries older than ``quote_ttl_s`` are repriced even inside the debounce;
  exit TTL: an exit resting ``exit_ttl_s`` expires and is re-posted one tick closer to the entry
  (never below a scratch at the entry price).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from kalshi_mm.core.strategies.base import IOC, QuoteContext, StrategyBase, TargetOrder, contracts, dollars
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.units import ONE_DOLLAR, Price, Qty

NEVER = 1 << 62


@dataclass(slots=True)
class DualSidedParams:
    min_spread: float = 0.03  # dollars, per leg (seed --min-spread 3)
    bid_size: float = 5.0  # contracts per passive bid on each leg
    exit_size: float = 5.0  # contracts per exit
    cushion: float = 0.03  # dollars: bid_yes + bid_no <= 1 - cushion
    take_profit_ticks: int = 2
    quote_ttl_s: float = 6.0
    exit_ttl_s: float = 20.0
    max_inventory: float = 100.0  # contracts, per leg
    reduce_step: float = 10.0  # contracts per reduce-only IOC
    reduce_cooldown_s: float = 1.0
    improve: bool = True  # one-tick improvement on thin queues (seed --no-improve disables)
    thin_queue: float = 50.0  # contracts: a best level this small or smaller is "thin"


class DualSided(StrategyBase):
    name: ClassVar[str] = "dual_sided"
    uses_top_size: ClassVar[bool] = True
    Params = DualSidedParams

    def __init__(self, params: DualSidedParams | None, market: Market) -> None:
        p = self.p = params or DualSidedParams()
        self.market = market
        self.bid_size: Qty = contracts(p.bid_size)
        self.exit_size: Qty = contracts(p.exit_size)
        self.max_inv: Qty = contracts(p.max_inventory)
        self.reduce_step: Qty = contracts(p.reduce_step)
        self.thin: Qty = contracts(p.thin_queue)
        self.min_spread: Price = dollars(p.min_spread)
        self.cushion: Price = dollars(p.cushion)
        self.quote_ttl_ms = int(p.quote_ttl_s * 1000)
        self.exit_ttl_ms = int(p.exit_ttl_s * 1000)
        self.reduce_cooldown_ms = int(p.reduce_cooldown_s * 1000)
        self.tp_decay = 0  # ticks the take-profit has decayed through exit TTL expiries
        self.last_decay_ms = 0
        self.last_reduce_ms: int | None = None
        self._next_change = NEVER  # the last quote's timers (exit TTL, reduce cooldown)

    # -- hooks -------------------------------------------------------------------------------
    def on_fill(self, side: str, price: Price, count: Qty, tag: str, ctx: QuoteContext) -> None:
        if tag in ("bid", "ask"):
            self.tp_decay = 0  # a new entry: fresh take-profit
        if tag == "reduce":
            self.last_reduce_ms = ctx.ts_ms

    def on_order_done(self, tag: str, ctx: QuoteContext) -> None:
        if tag == "reduce":
            self.last_reduce_ms = ctx.ts_ms

    # -- quoting -----------------------------------------------------------------------------
    def entries(self, ctx: QuoteContext) -> tuple[Price | None, Price | None]:
        """(YES bid, YES ask = 1 - NO bid) for the entry legs, guardrail applied."""
        b, a = ctx.best_bid, ctx.best_ask
        if b is None or a is None or a - b < self.min_spread:
            return None, None
        grid = ctx.market.grid
        bid: Price | None = b
        ask: Price | None = a
        imp_b = imp_a = False
        if self.p.improve:
            if ctx.bid_size <= self.thin:
                nb = grid.tick_above(b)
                if nb is not None and nb < a:
                    bid, imp_b = nb, True
            if ctx.ask_size <= self.thin:
                na = grid.tick_below(a)
                if na is not None and na > b:
                    ask, imp_a = na, True
        # guardrail: bid_yes + bid_no <= 1 - cushion  <=>  ask - bid >= cushion
        if bid is not None and ask is not None and ask - bid < self.cushion:
            order = ("b", "a") if ctx.bid_size >= ctx.ask_size else ("a", "b")
            for leg in order:
                if ask - bid >= self.cushion:
                    break
                if leg == "b" and imp_b:
                    bid, imp_b = b, False
                elif leg == "a" and imp_a:
                    ask, imp_a = a, False
            lower = True
            while bid is not None and ask is not None and ask - bid < self.cushion:
                if lower:
                    bid = grid.tick_below(bid)
                else:
                    ask = grid.tick_above(ask)
                lower = not lower
        if bid is None or ask is None:
            return None, None
        return bid, ask

    def quote(self, ctx: QuoteContext) -> tuple[TargetOrder, ...]:
        grid = ctx.market.grid
        pos = ctx.position
        yes_inv = pos if pos > 0 else 0
        no_inv = -pos if pos < 0 else 0
        b, a = ctx.best_bid, ctx.best_ask
        out: list[TargetOrder] = []
        bid, ask = self.entries(ctx)
        if bid is not None and yes_inv < self.max_inv:
            out.append(TargetOrder("bid", "bid", bid, self.bid_size, max_age_ms=self.quote_ttl_ms))
        if ask is not None and no_inv < self.max_inv:
            out.append(TargetOrder("ask", "ask", ask, self.bid_size, max_age_ms=self.quote_ttl_ms))

        self._next_change = NEVER
        if pos == 0:
            self.tp_decay = 0
            return tuple(out)

        # exit TTL: a live exit that rested exit_ttl expires -> one tick less take-profit
        live_exit = ctx.live.get("exit")
        ts = ctx.ts_ms
        if (
            live_exit is not None
            and ts - live_exit.priced_ms >= self.exit_ttl_ms
            and ts - self.last_decay_ms >= self.exit_ttl_ms
            and self.tp_decay < self.p.take_profit_ticks
        ):
            self.tp_decay += 1
            self.last_decay_ms = ts
        if live_exit is not None and self.tp_decay < self.p.take_profit_ticks:
            self._next_change = max(live_exit.priced_ms, self.last_decay_ms) + self.exit_ttl_ms
        tp = self.p.take_profit_ticks - self.tp_decay
        if yes_inv:
            entry = grid.ceil(math.ceil(ctx.avg_cost - 1e-9))
            px = entry
            for _ in range(tp):
                if px is None:
                    break
                px = grid.tick_above(px)
            if px is not None and b is not None and px <= b:
                px = grid.tick_above(b)
            if px is not None:
                out.append(TargetOrder("exit", "ask", px, min(self.exit_size, yes_inv)))
        else:
            entry = grid.floor(math.floor(ONE_DOLLAR - ctx.avg_cost + 1e-9))
            px = entry
            for _ in range(tp):
                if px is None:
                    break
                px = grid.tick_below(px)
            if px is not None and a is not None and px >= a:
                px = grid.tick_below(a)
            if px is not None:
                out.append(TargetOrder("exit", "bid", px, min(self.exit_size, no_inv)))

        # inventory cap: reduce-only IOC at the other side's best price
        live_reduce = ctx.live.get("reduce")
        if live_reduce is not None:
            # keep the IOC in flight as it is (the execution layer never amends an IOC)
            out.append(self._reduce(live_reduce.side, live_reduce.price, live_reduce.remaining))
        elif self.last_reduce_ms is None or ts - self.last_reduce_ms >= self.reduce_cooldown_ms:
            if yes_inv >= self.max_inv and b is not None:
                out.append(self._reduce("ask", b, min(self.reduce_step, yes_inv)))
            elif no_inv >= self.max_inv and a is not None:
                out.append(self._reduce("bid", a, min(self.reduce_step, no_inv)))
        elif (yes_inv >= self.max_inv and b is not None) or (no_inv >= self.max_inv and a is not None):
            self._next_change = min(self._next_change, self.last_reduce_ms + self.reduce_cooldown_ms)
        return tuple(out)

    def next_change_ms(self, ctx: QuoteContext) -> int:
        """When the last quote's timers (exit TTL, reduce cooldown) could change it."""
        return self._next_change

    @staticmethod
    def _reduce(side: str, price: Price, size: Qty) -> TargetOrder:
        return TargetOrder("reduce", side, price, size, post_only=False, time_in_force=IOC, reduce_only=True)
