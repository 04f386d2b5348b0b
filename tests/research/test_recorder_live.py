"""kmm record's live mode: the recording KalshiFeed against the local exchange, replayed back."""

from __future__ import annotations

import asyncio

from kalshi_mm.core import events as ev
from kalshi_mm.exchange.flow import FlowParams
from kalshi_mm.exchange.server import ExchangeConfig, run_exchange
from kalshi_mm.kalshi.auth import Signer
from kalshi_mm.research import recorder as rc
from kalshi_mm.research import replay
from kalshi_mm.venue.policy import Backoff
from kalshi_mm.venue.rest import KalshiRestClient


async def test_record_local_exchange_and_replay(tmp_path):
    cfg = ExchangeConfig(seed=1, flow=True, markets=2, key_kind="ed25519", tier="prime", ping_interval_s=1.0,
                         flow_params=FlowParams(speed=5, lp_latency_s=0.01, lp_refresh_s=0.05, sigma=1.0), tick_s=0.02)
    async with run_exchange(cfg, port=0) as ex:
        signer = Signer.from_pem(ex.api_key_id, ex.private_key_pem)
        async with KalshiRestClient("local", base_url=ex.base_url, signer=signer) as client:
            tickers = sorted(m.ticker for m in await client.get_all_markets(status="open"))
            with rc.RecordingWriter(tmp_path / "ws") as w:
                feed = rc.recording_feed(w, env="local", base_url=ex.base_url, signer=signer, markets=tickers,
                                         backoff=Backoff(base=0.05, cap=0.5))
                seen = []
                st = await rc.record_feed(feed, w, duration_s=2.0, on_progress=lambda s: seen.append(s.line()))
                assert st.messages > 10 and st.markets == set(tickers) and seen
            with rc.RecordingWriter(tmp_path / "rest", jsonl=True) as w:
                await rc.poll_rest(client, tickers, w, interval_s=0.2, duration_s=0.5)
    files = sorted((tmp_path / "ws").rglob("*.ndjson.gz"))
    assert {f.parent.name for f in files} == set(tickers)
    tape = replay.merge([replay.load(f, cache=False) for f in files])
    kinds = {type(e) for e in tape.events}
    assert ev.BookSnapshot in kinds and ev.BookDelta in kinds
    rest = sorted((tmp_path / "rest").rglob("*.jsonl"))
    rtape = replay.load(rest[0], cache=False)
    assert any(type(e) is ev.BookSnapshot for e in rtape.events)
    await asyncio.sleep(0)
