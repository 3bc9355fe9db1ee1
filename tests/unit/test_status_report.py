"""The status view's outlook (which rule decides, from when), its table, its JSON (the schema acme-client(1)
documents), its Prometheus file, and its exit status, from kept records as the parent holds them."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acme_conf.proc import status_report
from acme_conf.proc.renewal_outlook import RULES, judged, missing, unjudged
from acme_conf.proc.status_view import DomainStatus
from acme_conf.state import DomainState, KeptRenewal, KnownCertificate, LastRun

from test_spec_settings import JOB

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
NAMES = ("example.com", "www.example.com")
ARI_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
TOP_KEYS = {"version", "generated", "domains"}
ENTRY_KEYS = {
    "handle", "names", "authority", "key_type", "key_size", "certificate", "condition", "not_before", "not_after",
    "days_left", "key_matches", "renewal", "ari", "backoff_until", "last_run",
}


def known(*, age: timedelta = timedelta(days=10), lifetime: timedelta = timedelta(days=90), names=NAMES,
          key_matches: bool = True, certificate_id: str = ARI_ID) -> KnownCertificate:
    return KnownCertificate("ab" * 32, NOW - age, NOW - age + lifetime, names, key_matches, certificate_id, "key note")


JOB_HERE = replace(JOB, handle="example.com", names=NAMES)


def status(record: KnownCertificate | None, kept: DomainState = DomainState(), path: str = "/certs/example.com.crt") -> DomainStatus:
    outlook = judged(JOB_HERE, path, record, kept, NOW) if record is not None else missing(path)
    return DomainStatus(JOB_HERE, path, record, outlook, replace(kept, certificate=record))


@pytest.mark.parametrize(
    ("record", "rule", "due"),
    [
        (known(), "lifetime", False),
        (known(age=timedelta(days=70)), "lifetime", True),
        (known(age=timedelta(days=91)), "expired", True),
        (known(key_matches=False), "key-mismatch", True),
        (known(names=("example.com",)), "names-changed", True),
        (known(lifetime=timedelta(days=500)), "too-long", True),
    ],
)
def test_the_rule_that_decides_is_named(record: KnownCertificate, rule: str, due: bool) -> None:
    outlook = judged(JOB_HERE, "/c", record, DomainState(), NOW)
    assert (outlook.rule, outlook.due) == (rule, due) and rule in RULES
    assert outlook.reason.startswith("/c: ")


def test_the_lifetime_rule_says_from_when() -> None:
    record = known()  # 90 days from 10 days ago: due a third before the end, 50 days from now
    assert judged(JOB_HERE, "/c", record, DomainState(), NOW).due_at == record.not_after - timedelta(days=30)
    short = known(age=timedelta(days=1), lifetime=timedelta(days=6))  # ten days or less: a half, at least three days
    assert judged(JOB_HERE, "/c", short, DomainState(), NOW).due_at == short.not_after - timedelta(days=3)


def test_an_ari_moment_before_the_lifetime_rule_decides_but_only_for_its_certificate() -> None:
    record = known()
    moment = NOW + timedelta(days=5)
    advice = KeptRenewal(ARI_ID, NOW + timedelta(hours=6), (NOW, NOW + timedelta(days=10)), moment)
    outlook = judged(JOB_HERE, "/c", record, DomainState(renewal=advice), NOW)
    assert (outlook.rule, outlook.due, outlook.due_at) == ("ari", False, moment)
    opened = judged(JOB_HERE, "/c", record, DomainState(renewal=replace(advice, moment=NOW - timedelta(hours=1))), NOW)
    assert (opened.rule, opened.due) == ("ari", True)
    other = judged(JOB_HERE, "/c", record, DomainState(renewal=replace(advice, certificate="b3RoZXI.AIdlQyE")), NOW)
    assert other.rule == "lifetime"  # drawn for another certificate: not this one's
    off = judged(replace(JOB_HERE, renewal_information=False), "/c", record, DomainState(renewal=advice), NOW)
    assert off.rule == "lifetime"  # `no renewal information`


def test_the_json_document_follows_its_schema() -> None:
    last = LastRun(NOW - timedelta(hours=1), "failed", "netproc: order invalid", NOW - timedelta(days=1))
    backoff = NOW + timedelta(hours=2)
    statuses = [
        status(known(), DomainState(last_run=last, backoff_until=backoff)),
        status(None),
        DomainStatus(JOB_HERE, "/c", None, unjudged("/c", "revokeproc: /c: not a PEM certificate"), DomainState()),
    ]
    document = json.loads(status_report.document(statuses, NOW))
    assert set(document) == TOP_KEYS and document["version"] == 1 and document["generated"] == "2026-12-07T12:00:00Z"
    current, absent, broken = document["domains"]
    for entry in document["domains"]:
        assert set(entry) == ENTRY_KEYS
        assert set(entry["renewal"]) == {"due", "due_at", "rule", "reason"} and entry["renewal"]["rule"] in RULES
    assert current["names"] == list(NAMES) and current["authority"] == JOB.authority.name
    assert (current["condition"], current["days_left"], current["key_matches"]) == ("current", 80, True)
    assert current["not_after"] == "2027-02-25T12:00:00Z" and current["renewal"]["due_at"] == "2027-01-26T12:00:00Z"
    assert current["backoff_until"] == "2026-12-07T14:00:00Z" and current["ari"] is None
    assert current["last_run"] == {"at": "2026-12-07T11:00:00Z", "outcome": "failed", "reason": "netproc: order invalid",
                                   "last_success": "2026-12-06T12:00:00Z"}
    assert (absent["condition"], absent["not_after"], absent["days_left"], absent["last_run"]) == ("missing", None, None, None)
    assert absent["renewal"] == {"due": True, "due_at": None, "rule": "missing", "reason": "/certs/example.com.crt: no certificate yet"}
    assert broken["condition"] == "unjudged" and "not a PEM certificate" in broken["renewal"]["reason"]


def test_the_exit_status_says_whether_anything_needs_attention() -> None:
    assert status_report.exit_status([status(known())]) == status_report.EXIT_CURRENT == 0
    assert status_report.exit_status([status(known()), status(None)]) == status_report.EXIT_ATTENTION == 3
    assert status_report.exit_status([status(known(age=timedelta(days=91)))]) == 3
    broken = DomainStatus(JOB_HERE, "/c", None, unjudged("/c", "why"), DomainState())
    assert status_report.exit_status([status(None), broken]) == status_report.EXIT_ERROR == 1
    assert status_report.exit_status([]) == 0


def test_the_table_has_a_line_per_domain_under_its_header() -> None:
    last = LastRun(NOW - timedelta(hours=1), "failed", "netproc: order invalid", None)
    lines = status_report.table([status(known(), DomainState(last_run=last)), status(None)], NOW).splitlines()
    assert lines[0].split() == ["HANDLE", "NAMES", "AUTHORITY", "KEY", "EXPIRES", "DAYS", "RENEWAL", "WHY", "LAST", "RUN"]
    assert lines[1].split() == ["example.com", "example.com,www.example.com", JOB.authority.name, JOB.keytype.value,
                                "2027-02-25", "12:00", "80", "2027-01-26", "12:00", "lifetime",
                                "2026-12-07", "11:00", "failed:", "netproc:", "order", "invalid"]
    assert lines[2].split()[4:] == ["-", "-", "now", "missing", "-"]
    assert lines[1].index("AUTHORITY"[:0] + JOB.authority.name) == lines[0].index("AUTHORITY")  # aligned


def test_the_prometheus_file_is_written_whole(tmp_path: Path) -> None:
    last = LastRun(NOW, "unchanged", "", NOW)
    text = status_report.prometheus([status(known(), DomainState(last_run=last)), replace(status(None), job=replace(JOB_HERE, handle='a"b'))])
    assert 'acme_client_certificate_expiry_timestamp_seconds{handle="example.com"} 1803556800\n' in text
    assert 'acme_client_certificate_renewal_due{handle="example.com"} 0\n' in text
    assert 'acme_client_certificate_renewal_due{handle="a\\"b"} 1\n' in text  # a label is quoted
    assert f'acme_client_last_success_timestamp_seconds{{handle="example.com"}} {NOW.timestamp():.0f}\n' in text
    assert 'acme_client_last_run_failed{handle="example.com"} 0\n' in text
    assert "a\\\"b\"} 1803556800" not in text and text.count("# TYPE ") == 4
    target = tmp_path / "acme.prom"
    target.write_text("the old metrics\n")
    previous = os.umask(0o077)  # as the systemd units set it
    try:
        status_report.write_whole(target, text)
    finally:
        os.umask(previous)
    assert target.read_text() == text and os.listdir(tmp_path) == ["acme.prom"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # readable by the collector, whatever the umask
    with pytest.raises(OSError):
        status_report.write_whole(tmp_path / "nowhere" / "acme.prom", text)
