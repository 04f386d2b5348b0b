"""Backtest reports: ``result.json`` plus ``report.html`` with PNG plots.

Plots: equity (marked at the mid), inventory per market, our quotes against the market's best
bid/ask (for the market with the most fills), and fill markouts at 30 s and 5 min.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from kalshi_mm.research.backtest import BacktestResult


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _minutes(ts: list[int], t0: int) -> list[float]:
    return [(t - t0) / 60_000 for t in ts]


def plot_equity(r: BacktestResult, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    s = r.samples
    if s.t:
        ax.plot(_minutes(s.t, s.t[0]), s.equity, lw=1)
    ax.set_xlabel("minutes")
    ax.set_ylabel("equity ($, marked at mid)")
    ax.set_title(f"{r.strategy}: P&L ${r.cash:.2f}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_inventory(r: BacktestResult, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    s = r.samples
    t0 = s.t[0] if s.t else 0
    for tk, pts in s.inventory.items():
        if any(q for _, q in pts):
            ax.step(_minutes([t for t, _ in pts], t0), [q / 100 for _, q in pts], where="post", lw=1, label=tk)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("minutes")
    ax.set_ylabel("position (contracts)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def busiest_market(r: BacktestResult) -> str | None:
    by = {tk: m.get("fills", 0) for tk, m in r.per_market.items()}
    if by:
        return max(sorted(by), key=lambda k: by[k])
    return next(iter(r.samples.market), None)


def plot_quotes(r: BacktestResult, path: Path, ticker: str | None = None) -> str | None:
    plt = _plt()
    tk = ticker or busiest_market(r)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    s = r.samples
    t0 = s.t[0] if s.t else 0
    if tk and tk in s.market:
        mk = s.market[tk]
        t0 = mk[0][0]
        x = _minutes([t for t, _, _ in mk], t0)
        ax.plot(x, [b / 100 if b is not None else None for _, b, _ in mk], color="tab:green", lw=0.8, label="market bid")
        ax.plot(x, [a / 100 if a is not None else None for _, _, a in mk], color="tab:red", lw=0.8, label="market ask")
        q = s.quotes.get(tk, [])
        xq = _minutes([t for t, _, _ in q], t0)
        ax.plot(xq, [b / 100 if b is not None else None for _, b, _ in q], ".", ms=2, color="darkgreen", label="our bid")
        ax.plot(xq, [a / 100 if a is not None else None for _, _, a in q], ".", ms=2, color="darkred", label="our ask")
        fills = [f for f in r.fill_log if f["ticker"] == tk]
        ax.scatter(_minutes([f["ts_ms"] for f in fills], t0), [f["price"] / 100 for f in fills], s=10,
                   c=["g" if f["side"] == "bid" else "r" for f in fills], marker="x", label="fills")
        ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"quotes vs market: {tk}")
    ax.set_xlabel("minutes")
    ax.set_ylabel("YES price (cents)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return tk


def plot_markouts(r: BacktestResult, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, title in ((axes[0], "markout_30s", "30 s"), (axes[1], "markout_5m", "5 min")):
        vals = [f[key] for f in r.fill_log if f.get(key) is not None]
        if vals:
            ax.hist(vals, bins=40, color="tab:blue", alpha=0.8)
            mean = r.markouts.get("30s" if key == "markout_30s" else "5m", 0.0)
            ax.axvline(mean, color="k", lw=1, ls="--")
        ax.set_title(f"markout {title} (cents/contract)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_json(r: BacktestResult, path: Path, *, with_fills: bool = True) -> None:
    d = r.summary()
    if with_fills:
        d["fill_log"] = r.fill_log
    path.write_text(json.dumps(d, indent=2, sort_keys=False) + "\n")


def write_report(r: BacktestResult, out_dir: Path | str, *, title: str = "") -> Path:
    """``result.json``, four PNGs and ``report.html`` in ``out_dir``; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(r, out / "result.json")
    plot_equity(r, out / "equity.png")
    plot_inventory(r, out / "inventory.png")
    tk = plot_quotes(r, out / "quotes.png")
    plot_markouts(r, out / "markouts.png")
    s = r.summary()
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v) if isinstance(v, dict | list) else str(v))}</td></tr>"
        for k, v in s.items()
        if k != "per_market"
    )
    pm = "".join(
        "<tr>" + f"<td>{html.escape(tk_)}</td>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in m.values()) + "</tr>"
        for tk_, m in sorted(r.per_market.items())
    )
    pm_head = "".join(f"<th>{html.escape(k)}</th>" for k in next(iter(r.per_market.values()), {}))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title or "backtest")}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title or "Backtest")}: {html.escape(r.strategy)}</h1>
<h2>Summary</h2><table>{rows}</table>
<h2>Equity</h2><img src="equity.png" alt="equity">
<h2>Inventory</h2><img src="inventory.png" alt="inventory">
<h2>Quotes vs market ({html.escape(tk or "-")})</h2><img src="quotes.png" alt="quotes">
<h2>Markouts</h2><img src="markouts.png" alt="markouts">
<h2>Per market</h2><table><tr><th>market</th>{pm_head}</tr>{pm}</table>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
