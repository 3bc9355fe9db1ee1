"""The challenge options of a domain block: the built-in responder, dns-persist-01, wildcard names, ARI off."""

from __future__ import annotations

import pytest

from acme_conf.config import dump

from config_testing import AUTHORITY, domain, errors_of, plan_of


def test_the_responder_address_and_port_read_back() -> None:
    plan = plan_of(
        AUTHORITY
        + domain("a.example", "challenge http-01 listen on *")
        + domain("b.example", "challenge http-01 listen on 127.0.0.1 port 5002")
        + domain("c.example", "challenge http-01 listen on 2001:DB8::1 port 8080")
    )
    assert [job.responder for job in plan.domains] == [("::", 80), ("127.0.0.1", 5002), ("2001:db8::1", 8080)]
    assert [job.responder for job in plan_of(dump(plan)).domains] == [job.responder for job in plan.domains]


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (("challenge http-01 listen on example.com",), "not an IPv4 or IPv6 address"),
        (("challenge http-01 listen on 127.0.0.1 port 0",), "expected port and a number from 1 to 65535"),
        (("challenge http-01 listen on 127.0.0.1 on 80",), "expected port and a number"),
        (("challenge http-01 listen on 127.0.0.1", 'challengedir "/var/www/acme"'), "challengedir cannot be used with it"),
        (("challenge dns-persist-01", 'challengedir "/var/www/acme"'), "cannot be used together"),
        (("challenge dns-persist-01", "challenge http-01 listen on ::1"), "cannot be used together"),
        (("challenge dns-persist-01", "challenge dns-persist-01"), "duplicate challenge"),
    ],
)
def test_challenge_options_that_cannot_be_used(options: tuple[str, ...], why: str) -> None:
    assert any(why in error for error in errors_of(AUTHORITY + domain("a.example", *options)))


def test_two_responders_on_one_port_must_agree_on_the_address() -> None:
    text = AUTHORITY + domain("a.example", "challenge http-01 listen on *") + domain(
        "b.example", "challenge http-01 listen on 192.0.2.1"
    )
    assert any("overlaps :: port 80" in error for error in errors_of(text))
    same = AUTHORITY + domain("a.example", "challenge http-01 listen on *") + domain("b.example", "challenge http-01 listen on *")
    assert len(plan_of(same).domains) == 2
    apart = AUTHORITY + domain("a.example", "challenge http-01 listen on 192.0.2.1") + domain(
        "b.example", "challenge http-01 listen on 192.0.2.2"
    )
    assert len(plan_of(apart).domains) == 2  # two addresses of one port: two responders


def test_dns_persist_allows_wildcards_and_reads_back() -> None:
    plan = plan_of(AUTHORITY + domain("a.example", "alternative names { *.A.example }", "challenge dns-persist-01"))
    job = plan.domains[0]
    assert job.dns_persist and job.names == ("a.example", "*.a.example")
    again = plan_of(dump(plan)).domains[0]
    assert again.dns_persist and again.names == job.names


def test_a_wildcard_elsewhere_or_an_address_with_dns_persist_is_refused() -> None:
    assert any("needs `challenge dns-01 hook` or `challenge dns-persist-01`" in e for e in errors_of(AUTHORITY + domain("a.example", "alternative names { *.a.example }")))


def test_no_renewal_information_reads_back() -> None:
    plan = plan_of(AUTHORITY + domain("a.example", "no renewal information") + domain("b.example"))
    assert [job.renewal_information for job in plan.domains] == [False, True]
    assert [job.renewal_information for job in plan_of(dump(plan)).domains] == [False, True]


def test_an_address_cannot_be_validated_with_dns_persist() -> None:
    text = AUTHORITY + domain("a.example", "alternative names { 192.0.2.1 }", "challenge dns-persist-01")
    assert any("192.0.2.1: dns-persist-01 validates domain names, not addresses" in e for e in errors_of(text))


# challenge dns-01 hook --------------------------------------------------------------------------------

HOOK = "/bin/true"  # a program that exists, root's alone, on every test machine


