#!/usr/bin/env python3
"""The floor: a bare one-process ACME client (RFC 8555), the least work issuing can take.

bench/peers.py measures acme-client against it. It does what acme-client does
for a run, and nothing more: a new account (a fresh ECDSA P-256 key), then for
each certificate in turn a new order, http-01 for each authorization (the key
authorization written into a challenge directory that an HTTP server on
loopback serves), polling, finalization with a CSR for a fresh ECDSA P-384 key,
the certificate's download, and key, certificate and full chain written out.
One process, one TLS connection kept open, no privilege separation, no
sandbox, no checks beyond what the protocol needs; the standard library and
cryptography only.

    floor.py --directory URL --ca-file PEM --challenge-dir DIR --out DIR \\
        a.example.test b.example.test,www.b.example.test ...

Each argument is one certificate: its names, comma-separated, the first one
naming the files (OUT/NAME.key, NAME.crt, NAME.fullchain.pem).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

USER_AGENT = "acme-floor/1 (bench/floor.py)"
BAD_NONCE = "urn:ietf:params:acme:error:badNonce"
NONCE_RETRIES = 10  # pebble rejects 5 % of good nonces on purpose
MAX_RETRY_AFTER = 1.0  # a longer Retry-After would measure the CA's advice, not the client
POLL_PAUSE = 0.005  # between polls: a busy loop would take the CPU pebble's validator needs
POLL_DEADLINE = 60.0


class AcmeFailure(Exception):
    """The CA refused something or a resource ended invalid."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Order:
    url: str
    authorizations: tuple[str, ...]
    finalize: str


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}


def thumbprint(jwk: dict[str, str]) -> str:
    # RFC 7638: the required members, sorted, no white space
    return b64(hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest())


