"""A scriptable ACME CA over real HTTPS on loopback, which can misbehave on demand.

Pebble cannot be told to send a poisoned token or an endless badNonce stream,
so the adversarial tests use this instead (and only they do).  It is a
small but honest RFC 8555 server: it checks every JWS signature, URL and
nonce, validates http-01 by reading the key authorization from the
challenge directory the client published to, and issues real certificates
from the CSR with a throw-away CA.  Tests replace any route to misbehave.
"""

from __future__ import annotations

import base64
import http.server
import json
import secrets
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import pki

JSON = "application/json"
PROBLEM = "application/problem+json"
PEM_CHAIN = "application/pem-certificate-chain"
ERROR = "urn:ietf:params:acme:error:"


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, str]) -> str:
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, sort_keys=True, separators=(",", ":"))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return b64encode(digest.finalize())


def public_key_of(jwk: dict[str, str]):
    def number(name: str) -> int:
        return int.from_bytes(b64decode(jwk[name]), "big")

    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[jwk["crv"]]
    return ec.EllipticCurvePublicNumbers(number("x"), number("y"), curve).public_key()


@dataclass
class Seen:
    """One request the CA received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    protected: dict | None = None
    payload: object = None  # decoded JSON, "" for POST-as-GET


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON
    headers: tuple[tuple[str, str], ...] = ()
    nonce: bool = True
    raw: bytes | None = None  # written to the socket as is (status line and all), then the connection closes


def json_reply(value: object, status: int = 200, location: str | None = None, **extra: str) -> Reply:
    headers = tuple(extra.items()) + ((("Location", location),) if location else ())
    return Reply(status, json.dumps(value).encode(), JSON, headers)


def problem(kind: str, detail: str, status: int = 400) -> Reply:
    return Reply(status, json.dumps({"type": ERROR + kind, "detail": detail}).encode(), PROBLEM)


Route = Callable[["HostileCA", Seen], Reply]


@dataclass
class _Authz:
    name: str
    token: str
    status: str = "pending"
    error: dict | None = None


@dataclass
class _Order:
    names: list[str]
    authzs: list[_Authz]
    finalized: bool = False
    certificate: bytes = b""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        reply = self.server.ca.handle(seen)
        if reply.raw is not None:
            self.wfile.write(reply.raw)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        if reply.nonce:
            self.send_header("Replay-Nonce", self.server.ca.new_nonce())
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        if self.server.ca.drop_idle_connections:
            self.close_connection = True  # without saying so: the client finds out on its next request


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    ca: HostileCA

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        if self.ca.drop_idle_connections == "close_notify":
            # Say goodbye at the TLS layer first, as Go servers (pebble) and nginx do.
            request.setblocking(False)
            try:
                request.unwrap()
            except (OSError, ValueError):
                pass  # the client has not answered with its own close_notify yet
        super().shutdown_request(request)


class HostileCA:
    """An ACME CA on https://localhost:PORT; tests change `routes` to make it misbehave."""

    def __init__(self, workdir: Path, challenge_dir: Path, host: str = "localhost") -> None:
        self.host = host
        self.challenge_dir = challenge_dir
        self.tls_root = pki.root_authority("Hostile TLS Root")
        self.issuer = pki.root_authority("Hostile ACME Root").issue_ca("Hostile ACME Issuer")
        self.ca_file = workdir / "hostile-tls-root.pem"
        self.ca_file.write_bytes(self.tls_root.pem)
        self.seen: list[Seen] = []
        self.errors: list[str] = []  # protocol violations by the client
        self.issued_nonces: list[str] = []
        self._unused_nonces: set[str] = set()
        self.account_jwk: dict | None = None
        self.orders: list[_Order] = []
        self.finalize_status = "valid"  # what finalize answers; "processing" makes the client poll
        self.issue_key_override = None  # a public key to certify instead of the CSR's
        self.drop_idle_connections: str | None = None  # "close_notify" or "tcp_fin": close after each response
        self._lock = threading.Lock()
        self.routes: dict[str, Route] = {
            "/dir": HostileCA.directory,
            "/nonce": HostileCA.nonce,
            "/acct/new": HostileCA.new_account,
            "/order/new": HostileCA.new_order,
            "/revoke": HostileCA.revoke,
        }
        self.revoked: list[bytes] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.ca = self
        self.port = self._server.server_address[1]
        self._server.socket = self._tls_context(workdir).wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # life ----------------------------------------------------------------------------------------

    def _tls_context(self, workdir: Path) -> ssl.SSLContext:
        key = pki.new_key()
        leaf = self.tls_root.issue_leaf(key.public_key(), ("localhost", "127.0.0.1"))
        chain = workdir / "hostile-tls-chain.pem"
        chain.write_bytes(pki.pem(leaf))
        key_file = workdir / "hostile-tls.key"
        key_file.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        return context

    def start(self) -> HostileCA:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base}/dir"

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    # dispatch --------------------------------------------------------------------------------------

    def new_nonce(self) -> str:
        nonce = secrets.token_urlsafe(16)
        with self._lock:
            self.issued_nonces.append(nonce)
            self._unused_nonces.add(nonce)
        return nonce

    def handle(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
        route = self.routes.get(seen.path)
        if route is None:
            route = self._dynamic_route(seen.path)
        if route is None:
            return problem("malformed", f"no such resource {seen.path}", 404)
        if seen.method == "POST" and route is not HostileCA.nonce:
            rejection = self.check_jws(seen)
            if rejection is not None:
                return rejection
        return route(self, seen)

    def _dynamic_route(self, path: str) -> Route | None:
        for prefix, route in (
            ("/authz/", HostileCA.authorization),
            ("/chall/", HostileCA.challenge),
            ("/finalize/", HostileCA.finalize),
            ("/order/", HostileCA.order),
            ("/cert/", HostileCA.certificate),
        ):
            if path.startswith(prefix):
                return route
        return None

    def check_jws(self, seen: Seen) -> Reply | None:
        """Verify a POST as a strict CA would; record what it carried."""
        try:
            body = json.loads(seen.body)
            protected = json.loads(b64decode(body["protected"]))
            payload_text = body["payload"]
            seen.protected = protected
            seen.payload = json.loads(b64decode(payload_text)) if payload_text else ""
            signing_input = f"{body['protected']}.{payload_text}".encode()
            signature = b64decode(body["signature"])
        except (ValueError, KeyError, TypeError) as error:
            self.errors.append(f"malformed JWS: {error}")
            return problem("malformed", "malformed JWS")
        if seen.headers.get("content-type") != "application/jose+json":
            self.errors.append("wrong content type")
        if protected.get("url") != f"{self.base}{seen.path}":
            self.errors.append(f"url {protected.get('url')} for {seen.path}")
            return problem("unauthorized", "url mismatch", 401)
        if "jwk" in protected:
            jwk = protected["jwk"]
        elif protected.get("kid") == f"{self.base}/acct/1" and self.account_jwk is not None:
            jwk = self.account_jwk
        else:
            self.errors.append(f"unknown kid {protected.get('kid')}")
            return problem("accountDoesNotExist", "no such account")
        try:
            self._verify(jwk, protected["alg"], signing_input, signature)
        except (InvalidSignature, ValueError, KeyError) as error:
            self.errors.append(f"bad signature: {error!r}")
            return problem("malformed", "signature does not verify")
        with self._lock:
            fresh = protected.get("nonce") in self._unused_nonces
            self._unused_nonces.discard(protected.get("nonce"))
        if not fresh:
            return problem("badNonce", "JWS has an invalid anti-replay nonce")
        return None

    @staticmethod
    def _verify(jwk: dict, alg: str, signing_input: bytes, signature: bytes) -> None:
        key = public_key_of(jwk)
        if alg == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return
        digest, size = {"ES256": (hashes.SHA256(), 32), "ES384": (hashes.SHA384(), 48)}[alg]
        if len(signature) != 2 * size:
            raise ValueError("signature length")
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))

    # the well-behaved routes -------------------------------------------------------------------------

    def directory(self, seen: Seen) -> Reply:
        return json_reply(
            {
                "newNonce": f"{self.base}/nonce",
                "newAccount": f"{self.base}/acct/new",
                "newOrder": f"{self.base}/order/new",
                "revokeCert": f"{self.base}/revoke",
                "keyChange": f"{self.base}/key-change",
                "meta": {"termsOfService": "data:text/plain,be%20nice", "profiles": {"default": "d"}},
            }
        )

    def nonce(self, seen: Seen) -> Reply:
        return Reply(200 if seen.method == "HEAD" else 204, b"", None, (("Cache-Control", "no-store"),))

    def new_account(self, seen: Seen) -> Reply:
        assert isinstance(seen.payload, dict) and seen.protected is not None
        if seen.payload.get("onlyReturnExisting") and self.account_jwk is None:
            return problem("accountDoesNotExist", "no account for this key")
        self.account_jwk = seen.protected["jwk"]
        return json_reply({"status": "valid"}, 201, location=f"{self.base}/acct/1")

    def new_order(self, seen: Seen) -> Reply:
        assert isinstance(seen.payload, dict)
        names = [identifier["value"] for identifier in seen.payload["identifiers"]]
        index = len(self.orders)
        authzs = [_Authz(name, secrets.token_urlsafe(32)) for name in names]
        self.orders.append(_Order(names, authzs))
        return json_reply(self.order_json(index), 201, location=f"{self.base}/order/{index}")

    def order_json(self, index: int) -> dict:
        order = self.orders[index]
        if order.finalized:
            status = self.finalize_status
        elif all(authz.status == "valid" for authz in order.authzs):
            status = "ready"
        elif any(authz.status == "invalid" for authz in order.authzs):
            status = "invalid"
        else:
            status = "pending"
        value = {
            "status": status,
            "identifiers": [{"type": "dns", "value": name} for name in order.names],
            "authorizations": [f"{self.base}/authz/{index}/{n}" for n in range(len(order.authzs))],
            "finalize": f"{self.base}/finalize/{index}",
        }
        if status == "valid":
            value["certificate"] = f"{self.base}/cert/{index}"
        return value

    def _authz_of(self, path: str) -> tuple[_Authz, int, int]:
        _, _, order_index, authz_index = path.split("/")
        return self.orders[int(order_index)].authzs[int(authz_index)], int(order_index), int(authz_index)

    def authorization_json(self, path: str) -> dict:
        authz, order_index, authz_index = self._authz_of(path)
        http01 = {
            "type": "http-01",
            "url": f"{self.base}/chall/{order_index}/{authz_index}",
            "status": {"pending": "pending", "valid": "valid"}.get(authz.status, "invalid"),
            "token": authz.token,
        }
        if authz.error:
            http01["error"] = authz.error
        return {
            "status": authz.status,
            "identifier": {"type": "dns", "value": authz.name},
            "challenges": [
                {"type": "dns-account-01", "url": f"{self.base}/chall/x", "status": "pending"},  # pebble's draft: no token
                http01,
                {"type": "dns-01", "url": f"{self.base}/chall/y", "status": "pending", "token": authz.token},
            ],
        }

    def authorization(self, seen: Seen) -> Reply:
        return json_reply(self.authorization_json(seen.path))

    def challenge(self, seen: Seen) -> Reply:
        authz, _, _ = self._authz_of(seen.path)
        expected = f"{authz.token}.{thumbprint(self.account_jwk or {})}"
        published = self.challenge_dir / authz.token
        if published.is_file() and published.read_text() == expected:
            authz.status = "valid"
        else:
            authz.status = "invalid"
            authz.error = {"type": ERROR + "unauthorized", "detail": "key authorization not found"}
        return json_reply({"type": "http-01", "url": f"{self.base}{seen.path}", "status": "processing", "token": authz.token})

    def order(self, seen: Seen) -> Reply:
        return json_reply(self.order_json(int(seen.path.split("/")[2])))

    def finalize(self, seen: Seen) -> Reply:
        assert isinstance(seen.payload, dict)
        index = int(seen.path.split("/")[2])
        order = self.orders[index]
        if not all(authz.status == "valid" for authz in order.authzs):
            return problem("orderNotReady", "order is not ready", 403)
        csr = x509.load_der_x509_csr(b64decode(seen.payload["csr"]))
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(sans.get_values_for_type(x509.DNSName)) + tuple(
            str(address) for address in sans.get_values_for_type(x509.IPAddress)
        )
        public_key = self.issue_key_override or csr.public_key()
        leaf = self.issuer.issue_leaf(public_key, names)
        order.certificate = pki.pem(leaf, self.issuer.certificate)
        order.finalized = True
        return json_reply(self.order_json(index), location=f"{self.base}/order/{index}")

    def revoke(self, seen: Seen) -> Reply:
        assert isinstance(seen.payload, dict)
        self.revoked.append(b64decode(seen.payload["certificate"]))
        return Reply(200, b"", None)

    def certificate(self, seen: Seen) -> Reply:
        order = self.orders[int(seen.path.split("/")[2])]
        return Reply(200, order.certificate, PEM_CHAIN)
