"""Avellaneda-Stoikov market making, made binary-aware (seeds KMM-v1 and ind_research).

In dollars (probability space), with ``s`` the mid (or microprice), ``q`` the inventory in units of
``q_unit`` contracts, ``sigma`` the volatility per sqrt(second), ``tau = min(T - t, horizon_s)``
seconds to the market's close and ``k`` the trade-intensity decay (fitted from trades when
``fit_k``, else the configured ``k``)::

    r      = s - q gamma sigma^2 tau + skew
    spread = gamma sigma^2 tau + (2 / gamma) ln(1 + gamma / k)
    bid    = r - spread / 2,  ask = r + spread / 2

computed by ``as_formula.as_quotes`` (shared with the paper reproduction), then rounded onto
the grid by ``base.to_grid`` (bid down, ask up, sides outside the grid dropped, never crossing the
other participants' book, bid < ask). With ``fee_aware`` the quotes are widened tick by tick until
``(ask - bid) * size >= maker fee(bid) + maker fee(ask) + min_edge * size``, so a round trip is
never quoted at a guaranteed loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kalshi_mm.core.strategies.as_formula import as_quotes
from kalshi_mm.core.strategies.base import QuoteContext, StrategyBase, TargetOrder, contracts, to_grid
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.units import PRICE_SCALE, Price, Qty


@dataclass(slots=True)
class AvellanedaStoikovParams:
    gamma: float = 0.1  # risk aversion
    k: float = 100.0  # order-arrival decay per dollar (used until/unless a fit is available)
    fit_k: bool = True  # use k fitted from trades against the mid (signals.intensity)
    k_min: float = 5.0
    k_max: float = 2000.0
    sigma_source: str = "max"  # "trades" (60 s window), "mid" (EWMA) or "max" of both
    min_sigma: float = 0.0005  # dollars per sqrt(second), floor on the estimate
    horizon_s: float = 3600.0  # cap on T - t; used as T - t when the close time is unknown
    order_size: float = 10.0  # contracts per side
    q_unit: float = 1.0  # contracts per unit of inventory q
    fee_aware: bool = True
    min_edge: float = 0.0  # dollars per contract a round trip must earn beyond fees
    use_microprice: bool = False  # s = microprice instead of mid
    alpha_weight: float = 1.0  # multiplier of the external skew added to r


class AvellanedaStoikov(StrategyBase):
    name: ClassVar[str] = "avellaneda_stoikov"
    Params = AvellanedaStoikovParams

    def __init__(self, params: AvellanedaStoikovParams | None, market: Market) -> None:
        self.p = params or AvellanedaStoikovParams()
        self.market = market
        self.size: Qty = contracts(self.p.order_size)
        self.uses_top_size = self.p.use_microprice  # type: ignore[misc]
        self.last: dict[str, float] = {}

    def inputs(self, ctx: QuoteContext) -> tuple[float, float, float, float, float] | None:
        """(s, q, sigma, tau, k) in dollars / contracts / seconds, or None without a two-sided book."""
        p = self.p
        s = ctx.microprice if p.use_microprice else ctx.mid
        if s is None:
            return None
        s /= PRICE_SCALE
        q = ctx.position / 100.0 / p.q_unit
        sigma = ctx.signals.sigma(p.sigma_source, ctx.ts_ms)
        if sigma < p.min_sigma:
            sigma = p.min_sigma
        close = self.market.close_ts_ms
        tau = p.horizon_s if close <= 0 else min(max(close - ctx.ts_ms, 0) / 1000.0, p.horizon_s)
        k = p.k
        if p.fit_k:
            fit = ctx.signals.intensity()
            if fit is not None:
                k = min(max(fit[1], p.k_min), p.k_max)
        return s, q, sigma, tau, k

    def quote(self, ctx: QuoteContext) -> tuple[TargetOrder, ...]:
        x = self.inputs(ctx)
        if x is None:
            return ()
        s, q, sigma, tau, k = x
        p = self.p
        skew = ctx.skew * p.alpha_weight / PRICE_SCALE
        bid_f, ask_f = as_quotes(s, q, p.gamma, sigma, tau, k, skew)
        grid = ctx.market.grid
        bid, ask = to_grid(grid, bid_f * PRICE_SCALE, ask_f * PRICE_SCALE, ctx.best_bid, ctx.best_ask)
        if p.fee_aware and bid is not None and ask is not None:
            bid, ask = self._fee_widen(ctx, bid, ask)
        self.last = {"s": s, "q": q, "sigma": sigma, "tau": tau, "k": k, "bid_f": bid_f, "ask_f": ask_f}
        size = self.size
        out: list[TargetOrder] = []
        if bid is not None:
            out.append(TargetOrder("bid", "bid", bid, size))
        if ask is not None:
            out.append(TargetOrder("ask", "ask", ask, size))
        return tuple(out)

    def _fee_widen(self, ctx: QuoteContext, bid: Price, ask: Price) -> tuple[Price | None, Price | None]:
        fees, grid, size = ctx.fees, ctx.market.grid, self.size
        edge = round(self.p.min_edge * PRICE_SCALE) * size
        lower = True
        for _ in range(len(grid.prices)):
            if (ask - bid) * size >= fees.maker_fee(bid, size) + fees.maker_fee(ask, size) + edge:
                return bid, ask
            nb, na = grid.tick_below(bid), grid.tick_above(ask)
            if nb is None and na is None:
                break
            if (lower and nb is not None) or na is None:
                bid = nb  # type: ignore[assignment]
            else:
                ask = na
            lower = not lower
        return None, None
