"""A hostile CA against the bounds of issue 12 items 3 and 4, with the real netproc (the `drive` fixture).

An order with thousands of authorizations (3,000 files in the challenge
directory before), an order or an authorization for names nobody asked
for, and a challenge token that names a file already in the challenge
directory (which chngproc once deleted to make room).  Each is refused
with a clear error, and nothing is published or lost.  The baseline run in
test_hostile_ca.py shows the same CA issuing when it behaves.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest

from acme_conf.errors import ProcessFailure
from acme_conf.messages import Failure
from acme_conf.proc import chngproc

from hostile_ca import HostileCA, Reply, Seen, _Authz, json_reply

SWOLLEN = 3_000


def posts_to(ca: HostileCA, prefix: str) -> list[Seen]:
    return [seen for seen in ca.seen if seen.method == "POST" and seen.path.startswith(prefix)]


def assert_nothing_published(outcome, ca: HostileCA, challenge_dir: Path) -> None:  # type: ignore[no-untyped-def]
    assert outcome.challenge_writes == []  # chngproc was never asked
    assert os.listdir(challenge_dir) == []
    assert posts_to(ca, "/chall/") == []  # no challenge answered
    assert outcome.to_certproc == []


@pytest.fixture(autouse=True)
def chngproc_answers_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drive fixture's chngproc recorder, answering a refusal as chngproc's serve loop does.

    The recorder calls chngproc.publish and sends ChallengeWritten; the real
    serve loop (chngproc._publish) sends a refusal back as a Failure.  The
    refusal is then raised, so the recorder stops and reports it.  Without
    this, netproc would wait for an answer for ever (and a test whose
    defence is removed, where chngproc's own cap then refuses, would hang).
    """
    real_publish = chngproc.publish

    def publish(held: chngproc.Held, token: str, key_authorization: str, net_fd: int) -> None:
        try:
            real_publish(held, token, key_authorization, net_fd)
        except ProcessFailure as error:
            net = next(channel for channel in held.nets if channel.fileno() == net_fd)
            net.send(Failure(str(error)))
            raise

    monkeypatch.setattr(chngproc, "publish", publish)


def test_an_order_with_thousands_of_authorizations_is_refused_before_anything_is_published(
    drive, hostile_ca: HostileCA, challenge_dir: Path
) -> None:
    # Defence: netproc.check_order, no more authorizations than names (issue 12 item 3: a CA's order
    # with 3,000 authorizations made 3,000 challenge files).
    def swollen_order(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        order = ca.orders[-1]
        order.authzs += [_Authz(order.names[0], secrets.token_urlsafe(32)) for _ in range(SWOLLEN - 1)]
        return json_reply(ca.order_json(len(ca.orders) - 1), 201, location=dict(reply.headers)["Location"])

    hostile_ca.routes["/order/new"] = swollen_order
    outcome = drive(names=("example.com",))
    assert f"new order: {SWOLLEN} authorizations for 1 name" in outcome.raised()
    assert_nothing_published(outcome, hostile_ca, challenge_dir)
    assert posts_to(hostile_ca, "/authz/") == []  # not one of them fetched


@pytest.mark.parametrize(
    ("ordered", "shown"),
    [
        (["evil.example"], "evil.example"),  # other names
        (["example.com", "www.example.com", "evil.example"], "example.com, www.example.com, evil.example"),  # one more
        (["example.com"], "example.com"),  # one left out
    ],
    ids=["other names", "one more", "one left out"],
)
def test_an_order_for_other_names_than_asked_is_refused(
    drive, hostile_ca: HostileCA, challenge_dir: Path, ordered: list[str], shown: str
) -> None:
    # Defence: netproc.check_order, the order's identifiers are exactly the names asked for (item 3).
    def other_names(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        order = ca.orders[-1]
        order.names = list(ordered)
        order.authzs = [_Authz(name, secrets.token_urlsafe(32)) for name in ordered]
        return json_reply(ca.order_json(len(ca.orders) - 1), 201, location=dict(reply.headers)["Location"])

    hostile_ca.routes["/order/new"] = other_names
    outcome = drive(names=("example.com", "www.example.com"))
    assert f"new order: the CA made an order for {shown}, not for the configured names" in outcome.raised()
    assert_nothing_published(outcome, hostile_ca, challenge_dir)
    assert posts_to(hostile_ca, "/authz/") == []


def test_an_authorization_for_a_name_not_ordered_is_refused(drive, hostile_ca: HostileCA, challenge_dir: Path) -> None:
    # Defence: netproc.authorize_all, each authorization is for a name ordered (item 3): a CA cannot
    # have this client publish an answer for a name it never asked for.
    def elsewhere(ca: HostileCA, seen: Seen) -> Reply:
        value = ca.authorization_json(seen.path)
        value["identifier"] = {"type": "dns", "value": "evil.example"}
        return json_reply(value)

    hostile_ca.routes["/authz/0/0"] = elsewhere
    outcome = drive(names=("example.com",))
    assert "authorization for evil.example, which was not ordered" in outcome.raised()
    assert_nothing_published(outcome, hostile_ca, challenge_dir)


def test_a_token_naming_a_file_in_the_challenge_directory_leaves_it_alone(
    drive, hostile_ca: HostileCA, challenge_dir: Path
) -> None:
    # Defence: chngproc creates with O_EXCL and removes only what it created (issue 12 item 4: a token
    # chosen by the CA deleted a file that happened to be in the challenge directory).
    victim = challenge_dir / "index-page-of-someone-else"
    victim.write_bytes(b"not the CA's\n")
    victim.chmod(0o600)
    before = victim.stat()

    def aimed_at_the_victim(ca: HostileCA, seen: Seen) -> Reply:
        reply = HostileCA.new_order(ca, seen)
        ca.orders[-1].authzs[0].token = victim.name
        return json_reply(ca.order_json(len(ca.orders) - 1), 201, location=dict(reply.headers)["Location"])

    hostile_ca.routes["/order/new"] = aimed_at_the_victim
    outcome = drive(names=("example.com",))
    why = f"{challenge_dir}/{victim.name} exists already: not overwritten, not removed"
    assert f"example.com: chngproc: {why}" in outcome.raised()
    assert [str(error) for error in outcome.peer_errors] == [why]  # chngproc refused, and said so
    assert posts_to(hostile_ca, "/chall/") == []  # nothing answered for a file that is not ours
    assert os.listdir(challenge_dir) == [victim.name]
    after = victim.stat()
    assert victim.read_bytes() == b"not the CA's\n"
    assert (after.st_ino, stat.S_IMODE(after.st_mode), after.st_mtime_ns) == (before.st_ino, 0o600, before.st_mtime_ns)