def test_a_dns_01_hook_with_every_option_reads_back() -> None:
    plan = plan_of(
        AUTHORITY
        + domain(
            "a.example",
            "alternative names { *.a.example }",
            f'challenge dns-01 hook "{HOOK}" user _acmedns timeout 30 resolver 2001:DB8::53 port 5353 wait 0',
        )
        + domain("b.example", f"challenge dns-01 hook {HOOK}")
    )
    first, second = (job.dns_hook for job in plan.domains)
    assert first is not None and second is not None
    assert (str(first.program), first.user, first.timeout, first.resolver, first.wait) == (HOOK, "_acmedns", 30, ("2001:db8::53", 5353), 0)
    assert (second.user, second.timeout, second.resolver, second.wait) == (None, 60, None, 120)
    assert plan.domains[0].names == ("a.example", "*.a.example")
    assert [job.dns_hook for job in plan_of(dump(plan)).domains] == [first, second]


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("challenge dns-01 hook bin/true", "bin/true: not an absolute path"),
        (f"challenge dns-01 hook {HOOK} colour blue", "unknown option colour (user, timeout, resolver, port, wait)"),
        (f"challenge dns-01 hook {HOOK} timeout", "timeout needs a value"),
        (f"challenge dns-01 hook {HOOK} wait 1 wait 2", "wait given twice"),
        (f"challenge dns-01 hook {HOOK} user root", "user root: not an unprivileged user's name"),
        (f"challenge dns-01 hook {HOOK} user Bad-User", "not an unprivileged user's name"),
        (f"challenge dns-01 hook {HOOK} timeout 0", "timeout 0: not a number from 1 to 3600"),
        (f"challenge dns-01 hook {HOOK} wait 3601", "wait 3601: not a number from 0 to 3600"),
        (f"challenge dns-01 hook {HOOK} port 53", "port is the resolver's: give resolver ADDRESS before it"),
        (f"challenge dns-01 hook {HOOK} resolver ns1.example", "resolver ns1.example: not an IPv4 or IPv6 address"),
        (f"challenge dns-01 hook {HOOK} resolver 192.0.2.53 port 65536", "port 65536: not a number from 1 to 65535"),
        ("challenge dns-01 hook /nonexistent/hook", "/nonexistent/hook: No such file or directory"),
        ("challenge dns-01 hook /etc/passwd", "not executable"),
        ("challenge dns-01 hook /usr/bin", "not a file"),
    ],
)
def test_hook_options_that_cannot_be_used(option: str, why: str) -> None:
    errors = errors_of(AUTHORITY + domain("a.example", option))
    assert any(why in error for error in errors), errors


@pytest.mark.parametrize(
    "other",
    [
        'challengedir "/var/www/acme"',
        "challenge http-01 listen on ::1",
        "challenge tls-alpn-01 listen on ::1",
        "challenge dns-persist-01",
        f"challenge dns-01 hook {HOOK}",
    ],
)
def test_a_hook_block_validates_one_way(other: str) -> None:
    errors = errors_of(AUTHORITY + domain("a.example", f"challenge dns-01 hook {HOOK}", other))
    assert any("cannot be used together" in error or "duplicate challenge" in error for error in errors), errors


def test_an_address_cannot_be_validated_with_dns_01() -> None:
    errors = errors_of(AUTHORITY + domain("a.example", "alternative names { 192.0.2.1 }", f"challenge dns-01 hook {HOOK}"))
    assert any("192.0.2.1: dns-01 validates domain names, not addresses" in error for error in errors)


def test_a_hook_others_may_change_is_refused(tmp_path) -> None:
    program = tmp_path / "hook"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o775)
    errors = errors_of(AUTHORITY + domain("a.example", f'challenge dns-01 hook "{program}"'))
    assert any("group or others may write it, and so run code as the hook" in error for error in errors), errors


def test_the_self_check_address_and_port_read_back() -> None:
    plan = plan_of(
        AUTHORITY
        + domain("a.example", 'challengedir "/var/www/acme" check 127.0.0.1')
        + domain("b.example", 'challengedir "/var/www/acme" check 2001:DB8::1 port 8080')
        + domain("c.example", 'challengedir "/var/www/acme"')
    )
    assert [job.challenge_check for job in plan.domains] == [("127.0.0.1", 80), ("2001:db8::1", 8080), None]
    assert [job.challenge_check for job in plan_of(dump(plan)).domains] == [job.challenge_check for job in plan.domains]


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ('challengedir "/var/www/acme" check localhost', "check localhost: not an IPv4 or IPv6 address"),
        ('challengedir "/var/www/acme" check 127.0.0.1 port 0', "expected port and a number from 1 to 65535"),
        ('challengedir "/var/www/acme" check 127.0.0.1 on 80', "expected port and a number from 1 to 65535"),
        ('challengedir "/var/www/acme" verify 127.0.0.1', "expected check and an address after the directory"),
    ],
)
def test_self_checks_that_cannot_be_used(option: str, why: str) -> None:
    assert any(why in error for error in errors_of(AUTHORITY + domain("a.example", option)))
