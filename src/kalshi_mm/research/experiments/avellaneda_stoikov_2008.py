"""Reproduction of Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book", §3.3.

The dealer quotes around the reservation price with the optimal spread; the mid moves by
``+/- sigma sqrt(dt)`` each step; each side is filled with probability
``min(1, A e^{-k delta} dt)`` where ``delta`` is the quote's distance from the mid. Terminal
profit is ``X_T + q_T S_T``. The *inventory* strategy is compared with a *symmetric* strategy that
quotes the inventory strategy's time-averaged spread around the mid.

The quotes come from :mod:`kalshi_mm.core.strategies.as_formula`, the same functions the live
``avellaneda_stoikov`` strategy calls (they are written with plain arithmetic, so they accept
numpy arrays for ``s``, ``q`` and ``tau``). Everything is vectorised over paths with a seeded
``numpy.random.Generator``: 1000 paths x 200 steps x 3 gammas take a fraction of a second.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kalshi_mm.core.strategies.as_formula import as_quotes, optimal_spread

#: Table 1-3 of the paper: gamma -> strategy -> (spread, profit mean, profit std, q mean, q std).
PUBLISHED: dict[float, dict[str, tuple[float, float, float, float, float]]] = {
    0.1: {"inventory": (1.49, 65.0, 6.6, 0.08, 2.9), "symmetric": (1.49, 68.4, 12.7, 0.26, 8.4)},
    0.01: {"inventory": (1.35, 68.6, 8.7, 0.12, 5.1), "symmetric": (1.35, 68.8, 12.8, 0.09, 8.7)},
    1.0: {"inventory": (3.02, 31.4, 5.0, 0.02, 1.7), "symmetric": (3.02, 44.0, 11.0, 0.00, 5.1)},
}
GAMMAS = (0.1, 0.01, 1.0)
FIELDS = ("spread", "profit_mean", "profit_std", "q_mean", "q_std")


@dataclass(frozen=True)
class Params:
    s0: float = 100.0
    T: float = 1.0
    sigma: float = 2.0
    dt: float = 0.005
    q0: int = 0
    A: float = 140.0
    k: float = 1.5

    @property
    def steps(self) -> int:
        return round(self.T / self.dt)


@dataclass(frozen=True)
class StrategyStats:
    spread: float
    profit_mean: float
    profit_std: float
    q_mean: float
    q_std: float
    paths: int

    @property
    def profit_se(self) -> float:
        return self.profit_std / math.sqrt(self.paths)

    @property
    def q_se(self) -> float:
        return self.q_std / math.sqrt(self.paths)

    def as_json(self) -> dict[str, float]:
        return {f: float(getattr(self, f)) for f in FIELDS}


def average_spread(gamma: float, p: Params) -> float:
    """The inventory strategy's spread averaged over the time grid (it does not depend on q)."""
    tau = p.T - np.arange(p.steps) * p.dt
    return float(np.mean(optimal_spread(gamma, p.sigma, tau, p.k)))  # type: ignore[arg-type]


def simulate(
    gamma: float, p: Params = Params(), paths: int = 1000, seed: int = 0, symmetric_spread: float | None = None
) -> StrategyStats:
    """Simulate ``paths`` paths; ``symmetric_spread`` switches to the symmetric strategy."""
    rng = np.random.default_rng(seed)
    s = np.full(paths, p.s0)
    q = np.full(paths, float(p.q0))
    x = np.zeros(paths)
    step = p.sigma * math.sqrt(p.dt)
    spreads = np.empty(p.steps)
    for i in range(p.steps):
        tau = p.T - i * p.dt
        if symmetric_spread is None:
            bid, ask = as_quotes(s, q, gamma, p.sigma, tau, p.k)  # type: ignore[arg-type]
            spreads[i] = optimal_spread(gamma, p.sigma, tau, p.k)
        else:
            bid, ask = s - symmetric_spread / 2.0, s + symmetric_spread / 2.0  # type: ignore[assignment]
            spreads[i] = symmetric_spread
        d_bid = s - bid
        d_ask = ask - s
        u = rng.random((3, paths))
        hit_bid = u[0] < np.minimum(1.0, p.A * np.exp(-p.k * d_bid) * p.dt)
        hit_ask = u[1] < np.minimum(1.0, p.A * np.exp(-p.k * d_ask) * p.dt)
        q += hit_bid.astype(float) - hit_ask
        x += np.where(hit_ask, ask, 0.0) - np.where(hit_bid, bid, 0.0)
        s = s + np.where(u[2] < 0.5, step, -step)
    profit = x + q * s
    return StrategyStats(
        spread=float(spreads.mean()),
        profit_mean=float(profit.mean()),
        profit_std=float(profit.std(ddof=1)),
        q_mean=float(q.mean()),
        q_std=float(q.std(ddof=1)),
        paths=paths,
    )


