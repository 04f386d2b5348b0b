"""The Avellaneda-Stoikov (2008) formulas, in one place.

Used by the live ``avellaneda_stoikov`` strategy and by the reproduction of the paper's
simulation in ``research/experiments/avellaneda_stoikov_2008.py``, so both run the same math.

With mid ``s``, inventory ``q``, risk aversion ``gamma``, volatility ``sigma`` (per unit time),
time left ``tau = T - t`` and order-arrival decay ``k`` (lambda(d) = A e^{-k d}):

    r      = s - q * gamma * sigma^2 * tau                      (reservation price)
    spread = gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / k)
    bid    = r - spread / 2,   ask = r + spread / 2
"""

from __future__ import annotations

import math


def reservation_price(s: float, q: float, gamma: float, sigma: float, tau: float) -> float:
    return s - q * gamma * sigma * sigma * tau


def optimal_spread(gamma: float, sigma: float, tau: float, k: float) -> float:
    if gamma <= 0 or k <= 0:
        raise ValueError("gamma and k must be positive")
    return gamma * sigma * sigma * tau + (2.0 / gamma) * math.log1p(gamma / k)


def as_quotes(
    s: float, q: float, gamma: float, sigma: float, tau: float, k: float, skew: float = 0.0
) -> tuple[float, float]:
    """(bid, ask) around the reservation price shifted by an external ``skew``."""
    r = reservation_price(s, q, gamma, sigma, tau) + skew
    half = optimal_spread(gamma, sigma, tau, k) / 2.0
    return r - half, r + half
