"""The dashboard in headless Chromium (Debian's, driven by Playwright) over a live paper session."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest

from kalshi_mm.config import load_settings
from kalshi_mm.exchange.server import ExchangeConfig, run_exchange
from kalshi_mm.runtime.cmd import serve_dashboard
from kalshi_mm.runtime.runner import Runner, RunOptions

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[2] / "test-output"
pytestmark = pytest.mark.browser


async def _wait(pred, timeout: float = 30.0, every: float = 0.2):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def test_dashboard_live_and_kill_switch(tmp_path):
    from playwright.async_api import async_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is installed by `make test`"
    cfg = ExchangeConfig(seed=11, markets=3, market_seconds=600, tier="prime", flow_speed=2.0)
    async with run_exchange(cfg, keys_dir=tmp_path / "keys") as ex:
        settings = load_settings(
            None,
            env="local",
            base_url=ex.base_url,
            api_key_id=ex.api_key_id,
            private_key_file=str(ex.private_key_file),
            data_dir=str(tmp_path / "data"),
            strategy="avellaneda_stoikov",
        )
        runner = Runner(settings, RunOptions(max_markets=3, select_every_s=2, snapshot_every_s=0.5))
        token = "test-token-123456"
        dash_task, server = await serve_dashboard(runner, "127.0.0.1", 0, token)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        run_task = asyncio.create_task(runner.run())
        account = ex.state.engine.accounts[ex.user_id]
        try:
            # the bot quotes: orders rest on the exchange
            await _wait(lambda: len(account.open_orders) > 0, timeout=45)

            # state-changing endpoints need the token
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{url}/api/risk/kill-switch", json={"engage": True}) as r:
                    assert r.status == 401
                async with http.post(
                    f"{url}/api/strategy/stop", headers={"Authorization": "Bearer wrong"}
                ) as r:
                    assert r.status == 401
                async with http.get(f"{url}/api/strategy/status") as r:
                    assert r.status == 200 and (await r.json())["running"] is True
                async with http.get(f"{url}/metrics") as r:
                    assert "kmm_commands_total" in await r.text()

            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run"],
                )
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                await page.goto(f"{url}/#token={token}")
                await page.wait_for_selector("#markets tbody tr", timeout=20_000)
                await page.wait_for_function("document.getElementById('conn').textContent === 'live'")
                first = await page.get_attribute("body", "data-updated")
                await page.wait_for_function(
                    f"document.body.dataset.updated && document.body.dataset.updated !== '{first}'", timeout=10_000
                )
                rows = await page.locator("#markets tbody tr").count()
                assert rows >= 1
                assert "quoting" in await page.text_content("#running")
                await page.wait_for_selector("#orders tbody tr", timeout=20_000)
                OUT.mkdir(exist_ok=True)
                await page.screenshot(path=str(OUT / "dashboard.png"), full_page=True)
                await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

                # the kill switch, clicked with the token, leaves no resting orders on the exchange
                await page.click("#kill")
                await page.wait_for_function("document.getElementById('killed').textContent === 'KILLED'")
                await _wait(lambda: len(account.open_orders) == 0, timeout=20)
                await asyncio.sleep(1.5)  # and nothing new is placed while killed
                assert len(account.open_orders) == 0
                await page.screenshot(path=str(OUT / "dashboard-killed.png"), full_page=True)
                await browser.close()
        finally:
            runner.stop("test over")
            await asyncio.wait_for(run_task, 30)
            server.should_exit = True
            await asyncio.wait_for(dash_task, 10)
        assert len(account.open_orders) == 0
