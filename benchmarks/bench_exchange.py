"""Local exchange benchmarks: matching engine, REST round trips, WS fan-out, memory over a long run.

``python -m benchmarks exchange`` prints:

- ``exchange_engine_ops``: order operations per second in the pure engine (a mix of resting
  creates, cancels, crossing IOCs and decreases; target >= 100k/s);
- ``exchange_rest_rps`` / ``exchange_rest_p50``: sequential REST round trips over loopback from
  a separate client process (public orderbook GET, and a signed GET /portfolio/balance reusing a
  fresh signature as ``kalshi.auth.Signer.headers_cached`` does; target p50 < 500 us);
- ``exchange_ws_msgs``: WS messages per second fanned out to subscribers (target >= 50k/s). The
  benchmark process runs the exchange; a separate reader process opens 8 signed connections, each
  subscribed to ``orderbook_delta`` of one market. The exchange process then places and cancels
  resting orders of another user in the pure engine (40,000 book changes, 200 at a time, each
  batch published to the hub, then one event-loop turn), so every book change is one delta message
  on each of the 8 connections: 320,000 messages. The value is 320,000 / (time the last connection
  received its last delta - time the first delta arrived on any connection), wall clock across
  both processes. It therefore covers the engine calls, the hub's fan-out (encode, per-sid
  envelope, queue) and the WS writers (framing, socket writes), and the loopback TCP transfer; the
  reader is kept cheap (raw frames, headers parsed, no JSON) so that it is not the bottleneck, and it
  checks that each connection's last message is the delta with the expected seq (none lost);
- ``exchange_mem_growth``: traced memory growth of engine + flow between 1/4 and the end of a
  6 simulated-hour run with 20 s markets (target: flat, ~0).
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

from kalshi_mm.domain.units import MONEY_SCALE
from kalshi_mm.exchange.flow import DEFAULT_SERIES, FlowParams, MarketScheduler, SyntheticFlow
from kalshi_mm.exchange.matching import MatchingEngine
from kalshi_mm.exchange.model import IOC, EngineReject
from kalshi_mm.exchange.server import ExchangeConfig, run_exchange

REPO = Path(__file__).resolve().parent.parent


def bench_engine(n: int = 300_000) -> float:
    e = MatchingEngine()
    e.add_market("M", event_ticker="E", series_ticker="S", open_ms=0, close_ms=10**13, now_ms=0)
    users = [f"u{i}" for i in range(8)]
    for u in users:
        e.add_account(u, 10**9 * MONEY_SCALE, record=False)
    rng = random.Random(1)
    plan = []
    for _ in range(n):
        r = rng.random()
        plan.append((r, rng.choice(users), rng.randint(30, 70) * 100, rng.randint(1, 50) * 100))
    live: list[tuple[str, str]] = []
    place, cancel, decrease, drain = e.place, e.cancel, e.decrease, e.drain
    t0 = time.perf_counter()
    now = 1
    for r, u, p, q in plan:
        now += 1
        try:
            if r < 0.5 or len(live) < 50:
                o = place(u, "M", "bid" if p < 5000 else "ask", p, q, now)
                if o.status == "resting":
                    live.append((u, o.order_id))
            elif r < 0.85:
                uu, oid = live.pop(int(r * 7919) % len(live))
                cancel(uu, oid, now)
            elif r < 0.95:
                side = "bid" if r < 0.9 else "ask"
                place(u, "M", side, 7000 if side == "bid" else 3000, q, now, tif=IOC, stp="maker")
            else:
                uu, oid = live[int(r * 7919) % len(live)]
                decrease(uu, oid, now, reduce_by=1)
        except EngineReject:
            pass
        if now & 1023 == 0:
            drain()
    dt = time.perf_counter() - t0
    return n / dt


_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import aiohttp
    sys.path.insert(0, {src!r})
    from kalshi_mm.kalshi.auth import Signer
    base, kid, pem_path, ticker, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

    async def main():
        signer = Signer.from_pem(kid, open(pem_path, "rb").read())
        out = {{}}
        async with aiohttp.ClientSession() as s:
            for name, path, auth in (("public", f"/trade-api/v2/markets/{{ticker}}/orderbook", False),
                                     ("signed", "/trade-api/v2/portfolio/balance", True)):
                lat = []
                for i in range(n + 200):
                    h = signer.headers_cached("GET", path) if auth else None
                    t0 = time.perf_counter()
                    async with s.get(base + path, headers=h) as r:
                        await r.read()
                        assert r.status == 200, r.status
                    if i >= 200:
                        lat.append(time.perf_counter() - t0)
                lat.sort()
                out[name] = {{"p50": lat[len(lat) // 2], "rps": len(lat) / sum(lat)}}
        print(json.dumps(out))

    asyncio.run(main())
    """
)

