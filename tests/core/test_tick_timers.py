"""Ticks run only the markets whose timers are due, with exactly the reference behaviour.

The reference (``engine._lazy = False``) runs every market's pipeline on every Tick. The lazy
engine keeps per-market deadlines in a heap; these tests drive both with the same random streams
(the property tests' model exchange) and require the same commands, state and counters after
every event, and check that idle markets cost a Tick nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kmm_core_support import T0, Echo, make_engine, market, open_market, snapshot, tick
from test_properties import STRATS, Exchange, drive, new_engine

from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.events import Tick
from kalshi_mm.core.execution import ExecutionParams
from kalshi_mm.core.risk import RiskLimits


def _state(e: Engine) -> dict[str, Any]:
    st_ = e.status()
    for m in st_["markets"].values():
        qb = m["risk"]["quote_block"]
        if qb and qb.startswith("stale_data"):
            m["risk"]["quote_block"] = "stale_data"  # its age text is as of the market's last run
    st_["counters"].pop("tick_runs")
    st_["counters"].pop("full_ticks")
    return st_


class Twin:
    """Feeds every call to a lazy engine and a reference engine; their answers must be equal."""

    def __init__(self, lazy: Engine, ref: Engine) -> None:
        ref._lazy = False
        self.lazy, self.ref = lazy, ref
        self.markets = lazy.markets

    def _same(self, a: Any, b: Any, what: Any) -> Any:
        assert a == b, (what, a, b)
        assert self.lazy._total_exposure == self.ref._total_exposure
        assert self.lazy._total_pnl_fast() == self.lazy.total_pnl() == self.ref.total_pnl()
        assert _state(self.lazy) == _state(self.ref), what
        return a

    def handle(self, ev: Any, **kw: Any) -> Any:
        return self._same(self.lazy.handle(ev, **kw), self.ref.handle(ev, **kw), ev)

    def kill(self, reason: str, ts: int) -> Any:
        return self._same(self.lazy.kill(reason, ts), self.ref.kill(reason, ts), "kill")


class _AnyLimits(Exchange):
    def check_limits(self) -> None:  # equivalence, not limits, is under test here
        return None

    def fill(self, coid: str, k: int, ts: int) -> None:
        if self.orders[coid].remaining > 0:  # (an amend below the filled size leaves nothing to fill)
            super().fill(coid, k, ts)


def _engine(strategy: str, vol_adaptive: bool, stale_s: float, move: int, age_s: float) -> Engine:
    cfg = EngineConfig(
        strategy=strategy,
        strategy_params=STRATS[strategy],
        risk=RiskLimits(max_position=15, max_total_position=1e6, max_order_size=10, stale_after_s=stale_s,
                        stop_before_close_s=20, vol_adaptive=vol_adaptive, vol_ref=0.01),
        execution=ExecutionParams(min_move_ticks=move, max_quote_age_s=age_s, inflight_timeout_s=2),
    )
    return Engine(cfg, id_prefix="p")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=st.sampled_from(sorted(STRATS)), vol_adaptive=st.booleans())
def test_lazy_ticks_match_the_reference_near_the_total_limit(data, strategy, vol_adaptive) -> None:
    twin = Twin(new_engine(strategy, vol_adaptive), new_engine(strategy, vol_adaptive))
    steps = data.draw(st.integers(10, 80))
    kill_at = data.draw(st.one_of(st.none(), st.integers(0, steps)))
    drive(data, twin, _AnyLimits(), steps=steps, kill_at=kill_at)  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    strategy=st.sampled_from(sorted(STRATS)),
    vol_adaptive=st.booleans(),
    stale_s=st.sampled_from([3.0, 10.0, 1e6]),
    move=st.integers(1, 3),
    age_s=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_lazy_ticks_match_the_reference(data, strategy, vol_adaptive, stale_s, move, age_s) -> None:
    args = (strategy, vol_adaptive, stale_s, move, age_s)
    twin = Twin(_engine(*args), _engine(*args))
    steps = data.draw(st.integers(10, 150))
    kill_at = data.draw(st.one_of(st.none(), st.none(), st.integers(0, steps)))
    drive(data, twin, _AnyLimits(), steps=steps, kill_at=kill_at)  # type: ignore[arg-type]
    assert twin.lazy.counters["full_ticks"] <= twin.ref.counters["full_ticks"]


def test_idle_markets_cost_a_tick_nothing() -> None:
    e = make_engine("avellaneda_stoikov", risk={"stale_after_s": 1e6, "max_total_position": 1e9,
                                                "max_open_orders": 10_000, "stop_before_close_s": 0})
    echo = Echo(e)
    n = 2000
    for i in range(n):
        t = f"M{i}"
        open_market(e, market(t, close_in_s=7200))
        echo.settle(e.handle(snapshot([(4000, 100)], [(6000, 100)], ticker=t)), T0)
    assert sum(len(mm.orders) for mm in e.markets.values()) == 2 * n
    tick(e, T0 + 1)  # the first Tick after global changes (markets opened) may look at all of them
    before = e.counters["tick_runs"]
    # quotes only drift with time (A-S tau) by a fraction of a tick: nothing is due for a while
    for k in range(2, 50):
        assert e.handle(Tick(ts_ms=T0 + k * 200)) == []
    assert e.counters["tick_runs"] == before
    # one market's trade: the next Tick runs that market only
    from kmm_core_support import trade

    e.handle(trade(T0 + 10_001, 5000, ticker="M7"))
    e.handle(Tick(ts_ms=T0 + 10_200))
    assert e.counters["tick_runs"] == before + 1
