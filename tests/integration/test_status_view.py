"""acme-client -l: the status view, against certificates pebble issued and ones made to be expired, missing,
for another key, or no certificate at all; and the last run's result each run keeps (real pebble).

The view judges files the way a run does (a jailed check, or the record one
kept) and must send nothing to the network: every view here is taken with
the authority's URL pointing at a port nothing listens on.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID
from test_issue import EXIT_CHANGED, EXIT_FAILED, EXIT_UNCHANGED, exited

STATUS_CURRENT, STATUS_ERROR, STATUS_ATTENTION = 0, 1, 3


def unreachable(conf: Path) -> Path:
    """The same configuration, its authority's URL a loopback port nothing listens on: a view that spoke would fail."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing answers there
    text = re.sub(r'api url "[^"]*"', f'api url "https://127.0.0.1:{port}/dir"', conf.read_text())
    offline = conf.with_name("offline.conf")
    offline.write_text(text)
    return offline


def rows(table: str) -> dict[str, str]:
    """handle -> its line of the table."""
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["HANDLE", "NAMES", "AUTHORITY"], table
    return {line.split()[0]: line for line in lines[1:]}


def entries(stdout: str) -> dict[str, dict]:
    document = json.loads(stdout)
    assert document["version"] == 1
    return {entry["handle"]: entry for entry in document["domains"]}


