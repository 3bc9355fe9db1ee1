"""acme/signing_rules.py: what acctproc may sign for one domain's run, request by request."""

from __future__ import annotations

import json

import pytest

from acme_conf.acme.signing_rules import MAX_PAYLOAD, DomainRun, judge, refusal

RUN = DomainRun("https://ca.example:14000/dir", "mailto:admin@example.com", ("example.com", "192.0.2.1"), "", False)
REVOKING = RUN._replace(revoke=True)
CA = "https://ca.example:14000"
KID = f"{CA}/acct/1"
ORDER = {"identifiers": [{"type": "dns", "value": "example.com"}, {"type": "ip", "value": "192.0.2.1"}]}


def body(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("url", "kid", "payload", "kind"),
    [
        (f"{CA}/authz/1", KID, b"", "POST-as-GET"),
        (f"{CA}/chall/1", KID, b"{}", "challenge answer"),
        (f"{CA}/new-acct", "", body({"onlyReturnExisting": True}), "account look-up"),
        (f"{CA}/new-acct", "", body({"termsOfServiceAgreed": True, "contact": ["mailto:admin@example.com"]}), "new account"),
        (f"{CA}/new-order", KID, body(ORDER), "new order"),
        (f"{CA}/new-order", KID, body({"identifiers": ORDER["identifiers"][::-1]}), "new order"),  # any order
        (f"{CA}/finalize/1", KID, body({"csr": "MIIB"}), "finalize"),  # its CSR: acctproc's check_csr
        ("https://CA.example:14000/authz/1", KID, b"", "POST-as-GET"),  # host names compare in lower case
    ],
)
def test_what_this_run_makes_is_signed(url: str, kid: str, payload: bytes, kind: str) -> None:
    assert judge(RUN, url, kid, payload)[:2] == (kind, "")


@pytest.mark.parametrize(
    ("run", "url", "kid", "payload", "why"),
    [
        (RUN, "https://other.example:14000/authz/1", KID, b"", "not on the CA's host and port"),
        (RUN, "https://ca.example/authz/1", KID, b"", "not on the CA's host and port"),  # 443, not 14000
        (RUN, "http://ca.example:14000/authz/1", KID, b"", "not plain https"),
        (RUN, "https://user@ca.example:14000/x", KID, b"", "not plain https"),
        (RUN, "https://ca.example:99999/x", KID, b"", "malformed URL"),
        (RUN, f"{CA}/authz/1", "", b"", "must name the account"),
        (RUN, f"{CA}/key-change", KID, body({"protected": "e30", "payload": "e30", "signature": "AA"}), "account key change"),
        (RUN, KID, KID, body({"status": "deactivated"}), "deactivation"),
        (RUN, KID, KID, body({"contact": ["mailto:evil@example.net"]}), "account update"),
        (RUN, f"{CA}/new-acct", "", body({"termsOfServiceAgreed": True, "contact": ["mailto:evil@example.net"]}),
         "another contact"),
        (RUN, f"{CA}/new-order", KID, body({"identifiers": [{"type": "dns", "value": "evil.example"}]}), "other names"),
        (RUN, f"{CA}/new-order", KID, body({"identifiers": ORDER["identifiers"][:1]}), "other names"),
        (RUN, f"{CA}/new-order", KID, body({**ORDER, "profile": "shortlived"}), "another profile"),
        (RUN, f"{CA}/revoke", KID, body({"certificate": "MIIB"}), "only a -r run makes"),
        (REVOKING, f"{CA}/new-order", KID, body(ORDER), "a new order in a -r run"),
        (REVOKING, f"{CA}/finalize/1", KID, body({"csr": "MIIB"}), "a finalize in a -r run"),
        (RUN, f"{CA}/new-order", "", body(ORDER), "with the account's public key"),
        (RUN, f"{CA}/new-acct", KID, body({"onlyReturnExisting": True}), "without the account's public key"),
        (RUN, f"{CA}/x", KID, b"\xff\xfe{}", "not JSON"),
        (RUN, f"{CA}/x", KID, b"[]", "not a JSON object"),
        (RUN, f"{CA}/x", KID, b" " * (MAX_PAYLOAD + 1), "at most"),
        (RUN, f"{CA}/x", KID, body({"whatever": 1}), "a request of a kind"),
    ],
)
def test_anything_else_is_refused_saying_why(run: DomainRun, url: str, kid: str, payload: bytes, why: str) -> None:
    assert why in refusal(run, url, kid, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"identifiers": [{"type": "dns", "value": "evil.example"}], "identifiers": %s}'
        % json.dumps(ORDER["identifiers"]).encode(),
        b'{"csr": "ATTACKER", "csr": "MIIB"}',
        b'{"identifiers": [{"type": "dns", "value": "evil.example", "value": "example.com"}]}',
    ],
    ids=["order", "finalize", "nested"],
)
def test_a_member_named_twice_is_refused(payload: bytes) -> None:
    """Which of two values a CA reads is its reader's choice (the first, the last): none is signed."""
    assert "twice" in refusal(RUN, f"{CA}/new-order", KID, payload)


def test_a_revocation_is_signed_in_a_revoke_run_only() -> None:
    payload = body({"certificate": "MIIB"})
    assert refusal(REVOKING, f"{CA}/revoke", KID, payload) == ""
    assert refusal(RUN, f"{CA}/revoke", KID, payload) != ""


def test_a_revocation_carries_the_reason_asked_for_and_no_other() -> None:
    superseded = REVOKING._replace(reason=4)
    assert refusal(superseded, f"{CA}/revoke", KID, body({"certificate": "MIIB", "reason": 4})) == ""
    for reason in (1, "4", 4.0, True, None):
        assert "another reason" in refusal(superseded, f"{CA}/revoke", KID, body({"certificate": "MIIB", "reason": reason}))
    assert "another reason" in refusal(superseded, f"{CA}/revoke", KID, body({"certificate": "MIIB"}))
    # without -R no reason is signed: a netproc taken over cannot claim a key compromise
    assert "another reason" in refusal(REVOKING, f"{CA}/revoke", KID, body({"certificate": "MIIB", "reason": 1}))


DEACTIVATING = RUN._replace(deactivate=True)


def test_the_account_is_deactivated_in_a_d_run_only_and_at_its_own_url() -> None:
    payload = body({"status": "deactivated"})
    assert refusal(DEACTIVATING, KID, KID, payload) == ""
    assert "only a -D run makes" in refusal(RUN, KID, KID, payload)
    assert "elsewhere than to the account's own URL" in refusal(DEACTIVATING, f"{CA}/acct/2", KID, payload)
    assert "not on the CA's host" in refusal(DEACTIVATING, "https://evil.example/acct/1", KID, payload)
    assert "status change, which this run does not make" in refusal(DEACTIVATING, KID, KID, body({"status": "valid"}))


@pytest.mark.parametrize(
    ("url", "kid", "payload", "kind"),
    [
        (f"{CA}/new-order", KID, body(ORDER), "new order"),
        (f"{CA}/new-acct", "", body({"termsOfServiceAgreed": True, "contact": ["mailto:admin@example.com"]}), "new account"),
        (f"{CA}/finalize/1", KID, body({"csr": "MIIB"}), "finalize"),
    ],
)
def test_a_d_run_orders_nothing_and_creates_no_account(url: str, kid: str, payload: bytes, kind: str) -> None:
    assert refusal(DEACTIVATING, url, kid, payload) == f"a {kind} in a -D run"
    assert refusal(DEACTIVATING, f"{CA}/new-acct", "", body({"onlyReturnExisting": True})) == ""  # a look-up is fine
