"""ARI (RFC 9773) without a CA: the certificate's identifier, the window read with suspicion, the moment kept,
revokeproc's verdicts, the parent's checks of what netproc reports, and what acctproc signs."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509

from acme_conf.acme.renewal_info import (
    MAX_CHECK_INTERVAL,
    MIN_CHECK_INTERVAL,
    Window,
    certificate_id,
    choose_moment,
    is_certificate_id,
    next_check,
    parse_moment,
    parse_renewal_info,
    renewal_info_url,
)
from acme_conf.acme.resources import ProtocolError
from acme_conf.acme.signing_rules import DomainRun, refusal
from acme_conf.ipc import Channel
from acme_conf.keys import public_key_der
from acme_conf.messages.revoke import VERDICT_ASK, VERDICT_CURRENT, VERDICT_DUE
from acme_conf.proc import revokeproc
from acme_conf.proc.revokeproc import Held, examine
from acme_conf.proc.spec import RevokeSettings
from acme_conf.state import KeptRenewal, load_state, renewal_reported, save_state, DomainState

import pki
from pki import NOW

NAMES = ("example.com",)


# the certificate's identifier -------------------------------------------------------------------------


def test_the_identifier_is_the_key_identifier_and_the_serial_in_base64url() -> None:
    # RFC 9773 section 4.1's example: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
    # serial 00:87:65:43:21 (a leading zero byte: the DER integer's content octets)
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    assert certificate_id(aki, 0x87654321) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    assert certificate_id(aki, 0x7F) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.fw"
    assert certificate_id(b"", 5) == ""  # no Authority Key Identifier: no identifier


@pytest.mark.parametrize("value", ["a.b", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"])
def test_an_identifier_looks_like_one(value: str) -> None:
    assert is_certificate_id(value)


@pytest.mark.parametrize("value", ["", "ab", "a.b.c", "a/b.c", "../x.y", "a.b\n", "a" * 151 + ".b", 5, None, "a=.b"])
def test_anything_else_is_no_identifier(value: object) -> None:
    assert not is_certificate_id(value)


def test_the_url_is_the_renewal_info_url_then_the_identifier() -> None:
    assert renewal_info_url("https://ca.example/ari", "a.b") == "https://ca.example/ari/a.b"
    assert renewal_info_url("https://ca.example/ari/", "a.b") == "https://ca.example/ari/a.b"


def test_revokeproc_names_the_certificate_as_the_ca_does() -> None:
    ca = pki.root_authority()
    key = pki.new_key()
    identifier = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    leaf = ca.issue_leaf(key.public_key(), NAMES, extra_extensions=(identifier,))
    judge = revokeproc.load_judge()
    examined = judge(pki.pem(leaf), "cert.pem", NAMES, public_key_der(key), NOW, None)
    assert examined.certificate_id == certificate_id(identifier.key_identifier, leaf.serial_number)
    without = ca.issue_leaf(key.public_key(), NAMES)
    assert judge(pki.pem(without), "cert.pem", NAMES, public_key_der(key), NOW, None).certificate_id == ""
    huge = x509.AuthorityKeyIdentifier(b"k" * 200, None, None)  # no CA's, but a file may hold one: not named
    odd = ca.issue_leaf(key.public_key(), NAMES, extra_extensions=(huge,))
    assert judge(pki.pem(odd), "cert.pem", NAMES, public_key_der(key), NOW, None).certificate_id == ""


# the window, read with suspicion ------------------------------------------------------------------------


def info(start: str, end: str, **more: object) -> bytes:
    return json.dumps({"suggestedWindow": {"start": start, "end": end}, **more}).encode()


def test_a_window_is_read_in_utc_with_its_explanation() -> None:
    read = parse_renewal_info(
        info("2026-12-20T10:00:00Z", "2026-12-21T12:00:00.123456789+02:00", explanationURL="https://ca.example/why"), NOW
    )
    assert read.window == Window(
        datetime(2026, 12, 20, 10, tzinfo=timezone.utc), datetime(2026, 12, 21, 10, 0, 0, 123456, tzinfo=timezone.utc)
    )
    assert read.explanation == "https://ca.example/why"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[]", "not a JSON object"),
        (b"{}", "suggestedWindow"),
        (info("2026-12-21T10:00:00Z", "2026-12-20T10:00:00Z"), "ends before it starts"),
        (info("2026-12-20T10:00:00Z", "2026-12-20T10:00:00Z"), "ends before it starts"),
        (info("2026-12-20", "2026-12-21T10:00:00Z"), "not an RFC 3339 moment"),
        (info("2026-12-20 10:00:00Z", "2026-12-21T10:00:00Z"), "not an RFC 3339 moment"),  # no "T"
        (info("2026-12-20T10:00:00", "2026-12-21T10:00:00Z"), "not an RFC 3339 moment"),  # no offset
        (info("2026-13-20T10:00:00Z", "2026-12-21T10:00:00Z"), "not a moment"),
        (info("2026-12-20T10:00:00Z", "9999-12-31T23:59:59Z"), "more than 400 days away"),
        (info("1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z"), "more than 400 days away"),
        (json.dumps({"suggestedWindow": {"start": 5, "end": None}}).encode(), "not an RFC 3339 moment"),
    ],
)
def test_a_window_that_makes_no_sense_is_refused_saying_why(body: bytes, why: str) -> None:
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    with pytest.raises(ProtocolError, match=why):
        parse_renewal_info(body, now)


def test_an_explanation_that_is_no_https_url_is_left_out() -> None:
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    read = parse_renewal_info(info("2026-12-20T10:00:00Z", "2026-12-21T10:00:00Z", explanationURL="javascript:x"), now)
    assert read.explanation is None


def test_a_moment_parse_refuses_huge_text() -> None:
    with pytest.raises(ProtocolError):
        parse_moment("2026-12-20T10:00:00." + "1" * 100 + "Z", "start")


# the moment, drawn once and kept -------------------------------------------------------------------------


WINDOW = Window(datetime(2026, 12, 20, tzinfo=timezone.utc), datetime(2026, 12, 22, tzinfo=timezone.utc))


def test_a_moment_is_drawn_inside_the_window_and_spread() -> None:
    drawn = {choose_moment(WINDOW, None, None) for _ in range(50)}
    assert all(WINDOW.start <= moment <= WINDOW.end for moment in drawn)
    assert len(drawn) > 45  # random, not the start


def test_the_kept_moment_stays_while_the_window_does_and_is_drawn_again_when_it_moves() -> None:
    kept = WINDOW.start + timedelta(hours=7)
    assert choose_moment(WINDOW, WINDOW, kept) == kept
    moved = Window(WINDOW.start - timedelta(days=10), WINDOW.start - timedelta(days=9))
    assert moved.start <= choose_moment(moved, WINDOW, kept) <= moved.end
    assert choose_moment(WINDOW, WINDOW, WINDOW.end + timedelta(days=1)) != WINDOW.end + timedelta(days=1)


def test_the_next_check_follows_retry_after_within_a_minute_and_a_day() -> None:
    assert next_check(6 * 3600.0, NOW) == NOW + timedelta(hours=6)
    assert next_check(0.0, NOW) == NOW + MIN_CHECK_INTERVAL
    assert next_check(30 * 86400.0, NOW) == NOW + MAX_CHECK_INTERVAL
    assert next_check(None, NOW) == NOW + timedelta(hours=6)


# revokeproc: due, ask, or current ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issued() -> tuple[bytes, str, bytes]:
    """A 90-day certificate issued a day ago, its identifier, and the domain key's public half."""
    ca = pki.root_authority()
    key = pki.new_key()
    identifier = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    leaf = ca.issue_leaf(
        key.public_key(), NAMES, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=89),
        extra_extensions=(identifier,),
    )
    return pki.pem(leaf), certificate_id(identifier.key_identifier, leaf.serial_number), public_key_der(key)


