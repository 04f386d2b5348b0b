"""Prometheus metrics of the runtime, on a registry of their own (one per runtime)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.events = Counter("kmm_events", "Events pushed into the engine", ["kind"], registry=r)
        self.quotes = Counter("kmm_quotes", "Quote updates computed (commands emitted for a market)", registry=r)
        self.commands = Counter("kmm_commands", "Commands returned by the engine", ["kind"], registry=r)
        self.orders = Counter("kmm_orders", "Order outcomes", ["outcome"], registry=r)
        self.fills = Counter("kmm_fills", "Fills of our orders", ["liquidity"], registry=r)
        self.fill_contracts = Counter("kmm_fill_contracts", "Contracts filled (in 1/100 contract)", registry=r)
        self.cash = Gauge("kmm_cash_dollars", "Cash balance", registry=r)
        self.realized = Gauge("kmm_realized_pnl_dollars", "Realized P&L", registry=r)
        self.unrealized = Gauge("kmm_unrealized_pnl_dollars", "Unrealized P&L", registry=r)
        self.fees = Gauge("kmm_fees_dollars", "Fees paid", registry=r)
        self.position = Gauge("kmm_position_contracts", "Signed position (YES > 0)", ["ticker"], registry=r)
        self.markets = Gauge("kmm_markets_traded", "Markets with a running trader", registry=r)
        self.tick_to_quote = Histogram(
            "kmm_tick_to_quote_seconds", "Event in to commands out, in the engine", buckets=LATENCY_BUCKETS_S, registry=r
        )
        self.order_rtt = Histogram(
            "kmm_order_round_trip_seconds", "Order command sent to exchange answer", buckets=LATENCY_BUCKETS_S, registry=r
        )
        self.reconnects = Counter("kmm_feed_reconnects", "WebSocket reconnects", registry=r)
        self.resyncs = Counter("kmm_feed_resyncs", "Book resyncs (seq gaps, reconnects)", registry=r)
        self.rate_tokens = Gauge("kmm_rate_tokens", "Tokens left in the client-side bucket", ["bucket"], registry=r)
        self.killed = Gauge("kmm_kill_switch", "1 when the kill switch is engaged", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
