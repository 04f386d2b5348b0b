"""Pure policies of the venue shells: HTTP error mapping and exponential backoff with jitter.

``error_from_response`` turns an HTTP status and an error body (any of the shapes of
kalshi-api.md section 11) into the exception tree of ``kalshi_mm.errors``, named by the reaction
it needs:

====================== =============================================================
status                 exception
====================== =============================================================
400, 404, 409, 410     ``Rejected`` (do not retry the same request)
401, 403               ``Fatal`` (keys, clock or scopes: cancel everything and stop)
429                    ``RateLimited`` (wait for tokens)
5xx on a read          ``Retryable``
5xx on a write         ``OutcomeUnknown`` (read the order back before anything else)
====================== =============================================================

Secrets never reach a message: only the method, the path (no query string), the status and the
exchange's own code/message/details are kept, each cut to a sane length.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import msgspec

from kalshi_mm.errors import ExchangeError, Fatal, OutcomeUnknown, RateLimited, Rejected, Retryable

_MAX_TEXT = 300


def _text(v: object) -> str | None:
    if v is None:
        return None
    s = v if isinstance(v, str) else msgspec.json.encode(v).decode()
    s = s.strip()
    return s[:_MAX_TEXT] if s else None


def parse_error_body(body: bytes | str | None) -> tuple[str | None, str | None, str | None]:
    """``(code, message, details)`` from any of Kalshi's error shapes; Nones when absent.

    Shapes: ``{"code","message","details","service"}``, ``{"error":{...same...}}``,
    ``{"msg": "..."}``, ``{"error": "too many requests"}``, or plain text.
    """
    if not body:
        return None, None, None
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return None, _text(text), None
    if not isinstance(obj, dict):
        return None, _text(obj), None
    err = obj.get("error")
    if isinstance(err, dict):
        obj = err
    elif isinstance(err, str):
        return None, _text(err), _text(obj.get("details"))
    code = _text(obj.get("code"))
    message = _text(obj.get("message") or obj.get("msg"))
    details = _text(obj.get("details"))
    return code, message, details


WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})

_STATUS_HINT = {
    400: "request rejected",
    401: "authentication failed (API key id, private key or clock skew)",
    403: "forbidden (the key lacks the scope or the account the permission)",
    404: "not found",
    409: "conflict (duplicate client_order_id)",
    410: "endpoint gone",
    429: "rate limited",
}


def error_from_response(
    status: int, body: bytes | str | None, method: str, path: str
) -> ExchangeError:
    """The exception for a non-2xx answer to ``method path``."""
    code, message, details = parse_error_body(body)
    path = path.split("?", 1)[0]
    hint = _STATUS_HINT.get(status) or ("server error" if status >= 500 else f"HTTP {status}")
    text = f"{method.upper()} {path}: {hint}"
    if message:
        text += f": {message}"
    write = method.upper() in WRITE_METHODS
    cls: type[ExchangeError]
    if status == 429:
        cls = RateLimited
    elif status in (401, 403):
        cls = Fatal
    elif status >= 500 or status == 408:
        cls = OutcomeUnknown if write else Retryable
        if write and status >= 500:
            text += " (outcome unknown)"
    else:
        cls = Rejected
    return cls(text, status=status, code=code, details=details)


def transport_error(exc: BaseException, method: str, path: str) -> ExchangeError:
    """A timeout or connection failure: ``Retryable`` for reads, ``OutcomeUnknown`` for writes."""
    path = path.split("?", 1)[0]
    kind = type(exc).__name__
    text = f"{method.upper()} {path}: {kind}"
    detail = str(exc)
    if detail:
        text += f": {detail[:_MAX_TEXT]}"
    if method.upper() in WRITE_METHODS:
        return OutcomeUnknown(text + " (outcome unknown)", code="transport")
    return Retryable(text, code="transport")


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * factor**n)).

    ``floor`` adds a minimum to every wait (a 429 should not be retried instantly). ``rng`` is
    injectable so tests are deterministic.
    """

    base: float = 0.05
    factor: float = 2.0
    cap: float = 5.0
    floor: float = 0.0
    rng: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** min(max(0, attempt), 60))
        return min(self.cap, self.floor + ceiling * self.rng())

    def delays(self, attempts: int | None = None) -> Iterator[float]:
        n = 0
        while attempts is None or n < attempts:
            yield self.delay(n)
            n += 1
