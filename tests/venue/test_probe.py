"""``kmm probe`` as a subprocess against ``kmm exchange`` also started as a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalshi_mm.kalshi.auth import generate_key

KMM = [sys.executable, "-m", "kalshi_mm.cli"]


@pytest.fixture(scope="module")
def exchange_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    d = tmp_path_factory.mktemp("probe")
    keys = d / "keys"
    log = (d / "exchange.log").open("w")
    proc = subprocess.Popen(
        [*KMM, "exchange", "--port", "0", "--keys-dir", str(keys), "--no-flow", "--key-type", "ed25519"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and url is None:
            time.sleep(0.1)
            m = re.search(r"http://127\.0\.0\.1:\d+", (d / "exchange.log").read_text())
            url = m.group(0) if m else None
            assert proc.poll() is None, (d / "exchange.log").read_text()
        assert url, "exchange did not start"
        yield url, keys
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def run_probe(url: str, key_id: str, key_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI_", "KMM_"))}
    env.update(KALSHI_API_KEY_ID=key_id, KALSHI_PRIVATE_KEY_FILE=str(key_file))
    return subprocess.run(
        [*KMM, "probe", "--env", "local", "--base-url", url, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=key_file.parent,
    )


def test_probe_passes(exchange_proc: tuple[str, Path]) -> None:
    url, keys = exchange_proc
    r = run_probe(url, (keys / "api_key_id").read_text().strip(), keys / "private_key.pem")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("exchange status", "balance (auth)", "place order", "confirm order id", "cancel order", "confirm cancel"):
        assert re.search(rf"ok\s+{re.escape(step)}\s+[\d.]+ ms", r.stdout), step
    assert "all steps passed" in r.stdout
    assert "PRIVATE KEY" not in r.stdout + r.stderr


def test_probe_wrong_key_fails_with_explanation(exchange_proc: tuple[str, Path], tmp_path: Path) -> None:
    url, keys = exchange_proc
    wrong = tmp_path / "wrong.pem"
    pem, _ = generate_key("ed25519")
    wrong.write_bytes(pem)
    wrong.chmod(0o600)
    r = run_probe(url, (keys / "api_key_id").read_text().strip(), wrong)
    assert r.returncode == 1
    assert "probe failed:" in r.stderr and "401" in r.stderr and "clock" in r.stderr
    assert pem.decode() not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_probe_missing_key_file(exchange_proc: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = exchange_proc
    r = run_probe(url, "some-key", tmp_path / "nope.pem")
    assert r.returncode == 1
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
