"""Configuration: TOML file + environment variables + ``.env``, validated by pydantic-settings.

Precedence (highest first): explicit overrides (CLI flags), environment variables
(``KALSHI_API_KEY_ID``, ``KALSHI_PRIVATE_KEY_FILE``, ``KALSHI_BASE_URL``, ``KMM_*``), ``.env``,
the TOML file, defaults. Secrets are ``SecretStr`` so they never print in a repr or a log.
"""

from __future__ import annotations

import os
import stat
import tomllib
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from kalshi_mm.errors import ConfigError

Env = Literal["local", "demo", "prod"]

#: Server roots (REST under /trade-api/v2, WS under /trade-api/ws/v2), kalshi-api.md section 1.
BASE_URLS: dict[str, str] = {
    "prod": "https://external-api.kalshi.com",
    "demo": "https://external-api.demo.kalshi.co",
    "local": "http://127.0.0.1:8765",
}
WS_URLS: dict[str, str] = {
    "prod": "wss://external-api-ws.kalshi.com",
    "demo": "wss://external-api-ws.demo.kalshi.co",
}
REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"


def rest_root(env: str, base_url: str | None = None) -> str:
    """REST base URL including ``/trade-api/v2``."""
    return (base_url or BASE_URLS[env]).rstrip("/") + REST_PREFIX


def ws_url(env: str, base_url: str | None = None) -> str:
    """WebSocket URL (``.../trade-api/ws/v2``); an http(s) override maps to ws(s).

    Kalshi's recommended REST hosts serve WebSocket on a host of their own (section 1:
    ``external-api-ws.*``), so an override naming one of them maps to that host.
    """
    if base_url:
        root = base_url.rstrip("/")
        for e, rest in BASE_URLS.items():
            if root == rest and e in WS_URLS:
                return WS_URLS[e] + WS_PATH
        if root.startswith("https://"):
            root = "wss://" + root[len("https://") :]
        elif root.startswith("http://"):
            root = "ws://" + root[len("http://") :]
    else:
        root = WS_URLS.get(env) or BASE_URLS[env].replace("http://", "ws://")
    return root + WS_PATH


class Credentials(BaseModel):
    """An API key id and the path of its private key (the key itself is read when needed)."""

    api_key_id: SecretStr | None = None
    private_key_file: Path | None = None

    @property
    def present(self) -> bool:
        return self.api_key_id is not None and self.private_key_file is not None

    def key_id(self) -> str:
        if self.api_key_id is None:
            raise ConfigError("no API key id: set KALSHI_API_KEY_ID (or credentials.api_key_id in the config)")
        return self.api_key_id.get_secret_value()

    def read_private_key(self) -> bytes:
        """The PEM bytes; clear errors for a missing or unreadable file, a warning if too open."""
        path = self.private_key_file
        if path is None:
            raise ConfigError(
                "no private key file: set KALSHI_PRIVATE_KEY_FILE (or credentials.private_key_file)"
            )
        path = Path(path).expanduser()
        if not path.exists():
            raise ConfigError(f"private key file {path} does not exist")
        if not path.is_file():
            raise ConfigError(f"private key file {path} is not a regular file")
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"private key file {path} cannot be read: {e.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.warn(
                f"private key file {path} is readable by group or others; chmod 600 it",
                stacklevel=2,
            )
        return data

    def __repr__(self) -> str:
        kid = "set" if self.api_key_id else "unset"
        return f"Credentials(api_key_id=<{kid}>, private_key_file={self.private_key_file!s})"


class DashboardSettings(BaseModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: SecretStr | None = None


class Settings(BaseSettings):
    """Everything configurable. Sections other than these are read by the areas that own them."""

    model_config = SettingsConfigDict(
        env_prefix="KMM_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        # a .env shared with other tools may hold keys of theirs; the config file is checked
        # key by key in load_settings (a typo there is an error, not a silently ignored key)
        extra="ignore",
    )

    env: Env = "local"
    base_url: str | None = Field(None, validation_alias=AliasChoices("KALSHI_BASE_URL", "KMM_BASE_URL", "base_url"))
    api_key_id: SecretStr | None = Field(
        None, validation_alias=AliasChoices("KALSHI_API_KEY_ID", "KMM_API_KEY_ID", "api_key_id")
    )
    private_key_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("KALSHI_PRIVATE_KEY_FILE", "KMM_PRIVATE_KEY_FILE", "private_key_file"),
    )
    tier: Literal["basic", "advanced", "premier", "paragon", "prime"] = "basic"
    data_dir: Path = Path("var")
    strategy: str = "avellaneda_stoikov"
    strategy_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    risk: dict[str, Any] = Field(default_factory=dict)
    execution: dict[str, Any] = Field(default_factory=dict)
    selection: dict[str, Any] = Field(default_factory=dict)
    runtime: dict[str, Any] = Field(default_factory=dict)
    exchange: dict[str, Any] = Field(default_factory=dict)
    dashboard: DashboardSettings = Field(default_factory=lambda: DashboardSettings())

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v.rstrip("/") if v else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, file_secret_settings)

    @property
    def credentials(self) -> Credentials:
        return Credentials(api_key_id=self.api_key_id, private_key_file=self.private_key_file)

    @property
    def rest_url(self) -> str:
        return rest_root(self.env, self.base_url)

    @property
    def ws_url(self) -> str:
        return ws_url(self.env, self.base_url)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, the environment and ``.env``, then ``overrides``.

    Environment variables win over the file; explicit (non-None) overrides win over both.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
        creds = file_values.pop("credentials", None)
        if creds is not None:  # a [credentials] table: api_key_id, private_key_file
            if not isinstance(creds, dict) or set(creds) - {"api_key_id", "private_key_file"}:
                raise ConfigError(
                    f"config file {path}: [credentials] takes api_key_id and private_key_file only"
                )
            for k, v in creds.items():
                file_values.setdefault(k, v)
        unknown = sorted(set(file_values) - set(Settings.model_fields))
        if unknown:
            raise ConfigError(
                f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(Settings.model_fields))}"
            )
    bad = sorted(set(overrides) - set(Settings.model_fields))
    if bad:  # a caller's typo must not be dropped silently
        raise ConfigError(f"unknown setting(s) {', '.join(bad)}")
    try:
        from_env = Settings()  # type: ignore[call-arg]  # env + .env only
        env_set = from_env.model_fields_set
        merged = {**file_values, **{k: getattr(from_env, k) for k in env_set}}
        merged.update({k: v for k, v in overrides.items() if v is not None})
        return Settings.model_validate(merged)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
