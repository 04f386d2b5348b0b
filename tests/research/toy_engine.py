"""A tiny deterministic engine for testing the backtester's plumbing without the live Engine."""

from __future__ import annotations

from kalshi_mm.core import commands as cm
from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook


class JoinTopEngine:
    """Quotes one bid at the best bid and one ask at the best ask (size 5), requoting every ~5 s."""

    def __init__(self, size: int = 500, refresh_ms: int = 5000, id_prefix: str = "toy") -> None:
        self.books: dict[str, OrderBook] = {}
        self.live: dict[str, dict[str, str]] = {}  # ticker -> coid -> order_id ("" while pending)
        self.size = size
        self.refresh_ms = refresh_ms
        self.last: dict[str, int] = {}
        self.n = 0
        self.prefix = id_prefix
        self.closed: set[str] = set()
        self.position: dict[str, int] = {}

    def _coid(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n}"

    def handle(self, e: ev.Event) -> list[cm.Command]:
        t = type(e)
        if t is ev.BookSnapshot:
            b = self.books.setdefault(e.ticker, OrderBook(e.ticker))
            b.apply_snapshot(e.yes, e.no)
            return self._quote(e.ticker, e.ts_ms)
        if t is ev.BookDelta:
            b = self.books.get(e.ticker)
            if b is not None:
                b.apply_delta(e.side, e.price, e.delta)
            return self._quote(e.ticker, e.ts_ms)
        if t is ev.OrderAccepted:
            self.live.setdefault(e.ticker, {})[e.client_order_id] = e.order_id
        elif t in (ev.OrderCanceled, ev.OrderExecuted):
            self.live.get(e.ticker, {}).pop(e.client_order_id or "", None)
        elif t is ev.OrderRejected:
            self.live.get(e.ticker, {}).pop(e.client_order_id, None)
        elif t is ev.OrderFilled:
            self.position[e.ticker] = self.position.get(e.ticker, 0) + (e.count if e.side == "bid" else -e.count)
        elif t is ev.MarketClosed:
            self.closed.add(e.ticker)
        elif t is ev.Tick:
            out: list[cm.Command] = []
            for tk in list(self.books):
                out += self._quote(tk, e.ts_ms)
            return out
        return []

    def _quote(self, tk: str, now: int) -> list[cm.Command]:
        if tk in self.closed:
            return []
        b = self.books.get(tk)
        if b is None or b.best_bid is None or b.best_ask is None or b.best_ask - b.best_bid < 200:
            return []
        live = self.live.setdefault(tk, {})
        if now - self.last.get(tk, 0) < self.refresh_ms:
            return []
        self.last[tk] = now
        out: list[cm.Command] = [
            cm.CancelOrder(ticker=tk, order_id=oid, client_order_id=coid) for coid, oid in live.items() if oid
        ]
        pos = self.position.get(tk, 0)
        if pos < 2000:
            c = self._coid()
            live[c] = ""
            out.append(cm.PlaceOrder(ticker=tk, client_order_id=c, side="bid", price=b.best_bid, count=self.size, post_only=True))
        if pos > -2000:
            c = self._coid()
            live[c] = ""
            out.append(cm.PlaceOrder(ticker=tk, client_order_id=c, side="ask", price=b.best_ask, count=self.size, post_only=True))
        return out
