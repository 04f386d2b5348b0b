from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from kclient import KClient

from kalshi_mm.exchange.server import ExchangeConfig, run_exchange

PRICE = re.compile(r"^[01]\.\d{4}$")
QTY = re.compile(r"^-?\d+\.\d{2}$")
MONEY = re.compile(r"^-?\d+\.\d{4,6}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUIDISH = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

KINDS: dict[str, Any] = {
    "price": lambda v: isinstance(v, str) and PRICE.match(v),
    "qty": lambda v: isinstance(v, str) and QTY.match(v),
    "money": lambda v: isinstance(v, str) and MONEY.match(v),
    "time": lambda v: isinstance(v, str) and RFC3339.match(v),
    "id": lambda v: isinstance(v, str) and UUIDISH.match(v),
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def check(obj: dict[str, Any], spec: dict[str, str]) -> None:
    """Every field of ``spec`` present with the right JSON type/format."""
    assert isinstance(obj, dict), obj
    for name, kind in spec.items():
        assert name in obj, f"missing {name} in {sorted(obj)}"
        assert obj[name] is not None, f"{name} is null"
        assert KINDS[kind](obj[name]), f"{name}={obj[name]!r} is not {kind}"


MARKET = {
    "ticker": "str",
    "event_ticker": "str",
    "market_type": "str",
    "yes_sub_title": "str",
    "no_sub_title": "str",
    "created_time": "time",
    "updated_time": "time",
    "open_time": "time",
    "close_time": "time",
    "latest_expiration_time": "time",
    "settlement_timer_seconds": "int",
    "status": "str",
    "yes_bid_dollars": "price",
    "yes_bid_size_fp": "qty",
    "yes_ask_dollars": "price",
    "yes_ask_size_fp": "qty",
    "no_bid_dollars": "price",
    "no_ask_dollars": "price",
    "last_price_dollars": "price",
    "volume_fp": "qty",
    "volume_24h_fp": "qty",
    "result": "str",
    "can_close_early": "bool",
    "open_interest_fp": "qty",
    "notional_value_dollars": "price",
    "previous_yes_bid_dollars": "price",
    "previous_yes_ask_dollars": "price",
    "previous_price_dollars": "price",
    "settlement_bounds_type": "str",
    "expiration_value": "str",
    "rules_primary": "str",
    "rules_secondary": "str",
    "price_level_structure": "str",
    "price_ranges": "list",
}
ORDER = {
    "order_id": "id",
    "user_id": "str",
    "client_order_id": "str",
    "ticker": "str",
    "outcome_side": "str",
    "book_side": "str",
    "type": "str",
    "status": "str",
    "yes_price_dollars": "price",
    "no_price_dollars": "price",
    "fill_count_fp": "qty",
    "remaining_count_fp": "qty",
    "initial_count_fp": "qty",
    "taker_fill_cost_dollars": "money",
    "maker_fill_cost_dollars": "money",
    "taker_fees_dollars": "money",
    "maker_fees_dollars": "money",
}
FILL = {
    "fill_id": "id",
    "trade_id": "id",
    "order_id": "id",
    "ticker": "str",
    "market_ticker": "str",
    "exchange_index": "int",
    "outcome_side": "str",
    "book_side": "str",
    "count_fp": "qty",
    "yes_price_dollars": "price",
    "no_price_dollars": "price",
    "is_taker": "bool",
    "fee_cost": "money",
}
TRADE = {
    "trade_id": "id",
    "ticker": "str",
    "count_fp": "qty",
    "yes_price_dollars": "price",
    "no_price_dollars": "price",
    "taker_outcome_side": "str",
    "taker_book_side": "str",
    "created_time": "time",
    "is_block_trade": "bool",
}
MARKET_POSITION = {
    "ticker": "str",
    "exchange_index": "int",
    "total_traded_dollars": "money",
    "position_fp": "qty",
    "market_exposure_dollars": "money",
    "realized_pnl_dollars": "money",
    "fees_paid_dollars": "money",
    "last_updated_ts": "time",
}
EVENT_POSITION = {
    "event_ticker": "str",
    "total_cost_dollars": "money",
    "total_cost_shares_fp": "qty",
    "event_exposure_dollars": "money",
    "realized_pnl_dollars": "money",
    "fees_paid_dollars": "money",
}
EVENT = {
    "event_ticker": "str",
    "series_ticker": "str",
    "title": "str",
    "sub_title": "str",
    "collateral_return_type": "str",
    "mutually_exclusive": "bool",
}
SERIES = {
    "ticker": "str",
    "frequency": "str",
    "title": "str",
    "category": "str",
    "categories": "list",
    "contract_url": "str",
    "contract_terms_url": "str",
    "fee_type": "str",
    "fee_multiplier": "float",
}
SETTLEMENT = {
    "ticker": "str",
    "market_result": "str",
    "yes_count_fp": "qty",
    "yes_total_cost_dollars": "money",
    "no_count_fp": "qty",
    "no_total_cost_dollars": "money",
    "revenue": "int",
    "value": "int",
    "fee_cost": "money",
    "settled_time": "time",
}


@pytest_asyncio.fixture
async def ex():
    async with run_exchange(ExchangeConfig(seed=7, flow=False, markets=2, tier="prime")) as handle:
        yield handle


@pytest_asyncio.fixture
async def client(ex):
    c = KClient(ex.base_url, ex.api_key_id, ex.private_key_pem)
    yield c
    await c.close()


@pytest_asyncio.fixture
async def ticker(ex) -> str:
    return next(t for t, m in ex.state.engine.markets.items() if m.status == "active")
