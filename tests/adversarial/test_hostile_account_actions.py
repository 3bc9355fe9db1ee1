"""The real netproc in a -D or -k run against a hostile CA: the account is looked up, never created, and acted on.

acctproc (the real role, in a thread) signs under the -D run's rules; the CA
answers the deactivation as it likes.
"""

from __future__ import annotations

from hostile_ca import HostileCA, Seen, json_reply

from acme_conf.messages.revoke import VERDICT_CURRENT, CertStatus

CURRENT = CertStatus(VERDICT_CURRENT, "valid for weeks", b"der")


def posts(ca: HostileCA) -> list[Seen]:
    return [seen for seen in ca.seen if seen.method == "POST" and seen.path != "/nonce"]


def test_a_deactivation_is_sent_even_for_a_current_certificate_and_nothing_else(drive, hostile_ca: HostileCA) -> None:
    outcome = drive(verdict=CURRENT, account_action="deactivate")
    assert "knows no account for the account key" in outcome.raised()  # looked up, not created
    assert [seen.path for seen in posts(hostile_ca)] == ["/acct/new"]
    assert posts(hostile_ca)[0].payload == {"onlyReturnExisting": True}


def test_a_deactivation_the_ca_does_not_confirm_is_an_error(drive, hostile_ca: HostileCA) -> None:
    assert drive().error is None  # an ordinary run: the account exists
    hostile_ca.seen.clear()
    hostile_ca.routes["/acct/1"] = lambda ca, seen: json_reply({"status": "valid"})
    outcome = drive(verdict=CURRENT, account_action="deactivate")
    assert "the CA answered status valid" in outcome.raised()
    assert [seen.payload for seen in posts(hostile_ca)] == [{"onlyReturnExisting": True}, {"status": "deactivated"}]
    assert posts(hostile_ca)[1].path == "/acct/1"
    assert outcome.to_certproc == []


def test_a_confirmed_deactivation_ends_the_run(drive, hostile_ca: HostileCA) -> None:
    assert drive().error is None
    hostile_ca.seen.clear()
    hostile_ca.routes["/acct/1"] = lambda ca, seen: json_reply({"status": "deactivated"})
    outcome = drive(verdict=CURRENT, account_action="deactivate")
    assert outcome.error is None, outcome.error
    assert [seen.path for seen in posts(hostile_ca)] == ["/acct/new", "/acct/1"]
    assert outcome.to_certproc == [] and outcome.challenge_writes == []
