"""The 2024 integer-cents REST format must be refused with a clear ProtocolError naming the field.

Data: ``shared/data/kalshi/legacy-2024-rest`` (real July 2024 dumps from the old SDK, whose keys
carry a ``_`` prefix). Three views of the same records are decoded with the current schemas:

1. as dumped (``_ticker`` ...): the current required keys are missing;
2. with the SDK prefix removed (the 2024 wire names: ``yes_bid`` ...): still missing fields;
3. the cents moved under the current names (``yes_bid_dollars: 35``): a JSON number where a
   fixed-point string is required.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kalshi_mm.errors import ProtocolError
from kalshi_mm.kalshi import parse
from kalshi_mm.kalshi import schemas as s

LEGACY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kalshi" / "legacy-2024-rest"

# 2024 integer-cents field -> the current fixed-point field of the same meaning
CENTS_TO_CURRENT = {
    "yes_bid": "yes_bid_dollars",
    "yes_ask": "yes_ask_dollars",
    "no_bid": "no_bid_dollars",
    "no_ask": "no_ask_dollars",
    "last_price": "last_price_dollars",
    "previous_price": "previous_price_dollars",
    "previous_yes_bid": "previous_yes_bid_dollars",
    "previous_yes_ask": "previous_yes_ask_dollars",
    "volume": "volume_fp",
    "volume_24h": "volume_24h_fp",
    "open_interest": "open_interest_fp",
}


def _load(name: str) -> Any:
    return json.loads((LEGACY / name).read_text())


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("_"): v for k, v in obj.items() if k != "discriminator"}


def _markets() -> list[dict[str, Any]]:
    return [m for group in _load("market_data.json") for ms in group.values() for m in ms]


def _books() -> list[tuple[str, dict[str, Any]]]:
    return [(t, b) for group in _load("orderbook_data.json") for t, b in group.items()]


def _raises(struct: type, body: dict[str, Any]) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse.decode_rest(struct, json.dumps(body).encode())
    return info.value


def test_legacy_files_are_what_we_think() -> None:
    markets = _markets()
    assert len(markets) == 291
    assert len(_load("event_data.json")) == 100
    assert len(_books()) == 100
    assert all(isinstance(m["_yes_bid"], int) for m in markets)


def test_legacy_markets_as_dumped_name_the_missing_field() -> None:
    for i, m in enumerate(_markets()):
        err = _raises(s.GetMarketResponse, {"market": m})
        assert err.field == "$.market.ticker", (i, str(err))
        assert "missing required field `ticker`" in str(err)
        assert "GetMarketResponse" in str(err)
    err = _raises(s.GetMarketsResponse, {"markets": _markets(), "cursor": ""})
    assert str(err) == (
        "GetMarketsResponse: invalid (field $.markets[0].ticker): "
        "Object missing required field `ticker` - at `$.markets[0]`"
    )


def test_legacy_wire_names_miss_current_fields() -> None:
    for m in _markets():
        err = _raises(s.GetMarketResponse, {"market": _strip(m)})
        # the first required current field the 2024 object lacks
        assert err.field == "$.market.market_type", str(err)
        assert "missing required field `market_type`" in str(err)


def test_legacy_cents_under_current_names_are_refused_as_numbers() -> None:
    for m in _markets():
        legacy = _strip(m)
        body = {CENTS_TO_CURRENT.get(k, k): v for k, v in legacy.items()}
        err = _raises(s.GetMarketsResponse, {"markets": [body], "cursor": ""})
        # keys are checked in document order; last_price is the first cents field alphabetically
        assert err.field == "$.markets[0].last_price_dollars", str(err)
        assert "Expected `str`, got `int`" in str(err)


def test_legacy_events_name_the_missing_field() -> None:
    events = _load("event_data.json")
    err = _raises(s.GetEventsResponse, {"events": events, "cursor": ""})
    assert err.field == "$.events[0].event_ticker"
    err = _raises(s.GetEventsResponse, {"events": [_strip(e) for e in events], "cursor": ""})
    # 2024 events had no collateral_return_type (nor settlement_sources)
    assert err.field == "$.events[0].collateral_return_type"
    assert "missing required field `collateral_return_type`" in str(err)


def test_legacy_orderbooks_are_refused() -> None:
    for ticker, book in _books():
        # the 2024 wire shape {"orderbook": {"yes": [[cents, n]], "no": [...]}}
        old = {"orderbook": {"yes": book["_yes"], "no": book["_no"]}}
        err = _raises(s.GetOrderbookResponse, old)
        assert err.field == "$.orderbook_fp" and "missing required field `orderbook_fp`" in str(err)
        # integer cents under the current keys: number where a dollar string belongs
        levels = {"orderbook_fp": {"yes_dollars": book["_yes"] or [], "no_dollars": book["_no"] or []}}
        if not (book["_yes"] or book["_no"]):
            continue
        err = _raises(s.GetOrderbookResponse, levels)
        side = "yes_dollars" if book["_yes"] else "no_dollars"
        assert err.field == f"$.orderbook_fp.{side}[0][0]", (ticker, str(err))
        assert "Expected `str`, got `int`" in str(err)
