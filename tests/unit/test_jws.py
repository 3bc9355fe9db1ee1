"""JWS signing and JWK thumbprints (acme_conf.acme.jws), verified independently with cryptography."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from acme_conf.acme import jws

URL = "https://ca.example/acme/new-order"
NONCE = "oFvnlFP1wIhRlYS2jTaXbA"
KID = "https://ca.example/acme/acct/42"

_CURVES = {"P-256": (ec.SECP256R1(), hashes.SHA256(), 32), "P-384": (ec.SECP384R1(), hashes.SHA384(), 48),
           "P-521": (ec.SECP521R1(), hashes.SHA512(), 66)}


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64int(text: str) -> int:
    return int.from_bytes(b64decode(text), "big")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module", params=["rsa", "P-256", "P-384", "P-521"])
def any_key(request, rsa_key):
    if request.param == "rsa":
        return rsa_key
    return ec.generate_private_key(_CURVES[request.param][0])


def public_key_from_jwk(jwk: dict[str, str]):
    """The public key a JWK describes, rebuilt without acme_conf."""
    if jwk["kty"] == "RSA":
        assert set(jwk) == {"kty", "n", "e"}
        return rsa.RSAPublicNumbers(b64int(jwk["e"]), b64int(jwk["n"])).public_key()
    assert jwk["kty"] == "EC"
    assert set(jwk) == {"kty", "crv", "x", "y"}
    curve, _, size = _CURVES[jwk["crv"]]
    assert len(b64decode(jwk["x"])) == size and len(b64decode(jwk["y"])) == size
    return ec.EllipticCurvePublicNumbers(b64int(jwk["x"]), b64int(jwk["y"]), curve).public_key()


def verify(flattened: bytes, public_key) -> tuple[dict, bytes]:
    """Check a flattened JWS as a CA would; return its protected header and payload."""
    body = json.loads(flattened)
    assert set(body) == {"protected", "payload", "signature"}
    protected = json.loads(b64decode(body["protected"]))
    signing_input = f"{body['protected']}.{body['payload']}".encode("ascii")
    signature = b64decode(body["signature"])
    if protected["alg"] == "RS256":
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        crv = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[protected["alg"]]
        _, digest, size = _CURVES[crv]
        assert len(signature) == 2 * size
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
    return protected, b64decode(body["payload"])


# signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "alg"), [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384"), (ec.SECP521R1(), "ES512")]
)
def test_ecdsa_algorithm_matches_the_curve(curve, alg: str) -> None:
    assert jws.algorithm(ec.generate_private_key(curve)) == alg


def test_rsa_algorithm(rsa_key) -> None:
    assert jws.algorithm(rsa_key) == "RS256"


def test_signature_verifies_with_the_embedded_jwk(any_key) -> None:
    payload = json.dumps({"termsOfServiceAgreed": True}).encode()
    flattened = jws.sign(any_key, URL, NONCE, "", payload)
    header = json.loads(b64decode(json.loads(flattened)["protected"]))
    public_key = public_key_from_jwk(header["jwk"])
    assert public_key.public_numbers() == any_key.public_key().public_numbers()
    protected, signed_payload = verify(flattened, public_key)
    assert protected == {"alg": jws.algorithm(any_key), "nonce": NONCE, "url": URL, "jwk": jws.public_jwk(any_key)}
    assert signed_payload == payload


def test_kid_replaces_the_jwk(any_key) -> None:
    protected, payload = verify(jws.sign(any_key, URL, NONCE, KID, b"{}"), any_key.public_key())
    assert protected["kid"] == KID
    assert "jwk" not in protected
    assert (protected["nonce"], protected["url"]) == (NONCE, URL)
    assert payload == b"{}"


def test_post_as_get_has_an_empty_payload(any_key) -> None:
    flattened = jws.sign(any_key, URL, NONCE, KID, b"")
    assert json.loads(flattened)["payload"] == ""
    _, payload = verify(flattened, any_key.public_key())
    assert payload == b""


def test_empty_object_payload_is_not_post_as_get(any_key) -> None:
    assert json.loads(jws.sign(any_key, URL, NONCE, KID, b"{}"))["payload"] == "e30"


def test_signature_does_not_verify_for_another_key(rsa_key) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        verify(jws.sign(rsa_key, URL, NONCE, KID, b"{}"), other.public_key())


def test_tampered_payload_fails_verification() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    body = json.loads(jws.sign(key, URL, NONCE, KID, b'{"a":1}'))
    body["payload"] = jws.b64url(b'{"a":2}')
    with pytest.raises(InvalidSignature):
        verify(json.dumps(body).encode(), key.public_key())


def test_header_values_are_json_encoded_not_templated() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    url = 'https://ca.example/"},"alg":"none'
    nonce = 'n\\"ce\u2028'
    protected, _ = verify(jws.sign(key, url, nonce, KID, b""), key.public_key())
    assert protected["url"] == url
    assert protected["nonce"] == nonce
    assert protected["alg"] == "ES256"


def test_output_is_compact_ascii_json(any_key) -> None:
    flattened = jws.sign(any_key, URL, NONCE, KID, "é".encode())
    flattened.decode("ascii")
    assert b" " not in flattened and b"\n" not in flattened
    assert all(c not in json.loads(flattened)["signature"] for c in "+/=")


def test_unsupported_curve_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(jws.UnsupportedKeyError, match="secp256k1"):
        jws.sign(key, URL, NONCE, "", b"")


def test_non_rsa_non_ec_key_is_refused_for_the_jwk() -> None:
    with pytest.raises(jws.UnsupportedKeyError):
        jws.public_jwk(ed25519.Ed25519PrivateKey.generate())


# JWK and thumbprint ----------------------------------------------------------------------------


def test_ec_coordinates_keep_leading_zero_bytes() -> None:
    # About one P-256 key in 128 has a coordinate below 2**248; find one.
    for _ in range(5000):
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        if numbers.x < 2**248 or numbers.y < 2**248:
            break
    else:
        pytest.fail("no key with a short coordinate found")
    jwk = jws.public_jwk(key)
    assert len(b64decode(jwk["x"])) == 32 and len(b64decode(jwk["y"])) == 32
    assert public_key_from_jwk(jwk).public_numbers() == numbers


def test_rsa_jwk_has_minimal_big_endian_integers(rsa_key) -> None:
    jwk = jws.public_jwk(rsa_key)
    assert jwk["e"] == "AQAB"
    n = b64decode(jwk["n"])
    assert n[0] != 0 and len(n) == 256


class _PublicOnlyRsaKey:
    """The RFC 7638 example gives only a public key: a private-key stand-in that knows its public half."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self._public_key = public_key

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key


