"""netproc's warm-up: what a CA's answers go through, run once on samples before the jail.

A library may load a module the first time it takes a path (urllib.parse
loads unicodedata for a host name outside ASCII; each codec is a module of
its own), and after the jail nothing more can be loaded
(acme_conf/sandbox/imports.py).  So every parser netproc runs on what a CA
sends runs here first, on answers it accepts and on answers it refuses: the
HTTP reader (status line, headers, counted, chunked and unbounded bodies),
URLs, every resource and problem document, and Retry-After in both forms.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable
from datetime import datetime, timezone

from acme_conf.acme.polling import retry_after_seconds
from acme_conf.acme.resources import (
    ProtocolError,
    checked_url,
    parse_authorization,
    parse_challenge,
    parse_directory,
    parse_order,
    parse_problem,
)
from acme_conf.acme.text import printable
from acme_conf.errors import ProcessFailure
from acme_conf.net.transport import TransportError, read_response, split_url

CA = "https://ca.invalid"
DIRECTORY = (
    b'{"newNonce": "https://ca.invalid/nonce", "newAccount": "https://ca.invalid/account",'
    b' "newOrder": "https://ca.invalid/order", "revokeCert": "https://ca.invalid/revoke",'
    b' "renewalInfo": "https://ca.invalid/ari",'
    b' "meta": {"termsOfService": "https://ca.invalid/tos", "profiles": {"classic": "90 days"}}}'
)
PROBLEM = (
    '{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "Refus\u00e9 \u2028",'
    ' "subproblems": [{"identifier": {"type": "dns", "value": "b\u00fccher.invalid"}, "detail": "no"}]}'
).encode("utf-8")
ORDER = (
    b'{"status": "valid", "identifiers": [{"type": "dns", "value": "sample.invalid"}, {"type": "ip", "value": "::1"}],'
    b' "authorizations": ["https://ca.invalid/authz/1"],'
    b' "finalize": "https://ca.invalid/finalize/1", "certificate": "https://ca.invalid/cert/1",'
    b' "error": ' + PROBLEM + b"}"
)
CHALLENGE = b'{"type": "http-01", "url": "https://ca.invalid/chall/1", "status": "pending", "token": "tok"}'
AUTHORIZATION = (
    b'{"status": "pending", "identifier": {"type": "dns", "value": "sample.invalid"},'
    b' "challenges": [' + CHALLENGE + b', {"type": "dns-01"}, 7]}'
)
# Whole responses as they come off the wire: every header form, every way of ending a body.
RESPONSES = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"Replay-Nonce: nonce_-1\r\nLocation: https://ca.invalid/order/1\r\n"
    b'Link: <https://ca.invalid/dir>;rel="index"\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n'
    b"X-Note: caf\xe9 =?utf-8?q?caf=C3=A9?=\r\n\r\n%s" % (len(ORDER), ORDER),
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"%x\r\n%s\r\n0\r\n\r\n" % (len(PROBLEM), PROBLEM),
    b"HTTP/1.0 200 OK\r\nContent-Type: application/pem-certificate-chain\r\n\r\n-----BEGIN CERTIFICATE-----\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\ncut short",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
    b"HTTP/1.1 OK\r\n\r\n",
    b"garbage\r\n\r\n",
)
URLS = (
    "https://ca.invalid:443/order/1?x=1",
    "https://b\u00fccher.invalid/order",
    "https://ca.invalid:99999/",
    "https://[::1/",
    "http://ca.invalid/",
)


class _Replay:
    """The one thing http.client.HTTPResponse asks of a socket: a file to read the response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        del mode
        return io.BytesIO(self._data)


def warm_up() -> None:
    """Read every sample response and parse every sample document, as netproc does after its jail."""
    for raw in RESPONSES:
        _read(raw)
    for url in URLS:
        _refused_or_parsed(lambda: split_url(url, (443,)))
        _refused_or_parsed(lambda: checked_url(url, "sample"))
    parse_directory(DIRECTORY)
    parse_order(f"{CA}/order/1", ORDER)
    parse_authorization(f"{CA}/authz/1", AUTHORIZATION)
    parse_challenge(CHALLENGE)
    str(parse_problem(PROBLEM))
    for body in (PROBLEM.decode("utf-8").encode("utf-16"), b"\xff\xfe{", b"[" * 10_000, b"[]"):
        _refused_or_parsed(lambda: parse_order(f"{CA}/order/1", body))
        parse_problem(body)
    now = datetime.now(timezone.utc)
    for header in ("120", "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 +0200", "soon", None):
        retry_after_seconds(header, now)
    printable("caf\u00e9 \x1b[1m \u2028 \udcff")
    "ca.invalid".encode("idna")  # ssl encodes the server name for TLS with this codec


def _read(raw: bytes) -> None:
    response = http.client.HTTPResponse(_Replay(raw), method="POST")  # type: ignore[arg-type]
    try:
        response.begin()
        read_response(f"{CA}/", response).header("location")
    except (http.client.HTTPException, TransportError):
        pass
    finally:
        response.close()


def _refused_or_parsed(parse: Callable[[], object]) -> None:
    try:
        parse()
    except (ProtocolError, ProcessFailure):
        pass
