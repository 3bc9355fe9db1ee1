"""RFC 8555 resources from the CA (acme_conf.acme.resources) and printable()."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_conf.acme.resources import (
    ProtocolError,
    parse_authorization,
    parse_challenge,
    parse_directory,
    parse_json,
    parse_order,
    parse_problem,
)
from acme_conf.acme.text import MAX_SHOWN, printable

CA = "https://localhost:14000"

PEBBLE_DIRECTORY = {
    "keyChange": f"{CA}/rollover-account-key",
    "meta": {
        "externalAccountRequired": False,
        "profiles": {"default": "The profile you know and love", "shortlived": "A short-lived cert profile"},
        "termsOfService": "data:text/plain,Do%20what%20thou%20wilt",
    },
    "newAccount": f"{CA}/sign-me-up",
    "newNonce": f"{CA}/nonce-plz",
    "newOrder": f"{CA}/order-plz",
    "renewalInfo": f"{CA}/draft-ietf-acme-ari-03/renewalInfo",
    "revokeCert": f"{CA}/revoke-cert",
}

PEBBLE_ORDER = {
    "status": "pending",
    "expires": "2030-01-01T00:00:00Z",
    "identifiers": [{"type": "dns", "value": "example.com"}, {"type": "ip", "value": "192.0.2.1"}],
    "finalize": f"{CA}/finalize-order/Xy",
    "authorizations": [f"{CA}/authZ/a1", f"{CA}/authZ/a2"],
}

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

PEBBLE_AUTHORIZATION = {
    "status": "pending",
    "identifier": {"type": "dns", "value": "example.com"},
    "challenges": [
        {"type": "dns-account-01", "url": f"{CA}/chalZ/c0", "status": "pending"},  # draft: no token
        {"type": "tls-alpn-01", "url": f"{CA}/chalZ/c1", "token": TOKEN, "status": "pending"},
        {"type": "http-01", "url": f"{CA}/chalZ/c2", "token": TOKEN, "status": "pending"},
        {"type": "dns-01", "url": f"{CA}/chalZ/c3", "token": TOKEN, "status": "pending"},
    ],
    "expires": "2030-01-01T00:00:00Z",
}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def replaced(mapping: dict, key: str, value: object) -> dict:
    return {**mapping, key: value}


# valid resources ------------------------------------------------------------------------


def test_pebble_directory() -> None:
    directory = parse_directory(body(PEBBLE_DIRECTORY))
    assert directory.new_nonce == f"{CA}/nonce-plz"
    assert directory.new_account == f"{CA}/sign-me-up"
    assert directory.new_order == f"{CA}/order-plz"
    assert directory.revoke_cert == f"{CA}/revoke-cert"
    assert directory.terms_of_service == "data:text/plain,Do%20what%20thou%20wilt"
    assert directory.profiles == ("default", "shortlived")


def test_resources_the_client_does_not_use_cannot_fail_the_run() -> None:
    # renewalInfo is not used (yet), keyChange only to change an account's key: a malformed one is
    # ignored here, and a key change then says the CA offers none.
    odd = {**PEBBLE_DIRECTORY, "keyChange": "http://plain/key-change", "renewalInfo": 42}
    directory = parse_directory(body(odd))
    assert directory.new_order == f"{CA}/order-plz"
    assert directory.key_change == ""


def test_minimal_directory() -> None:
    minimal = {key: PEBBLE_DIRECTORY[key] for key in ("newNonce", "newAccount", "newOrder", "revokeCert")}
    directory = parse_directory(body(minimal))
    assert directory.terms_of_service is None
    assert directory.profiles == ()


def test_pebble_order() -> None:
    order = parse_order(f"{CA}/my-order/1", body(PEBBLE_ORDER))
    assert order.url == f"{CA}/my-order/1"
    assert order.status == "pending"
    assert order.authorizations == (f"{CA}/authZ/a1", f"{CA}/authZ/a2")
    assert order.finalize == f"{CA}/finalize-order/Xy"
    assert order.certificate is None
    assert order.error is None


def test_valid_order_with_certificate() -> None:
    order = parse_order("u", body({**PEBBLE_ORDER, "status": "valid", "certificate": f"{CA}/certZ/1"}))
    assert order.certificate == f"{CA}/certZ/1"


def test_invalid_order_carries_its_problem() -> None:
    problem = {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "no"}
    order = parse_order("u", body({**PEBBLE_ORDER, "status": "invalid", "error": problem}))
    assert order.error is not None
    assert order.error.short_type == "unauthorized"


def test_pebble_authorization_skips_nothing_it_can_use_and_tolerates_tokenless_drafts() -> None:
    authorization = parse_authorization(f"{CA}/authZ/a1", body(PEBBLE_AUTHORIZATION))
    assert authorization.status == "pending"
    assert (authorization.identifier_type, authorization.identifier_value) == ("dns", "example.com")
    http = authorization.challenge("http-01")
    assert http is not None
    assert (http.url, http.token, http.status) == (f"{CA}/chalZ/c2", TOKEN, "pending")
    draft = authorization.challenge("dns-account-01")
    assert draft is None or draft.token is None
    assert authorization.challenge("no-such-type") is None


def test_only_tokenless_and_malformed_challenges_still_parse() -> None:
    raw = {
        **PEBBLE_AUTHORIZATION,
        "challenges": [
            {"type": "dns-account-01", "url": f"{CA}/c", "status": "pending"},
            "not an object",
            {"type": 5, "url": f"{CA}/c", "status": "pending"},
            {"type": "http-01", "url": "http://insecure/c", "token": TOKEN, "status": "pending"},
            {"type": "http-01", "status": "pending", "token": TOKEN},
            {"type": "http-01", "url": f"{CA}/c\r\nHost: elsewhere", "token": TOKEN, "status": "pending"},
            {"type": "http-01", "url": f"{CA}/c/\u00e9", "token": TOKEN, "status": "pending"},
            {"type": "http-01", "url": f"{CA}/{'c' * 2048}", "token": TOKEN, "status": "pending"},
        ],
    }
    authorization = parse_authorization("u", body(raw))
    # the insecure, the URL-less, and those not of printable ASCII or too long are dropped
    assert authorization.challenge("http-01") is None


def test_challenge_with_its_error() -> None:
    raw = {
        "type": "http-01",
        "url": f"{CA}/chalZ/c2",
        "status": "invalid",
        "token": TOKEN,
        "error": {"type": "urn:ietf:params:acme:error:connection", "detail": "refused"},
    }
    challenge = parse_challenge(body(raw))
    assert challenge.status == "invalid"
    assert challenge.error is not None and challenge.error.detail == "refused"


# hostile inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[], "directory", 42, None, True, [PEBBLE_DIRECTORY]])
@pytest.mark.parametrize("parse", [parse_directory, lambda b: parse_order("u", b), lambda b: parse_authorization("u", b)])
def test_non_object_json_is_refused(value: object, parse) -> None:
    with pytest.raises(ProtocolError, match="not a JSON object"):
        parse(body(value))


@pytest.mark.parametrize("raw", [b"", b"<html>", b"{", b"\xff\xfe{}", b"{'a': 1}", b"NaN-ish"])
def test_non_json_is_refused(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="directory: response is not JSON"):
        parse_directory(raw)


@pytest.mark.parametrize("field", ["newNonce", "newAccount", "newOrder", "revokeCert"])
def test_directory_missing_field_is_named(field: str) -> None:
    with pytest.raises(ProtocolError, match=f"`{field}` is missing or not a string"):
        parse_directory(body(without(PEBBLE_DIRECTORY, field)))


@pytest.mark.parametrize("field", ["newNonce", "newAccount", "newOrder", "revokeCert"])
@pytest.mark.parametrize("value", [5, ["https://x/"], {"url": "https://x/"}, True])
def test_directory_wrong_type_is_named(field: str, value: object) -> None:
    with pytest.raises(ProtocolError, match=f"`{field}`"):
        parse_directory(body(replaced(PEBBLE_DIRECTORY, field, value)))


@pytest.mark.parametrize("field", ["newNonce", "newAccount", "newOrder", "revokeCert"])
@pytest.mark.parametrize(
    "url", ["http://localhost:14000/x", "ftp://x/", "file:///etc/passwd", "//x/y", "HTTPS:/x", "javascript:alert(1)", ""]
)
def test_directory_non_https_url_is_named(field: str, url: str) -> None:
    with pytest.raises(ProtocolError, match=f"directory `{field}` is not an https URL"):
        parse_directory(body(replaced(PEBBLE_DIRECTORY, field, url)))


def test_directory_terms_of_service_of_wrong_type_is_named() -> None:
    raw = replaced(PEBBLE_DIRECTORY, "meta", {"termsOfService": ["a"]})
    with pytest.raises(ProtocolError, match="directory meta: `termsOfService` is not a string"):
        parse_directory(body(raw))


def test_directory_meta_of_wrong_type_is_ignored() -> None:
    assert parse_directory(body(replaced(PEBBLE_DIRECTORY, "meta", "junk"))).profiles == ()


def test_huge_url_is_refused_and_not_echoed_whole() -> None:
    url = "https://ca.example/" + "A" * 1_000_000
    with pytest.raises(ProtocolError) as raised:
        parse_directory(body(replaced(PEBBLE_DIRECTORY, "newOrder", url)))
    message = str(raised.value)
    assert "`newOrder`" in message
    assert len(message) < 300


def test_url_of_2048_characters_is_the_longest_accepted() -> None:
    base = "https://ca.example/"
    ok = base + "a" * (2048 - len(base))
    assert parse_directory(body(replaced(PEBBLE_DIRECTORY, "newOrder", ok))).new_order == ok
    with pytest.raises(ProtocolError):
        parse_directory(body(replaced(PEBBLE_DIRECTORY, "newOrder", ok + "a")))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o: without(o, "status"), "`status`"),
        (lambda o: replaced(o, "status", 1), "`status`"),
        (lambda o: without(o, "finalize"), "`finalize`"),
        (lambda o: replaced(o, "finalize", "http://x/f"), "`finalize`"),
        (lambda o: without(o, "authorizations"), "`authorizations`"),
        (lambda o: replaced(o, "authorizations", "https://x/a"), "`authorizations`"),
        (lambda o: replaced(o, "authorizations", [1, 2]), "`authorizations`"),
        (lambda o: replaced(o, "authorizations", ["http://x/a"]), "order authorization"),
        (lambda o: replaced(o, "certificate", "http://x/c"), "`certificate`"),
        (lambda o: replaced(o, "certificate", 7), "`certificate`"),
    ],
)
def test_order_field_errors_are_named(change, field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        parse_order("u", body(change(PEBBLE_ORDER)))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda a: without(a, "identifier"), "`identifier`"),
        (lambda a: replaced(a, "identifier", "example.com"), "`identifier`"),
        (lambda a: replaced(a, "identifier", {"type": "dns"}), "`value`"),
        (lambda a: replaced(a, "identifier", {"value": "x", "type": None}), "`type`"),
        (lambda a: without(a, "challenges"), "`challenges`"),
        (lambda a: replaced(a, "challenges", {"type": "http-01"}), "`challenges`"),
        (lambda a: without(a, "status"), "`status`"),
    ],
)
def test_authorization_field_errors_are_named(change, field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        parse_authorization("u", body(change(PEBBLE_AUTHORIZATION)))


def test_malformed_challenge_response_is_refused() -> None:
    with pytest.raises(ProtocolError, match="challenge"):
        parse_challenge(body({"type": "http-01", "status": "valid"}))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
        max_leaves=25,
    )
)
@settings(max_examples=200)
def test_arbitrary_json_parses_or_raises_protocol_error(value: object) -> None:
    raw = body(value)
    for parse in (parse_directory, lambda b: parse_order("u", b), lambda b: parse_authorization("u", b), parse_challenge):
        try:
            parse(raw)
        except ProtocolError:
            pass
    problem = parse_problem(raw)
    assert problem is None or isinstance(str(problem), str)


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_arbitrary_bytes_parse_or_raise_protocol_error(raw: bytes) -> None:
    try:
        parse_json(raw, "x")
    except ProtocolError:
        pass
    parse_problem(raw)


def test_deeply_nested_json_is_a_protocol_error() -> None:
    # 100 000 bytes: well inside the 1 MiB body limit.
    with pytest.raises(ProtocolError):
        parse_json(b"[" * 100_000, "order")


def test_deeply_nested_error_body_is_no_problem_document() -> None:
    assert parse_problem(b"[" * 100_000) is None


# problem documents -------------------------------------------------------------------------------


def test_problem_document_with_subproblems() -> None:
    raw = {
        "type": "urn:ietf:params:acme:error:rejectedIdentifier",
        "detail": "Some identifiers were rejected",
        "subproblems": [
            {
                "type": "urn:ietf:params:acme:error:malformed",
                "detail": "Invalid underscore in DNS name",
                "identifier": {"type": "dns", "value": "_example.org"},
            },
            {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "policy forbids"},
            "not an object",
        ],
    }
    problem = parse_problem(body(raw))
    assert problem is not None
    assert problem.short_type == "rejectedIdentifier"
    assert problem.subproblems == ("_example.org: Invalid underscore in DNS name", "None: policy forbids")
    assert str(problem) == (
        "Some identifiers were rejected (rejectedIdentifier); "
        "_example.org: Invalid underscore in DNS name; None: policy forbids"
    )


def test_subproblems_are_capped() -> None:
    raw = {"type": "t", "detail": "d", "subproblems": [{"detail": str(i)} for i in range(1000)]}
    problem = parse_problem(body(raw))
    assert problem is not None
    assert len(problem.subproblems) == 20


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1]", b'"text"', b"null"])
def test_non_problem_bodies_give_none(raw: bytes) -> None:
    assert parse_problem(raw) is None


def test_problem_text_is_sanitised() -> None:
    raw = {
        "type": "urn:ietf:params:acme:error:\x1b[2Jmalformed",
        "detail": "line one\nacme-client: forged line\x1b[31m red \x07",
        "subproblems": [{"identifier": {"value": "a\rb"}, "detail": "x\x1b]0;title\x07"}],
    }
    problem = parse_problem(body(raw))
    assert problem is not None
    text = str(problem)
    assert text.isprintable() and text.isascii()
    assert "\n" not in text and "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "line one\\x0aacme-client: forged line\\x1b[31m red \\x07" in text


def test_problem_with_non_string_members() -> None:
    problem = parse_problem(body({"type": 5, "detail": {"x": [1]}}))
    assert problem is not None
    assert str(problem) == "{'x': [1]} (5)"


# printable -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text ~!", "plain text ~!"),
        ("a\nb", "a\\x0ab"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("tab\there", "tab\\x09here"),
        ("\x7f", "\\x7f"),
        ("\x00", "\\x00"),
        ("é", "\\xe9"),
        ("\u202eevil", "\\u202eevil"),
        ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
        ("😀", "\\U0001f600"),
    ],
)
def test_printable_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_truncates() -> None:
    assert printable("a" * 1000) == "a" * MAX_SHOWN + "..."
    assert printable("abcdef", 3) == "abc..."
    assert printable("abc", 3) == "abc"


def test_printable_of_non_strings() -> None:
    assert printable(ValueError("bad\nthing")) == "bad\\x0athing"
    assert printable(None) == "None"


@given(st.text(), st.integers(min_value=1, max_value=400))
@settings(max_examples=500)
def test_printable_output_is_safe_and_bounded(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert shown.isascii()
    assert all(" " <= ch <= "~" for ch in shown)
    assert len(shown) <= limit + 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be", "utf-8-sig"])
def test_json_in_another_encoding_than_utf8_is_refused(encoding: str) -> None:
    """RFC 8259 section 8.1: UTF-8 only (json.loads would guess the others, each through its own codec)."""
    body = '{"newNonce": "https://ca.example/nonce"}'.encode(encoding)
    with pytest.raises(ProtocolError, match="not JSON"):
        parse_json(body, "directory")
    assert parse_problem('{"type": "urn:ietf:params:acme:error:badNonce"}'.encode(encoding)) is None
