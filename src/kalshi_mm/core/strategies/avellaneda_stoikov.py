"""Avellaneda-Stoikov market making, made binary-aware (seeds KMM-v1 and ind_research).

In dollars (probability space), with ``s`` the mid (or microprice), ``q`` the inventory in units of
``q_unit`` contracts, ``sigma`` the volatility per sqrt(second), ``tau = min(T - t, horizon_s)``
seconds to the market's close and ``k`` the trade-intensity decay (fitted from trades when
``fit_k``, else the configured ``k``)::

    r      = s - q gamma sigma^2 tau + skew
    spread = gamma sigma^2 tau + (2 / gamma) ln(1 + gamma / k)
    bid    = r - spread / 2,  ask = r + spread / 2

the formulas of ``as_formula.as_quotes`` (shared with the paper reproduction; inlined here with
the same float operations, so both give the same numbers), then rounded onto
the grid by ``base.to_grid`` (bid down, ask up, sides outside the grid dropped, never crossing the
other participants' book, bid < ask). With ``fee_aware`` the quotes are widened tick by tick until
``(ask - bid) * size >= maker fee(bid) + maker fee(ask) + min_edge * size``, so a round trip is
never quoted at a guaranteed loss.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import ClassVar

from kalshi_mm.core.strategies.base import QuoteContext, StrategyBase, TargetOrder, contracts, to_grid
from kalshi_mm.domain.market import Market
from kalshi_mm.domain.units import PRICE_SCALE, Price, Qty

NEVER = 1 << 62
_EDGE = 1e-6  # Price units: keep this far from a rounding boundary when bounding the drift


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
        self._last: tuple[float, float, float, float, float, float, float] | None = None
        # what the last quote needs to bound its drift with time (next_change_ms)
        self._drift: tuple[int, float, float, float, float, float, bool] | None = None
        # caches of pure functions of their keys
        self._lterm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (gamma, k, (2/gamma) ln(1+gamma/k))
        self._tb: TargetOrder | None = None  # the last bid and ask targets (reused while equal)
        self._ta: TargetOrder | None = None
        self._fee_last: tuple[object, Qty, Price, Price, int] | None = None  # (fees, size, bid, ask, sum)

    @property
    def last(self) -> dict[str, float]:
        """The last quote's inputs and float quotes (for inspection)."""
        x = self._last
        if x is None:
            return {}
        return dict(zip(("s", "q", "sigma", "tau", "k", "bid_f", "ask_f"), x, strict=True))

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
        # inputs(ctx) and as_quotes(...), inline (the same float operations in the same order)
        p = self.p
        s = ctx.microprice if p.use_microprice else ctx.mid
        if s is None:
            self._drift = None
            return ()
        s /= PRICE_SCALE
        ts = ctx.ts_ms
        q = ctx.position / 100.0 / p.q_unit
        signals = ctx.signals
        sigma = signals.sigma(p.sigma_source, ts)
        if sigma < p.min_sigma:
            sigma = p.min_sigma
        close = self.market.close_ts_ms
        tau = p.horizon_s if close <= 0 else min(max(close - ts, 0) / 1000.0, p.horizon_s)
        k = p.k
        if p.fit_k:
            fit = signals.intensity()
            if fit is not None:
                k = min(max(fit[1], p.k_min), p.k_max)
        gamma = p.gamma
        skew = ctx.skew * p.alpha_weight / PRICE_SCALE
        if gamma <= 0 or k <= 0:
            raise ValueError("gamma and k must be positive")
        g0, k0, lterm = self._lterm
        if g0 != gamma or k0 != k:
            lterm = (2.0 / gamma) * math.log1p(gamma / k)
            self._lterm = (gamma, k, lterm)
        r = s - q * gamma * sigma * sigma * tau + skew  # reservation_price + skew
        half = (gamma * sigma * sigma * tau + lterm) / 2.0  # optimal_spread / 2
        bid_f, ask_f = r - half, r + half
        grid = ctx.market.grid
        bid, ask = to_grid(grid, bid_f * PRICE_SCALE, ask_f * PRICE_SCALE, ctx.best_bid, ctx.best_ask)
        if p.fee_aware and bid is not None and ask is not None:
            bid, ask = self._fee_widen(ctx, bid, ask)
        self._last = (s, q, sigma, tau, k, bid_f, ask_f)
        self._drift = (ts, q, sigma, tau, bid_f, ask_f, sigma > p.min_sigma and p.sigma_source != "trades")
        size = self.size
        tb: TargetOrder | None = None
        if bid is not None:
            tb = self._tb
            if tb is None or tb.price != bid or tb.size != size:
                tb = self._tb = TargetOrder("bid", "bid", bid, size)
            if ask is None:
                return (tb,)
        if ask is not None:
            ta = self._ta
            if ta is None or ta.price != ask or ta.size != size:
                ta = self._ta = TargetOrder("ask", "ask", ask, size)
            return (tb, ta) if tb is not None else (ta,)
        return ()

    def next_change_ms(self, ctx: QuoteContext) -> int:
        """A time before which the last quote cannot change unless an input other than time does.

        Time enters only through ``X = sigma^2 tau``, which never grows: ``tau`` shrinks toward
        the close and the EWMA part of sigma decays (rate at most ``1 / tau_ewma``). The bid is
        ``... - gamma (q + 1/2) X`` and the ask ``... - gamma (q - 1/2) X``; the distance of each
        float quote to the grid boundary it moves toward bounds how far X may fall, and the two
        decay rates bound how soon it can. Conservative: an early answer only costs a re-quote.
        """
        d = self._drift
        if d is None:
            return NEVER
        t0, q, sigma, tau, bid_f, ask_f, sigma_decays = d
        x0 = sigma * sigma * tau
        close = self.market.close_ts_ms
        tau_decays = close > t0
        if x0 <= 0.0 or not (sigma_decays or tau_decays):
            return NEVER
        if not (bid_f == bid_f and ask_f == ask_f):
            return t0 + 1
        prices = self.market.grid.prices
        gscale = self.p.gamma * PRICE_SCALE
        allowed = math.inf  # how far X may fall with both rounded quotes unchanged
        # bid: grid.floor(y) with y = bid_f * 10^4 + 1e-9, constant on [prices[i-1], prices[i])
        y = bid_f * PRICE_SCALE + 1e-9
        rate = gscale * (q + 0.5)  # dy / d(-X)
        if rate:
            i = bisect_right(prices, math.floor(y))
            if rate > 0:
                room = (prices[i] - y) if i < len(prices) else math.inf
            else:
                room = (y - prices[i - 1]) if i else math.inf
            allowed = (room - _EDGE) / abs(rate)
        # ask: grid.ceil(z) with z = ask_f * 10^4 - 1e-9, constant on (prices[j-1], prices[j]]
        z = ask_f * PRICE_SCALE - 1e-9
        rate = gscale * (q - 0.5)
        if rate:
            j = bisect_left(prices, math.ceil(z))
            if rate > 0:
                room = (prices[j] - z) if j < len(prices) else math.inf
            else:
                room = (z - prices[j - 1]) if j else math.inf
            allowed = min(allowed, (room - _EDGE) / abs(rate))
        if allowed <= 0.0:
            return t0 + 1
        if allowed >= x0:
            return NEVER  # not even X = 0 moves a quote across a boundary
        budget = -math.log1p(-allowed / x0)  # ln X may fall by this much
        if sigma_decays and tau_decays:
            budget /= 2.0
        dt = math.inf
        if sigma_decays:
            dt = ctx.signals._tau_ms * budget
        if tau_decays:
            dt = min(dt, (close - t0) * -math.expm1(-budget))
        return t0 + max(1, int(dt)) if dt < NEVER else NEVER

    def _fee_widen(self, ctx: QuoteContext, bid: Price, ask: Price) -> tuple[Price | None, Price | None]:
        fees, grid, size = ctx.fees, ctx.market.grid, self.size
        edge = round(self.p.min_edge * PRICE_SCALE) * size
        lower = True
        for _ in range(len(grid.prices)):
            last = self._fee_last
            if last is not None and last[0] is fees and last[1] == size and last[2] == bid and last[3] == ask:
                f = last[4]
            else:
                f = fees.maker_fee(bid, size) + fees.maker_fee(ask, size)
                self._fee_last = (fees, size, bid, ask, f)
            if (ask - bid) * size >= f + edge:
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
