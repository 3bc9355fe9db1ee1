"""A CA's back-off kept across runs (rate limits, 503 with Retry-After), with pebble.

pebble does not rate-limit, so the kept state is planted as a run that met
the limit would have left it (the parent writes it from what netproc
reported: tests/adversarial/test_hostile_ca.py drives netproc into a
rateLimited refusal, tests/unit/test_state.py the parent's side).  What is
shown here, end to end: a run before the moment sends nothing and fails,
saying until when; -F asks all the same and, once the CA answered, the
back-off is forgotten; a state file that makes no sense is a warning and
the run goes on.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED, exited


def plant(workdir, handle: str, text: str) -> None:
    workdir.state_dir.mkdir(mode=0o700, exist_ok=True)
    (workdir.state_dir / f"{handle}.json").write_text(text)


def test_a_kept_back_off_sends_nothing_until_its_moment_and_f_asks_anyway(workdir, write_conf, run_client):
    handle = f"backoff.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    until = datetime.now(timezone.utc) + timedelta(hours=3)
    plant(workdir, handle, json.dumps({"backoff_until": until.isoformat()}))

    held = run_client("-vv", handle, conf=conf)
    assert held.returncode == EXIT_FAILED, held.stderr
    assert f"{handle}: the CA asked for no requests until {until:%Y-%m-%d %H:%M:%S} UTC; not asking it before" in held.stderr
    assert exited(held.stderr) == [], held.stderr  # no process started: nothing sent
    assert not workdir.certificate(handle).exists()

    forced = run_client("-F", handle, conf=conf)
    assert forced.returncode == EXIT_CHANGED, forced.stderr
    assert "-F asks anyway" in forced.stderr
    assert json.loads((workdir.state_dir / f"{handle}.json").read_text())["backoff_until"] is None  # forgotten

    assert run_client(handle, conf=conf).returncode == 2  # current, and nothing held back any more


def test_a_domain_not_due_or_a_revocation_is_not_held_back(workdir, write_conf, run_client):
    handle = f"backoff-current.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    state = json.loads((workdir.state_dir / f"{handle}.json").read_text())  # the certificate just installed: ask later
    state["backoff_until"] = (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat()
    plant(workdir, handle, json.dumps(state))
    current = run_client(handle, conf=conf)
    assert current.returncode == 2, current.stderr  # nothing to ask the CA: nothing held back
    assert "asked for no requests" not in current.stderr
    revoked = run_client("-r", handle, conf=conf)
    assert revoked.returncode == EXIT_CHANGED, revoked.stderr  # a revocation is never held back


def test_a_back_off_that_has_passed_or_a_corrupt_state_file_holds_nothing_back(workdir, write_conf, run_client):
    past = f"past.{RUN_TAG}.example.test"
    broken = f"broken.{RUN_TAG}.example.test"
    conf = write_conf(past, broken)
    plant(workdir, past, json.dumps({"backoff_until": (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()}))
    plant(workdir, broken, '{"backoff_until": "next tuesday"')
    result = run_client(conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert f"{broken}: state file" in result.stderr and "is corrupt" in result.stderr
    assert workdir.certificate(past).exists() and workdir.certificate(broken).exists()
    again = run_client(conf=conf)
    assert again.returncode == 2 and "corrupt" not in again.stderr, again.stderr  # rebuilt: said once
