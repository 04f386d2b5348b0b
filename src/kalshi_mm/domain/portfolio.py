"""Signed positions, cash and P&L, following Kalshi's cash model, all in integer Money.

A position is one signed number per market: YES contracts > 0, NO contracts < 0. Kalshi's V2
orders quote the YES leg: a ``bid`` fill buys YES at p, an ``ask`` fill buys NO at 1 - p.

Cash moves as on the exchange:

- opening or extending YES at p costs p per contract; opening or extending NO costs 1 - p;
- closing NO with a YES buy at p returns 1 - p per contract (the YES+NO pair nets to $1);
- closing YES with an ask at p returns p per contract;
- fees are paid in cash; at settlement YES holders get the settlement value, NO holders 1 - value.

The cost basis of the open position is tracked on its own leg, so realized P&L on a close is
``proceeds - cost of the contracts closed``; unrealized P&L marks the position at a YES price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kalshi_mm.domain.fees import settlement_payout
from kalshi_mm.domain.units import ONE_DOLLAR, Money, Price, Qty
from kalshi_mm.errors import ProtocolError


@dataclass(slots=True)
class Position:
    ticker: str
    qty: Qty = 0  # signed: YES > 0, NO < 0
    cost: Money = 0  # cost basis of |qty| contracts on their own leg
    realized: Money = 0  # realized trading P&L, before fees
    fees: Money = 0
    volume: Qty = 0
    settled: bool = False

    @property
    def avg_cost(self) -> float:
        """Average cost per contract on the held leg, in Price units (0 when flat)."""
        return self.cost / abs(self.qty) if self.qty else 0.0

    def unrealized(self, mark: Price | None) -> Money:
        """Mark-to-market P&L at YES price ``mark`` (0 when flat or no mark)."""
        if not self.qty or mark is None:
            return 0
        if self.qty > 0:
            return self.qty * mark - self.cost
        return -self.qty * (ONE_DOLLAR - mark) - self.cost

    def exposure(self) -> Money:
        """What the position can lose: its cost basis."""
        return self.cost


@dataclass(slots=True)
class Portfolio:
    cash: Money = 0
    positions: dict[str, Position] = field(default_factory=dict)
    fees_paid: Money = 0
    payouts: Money = 0

    def position(self, ticker: str) -> Position:
        pos = self.positions.get(ticker)
        if pos is None:
            pos = self.positions[ticker] = Position(ticker)
        return pos

    def qty(self, ticker: str) -> Qty:
        pos = self.positions.get(ticker)
        return pos.qty if pos else 0

    def apply_fill(self, ticker: str, side: str, price: Price, count: Qty, fee: Money = 0) -> Money:
        """Book one fill; returns the cash change (negative for money spent)."""
        if count <= 0:
            raise ProtocolError(f"fill count {count} must be positive", field="count")
        if not 0 < price < ONE_DOLLAR:
            raise ProtocolError(f"fill price {price} outside (0, 1)", field="price")
        if fee < 0:
            raise ProtocolError(f"fee {fee} must not be negative", field="fee")
        pos = self.position(ticker)
        if side == "bid":
            leg_price, closes = price, pos.qty < 0  # buy YES at p; closes NO
            close_value = ONE_DOLLAR - price  # each closed NO contract returns 1 - p
            direction = 1
        elif side == "ask":
            leg_price, closes = ONE_DOLLAR - price, pos.qty > 0  # buy NO at 1 - p; closes YES
            close_value = price
            direction = -1
        else:
            raise ProtocolError(f"fill side must be 'bid' or 'ask', got {side!r}", field="side")

        cash = 0
        remaining = count
        if closes:
            held = abs(pos.qty)
            c = min(remaining, held)
            cost_out = pos.cost if c == held else pos.cost * c // held
            proceeds = close_value * c
            cash += proceeds
            pos.realized += proceeds - cost_out
            pos.cost -= cost_out
            pos.qty += direction * c
            remaining -= c
        if remaining:
            spend = leg_price * remaining
            cash -= spend
            pos.cost += spend
            pos.qty += direction * remaining
        cash -= fee
        pos.fees += fee
        pos.volume += count
        self.fees_paid += fee
        self.cash += cash
        return cash

    def settle(self, ticker: str, settlement_value: Price) -> Money:
        """Pay out a market's net position at ``settlement_value`` (YES price); returns the payout."""
        pos = self.position(ticker)
        payout = settlement_payout(pos.qty, settlement_value)
        pos.realized += payout - pos.cost
        pos.cost = 0
        pos.qty = 0
        pos.settled = True
        self.cash += payout
        self.payouts += payout
        return payout

    def realized(self) -> Money:
        return sum(p.realized for p in self.positions.values())

    def unrealized(self, marks: dict[str, Price | None]) -> Money:
        return sum(p.unrealized(marks.get(t)) for t, p in self.positions.items())

    def total_pnl(self, marks: dict[str, Price | None]) -> Money:
        """Realized + unrealized - fees."""
        return self.realized() + self.unrealized(marks) - self.fees_paid

    def gross_exposure(self) -> Money:
        return sum(p.cost for p in self.positions.values())
