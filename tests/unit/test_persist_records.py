"""dns-persist-01 and wildcards without a CA: the records, the names, the CA's objects read, the parent's printing."""

from __future__ import annotations

import json

import pytest

from types import SimpleNamespace

from acme_conf.acme.persist import expected_record, is_persist_record, persist_records, record_name
from acme_conf.acme.resources import parse_authorization, parse_directory
from acme_conf.config.names import BadName, canonical_name
from acme_conf.proc import reports
from acme_conf.proc.netproc import _authorized_name, requested

ACCOUNT = "https://ca.example/acct/7"


def test_one_record_per_base_name_with_the_wildcard_policy_where_a_wildcard_needs_it() -> None:
    records = persist_records(("example.com", "*.example.com", "www.example.org"), "ca.example", ACCOUNT)
    assert records == (
        f'_validation-persist.example.com. IN TXT "ca.example; accounturi={ACCOUNT}; policy=wildcard"',
        f'_validation-persist.www.example.org. IN TXT "ca.example; accounturi={ACCOUNT}"',
    )
    assert all(is_persist_record(record) for record in records)
    assert record_name("*.example.com") == record_name("example.com") == "_validation-persist.example.com"


@pytest.mark.parametrize(
    "line",
    [
        "\x1b[2J_validation-persist.example.com. IN TXT \"ca.example; accounturi=https://x\"",
        "_validation-persist.example.com. IN TXT \"ca.example; accounturi=https://x\"\nrm -rf /",
        "example.com. IN A 192.0.2.1",
        "_validation-persist.example.com. IN TXT \"ca.example; accounturi=http://x\"",
        5,
    ],
)
def test_what_is_not_a_record_is_not_one(line: object) -> None:
    assert not is_persist_record(line)


API = "https://ca.example/dir"
NAMES = ("example.com", "*.example.com", "www.example.org")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'_validation-persist.example.com. IN TXT "ca.example; accounturi={ACCOUNT}; policy=wildcard"', True),
        (f'_validation-persist.www.example.org. IN TXT "ca.example; accounturi={ACCOUNT}"', True),
        # another host, another account's CA, the policy where no wildcard asks for it or missing where one does
        (f'_validation-persist.evil.example. IN TXT "ca.example; accounturi={ACCOUNT}"', False),
        ('_validation-persist.example.com. IN TXT "ca.example; accounturi=https://other-ca.example/acct/1; policy=wildcard"', False),
        ('_validation-persist.example.com. IN TXT "ca.example; accounturi=https://ca.example:8443/acct/1; policy=wildcard"', False),
        (f'_validation-persist.www.example.org. IN TXT "ca.example; accounturi={ACCOUNT}; policy=wildcard"', False),
        (f'_validation-persist.example.com. IN TXT "ca.example; accounturi={ACCOUNT}"', False),
        # a second parameter smuggled into the account URL
        ('_validation-persist.example.com. IN TXT "ca.example; accounturi=https://ca.example/a;x=1; policy=wildcard"', False),
        ('_validation-persist.example.com. IN TXT "ca.example; accounturi=https://ca.example/a\\"; policy=wildcard"', False),
    ],
)
def test_the_parent_prints_a_record_only_for_the_domains_names_and_its_ca(line: str, expected: bool) -> None:
    assert expected_record(line, NAMES, API) is expected


def test_the_parent_prints_only_the_records_expected(capsys: pytest.CaptureFixture[str]) -> None:
    good = f'_validation-persist.www.example.org. IN TXT "ca.example; accounturi={ACCOUNT}"'
    lines = (good, "\x1b]0;pwned\x07", "example.com. IN A 192.0.2.1", good.replace("www.example.org", "evil.example"))
    report = b"\n".join(json.dumps({"record": line}).encode() for line in lines)
    job = SimpleNamespace(handle="example.com", names=NAMES, authority=SimpleNamespace(api_url=API))
    reports.print_records(report + b"\nnot json\n", job)  # type: ignore[arg-type]
    assert capsys.readouterr().out == good + "\n"


@pytest.mark.parametrize(("text", "expected"), [("*.Example.COM", "*.example.com"), ("*.a.b", "*.a.b")])
def test_a_wildcard_is_a_name_where_allowed(text: str, expected: str) -> None:
    assert canonical_name(text, wildcard=True) == expected


@pytest.mark.parametrize(
    ("text", "wildcard", "why"),
    [
        ("*.example.com", False, "needs `challenge dns-01 hook` or `challenge dns-persist-01`"),
        ("a*.example.com", True, "bad wildcard"),
        ("*.*.example.com", True, "bad wildcard"),
        ("*", True, "bad wildcard"),
        ("*.192.0.2.1", True, "bad domain syntax"),
        ("*.exa mple.com", True, "bad domain syntax"),
    ],
)
def test_anything_else_with_a_star_is_refused(text: str, wildcard: bool, why: str) -> None:
    with pytest.raises(BadName, match=why.replace("`", "`")):
        canonical_name(text, wildcard=wildcard)


def authorization(value: str, wildcard: bool) -> bytes:
    return json.dumps({
        "status": "pending", "identifier": {"type": "dns", "value": value}, "wildcard": wildcard,
        "challenges": [{"type": "dns-persist-01", "url": "https://ca.example/chall/1", "status": "pending",
                        "issuer-domain-names": ["ca.example", "Not A Name", 7]}],
    }).encode()


def test_a_wildcard_authorization_is_for_the_wildcard_and_not_for_its_base_name() -> None:
    wild = parse_authorization("https://ca.example/authz/1", authorization("example.com", True))
    base = parse_authorization("https://ca.example/authz/2", authorization("example.com", False))
    assert _authorized_name(wild) == ("dns", "*.example.com")
    assert _authorized_name(base) == ("dns", "example.com")
    assert _authorized_name(wild) not in requested(("example.com",))  # a wildcard nobody ordered is refused
    assert wild.challenge("dns-persist-01").issuer_names == ("ca.example",)


def test_the_directory_names_the_cas_issuer_domains() -> None:
    directory = parse_directory(json.dumps({
        "newNonce": "https://ca.example/n", "newAccount": "https://ca.example/a", "newOrder": "https://ca.example/o",
        "revokeCert": "https://ca.example/r", "meta": {"caaIdentities": ["ca.example", "\x1bevil"]},
    }).encode())
    assert directory.caa_identities == ("ca.example",)


def test_the_records_of_a_hundred_names_all_reach_the_parent() -> None:
    """-P of a domain with 100 names (the most a CA takes): netproc's report is read whole, not cut at 4 KiB."""
    from acme_conf.state import report_records

    names = tuple(f"host{index}.example.com" for index in range(100))
    records = persist_records(names, "ca.example", ACCOUNT)
    report = b"".join(json.dumps({"record": record}).encode() + b"\n" for record in records)
    assert len(report) > 2 * 4096  # what was read before
    assert [each["record"] for each in report_records(report)] == list(records)
