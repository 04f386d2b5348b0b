"""Processes for the end-to-end tests: `kmm exchange` and `kmm run` as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


class ExchangeProcess:
    def __init__(self, proc: subprocess.Popen[str], base_url: str, keys: Path) -> None:
        self.proc = proc
        self.base_url = base_url
        self.keys = keys

    @property
    def key_id(self) -> str:
        return (self.keys / "api_key_id").read_text().strip()

    @property
    def key_file(self) -> Path:
        return self.keys / "private_key.pem"

    def admin(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method="POST" if body is not None else "GET")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def account(self) -> dict:
        return self.admin(f"/admin/accounts/{self.key_id}")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KALSHI_API_KEY_ID"] = self.key_id
        env["KALSHI_PRIVATE_KEY_FILE"] = str(self.key_file)
        env.pop("KALSHI_BASE_URL", None)
        return env


def start_exchange(tmp: Path, *args: str) -> ExchangeProcess:
    keys = tmp / "keys"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalshi_mm.cli", "exchange", "--port", "0", "--keys-dir", str(keys), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    base_url = None
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"local exchange on (http://127\.0\.0\.1:\d+)", line)
        if m:
            base_url = m.group(1)
            break
    if base_url is None:
        proc.kill()
        raise RuntimeError("kmm exchange did not start")
    # keep draining its output so it never blocks on a full pipe
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    while not (keys / "private_key.pem").exists():
        time.sleep(0.05)
    return ExchangeProcess(proc, base_url, keys)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def exchange_factory(tmp_path):
    started: list[ExchangeProcess] = []

    def make(*args: str) -> ExchangeProcess:
        ex = start_exchange(tmp_path, *args)
        started.append(ex)
        return ex

    yield make
    for ex in started:
        stop_process(ex.proc)