def verdict(issued: tuple[bytes, str, bytes], tmp_path: Path, **kept: object):
    contents, _, key = issued
    ours, theirs = socket.socketpair()
    try:
        channel = Channel(ours, "netproc")
        held = Held(channel, channel, contents, "", revokeproc.load_judge())
        settings = RevokeSettings(str(tmp_path / "cert.pem"), NAMES, False, False)._replace(**kept)
        return examine(held, settings, key, NOW)
    finally:
        ours.close()
        theirs.close()


def test_nothing_kept_for_the_certificate_asks_the_ca(issued, tmp_path: Path) -> None:
    status = verdict(issued, tmp_path)
    assert (status.verdict, status.certificate_id) == (VERDICT_ASK, issued[1])
    other = verdict(issued, tmp_path, kept_certificate="other.cert", next_check=(NOW + timedelta(hours=5)).isoformat())
    assert other.verdict == VERDICT_ASK  # what was kept is for another certificate


def test_before_the_next_check_nothing_is_asked_and_the_kept_moment_decides(issued, tmp_path: Path) -> None:
    later = (NOW + timedelta(hours=5)).isoformat()
    current = verdict(issued, tmp_path, kept_certificate=issued[1], kept_moment=(NOW + timedelta(days=3)).isoformat(), next_check=later)
    assert current.verdict == VERDICT_CURRENT
    assert "the CA's window, ARI" in current.reason
    due = verdict(issued, tmp_path, kept_certificate=issued[1], kept_moment=(NOW - timedelta(minutes=1)).isoformat(), next_check=later)
    assert due.verdict == VERDICT_DUE
    assert "the CA's renewal window (ARI) has opened" in due.reason
    fresh = verdict(issued, tmp_path, kept_certificate="", next_check=later)
    assert fresh.verdict == VERDICT_CURRENT  # the certificate a run just installed


