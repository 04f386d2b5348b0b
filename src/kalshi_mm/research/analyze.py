"""``kmm analyze`` (ind_research's ``main.py``): per market, the current spread and the last hour's
trades (count, volume, average trade size, high, low), from a recording or from live REST.

Prices are shown in cents and sizes in contracts; the computation is on ints.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kalshi_mm.core import events as ev
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.domain.units import parse_price, parse_qty

HOUR_MS = 3_600_000


@dataclass
class MarketStats:
    ticker: str
    bid: float | None  # cents
    ask: float | None
    spread: float | None
    trades_1h: int
    volume_1h: float  # contracts
    avg_trade_1h: float  # contracts per trade
    high_1h: float | None  # cents
    low_1h: float | None
    as_of_ms: int


def _stats(ticker: str, book: OrderBook | None, trades: Iterable[tuple[int, int, int]], now: int) -> MarketStats:
    recent = [(t, p, c) for t, p, c in trades if now - HOUR_MS <= t <= now]
    vol = sum(c for _, _, c in recent)
    bid = book.best_bid if book else None
    ask = book.best_ask if book else None
    return MarketStats(
        ticker=ticker,
        bid=bid / 100 if bid is not None else None,
        ask=ask / 100 if ask is not None else None,
        spread=(ask - bid) / 100 if bid is not None and ask is not None else None,
        trades_1h=len(recent),
        volume_1h=vol / 100,
        avg_trade_1h=(vol / len(recent) / 100) if recent else 0.0,
        high_1h=max(p for _, p, _ in recent) / 100 if recent else None,
        low_1h=min(p for _, p, _ in recent) / 100 if recent else None,
        as_of_ms=now,
    )


def from_recording(paths: Sequence[Path | str], at_ms: int | None = None) -> list[MarketStats]:
    """Stats at ``at_ms`` (default: the end of the recording) for every market in it."""
    from kalshi_mm.research import replay

    tape, _ = replay.replay(paths, lifecycle=False)
    end = at_ms if at_ms is not None else (tape.recv[-1] if tape.recv else 0)
    books: dict[str, OrderBook] = {}
    trades: dict[str, list[tuple[int, int, int]]] = {}
    events: list[Any] = tape.events
    for r, e in zip(tape.recv, events, strict=True):
        if r > end:
            break
        t = type(e)
        if t is ev.BookDelta:
            b = books.get(e.ticker)
            if b is not None:
                b.apply_delta(e.side, e.price, e.delta)
        elif t is ev.BookSnapshot:
            books.setdefault(e.ticker, OrderBook(e.ticker)).apply_snapshot(e.yes, e.no)
        elif t is ev.TradePrinted:
            trades.setdefault(e.ticker, []).append((e.ts_ms, e.price, e.count))
    tickers = sorted({*books, *trades})
    return [_stats(tk, books.get(tk), trades.get(tk, ()), end) for tk in tickers]


async def from_rest(client: Any, tickers: Sequence[str], now_ms: int) -> list[MarketStats]:
    """Live: each market's order book and its trades of the last hour (``KalshiRestClient``)."""
    from kalshi_mm.kalshi import parse

    out = []
    for tk in tickers:
        ob = await client.get_orderbook(tk)
        book = OrderBook(tk)
        snap = parse.snapshot_from_rest(tk, ob, now_ms)
        book.apply_snapshot(snap.yes, snap.no)
        trades = []
        async for tr in client.iter_trades(ticker=tk, min_ts=(now_ms - HOUR_MS) // 1000, limit=1000):
            trades.append((parse.rfc3339_to_ms(tr.created_time), parse_price(tr.yes_price_dollars),
                           parse_qty(tr.count_fp)))
        out.append(_stats(tk, book, trades, now_ms))
    return out


def write_csv(rows: Sequence[MarketStats], path: Path | str) -> Path:
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(MarketStats.__dataclass_fields__))
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
    return path
