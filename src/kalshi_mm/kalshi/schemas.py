"""msgspec Structs for Kalshi Trade API v2 bodies: REST (sections 5-11, 13) and WebSocket (14).

Field names and JSON types follow ``shared/kalshi-api.md`` exactly:

- ``*_dollars`` and ``*_fp`` fields and the V2 counts (``count``, ``fill_count``,
  ``remaining_count``, ``reduced_by``) are fixed-point **strings**;
- ints stay ints (``balance``, ``ts_ms``, ``settlement_timer_seconds`` ...);
- object times are RFC 3339 strings (``created_time``, ``last_updated_ts``).

REST structs are strict (a JSON number where a string belongs is a validation error, which is
how the 2024 integer-cents format is refused). WebSocket payloads type their fixed-point fields
as :data:`WsNum` (``str | int | float``) because feeds occasionally send JSON numbers; the
``domain.units`` parsers accept both.

Required fields have no default; optional ones default to ``None`` (or ``[]``) and, where the
wire omits absent keys, the struct has ``omit_defaults=True`` so encoding omits them too (the
local exchange encodes with these same structs). Unknown fields are ignored on decode.

WS server messages form one tagged union, :data:`ServerMessage`, on the envelope's ``type``;
client commands form :data:`Command`, tagged on ``cmd``. Wire structs never leave ``kalshi/``
and the shells: ``kalshi.parse`` turns them into domain values and core events.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec
from msgspec import Struct

#: A WebSocket fixed-point value: a string normally, occasionally a JSON number.
WsNum: TypeAlias = str | int | float
#: One book level on the wire: ``[price_dollars, count_fp]``.
WireLevel: TypeAlias = tuple[str, str]
WsLevel: TypeAlias = tuple[WsNum, WsNum]

BookSideWire = Literal["bid", "ask"]
OutcomeSide = Literal["yes", "no"]
TimeInForce = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
SelfTradePrevention = Literal["taker_at_cross", "maker"]


class _Body(Struct, kw_only=True, omit_defaults=True):
    """Base of object bodies whose optional keys are omitted when absent."""


# ================================================================================================
# Section 5: market data
# ================================================================================================


class PriceRange(_Body):
    start: str
    end: str
    step: str


class SettlementSource(_Body):
    name: str | None = None
    url: str | None = None


class Market(_Body):
    ticker: str
    event_ticker: str
    market_type: str
    yes_sub_title: str
    no_sub_title: str
    created_time: str
    updated_time: str
    open_time: str
    close_time: str
    latest_expiration_time: str
    settlement_timer_seconds: int
    status: str
    yes_bid_dollars: str
    yes_bid_size_fp: str
    yes_ask_dollars: str
    yes_ask_size_fp: str
    no_bid_dollars: str
    no_ask_dollars: str
    last_price_dollars: str
    volume_fp: str
    volume_24h_fp: str
    result: str
    can_close_early: bool
    open_interest_fp: str
    notional_value_dollars: str
    previous_yes_bid_dollars: str
    previous_yes_ask_dollars: str
    previous_price_dollars: str
    expiration_value: str
    rules_primary: str
    rules_secondary: str
    price_level_structure: str
    price_ranges: list[PriceRange]
    # The doc lists settlement_bounds_type as required, but every real GET /events response in
    # shared/data (Aug 2026) omits it; recorded data wins, so it is optional ("default" if absent).
    settlement_bounds_type: str | None = None
    title: str | None = None
    subtitle: str | None = None
    expected_expiration_time: str | None = None
    expiration_time: str | None = None
    settlement_value_dollars: str | None = None
    settlement_ts: str | None = None
    settlement_floor_dollars: str | None = None
    occurrence_datetime: str | None = None
    fee_waiver_expiration_time: str | None = None
    early_close_condition: str | None = None
    strike_type: str | None = None
    # Strikes are levels of the underlying (e.g. a gold price), JSON numbers on the wire.
    floor_strike: float | None = None
    cap_strike: float | None = None
    functional_strike: str | None = None
    custom_strike: dict[str, Any] | None = None
    mve_collection_ticker: str | None = None
    mve_selected_legs: list[Any] | None = None
    is_provisional: bool | None = None
    exchange_index: int | None = None
    liquidity_dollars: str | None = None


class Event(_Body):
    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str
    collateral_return_type: str
    mutually_exclusive: bool
    settlement_sources: list[SettlementSource] | None  # present, may be null
    markets: list[Market] | None = None
    strike_date: str | None = None
    strike_period: str | None = None
    category: str | None = None
    fee_type_override: str | None = None
    fee_multiplier_override: float | None = None
    available_on_brokers: bool | None = None
    exchange_index: int | None = None
    last_updated_ts: str | None = None
    product_metadata: dict[str, Any] | None = None


class Series(_Body):
    ticker: str
    frequency: str
    title: str
    category: str
    categories: list[str]
    contract_url: str
    contract_terms_url: str
    fee_type: str
    fee_multiplier: float
    tags: list[str] | None  # present, may be null
    settlement_sources: list[SettlementSource] | None  # present, may be null
    additional_prohibitions: list[str] | None  # present, may be null
    product_metadata: dict[str, Any] | None = None
    volume_fp: str | None = None
    last_updated_ts: str | None = None


class Trade(_Body):
    trade_id: str
    ticker: str
    count_fp: str
    yes_price_dollars: str
    no_price_dollars: str
    taker_outcome_side: OutcomeSide
    taker_book_side: BookSideWire
    created_time: str
    is_block_trade: bool
    taker_side: str | None = None  # deprecated


class GetMarketsResponse(Struct, kw_only=True):
    markets: list[Market]
    cursor: str = ""


class GetMarketResponse(Struct, kw_only=True):
    market: Market


class OrderbookFp(Struct, kw_only=True):
    """REST book: bids only, ascending by price; both arrays always encoded (``[]`` when empty)."""

    yes_dollars: list[WireLevel] = []
    no_dollars: list[WireLevel] = []


class GetOrderbookResponse(Struct, kw_only=True):
    orderbook_fp: OrderbookFp


class MarketOrderbook(Struct, kw_only=True):
    ticker: str
    orderbook_fp: OrderbookFp


class GetOrderbooksResponse(Struct, kw_only=True):
    orderbooks: list[MarketOrderbook]


class GetTradesResponse(Struct, kw_only=True):
    trades: list[Trade]
    cursor: str = ""


class GetEventsResponse(_Body):
    events: list[Event]
    cursor: str
    milestones: list[Any] | None = None


class GetEventResponse(Struct, kw_only=True):
    event: Event
    markets: list[Market]  # always present


class GetSeriesListResponse(Struct, kw_only=True):
    series: list[Series]


class GetSeriesResponse(Struct, kw_only=True):
    series: Series


class ExchangeStatus(_Body):
    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: str | None = None
    intra_exchange_transfers_active: bool | None = None
    exchange_index_statuses: list[Any] | None = None


class DailyHours(_Body):
    open_time: str  # "HH:MM" ET
    close_time: str


class StandardHours(Struct, kw_only=True):
    start_time: str
    end_time: str
    monday: list[DailyHours] = []
    tuesday: list[DailyHours] = []
    wednesday: list[DailyHours] = []
    thursday: list[DailyHours] = []
    friday: list[DailyHours] = []
    saturday: list[DailyHours] = []
    sunday: list[DailyHours] = []


class MaintenanceWindow(_Body):
    start_datetime: str
    end_datetime: str


class ExchangeSchedule(Struct, kw_only=True):
    standard_hours: list[StandardHours] = []
    maintenance_windows: list[MaintenanceWindow] = []


class GetExchangeScheduleResponse(Struct, kw_only=True):
    schedule: ExchangeSchedule


class UserDataTimestamp(Struct, kw_only=True):
    as_of_time: str


# ================================================================================================
# Section 6: portfolio reads
# ================================================================================================


class BalanceBreakdown(_Body):
    exchange_index: int
    balance: str  # dollars


class Balance(_Body):
    balance: int  # cents
    portfolio_value: int  # cents
    updated_ts: int  # Unix seconds
    balance_dollars: str | None = None
    balance_breakdown: list[BalanceBreakdown] | None = None


class MarketPosition(_Body):
    ticker: str
    exchange_index: int
    total_traded_dollars: str
    position_fp: str
    market_exposure_dollars: str
    realized_pnl_dollars: str
    fees_paid_dollars: str
    last_updated_ts: str
    resting_orders_count: int | None = None


class EventPosition(_Body):
    event_ticker: str
    total_cost_dollars: str
    total_cost_shares_fp: str
    event_exposure_dollars: str
    realized_pnl_dollars: str
    fees_paid_dollars: str


class GetPositionsResponse(_Body):
    market_positions: list[MarketPosition]
    event_positions: list[EventPosition]
    cursor: str | None = None


class Order(_Body):
    order_id: str
    user_id: str
    client_order_id: str
    ticker: str
    outcome_side: OutcomeSide
    book_side: BookSideWire
    type: str  # limit | market
    status: str  # resting | canceled | executed
    yes_price_dollars: str
    no_price_dollars: str
    fill_count_fp: str
    remaining_count_fp: str
    initial_count_fp: str
    taker_fill_cost_dollars: str
    maker_fill_cost_dollars: str
    taker_fees_dollars: str
    maker_fees_dollars: str
    side: str | None = None  # deprecated
    action: str | None = None  # deprecated
    expiration_time: str | None = None
    created_time: str | None = None
    last_update_time: str | None = None
    self_trade_prevention_type: str | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool | None = None
    subaccount_number: int | None = None
    exchange_index: int | None = None
    last_update_reason: str | None = None  # seen on the wire, not in the SDK model


class GetOrdersResponse(Struct, kw_only=True):
    orders: list[Order]
    cursor: str = ""


class GetOrderResponse(Struct, kw_only=True):
    order: Order


class QueuePositionResponse(Struct, kw_only=True):
    queue_position_fp: str


class QueuePosition(Struct, kw_only=True):
    order_id: str
    market_ticker: str
    queue_position_fp: str


class GetQueuePositionsResponse(Struct, kw_only=True):
    queue_positions: list[QueuePosition]


class Fill(_Body):
    fill_id: str
    trade_id: str
    order_id: str
    ticker: str
    market_ticker: str
    exchange_index: int
    outcome_side: OutcomeSide
    book_side: BookSideWire
    count_fp: str
    yes_price_dollars: str
    no_price_dollars: str
    is_taker: bool
    fee_cost: str
    side: str | None = None  # deprecated
    action: str | None = None  # deprecated
    created_time: str | None = None
    subaccount_number: int | None = None
    ts: int | None = None  # Unix seconds


class GetFillsResponse(Struct, kw_only=True):
    fills: list[Fill]
    cursor: str = ""


class Settlement(_Body):
    ticker: str
    market_result: str  # yes | no | scalar
    yes_count_fp: str
    yes_total_cost_dollars: str
    no_count_fp: str
    no_total_cost_dollars: str
    revenue: int  # cents
    fee_cost: str
    settled_time: str
    value: int | None = None  # cents per YES
    event_ticker: str | None = None


class GetSettlementsResponse(_Body):
    settlements: list[Settlement]
    cursor: str | None = None


# ================================================================================================
# Section 7: order entry V2 (/portfolio/events/orders)
# ================================================================================================


class ErrorDetail(_Body):
    code: str | None = None
    message: str | None = None
    details: Any = None
    service: str | None = None


class CreateOrderRequest(_Body):
    ticker: str
    side: BookSideWire
    count: str
    price: str
    time_in_force: TimeInForce
    self_trade_prevention_type: SelfTradePrevention
    client_order_id: str | None = None
    expiration_time: int | None = None  # Unix seconds, GTC only
    post_only: bool | None = None
    reduce_only: bool | None = None
    cancel_order_on_pause: bool | None = None
    order_group_id: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None


class CreateOrderResponse(_Body):
    order_id: str
    fill_count: str
    remaining_count: str
    ts_ms: int
    client_order_id: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None


class CancelOrderResponse(_Body):
    order_id: str
    reduced_by: str
    ts_ms: int
    client_order_id: str | None = None


class AmendOrderRequest(_Body):
    ticker: str
    side: BookSideWire
    price: str
    count: str  # new total = filled + desired remaining
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_time: int | None = None  # omit = keep, 0 = GTC
    exchange_index: int | None = None


class AmendOrderResponse(_Body):
    order_id: str
    ts_ms: int
    client_order_id: str | None = None
    remaining_count: str | None = None
    fill_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None


class DecreaseOrderRequest(_Body):
    """Exactly one of ``reduce_by`` / ``reduce_to``."""

    reduce_by: str | None = None
    reduce_to: str | None = None
    exchange_index: int | None = None
    market_ticker: str | None = None

    def __post_init__(self) -> None:
        if (self.reduce_by is None) == (self.reduce_to is None):
            raise ValueError("exactly one of reduce_by / reduce_to is required")


class DecreaseOrderResponse(_Body):
    order_id: str
    remaining_count: str
    ts_ms: int
    client_order_id: str | None = None


class BatchCreateOrdersRequest(Struct, kw_only=True):
    orders: list[CreateOrderRequest]


class BatchCreateOrderResult(_Body):
    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: str | None = None
    remaining_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int | None = None
    error: ErrorDetail | None = None


class BatchCreateOrdersResponse(Struct, kw_only=True):
    orders: list[BatchCreateOrderResult]


class BatchCancelOrderItem(_Body):
    order_id: str
    subaccount: int | None = None
    exchange_index: int | None = None
    market_ticker: str | None = None


class BatchCancelOrdersRequest(Struct, kw_only=True):
    orders: list[BatchCancelOrderItem]


class BatchCancelOrderResult(_Body):
    order_id: str
    reduced_by: str
    client_order_id: str | None = None
    ts_ms: int | None = None
    error: ErrorDetail | None = None


class BatchCancelOrdersResponse(Struct, kw_only=True):
    orders: list[BatchCancelOrderResult]


# ================================================================================================
# Section 9: order groups
# ================================================================================================


class CreateOrderGroupRequest(_Body):
    contracts_limit: int | None = None
    contracts_limit_fp: str | None = None
    subaccount: int | None = None
    exchange_index: int | None = None


class CreateOrderGroupResponse(_Body):
    order_group_id: str
    subaccount: int
    exchange_index: int | None = None


class OrderGroup(_Body):
    id: str
    is_auto_cancel_enabled: bool
    contracts_limit_fp: str | None = None
    exchange_index: int | None = None


class GetOrderGroupsResponse(Struct, kw_only=True):
    order_groups: list[OrderGroup]


class GetOrderGroupResponse(_Body):
    is_auto_cancel_enabled: bool
    orders: list[str]
    contracts_limit_fp: str | None = None
    exchange_index: int | None = None


class UpdateOrderGroupLimitRequest(_Body):
    contracts_limit: int | None = None
    contracts_limit_fp: str | None = None


class EmptyBody(Struct):
    """``{}``: order-group trigger/reset bodies and their responses, delete responses."""


# ================================================================================================
# Section 10: account limits and endpoint costs
# ================================================================================================


class BucketLimit(Struct, kw_only=True):
    refill_rate: int
    bucket_capacity: int


class LimitGrant(_Body):
    exchange_instance: int | str
    level: str
    source: str
    expires_ts: int | None = None


class AccountLimits(Struct, kw_only=True):
    usage_tier: str
    read: BucketLimit
    write: BucketLimit
    grants: list[LimitGrant] = []


class EndpointCost(Struct, kw_only=True):
    method: str
    path: str
    cost: int


class EndpointCosts(Struct, kw_only=True):
    default_cost: int
    endpoint_costs: list[EndpointCost] = []


# ================================================================================================
# Section 11: error bodies (three shapes; accept all)
# ================================================================================================


class ErrorResponse(_Body):
    """OpenAPI ``ErrorResponse``: ``{"code","message","details","service"}``, all optional."""

    code: str | None = None
    message: str | None = None
    details: Any = None
    service: str | None = None


class NestedErrorResponse(Struct, kw_only=True):
    """``{"error":{...}}`` (most common on the wire) or ``{"error":"too many requests"}`` (429)."""

    error: ErrorDetail | str


class MsgErrorResponse(Struct, kw_only=True):
    """Parameter-validation 400: ``{"msg":"..."}``."""

    msg: str


class AnyErrorBody(_Body):
    """Decodes every error shape at once (see ``kalshi.parse.decode_error_body``)."""

    code: str | None = None
    message: str | None = None
    details: Any = None
    service: str | None = None
    error: ErrorDetail | str | None = None
    msg: str | None = None


# ================================================================================================
# Section 14: WebSocket commands (client -> server), tagged on "cmd"
# ================================================================================================
# Params keep the semantically required keys optional in the struct so the server can answer with
# Kalshi's numeric error codes (2 params required, 3 channels required, 4 sids required, ...).


class SubscribeParams(_Body):
    channels: list[str] | None = None
    market_ticker: str | None = None
    market_tickers: list[str] | None = None
    market_id: str | None = None
    market_ids: list[str] | None = None
    send_initial_snapshot: bool | None = None
    skip_ticker_ack: bool | None = None
    use_yes_price: bool | None = None
    shard_factor: int | None = None
    shard_key: int | None = None


class UnsubscribeParams(_Body):
    sids: list[int] | None = None


class UpdateSubscriptionParams(_Body):
    action: str | None = None  # add_markets | delete_markets | get_snapshot
    sid: int | None = None
    sids: list[int] | None = None
    market_ticker: str | None = None
    market_tickers: list[str] | None = None
    market_id: str | None = None
    market_ids: list[str] | None = None
    send_initial_snapshot: bool | None = None


class WsCommand(Struct, kw_only=True, omit_defaults=True, tag_field="cmd"):
    id: int = 0


class SubscribeCommand(WsCommand, tag="subscribe"):
    params: SubscribeParams | None = None


class UnsubscribeCommand(WsCommand, tag="unsubscribe"):
    params: UnsubscribeParams | None = None


class UpdateSubscriptionCommand(WsCommand, tag="update_subscription"):
    params: UpdateSubscriptionParams | None = None


class ListSubscriptionsCommand(WsCommand, tag="list_subscriptions"):
    pass


Command: TypeAlias = (
    SubscribeCommand | UnsubscribeCommand | UpdateSubscriptionCommand | ListSubscriptionsCommand
)


# ================================================================================================
# Section 14: WebSocket server messages, tagged on "type"
# ================================================================================================


class WsMessage(Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    """Envelope ``{type, sid?, seq?, id?, msg, sending_ts_ms?}``."""

    id: int | None = None
    sid: int | None = None
    seq: int | None = None
    sending_ts_ms: int | None = None


# -- command responses ----------------------------------------------------------------------------


class SubscriptionInfo(_Body):
    channel: str
    sid: int
    market_tickers: list[str] | None = None


class Subscribed(WsMessage, tag="subscribed"):
    msg: SubscriptionInfo


class Unsubscribed(WsMessage, tag="unsubscribed"):
    pass


class OkMarkets(_Body):
    market_tickers: list[str] | None = None


class Ok(WsMessage, tag="ok"):
    """``list_subscriptions`` answers a list; ``update_subscription`` an object (or nothing)."""

    msg: list[SubscriptionInfo] | OkMarkets | None = None


class ErrorMsg(_Body):
    code: int
    msg: str


class Error(WsMessage, tag="error"):
    msg: ErrorMsg


# -- orderbook_delta channel ----------------------------------------------------------------------


class OrderbookSnapshotMsg(_Body):
    market_ticker: str
    market_id: str | None = None
    # A side's key is omitted when empty (omit_defaults drops the empty list on encode).
    yes_dollars_fp: list[WsLevel] = []
    no_dollars_fp: list[WsLevel] = []


class OrderbookSnapshot(WsMessage, tag="orderbook_snapshot"):
    msg: OrderbookSnapshotMsg


class OrderbookDeltaMsg(_Body):
    market_ticker: str
    price_dollars: WsNum
    delta_fp: WsNum
    side: OutcomeSide
    market_id: str | None = None
    ts_ms: int | None = None
    ts: str | None = None  # RFC 3339, deprecated
    client_order_id: str | None = None
    subaccount: int | None = None


class OrderbookDelta(WsMessage, tag="orderbook_delta"):
    msg: OrderbookDeltaMsg


# -- public channels ------------------------------------------------------------------------------


class TickerMsg(_Body):
    market_ticker: str
    market_id: str | None = None
    price_dollars: WsNum | None = None
    yes_bid_dollars: WsNum | None = None
    yes_ask_dollars: WsNum | None = None
    yes_bid_size_fp: WsNum | None = None
    yes_ask_size_fp: WsNum | None = None
    last_trade_size_fp: WsNum | None = None
    volume_fp: WsNum | None = None
    open_interest_fp: WsNum | None = None
    dollar_volume: int | None = None
    dollar_open_interest: int | None = None
    ts: int | None = None  # Unix seconds, deprecated
    ts_ms: int | None = None
    time: str | None = None  # RFC 3339, deprecated


class Ticker(WsMessage, tag="ticker"):
    msg: TickerMsg


class TradeMsg(_Body):
    trade_id: str
    market_ticker: str
    yes_price_dollars: WsNum
    count_fp: WsNum
    no_price_dollars: WsNum | None = None
    taker_outcome_side: OutcomeSide | None = None
    taker_book_side: BookSideWire | None = None
    taker_side: OutcomeSide | None = None  # deprecated
    is_block_trade: bool | None = None  # absent in the Aug 2026 recordings
    ts: int | None = None  # Unix seconds
    ts_ms: int | None = None


class TradeMessage(WsMessage, tag="trade"):
    msg: TradeMsg


# -- private channels -----------------------------------------------------------------------------


class FillMsg(_Body):
    trade_id: str
    order_id: str
    market_ticker: str
    is_taker: bool
    book_side: BookSideWire
    yes_price_dollars: WsNum
    count_fp: WsNum
    fee_cost: WsNum
    outcome_side: OutcomeSide | None = None
    client_order_id: str | None = None
    exchange_index: int | None = None
    side: str | None = None  # deprecated
    action: str | None = None  # deprecated: buy | sell | sell_partial | sell_to_close | ""
    purchased_side: str | None = None  # deprecated
    post_position_fp: WsNum | None = None
    subaccount: int | None = None
    ts: int | None = None
    ts_ms: int | None = None


class FillMessage(WsMessage, tag="fill"):
    msg: FillMsg


class UserOrderMsg(_Body):
    order_id: str
    ticker: str
    status: str
    book_side: BookSideWire
    yes_price_dollars: WsNum
    fill_count_fp: WsNum
    remaining_count_fp: WsNum
    initial_count_fp: WsNum
    user_id: str | None = None
    outcome_side: OutcomeSide | None = None
    side: str | None = None  # deprecated
    is_yes: bool | None = None  # deprecated
    taker_fill_cost_dollars: WsNum | None = None
    maker_fill_cost_dollars: WsNum | None = None
    taker_fees_dollars: WsNum | None = None
    maker_fees_dollars: WsNum | None = None
    client_order_id: str | None = None
    order_group_id: str | None = None
    self_trade_prevention_type: str | None = None
    subaccount_number: int | None = None
    created_time: str | None = None
    created_ts_ms: int | None = None
    last_updated_ts_ms: int | None = None
    expiration_ts_ms: int | None = None
    last_update_time: str | None = None  # deprecated twin
    expiration_time: str | None = None  # deprecated twin
    last_update_reason: str | None = None


class UserOrder(WsMessage, tag="user_order"):
    msg: UserOrderMsg


class MarketPositionMsg(_Body):
    market_ticker: str
    position_fp: WsNum
    user_id: str | None = None
    position_cost_dollars: WsNum | None = None
    realized_pnl_dollars: WsNum | None = None
    fees_paid_dollars: WsNum | None = None
    position_fee_cost_dollars: WsNum | None = None
    volume_fp: WsNum | None = None
    subaccount: int | None = None
    ts_ms: int | None = None


class MarketPositionMessage(WsMessage, tag="market_position"):
    msg: MarketPositionMsg


# -- lifecycle channel ----------------------------------------------------------------------------


class WsPriceRange(_Body):
    start: WsNum
    end: WsNum
    step: WsNum


class LifecycleMetadata(_Body):
    name: str | None = None
    title: str | None = None
    yes_sub_title: str | None = None
    no_sub_title: str | None = None
    rules_primary: str | None = None
    rules_secondary: str | None = None
    can_close_early: bool | None = None
    event_ticker: str | None = None
    expected_expiration_ts: int | None = None
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    custom_strike: dict[str, Any] | None = None
    functional_strike: str | None = None


class MarketLifecycleMsg(_Body):
    """``event_type``: created, activated, deactivated, close_date_updated, determined, settled,
    price_level_structure_updated, metadata_updated. Times are Unix seconds."""

    market_ticker: str
    event_type: str
    open_ts: int | None = None
    close_ts: int | None = None
    exchange_index: int | None = None
    additional_metadata: LifecycleMetadata | None = None
    price_level_structure: str | None = None
    price_ranges: list[WsPriceRange] | None = None
    is_deactivated: bool | None = None
    determination_ts: int | None = None
    result: str | None = None
    settlement_value: WsNum | None = None  # dollars
    settled_ts: int | None = None
    yes_sub_title: str | None = None
    strike_type: str | None = None
    floor_strike: float | None = None
    cap_strike: float | None = None
    custom_strike: dict[str, Any] | None = None
    functional_strike: str | None = None
    ts_ms: int | None = None


class MarketLifecycle(WsMessage, tag="market_lifecycle_v2"):
    msg: MarketLifecycleMsg


class EventLifecycleMsg(_Body):
    event_ticker: str
    exchange_index: int | None = None
    title: str | None = None
    subtitle: str | None = None
    collateral_return_type: str | None = None
    series_ticker: str | None = None
    strike_date: int | str | None = None
    strike_period: str | None = None


class EventLifecycle(WsMessage, tag="event_lifecycle"):
    msg: EventLifecycleMsg


class EventFeeUpdate(WsMessage, tag="event_fee_update"):
    """Listed on the lifecycle channel without a documented payload: kept as a raw object."""

    msg: dict[str, Any] = {}


class OrderGroupUpdateMsg(_Body):
    event_type: str  # created | triggered | reset | deleted | limit_updated
    order_group_id: str
    contracts_limit_fp: WsNum | None = None
    ts_ms: int | None = None


class OrderGroupUpdate(WsMessage, tag="order_group_updates"):
    msg: OrderGroupUpdateMsg


ServerMessage: TypeAlias = (
    Subscribed
    | Unsubscribed
    | Ok
    | Error
    | OrderbookSnapshot
    | OrderbookDelta
    | Ticker
    | TradeMessage
    | FillMessage
    | UserOrder
    | MarketPositionMessage
    | MarketLifecycle
    | EventLifecycle
    | EventFeeUpdate
    | OrderGroupUpdate
)


class UnknownMessage(Struct, kw_only=True, omit_defaults=True):
    """A server message whose ``type`` this version does not know (forward compatibility)."""

    type: str
    id: int | None = None
    sid: int | None = None
    seq: int | None = None
    msg: Any = None


class RecordedLine(Struct, kw_only=True):
    """One line of a recording (``shared/data/kalshi/kxgold15m-ws``): ``{recv_ms, event}``."""

    recv_ms: int
    event: msgspec.Raw