def run(
    gammas: tuple[float, ...] = GAMMAS, paths: int = 1000, seed: int = 0, p: Params = Params()
) -> dict[float, dict[str, StrategyStats]]:
    """Both strategies for every gamma. Each (gamma, strategy) gets its own child seed."""
    seeds = np.random.SeedSequence(seed).spawn(2 * len(gammas))
    out: dict[float, dict[str, StrategyStats]] = {}
    for j, gamma in enumerate(gammas):
        inv = simulate(gamma, p, paths, int(seeds[2 * j].generate_state(1)[0]))
        sym = simulate(
            gamma, p, paths, int(seeds[2 * j + 1].generate_state(1)[0]), symmetric_spread=average_spread(gamma, p)
        )
        out[gamma] = {"inventory": inv, "symmetric": sym}
    return out


def check_against_paper(results: dict[float, dict[str, StrategyStats]], n_se: float = 3.0) -> list[str]:
    """Means (profit and q) further than ``n_se`` standard errors from the published ones.

    The standard error is that of the difference of two independent means, ours and the
    paper's (each an average over its own paths): ``sqrt(s_ours^2/n_ours + s_paper^2/1000)``.
    """
    problems = []
    for gamma, by in results.items():
        if gamma not in PUBLISHED:
            continue
        for name, st in by.items():
            pub = PUBLISHED[gamma][name]
            for label, ours, mean_pub, std_ours, std_pub in (
                ("profit", st.profit_mean, pub[1], st.profit_std, pub[2]),
                ("q", st.q_mean, pub[3], st.q_std, pub[4]),
            ):
                se = math.sqrt(std_ours**2 / st.paths + std_pub**2 / 1000)
                if abs(ours - mean_pub) > n_se * se:
                    problems.append(
                        f"gamma={gamma} {name} {label}: ours {ours:.3f} vs paper {mean_pub} (> {n_se} SE = {n_se * se:.3f})"
                    )
    return problems


def as_json(results: dict[float, dict[str, StrategyStats]]) -> dict[str, dict[str, dict[str, float]]]:
    return {f"{g:g}": {name: st.as_json() for name, st in by.items()} for g, by in results.items()}


def table(results: dict[float, dict[str, StrategyStats]]) -> str:
    """Markdown: ours (with standard errors) beside the published numbers."""

    def fmt(st: StrategyStats) -> str:
        return (
            f"{st.spread:.2f}, {st.profit_mean:.1f} ± {st.profit_se:.1f}, {st.profit_std:.1f}, "
            f"{st.q_mean:.2f} ± {st.q_se:.2f}, {st.q_std:.1f}"
        )

    def fmt_pub(t: tuple[float, ...]) -> str:
        return f"{t[0]:.2f}, {t[1]:.1f}, {t[2]:.1f}, {t[3]:.2f}, {t[4]:.1f}"

    lines = [
        "columns: spread, profit mean ± SE, profit std, final q mean ± SE, final q std",
        "| gamma | strategy | ours | published |",
        "|---|---|---|---|",
    ]
    for g, by in results.items():
        for name, st in by.items():
            pub = fmt_pub(PUBLISHED[g][name]) if g in PUBLISHED else "-"
            lines.append(f"| {g:g} | {name} | {fmt(st)} | {pub} |")
    return "\n".join(lines)


def main(paths: int = 1000, seed: int = 0, json_file: Path | None = None) -> tuple[str, list[str]]:
    results = run(paths=paths, seed=seed)
    if json_file is not None:
        json_file.write_text(json.dumps(as_json(results), indent=2) + "\n")
    return table(results), check_against_paper(results)


__all__ = [
    "GAMMAS",
    "PUBLISHED",
    "Params",
    "StrategyStats",
    "as_json",
    "average_spread",
    "check_against_paper",
    "run",
    "simulate",
    "table",
]