def expired_certificate(key_path: Path, names: list[str]) -> bytes:
    """A certificate for the domain key and the configured names, whose lifetime ended yesterday."""
    key = load_pem_private_key(key_path.read_bytes(), None)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=91)).not_valid_after(now - timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_the_status_of_issued_expired_missing_mismatched_and_broken_certificates(workdir, write_conf, run_client):
    issued, expired, mismatched, missing, broken = (
        f"{kind}.status.example.test" for kind in ("issued", "expired", "mismatched", "missing", "broken")
    )
    conf = write_conf(issued, expired, mismatched)
    assert run_client(conf=conf).returncode == EXIT_CHANGED  # three issued by pebble
    workdir.certificate(expired).write_bytes(expired_certificate(workdir.domain_key(expired), [expired]))
    workdir.domain_key(mismatched).write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    offline = unreachable(write_conf(issued, expired, mismatched, missing, broken))
    workdir.certificate(broken).write_text("not a certificate\n")

    view = run_client("-l", "-vv", conf=offline)

    print(view.stdout)  # the table, for whoever runs this with -s
    assert view.returncode == STATUS_ERROR, view.stderr  # the broken one cannot be judged
    table = rows(view.stdout)
    assert set(table) == {issued, expired, mismatched, missing, broken}
    # each file was judged by a jailed check, as a run does: a revokeproc and a keyproc per certificate
    checked = exited(view.stderr)
    for handle in (issued, expired, mismatched, broken):
        assert (handle, "revokeproc") in checked and (handle, "keyproc") in checked, view.stderr
    assert not [role for _, role in checked if role not in ("revokeproc", "keyproc")]  # nothing that speaks to the CA
    assert table[issued].split()[1:4] == [issued, "pebble", "ecdsa"]
    assert re.search(r"\s[0-9]+\s+\S+ \S+\s+lifetime\s+\S+ \S+ changed$", table[issued]), table[issued]
    assert " expired (due)" in table[expired] and " -1 " in table[expired]
    assert " key-mismatch (due)" in table[mismatched]
    assert re.search(rf"^{re.escape(missing)}\s.*\s-\s+-\s+now\s+missing\s+-$", table[missing]), table[missing]
    assert re.search(r"\s-\s+-\s+now\s+unjudged\s", table[broken]), table[broken]
    assert "not a PEM certificate" in view.stderr  # revokeproc said why, relayed

    found = run_client("-l", "--json", "-vv", conf=offline)

    assert found.returncode == STATUS_ERROR
    # every file judged is recognised now, from the record its check kept: only the broken one is checked again
    assert sorted(exited(found.stderr)) == [(broken, "keyproc"), (broken, "revokeproc")]
    domains = entries(found.stdout)
    assert domains[issued]["condition"] == "current" and domains[issued]["renewal"]["rule"] == "lifetime"
    assert domains[issued]["renewal"]["due"] is False and domains[issued]["key_matches"] is True
    not_before, not_after = (datetime.fromisoformat(domains[issued][key]) for key in ("not_before", "not_after"))
    lifetime = not_after - not_before
    assert domains[issued]["days_left"] == (not_after - datetime.now(timezone.utc)).days
    # a third of the lifetime before it ends, a half for ten days or less, and at least three days
    expected = not_after - max(lifetime / (2 if lifetime <= timedelta(days=10) else 3), timedelta(days=3))
    assert datetime.fromisoformat(domains[issued]["renewal"]["due_at"]) == expected
    assert domains[issued]["last_run"]["outcome"] == "changed"
    assert domains[expired]["renewal"] == {
        "due": True, "due_at": domains[expired]["not_after"], "rule": "expired",
        "reason": f"{workdir.certificate(expired)}: certificate expired "
                  f"{datetime.fromisoformat(domains[expired]['not_after']):%Y-%m-%d %H:%M:%S} UTC",
    }
    assert domains[expired]["days_left"] == -1 and domains[expired]["condition"] == "due"
    assert domains[mismatched]["renewal"]["rule"] == "key-mismatch" and domains[mismatched]["key_matches"] is False
    assert domains[missing]["condition"] == "missing" and domains[missing]["not_after"] is None
    assert domains[missing]["last_run"] is None and domains[missing]["days_left"] is None
    assert domains[broken]["condition"] == "unjudged"
    assert "not a PEM certificate" in domains[broken]["renewal"]["reason"]

    workdir.certificate(broken).unlink()
    attention = run_client("-l", conf=offline)
    assert attention.returncode == STATUS_ATTENTION, attention.stderr  # judged, some due
    assert run_client("-l", issued, conf=offline).returncode == STATUS_CURRENT


def test_each_run_keeps_how_it_ended_and_says_so_in_one_line(workdir, write_conf, run_client, tmp_path):
    changed, unchanged, failed = (f"{kind}.last-run.example.test" for kind in ("changed", "unchanged", "failed"))
    assert run_client(conf=write_conf(unchanged)).returncode == EXIT_CHANGED
    conf = write_conf(changed, unchanged, failed)
    unserved = tmp_path / "not-served"  # the web server does not serve it: pebble's validation fails
    unserved.mkdir()
    blocks = conf.read_text().split("\ndomain ")
    conf.write_text("\ndomain ".join(
        re.sub(r'challengedir "[^"]*"', f'challengedir "{unserved}"', block) if block.startswith(failed) else block
        for block in blocks
    ))

    run = run_client("-v", conf=conf)  # with -v the domain with nothing to do says so too

    assert run.returncode == EXIT_FAILED, run.stderr
    summaries = [line for line in run.stderr.splitlines() if re.match(r"acme-client: [a-z.-]+: (certificate updated|nothing to do|failed)", line)]
    assert len(summaries) == 3, run.stderr  # one each
    assert f"acme-client: {changed}: certificate updated ({workdir.certificate(changed)}: no certificate yet)" in summaries
    assert any(line.startswith(f"acme-client: {unchanged}: nothing to do ({workdir.certificate(unchanged)}: certificate valid until ")
               for line in summaries), summaries
    assert any(line.startswith(f"acme-client: {failed}: failed (netproc: ") for line in summaries), summaries

    domains = entries(run_client("-l", "--json", conf=unreachable(conf)).stdout)
    assert [domains[handle]["last_run"]["outcome"] for handle in (changed, unchanged, failed)] == ["changed", "unchanged", "failed"]
    assert domains[changed]["last_run"]["reason"] == f"{workdir.certificate(changed)}: no certificate yet"
    assert domains[failed]["last_run"]["reason"].startswith("netproc: ")
    assert domains[failed]["last_run"]["last_success"] is None  # never yet
    for handle in (changed, unchanged):
        last = domains[handle]["last_run"]
        assert last["last_success"] == last["at"]

    table = run_client("-l", conf=unreachable(conf)).stdout
    print(table)  # for whoever runs this with -s
    shown_rows = rows(table)
    assert shown_rows[changed].endswith(" changed") and shown_rows[unchanged].endswith(" unchanged")
    assert re.search(r" \S+ \S+ failed: netproc: .+$", shown_rows[failed]), shown_rows[failed]

    metrics = tmp_path / "acme.prom"
    shown = run_client("-l", "--prometheus", metrics, conf=unreachable(conf))
    assert shown.returncode == STATUS_ATTENTION, shown.stderr  # the failed one is still missing
    text = metrics.read_text()
    assert f'acme_client_last_run_failed{{handle="{failed}"}} 1' in text
    assert f'acme_client_last_run_failed{{handle="{changed}"}} 0' in text
    assert f'acme_client_certificate_renewal_due{{handle="{failed}"}} 1' in text
    expiry = re.search(rf'acme_client_certificate_expiry_timestamp_seconds{{handle="{re.escape(changed)}"}} (\d+)', text)
    assert expiry and abs(int(expiry.group(1)) - datetime.fromisoformat(domains[changed]["not_after"]).timestamp()) < 1
    assert f'acme_client_last_success_timestamp_seconds{{handle="{failed}"}}' not in text
    assert [entry.name for entry in tmp_path.iterdir() if entry.name.startswith(".acme.prom")] == []  # no temporary left
