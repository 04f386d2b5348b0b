"""Helpers shared by the benchmarks: the recorded data and percentile timing."""

from __future__ import annotations

import gzip
import statistics
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "kalshi"
GOLD = DATA / "kxgold15m-ws"


def gold_files() -> list[Path]:
    return sorted((GOLD / "events").glob("*/*.ndjson.gz"))


def gold_lines(limit_files: int | None = None) -> Iterator[bytes]:
    """Raw NDJSON lines (bytes) of the gold recording, in file order."""
    for path in gold_files()[:limit_files]:
        with gzip.open(path, "rb") as f:
            yield from f


def percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def median(samples: list[float]) -> float:
    return statistics.median(samples)
