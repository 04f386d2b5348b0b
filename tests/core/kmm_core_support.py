"""Builders shared by the core tests: markets, books, engines and a tiny exchange echo."""

from __future__ import annotations

from typing import Any

from kalshi_mm.core.commands import AmendOrder, CancelAll, CancelOrder, Command, DecreaseOrder, PlaceOrder
from kalshi_mm.core.engine import Engine, EngineConfig
from kalshi_mm.core.events import (
    BookDelta,
    BookSnapshot,
    MarketOpened,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    Tick,
    TradePrinted,
)
from kalshi_mm.core.execution import ExecutionParams
from kalshi_mm.core.risk import RiskLimits
from kalshi_mm.domain.market import Market, PriceGrid

T0 = 1_786_410_000_000  # ms
TICKER = "KXTEST-1"
C = 100  # one contract in Qty; also one cent in Price


def market(ticker: str = TICKER, close_in_s: float = 3600.0, grid: PriceGrid | None = None, **kw: Any) -> Market:
    if grid is not None:
        kw["grid"] = grid
    return Market(ticker=ticker, close_ts_ms=T0 + int(close_in_s * 1000), **kw)


def snapshot(
    bids: list[tuple[int, float]], asks: list[tuple[int, float]], ts: int = T0, ticker: str = TICKER
) -> BookSnapshot:
    """``bids``: YES bids (price, contracts); ``asks``: YES asks (price, contracts) -> NO bids."""
    yes = tuple(sorted((p, round(q * C)) for p, q in bids))
    no = tuple(sorted((10_000 - p, round(q * C)) for p, q in asks))
    return BookSnapshot(ts_ms=ts, ticker=ticker, yes=yes, no=no)


def make_engine(
    strategy: str = "avellaneda_stoikov",
    params: Any = None,
    risk: dict[str, Any] | None = None,
    execution: dict[str, Any] | None = None,
    **kw: Any,
) -> Engine:
    r = {"vol_adaptive": False, **(risk or {})}
    e = {"min_move_ticks": 1, "max_quote_age_s": 0.0, **(execution or {})}
    cfg = EngineConfig(
        strategy=strategy,
        strategy_params=params,
        risk=RiskLimits(**r),
        execution=ExecutionParams(**e),
        **kw,
    )
    return Engine(cfg, id_prefix="t")


def open_market(engine: Engine, m: Market | None = None, ts: int = T0) -> Market:
    m = m or market()
    engine.handle(MarketOpened(ts_ms=ts, market=m))
    return m


class Echo:
    """A perfect exchange echo: accepts every command, assigns order ids, confirms cancels."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.n = 0
        self.oid: dict[str, str] = {}
        self.fill_n = 0

    def ack(self, cmds: list[Command], ts: int) -> list[Command]:
        out: list[Command] = []
        for c in cmds:
            out += self.ack_one(c, ts)
        return out

    def ack_one(self, c: Command, ts: int) -> list[Command]:
        e = self.engine
        if isinstance(c, PlaceOrder):
            self.n += 1
            oid = self.oid[c.client_order_id] = f"o{self.n}"
            return e.handle(
                OrderAccepted(
                    ts_ms=ts, ticker=c.ticker, order_id=oid, client_order_id=c.client_order_id,
                    side=c.side, price=c.price, remaining=c.count,
                )
            )
        if isinstance(c, AmendOrder):
            o = e.markets[c.ticker].orders[c.client_order_id]
            return e.handle(
                OrderAccepted(
                    ts_ms=ts, ticker=c.ticker, order_id=c.order_id, client_order_id=c.client_order_id,
                    side=c.side, price=c.price, remaining=c.count - o.filled, filled=o.filled,
                )
            )
        if isinstance(c, DecreaseOrder):
            o = e.markets[c.ticker].orders[c.client_order_id]
            return e.handle(
                OrderAccepted(
                    ts_ms=ts, ticker=c.ticker, order_id=c.order_id, client_order_id=c.client_order_id,
                    side=o.side, price=o.price, remaining=c.reduce_to, filled=o.filled,
                )
            )
        if isinstance(c, CancelOrder):
            return e.handle(
                OrderCanceled(ts_ms=ts, ticker=c.ticker, order_id=c.order_id, client_order_id=c.client_order_id)
            )
        if isinstance(c, CancelAll):
            out: list[Command] = []
            for mm in list(e.markets.values()):
                for o in list(mm.orders.values()):
                    if o.order_id:
                        out += e.handle(
                            OrderCanceled(ts_ms=ts, ticker=mm.ticker, order_id=o.order_id,
                                          client_order_id=o.client_order_id)
                        )
            return out
        raise AssertionError(c)

    def settle(self, cmds: list[Command], ts: int, rounds: int = 10) -> None:
        """Ack until the engine is quiet."""
        for _ in range(rounds):
            if not cmds:
                return
            cmds = self.ack(cmds, ts)
        raise AssertionError(f"engine did not settle: {cmds}")

    def fill(self, ticker: str, client_order_id: str, count: int, ts: int, fee: int = 0) -> list[Command]:
        e = self.engine
        o = e.markets[ticker].orders[client_order_id]
        self.fill_n += 1
        return e.handle(
            OrderFilled(
                ts_ms=ts, ticker=ticker, order_id=o.order_id, client_order_id=client_order_id,
                fill_id=f"f{self.fill_n}", side=o.side, price=o.price, count=count, fee=fee, is_taker=False,
            )
        )


def live(engine: Engine, ticker: str = TICKER) -> dict[str, tuple[str, int, int]]:
    """tag -> (side, price, remaining) of the live orders."""
    return {o.tag: (o.side, o.price, o.remaining) for o in engine.markets[ticker].orders.values()}


def tick(engine: Engine, ts: int) -> list[Command]:
    return engine.handle(Tick(ts_ms=ts))


def trade(ts: int, price: int, count: float = 1.0, taker: str = "yes", ticker: str = TICKER, n: int = 0) -> TradePrinted:
    return TradePrinted(ts_ms=ts, ticker=ticker, trade_id=f"tr{ts}-{n}", price=price, count=round(count * C),
                        taker_side=taker)  # type: ignore[arg-type]


def delta(ts: int, side: str, price: int, d: float, ticker: str = TICKER) -> BookDelta:
    return BookDelta(ts_ms=ts, ticker=ticker, side=side, price=price, delta=round(d * C))  # type: ignore[arg-type]
