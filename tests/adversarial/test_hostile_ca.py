"""The real netproc against a CA that misbehaves: every case ends in a clear error and nothing unsafe.

The first test shows the hostile CA issuing normally, so that every failure
below is the misbehaviour under test and not a broken harness.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from acme_conf.acme.polling import MAX_RETRY_AFTER
from acme_conf.ipc import MAX_FRAME
from acme_conf.messages.certificate import CertBundle, RemoveCertificate
from acme_conf.messages.revoke import VERDICT_CURRENT, VERDICT_REVOKE, CertStatus
from acme_conf.net.session import MAX_BAD_NONCE_RETRIES
from acme_conf.net.transport import MAX_BODY
from acme_conf.proc import netproc
from acme_conf.keys import public_key_der
from acme_conf.proc.certproc import CertificateCheckError, check_bundle
from acme_conf.errors import ProcessFailure

import pki
from hostile_ca import ERROR, PEM_CHAIN, HostileCA, Reply, Seen, json_reply, problem

NAMES = ("example.com",)


def assert_clean(message: str) -> None:
    """An error message fit for a terminal: printable ASCII, one line."""
    assert message.isascii() and message.isprintable(), repr(message)


def posts_to(ca: HostileCA, prefix: str) -> list[Seen]:
    return [seen for seen in ca.seen if seen.method == "POST" and seen.path.startswith(prefix)]


# the baseline: a well-behaved run -----------------------------------------------------------------


def test_baseline_issuance_passes_every_check(drive, hostile_ca: HostileCA, domain_key, challenge_dir: Path) -> None:
    outcome = drive(names=("example.com", "www.example.com"))
    assert outcome.error is None, outcome.error
    assert outcome.peer_errors == []
    assert hostile_ca.errors == []  # every JWS verified, every nonce fresh, every URL right
    assert len(outcome.challenge_writes) == 2
    assert [type(m) for m in outcome.to_certproc] == [CertBundle]
    bundle = outcome.to_certproc[0]
    assert isinstance(bundle, CertBundle)
    files = check_bundle(bundle.pem, public_key_der(domain_key), ("example.com", "www.example.com"), datetime.now(timezone.utc))
    assert files.chain == hostile_ca.issuer.pem
    assert list(challenge_dir.iterdir()) == []  # the recorder's chngproc.remove_all ran
    assert all(seen.headers.get("user-agent", "").startswith("acme-client-python/") for seen in hostile_ca.seen)
    assert outcome.resolved == ["localhost"]  # resolved once, then the connection was kept alive


def test_certificate_for_another_key_is_refused_by_certproc(drive, hostile_ca: HostileCA, domain_key) -> None:
    hostile_ca.issue_key_override = pki.new_key().public_key()
    outcome = drive()
    assert outcome.error is None  # netproc does not judge certificates; certproc does, with keyproc's key
    bundle = outcome.to_certproc[0]
    assert isinstance(bundle, CertBundle)
    with pytest.raises(CertificateCheckError, match="public key is not the domain key's"):
        check_bundle(bundle.pem, public_key_der(domain_key), NAMES, datetime.now(timezone.utc))


# oversized bodies ---------------------------------------------------------------------------------------


def test_declared_body_over_the_limit_is_refused_before_reading_it(drive, hostile_ca: HostileCA) -> None:
    declared = MAX_BODY + 1
    raw = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{".encode()
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=raw)
    message = drive().raised()
    assert f"response of {declared} bytes is over the {MAX_BODY} byte limit" in message


def _chunked(total: int, chunk: int = 65536) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/pem-certificate-chain\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = [head]
    left = total
    while left:
        size = min(chunk, left)
        parts.append(f"{size:x}\r\n".encode() + b"A" * size + b"\r\n")
        left -= size
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def test_chunked_body_over_the_limit_is_refused(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/cert/0"] = lambda ca, seen: Reply(raw=_chunked(MAX_BODY + 1))
    outcome = drive()
    assert f"response is over the {MAX_BODY} byte limit" in outcome.raised()
    assert outcome.to_certproc == []


def test_chunked_body_at_the_limit_is_read(drive, hostile_ca: HostileCA) -> None:
    # The same response one byte shorter gets through the transport (and fails later, as PEM).
    hostile_ca.routes["/cert/0"] = lambda ca, seen: Reply(raw=_chunked(MAX_BODY))
    outcome = drive()
    assert outcome.error is None
    assert len(outcome.to_certproc[0].pem) == MAX_BODY


def test_close_delimited_body_over_the_limit_is_refused(drive, hostile_ca: HostileCA) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + b" " * (2 * MAX_BODY)
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=raw)
    assert "over the" in drive().raised()


# the directory ---------------------------------------------------------------------------------------------


def test_directory_with_http_urls_is_refused(drive, hostile_ca: HostileCA) -> None:
    def insecure_directory(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.directory(ca, seen)
        return Reply(200, reply.body.replace(b"https://", b"http://"))

    hostile_ca.routes["/dir"] = insecure_directory
    message = drive().raised()
    assert "CA protocol error" in message and "is not an https URL" in message
    assert "`newNonce`" in message
    assert [seen.path for seen in hostile_ca.seen] == ["/dir"]  # nothing fetched over http, nothing signed


def test_directory_that_is_not_json(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
    assert "CA protocol error: directory: response is not JSON" in drive().raised()


def test_directory_error_status(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/dir"] = lambda ca, seen: problem("serverInternal", "down", 503)
    assert "answered HTTP 503" in drive().raised()


def test_a_directory_down_for_maintenance_is_a_back_off_kept(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/dir"] = lambda ca, seen: dataclasses.replace(
        problem("serverInternal", "maintenance", 503), headers=(("Retry-After", "1800"),)
    )
    report = os.memfd_create("test-report")
    try:
        assert "answered HTTP 503" in drive(report_fd=report).raised()
        written = os.pread(report, 4096, 0)
    finally:
        os.close(report)
    until = datetime.fromisoformat(json.loads(written)["backoff_until"])
    assert timedelta(minutes=29) < until - datetime.now(timezone.utc) <= timedelta(minutes=30)


def test_directory_url_with_non_ascii_characters(drive, hostile_ca: HostileCA) -> None:
    def odd_directory(ca: HostileCA, seen: Seen) -> Reply:
        value = json.loads(HostileCA.directory(ca, seen).body)
        value["newNonce"] = f"{ca.base}/nonce/\u00e9"
        return json_reply(value)

    hostile_ca.routes["/dir"] = odd_directory
    assert_clean(drive().raised())


# challenges -------------------------------------------------------------------------------------------------


def _with_challenges(replace_challenges) -> callable:
    def authorization(ca: HostileCA, seen: Seen) -> Reply:
        value = ca.authorization_json(seen.path)
        value["challenges"] = replace_challenges(ca, value["challenges"])
        return json_reply(value)

    return authorization


@pytest.mark.parametrize(
    "token", ["../../etc/passwd", "../../../../../../tmp/pwned-by-ca", ".", "..", "", "a/b" * 10, "x" * 1000]
)
def test_hostile_token_never_reaches_chngproc(drive, hostile_ca: HostileCA, token: str) -> None:
    def poison(ca: HostileCA, challenges: list[dict]) -> list[dict]:
        return [dict(c, token=token) if c["type"] == "http-01" else c for c in challenges]

    hostile_ca.routes["/authz/0/0"] = _with_challenges(poison)
    outcome = drive()
    message = outcome.raised()
    assert "example.com: the CA sent a malformed http-01 token" in message
    assert outcome.challenge_writes == []  # chngproc was never asked
    assert posts_to(hostile_ca, "/chall/") == []  # and the challenge was not answered


def test_only_unknown_challenge_types_is_a_clear_error(drive, hostile_ca: HostileCA) -> None:
    def exotic(ca: HostileCA, challenges: list[dict]) -> list[dict]:
        return [
            {"type": "tls-alpn-01", "url": f"{ca.base}/chall/t", "status": "pending", "token": "A" * 43},
            {"type": "dns-account-01", "url": f"{ca.base}/chall/d", "status": "pending"},
        ]

    hostile_ca.routes["/authz/0/0"] = _with_challenges(exotic)
    outcome = drive()
    message = outcome.raised()
    assert "example.com: the CA offers no http-01 challenge (offered: tls-alpn-01, dns-account-01)" in message
    assert outcome.challenge_writes == []


def test_challenge_type_names_are_sanitised_in_the_error(drive, hostile_ca: HostileCA) -> None:
    def escapes(ca: HostileCA, challenges: list[dict]) -> list[dict]:
        return [{"type": "\x1b[2J\nhttp-01 ", "url": f"{ca.base}/chall/t", "status": "pending", "token": "A" * 43}]

    hostile_ca.routes["/authz/0/0"] = _with_challenges(escapes)
    message = drive().raised()
    assert_clean(message)
    assert "\\x1b[2J\\x0ahttp-01 " in message


def test_failed_validation_reports_the_cas_problem(drive, hostile_ca: HostileCA, challenge_dir: Path) -> None:
    def refuse(ca: HostileCA, seen: Seen) -> Reply:
        authz, _, _ = ca._authz_of(seen.path)
        authz.status = "invalid"
        authz.error = {"type": ERROR + "connection", "detail": "Connection refused\r\nX-Injected: 1"}
        return json_reply({"type": "http-01", "url": f"{ca.base}{seen.path}", "status": "invalid"})

    hostile_ca.routes["/chall/0/0"] = refuse
    outcome = drive()
    message = outcome.raised()
    assert "example.com: authorization invalid: Connection refused\\x0d\\x0aX-Injected: 1 (connection)" in message
    assert_clean(message)
    assert list(challenge_dir.iterdir()) == []  # published, then removed at the end


# the certificate download ------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/html", "application/json", "", "application/pem-certificate-chain-x"])
def test_certificate_with_the_wrong_content_type(drive, hostile_ca: HostileCA, content_type: str) -> None:
    def wrong(ca: HostileCA, seen: Seen) -> Reply:
        order = ca.orders[0]
        return Reply(200, order.certificate, content_type or None)

    hostile_ca.routes["/cert/0"] = wrong
    outcome = drive()
    assert f"certificate download: unexpected content type {content_type}" in outcome.raised()
    assert outcome.to_certproc == []


def test_content_type_parameters_are_allowed(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/cert/0"] = lambda ca, seen: Reply(
        200, ca.orders[0].certificate, "application/pem-certificate-chain; charset=utf-8"
    )
    assert drive().error is None


# problem documents -------------------------------------------------------------------------------------------


def test_problem_detail_with_ansi_escapes_and_newlines_is_sanitised(drive, hostile_ca: HostileCA) -> None:
    detail = "\x1b[31mRejected\x1b[0m\nacme-client: example.com: certificate updated\x1b]0;pwned\x07"
    subproblems = [{"type": ERROR + "rejectedIdentifier", "detail": "\x1b[2Kno\nway", "identifier": {"type": "dns", "value": "e\x1bvil"}}]

    def reject(ca: HostileCA, seen: Seen) -> Reply:
        body = {"type": ERROR + "rejectedIdentifier", "detail": detail, "subproblems": subproblems}
        return Reply(403, json.dumps(body).encode(), "application/problem+json")

    hostile_ca.routes["/order/new"] = reject
    message = drive().raised()
    assert_clean(message)
    assert message.startswith("new order: \\x1b[31mRejected\\x1b[0m\\x0aacme-client: example.com: certificate updated")
    assert "(rejectedIdentifier)" in message
    assert "e\\x1bvil: \\x1b[2Kno\\x0away" in message


def test_huge_problem_detail_is_truncated(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/order/new"] = lambda ca, seen: problem("malformed", "A" * 500_000, 400)
    message = drive().raised()
    assert len(message) < 500


def test_deeply_nested_error_body(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/order/new"] = lambda ca, seen: Reply(400, b"[" * 100_000, "application/problem+json")
    drive().raised()


# nonces ------------------------------------------------------------------------------------------------------------


def test_endless_bad_nonce_stream_is_bounded(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/acct/new"] = lambda ca, seen: problem("badNonce", "JWS has an invalid anti-replay nonce")
    outcome = drive()
    message = outcome.raised()
    assert "account lookup: JWS has an invalid anti-replay nonce (badNonce)" in message
    attempts = posts_to(hostile_ca, "/acct/new")
    assert len(attempts) == MAX_BAD_NONCE_RETRIES + 1
    # Each retry carries the nonce of the error before it, not a reused one.
    nonces = [seen.protected["nonce"] for seen in attempts]
    assert len(set(nonces)) == len(nonces)
    assert len(hostile_ca.requests_to("/nonce")) == 1  # only the first nonce was fetched


def test_bad_nonce_without_a_fresh_nonce_fetches_one(drive, hostile_ca: HostileCA) -> None:
    calls = {"n": 0}

    def flaky(ca: HostileCA, seen: Seen) -> Reply:
        calls["n"] += 1
        if calls["n"] <= 3:
            return Reply(400, json.dumps({"type": ERROR + "badNonce", "detail": "stale"}).encode(), nonce=False)
        return HostileCA.new_account(ca, seen)

    hostile_ca.routes["/acct/new"] = flaky
    outcome = drive()
    assert outcome.error is None, outcome.error
    assert len(hostile_ca.requests_to("/nonce")) == 4  # the first, then one after each nonce-less error


@pytest.mark.parametrize("nonce", ["has space", "x" * 513, "ünïcode", "a,b", ""])
def test_malformed_replay_nonce_is_not_used(drive, hostile_ca: HostileCA, nonce: str) -> None:
    def bad_nonce_header(ca: HostileCA, seen: Seen) -> Reply:
        return Reply(200 if seen.method == "HEAD" else 204, b"", None, (("Replay-Nonce", nonce),), nonce=False)

    hostile_ca.routes["/nonce"] = bad_nonce_header
    message = drive().raised()
    assert "newNonce: no usable Replay-Nonce header" in message
    assert posts_to(hostile_ca, "/") == []


# polling -------------------------------------------------------------------------------------------------------------


class FakeClock:
    """Stands in for the time module inside netproc: sleeping advances a virtual clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_order_stuck_in_processing_gives_up(drive, hostile_ca: HostileCA, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(netproc, "time", clock)
    hostile_ca.finalize_status = "processing"
    outcome = drive()
    message = outcome.raised()
    assert "order" in message and f"still processing after {netproc.POLL_DEADLINE:.0f} s" in message
    polls = [seen for seen in posts_to(hostile_ca, "/order/0")]
    assert 10 < len(polls) < 200
    assert sum(clock.sleeps) <= netproc.POLL_DEADLINE + MAX_RETRY_AFTER
    assert max(clock.sleeps) <= 10.0  # the backoff ceiling, no Retry-After given
    assert outcome.to_certproc == []


def test_processing_with_real_sleeps_and_a_short_deadline(
    drive, hostile_ca: HostileCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netproc, "POLL_DEADLINE", 0.3)
    hostile_ca.finalize_status = "processing"
    assert "still processing" in drive().raised()
    assert len(posts_to(hostile_ca, "/order/0")) < 10


def test_retry_after_is_honoured_but_capped(drive, hostile_ca: HostileCA, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(netproc, "time", clock)
    hostile_ca.finalize_status = "processing"
    hostile_ca.routes["/order/0"] = lambda ca, seen: json_reply(ca.order_json(0), **{"Retry-After": "86400"})
    outcome = drive()
    assert "still processing" in outcome.raised()
    # sleeps: the first poll of the authorization and of the processing order (the pending
    # order, ready once authorized, is finalized without a poll); then what Retry-After asks
    assert all(delay < 1 for delay in clock.sleeps[:2])
    assert len(clock.sleeps) > 3
    assert all(delay == MAX_RETRY_AFTER for delay in clock.sleeps[2:])  # a day is asked; two minutes are given
    assert sum(clock.sleeps) <= netproc.POLL_DEADLINE + MAX_RETRY_AFTER


def test_no_revokeproc_where_the_parent_found_no_certificate(drive, hostile_ca: HostileCA) -> None:
    """A first issuance: the parent saw no certificate file and started no revokeproc; netproc orders all the same."""
    outcome = drive(revokeproc=False, no_certificate=True)
    assert outcome.error is None, outcome.error
    assert len(outcome.to_certproc) == 1


def test_a_revokeproc_is_needed_unless_the_parent_says_there_is_no_certificate(drive, hostile_ca: HostileCA) -> None:
    assert "this run has no revokeproc" in drive(revokeproc=False).raised()
    assert hostile_ca.seen == []


def test_no_certificate_and_a_revokeproc_at_once_is_refused(drive, hostile_ca: HostileCA) -> None:
    message = drive(no_certificate=True).raised()
    assert "the parent says there is no certificate, yet started a revokeproc" in message
    assert hostile_ca.seen == []


def test_a_pending_order_is_finalized_at_once(drive, hostile_ca: HostileCA) -> None:
    """Every authorization valid: the order is ready, so it is finalized without a poll first."""
    outcome = drive()
    assert outcome.error is None, outcome.error
    assert posts_to(hostile_ca, "/order/0") == []
    assert len(posts_to(hostile_ca, "/finalize/0")) == 1


def test_an_order_not_ready_yet_is_polled_then_finalized(drive, hostile_ca: HostileCA) -> None:
    """A CA that answers orderNotReady to the first finalize: the order is polled until ready, then finalized."""
    finalize = HostileCA.finalize
    attempts = {"n": 0}

    def not_ready_at_first(ca: HostileCA, seen: Seen) -> Reply:
        attempts["n"] += 1
        return problem("orderNotReady", "order is not ready", 403) if attempts["n"] == 1 else finalize(ca, seen)

    hostile_ca.routes["/finalize/0"] = not_ready_at_first
    outcome = drive()
    assert outcome.error is None, outcome.error
    assert len(posts_to(hostile_ca, "/order/0")) == 1  # polled once: ready
    assert len(posts_to(hostile_ca, "/finalize/0")) == 2
    assert len(outcome.to_certproc) == 1


def test_a_finalize_refused_otherwise_is_not_retried(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/finalize/0"] = lambda ca, seen: problem("badCSR", "no", 400)
    assert "finalize: no (badCSR)" in drive().raised()
    assert len(posts_to(hostile_ca, "/finalize/0")) == 1
    assert posts_to(hostile_ca, "/order/0") == []


def test_processing_then_valid_is_followed_to_the_end(drive, hostile_ca: HostileCA) -> None:
    polls = {"n": 0}
    hostile_ca.finalize_status = "processing"

    def slow(ca: HostileCA, seen: Seen) -> Reply:
        polls["n"] += 1
        if polls["n"] >= 3:
            ca.finalize_status = "valid"
        return json_reply(ca.order_json(0), **{"Retry-After": "0"})

    hostile_ca.routes["/order/0"] = slow
    outcome = drive()
    assert outcome.error is None, outcome.error
    assert len(outcome.to_certproc) == 1


def test_retry_after_with_superscript_digits_is_ignored(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.finalize_status = "processing"
    polls = {"n": 0}

    def odd_retry_after(ca: HostileCA, seen: Seen) -> Reply:
        polls["n"] += 1  # 1, 2: processing, 3: valid (the pending order is finalized unpolled)
        if polls["n"] >= 3:
            ca.finalize_status = "valid"
        return json_reply(ca.order_json(0), **{"Retry-After": "\u00b9"})  # sent as the byte 0xB9

    hostile_ca.routes["/order/0"] = odd_retry_after
    outcome = drive()
    if outcome.error is not None:
        raise outcome.error
    assert len(outcome.to_certproc) == 1


def test_content_length_with_superscript_digits(drive, hostile_ca: HostileCA) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \xb9\r\nConnection: close\r\n\r\n{}"
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=raw)
    drive().raised()


# TLS and where netproc may connect ---------------------------------------------------------------------------------------


def test_tls_certificate_for_another_host_name_is_refused(drive, hostile_ca: HostileCA) -> None:
    url = f"https://acme.invalid:{hostile_ca.port}/dir"
    outcome = drive(api_url=url, hosts={"acme.invalid": "127.0.0.1"})
    message = outcome.raised()
    assert "acme.invalid: TLS certificate not trusted" in message
    assert "mismatch" in message.lower()
    assert hostile_ca.seen == []  # no HTTP request was sent over the untrusted connection


def test_tls_certificate_from_an_untrusted_root_is_refused(drive, hostile_ca: HostileCA, tmp_path: Path) -> None:
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(pki.root_authority("Someone Else's Root").pem)
    message = drive(ca_file=str(other_root)).raised()
    assert "localhost: TLS certificate not trusted" in message
    assert hostile_ca.seen == []


def test_tls_trust_ignores_the_environment(drive, hostile_ca: HostileCA, tmp_path: Path, monkeypatch) -> None:
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(pki.root_authority("Someone Else's Root").pem)
    for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(variable, str(hostile_ca.ca_file))  # would make the CA trusted, if honoured
    assert "TLS certificate not trusted" in drive(ca_file=str(other_root)).raised()


@pytest.fixture
def other_port() -> Iterator[socket.socket]:
    """A listening TCP socket on another loopback port: nothing must connect to it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    yield listener
    listener.close()


def _nobody_connected(listener: socket.socket) -> bool:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def test_redirect_to_another_port_is_not_followed(drive, hostile_ca: HostileCA, other_port: socket.socket) -> None:
    elsewhere = f"https://localhost:{other_port.getsockname()[1]}/dir"
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(302, b"", None, (("Location", elsewhere),))
    outcome = drive()
    assert outcome.error is not None
    assert isinstance(outcome.error, ProcessFailure)
    assert _nobody_connected(other_port)


def test_resource_urls_on_another_port_are_refused(drive, hostile_ca: HostileCA, other_port: socket.socket) -> None:
    port = other_port.getsockname()[1]

    def new_order_elsewhere(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        value = json.loads(reply.body)
        value["authorizations"] = [url.replace(f":{ca.port}/", f":{port}/") for url in value["authorizations"]]
        return json_reply(value, 201, location=f"{ca.base}/order/0")

    hostile_ca.routes["/order/new"] = new_order_elsewhere
    message = drive().raised()
    # acctproc refuses to sign for it before the transport could refuse to send it
    assert f"refusing to sign a URL that is not on the CA's host and port (https://localhost:{port}/" in message
    assert _nobody_connected(other_port)


def test_a_nonce_url_on_another_port_is_refused_by_the_transport(
    drive, hostile_ca: HostileCA, other_port: socket.socket
) -> None:
    """newNonce is fetched unsigned (HEAD): the transport's own port check is what stops it."""
    port = other_port.getsockname()[1]

    def directory_elsewhere(ca: HostileCA, seen: Seen) -> Reply:
        value = json.loads(HostileCA.directory(ca, seen).body)
        value["newNonce"] = f"https://localhost:{port}/nonce"
        return json_reply(value)

    hostile_ca.routes["/dir"] = directory_elsewhere
    message = drive().raised()
    assert f"port {port} is not the CA's (allowed: {hostile_ca.port})" in message
    assert _nobody_connected(other_port)


def test_order_location_on_another_port_is_refused(drive, hostile_ca: HostileCA, other_port: socket.socket) -> None:
    port = other_port.getsockname()[1]

    def new_order_elsewhere(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        return Reply(201, reply.body, headers=(("Location", f"https://localhost:{port}/order/0"),))

    hostile_ca.routes["/order/new"] = new_order_elsewhere
    hostile_ca.finalize_status = "processing"  # so that the order is polled at its Location
    message = drive().raised()
    assert f"refusing to sign a URL that is not on the CA's host and port (https://localhost:{port}/" in message
    assert _nobody_connected(other_port)


@pytest.mark.parametrize(
    "location", [None, "http://localhost/order/0", "/order/0", "ftp://x/", "https://b\u00fccher.example/order/0"]
)
def test_new_order_without_an_https_location(drive, hostile_ca: HostileCA, location: str | None) -> None:
    def no_location(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        headers = (("Location", location),) if location else ()
        return Reply(201, reply.body, headers=headers)

    hostile_ca.routes["/order/new"] = no_location
    message = drive().raised()
    if location is None:
        assert "new order: the CA sent no https Location" in message
    else:
        assert "new order: the CA's Location is not an https URL" in message


def test_unresolvable_host(drive, hostile_ca: HostileCA) -> None:
    message = drive(api_url=f"https://nowhere.invalid:{hostile_ca.port}/dir", hosts={}).raised()
    assert "cannot resolve nowhere.invalid" in message


def test_connection_dropped_mid_response(drive, hostile_ca: HostileCA) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"newNonce\":"
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=raw)
    message = drive().raised()
    assert_clean(message)


def test_certificate_download_cut_short_is_refused(drive, hostile_ca: HostileCA, domain_key) -> None:
    # The connection drops after the leaf: the intermediate never arrives.  If
    # netproc passes the short body on, certproc sees a valid leaf-only bundle
    # and fileproc installs a full chain without its intermediate.
    def cut_short(ca: HostileCA, seen: Seen) -> Reply:
        full = ca.orders[0].certificate
        leaf_only = full[: full.index(b"-----END CERTIFICATE-----\n") + 26]
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/pem-certificate-chain\r\nContent-Length: {len(full)}\r\n\r\n"
        return Reply(raw=head.encode() + leaf_only)

    hostile_ca.routes["/cert/0"] = cut_short
    outcome = drive()
    if outcome.error is None:  # show what certproc would have done with it
        bundle = outcome.to_certproc[0]
        files = check_bundle(bundle.pem, public_key_der(domain_key), NAMES, datetime.now(timezone.utc))
        assert files.chain, "a leaf-only 'full chain' would have been installed"
    assert outcome.to_certproc == []
    assert_clean(outcome.raised())


def test_garbage_instead_of_http(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=b"\x1b[2JSSH-2.0-OpenSSH\r\n\r\n")
    message = drive().raised()
    assert_clean(message)


# what netproc does besides issuing -----------------------------------------------------------------------------------------


def test_current_certificate_means_no_network_traffic_at_all(drive, hostile_ca: HostileCA) -> None:
    outcome = drive(verdict=CertStatus(VERDICT_CURRENT, "valid until 2099", b"der"))
    assert outcome.error is None
    assert hostile_ca.seen == []
    assert outcome.resolved == []
    assert outcome.to_certproc == []


def _issued_der(ca: HostileCA, domain_key) -> bytes:
    return ca.issuer.issue_leaf(domain_key.public_key(), NAMES).public_bytes(serialization.Encoding.DER)


def test_revocation_posts_the_certificate_then_asks_for_removal(drive, hostile_ca: HostileCA, domain_key) -> None:
    der = _issued_der(hostile_ca, domain_key)
    hostile_ca.account_jwk = None
    outcome = drive(verdict=CertStatus(VERDICT_REVOKE, "revoking", der))
    assert outcome.error is None, outcome.error
    assert hostile_ca.revoked == [der]
    assert [type(message) for message in outcome.to_certproc] == [RemoveCertificate]
    revocation = posts_to(hostile_ca, "/revoke")[0]
    assert revocation.protected["kid"] == f"{hostile_ca.base}/acct/1"  # signed by the account
    assert hostile_ca.errors == []


def test_already_revoked_still_removes_the_files(drive, hostile_ca: HostileCA, domain_key) -> None:
    hostile_ca.routes["/revoke"] = lambda ca, seen: problem("alreadyRevoked", "already revoked")
    outcome = drive(verdict=CertStatus(VERDICT_REVOKE, "revoking", _issued_der(hostile_ca, domain_key)))
    assert outcome.error is None, outcome.error
    assert [type(message) for message in outcome.to_certproc] == [RemoveCertificate]


def test_refused_revocation_keeps_the_files(drive, hostile_ca: HostileCA, domain_key) -> None:
    hostile_ca.routes["/revoke"] = lambda ca, seen: problem("unauthorized", "not your certificate", 403)
    outcome = drive(verdict=CertStatus(VERDICT_REVOKE, "revoking", _issued_der(hostile_ca, domain_key)))
    assert "revocation: not your certificate (unauthorized)" in outcome.raised()
    assert outcome.to_certproc == []


def test_existing_account_is_found_not_created(drive, hostile_ca: HostileCA, account_key) -> None:
    drive()  # creates the account
    first = len(posts_to(hostile_ca, "/acct/new"))
    outcome = drive()
    assert outcome.error is None
    lookups = posts_to(hostile_ca, "/acct/new")[first:]
    assert [seen.payload for seen in lookups] == [{"onlyReturnExisting": True}]


def test_new_account_payload(drive, hostile_ca: HostileCA) -> None:
    drive()
    created = posts_to(hostile_ca, "/acct/new")[1]
    assert created.payload == {"termsOfServiceAgreed": True, "contact": ["mailto:admin@example.com"]}
    assert "jwk" in created.protected and "kid" not in created.protected


def test_a_ca_that_says_it_requires_a_binding_is_told_nothing_and_the_error_says_what_to_configure(
    drive, hostile_ca: HostileCA
) -> None:
    plain = hostile_ca.directory

    def requiring(ca: HostileCA, seen: Seen) -> Reply:
        reply = plain(seen)
        body = json.loads(reply.body)
        body["meta"]["externalAccountRequired"] = True
        return json_reply(body)

    hostile_ca.routes["/dir"] = requiring
    message = drive().raised()
    assert "the CA requires an external account binding for a new account" in message
    assert len(posts_to(hostile_ca, "/acct/new")) == 1  # the look-up only: no account asked for in vain


def test_a_ca_that_refuses_an_unbound_account_gets_the_same_clear_error(drive, hostile_ca: HostileCA) -> None:
    """A CA that does not say so in its directory, but answers externalAccountRequired."""
    looked_up = hostile_ca.new_account

    def refusing(ca: HostileCA, seen: Seen) -> Reply:
        if isinstance(seen.payload, dict) and seen.payload.get("onlyReturnExisting"):
            return looked_up(seen)
        return problem("externalAccountRequired", "bind it")

    hostile_ca.routes["/acct/new"] = refusing
    message = drive().raised()
    assert "the CA requires an external account binding for a new account" in message
    assert "configure `external account binding KID FILE`" in message


@pytest.mark.parametrize(
    ("status", "kind", "retry_after", "kept"),
    [
        (429, "rateLimited", "3600", timedelta(hours=1)),
        (429, "rateLimited", None, timedelta(hours=1)),  # no Retry-After: an hour
        (429, "rateLimited", "99999999", timedelta(days=7)),  # absurd: a week at most
        (503, "serverInternal", "120", timedelta(minutes=2)),
        (503, "serverInternal", None, None),  # unavailable, no Retry-After: passing, nothing kept
        (400, "malformed", "3600", None),  # a refusal of another kind keeps nothing
    ],
)
def test_a_refusal_for_rate_limits_is_reported_to_the_parent_with_its_moment(
    drive, hostile_ca: HostileCA, status: int, kind: str, retry_after: str | None, kept: timedelta | None
) -> None:
    def limited(ca: HostileCA, seen: Seen) -> Reply:
        reply = problem(kind, "too many certificates", status)
        return dataclasses.replace(reply, headers=(("Retry-After", retry_after),) if retry_after else ())

    hostile_ca.routes["/order/new"] = limited
    report = os.memfd_create("test-report")
    try:
        before = datetime.now(timezone.utc)
        message = drive(report_fd=report).raised()
        written = os.pread(report, 4096, 0)
    finally:
        os.close(report)
    assert "too many certificates" in message
    if kept is None:
        assert written == b""
        return
    until = datetime.fromisoformat(json.loads(written)["backoff_until"])
    assert before + kept - timedelta(seconds=5) <= until <= datetime.now(timezone.utc) + kept + timedelta(seconds=5)


@pytest.mark.parametrize("names", [("broken", "big1", "big2", "big3"), ("big1", "big2", "big3", "big4")])
def test_alternate_chains_that_fail_or_do_not_fit_are_left_out_and_the_certificate_still_goes_to_certproc(
    drive, hostile_ca: HostileCA, names: tuple[str, ...]
) -> None:
    """One alternate refused by the CA, or four of nearly 1 MiB (the most a response may be), which would not
    fit one message to certproc with the default chain: left out, and the issued certificate still goes on."""
    base = hostile_ca.base
    big = b"-----BEGIN CERTIFICATE-----\n" + b"A" * 1_048_000 + b"\n"

    def with_alternates(ca: HostileCA, seen: Seen) -> Reply:
        if seen.path.endswith("/broken"):
            return problem("serverInternal", "no", 500)
        if "/big" in seen.path:
            return Reply(200, big, PEM_CHAIN)
        reply = HostileCA.certificate(ca, seen)
        links = ", ".join(f'<{base}{seen.path}/{name}>;rel="alternate"' for name in names)
        return dataclasses.replace(reply, headers=(("Link", links),))

    hostile_ca.routes["/cert/0"] = with_alternates
    for name in names:
        hostile_ca.routes[f"/cert/0/{name}"] = with_alternates
    outcome = drive(alternates=True)
    assert outcome.error is None, outcome.error
    [bundle] = outcome.to_certproc
    assert isinstance(bundle, CertBundle) and bundle.pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert len(bundle.alternates) == 3
    assert len(bundle.pem) + sum(len(each) for each in bundle.alternates) < MAX_FRAME


@pytest.mark.parametrize("race", ["previous key names no account", "key change refused"])
def test_a_key_changed_meanwhile_by_another_domain_is_found_by_the_new_key(drive, hostile_ca: HostileCA, race: str) -> None:
    """Two domains of one authority change the account key in one run: the second finds the account by the new key."""
    from acme_conf.acme import jws
    from cryptography.hazmat.primitives.asymmetric import ec

    previous = ec.generate_private_key(ec.SECP256R1())
    lookups_by_new_key = []

    def accounts(ca: HostileCA, seen: Seen) -> Reply:
        assert isinstance(seen.payload, dict) and seen.protected is not None
        by_previous = seen.protected.get("jwk") == jws.public_jwk(previous)
        if by_previous and race == "key change refused":
            return json_reply({"status": "valid"}, 200, location=f"{ca.base}/acct/1")
        if by_previous:
            return problem("accountDoesNotExist", "changed already")
        if seen.payload.get("onlyReturnExisting"):
            lookups_by_new_key.append(seen)
            if len(lookups_by_new_key) == 1:
                return problem("accountDoesNotExist", "not yet")
            ca.account_jwk = seen.protected["jwk"]
            return json_reply({"status": "valid"}, 200, location=f"{ca.base}/acct/1")
        return problem("malformed", "no new account expected", 400)

    hostile_ca.routes["/acct/new"] = accounts
    hostile_ca.routes["/key-change"] = lambda ca, seen: problem("conflict", "new key already in use", 409)
    outcome = drive(previous_key=previous)
    assert outcome.error is None, outcome.error
    assert len(lookups_by_new_key) == 2  # looked up again, and found
    assert [s for s in hostile_ca.seen if s.path == "/acct/new" and "termsOfServiceAgreed" in (s.payload or {})] == []


def test_account_without_location(drive, hostile_ca: HostileCA) -> None:
    hostile_ca.routes["/acct/new"] = lambda ca, seen: json_reply({"status": "valid"}, 201)
    assert "account lookup: the CA sent no https Location" in drive().raised()


def test_profile_not_offered_fails_before_ordering(drive, hostile_ca: HostileCA) -> None:
    message = drive(profile="shortlived").raised()
    assert "the CA does not offer profile shortlived (it offers: default)" in message
    assert posts_to(hostile_ca, "/order/new") == []


def test_offered_profile_is_requested(drive, hostile_ca: HostileCA) -> None:
    assert drive(profile="default").error is None
    assert posts_to(hostile_ca, "/order/new")[0].payload["profile"] == "default"


def test_order_identifiers_dns_and_ip(drive, hostile_ca: HostileCA) -> None:
    drive(names=("example.com", "192.0.2.1"))
    assert posts_to(hostile_ca, "/order/new")[0].payload == {
        "identifiers": [{"type": "dns", "value": "example.com"}, {"type": "ip", "value": "192.0.2.1"}]
    }


def test_already_valid_authorization_is_not_answered_again(drive, hostile_ca: HostileCA) -> None:
    def valid(ca: HostileCA, seen: Seen) -> Reply:
        authz, _, _ = ca._authz_of(seen.path)
        authz.status = "valid"
        return json_reply(ca.authorization_json(seen.path))

    hostile_ca.routes["/authz/0/0"] = valid
    outcome = drive()
    assert outcome.error is None, outcome.error
    assert outcome.challenge_writes == []
    assert posts_to(hostile_ca, "/chall/") == []


@pytest.mark.parametrize("status", ["deactivated", "expired", "revoked", "invalid", "\x1b[2Jweird"])
def test_authorization_in_a_dead_state(drive, hostile_ca: HostileCA, status: str) -> None:
    def dead(ca: HostileCA, seen: Seen) -> Reply:
        return json_reply(dict(ca.authorization_json(seen.path), status=status))

    hostile_ca.routes["/authz/0/0"] = dead
    outcome = drive()
    message = outcome.raised()
    assert "authorization for example.com is " in message
    assert_clean(message)
    assert outcome.challenge_writes == []


def test_order_invalid_after_authorization(drive, hostile_ca: HostileCA) -> None:
    def invalid(ca: HostileCA, seen: Seen) -> Reply:
        value = dict(ca.order_json(0), status="invalid", error={"type": ERROR + "serverInternal", "detail": "oops\n"})
        return json_reply(value)

    hostile_ca.routes["/order/0"] = invalid
    hostile_ca.routes["/finalize/0"] = lambda ca, seen: problem("orderNotReady", "not ready", 403)  # so it is polled
    message = drive().raised()
    assert "ended invalid: oops\\x0a (serverInternal)" in message


def test_first_address_refusing_falls_back_to_the_next(drive, hostile_ca: HostileCA) -> None:
    # The CA listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    outcome = drive(hosts={"localhost": ("127.0.0.2", "127.0.0.1")})
    assert outcome.error is None, outcome.error


def test_no_address_answering(drive, hostile_ca: HostileCA) -> None:
    message = drive(hosts={"localhost": ("127.0.0.2",)}).raised()
    assert f"cannot connect to localhost port {hostile_ca.port}: Connection refused" in message


@pytest.mark.parametrize("how", ["close_notify", "tcp_fin"])
def test_kept_alive_connection_closed_by_the_server_is_reopened(drive, hostile_ca: HostileCA, how: str) -> None:
    hostile_ca.drop_idle_connections = how
    outcome = drive()
    assert outcome.error is None, outcome.error
    assert len(outcome.to_certproc) == 1
    assert hostile_ca.errors == []


def test_too_many_response_headers(drive, hostile_ca: HostileCA) -> None:
    headers = "".join(f"X-Junk-{n}: {n}\r\n" for n in range(500))
    raw = f"HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\n\r\n{{}}".encode()
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=raw)
    message = drive().raised()
    assert_clean(message)
    assert "headers" in message


def test_header_line_too_long(drive, hostile_ca: HostileCA) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100_000 + b"\r\nContent-Length: 2\r\n\r\n{}"
    hostile_ca.routes["/dir"] = lambda ca, seen: Reply(raw=raw)
    assert_clean(drive().raised())


@pytest.mark.parametrize("suffix", ["\r\nX-Injected: 1", " HTTP/1.0\r\n\r\nGET /evil", "\x00"])
def test_url_with_control_characters_cannot_inject_headers(drive, hostile_ca: HostileCA, suffix: str) -> None:
    def poisoned_order(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        value = json.loads(reply.body)
        value["authorizations"] = [value["authorizations"][0] + suffix]
        return json_reply(value, 201, location=f"{ca.base}/order/0")

    hostile_ca.routes["/order/new"] = poisoned_order
    message = drive().raised()
    assert_clean(message)
    assert all("x-injected" not in seen.headers for seen in hostile_ca.seen)
    assert all(seen.path != "/evil" for seen in hostile_ca.seen)


def test_a_hostile_revokeproc_cannot_order_a_revocation(drive, hostile_ca: HostileCA, domain_key) -> None:
    # revokeproc parses a file that came from the CA: taken over, it might
    # answer "revoke" to a plain renewal run. netproc refuses before any traffic.
    from acme_conf.proc.netproc import check_verdict
    from acme_conf.proc.spec import NetSettings

    der = _issued_der(hostile_ca, domain_key)
    renewing = NetSettings(hostile_ca.directory_url, "", False, "", NAMES, "", revoke=False)
    with pytest.raises(ProcessFailure, match="did not ask for"):
        check_verdict(CertStatus(VERDICT_REVOKE, "revoking", der), renewing)
    with pytest.raises(ProcessFailure, match="did not ask for"):
        check_verdict(CertStatus(VERDICT_CURRENT, "fine", der), renewing._replace(revoke=True))
    assert hostile_ca.revoked == []
