"""External alpha: a price offset added to a strategy's reservation price (seed KMM-v1's slot).

``get_external_skew(ticker, mid) -> float`` returns the offset in Price units (1/10,000 dollar,
may be fractional); positive leans the quotes up. The default is zero.

``FairValueAlpha`` turns fair values into a skew ``weight * (fair - mid)``, clamped to
``+-max_skew``; fair values arrive as ``ExternalSignal`` events (the engine calls
``set_fair_value``) or from a file (``FileFairValueAlpha``). The file is read when the provider is
built or when a shell calls ``refresh()``; ``Engine.handle`` itself never does I/O.

A provider may define ``state_key()``, a value that changes whenever any skew could change: the
engine then re-quotes every market at the next Tick after a change and otherwise only the markets
whose own timers are due. Without it, every Tick re-quotes every market.

File formats: JSON ``{"TICKER": 0.55, ...}`` (dollars, numbers or strings) or CSV lines
``TICKER,0.55`` (a header line is ignored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

from kalshi_mm.domain.units import PRICE_SCALE, Price, parse_price, price_from_float


@runtime_checkable
class AlphaProvider(Protocol):
    def get_external_skew(self, ticker: str, mid: float | None = None) -> float: ...


class ZeroAlpha:
    """No opinion: zero skew everywhere."""

    def get_external_skew(self, ticker: str, mid: float | None = None) -> float:
        return 0.0

    def state_key(self) -> object:
        """Changes whenever any skew could change (the engine re-quotes every market then)."""
        return 0


class FairValueAlpha:
    """Skew toward known fair values: ``clamp(weight * (fair - mid), -max_skew, max_skew)``."""

    def __init__(self, weight: float = 1.0, max_skew: float = 0.05) -> None:
        self.weight = weight
        self.max_skew = max_skew * PRICE_SCALE  # Price units
        self.fair: dict[str, Price] = {}
        self.version = 0  # bumped by every change made through set_fair_value / refresh

    def set_fair_value(self, ticker: str, fair_value: Price) -> None:
        self.fair[ticker] = fair_value
        self.version += 1

    def state_key(self) -> object:
        """Changes whenever any skew could change (the engine re-quotes every market then).

        Change fair values through ``set_fair_value`` or ``refresh`` (or replace ``fair``), not by
        editing the ``fair`` dict in place, so that the engine notices.
        """
        return (id(self.fair), self.version, self.weight, self.max_skew)

    def get_external_skew(self, ticker: str, mid: float | None = None) -> float:
        fv = self.fair.get(ticker)
        if fv is None or mid is None or not self.weight:
            return 0.0
        s = self.weight * (fv - mid)
        m = self.max_skew
        return m if s > m else -m if s < -m else s


class FileFairValueAlpha(FairValueAlpha):
    """Fair values read from a local JSON or CSV file (for tests and research)."""

    def __init__(self, path: str | Path, weight: float = 1.0, max_skew: float = 0.05) -> None:
        super().__init__(weight, max_skew)
        self.path = Path(path)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the file (I/O: call from a shell, not from inside ``Engine.handle``)."""
        text = self.path.read_text(encoding="utf-8")
        fair: dict[str, Price] = {}
        stripped = text.lstrip()
        if stripped.startswith("{"):
            for ticker, value in json.loads(text).items():
                fair[str(ticker)] = parse_price(value) if isinstance(value, str) else price_from_float(float(value))
        else:
            for line in text.splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) < 2 or not parts[0] or parts[0].lower() in ("ticker", "market_ticker"):
                    continue
                fair[parts[0]] = parse_price(parts[1])
        self.fair = fair
        self.version += 1