# A deliberately cheap WS client, so the number measures the server rather than the client: raw
# asyncio sockets, a hand-made RFC 6455 upgrade (signed like any client), then only frame headers
# are parsed to count TEXT frames; no JSON decoding, except the last message of each connection,
# which must be the ``orderbook_delta`` with seq ``expect + 1`` (the snapshot is seq 1), so no
# message was lost, duplicated or reordered. (A ``websockets``-based reader topped out near 20-25k
# msg/s on this machine with the server mostly idle.)
_WS_READER = textwrap.dedent(
    """
import asyncio, base64, json, os, struct, sys, time
sys.path.insert(0, {src!r})
from kalshi_mm.kalshi.auth import Signer
url, kid, pem_path, ticker, conns, expect = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
hostport, path = url.split("://", 1)[1].split("/", 1)
host, port = hostport.rsplit(":", 1)
path = "/" + path


def client_frame(payload):
    key = os.urandom(4)
    n = len(payload)
    hdr = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0xFE, n)
    return hdr + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


class Reader(asyncio.Protocol):
    def __init__(self, request, ready, done):
        self.request, self.ready, self.done = request, ready, done
        self.buf = bytearray()
        self.upgraded = False
        self.text = 0  # TEXT frames seen: "subscribed", the snapshot, then deltas
        self.first = self.last = 0.0
        self.tail = b""

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data):
        buf = self.buf
        buf += data
        if not self.upgraded:
            i = buf.find(b"\\r\\n\\r\\n")
            if i < 0:
                return
            assert buf.startswith(b"HTTP/1.1 101"), bytes(buf[:200])
            del buf[: i + 4]
            self.upgraded = True
            sub = {{"id": 1, "cmd": "subscribe", "params": {{"channels": ["orderbook_delta"], "market_tickers": [ticker]}}}}
            self.transport.write(client_frame(json.dumps(sub).encode()))
        pos, size, text, goal = 0, len(buf), self.text, expect + 2
        while size - pos >= 2:
            ln = buf[pos + 1] & 0x7F
            if ln < 126:
                start = pos + 2
            elif ln == 126:
                ln = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                ln = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + ln
            if end > size:
                break
            if buf[pos] & 0x0F == 1:
                text += 1
                if text == 2:
                    self.ready.set_result(None)
                elif text == 3:
                    self.first = time.time()
                elif text == goal:
                    self.last = time.time()
                    self.tail = bytes(buf[start:end])
                    self.done.set_result(None)
            pos = end
        del buf[:pos]
        self.text = text


async def main():
    signer = Signer.from_pem(kid, open(pem_path, "rb").read())
    loop = asyncio.get_running_loop()
    readers = []
    for _ in range(conns):
        h = signer.headers("GET", path)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {{path}} HTTP/1.1\\r\\nHost: {{hostport}}\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
               f"Sec-WebSocket-Key: {{key}}\\r\\nSec-WebSocket-Version: 13\\r\\n"
               + "".join(f"{{k}}: {{v}}\\r\\n" for k, v in h.items()) + "\\r\\n").encode()
        r = Reader(req, loop.create_future(), loop.create_future())
        await loop.create_connection(lambda r=r: r, host, int(port))
        readers.append(r)
    await asyncio.wait_for(asyncio.gather(*(r.ready for r in readers)), 30)
    print("READY", flush=True)
    await asyncio.wait_for(asyncio.gather(*(r.done for r in readers)), 120)
    tails = [json.loads(r.tail) for r in readers]
    assert all(t["type"] == "orderbook_delta" and t["seq"] == expect + 1 for t in tails), tails[:1]
    print(json.dumps({{"first": min(r.first for r in readers), "last": max(r.last for r in readers), "n": conns * expect}}), flush=True)

asyncio.run(main())
    """
)