rsa.RSAPrivateKey.register(_PublicOnlyRsaKey)

RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn"
    "64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
    "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_of_the_rfc7638_example() -> None:
    public_key = rsa.RSAPublicNumbers(65537, b64int(RFC7638_N)).public_key()
    key = _PublicOnlyRsaKey(public_key)
    assert jws.public_jwk(key) == {"e": "AQAB", "kty": "RSA", "n": RFC7638_N}  # type: ignore[arg-type]
    assert jws.thumbprint(key) == RFC7638_THUMBPRINT  # type: ignore[arg-type]


@pytest.mark.parametrize(("curve", "crv", "size"), [(ec.SECP256R1(), "P-256", 32), (ec.SECP384R1(), "P-384", 48)])
def test_ec_thumbprint_computed_independently(curve, crv: str, size: int) -> None:
    key = ec.generate_private_key(curve)
    numbers = key.public_key().public_numbers()

    def coordinate(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes(size, "big")).decode().rstrip("=")

    canonical = '{"crv":"%s","kty":"EC","x":"%s","y":"%s"}' % (crv, coordinate(numbers.x), coordinate(numbers.y))
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")
    assert jws.thumbprint(key) == expected
    assert len(expected) == 43


def test_thumbprint_differs_between_keys() -> None:
    first, second = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    assert jws.thumbprint(first) != jws.thumbprint(second)


# key change (RFC 8555 section 7.3.5) ------------------------------------------------------


def test_a_key_change_is_the_new_keys_jws_inside_the_old_keys(rsa_key) -> None:
    old, new = rsa_key, ec.generate_private_key(ec.SECP256R1())
    url, account = "https://ca.example/key-change", "https://ca.example/acct/7"
    outer_protected, outer_payload = verify(jws.key_change(new, old, url, "nonce-1", account), old.public_key())
    assert outer_protected == {"alg": "RS256", "nonce": "nonce-1", "url": url, "kid": account}
    inner_protected, inner_payload = verify(outer_payload, new.public_key())
    assert inner_protected == {"alg": "ES256", "jwk": jws.public_jwk(new), "url": url}  # no nonce, no kid
    assert json.loads(inner_payload) == {"account": account, "oldKey": jws.public_jwk(old)}
    with pytest.raises(InvalidSignature):
        verify(outer_payload, ec.generate_private_key(ec.SECP256R1()).public_key())  # the new key's, no other
