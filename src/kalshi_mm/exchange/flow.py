"""Synthetic markets and participants for the local exchange (pure: time arrives as ``now_ms``).

Two parts, both driven by ``step(now_ms)`` and seeded with ``random.Random(seed)`` (never the
global RNG), so a run is reproducible given the same sequence of ``now_ms`` values:

``MarketScheduler`` (always on)
    Keeps each series (``SeriesSpec``) supplied with markets: one event per period with
    ``markets_per_event`` strike markets; each market opens when the previous one closes,
    is created ``lead`` ahead of its open (status ``initialized``), trades for ``period_s``,
    closes, is determined (result drawn from its latent fair probability at close,
    ``determine_delay_s`` after close) and settles ``settlement_timer_s`` later. Every market has
    a latent fair probability: a random walk in logit space with occasional jumps.

``SyntheticFlow`` (optional; ``ExchangeConfig.flow``)
    - liquidity providers keep a multi-level two-sided book around the fair value (refreshing
      only the levels that moved, with a latency, so jumps leave stale quotes);
    - noise takers arrive per side as a Poisson process with intensity ``A * exp(-k * d)``,
      ``d`` the distance in dollars from the fair value to the best opposite quote, and send
      IOC orders at the touch;
    - informed takers sweep stale quotes toward the fair value after jumps.

Participants are ordinary engine accounts (``flow-lp``, ``flow-taker``, ``flow-informed``) with
large balances and ``record=False`` (no history kept, so memory stays flat on long runs).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kalshi_mm.domain.fees import FeeSchedule
from kalshi_mm.domain.units import MONEY_SCALE, ONE_DOLLAR, Price, Qty
from kalshi_mm.exchange.matching import MatchingEngine
from kalshi_mm.exchange.model import IOC, EngineReject, MarketState

LP_USER = "flow-lp"
TAKER_USER = "flow-taker"
INFORMED_USER = "flow-informed"
FLOW_USERS = (LP_USER, TAKER_USER, INFORMED_USER)


@dataclass(frozen=True)
class SeriesSpec:
    """A series of recurring markets (one event per period)."""

    ticker: str
    period_s: float  # market lifetime: open -> close
    title: str = ""
    frequency: str = "fifteen_min"
    category: str = "Simulated"
    markets_per_event: int = 1
    price_level_structure: str = "linear_cent"
    fee_type: str = "quadratic"
    lead_s: float | None = None  # created this long before opening (default: min(period/3, 60 s))


DEFAULT_SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("KXSIM15M", 900, "Simulated 15 minute market", "fifteen_min"),
    SeriesSpec("KXSIMH", 3600, "Simulated hourly market", "hourly"),
    SeriesSpec(
        "KXSIMD", 86_400, "Simulated daily market", "daily", price_level_structure="tapered_deci_cent"
    ),
)


@dataclass
class FlowParams:
    """Knobs of the latent fair value and of the synthetic participants (rates per second)."""

    speed: float = 1.0  # multiplies every participant's arrival rate
    sigma: float = 0.02  # logit volatility per sqrt(second)
    jump_rate: float = 1 / 120  # jumps per second per event
    jump_sigma: float = 0.6  # jump size (logit)
    lp_levels: int = 5
    lp_half_spread_ticks: int = 1
    lp_size: tuple[int, int] = (500, 15_000)  # Qty range per level (5 to 150 contracts)
    lp_latency_s: float = 0.5  # minimum time between two refreshes of one market's quotes
    lp_refresh_s: float = 3.0  # refresh at least this often
    taker_a: float = 0.4  # arrivals per second per side at zero distance
    taker_k: float = 30.0  # decay per dollar of distance from fair value
    taker_mean_size: float = 8.0  # contracts
    informed_rate: float = 2.0  # arrivals per second while quotes are stale by > 2 ticks
    determine_delay_s: float = 1.0
    settlement_timer_s: int = 1
    balance: int = 10**9 * MONEY_SCALE  # each participant's cash


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _date_code(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%y%b%d%H%M%S").upper()


@dataclass
class _Event:
    ticker: str
    logit: float
    markets: list[str] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)


class MarketScheduler:
    """Creates markets per series, moves their latent fair values and decides their results."""

    def __init__(
        self,
        engine: MatchingEngine,
        series: tuple[SeriesSpec, ...],
        params: FlowParams,
        rng: random.Random,
        start_ms: int,
        fee_type: str | None = None,
    ) -> None:
        self.engine = engine
        self.series = series
        self.params = params
        self.rng = rng
        self.fee_type = fee_type
        self.next_open: dict[str, int] = {s.ticker: start_ms for s in series}
        self.events: dict[str, _Event] = {}  # event ticker -> latent state (live events only)
        self.fair_of: dict[str, tuple[_Event, int]] = {}  # market ticker -> (event, strike index)
        self.last_ms = start_ms
        self.series_of: dict[str, SeriesSpec] = {s.ticker: s for s in series}

    def fair(self, ticker: str) -> float | None:
        """Latent fair probability of a market (None if unknown or already settled)."""
        ev = self.fair_of.get(ticker)
        if ev is None:
            return None
        e, i = ev
        return _sigmoid(e.logit + e.offsets[i])

    def step(self, now_ms: int) -> None:
        dt = max(0.0, (now_ms - self.last_ms) / 1000.0)
        self.last_ms = now_ms
        for s in self.series:
            period = int(s.period_s * 1000)
            lead = int((s.lead_s if s.lead_s is not None else min(s.period_s / 3, 60.0)) * 1000)
            while self.next_open[s.ticker] - lead <= now_ms:
                self._create_event(s, self.next_open[s.ticker], period, now_ms)
                self.next_open[s.ticker] += period
        p = self.params
        rng = self.rng
        if dt:
            sd = p.sigma * math.sqrt(dt)
            jp = p.jump_rate * dt
            for e in self.events.values():
                x = e.logit + rng.gauss(0.0, sd)
                if rng.random() < jp:
                    x += rng.gauss(0.0, p.jump_sigma)
                e.logit = min(4.5, max(-4.5, x))
        eng = self.engine
        for e in list(self.events.values()):
            alive = False
            for i, t in enumerate(e.markets):
                m = eng.markets.get(t)
                if m is None or m.status == "finalized":
                    self.fair_of.pop(t, None)
                    continue
                alive = True
                if m.status == "closed" and m.pending_result is None:
                    m.pending_result = "yes" if rng.random() < _sigmoid(e.logit + e.offsets[i]) else "no"
            if not alive:
                del self.events[e.ticker]

    def _create_event(self, s: SeriesSpec, open_ms: int, period: int, now_ms: int) -> None:
        close_ms = open_ms + period
        base = f"{s.ticker}-{_date_code(close_ms)}"
        event_ticker = base
        n = 1
        while event_ticker in self.events or any(
            t.startswith(event_ticker + "-") for t in self.engine.markets
        ):
            n += 1
            event_ticker = f"{base}{n}"
        e = _Event(event_ticker, self.rng.gauss(0.0, 0.8))
        k = s.markets_per_event
        fees = FeeSchedule(self.fee_type or s.fee_type)
        for i in range(k):
            off = (i - (k - 1) / 2) * -0.9
            strike = 100 + 5 * (i - (k - 1) // 2)
            ticker = f"{event_ticker}-T{strike}"
            self.engine.add_market(
                ticker,
                event_ticker=event_ticker,
                series_ticker=s.ticker,
                open_ms=open_ms,
                close_ms=close_ms,
                now_ms=now_ms,
                structure=s.price_level_structure,
                fees=fees,
                title=f"{s.title or s.ticker}: above {strike}?",
                yes_sub_title=f"{strike} or above",
                no_sub_title=f"Below {strike}",
                rules_primary=f"If the simulated index is at least {strike} at close, the market resolves to Yes.",
                rules_secondary="Simulated market of the kalshi-mm local exchange.",
                floor_strike=float(strike),
                determine_delay_ms=int(self.params.determine_delay_s * 1000),
                settlement_timer_s=self.params.settlement_timer_s,
                expected_expiration_ms=close_ms + int(self.params.determine_delay_s * 1000),
            )
            e.markets.append(ticker)
            e.offsets.append(off)
            self.fair_of[ticker] = (e, i)
        self.events[event_ticker] = e


class SyntheticFlow:
    """Liquidity providers, noise takers and informed takers trading through the engine."""

    def __init__(
        self, engine: MatchingEngine, scheduler: MarketScheduler, params: FlowParams, rng: random.Random
    ):
        self.engine = engine
        self.scheduler = scheduler
        self.params = params
        self.rng = rng
        for uid in FLOW_USERS:
            if uid not in engine.accounts:
                engine.add_account(uid, params.balance, record=False)
        self.last_ms: int | None = None
        self.lp_quotes: dict[str, dict[tuple[str, Price], str]] = {}  # ticker -> (side, price) -> order id
        self.lp_refreshed: dict[str, int] = {}
        self.lp_center: dict[str, float] = {}
        self.stats = {"lp_orders": 0, "taker_orders": 0, "informed_orders": 0, "rejects": 0}

    def step(self, now_ms: int) -> None:
        last = self.last_ms if self.last_ms is not None else now_ms
        self.last_ms = now_ms
        dt = max(0.0, (now_ms - last) / 1000.0)
        eng = self.engine
        for ticker in list(self.lp_quotes):
            m = eng.markets.get(ticker)
            if m is None or m.status != "active":
                self.lp_quotes.pop(ticker, None)  # closed/paused markets cancel resting orders themselves
                self.lp_refreshed.pop(ticker, None)
                self.lp_center.pop(ticker, None)
        for ticker in list(self.scheduler.fair_of):
            m = eng.markets.get(ticker)
            if m is None or m.status != "active":
                continue
            fair = self.scheduler.fair(ticker)
            if fair is None:
                continue
            self._lp(m, fair, now_ms)
            if dt:
                self._takers(m, fair, dt, now_ms)

    # -- liquidity providers -------------------------------------------------------------------
    def _lp(self, m: MarketState, fair: float, now_ms: int) -> None:
        p = self.params
        t = m.ticker
        last = self.lp_refreshed.get(t)
        center = self.lp_center.get(t)
        if last is not None:
            age = (now_ms - last) / 1000.0
            moved = center is None or abs(fair - center) * ONE_DOLLAR >= m.grid.tick_size_at(
                m.grid.clamp(int(fair * ONE_DOLLAR))
            )
            if age < p.lp_latency_s or (age < p.lp_refresh_s and not moved):
                return
        self.lp_refreshed[t] = now_ms
        self.lp_center[t] = fair
        grid = m.grid
        rng = self.rng
        fp = fair * ONE_DOLLAR
        want: dict[tuple[str, Price], Qty] = {}
        bid = grid.floor(fp)
        ask = grid.ceil(fp)
        for _ in range(p.lp_half_spread_ticks):
            bid = grid.tick_below(bid) if bid is not None else None
            ask = grid.tick_above(ask) if ask is not None else None
        for _ in range(p.lp_levels):
            if bid is not None:
                want[("bid", bid)] = rng.randint(*p.lp_size)
                bid = grid.tick_below(bid)
            if ask is not None:
                want[("ask", ask)] = rng.randint(*p.lp_size)
                ask = grid.tick_above(ask)
        quotes = self.lp_quotes.setdefault(t, {})
        acct = self.engine.accounts[LP_USER]
        for key, oid in list(quotes.items()):
            o = acct.orders.get(oid)
            if o is None or not o.is_resting:
                del quotes[key]
            elif key not in want:
                self.engine.cancel(LP_USER, oid, now_ms)
                del quotes[key]
        for key, size in want.items():
            if key in quotes:
                continue
            side, price = key
            try:
                o = self.engine.place(LP_USER, t, side, price, size, now_ms, stp="maker")
            except EngineReject:
                self.stats["rejects"] += 1
                continue
            self.stats["lp_orders"] += 1
            if o.is_resting:
                quotes[key] = o.order_id

    # -- takers ----------------------------------------------------------------------------------
    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        limit, k, prod = math.exp(-min(lam, 50.0)), 0, self.rng.random()
        while prod > limit:
            k += 1
            prod *= self.rng.random()
        return k

    def _size(self) -> Qty:
        c = max(0.01, self.rng.expovariate(1.0 / self.params.taker_mean_size))
        if self.rng.random() < 0.7:
            c = max(1.0, round(c))
        return max(1, int(c * 100))

    def _takers(self, m: MarketState, fair: float, dt: float, now_ms: int) -> None:
        p = self.params
        book = m.book
        rate = p.taker_a * p.speed * dt
        for side in ("bid", "ask"):
            best = book.best_ask if side == "bid" else book.best_bid
            if best is None:
                continue
            d = (best / ONE_DOLLAR - fair) if side == "bid" else (fair - best / ONE_DOLLAR)
            n = self._poisson(rate * math.exp(-p.taker_k * max(d, -0.05)))
            for _ in range(n):
                best = book.best_ask if side == "bid" else book.best_bid
                if best is None:
                    break
                self._send(TAKER_USER, m, side, best, self._size(), now_ms, "taker_orders")
        # informed flow: stale quotes after a jump
        tick = m.grid.tick_size_at(m.grid.clamp(int(fair * ONE_DOLLAR)))
        fp = fair * ONE_DOLLAR
        ask, bid = book.best_ask, book.best_bid
        lam = p.informed_rate * p.speed * dt
        if ask is not None and fp - ask > 2 * tick:
            for _ in range(self._poisson(lam)):
                limit = m.grid.floor(fp - tick)
                if limit is not None:
                    self._send(INFORMED_USER, m, "bid", limit, self._size() * 3, now_ms, "informed_orders")
        if bid is not None and bid - fp > 2 * tick:
            for _ in range(self._poisson(lam)):
                limit = m.grid.ceil(fp + tick)
                if limit is not None:
                    self._send(INFORMED_USER, m, "ask", limit, self._size() * 3, now_ms, "informed_orders")

    def _send(
        self, user: str, m: MarketState, side: str, price: Price, size: Qty, now_ms: int, stat: str
    ) -> None:
        try:
            self.engine.place(user, m.ticker, side, price, size, now_ms, tif=IOC, stp="maker")
            self.stats[stat] += 1
        except EngineReject:
            self.stats["rejects"] += 1
