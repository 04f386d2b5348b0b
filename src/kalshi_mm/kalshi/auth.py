"""Kalshi request signing and verification (RSA-PSS SHA-256 or Ed25519).

Signed bytes (UTF-8, no separators): ``f"{ts_ms}{METHOD}{path}"`` where ``path`` is the URL
path from the host root, including ``/trade-api/v2`` (or exactly ``/trade-api/ws/v2`` for the
WebSocket upgrade), **without** the query string. RSA uses PSS with MGF1(SHA-256) and a salt of
32 bytes (the digest length); verification also accepts any salt length (auto-detect). Ed25519 is
plain Ed25519 over the same bytes. Signatures travel as standard base64.

Key material never appears in a repr, a log line or an exception message.

Public API::

    message(ts_ms, method, path) -> bytes
    strip_query(path) -> str
    load_private_key(pem) -> RSAPrivateKey | Ed25519PrivateKey
    load_public_key(pem) -> RSAPublicKey | Ed25519PublicKey
    sign(private_key, ts_ms, method, path) -> str   # base64
    verify_signature(public_key, ts_ms, method, path, signature_b64) -> bool
    generate_key(kind="rsa"|"ed25519", *, pkcs8=False, rsa_bits=2048) -> (private_pem, public_pem)
    Signer(key_id, private_key).headers(method, path, ts_ms) / .headers_cached(...)

Callers should supply ``ts_ms`` from their clock; without it the wall clock is used.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshi_mm.errors import ConfigError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

HEADER_KEY: Final = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP: Final = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE: Final = "KALSHI-ACCESS-SIGNATURE"
WS_PATH: Final = "/trade-api/ws/v2"
SALT_LENGTH: Final = 32  # = SHA-256 digest length
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

_PSS_SIGN = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=SALT_LENGTH)
_PSS_VERIFY = (_PSS_SIGN, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO))


def now_ms() -> int:
    """Wall-clock Unix ms (fallback for callers that do not pass ``ts_ms``)."""
    return (datetime.now(UTC) - _EPOCH) // timedelta(milliseconds=1)


# ------------------------------------------------------------------------------------------------
# the signed message
# ------------------------------------------------------------------------------------------------


def strip_query(path: str) -> str:
    """``/trade-api/v2/portfolio/orders?limit=5`` -> ``/trade-api/v2/portfolio/orders``."""
    q = path.find("?")
    if q >= 0:
        path = path[:q]
    h = path.find("#")
    return path[:h] if h >= 0 else path


def message(ts_ms: int | str, method: str, path: str) -> bytes:
    """The exact bytes Kalshi signs: ``<ts_ms><METHOD><path without query>``."""
    return f"{ts_ms}{method.upper()}{strip_query(path)}".encode()


# ------------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------------


def _pem_bytes(pem: bytes | str, what: str) -> bytes:
    data = pem.encode() if isinstance(pem, str) else bytes(pem)
    if b"-----BEGIN" not in data:
        raise ConfigError(f"{what} is not a PEM file (no '-----BEGIN' line)")
    headers = [ln for ln in data.splitlines() if ln.startswith((b"-----", b"Proc-Type:"))]
    if any(b"ENCRYPTED" in ln for ln in headers):
        raise ConfigError(f"{what} is encrypted; Kalshi keys are used unencrypted (decrypt it first)")
    return data


def load_private_key(pem: bytes | str) -> PrivateKey:
    """An RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8) PEM private key. Errors never echo the key."""
    data = _pem_bytes(pem, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(
            "private key is encrypted; Kalshi keys are used unencrypted (decrypt it first)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(
            "private key could not be loaded: expected an unencrypted PEM RSA key (PKCS#1 or PKCS#8) "
            "or Ed25519 key (PKCS#8)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigError(f"unsupported private key type {type(key).__name__}; use RSA or Ed25519")
    return key


def load_public_key(pem: bytes | str) -> PublicKey:
    """An SPKI PEM public key (``BEGIN PUBLIC KEY``; PKCS#1 ``BEGIN RSA PUBLIC KEY`` also loads)."""
    data = _pem_bytes(pem, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError("public key could not be loaded: expected a PEM SPKI RSA or Ed25519 key") from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ConfigError(f"unsupported public key type {type(key).__name__}; use RSA or Ed25519")
    return key


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    """SPKI PEM of a key's public half (what Kalshi's key upload expects)."""
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key(kind: str = "rsa", *, pkcs8: bool = False, rsa_bits: int = 2048) -> tuple[bytes, bytes]:
    """A fresh key pair as ``(private_pem, public_pem)``, for tests and the local exchange.

    RSA private keys are PKCS#1 (``BEGIN RSA PRIVATE KEY``, as Kalshi issues them) unless
    ``pkcs8``; Ed25519 keys are always PKCS#8. Public keys are SPKI.
    """
    key: PrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        fmt = serialization.PrivateFormat.PKCS8
    else:
        raise ConfigError(f"unknown key kind {kind!r}; use 'rsa' or 'ed25519'")
    private = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    return private, public_pem(key)


def key_kind(key: PrivateKey | PublicKey) -> str:
    return "ed25519" if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey) else "rsa"


# ------------------------------------------------------------------------------------------------
# sign / verify
# ------------------------------------------------------------------------------------------------


def sign(private_key: PrivateKey, ts_ms: int | str, method: str, path: str) -> str:
    """Base64 signature of ``message(ts_ms, method, path)``."""
    data = message(ts_ms, method, path)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        raw = private_key.sign(data)
    else:
        raw = private_key.sign(data, _PSS_SIGN, hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify_signature(
    public_key: PublicKey | bytes | str, ts_ms: int | str, method: str, path: str, signature_b64: str | bytes
) -> bool:
    """True iff ``signature_b64`` signs ``message(ts_ms, method, path)`` under ``public_key``.

    RSA accepts salt length 32 and, failing that, any salt length. Malformed base64 or a
    signature of the wrong size is simply ``False``. ``public_key`` may be a PEM.
    """
    key = load_public_key(public_key) if isinstance(public_key, bytes | str) else public_key
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    data = message(ts_ms, method, path)
    if isinstance(key, ed25519.Ed25519PublicKey):
        try:
            key.verify(sig, data)
            return True
        except InvalidSignature:
            return False
    for pss in _PSS_VERIFY:
        try:
            key.verify(sig, data, pss, hashes.SHA256())
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


class Signer:
    """Signs Kalshi requests for one API key.

    >>> signer = Signer.from_pem(key_id, pem)              # doctest: +SKIP
    >>> signer.headers("GET", "/trade-api/v2/portfolio/orders?limit=5", ts_ms=now_ms)  # doctest: +SKIP

    ``headers_cached`` reuses a recent signature for the same method+path (see its docstring).
    """

    __slots__ = ("_cache", "_key", "key_id", "kind")

    def __init__(self, key_id: str, private_key: PrivateKey) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise ConfigError(
                f"unsupported private key type {type(private_key).__name__}; use RSA or Ed25519"
            )
        if not key_id:
            raise ConfigError("API key id is empty")
        self.key_id = key_id
        self._key = private_key
        self.kind = key_kind(private_key)
        self._cache: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}

    @classmethod
    def from_pem(cls, key_id: str, pem: bytes | str) -> Signer:
        return cls(key_id, load_private_key(pem))

    @property
    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, ts_ms: int, method: str, path: str) -> str:
        return sign(self._key, ts_ms, method, path)

    def headers(self, method: str, path: str, ts_ms: int | None = None) -> dict[str, str]:
        """The three ``KALSHI-ACCESS-*`` headers for ``method path`` at ``ts_ms`` (Unix ms).

        Shells should pass their own clock's ``ts_ms`` (tests and the simulator can then pin it);
        ``None`` falls back to the wall clock, the only clock read in ``kalshi/``.
        """
        if ts_ms is None:
            ts_ms = now_ms()
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: str(ts_ms),
            HEADER_SIGNATURE: sign(self._key, ts_ms, method, path),
        }

    def headers_cached(
        self, method: str, path: str, ts_ms: int | None = None, max_age_ms: int = 1000
    ) -> dict[str, str]:
        """Like :meth:`headers`, but reuses a signature made within the last ``max_age_ms``.

        Kalshi signs only timestamp + method + path (no body, no nonce), so a signature cannot be
        made ahead of time for a future timestamp, but one made a moment ago for the same
        method+path is still accepted as long as its timestamp is inside the server's clock-skew
        window (a few seconds, observed +/-5 s). Reusing it saves the ~330 us of an RSA-PSS
        signature on hot paths such as cancels and creates.

        Trade-off: the request carries a timestamp up to ``max_age_ms`` old, eating into the skew
        window (keep ``max_age_ms`` well below it, 1 s by default), and the same headers are
        replayable by anyone who sees them for that long; that is true of every Kalshi signature
        for the whole skew window anyway. The returned dict is a fresh copy each call.
        """
        if ts_ms is None:
            ts_ms = now_ms()
        method = method.upper()
        key = (method, strip_query(path))
        hit = self._cache.get(key)
        if hit is not None and 0 <= ts_ms - hit[0] <= max_age_ms:
            return dict(hit[1])
        h = self.headers(method, key[1], ts_ms)
        if len(self._cache) >= 1024:
            self._cache.clear()
        self._cache[key] = (ts_ms, h)
        return dict(h)

    def __repr__(self) -> str:
        kid = self.key_id
        shown = f"{kid[:4]}...{kid[-4:]}" if len(kid) > 12 else "<set>"
        return f"Signer(key_id={shown}, kind={self.kind}, private_key=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:  # never pickle a private key by accident
        raise TypeError("Signer holds a private key and cannot be pickled")
