"""Fixtures: a local exchange on an ephemeral 127.0.0.1 port, and venue clients wired to it.

Keys are generated at run time by the exchange (``ExchangeConfig.key_kind``); nothing secret is
committed. Several test processes may run at once on this machine, so every port is 0.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from venue_helpers import make_client, make_config

from kalshi_mm.exchange.server import ExchangeHandle, run_exchange
from kalshi_mm.venue.rest import KalshiRestClient


@pytest.fixture
async def exchange() -> AsyncIterator[ExchangeHandle]:
    async with run_exchange(make_config(), host="127.0.0.1", port=0) as ex:
        yield ex


@pytest.fixture
async def client(exchange: ExchangeHandle) -> AsyncIterator[KalshiRestClient]:
    async with make_client(exchange) as c:
        yield c