def test_the_decision_order_is_force_names_the_moment_then_the_lifetime(tmp_path: Path) -> None:
    ca = pki.root_authority()
    key = pki.new_key()
    identifier = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    leaf = ca.issue_leaf(key.public_key(), ("other.example",), not_before=NOW - timedelta(days=80),
                         not_after=NOW + timedelta(days=10), extra_extensions=(identifier,))
    named = certificate_id(identifier.key_identifier, leaf.serial_number)
    reached = {"kept_certificate": named, "kept_moment": (NOW - timedelta(hours=1)).isoformat(),
               "next_check": (NOW + timedelta(hours=5)).isoformat()}
    contents = (pki.pem(leaf), named, public_key_der(key))
    assert "names differ" in verdict(contents, tmp_path, **reached).reason  # names first
    assert "-F asks" in verdict(contents, tmp_path, force=True, **reached).reason
    renamed = ca.issue_leaf(key.public_key(), NAMES, not_before=NOW - timedelta(days=80),
                            not_after=NOW + timedelta(days=10), extra_extensions=(identifier,))
    named = certificate_id(identifier.key_identifier, renamed.serial_number)
    contents = (pki.pem(renamed), named, public_key_der(key))
    assert "renewal window (ARI) has opened" in verdict(contents, tmp_path, **{**reached, "kept_certificate": named}).reason
    assert "renewal is due" in verdict(contents, tmp_path).reason  # the lifetime rule, whatever ARI would say


def test_a_moment_kept_for_another_certificate_decides_nothing(issued, tmp_path: Path) -> None:
    status = verdict(issued, tmp_path, kept_certificate="other.cert", kept_moment=(NOW - timedelta(days=1)).isoformat(),
                     next_check=(NOW + timedelta(hours=5)).isoformat())
    assert status.verdict == VERDICT_ASK


def test_once_the_next_check_has_come_the_ca_is_asked_again(issued, tmp_path: Path) -> None:
    status = verdict(issued, tmp_path, kept_certificate=issued[1], kept_moment=(NOW + timedelta(days=3)).isoformat(),
                     next_check=(NOW - timedelta(seconds=1)).isoformat())
    assert status.verdict == VERDICT_ASK


