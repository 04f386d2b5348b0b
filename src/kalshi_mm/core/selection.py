"""Market selection (seed ind_research's opportunity bot): score, rank, pick the top N.

    score = effective_volume / (volatility + eps)
            x exp(-(spread - target_spread)^2 / (2 spread_sigma^2))
            x time_factor x liveness

- ``effective_volume``: contracts, e.g. 24 h volume (``MarketStats.volume``), less ``min_volume``;
- ``volatility``: dollars (the 60 s trade-price stdev of ``core.signals``, or any estimate);
- ``spread``: dollars; a market without a two-sided book scores 0;
- ``time_factor = 0`` closer than ``min_time_to_close_s`` to the close, else
  ``1 - exp(-(time to close - min_time_to_close_s) / time_scale_s)`` (close time unknown: 1);
- ``liveness = 0`` if the market is not active, else ``exp(-seconds since last trade / idle_scale_s)``
  (never traded / unknown: 1).

``select`` returns the top N tickers by score plus every ``held`` ticker (a market that still
holds a position or resting orders is never dropped, whatever its score).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from kalshi_mm.core.maker import MarketMaker


@dataclass(slots=True)
class SelectionParams:
    top_n: int = 5
    target_spread: float = 0.04  # dollars
    spread_sigma: float = 0.03  # dollars
    eps: float = 0.005  # dollars, keeps calm markets finite
    min_volume: float = 0.0  # contracts subtracted from the volume
    min_time_to_close_s: float = 120.0
    time_scale_s: float = 600.0
    idle_scale_s: float = 300.0
    min_score: float = 0.0  # markets scoring at or below this are never picked


@dataclass(frozen=True, slots=True)
class MarketStats:
    ticker: str
    volume: float  # contracts (effective volume, e.g. 24 h)
    volatility: float  # dollars
    spread: float | None  # dollars; None without a two-sided book
    seconds_to_close: float | None = None
    seconds_since_trade: float | None = None
    active: bool = True


def score(s: MarketStats, p: SelectionParams | None = None) -> float:
    p = p or SelectionParams()
    if not s.active or s.spread is None:
        return 0.0
    vol = max(s.volume - p.min_volume, 0.0)
    if vol <= 0:
        return 0.0
    base = vol / (max(s.volatility, 0.0) + p.eps)
    fit = math.exp(-((s.spread - p.target_spread) ** 2) / (2.0 * p.spread_sigma**2))
    if s.seconds_to_close is None:
        time_factor = 1.0
    elif s.seconds_to_close <= p.min_time_to_close_s:
        return 0.0
    else:
        time_factor = 1.0 - math.exp(-(s.seconds_to_close - p.min_time_to_close_s) / p.time_scale_s)
    live = 1.0 if s.seconds_since_trade is None else math.exp(-max(s.seconds_since_trade, 0.0) / p.idle_scale_s)
    return base * fit * time_factor * live


def rank(stats: Iterable[MarketStats], p: SelectionParams | None = None) -> list[tuple[str, float]]:
    """(ticker, score), best first; ties broken by ticker for determinism."""
    p = p or SelectionParams()
    scored = [(s.ticker, score(s, p)) for s in stats]
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored


def select(
    stats: Iterable[MarketStats], p: SelectionParams | None = None, held: Iterable[str] = ()
) -> list[str]:
    """The top ``top_n`` tickers scoring above ``min_score``, then every held ticker not among them."""
    p = p or SelectionParams()
    ranked = rank(stats, p)
    picked = [t for t, sc in ranked if sc > p.min_score][: max(p.top_n, 0)]
    chosen = set(picked)
    for t in sorted(set(held)):
        if t not in chosen:
            picked.append(t)
            chosen.add(t)
    return picked


def stats_from_maker(mm: MarketMaker, now_ms: int) -> MarketStats:
    """``MarketStats`` of a running market (volume: the larger of 24 h volume and window trades)."""
    sig = mm.signals
    spread = mm.book.spread
    close = mm.market.close_ts_ms
    return MarketStats(
        ticker=mm.ticker,
        volume=max(mm.market.volume_24h, sig.trade_volume) / 100.0,
        volatility=sig.window_std(),
        spread=None if spread is None else spread / 10_000.0,
        seconds_to_close=(close - now_ms) / 1000.0 if close > 0 else None,
        seconds_since_trade=(now_ms - sig.last_trade_ms) / 1000.0 if sig.last_trade_ms else None,
        active=mm.market.is_open and not mm.closed,
    )
