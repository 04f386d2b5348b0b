"""Venue shells: REST order round trip over loopback and feed throughput.

- ``venue_order_rtt_*``: ``KalshiRestClient.create_order`` against ``kmm exchange`` running as a
  separate process on 127.0.0.1 (rate limits off, no synthetic flow): request signing, encode,
  HTTP over loopback, the exchange's matching, response decode. Ed25519 signs every request;
  RSA-PSS is measured signing every request and with ``sign_cache_ms`` (``Signer.headers_cached``
  reusing a signature for the same method+path for up to 1 s).
- ``venue_feed_throughput``: ``KalshiFeed.handle_frame`` on recorded-shape ``orderbook_delta``
  frames (bytes): fast decode, per-sid seq check, sync check, apply to the ``OrderBook``, build the
  ``BookDelta`` event and queue it; the queue is drained as a consumer would.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.common import percentile
from kalshi_mm.domain.book import OrderBook
from kalshi_mm.domain.units import format_price, format_qty
from kalshi_mm.kalshi import schemas as s
from kalshi_mm.kalshi.auth import Signer, generate_key
from kalshi_mm.kalshi.parse import encode
from kalshi_mm.venue.feed import BOOK, KalshiFeed
from kalshi_mm.venue.rest import KalshiRestClient

N_ORDERS = int(os.environ.get("BENCH_VENUE_ORDERS", "3000"))
N_FRAMES = int(os.environ.get("BENCH_VENUE_FRAMES", "400000"))


def _start_exchange(d: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = d / "exchange.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalshi_mm.cli", "exchange", "--port", "0", "--keys-dir", str(d / "keys"),
         "--no-flow", "--no-rate-limits", "--key-type", "ed25519"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"http://127\.0\.0\.1:\d+", log.read_text())
        if m:
            return proc, m.group(0)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("exchange did not start: " + log.read_text())


async def _rtt(url: str, signer: Signer, sign_cache_ms: int, n: int) -> list[float]:
    async with KalshiRestClient("local", base_url=url, signer=signer, sign_cache_ms=sign_cache_ms) as c:
        ticker = (await c.get_markets(status="open")).markets[0].ticker
        samples: list[float] = []
        tag = f"{signer.kind}-{sign_cache_ms}"
        for i in range(n + 100):
            t0 = time.perf_counter()
            await c.create_order(ticker, "bid", 100 + (i % 20) * 100, 100, client_order_id=f"b-{tag}-{i}")
            dt = time.perf_counter() - t0
            if i >= 100:  # warm-up: connection pool, caches
                samples.append(dt * 1e6)
        await c.cancel_all_orders()
        return samples


async def _order_rtts() -> list[tuple[str, float, str]]:
    out: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        proc, url = _start_exchange(d)
        try:
            kid = (d / "keys" / "api_key_id").read_text().strip()
            ed = Signer.from_pem(kid, (d / "keys" / "private_key.pem").read_bytes())
            async with aiohttp.ClientSession() as sess, sess.post(url + "/admin/users", json={"key_type": "rsa"}) as r:
                user = await r.json()
            rsa = Signer.from_pem(user["api_key_id"], user["private_key_pem"])
            for name, signer, cache in (("ed25519", ed, 0), ("rsa", rsa, 0), ("rsa_cached", rsa, 1000)):
                xs = await _rtt(url, signer, cache, N_ORDERS)
                out.append((f"venue_order_rtt_p50_{name}", percentile(xs, 50), "us"))
                out.append((f"venue_order_rtt_p99_{name}", percentile(xs, 99), "us"))
        finally:
            proc.terminate()
            proc.wait(10)
    return out


def _frames(tickers: list[str], n: int) -> list[bytes]:
    """Deltas that keep every level positive: add then remove at the same price, round robin."""
    frames = []
    seq = 1
    for i in range(n):
        t = tickers[i % len(tickers)]
        k = i // len(tickers)
        price = 100 + 100 * (k % 40)
        sign = 1 if (k // 40) % 2 == 0 else -1
        side = "yes" if k % 2 == 0 else "no"
        seq += 1
        msg = s.OrderbookDelta(
            sid=1,
            seq=seq,
            msg=s.OrderbookDeltaMsg(
                market_ticker=t,
                market_id="m-" + t,
                price_dollars=format_price(price),
                delta_fp=format_qty(sign * 500),
                side=side,  # type: ignore[arg-type]
                ts_ms=1_760_000_000_000 + i,
            ),
        )
        frames.append(encode(msg))
    return frames


def _feed_throughput() -> list[tuple[str, float, str]]:
    tickers = [f"KXBENCH-26JAN01-T{i}" for i in range(8)]
    frames = _frames(tickers, N_FRAMES)
    pem, _ = generate_key("ed25519")

    async def go() -> float:
        feed = KalshiFeed("local", signer=Signer.from_pem("bench", pem), markets=tickers, queue_size=1 << 20)
        st = feed.state
        st.reset(time.monotonic())
        st.on_subscribed(BOOK, 1)
        st.add_markets(tickers)
        for t in tickers:  # snapshot: deep books
            st.on_snapshot(t)
            b = feed.books[t] = OrderBook(t)
            b.apply_snapshot([(p, 100_000) for p in range(100, 4100, 100)], [(p, 100_000) for p in range(100, 4100, 100)])
        st.last_seq[1] = 1
        q = feed.queue
        handle = feed.handle_frame
        t0 = time.perf_counter()
        for i, raw in enumerate(frames):
            if handle(raw, 0) is not None:
                raise RuntimeError("unexpected follow-up on the hot path")
            if i & 1023 == 1023:
                while not q.empty():
                    q.get_nowait()
        dt = time.perf_counter() - t0
        assert st.gaps == 0 and st.dropped_deltas == 0 and feed.protocol_errors == 0
        return len(frames) / dt

    return [("venue_feed_throughput", asyncio.run(go()), "msg/s")]


def run() -> list[tuple[str, float, str]]:
    return [*_feed_throughput(), *asyncio.run(_order_rtts())]
