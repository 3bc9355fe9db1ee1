"""-k (the account key changed on demand) and -D (the account deactivated), against pebble with real http-01.

-k keeps the account key as FILE.previous (its kept state says so), a new key
takes its place, and the account's key is changed to it at once; a run that
cannot finish that leaves it to the next run, which does. -D deactivates the
account of the authority it names, and nothing else: pebble then refuses
everything signed with that key.
"""

from __future__ import annotations

import json
import re
import socket

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED


def account_url(stderr: str) -> str:
    found = re.search(r"netproc: (?:created )?account (https://\S+)", stderr)
    assert found is not None, stderr
    return found.group(1)


def kept_previous(workdir, authority: str = "pebble") -> object:
    path = workdir.state_dir / "authorities" / f"{authority}.json"
    return json.loads(path.read_text())["previous_account_key"] if path.exists() else None


def issued(make_testbed, write_conf, run_client, name: str):
    """A pebble of the test's own and a certificate from it: (pebble, handle, configuration, account URL)."""
    pebble = make_testbed()
    handle = f"{name}.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    first = run_client("-v", handle, conf=conf)
    assert first.returncode == EXIT_CHANGED, first.stderr
    return pebble, handle, conf, account_url(first.stderr)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_k_changes_the_account_key_at_once_and_issuance_goes_on_with_it(make_testbed, workdir, write_conf, run_client):
    _, handle, conf, url = issued(make_testbed, write_conf, run_client, "key-now")
    key = workdir.account_key("pebble")
    old = key.read_bytes()
    certificate = workdir.certificate(handle).read_bytes()

    changed = run_client("-v", "-k", "pebble", conf=conf)
    assert changed.returncode == EXIT_CHANGED, changed.stderr
    assert f"account {url}: key changed from the previous account key to the account key" in changed.stderr
    assert f"{handle}: account key changed" in changed.stderr
    assert (key.parent / "pebble.key.previous").read_bytes() == old
    assert key.read_bytes() != old
    assert kept_previous(workdir) is None  # done: forgotten
    assert workdir.certificate(handle).read_bytes() == certificate  # the certificate untouched

    renewed = run_client("-v", "-F", handle, conf=conf)
    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    assert account_url(renewed.stderr) == url and "created account" not in renewed.stderr


def test_a_k_that_cannot_finish_is_finished_by_the_next_run(make_testbed, workdir, write_conf, run_client):
    pebble, handle, conf, url = issued(make_testbed, write_conf, run_client, "key-later")
    good = conf.read_text()
    conf.write_text(good.replace(f":{pebble.ports['acme']}/", f":{closed_port()}/"))
    broken = run_client("-k", "pebble", conf=conf)
    assert broken.returncode == EXIT_FAILED, broken.stderr
    assert kept_previous(workdir) == str(workdir.account_key("pebble")) + ".previous"

    conf.write_text(good)
    finished = run_client("-v", "-F", handle, conf=conf)  # no -k: the kept previous key does it
    assert finished.returncode == EXIT_CHANGED, finished.stderr
    assert f"account {url}: key changed from the previous account key to the account key" in finished.stderr
    assert kept_previous(workdir) is None


def test_k_refuses_when_the_previous_name_is_taken_and_changes_nothing(workdir, write_conf, run_client):
    handle = f"key-taken.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    key = workdir.account_key("pebble")
    before = key.read_bytes()
    (key.parent / "pebble.key.previous").write_text("something of the administrator's\n")
    refused = run_client("-k", "pebble", conf=conf)
    assert refused.returncode == EXIT_FAILED
    assert "pebble.key.previous is in the way" in refused.stderr
    assert key.read_bytes() == before
    assert (key.parent / "pebble.key.previous").read_text() == "something of the administrator's\n"


def test_d_deactivates_the_account_and_later_runs_say_so(make_testbed, workdir, write_conf, run_client):
    _, handle, conf, url = issued(make_testbed, write_conf, run_client, "deactivate")

    deactivated = run_client("-v", "-D", "pebble", conf=conf)
    assert deactivated.returncode == EXIT_CHANGED, deactivated.stderr
    assert f"account {url} deactivated" in deactivated.stderr
    assert f"{handle}: account deactivated" in deactivated.stderr

    after = run_client("-F", handle, conf=conf)
    assert after.returncode == EXIT_FAILED
    assert "deactivated" in after.stderr


def test_account_actions_are_asked_for_by_an_authority_name_and_nothing_else(workdir, write_conf, run_client):
    handle = f"actions.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    unknown = run_client("-D", "letsencrypt", conf=conf)
    assert unknown.returncode == EXIT_FAILED
    assert "authority letsencrypt not found" in unknown.stderr and "(authorities: pebble)" in unknown.stderr
    for argv in (("-D", "pebble", handle), ("-D", "pebble", "-F"), ("-k", "pebble", "-r"), ("-D", "pebble", "-k", "pebble")):
        wrong = run_client(*argv, conf=conf)
        assert wrong.returncode == EXIT_FAILED and "usage:" in wrong.stderr, argv
    assert not workdir.account_key("pebble").exists()  # nothing was created
