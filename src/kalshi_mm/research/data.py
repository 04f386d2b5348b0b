"""Where the research data lives and what we know about its markets.

The shared recordings are read in place from the repository's sibling folder
``<repo>/../shared/data/kalshi`` (override: ``KMM_DATA_ROOT``); they are never copied into the
repository. Derived caches go under ``<repo>/data/cache/research`` (git-ignored; override:
``KMM_CACHE_DIR``).

Market metadata for the ``kxgold15m-ws`` windows comes from its ``MARKETS.csv`` (one flat row per
window, including the result); ``kxinx-trades`` markets close at 16:00 New York time on their
``date`` and carry no result.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from kalshi_mm.domain.fees import result_value
from kalshi_mm.domain.market import LINEAR_CENT, STRUCTURES, Market, PriceGrid
from kalshi_mm.domain.units import parse_price, parse_qty


def repo_root() -> Path:
    """The checkout this package runs from (the folder holding ``pyproject.toml``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd()


def data_root() -> Path:
    env = os.environ.get("KMM_DATA_ROOT")
    return Path(env) if env else repo_root().parent / "shared" / "data" / "kalshi"


def cache_dir() -> Path:
    env = os.environ.get("KMM_CACHE_DIR")
    path = Path(env) if env else repo_root() / "data" / "cache" / "research"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- kxgold15m-ws --------------------------------------------------------------------------------
def gold_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "kxgold15m-ws"


def gold_files(root: Path | None = None) -> list[Path]:
    """Every ``events/<window>/<utc-date>.ndjson.gz`` file, sorted by window then date."""
    return sorted((gold_dir(root) / "events").glob("*/*.ndjson.gz"))


def gold_windows(root: Path | None = None) -> dict[str, list[Path]]:
    """Window ticker -> its files (a window can span two UTC days)."""
    out: dict[str, list[Path]] = {}
    for f in gold_files(root):
        out.setdefault(f.parent.name, []).append(f)
    return out


def iso_ms(text: str) -> int:
    """ISO-8601 UTC (``2026-08-11T01:30:05.45973Z``) -> Unix ms."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def _grid(structure: str) -> PriceGrid:
    return PriceGrid.for_structure(structure) if structure in STRUCTURES else LINEAR_CENT


@lru_cache(maxsize=8)
def _markets_csv(path: str) -> dict[str, Market]:
    out: dict[str, Market] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            result = row.get("result") or ""
            value = None
            if row.get("settlement_value_dollars"):
                value = parse_price(row["settlement_value_dollars"])
            elif result in ("yes", "no"):
                value = result_value(result)
            ticker = row["window"]
            structure = row.get("price_level_structure") or "linear_cent"
            out[ticker] = Market(
                ticker=ticker,
                event_ticker=row.get("event_ticker", ""),
                series_ticker=ticker.split("-")[0],
                status="active",
                open_ts_ms=iso_ms(row["open_time"]),
                close_ts_ms=iso_ms(row["close_time"]),
                grid=_grid(structure),
                price_level_structure=structure,
                result=result,
                settlement_value=value,
                volume=parse_qty(row["volume_fp"]) if row.get("volume_fp") else 0,
            )
    return out


def gold_markets(root: Path | None = None) -> dict[str, Market]:
    """Window ticker -> Market (open/close times, grid, result and settlement value)."""
    return dict(_markets_csv(str(gold_dir(root) / "MARKETS.csv")))


def settlement_ms(ticker: str, root: Path | None = None) -> int | None:
    with open(gold_dir(root) / "MARKETS.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["window"] == ticker and row.get("settlement_ts"):
                return iso_ms(row["settlement_ts"])
    return None


# -- kxinx-trades --------------------------------------------------------------------------------
NEW_YORK = ZoneInfo("America/New_York")


def kxinx_files(root: Path | None = None) -> list[Path]:
    return sorted(((root or data_root()) / "kxinx-trades").glob("*/*.parquet"))


def kxinx_market(ticker: str, date: str) -> Market:
    """A KXINX market closing at 16:00 New York time on ``date`` (YYYY-MM-DD); result unknown."""
    y, m, d = (int(x) for x in date.split("-"))
    close = int(datetime(y, m, d, 16, 0, tzinfo=NEW_YORK).timestamp() * 1000)
    return Market(ticker=ticker, event_ticker=ticker.rsplit("-", 1)[0], series_ticker=ticker.split("-")[0],
                  close_ts_ms=close)


def known_markets(paths: Iterable[Path], root: Path | None = None) -> dict[str, Market]:
    """Metadata for every market the given recordings touch, where we have it."""
    out: dict[str, Market] = {}
    gold = None
    for p in paths:
        if p.name.endswith(".ndjson.gz") and "kxgold15m-ws" in str(p):
            gold = gold if gold is not None else gold_markets(root)
            m = gold.get(p.parent.name)
            if m is not None:
                out[m.ticker] = m
    return out
