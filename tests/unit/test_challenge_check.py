"""The self-check's verdict on what our own web server answers (net/challenge_check.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from acme_conf.errors import ProcessFailure
from acme_conf.net.challenge_check import MAX_ANSWER, check_served

TOKEN = "tok_-en"
KEY_AUTHORIZATION = "tok_-en.thumbprint"


class Answers(http.server.BaseHTTPRequestHandler):
    status = 200
    body = KEY_AUTHORIZATION.encode() + b"\n"
    location = ""
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).seen.append((self.path, self.headers.get("Host", "")))
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[tuple[type[Answers], tuple[str, int]]]:
    handler = type("Handler", (Answers,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


def test_the_file_served_passes_and_the_request_names_the_domain(web_server):
    handler, address = web_server
    check_served(address, "example.com", TOKEN, KEY_AUTHORIZATION)
    assert handler.seen == [(f"/.well-known/acme-challenge/{TOKEN}", "example.com")]


def test_an_ipv6_identifier_is_bracketed_in_the_host_header(web_server):
    handler, address = web_server
    check_served(address, "2001:db8::1", TOKEN, KEY_AUTHORIZATION)
    assert handler.seen[0][1] == "[2001:db8::1]"


def test_another_body_fails(web_server):
    handler, address = web_server
    handler.body = b"<html>the default site</html>"
    with pytest.raises(ProcessFailure, match="29 bytes that are not the challenge file .* the CA was not asked"):
        check_served(address, "example.com", TOKEN, KEY_AUTHORIZATION)


def test_a_body_that_starts_with_the_key_authorization_but_goes_on_fails(web_server):
    handler, address = web_server
    handler.body = KEY_AUTHORIZATION.encode() + b"x" * (2 * MAX_ANSWER)
    with pytest.raises(ProcessFailure, match="not the challenge file"):
        check_served(address, "example.com", TOKEN, KEY_AUTHORIZATION)


def test_a_status_other_than_200_fails_with_it(web_server):
    handler, address = web_server
    handler.status = 403
    with pytest.raises(ProcessFailure, match="with 403, not the challenge file; the CA was not asked"):
        check_served(address, "example.com", TOKEN, KEY_AUTHORIZATION)


def test_a_redirect_is_not_followed_and_does_not_fail(web_server, caplog):
    handler, address = web_server
    handler.status, handler.location, handler.body = 301, "https://example.com/\x1b[2Jx", b""
    check_served(address, "example.com", TOKEN, KEY_AUTHORIZATION)
    assert len(handler.seen) == 1
    assert "redirects" in caplog.text and "\x1b" not in caplog.text  # the target is shown sanitised