def test_no_renewal_information_neither_asks_nor_follows_a_kept_moment(issued, tmp_path: Path) -> None:
    status = verdict(issued, tmp_path, renewal_information=False)
    assert status.verdict == VERDICT_CURRENT


# the parent: what it keeps of netproc's report ------------------------------------------------------------


def report(**record: object) -> bytes:
    base = {"certificate": "a.b", "next_check": (NOW + timedelta(hours=6)).isoformat(),
            "window": [WINDOW.start.isoformat(), WINDOW.end.isoformat()], "moment": (WINDOW.start + timedelta(hours=1)).isoformat()}
    return json.dumps({"renewal": {**base, **record}}).encode() + b"\n"


def test_a_sound_report_is_kept_and_read_back(tmp_path: Path) -> None:
    kept = renewal_reported(b'{"backoff_until": null}\n' + report(), NOW)
    assert kept == KeptRenewal("a.b", NOW + timedelta(hours=6), (WINDOW.start, WINDOW.end), WINDOW.start + timedelta(hours=1))
    save_state(tmp_path, "example.com", DomainState(renewal=kept))
    assert load_state(tmp_path, "example.com").renewal == kept


@pytest.mark.parametrize(
    "record",
    [
        {"certificate": "../../etc/passwd"},
        {"certificate": "a.b\u001b[2J"},
        {"next_check": "soon"},
        {"next_check": None},
    ],
)
def test_a_report_that_makes_no_sense_keeps_nothing(record: dict) -> None:
    assert renewal_reported(report(**record), NOW) is None


def test_a_moment_outside_its_window_keeps_no_window() -> None:
    kept = renewal_reported(report(moment=(WINDOW.end + timedelta(days=1)).isoformat()), NOW)
    assert kept is not None and (kept.window, kept.moment) == (None, None)
    backwards = renewal_reported(report(window=[WINDOW.end.isoformat(), WINDOW.start.isoformat()]), NOW)
    assert backwards is not None and backwards.window is None


def test_a_next_check_far_ahead_is_believed_a_day_at_most() -> None:
    kept = renewal_reported(report(next_check=(NOW + timedelta(days=300)).isoformat()), NOW)
    assert kept is not None and kept.next_check == NOW + MAX_CHECK_INTERVAL
    unoffered = renewal_reported(report(next_check=(NOW + timedelta(days=300)).isoformat(), window=None, moment=None), NOW)
    assert unoffered is not None and unoffered.next_check == NOW + timedelta(days=7)  # a CA without ARI: weekly


def test_a_state_file_with_a_broken_renewal_record_is_rebuilt(tmp_path: Path, caplog) -> None:
    (tmp_path / "example.com.json").write_text(json.dumps({"backoff_until": None, "renewal": {"certificate": "x/y"}}))
    assert load_state(tmp_path, "example.com") == DomainState()
    assert "is corrupt" in caplog.text


# acctproc: `replaces` in a new order ---------------------------------------------------------------------


ORDER = {"identifiers": [{"type": "dns", "value": "example.com"}]}
RUN = DomainRun("https://ca.example/dir", "", NAMES, "", False, replaces=True)


def test_an_order_may_name_the_certificate_it_replaces() -> None:
    assert refusal(RUN, "https://ca.example/new-order", "kid", json.dumps({**ORDER, "replaces": "a.b"}).encode()) == ""


@pytest.mark.parametrize(
    ("run", "replaces", "why"),
    [
        (RUN._replace(replaces=False), "a.b", "for a domain with no renewal information"),
        (RUN, "a.b/../c", "in a malformed way"),
        (RUN, ["a.b"], "in a malformed way"),
    ],
)
def test_an_order_naming_what_it_replaces_otherwise_is_refused(run: DomainRun, replaces: object, why: str) -> None:
    assert why in refusal(run, "https://ca.example/new-order", "kid", json.dumps({**ORDER, "replaces": replaces}).encode())
