import logging

from kalshi_mm.runtime.logs import REDACTOR, setup_logging, stop_logging
from kalshi_mm.runtime.metrics import Metrics


def test_ops_log_rotates_and_redacts(tmp_path):
    path = tmp_path / "ops.log"
    setup_logging(path, console=False, max_bytes=2000, backups=2)
    REDACTOR.add_secret("key-id-1234567890")
    log = logging.getLogger("kalshi_mm.test")
    pem = "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END " + "PRIVATE KEY-----"  # no key-like literal in the repo
    log.warning("using key %s with %s", "key-id-1234567890", pem)
    for i in range(100):
        log.info("line %d %s", i, "x" * 40)
    stop_logging()
    text = "".join(p.read_text() for p in tmp_path.glob("ops.log*"))
    assert "key-id-1234567890" not in text and "MIIEvQIBADANBg" not in text
    assert len(list(tmp_path.glob("ops.log*"))) == 3  # rotated, bounded
    assert "line 99" in path.read_text()


def test_metrics_render():
    m = Metrics()
    m.orders.labels("accepted").inc()
    m.tick_to_quote.observe(0.00001)
    m.position.labels("KXA-1").set(5)
    text = m.render().decode()
    assert 'kmm_orders_total{outcome="accepted"} 1.0' in text
    assert 'kmm_position_contracts{ticker="KXA-1"} 5.0' in text
    assert "kmm_tick_to_quote_seconds_bucket" in text


def test_debug_logging_keeps_http_and_ws_headers_out(tmp_path):
    """websockets and aiohttp log request headers (KALSHI-ACCESS-SIGNATURE) at DEBUG."""
    path = tmp_path / "ops.log"
    setup_logging(path, console=False, level=logging.DEBUG)
    try:
        assert logging.getLogger("kalshi_mm.x").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("websockets.client").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("aiohttp.client").isEnabledFor(logging.DEBUG)
        logging.getLogger("websockets.client").debug("> KALSHI-ACCESS-SIGNATURE: c2lnbmF0dXJl")
    finally:
        stop_logging()
    assert "c2lnbmF0dXJl" not in path.read_text()