def es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    # JWS wants r || s, each 32 bytes; cryptography signs in DER
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Client:
    """One account on one CA, over one kept-alive HTTPS connection."""

    def __init__(self, directory_url: str, ca_file: Path) -> None:
        url = urlsplit(directory_url)
        self.connection = http.client.HTTPSConnection(
            url.hostname or "", url.port or 443, context=ssl.create_default_context(cafile=str(ca_file)), timeout=30
        )
        self.directory: dict[str, Any] = self.request("GET", directory_url).json()
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = public_jwk(self.key)
        self.nonce: str | None = None
        self.kid: str | None = None

    def request(self, method: str, url: str, body: bytes | None = None, content_type: str = "") -> Response:
        headers = {"User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self._exchange(method, url, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the CA closed the kept-alive connection between two requests: open another once
            self.connection.close()
            response = self._exchange(method, url, body, headers)
        if "replay-nonce" in response.headers:
            self.nonce = response.headers["replay-nonce"]
        return response

    def _exchange(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Response:
        # every URL of pebble's is on the one host: the request names only the path
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.connection.request(method, target, body=body, headers=headers)
        raw = self.connection.getresponse()
        return Response(raw.status, {name.lower(): value for name, value in raw.getheaders()}, raw.read())

    def post(self, url: str, payload: Any | None) -> Response:
        """A signed POST; payload None is a POST-as-GET. Retries a rejected nonce."""
        for _ in range(NONCE_RETRIES):
            response = self.request("POST", url, self.sign(url, payload), "application/jose+json")
            if response.status < 400:
                return response
            problem = response.json()
            if problem.get("type") != BAD_NONCE:
                raise AcmeFailure(f"{url}: HTTP {response.status}: {problem.get('type')}: {problem.get('detail')}")
        raise AcmeFailure(f"{url}: {NONCE_RETRIES} nonces rejected in a row")

    def sign(self, url: str, payload: Any | None) -> bytes:
        if self.nonce is None:
            self.request("HEAD", self.directory["newNonce"])
        protected: dict[str, Any] = {"alg": "ES256", "nonce": self.nonce, "url": url}
        if self.kid is None:
            protected["jwk"] = self.jwk
        else:
            protected["kid"] = self.kid
        self.nonce = None  # each nonce serves once
        header = b64(json.dumps(protected).encode())
        body = "" if payload is None else b64(json.dumps(payload).encode())
        signature = es256(self.key, f"{header}.{body}".encode("ascii"))
        return json.dumps({"protected": header, "payload": body, "signature": b64(signature)}).encode()

    def new_account(self) -> None:
        response = self.post(self.directory["newAccount"], {"termsOfServiceAgreed": True})
        self.kid = response.headers["location"]

    def new_order(self, names: list[str]) -> Order:
        response = self.post(self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": n} for n in names]})
        order = response.json()
        return Order(response.headers["location"], tuple(order["authorizations"]), order["finalize"])

    def poll(self, url: str, pending: tuple[str, ...]) -> dict[str, Any]:
        """POST-as-GET a resource until its status leaves `pending`."""
        deadline = time.monotonic() + POLL_DEADLINE
        while True:
            response = self.post(url, None)
            resource: dict[str, Any] = response.json()
            if resource["status"] not in pending:
                return resource
            if time.monotonic() > deadline:
                raise AcmeFailure(f"{url} still {resource['status']} after {POLL_DEADLINE:.0f} s")
            time.sleep(pause(response.headers.get("retry-after")))


def pause(retry_after: str | None) -> float:
    """Retry-After when the CA sends a short one (in seconds), else POLL_PAUSE."""
    if retry_after is not None and retry_after.isdigit():
        return min(float(retry_after), MAX_RETRY_AFTER)
    return POLL_PAUSE


def start_http_01(client: Client, authorization_url: str, challenge_dir: Path) -> tuple[str, Path | None]:
    """Publish the key authorization of an authorization's http-01 and tell the CA;
    returns the authorization's URL and the token file to remove afterwards."""
    authorization = client.post(authorization_url, None).json()
    if authorization["status"] == "valid":  # the CA may reuse an earlier one
        return authorization_url, None
    challenge = next(c for c in authorization["challenges"] if c["type"] == "http-01")
    token_file = challenge_dir / challenge["token"]
    token_file.write_text(f"{challenge['token']}.{thumbprint(client.jwk)}")
    client.post(challenge["url"], {})
    return authorization_url, token_file


def validate(client: Client, order: Order, challenge_dir: Path) -> None:
    """Answer every authorization first, then wait for each: the CA validates them together."""
    started = [start_http_01(client, url, challenge_dir) for url in order.authorizations]
    try:
        for url, _ in started:
            authorization = client.poll(url, ("pending",))
            if authorization["status"] != "valid":
                raise AcmeFailure(f"{url}: {authorization['status']}: {authorization.get('challenges')}")
    finally:
        for _, token_file in started:
            if token_file is not None:
                token_file.unlink(missing_ok=True)


def make_csr(key: ec.EllipticCurvePrivateKey, names: list[str]) -> bytes:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    )
    return builder.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)


def finalize(client: Client, order: Order, key: ec.EllipticCurvePrivateKey, names: list[str]) -> str:
    """Send the CSR, wait for the order, return the certificate chain (PEM)."""
    client.post(order.finalize, {"csr": b64(make_csr(key, names))})
    done = client.poll(order.url, ("pending", "ready", "processing"))
    if done["status"] != "valid":
        raise AcmeFailure(f"{order.url}: {done['status']}: {done.get('error')}")
    return client.post(done["certificate"], None).body.decode("ascii")


def write_files(out: Path, name: str, key: ec.EllipticCurvePrivateKey, chain: str) -> None:
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(out / f"{name}.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    end = "-----END CERTIFICATE-----\n"
    (out / f"{name}.crt").write_text(chain.split(end, 1)[0] + end)
    (out / f"{name}.fullchain.pem").write_text(chain)


def issue(client: Client, names: list[str], challenge_dir: Path, out: Path) -> None:
    order = client.new_order(names)
    validate(client, order, challenge_dir)
    key = ec.generate_private_key(ec.SECP384R1())
    write_files(out, names[0], key, finalize(client, order, key, names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, help="the CA's directory URL")
    parser.add_argument("--ca-file", required=True, type=Path, help="PEM the CA's TLS certificate chains to")
    parser.add_argument("--challenge-dir", required=True, type=Path, help="served at /.well-known/acme-challenge/")
    parser.add_argument("--out", required=True, type=Path, help="where keys and certificates go")
    parser.add_argument("certificates", nargs="+", metavar="NAME[,NAME...]")
    options = parser.parse_args()
    client = Client(options.directory, options.ca_file)
    client.new_account()
    for certificate in options.certificates:
        issue(client, certificate.split(","), options.challenge_dir, options.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
