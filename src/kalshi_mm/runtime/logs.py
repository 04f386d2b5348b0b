"""The ops log: logging through a ``QueueHandler`` so the event loop never waits on disk.

``setup_logging(path)`` installs a queue handler on the root logger and a ``QueueListener`` that
writes to a size-rotated file (and the console). A redaction filter replaces registered secrets
(key ids, tokens) and anything that looks like a PEM block with ``<redacted>`` before a record
is formatted anywhere.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import re
from pathlib import Path

_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


class RedactingFilter(logging.Filter):
    """Removes secrets from log records (message and arguments)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add_secret(self, secret: str | None) -> None:
        if secret and len(secret) >= 6:
            self.secrets.add(secret)

    def _clean(self, text: str) -> str:
        text = _PEM.sub("<redacted private key>", text)
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        cleaned = self._clean(msg)
        if cleaned != msg or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


REDACTOR = RedactingFilter()
_listener: logging.handlers.QueueListener | None = None

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    path: str | Path | None = None,
    *,
    level: int = logging.INFO,
    console: bool = True,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
) -> logging.handlers.QueueListener:
    """Route all logging through a queue to a rotating file (and stderr). Idempotent."""
    global _listener
    stop_logging()
    handlers: list[logging.Handler] = []
    fmt = logging.Formatter(FORMAT)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        fh.setFormatter(fmt)
        handlers.append(fh)
    if console:
        sh = logging.StreamHandler()
        sh.setFormatter(fmt)
        handlers.append(sh)
    q: queue.Queue[logging.LogRecord] = queue.Queue(-1)
    qh = logging.handlers.QueueHandler(q)
    qh.addFilter(REDACTOR)
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, logging.handlers.QueueHandler):
            root.removeHandler(h)
    root.addHandler(qh)
    root.setLevel(level)
    # websockets and aiohttp log request headers at DEBUG, the KALSHI-ACCESS-SIGNATURE among them
    # (replayable inside the clock-skew window): never below INFO, whatever the root level
    for name in ("websockets", "aiohttp.client"):
        lg = logging.getLogger(name)
        lg.setLevel(max(lg.getEffectiveLevel(), logging.INFO, level))
    _listener = logging.handlers.QueueListener(q, *handlers, respect_handler_level=True)
    _listener.start()
    return _listener


def stop_logging() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        for h in _listener.handlers:
            h.close()
        _listener = None
