"""Signing vectors: auth.py and `cryptography` agree both ways, for RSA-PSS and Ed25519.

Keys are generated at test time; no private key is ever written to the repo.
"""

from __future__ import annotations

import base64
import pickle

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_mm.errors import ConfigError
from kalshi_mm.kalshi import auth

DOC_TS = 1703123456789
DOC_PATH = "/trade-api/v2/portfolio/orders?limit=5"
DOC_MESSAGE = b"1703123456789GET/trade-api/v2/portfolio/orders"
PSS32 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

# PEM headers built at run time, so that no file of the repo reads like a committed key
PEM_RSA = b"-----BEGIN RSA " + b"PRIVATE KEY-----"
PEM_PKCS8 = b"-----BEGIN " + b"PRIVATE KEY-----"


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[bytes, bytes]:
    return auth.generate_key("rsa")


@pytest.fixture(scope="module")
def ed_pair() -> tuple[bytes, bytes]:
    return auth.generate_key("ed25519")


def test_doc_message_strips_the_query() -> None:
    assert auth.message(DOC_TS, "get", DOC_PATH) == DOC_MESSAGE
    assert auth.message(DOC_TS, "GET", "/trade-api/ws/v2") == b"1703123456789GET/trade-api/ws/v2"
    assert auth.strip_query("/a/b?x=1&y=2") == "/a/b" and auth.strip_query("/a/b") == "/a/b"


def test_generated_key_formats(rsa_pair: tuple[bytes, bytes], ed_pair: tuple[bytes, bytes]) -> None:
    assert rsa_pair[0].startswith(PEM_RSA)  # PKCS#1, as Kalshi issues
    assert rsa_pair[1].startswith(b"-----BEGIN PUBLIC KEY-----")  # SPKI
    assert auth.generate_key("rsa", pkcs8=True)[0].startswith(PEM_PKCS8)
    assert ed_pair[0].startswith(PEM_PKCS8)
    assert isinstance(auth.load_private_key(rsa_pair[0]), rsa.RSAPrivateKey)
    assert isinstance(auth.load_private_key(ed_pair[0]), ed25519.Ed25519PrivateKey)
    with pytest.raises(ConfigError, match="unknown key kind"):
        auth.generate_key("dsa")


