"""`challenge tls-alpn-01 listen on ADDRESS [port PORT]` (RFC 8737, RFC 8738): read, refused, read back."""

from __future__ import annotations

import pytest

from acme_conf.config import dump

from config_testing import AUTHORITY, domain, errors_of, plan_of


def test_the_tls_alpn_address_and_port_read_back() -> None:
    plan = plan_of(
        AUTHORITY
        + domain("a.example", "challenge tls-alpn-01 listen on * port 4443")
        + domain("b.example", "challenge tls-alpn-01 listen on 127.0.0.1 port 5001")
        + domain("c.example", "alternative names { 192.0.2.7, 2001:db8::7 }", "challenge tls-alpn-01 listen on 2001:DB8::1")
    )
    assert [job.tls_alpn for job in plan.domains] == [("::", 4443), ("127.0.0.1", 5001), ("2001:db8::1", 443)]
    assert [job.responder for job in plan.domains] == [None, None, None]
    assert plan.domains[2].names == ("c.example", "192.0.2.7", "2001:db8::7")  # RFC 8738: addresses allowed
    again = plan_of(dump(plan)).domains
    assert [job.tls_alpn for job in again] == [job.tls_alpn for job in plan.domains]
    assert "challengedir" not in dump(plan)


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (("challenge tls-alpn-01 listen on example.com",), "not an IPv4 or IPv6 address"),
        (("challenge tls-alpn-01 listen on 127.0.0.1 port 65536",), "expected port and a number from 1 to 65535"),
        (("challenge tls-alpn-01 listen on ::1", 'challengedir "/var/www/acme"'), "challengedir cannot be used with it"),
        (("challenge tls-alpn-01 listen on ::1", "challenge http-01 listen on ::1"), "cannot be used together"),
        (("challenge dns-persist-01", "challenge tls-alpn-01 listen on ::1"), "cannot be used together"),
        (("challenge tls-alpn-01 listen on ::1", "challenge tls-alpn-01 listen on ::2"), "duplicate challenge"),
        (("alternative names { *.a.example }", "challenge tls-alpn-01 listen on ::1"), "a wildcard name needs"),
    ],
)
def test_tls_alpn_options_that_cannot_be_used(options: tuple[str, ...], why: str) -> None:
    errors = errors_of(AUTHORITY + domain("a.example", *options))
    assert any(why in error for error in errors), errors
    assert all(error.startswith("test.conf:") for error in errors)  # file:line, as every configuration error


def test_the_combination_is_reported_at_the_later_line() -> None:
    text = AUTHORITY + domain("a.example", "challenge http-01 listen on ::1", "challenge tls-alpn-01 listen on ::1")
    line = text.splitlines().index("\tchallenge tls-alpn-01 listen on ::1") + 1
    assert errors_of(text) == [f"test.conf:{line}: challenge tls-alpn-01 and challenge http-01 cannot be used together"]


def test_an_http_01_and_a_tls_alpn_01_listener_cannot_share_an_address_and_port() -> None:
    text = AUTHORITY + domain("a.example", "challenge http-01 listen on 192.0.2.1 port 8443") + domain(
        "b.example", "challenge tls-alpn-01 listen on 192.0.2.1 port 8443"
    )
    assert any("already used for challenge http-01 at line" in error for error in errors_of(text)), errors_of(text)
    every = AUTHORITY + domain("a.example", "challenge tls-alpn-01 listen on * port 8443") + domain(
        "b.example", "challenge http-01 listen on 192.0.2.1 port 8443"
    )
    assert any("overlaps :: port 8443" in error for error in errors_of(every))


def test_tls_alpn_responders_on_one_port_must_agree_on_the_address() -> None:
    text = AUTHORITY + domain("a.example", "challenge tls-alpn-01 listen on *") + domain(
        "b.example", "challenge tls-alpn-01 listen on 192.0.2.1"
    )
    assert any("overlaps :: port 443" in error for error in errors_of(text))
    shared = AUTHORITY + domain("a.example", "challenge tls-alpn-01 listen on ::1") + domain(
        "b.example", "challenge tls-alpn-01 listen on ::1"
    )
    assert len(plan_of(shared).domains) == 2
    apart = AUTHORITY + domain("a.example", "challenge http-01 listen on 192.0.2.1 port 8443") + domain(
        "b.example", "challenge tls-alpn-01 listen on 192.0.2.2 port 8443"
    )
    assert len(plan_of(apart).domains) == 2  # two addresses of one port: two listeners
