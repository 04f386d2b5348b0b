"""Credentials from env vars / .env into a signed client; clear errors, no secrets in reprs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kalshi_mm.config import load_settings
from kalshi_mm.errors import ConfigError
from kalshi_mm.exchange.server import ExchangeHandle
from kalshi_mm.venue.rest import KalshiRestClient, signer_from_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for k in list(os.environ):
        if k.startswith(("KALSHI_", "KMM_")):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


async def test_env_vars_and_base_url_override(clean_env: Path, monkeypatch: pytest.MonkeyPatch, exchange: ExchangeHandle) -> None:
    key = clean_env / "k.pem"
    key.write_bytes(exchange.private_key_pem)
    key.chmod(0o600)
    monkeypatch.setenv("KALSHI_API_KEY_ID", exchange.api_key_id)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_FILE", str(key))
    monkeypatch.setenv("KALSHI_BASE_URL", exchange.base_url)
    settings = load_settings(env="local")
    async with KalshiRestClient.from_settings(settings) as c:
        assert c.root == exchange.base_url + "/trade-api/v2"
        assert (await c.get_balance()).balance > 0
        text = repr(c) + repr(settings) + repr(settings.credentials) + str(c.signer)
    assert exchange.api_key_id not in text
    assert "PRIVATE" not in text


def test_dotenv_file(clean_env: Path, exchange: ExchangeHandle) -> None:
    key = clean_env / "k.pem"
    key.write_bytes(exchange.private_key_pem)
    key.chmod(0o600)
    (clean_env / ".env").write_text(f"KALSHI_API_KEY_ID={exchange.api_key_id}\nKALSHI_PRIVATE_KEY_FILE={key}\n")
    signer = signer_from_settings(load_settings(env="demo"))
    assert signer.key_id == exchange.api_key_id


def test_dotenv_shared_with_other_tools_and_credentials_table(clean_env: Path) -> None:
    """Unrelated keys in .env are not ours to reject; a [credentials] table in the config file works;
    a typo in the config file is a clear error."""
    (clean_env / ".env").write_text("OTHER_TOOL_TOKEN=abc\nKALSHI_API_KEY_ID=kid-from-env\n")
    cfg = clean_env / "kmm.toml"
    cfg.write_text('[credentials]\nprivate_key_file = "k.pem"\napi_key_id = "kid-from-file"\n')
    s = load_settings(cfg)
    assert s.credentials.key_id() == "kid-from-env"  # env (.env) wins over the file
    assert s.credentials.private_key_file == Path("k.pem")
    cfg.write_text("riskk = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting.*riskk"):
        load_settings(cfg)
    cfg.write_text('[credentials]\napi_key = "x"\n')
    with pytest.raises(ConfigError, match="credentials"):
        load_settings(cfg)


def test_recommended_rest_host_override_maps_to_its_ws_host() -> None:
    from kalshi_mm.config import ws_url

    assert ws_url("prod", "https://external-api.kalshi.com/") == "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
    assert ws_url("demo", "https://external-api.demo.kalshi.co") == (
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
    )
    assert ws_url("prod", "https://api.elections.kalshi.com") == "wss://api.elections.kalshi.com/trade-api/ws/v2"
    assert ws_url("local", "http://127.0.0.1:8765") == "ws://127.0.0.1:8765/trade-api/ws/v2"


def test_missing_and_unreadable_key_files(clean_env: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        signer_from_settings(load_settings(env="demo", api_key_id="kid", private_key_file=clean_env / "nope.pem"))
    garbage = clean_env / "garbage.pem"
    garbage.write_text("not a key")
    garbage.chmod(0o600)
    with pytest.raises(ConfigError, match="not a PEM") as ei:
        signer_from_settings(load_settings(env="demo", api_key_id="kid", private_key_file=garbage))
    assert "not a key" not in str(ei.value)
    with pytest.raises(ConfigError, match="KALSHI_API_KEY_ID"):
        signer_from_settings(load_settings(env="demo", private_key_file=garbage))


def test_world_readable_key_warns(clean_env: Path, exchange: ExchangeHandle) -> None:
    key = clean_env / "open.pem"
    key.write_bytes(exchange.private_key_pem)
    key.chmod(0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        signer_from_settings(load_settings(env="demo", api_key_id="kid", private_key_file=key))