def test_rsa_auth_signature_verifies_with_cryptography(rsa_pair: tuple[bytes, bytes]) -> None:
    signer = auth.Signer.from_pem("key-id", rsa_pair[0])
    h = signer.headers("get", DOC_PATH, ts_ms=DOC_TS)
    assert h["KALSHI-ACCESS-KEY"] == "key-id" and h["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    sig = base64.b64decode(h["KALSHI-ACCESS-SIGNATURE"], validate=True)  # standard base64
    pub = serialization.load_pem_public_key(rsa_pair[1])
    assert isinstance(pub, rsa.RSAPublicKey)
    pub.verify(sig, DOC_MESSAGE, PSS32, hashes.SHA256())  # raises if wrong
    with pytest.raises(Exception):  # noqa: B017 - any InvalidSignature
        pub.verify(sig, DOC_MESSAGE + b"x", PSS32, hashes.SHA256())


def test_cryptography_rsa_signature_verifies_with_auth(rsa_pair: tuple[bytes, bytes]) -> None:
    key = serialization.load_pem_private_key(rsa_pair[0], password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    sig = base64.b64encode(key.sign(DOC_MESSAGE, PSS32, hashes.SHA256())).decode()
    pub = auth.load_public_key(rsa_pair[1])
    assert auth.verify_signature(pub, DOC_TS, "GET", DOC_PATH, sig)
    assert auth.verify_signature(rsa_pair[1], str(DOC_TS), "get", "/trade-api/v2/portfolio/orders", sig)
    assert not auth.verify_signature(pub, DOC_TS + 1, "GET", DOC_PATH, sig)
    assert not auth.verify_signature(pub, DOC_TS, "POST", DOC_PATH, sig)
    assert not auth.verify_signature(pub, DOC_TS, "GET", "/trade-api/v2/portfolio/fills", sig)
    # verification also accepts other salt lengths (auto-detect)
    for salt in (padding.PSS.MAX_LENGTH, 0, 20):
        other = key.sign(
            DOC_MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt), hashes.SHA256()
        )
        assert auth.verify_signature(pub, DOC_TS, "GET", DOC_PATH, base64.b64encode(other))
    # PKCS#1 v1.5 is not what Kalshi uses
    v15 = key.sign(DOC_MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    assert not auth.verify_signature(pub, DOC_TS, "GET", DOC_PATH, base64.b64encode(v15))


def test_ed25519_both_ways(ed_pair: tuple[bytes, bytes]) -> None:
    signer = auth.Signer.from_pem("ed-key", ed_pair[0])
    assert signer.kind == "ed25519"
    h = signer.headers("GET", DOC_PATH, ts_ms=DOC_TS)
    pub = serialization.load_pem_public_key(ed_pair[1])
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    pub.verify(base64.b64decode(h["KALSHI-ACCESS-SIGNATURE"]), DOC_MESSAGE)
    key = serialization.load_pem_private_key(ed_pair[0], password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    sig = base64.b64encode(key.sign(DOC_MESSAGE)).decode()
    assert auth.verify_signature(auth.load_public_key(ed_pair[1]), DOC_TS, "GET", DOC_PATH, sig)
    assert not auth.verify_signature(auth.load_public_key(ed_pair[1]), DOC_TS, "DELETE", DOC_PATH, sig)
    # an Ed25519 signature never verifies under an unrelated RSA key
    rsa_pub = auth.load_public_key(auth.generate_key("rsa")[1])
    assert not auth.verify_signature(rsa_pub, DOC_TS, "GET", DOC_PATH, sig)


def test_pkcs8_rsa_private_key_loads_and_signs() -> None:
    priv, pub = auth.generate_key("rsa", pkcs8=True)
    signer = auth.Signer.from_pem("k", priv.decode())
    h = signer.headers("POST", "/trade-api/v2/portfolio/events/orders", ts_ms=5)
    assert auth.verify_signature(
        pub, 5, "POST", "/trade-api/v2/portfolio/events/orders", h["KALSHI-ACCESS-SIGNATURE"]
    )


def test_ws_upgrade_signature(rsa_pair: tuple[bytes, bytes]) -> None:
    signer = auth.Signer.from_pem("k", rsa_pair[0])
    h = signer.headers("GET", auth.WS_PATH, ts_ms=DOC_TS)
    assert auth.verify_signature(rsa_pair[1], DOC_TS, "GET", "/trade-api/ws/v2", h["KALSHI-ACCESS-SIGNATURE"])


def test_malformed_signatures_are_false(rsa_pair: tuple[bytes, bytes]) -> None:
    pub = auth.load_public_key(rsa_pair[1])
    for bad in ("", "not base64!!", "AAAA", base64.b64encode(b"x" * 256).decode(), "=" * 8):
        assert not auth.verify_signature(pub, DOC_TS, "GET", DOC_PATH, bad)


def test_headers_default_timestamp_is_now_ms(rsa_pair: tuple[bytes, bytes]) -> None:
    signer = auth.Signer.from_pem("k", rsa_pair[0])
    before = auth.now_ms()
    h = signer.headers("GET", "/trade-api/v2/markets")
    ts = int(h["KALSHI-ACCESS-TIMESTAMP"])
    assert before <= ts <= auth.now_ms() and ts > 1_700_000_000_000
    assert auth.verify_signature(
        rsa_pair[1], ts, "GET", "/trade-api/v2/markets", h["KALSHI-ACCESS-SIGNATURE"]
    )


def test_headers_cached_reuses_within_max_age(rsa_pair: tuple[bytes, bytes]) -> None:
    signer = auth.Signer.from_pem("k", rsa_pair[0])
    path = "/trade-api/v2/portfolio/events/orders/abc"
    h1 = signer.headers_cached("delete", path, ts_ms=1000)
    h2 = signer.headers_cached("DELETE", path + "?subaccount=0", ts_ms=1800)
    assert h2 == h1 and h2 is not h1 and h2["KALSHI-ACCESS-TIMESTAMP"] == "1000"
    h2["KALSHI-ACCESS-KEY"] = "mutated"  # callers get copies
    assert signer.headers_cached("DELETE", path, ts_ms=1900)["KALSHI-ACCESS-KEY"] == "k"
    h3 = signer.headers_cached("DELETE", path, ts_ms=2001)  # older than max_age: re-signed
    assert h3["KALSHI-ACCESS-TIMESTAMP"] == "2001"
    h4 = signer.headers_cached("GET", path, ts_ms=2002)  # other method: own signature
    assert h4["KALSHI-ACCESS-TIMESTAMP"] == "2002"
    assert (
        signer.headers_cached("DELETE", path, ts_ms=1500)["KALSHI-ACCESS-TIMESTAMP"] == "1500"
    )  # clock back
    for h, method in ((h3, "DELETE"), (h4, "GET")):
        ts = int(h["KALSHI-ACCESS-TIMESTAMP"])
        assert auth.verify_signature(rsa_pair[1], ts, method, path, h["KALSHI-ACCESS-SIGNATURE"])


def test_secrets_never_shown(rsa_pair: tuple[bytes, bytes]) -> None:
    key_id = "0123abcd-4567-89ef-0123-456789abcdef"
    signer = auth.Signer.from_pem(key_id, rsa_pair[0])
    body = b"".join(rsa_pair[0].splitlines()[1:-1]).decode()
    for text in (repr(signer), str(signer), f"{signer}"):
        assert "PRIVATE" not in text and body[:40] not in text and key_id not in text
        assert "<hidden>" in text
    with pytest.raises(TypeError):
        pickle.dumps(signer)


@pytest.mark.parametrize(
    ("pem", "text"),
    [
        (b"hello", "not a PEM"),
        (PEM_RSA.decode() + "\nAAAA\n-----END RSA " + "PRIVATE KEY-----\n", "could not be loaded"),
        (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
    ],
)
def test_bad_private_keys_give_clear_config_errors(pem: bytes | str, text: str) -> None:
    with pytest.raises(ConfigError, match=text) as info:
        auth.load_private_key(pem)
    assert "AAAA" not in str(info.value)


def test_encrypted_and_unsupported_keys() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(ConfigError, match="encrypted") as info:
        auth.load_private_key(enc)
    assert enc.decode().splitlines()[1] not in str(info.value)
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match="unsupported private key type"):
        auth.load_private_key(ec_pem)
    with pytest.raises(ConfigError, match="unsupported public key type"):
        auth.load_public_key(auth.public_pem(ec_key.public_key()))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="public key is not a PEM"):
        auth.load_public_key(b"ssh-rsa AAAA")
    with pytest.raises(ConfigError, match="API key id is empty"):
        auth.Signer("", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@settings(max_examples=25, deadline=None)
@given(
    ts=st.integers(0, 10**13),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    path=st.from_regex(r"/trade-api/v2(/[a-z_{}0-9%-]{1,12}){0,4}(\?[a-z=&0-9]{0,10})?", fullmatch=True),
)
def test_sign_verify_property(ts: int, method: str, path: str) -> None:
    key = _PROP_KEYS[ts % 2]
    sig = auth.sign(key, ts, method, path)
    assert auth.verify_signature(key.public_key(), ts, method, auth.strip_query(path), sig)
    assert not auth.verify_signature(key.public_key(), ts + 1, method, path, sig)


_PROP_KEYS = (
    auth.load_private_key(auth.generate_key("rsa")[0]),
    auth.load_private_key(auth.generate_key("ed25519")[0]),
)
