"""The real netproc asking a hostile CA's renewal information (ARI, RFC 9773).

Whatever the CA answers, a certificate that revokeproc found current by the
lifetime rule is never a failed run: a window that opened is a renewal
naming what it replaces; one still ahead, or an answer that cannot be used,
is nothing sent but the GET, a warning, and a next check the parent keeps
(clamped); a refusal of `replaces` is an order sent once more without it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from acme_conf.acme.renewal_info import MAX_CHECK_INTERVAL
from acme_conf.messages.certificate import CertBundle
from acme_conf.messages.revoke import VERDICT_ASK, VERDICT_DUE, CertStatus
from acme_conf.state import renewal_reported

from hostile_ca import HostileCA, Reply, Seen, json_reply, problem

CERTIFICATE_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
ASK = CertStatus(VERDICT_ASK, "current; asking", b"der", CERTIFICATE_ID)


@pytest.fixture
def ari_ca(hostile_ca: HostileCA) -> HostileCA:
    """The hostile CA with renewal information at /ari, answering a window that opened an hour ago."""

    def directory(ca: HostileCA, seen: Seen) -> Reply:
        value = json.loads(HostileCA.directory(ca, seen).body)
        return json_reply({**value, "renewalInfo": f"{ca.base}/ari"})

    hostile_ca.routes["/dir"] = directory
    answer(hostile_ca, window(-2, -1), **{"Retry-After": "21600"})
    return hostile_ca


def window(start_hours: float, end_hours: float, **more: object) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "suggestedWindow": {
            "start": (now + timedelta(hours=start_hours)).isoformat(),
            "end": (now + timedelta(hours=end_hours)).isoformat(),
        },
        **more,
    }


def answer(ca: HostileCA, value: object, status: int = 200, **headers: str) -> None:
    ca.routes[f"/ari/{CERTIFICATE_ID}"] = lambda _ca, _seen: json_reply(value, status, **headers)


@pytest.fixture
def report() -> Iterator[int]:
    fd = os.memfd_create("test-report")
    yield fd
    os.close(fd)


def reported(fd: int) -> list[dict]:
    return [json.loads(line) for line in os.pread(fd, 65536, 0).splitlines()]


def orders(ca: HostileCA) -> list[dict]:
    return [seen.payload for seen in ca.seen if seen.method == "POST" and seen.path == "/order/new"]


def kept_next_check(fd: int) -> timedelta:
    kept = renewal_reported(os.pread(fd, 65536, 0), datetime.now(timezone.utc))
    assert kept is not None and kept.certificate == CERTIFICATE_ID
    return kept.next_check - datetime.now(timezone.utc)


def test_an_open_window_is_a_renewal_that_names_what_it_replaces(drive, ari_ca: HostileCA, report: int) -> None:
    outcome = drive(verdict=ASK, report_fd=report)
    assert outcome.error is None, outcome.error
    assert isinstance(outcome.to_certproc[0], CertBundle)
    assert [order.get("replaces") for order in orders(ari_ca)] == [CERTIFICATE_ID]
    renewal = reported(report)[0]["renewal"]
    start, end = (datetime.fromisoformat(moment) for moment in renewal["window"])
    assert start <= datetime.fromisoformat(renewal["moment"]) <= end <= datetime.now(timezone.utc)
    assert timedelta(hours=5, minutes=59) < kept_next_check(report) <= timedelta(hours=6)


def test_a_window_ahead_sends_nothing_more_and_keeps_its_moment(drive, ari_ca: HostileCA, report: int, caplog) -> None:
    answer(ari_ca, window(48, 72, explanationURL="https://ca.example/why\u001b[2J"))
    with caplog.at_level(logging.INFO, "acme_conf"):
        outcome = drive(verdict=ASK, report_fd=report)
    assert outcome.error is None and outcome.to_certproc == []
    assert [seen.method for seen in ari_ca.seen] == ["GET", "GET"]  # the directory and the renewal information
    assert "the CA suggests renewal from" in caplog.text
    assert "\u001b" not in caplog.text
    moment = reported(report)[0]["renewal"]["moment"]
    start, end = reported(report)[0]["renewal"]["window"]

    again = os.memfd_create("again")
    try:
        drive(verdict=ASK, report_fd=again, kept_window=(CERTIFICATE_ID, start, end, moment))
        assert reported(again)[0]["renewal"]["moment"] == moment  # the same window: the same moment
    finally:
        os.close(again)


def test_the_cas_explanation_is_shown(drive, ari_ca: HostileCA, caplog) -> None:
    answer(ari_ca, window(48, 72, explanationURL="https://ca.example/incident-2026"))
    with caplog.at_level(logging.INFO, "acme_conf"):
        assert drive(verdict=ASK).error is None
    assert "the CA explains its renewal window at https://ca.example/incident-2026" in caplog.text


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (json_reply({"suggestedWindow": {"start": "2026-12-20T10:00:00Z", "end": "2026-12-19T10:00:00Z"}}), "ends before it starts"),
        (json_reply({"suggestedWindow": {"start": "soon", "end": "later"}}), "not an RFC 3339 moment"),
        (json_reply({"window": 1}), "suggestedWindow"),
        (json_reply(["a"]), "not a JSON object"),
        (Reply(200, b"\xff\xfe{", "application/json"), "not JSON"),
        (Reply(200, b"{" * 100_000, "application/json"), "not JSON"),
        (problem("malformed", "no such certificate", 404), "HTTP 404"),
        (json_reply({"suggestedWindow": {"start": "2026-12-20T10:00:00Z", "end": "9999-12-31T00:00:00Z"}}), "400 days"),
    ],
    ids=["backwards", "not-moments", "no-window", "array", "not-utf8", "deep", "404", "far"],
)
def test_an_answer_that_cannot_be_used_is_a_warning_and_the_lifetime_rule(
    drive, ari_ca: HostileCA, report: int, caplog, reply: Reply, why: str
) -> None:
    ari_ca.routes[f"/ari/{CERTIFICATE_ID}"] = lambda _ca, _seen: reply
    with caplog.at_level(logging.WARNING, "acme_conf"):
        outcome = drive(verdict=ASK, report_fd=report)
    assert outcome.error is None and outcome.to_certproc == [] and orders(ari_ca) == []
    assert "renewal information:" in caplog.text and why in caplog.text and "the lifetime rule decides" in caplog.text
    assert timedelta(hours=5, minutes=59) < kept_next_check(report) <= timedelta(hours=6)


@pytest.mark.parametrize(("header", "expected"), [("999999999", MAX_CHECK_INTERVAL), ("0", timedelta(minutes=1)),
                                                 ("-5", timedelta(hours=6)), ("\u00b9\u00b2", timedelta(hours=6))])
def test_retry_after_is_clamped_to_a_minute_and_a_day(
    drive, ari_ca: HostileCA, report: int, header: str, expected: timedelta
) -> None:
    answer(ari_ca, window(48, 72), **{"Retry-After": header})
    assert drive(verdict=ASK, report_fd=report).error is None
    assert expected - timedelta(seconds=30) < kept_next_check(report) <= expected


def test_a_rate_limited_renewal_information_keeps_a_back_off(drive, ari_ca: HostileCA, report: int) -> None:
    ari_ca.routes[f"/ari/{CERTIFICATE_ID}"] = lambda _ca, _seen: dataclasses.replace(
        problem("rateLimited", "slow down", 429), headers=(("Retry-After", "3600"),)
    )
    assert drive(verdict=ASK, report_fd=report).error is None
    backoff = [line["backoff_until"] for line in reported(report) if "backoff_until" in line]
    assert len(backoff) == 1
    assert timedelta(minutes=59) < datetime.fromisoformat(backoff[0]) - datetime.now(timezone.utc) <= timedelta(hours=1)


def test_a_ca_without_renewal_information_is_asked_again_in_a_week(drive, hostile_ca: HostileCA, report: int, caplog) -> None:
    with caplog.at_level(logging.WARNING, "acme_conf"):
        outcome = drive(verdict=ASK, report_fd=report)
    assert outcome.error is None and orders(hostile_ca) == []
    assert "the CA offers no renewal information" in caplog.text
    assert timedelta(days=6, hours=23) < kept_next_check(report) <= timedelta(days=7)


def test_a_refused_replacement_is_ordered_once_more_without(drive, ari_ca: HostileCA, caplog) -> None:
    def refuse_replaces(ca: HostileCA, seen: Seen) -> Reply:
        if isinstance(seen.payload, dict) and "replaces" in seen.payload:
            return problem("alreadyReplaced", "that one was replaced already", 409)
        return HostileCA.new_order(ca, seen)

    ari_ca.routes["/order/new"] = refuse_replaces
    with caplog.at_level(logging.WARNING, "acme_conf"):
        outcome = drive(verdict=CertStatus(VERDICT_DUE, "due", b"der", CERTIFICATE_ID))
    assert outcome.error is None, outcome.error
    assert [order.get("replaces") for order in orders(ari_ca)] == [CERTIFICATE_ID, None]
    assert "alreadyReplaced" in caplog.text


@pytest.mark.parametrize(("kind", "status"), [("rateLimited", 429), ("rateLimited", 400), ("serverInternal", 503)])
def test_a_rate_limit_or_an_outage_on_a_replacing_order_is_not_retried(drive, ari_ca: HostileCA, kind: str, status: int) -> None:
    ari_ca.routes["/order/new"] = lambda _ca, _seen: problem(kind, "not now", status)
    outcome = drive(verdict=CertStatus(VERDICT_DUE, "due", b"der", CERTIFICATE_ID))
    assert kind in outcome.raised()
    assert len(orders(ari_ca)) == 1


def test_a_domain_without_renewal_information_names_nothing_and_refuses_to_ask(drive, ari_ca: HostileCA) -> None:
    outcome = drive(verdict=CertStatus(VERDICT_DUE, "due", b"der", CERTIFICATE_ID), renewal_information=False)
    assert outcome.error is None, outcome.error
    assert [order.get("replaces") for order in orders(ari_ca)] == [None]
    refused = drive(verdict=ASK, renewal_information=False)
    assert "revokeproc answered 'ask', which this run did not ask for" in refused.raised()


def test_a_directory_down_for_a_day_keeps_the_back_off_and_asks_nothing_before(drive, ari_ca: HostileCA, report: int) -> None:
    ari_ca.routes["/dir"] = lambda _ca, _seen: dataclasses.replace(
        problem("serverInternal", "maintenance", 503), headers=(("Retry-After", "86400"),)
    )
    assert drive(verdict=ASK, report_fd=report).error is None  # an ARI problem is never a failed run
    backoff = [datetime.fromisoformat(line["backoff_until"]) for line in reported(report) if "backoff_until" in line]
    assert len(backoff) == 1
    assert kept_next_check(report) >= backoff[0] - datetime.now(timezone.utc) - timedelta(seconds=5)


def test_a_certificate_named_in_a_malformed_way_is_not_asked_about(drive, ari_ca: HostileCA) -> None:
    outcome = drive(verdict=CertStatus(VERDICT_ASK, "current; asking", b"der", "../../admin.x"))
    assert "revokeproc named the certificate in a malformed way" in outcome.raised()
    assert [seen.path for seen in ari_ca.seen] == []  # nothing sent