async def _rest_and_ws() -> list[tuple[str, float, str]]:
    out: list[tuple[str, float, str]] = []
    cfg = ExchangeConfig(seed=1, flow=False, markets=1, rate_limits=False, tier="prime")
    with tempfile.TemporaryDirectory() as d:
        async with run_exchange(cfg, keys_dir=d) as ex:
            ticker = next(iter(ex.state.engine.markets))
            eng = ex.state.engine
            mm = ex.add_user()
            for i in range(20):
                eng.place(mm.user_id, ticker, "bid", 2000 + i * 100, 1000, ex.state.now_ms())
                eng.place(mm.user_id, ticker, "ask", 6000 + i * 100, 1000, ex.state.now_ms())
            ex.state.publish()
            code = _CLIENT.format(src=str(REPO / "src"))
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                ex.base_url,
                ex.api_key_id,
                str(ex.private_key_file),
                ticker,
                "3000",
                stdout=subprocess.PIPE,
            )
            stdout, _ = await proc.communicate()
            res = json.loads(stdout)
            out.append(("exchange_rest_rps_public", res["public"]["rps"], "req/s"))
            out.append(("exchange_rest_p50_public", res["public"]["p50"] * 1e6, "us"))
            out.append(("exchange_rest_rps_signed", res["signed"]["rps"], "req/s"))
            out.append(("exchange_rest_p50_signed", res["signed"]["p50"] * 1e6, "us"))

            # WS fan-out: 8 connections subscribed to one book; the server pushes deltas
            conns, per_conn = 8, 40_000
            code = _WS_READER.format(src=str(REPO / "src"))
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                ex.ws_url,
                ex.api_key_id,
                str(ex.private_key_file),
                ticker,
                str(conns),
                str(per_conn),
                stdout=subprocess.PIPE,
            )
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            assert line.strip() == b"READY", line
            sent = 0
            now = ex.state.now_ms()
            live = []
            while sent < per_conn:
                for _ in range(200):
                    o = eng.place(mm.user_id, ticker, "bid", 3000, 100, now)
                    live.append(o.order_id)
                    sent += 1
                    if len(live) > 100:
                        eng.cancel(mm.user_id, live.pop(0), now)
                        sent += 1
                ex.state.publish()
                await asyncio.sleep(0)
            stdout, _ = await proc.communicate()
            res = json.loads(stdout.splitlines()[-1])
            out.append(("exchange_ws_msgs", res["n"] / (res["last"] - res["first"]), "msg/s"))
    return out


def bench_memory(hours: float = 6.0) -> float:
    """Traced memory growth (MB) of engine + flow from 1/4 to the end of a long simulated run."""
    e = MatchingEngine(retain_finalized=200)
    rng = random.Random(3)
    series = tuple(
        s.__class__(s.ticker, p, s.title, s.frequency)
        for s, p in zip(DEFAULT_SERIES, (20, 80, 320), strict=True)
    )
    sch = MarketScheduler(e, series, FlowParams(), rng, 0)
    fl = SyntheticFlow(e, sch, FlowParams(speed=2), rng)
    end = int(hours * 3600 * 1000)
    step = 250
    gc.collect()
    tracemalloc.start()
    mark = None
    for now in range(0, end, step):
        e.advance(now)
        sch.step(now)
        fl.step(now)
        e.drain()
        if mark is None and now >= end // 4:
            gc.collect()
            mark = tracemalloc.get_traced_memory()[0]
    gc.collect()
    final = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert mark is not None
    return (final - mark) / 1e6


def run() -> list[tuple[str, float, str]]:
    out = [("exchange_engine_ops", bench_engine(), "ops/s")]
    out += asyncio.run(_rest_and_ws())
    out.append(("exchange_mem_growth", bench_memory(), "MB"))
    return out


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"BENCH {name} {value:.3g} {unit}")
