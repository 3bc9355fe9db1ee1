"""JSON Web Signatures for ACME requests (RFC 8555 section 6.2, RFC 7515, RFC 7638).

Only acctproc imports this module: it is the one process holding the account key.
JSON is always built by the json encoder, never from string templates.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from acme_conf.acme.b64 import b64url

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_CURVES: dict[str, tuple[str, hashes.HashAlgorithm, int]] = {
    # curve name -> (JWK crv, hash, coordinate size in bytes)
    "secp256r1": ("P-256", hashes.SHA256(), 32),
    "secp384r1": ("P-384", hashes.SHA384(), 48),
    "secp521r1": ("P-521", hashes.SHA512(), 66),
}
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class UnsupportedKeyError(Exception):
    """The key's algorithm or curve cannot sign ACME requests."""


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(key: PrivateKey) -> dict[str, str]:
    """The public key as a JWK with only its required members (RFC 7638 section 3.2)."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        crv, _, size = _curve(key)
        point = key.public_key().public_numbers()
        return {"crv": crv, "kty": "EC", "x": _uint(point.x, size), "y": _uint(point.y, size)}
    raise UnsupportedKeyError(f"{type(key).__name__} keys cannot sign ACME requests")


def thumbprint(key: PrivateKey) -> str:
    """RFC 7638 thumbprint: SHA-256 over the JWK's required members, sorted, no spaces."""
    canonical = json.dumps(public_jwk(key), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def algorithm(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    crv, _, _ = _curve(key)
    return _EC_ALGORITHMS[crv]


def _curve(key: ec.EllipticCurvePrivateKey) -> tuple[str, hashes.HashAlgorithm, int]:
    entry = _CURVES.get(key.curve.name)
    if entry is None:
        raise UnsupportedKeyError(f"curve {key.curve.name} cannot sign ACME requests")
    return entry


def sign(key: PrivateKey, url: str, nonce: str, kid: str, payload: bytes) -> bytes:
    """The flattened JWS JSON for one ACME POST.

    `kid` empty: the public JWK goes in the header (newAccount, revocation by
    key).  `payload` empty: POST-as-GET, whose payload is the empty string.
    """
    protected: dict[str, object] = {"alg": algorithm(key), "nonce": nonce, "url": url}
    if kid:
        protected["kid"] = kid
    else:
        protected["jwk"] = public_jwk(key)
    return json.dumps(_flattened(key, protected, payload), separators=(",", ":")).encode("ascii")


def key_change(new_key: PrivateKey, old_key: PrivateKey, url: str, nonce: str, account_url: str) -> bytes:
    """The keyChange request (RFC 8555 section 7.3.5): the account moves from `old_key` to `new_key`.

    The inner JWS, signed by the new key with its JWK and no nonce, names the
    account and the old key; the outer one is signed by the old key for the
    account, as every request of the account is.
    """
    inner_payload = json.dumps({"account": account_url, "oldKey": public_jwk(old_key)}, separators=(",", ":"))
    inner = _flattened(new_key, {"alg": algorithm(new_key), "jwk": public_jwk(new_key), "url": url}, inner_payload.encode("utf-8"))
    return sign(old_key, url, nonce, account_url, json.dumps(inner, separators=(",", ":")).encode("ascii"))


def _flattened(key: PrivateKey, protected: dict[str, object], payload: bytes) -> dict[str, str]:
    protected_b64 = b64url(json.dumps(protected, separators=(",", ":")).encode("utf-8"))
    payload_b64 = b64url(payload) if payload else ""
    signature = _signature(key, f"{protected_b64}.{payload_b64}".encode("ascii"))
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64url(signature)}


# RFC 8555 section 7.3.4: the MAC algorithms a CA may give an account binding for.
MAC_ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def external_account_binding(key: PrivateKey, url: str, mac_kid: str, mac_key: bytes, mac_algorithm: str) -> dict[str, str]:
    """The `externalAccountBinding` member of a new-account request (RFC 8555 section 7.3.4).

    A JWS whose payload is the account's public JWK, MAC'd with the key the
    CA gave for `mac_kid`, for the newAccount `url`.
    """
    protected = {"alg": mac_algorithm, "kid": mac_kid, "url": url}
    protected_b64 = b64url(json.dumps(protected, separators=(",", ":")).encode("utf-8"))
    payload_b64 = b64url(json.dumps(public_jwk(key), separators=(",", ":")).encode("ascii"))
    mac = hmac.new(mac_key, f"{protected_b64}.{payload_b64}".encode("ascii"), MAC_ALGORITHMS[mac_algorithm])
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64url(mac.digest())}


def _signature(key: PrivateKey, signing_input: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    _, digest, size = _curve(key)
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")
