"""The feed's bookkeeping as a small pure class: per-sid sequence checks, book sync, liveness.

``KalshiFeed`` (the asyncio shell) asks this object what to do with each message; the object
never awaits and never reads a clock (``now`` is passed in, in seconds), so every rule here is
unit-tested directly.

Sequences (kalshi-api.md section 14): ``seq`` increments by one per message of a sid; the first
value is arbitrary. A gap means a message was lost, and a message of the ``orderbook_delta`` sid
can belong to any of its markets, so a gap marks *every* market of that sid unsynced: their
deltas are dropped until a fresh snapshot arrives (requested with ``get_snapshot``; if that does
not arrive in time, the shell resubscribes). A repeated or older seq is a duplicate and dropped.

Liveness: any frame (data or the server's ping) proves the socket alive; nothing for
``dead_after`` seconds means a dead socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class SeqVerdict(Enum):
    OK = "ok"  # next in sequence (or first of the sid, or a channel without seq)
    DUPLICATE = "duplicate"  # seq already seen: drop the message
    GAP = "gap"  # at least one message lost before this one


@dataclass(slots=True)
class FeedState:
    book_channel: str = "orderbook_delta"
    #: channel -> sid on the current connection
    sids: dict[str, int] = field(default_factory=dict)
    #: sid -> channel
    channels: dict[int, str] = field(default_factory=dict)
    #: sid -> last seq seen
    last_seq: dict[int, int] = field(default_factory=dict)
    #: markets whose book is live (snapshot received, no gap since)
    synced: set[str] = field(default_factory=set)
    #: markets waiting for a snapshot -> time it was requested (None: not requested yet)
    awaiting: dict[str, float | None] = field(default_factory=dict)
    last_rx: float = 0.0
    gaps: int = 0
    duplicates: int = 0
    dropped_deltas: int = 0

    # -- connection lifecycle ------------------------------------------------------------------
    def reset(self, now: float) -> None:
        """New connection: sids and seqs are per connection; every book must be resnapshotted."""
        self.sids.clear()
        self.channels.clear()
        self.last_seq.clear()
        pending = set(self.synced) | set(self.awaiting)
        self.synced.clear()
        self.awaiting = dict.fromkeys(pending)
        self.last_rx = now

    def on_subscribed(self, channel: str, sid: int) -> None:
        old = self.sids.get(channel)
        if old is not None and old != sid:
            self.channels.pop(old, None)
            self.last_seq.pop(old, None)
        self.sids[channel] = sid
        self.channels[sid] = channel

    def on_unsubscribed(self, sid: int) -> None:
        ch = self.channels.pop(sid, None)
        self.last_seq.pop(sid, None)
        if ch is not None and self.sids.get(ch) == sid:
            del self.sids[ch]

    # -- markets -----------------------------------------------------------------------------------
    def add_markets(self, tickers: list[str] | set[str] | tuple[str, ...]) -> None:
        """Markets newly subscribed: wait for their first snapshot."""
        for t in tickers:
            if t not in self.synced:
                self.awaiting.setdefault(t, None)

    def remove_markets(self, tickers: list[str] | set[str] | tuple[str, ...]) -> None:
        for t in tickers:
            self.synced.discard(t)
            self.awaiting.pop(t, None)

    def snapshot_requested(self, tickers: list[str] | set[str], now: float) -> None:
        for t in tickers:
            if t in self.awaiting:
                self.awaiting[t] = now

    def unrequested(self) -> list[str]:
        """Unsynced markets for which no snapshot request is outstanding."""
        return [t for t, at in self.awaiting.items() if at is None]

    def overdue(self, now: float, timeout: float) -> list[str]:
        """Markets whose requested snapshot has not come within ``timeout`` seconds."""
        return [t for t, at in self.awaiting.items() if at is not None and now - at >= timeout]

    # -- messages ----------------------------------------------------------------------------------
    def touch(self, now: float) -> None:
        self.last_rx = now

    def is_dead(self, now: float, dead_after: float) -> bool:
        return now - self.last_rx > dead_after

    def check_seq(self, sid: int | None, seq: int | None) -> SeqVerdict:
        """Verdict for a sequenced message; a gap on the book sid unsyncs all its markets."""
        if sid is None or seq is None:
            return SeqVerdict.OK
        last = self.last_seq.get(sid)
        if last is None or seq == last + 1:
            self.last_seq[sid] = seq
            return SeqVerdict.OK
        if seq <= last:
            self.duplicates += 1
            return SeqVerdict.DUPLICATE
        self.last_seq[sid] = seq
        self.gaps += 1
        if self.channels.get(sid, self.book_channel) == self.book_channel:
            for t in self.synced:
                self.awaiting[t] = None
            self.synced.clear()
        return SeqVerdict.GAP

    def on_snapshot(self, ticker: str) -> bool:
        """A snapshot arrived; returns False for a market we no longer follow."""
        if ticker not in self.awaiting and ticker not in self.synced:
            return False
        self.awaiting.pop(ticker, None)
        self.synced.add(ticker)
        return True

    def accept_delta(self, ticker: str) -> bool:
        """Apply this delta? Only for a synced market; otherwise it is dropped."""
        if ticker in self.synced:
            return True
        self.dropped_deltas += 1
        return False

    def unsync(self, ticker: str) -> None:
        """A delta could not be applied (book would go negative): resnapshot this market."""
        if ticker in self.synced:
            self.synced.discard(ticker)
            self.awaiting[ticker] = None
