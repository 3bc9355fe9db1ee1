"""The CA's renewal information (ARI, RFC 9773) followed across runs, with pebble and real http-01.

pebble answers renewalInfo with a window two thirds into the certificate's
lifetime, a window an hour ago for a certificate it has revoked, and whatever
its management API was told for a certificate (set-renewal-info); its
Retry-After is always six hours.  Time does not pass in a test: where a
run would come hours later, the kept next check is moved into the past in
the state file, as the clock would have done.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, exited

EXIT_UNCHANGED = 2


def kept(workdir, handle: str) -> dict:
    return json.loads((workdir.state_dir / f"{handle}.json").read_text())


def hours_pass(workdir, handle: str) -> None:
    """The kept time to ask again has come (as six hours later)."""
    state = kept(workdir, handle)
    state["renewal"]["next_check"] = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    (workdir.state_dir / f"{handle}.json").write_text(json.dumps(state))


def leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def window(start: timedelta, end: timedelta) -> dict:
    now = datetime.now(timezone.utc)
    return {"suggestedWindow": {"start": (now + start).isoformat(), "end": (now + end).isoformat()}}


def test_the_window_is_asked_kept_and_honoured_then_a_renewal_names_what_it_replaces(testbed, workdir, write_conf, run_client):
    handle = f"ari.{RUN_TAG}.example.test"
    conf = write_conf(handle, profile="default")  # 90 days (pebble picks a profile at random when none is named)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    first = leaf(workdir.certificate(handle))
    assert kept(workdir, handle)["renewal"]["certificate"] == ""  # just installed: not asked about for hours

    quiet = run_client("-vv", handle, conf=conf)
    assert quiet.returncode == EXIT_UNCHANGED, quiet.stderr
    assert sorted(role for _, role in exited(quiet.stderr)) == ["keyproc", "revokeproc"]  # the check alone: nothing sent

    hours_pass(workdir, handle)
    asked = run_client("-v", handle, conf=conf)
    assert asked.returncode == EXIT_UNCHANGED, asked.stderr
    assert "asking the CA's renewal information" in asked.stderr
    assert "the CA suggests renewal from" in asked.stderr and "renewal due from" in asked.stderr
    renewal = kept(workdir, handle)["renewal"]
    start, end = (datetime.fromisoformat(moment) for moment in renewal["window"])
    assert start <= datetime.fromisoformat(renewal["moment"]) <= end
    assert start > datetime.now(timezone.utc) + timedelta(days=50)  # two thirds into 90 days
    next_check = datetime.fromisoformat(renewal["next_check"]) - datetime.now(timezone.utc)
    assert timedelta(hours=5) < next_check <= timedelta(hours=6)  # pebble's Retry-After, kept
    assert renewal["certificate"].endswith(".") is False and "." in renewal["certificate"]

    again = run_client("-vv", handle, conf=conf)
    assert again.returncode == EXIT_UNCHANGED, again.stderr
    assert exited(again.stderr) == []  # before the next check: the file recognised, nothing started, nothing sent
    assert f"(the CA's window, ARI: {datetime.fromisoformat(renewal['moment']):%Y-%m-%d %H:%M:%S} UTC; lifetime: " in again.stderr

    hours_pass(workdir, handle)
    same = run_client(handle, conf=conf)  # asked again: the same window, the same moment
    assert same.returncode == EXIT_UNCHANGED, same.stderr
    assert kept(workdir, handle)["renewal"]["moment"] == renewal["moment"]

    testbed.set_renewal_info(workdir.certificate(handle).read_text(), window(timedelta(hours=-2), timedelta(hours=-1)))
    hours_pass(workdir, handle)
    replacements = testbed.pebble_log.count("is a replacement of")
    renewed = run_client("-v", handle, conf=conf)
    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    assert "renewal due since" in renewed.stderr
    assert leaf(workdir.certificate(handle)).serial_number != first.serial_number
    if first.serial_number.bit_length() % 8:
        assert testbed.pebble_log.count("is a replacement of") == replacements + 1, renewed.stderr  # named what it replaces
        assert "refused the order as a renewal" not in renewed.stderr
    else:  # RFC 9773 names it with the DER integer's leading zero; pebble looks serials up without one (about 1 in 128)
        assert "refused the order as a renewal" in renewed.stderr, renewed.stderr


def test_a_certificate_revoked_at_the_ca_is_renewed_on_the_next_run(testbed, workdir, write_conf, run_client):
    handle = f"ari-revoked.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    first = leaf(workdir.certificate(handle))
    # Revoked elsewhere (with the domain key, from a copy): the files and the state here stay as they are.
    elsewhere = workdir.root / "elsewhere"
    shutil.copytree(workdir.cert_dir, elsewhere / "certs")
    (elsewhere / "acme-client.conf").write_text(conf.read_text().replace(str(workdir.cert_dir), str(elsewhere / "certs")))
    revoked = run_client("-K", handle, conf=elsewhere / "acme-client.conf", env={"ACME_CLIENT_STATE_DIR": str(elsewhere / "state")})
    assert revoked.returncode == EXIT_CHANGED, revoked.stderr
    assert workdir.certificate(handle).exists()

    hours_pass(workdir, handle)
    renewed = run_client("-v", handle, conf=conf)
    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    assert "renewal due since" in renewed.stderr
    assert leaf(workdir.certificate(handle)).serial_number != first.serial_number


def test_a_refused_replacement_is_ordered_again_without_replaces(testbed, workdir, write_conf, run_client):
    handle = f"ari-replaced.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    original = workdir.certificate(handle).read_bytes()
    assert run_client("-F", handle, conf=conf).returncode == EXIT_CHANGED  # replaces the original
    workdir.certificate(handle).chmod(0o644)
    workdir.certificate(handle).write_bytes(original)  # restored from a backup: already replaced at the CA

    forced = run_client("-F", handle, conf=conf)
    assert forced.returncode == EXIT_CHANGED, forced.stderr
    assert "refused the order as a renewal of the certificate" in forced.stderr and "alreadyReplaced" in forced.stderr


def test_no_renewal_information_asks_nothing_and_names_nothing(testbed, workdir, write_conf, run_client):
    handle = f"no-ari.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    conf.write_text(conf.read_text().replace("\tsign with pebble\n", "\tsign with pebble\n\tno renewal information\n"))
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    state = workdir.state_dir / f"{handle}.json"
    state.write_text(json.dumps({"backoff_until": None, "renewal": None}))  # nothing kept: ARI would ask now
    quiet = run_client("-vv", handle, conf=conf)
    assert quiet.returncode == EXIT_UNCHANGED, quiet.stderr
    assert sorted(role for _, role in exited(quiet.stderr)) == ["keyproc", "revokeproc"]
    replacements = testbed.pebble_log.count("is a replacement of")
    forced = run_client("-F", handle, conf=conf)
    assert forced.returncode == EXIT_CHANGED, forced.stderr
    assert testbed.pebble_log.count("is a replacement of") == replacements  # no order named what it replaces
