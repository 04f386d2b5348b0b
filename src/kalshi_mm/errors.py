"""The exception tree, named by the reaction each error needs.

``ProtocolError`` means *we* (or the bytes we were handed) are wrong: a malformed message, a
price off the grid, a field of the wrong type. ``ExchangeError`` means the exchange said no or
failed; its subclasses say what to do about it:

- ``Retryable``: try again later (5xx, timeouts, dropped connections on idempotent reads).
- ``RateLimited``: the token bucket is empty (429); wait for tokens, then retry.
- ``Rejected``: the exchange refused this request for business reasons (400/404/409); do not retry
  the same request.
- ``Fatal``: authentication or permission problems; cancel everything and stop.

``OutcomeUnknown`` is raised when a write (POST/DELETE) may or may not have been applied; the
caller must read the order back before sending anything else for that market.
"""

from __future__ import annotations


class KalshiMMError(Exception):
    """Base of every error raised by kalshi-mm."""


class ConfigError(KalshiMMError):
    """Bad configuration: a missing key file, an invalid value, an unknown strategy."""


class ProtocolError(KalshiMMError):
    """A message or value that does not follow the protocol (our side, or bytes we were given)."""

    def __init__(self, message: str, *, field: str | None = None, resync: bool = False) -> None:
        super().__init__(message)
        self.field = field
        #: True when the right reaction is to drop local state for the market and resync it.
        self.resync = resync


class ExchangeError(KalshiMMError):
    """The exchange refused a request or failed to answer it."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.details:
            parts.append(f"details={self.details}")
        return " ".join(parts)


class Retryable(ExchangeError):
    """Transient failure (5xx, timeout, dropped connection); retry with backoff."""


class RateLimited(Retryable):
    """429 too many requests; wait for the bucket to refill."""


class Rejected(ExchangeError):
    """The exchange refused the request (4xx business or validation error); do not retry as is."""


class Fatal(ExchangeError):
    """Authentication or permission failure; cancel everything and stop."""


class OutcomeUnknown(Retryable):
    """A write whose effect is unknown (timeout, 5xx, dropped socket): read the order back first."""


class RiskViolation(KalshiMMError):
    """A command refused by a risk rule; ``rule`` names it and the message gives the numbers."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
