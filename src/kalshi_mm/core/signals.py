"""Market signals, updated in O(1) per event: volatility, trade intensity, order-flow imbalance.

All prices here are **dollars** (probability space, a YES price of 0.48 is 0.48) so that the
strategies' formulas read as in the papers; the logit-space versions use ``ln(p / (1 - p))``.

- **Trade-window volatility** (seed ind_research): the trades of the last ``window_s`` seconds
  (default 60). ``window_std()`` is the standard deviation of their prices (the seed's
  ``statistics.stdev``); ``window_var_rate()`` is the realized variance of trade-to-trade price
  changes per second (sum of squared changes in the window / window length), the per-second
  ``sigma^2`` that Avellaneda-Stoikov needs. Running sums make every update O(1).
- **EWMA of mid changes**: an exponentially decayed sum ``S`` of squared mid changes with time
  constant ``tau = halflife / ln 2``; ``S / tau`` estimates the variance per second. The decay is
  by elapsed time, not by event count, so bursts of deltas do not inflate it.
- **Trade intensity** ``lambda(d) = A exp(-k d)``: each trade's distance ``d`` from the prevailing
  mid is binned (bins of ``intensity_bin`` dollars) into a time-decayed histogram; the rate of
  trades reaching depth ``>= d`` (cumulative from the tail, as an order resting at depth d is hit by
  any trade that reaches it) is fitted by weighted least squares of ``ln rate`` on ``d``. The fit is
  computed lazily and cached until the next trade.
- **Order-flow imbalance** (Cont, Kukanov and Stoikov): ``domain.book.order_flow_imbalance``
  between consecutive tops of book, accumulated with the same kind of time decay (in contracts).
- **Microprice** is the book's own (``OrderBook.microprice``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

_LN2 = math.log(2.0)
_EPS_P = 1e-4


@dataclass(slots=True)
class SignalParams:
    window_s: float = 60.0  # trade-window volatility (seed ind_research: 60 s)
    ewma_halflife_s: float = 30.0  # EWMA of mid changes
    intensity_halflife_s: float = 300.0  # decay of the trade-distance histogram
    intensity_bin: float = 0.01  # dollars per histogram bin (one cent)
    intensity_bins: int = 20
    intensity_min_trades: float = 10.0  # decayed trade count needed before a fit is trusted
    ofi_halflife_s: float = 10.0


def logit(p: float) -> float:
    if p < _EPS_P:
        p = _EPS_P
    elif p > 1.0 - _EPS_P:
        p = 1.0 - _EPS_P
    return math.log(p / (1.0 - p))


class MarketSignals:
    """Signals of one market. Feed it trades (``on_trade``) and tops of book (``on_top``)."""

    __slots__ = (
        "_fit",
        "_fit_valid",
        "_hist_d",
        "_hist_n",
        "_hist_ts",
        "_ins_tau_ms",
        "_last_trade_lp",
        "_last_trade_p",
        "_mid_lp",
        "_mid_p",
        "_mid_ts",
        "_ofi",
        "_ofi_tau_ms",
        "_ofi_ts",
        "_tau_ms",
        "_top",
        "_trades",
        "_window_ms",
        "ewma_s",
        "ewma_s_logit",
        "last_trade_ms",
        "params",
        "sum_d2",
        "sum_d2_logit",
        "sum_lp",
        "sum_lp2",
        "sum_p",
        "sum_p2",
        "trade_count",
        "trade_volume",
    )

    def __init__(self, params: SignalParams | None = None) -> None:
        p = params or SignalParams()
        self.params = p
        self._window_ms = int(p.window_s * 1000)
        self._tau_ms = p.ewma_halflife_s * 1000.0 / _LN2
        self._ins_tau_ms = p.intensity_halflife_s * 1000.0 / _LN2
        self._ofi_tau_ms = p.ofi_halflife_s * 1000.0 / _LN2
        # trade window: (ts_ms, p, logit p, d^2, d^2 logit, count)
        self._trades: deque[tuple[int, float, float, float, float, int]] = deque()
        self.sum_p = self.sum_p2 = self.sum_lp = self.sum_lp2 = 0.0
        self.sum_d2 = self.sum_d2_logit = 0.0
        self.trade_volume = 0  # Qty inside the window
        self.trade_count = 0  # trades ever seen
        self.last_trade_ms = 0
        self._last_trade_p: float | None = None
        self._last_trade_lp = 0.0
        # EWMA of squared mid changes
        self.ewma_s = 0.0
        self.ewma_s_logit = 0.0
        self._mid_p: float | None = None
        self._mid_lp = 0.0
        self._mid_ts = 0
        # intensity histogram
        self._hist_n = [0.0] * p.intensity_bins
        self._hist_d = [0.0] * p.intensity_bins
        self._hist_ts = 0
        self._fit: tuple[float, float] | None = None
        self._fit_valid = True
        # OFI
        self._top: tuple[int | None, int, int | None, int] | None = None
        self._ofi = 0.0
        self._ofi_ts = 0

    # -- updates -----------------------------------------------------------------------------
    def on_trade(self, ts_ms: int, price: float, count: int, mid: float | None) -> None:
        """A public trade at ``price`` dollars (YES), ``count`` Qty, with the prevailing ``mid``."""
        lp = logit(price)
        prev = self._last_trade_p
        if prev is None:
            d2 = ld2 = 0.0
        else:
            d2 = (price - prev) ** 2
            ld2 = (lp - self._last_trade_lp) ** 2
        self._last_trade_p = price
        self._last_trade_lp = lp
        self._trades.append((ts_ms, price, lp, d2, ld2, count))
        self.sum_p += price
        self.sum_p2 += price * price
        self.sum_lp += lp
        self.sum_lp2 += lp * lp
        self.sum_d2 += d2
        self.sum_d2_logit += ld2
        self.trade_volume += count
        self.trade_count += 1
        self.last_trade_ms = ts_ms
        self._expire(ts_ms)
        if mid is not None:
            self._add_distance(ts_ms, abs(price - mid))

    def on_top(self, ts_ms: int, bid: int | None, bid_size: int, ask: int | None, ask_size: int) -> None:
        """A new top of book (Price ints and Qty ints), e.g. after a delta touched the best level."""
        self.on_top_tuple(ts_ms, (bid, bid_size, ask, ask_size))

    def on_top_tuple(self, ts_ms: int, top: tuple[int | None, int, int | None, int]) -> None:
        """``on_top`` with the top as one ``(bid, bid_size, ask, ask_size)`` tuple."""
        prev = self._top
        cb, cbs, ca, cas = top
        if prev is not None:
            # order_flow_imbalance(prev, top), inline
            pb, pbs, pa, pas = prev
            e = 0
            if cb is not None and pb is not None:
                if cb > pb:
                    e += cbs
                elif cb == pb:
                    e += cbs - pbs
                else:
                    e -= pbs
            if ca is not None and pa is not None:
                if ca < pa:
                    e -= cas
                elif ca == pa:
                    e -= cas - pas
                else:
                    e += pas
            if e:
                ofi = self._ofi
                dt = ts_ms - self._ofi_ts
                if dt > 0 and ofi:
                    ofi *= math.exp(-dt / self._ofi_tau_ms)
                self._ofi = ofi + e / 100.0
                self._ofi_ts = ts_ms
        self._top = top
        if cb is None or ca is None:
            return
        mid = (cb + ca) / 20000.0
        prev_mid = self._mid_p
        if prev_mid is None:
            self._mid_p = mid
            self._mid_lp = logit(mid)
            self._mid_ts = ts_ms
            return
        if mid == prev_mid:
            return
        lmid = logit(mid)
        dt = ts_ms - self._mid_ts
        decay = math.exp(-dt / self._tau_ms) if dt > 0 else 1.0
        self.ewma_s = self.ewma_s * decay + (mid - prev_mid) ** 2
        self.ewma_s_logit = self.ewma_s_logit * decay + (lmid - self._mid_lp) ** 2
        self._mid_p = mid
        self._mid_lp = lmid
        self._mid_ts = ts_ms

    def reset_book(self) -> None:
        """Forget the top of book (after a resync) so no OFI or mid change spans the gap."""
        self._top = None
        self._mid_p = None

    # -- volatility --------------------------------------------------------------------------
    def _expire(self, now_ms: int) -> None:
        trades = self._trades
        cutoff = now_ms - self._window_ms
        while trades and trades[0][0] < cutoff:
            _, p, lp, d2, ld2, n = trades.popleft()
            self.sum_p -= p
            self.sum_p2 -= p * p
            self.sum_lp -= lp
            self.sum_lp2 -= lp * lp
            self.sum_d2 -= d2
            self.sum_d2_logit -= ld2
            self.trade_volume -= n
        if not trades:
            self.sum_p = self.sum_p2 = self.sum_lp = self.sum_lp2 = 0.0
            self.sum_d2 = self.sum_d2_logit = 0.0
            self.trade_volume = 0
        elif trades[0][3] and len(trades) >= 1:
            # the oldest trade's change refers to a trade outside the window: drop it from the sums
            _, p, lp, d2, ld2, n = trades[0]
            self.sum_d2 -= d2
            self.sum_d2_logit -= ld2
            trades[0] = (trades[0][0], p, lp, 0.0, 0.0, n)

    def advance(self, now_ms: int) -> None:
        """Let time pass (drops trades that left the window)."""
        self._expire(now_ms)

    @property
    def window_trades(self) -> int:
        return len(self._trades)

    def window_std(self, logit_space: bool = False) -> float:
        """Sample standard deviation of trade prices in the window (seed ind_research); 0 if < 2."""
        n = len(self._trades)
        if n < 2:
            return 0.0
        s, s2 = (self.sum_lp, self.sum_lp2) if logit_space else (self.sum_p, self.sum_p2)
        var = (s2 - s * s / n) / (n - 1)
        return math.sqrt(var) if var > 0 else 0.0

    def window_var_rate(self, logit_space: bool = False) -> float:
        """Realized variance per second of trade-to-trade price changes in the window."""
        s = self.sum_d2_logit if logit_space else self.sum_d2
        return s / self.params.window_s if s > 0 else 0.0

    @staticmethod
    def _decayed(value: float, since_ms: int, now_ms: int, tau_ms: float) -> float:
        dt = now_ms - since_ms
        return value * math.exp(-dt / tau_ms) if dt > 0 and value else value

    def ewma_var_rate(self, now_ms: int | None = None, logit_space: bool = False) -> float:
        """EWMA estimate of the variance per second of mid changes."""
        s = self.ewma_s_logit if logit_space else self.ewma_s
        if now_ms is not None:
            s = self._decayed(s, self._mid_ts, now_ms, self._tau_ms)
        return s / (self._tau_ms / 1000.0)

    def sigma(self, source: str = "max", now_ms: int | None = None, logit_space: bool = False) -> float:
        """Volatility per sqrt(second): ``trades`` (window), ``mid`` (EWMA) or ``max`` of both."""
        if source == "trades":
            v = self.window_var_rate(logit_space)
        elif source == "mid":
            v = self.ewma_var_rate(now_ms, logit_space)
        else:
            v = max(self.window_var_rate(logit_space), self.ewma_var_rate(now_ms, logit_space))
        return math.sqrt(v)

    # -- intensity ---------------------------------------------------------------------------
    def _add_distance(self, ts_ms: int, d: float) -> None:
        n, ds = self._hist_n, self._hist_d
        dt = ts_ms - self._hist_ts
        if dt > 0 and self._hist_ts:
            f = math.exp(-dt / self._ins_tau_ms)
            for i in range(len(n)):
                n[i] *= f
                ds[i] *= f
        self._hist_ts = ts_ms
        i = int(d / self.params.intensity_bin + 1e-9)
        if i >= len(n):
            i = len(n) - 1
        n[i] += 1.0
        ds[i] += d
        self._fit_valid = False

    def intensity(self) -> tuple[float, float] | None:
        """Fitted ``(A, k)`` of ``lambda(d) = A exp(-k d)`` (A per second, k per dollar), or None."""
        if self._fit_valid:
            return self._fit
        self._fit_valid = True
        self._fit = None
        n = self._hist_n
        total = sum(n)
        if total < self.params.intensity_min_trades:
            return None
        w = self.params.intensity_bin
        tau_s = self._ins_tau_ms / 1000.0
        # cumulative counts from the tail: trades reaching depth >= i * w
        xs: list[float] = []
        ys: list[float] = []
        ws: list[float] = []
        cum = 0.0
        for i in range(len(n) - 1, -1, -1):
            cum += n[i]
            if cum > 1e-9:
                xs.append(i * w)
                ys.append(math.log(cum / tau_s))
                ws.append(cum)
        if len(xs) < 2:
            return None
        sw = sum(ws)
        mx = sum(wi * x for wi, x in zip(ws, xs, strict=True)) / sw
        my = sum(wi * y for wi, y in zip(ws, ys, strict=True)) / sw
        sxx = sum(wi * (x - mx) ** 2 for wi, x in zip(ws, xs, strict=True))
        sxy = sum(wi * (x - mx) * (y - my) for wi, x, y in zip(ws, xs, ys, strict=True))
        if sxx <= 0:
            return None
        slope = sxy / sxx
        if slope >= 0:
            return None
        k = -slope
        a = math.exp(my + k * mx)
        self._fit = (a, k)
        return self._fit

    # -- order flow --------------------------------------------------------------------------
    def ofi(self, now_ms: int | None = None) -> float:
        """Time-decayed order-flow imbalance in contracts (positive = buying pressure)."""
        if now_ms is None:
            return self._ofi
        return self._decayed(self._ofi, self._ofi_ts, now_ms, self._ofi_tau_ms)

    def snapshot(self, now_ms: int | None = None) -> dict[str, float | int | None]:
        fit = self.intensity()
        return {
            "window_std": self.window_std(),
            "window_std_logit": self.window_std(True),
            "window_trades": self.window_trades,
            "sigma_trades": self.sigma("trades"),
            "sigma_mid": self.sigma("mid", now_ms),
            "sigma_mid_logit": self.sigma("mid", now_ms, True),
            "intensity_A": fit[0] if fit else None,
            "intensity_k": fit[1] if fit else None,
            "ofi": self.ofi(now_ms),
        }
