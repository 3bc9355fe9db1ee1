"""The run hooks, `hook changed` and `hook failed`, against pebble with real validation.

One run has a domain renewed (changed), one current (unchanged) and one
whose challenge directory pebble's HTTP server does not serve (failed, for
real: the CA finds no answer). The hook is a shell script that keeps what
it was given in a directory any user may write (as root, the hook is
another user): its standard input, its environment, its uid, and what it
sees of the keys and certificates.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import threading
import time
from pathlib import Path

from integration_common import RUN_TAG, validate_another_way
from test_dns_hook import processes_with, write_hook
from test_issue import EXIT_CHANGED, EXIT_FAILED, child_processes
from test_unprivileged import USER, home, run_as_user  # noqa: F401  (home is a fixture)

EXIT_UNCHANGED = 2
SHELL_VARIABLES = {"PWD", "SHLVL", "_", "OLDPWD"}  # what sh itself sets


def shared_directory(root: Path) -> Path:
    """Where the hook, as another user when run by root, may write what it saw."""
    seen = root / "seen"
    seen.mkdir()
    seen.chmod(0o1777)
    return seen


def recording_hook(workdir, seen: Path, extra: str = "") -> Path:
    """A hook that keeps its input, environment, user and view in `seen`, under the event's name."""
    looks = (
        f'e="{seen}/$ACME_CLIENT_HOOK"\n'
        'cat > "$e.json"\n'
        'env > "$e.env"\n'
        'id -un > "$e.user"\n'
        'echo "$@" > "$e.argv"\n'
        f'ls -A {workdir.key_dir} > "$e.keys" 2>&1\n'
        f'( : > {workdir.cert_dir}/planted ) 2> "$e.write"\n'
        'grep -E "^(NoNewPrivs|CapEff|CapPrm):" /proc/self/status > "$e.status"\n'
        'for fd in /proc/$$/fd/*; do readlink "$fd"; done > "$e.fds"\n'
    )
    return write_hook(workdir.root, "hook", looks + extra + "exit 0\n")


def domain_entry(workdir, handle: str, names: list[str], result: str) -> dict:
    return {
        "handle": handle,
        "names": names,
        "authority": "pebble",
        "result": result,
        "reason": "",
        "files": {"certificate": str(workdir.certificate(handle)), "fullchain": str(workdir.fullchain(handle))},
    }


def document(seen: Path, event: str) -> dict:
    """What the hook read on its standard input, each `reason` checked to be one printable line and then set aside.

    The reasons are filled in by the chains' results (proc/reports.py); what
    each says is tested where it is made.
    """
    found = json.loads((seen / f"{event}.json").read_text())
    for result in ("changed", "unchanged", "failed"):
        for entry in found[result]:
            reason = entry["reason"]
            assert isinstance(reason, str) and reason.isprintable() and reason.isascii(), reason
            entry["reason"] = ""
    return found


def test_one_run_with_a_changed_an_unchanged_and_a_failed_domain(testbed, workdir, write_conf, run_client):
    changed, unchanged, failed = (f"{word}.hook-{RUN_TAG}.example.test" for word in ("renewed", "current", "failing"))
    seen = shared_directory(workdir.root)
    hook = recording_hook(workdir, seen)
    hooks = f'hook changed "{hook}" reload "web server" timeout 30\nhook failed "{hook}"\n'
    first = write_conf(unchanged, filename="first.conf", extra=hooks)
    assert run_client(unchanged, conf=first).returncode == EXIT_CHANGED
    assert json.loads((seen / "changed.json").read_text())["changed"][0]["handle"] == unchanged
    for each in seen.iterdir():
        each.unlink()

    conf = write_conf(unchanged, failed, [changed, f"www.{changed}"], extra=hooks)
    unserved = workdir.root / "unserved"
    unserved.mkdir()
    validate_another_way(conf, f'challengedir "{unserved}"', failed)  # pebble's HTTP server serves another directory
    result = run_client("-v", conf=conf, timeout=240)

    assert result.returncode == EXIT_FAILED, result.stderr
    expected = {
        "version": 1,
        "hook": "changed",
        "status": 1,
        "changed": [domain_entry(workdir, changed, [changed, f"www.{changed}"], "changed")],
        "unchanged": [domain_entry(workdir, unchanged, [unchanged], "unchanged")],
        "failed": [domain_entry(workdir, failed, [failed], "failed")],
    }
    assert document(seen, "changed") == expected
    assert document(seen, "failed") == {**expected, "hook": "failed"}
    assert (seen / "changed.argv").read_text() == "reload web server\n"  # each word one argument, no shell
    assert (seen / "failed.argv").read_text() == "\n"
    assert "acme-client: run: running hook changed" in result.stderr
    assert result.stderr.index("running hook changed") < result.stderr.index("running hook failed")
    assert workdir.certificate(changed).exists() and not workdir.certificate(failed).exists()

    for event in ("changed", "failed"):
        names = {line.split("=", 1)[0] for line in (seen / f"{event}.env").read_text().splitlines()}
        assert names - SHELL_VARIABLES == {"PATH", "ACME_CLIENT_HOOK"}, names  # nothing of acme-client's
        assert (seen / f"{event}.keys").read_text() == ""  # the keys' directory is empty in its view
        assert "Read-only file system" in (seen / f"{event}.write").read_text()
        if os.geteuid() == 0:
            assert (seen / f"{event}.user").read_text().strip() != "root"
        status = dict(line.split(":\t") for line in (seen / f"{event}.status").read_text().splitlines())
        assert status == {"NoNewPrivs": "1", "CapPrm": "0000000000000000", "CapEff": "0000000000000000"}
        # the shell's own (its script, the file it writes to) and its standard streams (pipes): nothing of the parent's
        open_files = set((seen / f"{event}.fds").read_text().split())
        assert {name for name in open_files if not name.startswith("pipe:")} <= {str(hook), str(seen / f"{event}.fds")}, open_files
    assert os.listdir(workdir.key_dir)  # there all the same
    assert not (workdir.cert_dir / "planted").exists()


def test_no_hook_runs_when_nothing_changed_or_failed_nor_with_n(testbed, workdir, write_conf, run_client):
    handle = f"quiet.hook-{RUN_TAG}.example.test"
    seen = shared_directory(workdir.root)
    hook = recording_hook(workdir, seen)
    conf = write_conf(handle, extra=f'hook changed "{hook}"\nhook failed "{hook}"\n')
    assert run_client("-n", conf=conf).returncode == 0
    assert list(seen.iterdir()) == []
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    assert (seen / "changed.json").exists() and not (seen / "failed.json").exists()
    (seen / "changed.json").unlink()
    again = run_client("-v", handle, conf=conf)
    assert again.returncode == EXIT_UNCHANGED, again.stderr
    assert "running hook" not in again.stderr and list(seen.glob("*.json")) == []


def test_a_failing_hook_fails_the_run_and_leaves_the_certificate_installed(testbed, workdir, write_conf, run_client):
    handle = f"hook-fails.hook-{RUN_TAG}.example.test"
    hook = write_hook(workdir.root, "hook", "cat > /dev/null\nprintf 'nginx: reload refused\\033[2J\\n'\nexit 3\n")
    conf = write_conf(handle, extra=f'hook changed "{hook}"\n')
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f"acme-client: run: runhookproc: hook changed: {hook} failed (exit status 3): nginx: reload refused" in result.stderr
    assert "\033" not in result.stderr  # the program's last line is made safe to print
    assert "acme-client: run: hook changed failed: the run fails; the certificates installed stay" in result.stderr
    assert workdir.certificate(handle).exists() and workdir.fullchain(handle).exists()
    assert run_client(handle, conf=conf).returncode == EXIT_UNCHANGED  # installed and current: nothing undone


def test_a_hook_that_overruns_is_killed_with_all_it_started(testbed, workdir, write_conf, run_client):
    handle = f"hook-hangs.hook-{RUN_TAG}.example.test"
    marker = f"run-hook-hangs-{RUN_TAG}"
    hook = write_hook(workdir.root, "hook", f'sh -c "sleep 120; : {marker}" &\nwait\n')
    conf = write_conf(handle, extra=f'hook changed "{hook}" timeout 2\n')
    started = time.monotonic()
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert time.monotonic() - started < 60
    assert f"hook changed: {hook} did not finish within 2 s: killed" in result.stderr
    assert processes_with(marker) == [], "what the hook started outlived it"
    assert workdir.certificate(handle).exists()


def test_a_run_stopped_during_its_hook_stops_the_hook_with_all_it_started(testbed, workdir, write_conf, run_client):
    """SIGTERM to acme-client while its hook runs: the hook's whole session goes, and the run fails at once."""
    handle = f"hook-stopped.hook-{RUN_TAG}.example.test"
    marker = f"run-hook-stopped-{RUN_TAG}"
    hook = write_hook(workdir.root, "hook", f'sh -c "sleep 120; : {marker}" &\nwait\n')
    conf = write_conf(handle, extra=f'hook changed "{hook}" timeout 60\n')  # a mutant's orphans end by then
    result: list = []
    thread = threading.Thread(target=lambda: result.append(run_client(handle, conf=conf)))
    thread.start()
    deadline = time.monotonic() + 90
    while not processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    runners = child_processes(f'"program":"{hook}"')
    assert len(runners) == 1 and processes_with(marker)
    parent = int(next(line for line in Path(f"/proc/{runners[0]}/status").read_text().splitlines() if line.startswith("PPid:")).split()[1])
    stopped = time.monotonic()
    os.kill(parent, signal.SIGTERM)
    thread.join(60)
    assert result and result[0].returncode == EXIT_FAILED
    assert time.monotonic() - stopped < 15
    assert "acme-client: run: stopping on request" in result[0].stderr
    assert processes_with(marker) == [] and child_processes(f'"program":"{hook}"') == []
    assert workdir.certificate(handle).exists()


def test_the_hook_runs_as_its_configured_user(testbed, workdir, write_conf, run_client):
    if os.geteuid() != 0:
        return  # as an ordinary user the hook is that user: nothing to choose
    handle = f"hook-user.hook-{RUN_TAG}.example.test"
    seen = shared_directory(workdir.root)
    hook = recording_hook(workdir, seen)
    conf = write_conf(handle, extra=f'hook changed "{hook}" user daemon\n')
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    assert (seen / "changed.user").read_text().strip() == pwd.getpwnam("daemon").pw_name


def test_a_hook_that_cannot_be_used_is_an_error_at_the_check(testbed, workdir, write_conf, run_client):
    handle = f"hook-writable.hook-{RUN_TAG}.example.test"
    hook = write_hook(workdir.root, "hook", "exit 0\n")
    hook.chmod(0o757)
    conf = write_conf(handle, extra=f'hook failed "{hook}" timeout 5\n')
    result = run_client("-n", conf=conf)
    assert result.returncode == 1
    line = conf.read_text().splitlines().index(f'hook failed "{hook}" timeout 5') + 1
    assert f"{conf}:{line}: {hook}: group or others may write it, and so run code as the hook" in result.stderr


def test_an_ordinary_users_run_hook(make_testbed, home):
    """As an ordinary user the hook is that user, with the keys' directory hidden in a user namespace of its own."""
    if os.geteuid() != 0:
        return  # the suite switches to the user as root
    testbed = make_testbed(challenge_dir=home / "www")
    handle = "user-hook.example.test"
    account = pwd.getpwnam(USER)
    seen = home / "seen"  # not in the certificate directory: the hook sees that read-only
    seen.mkdir()
    hook = home / "reload"
    hook.write_text(f'#!/bin/sh\ncat > {seen}/seen.json\nls -A {home}/acme > {seen}/keys 2>&1\nexit 0\n')
    hook.chmod(0o755)
    config = home / ".config" / "acme-client" / "acme-client.conf"
    config.write_text(
        f'hook changed "{hook}"\n'
        + testbed.authority_block("pebble", home / "acme" / "account.key", "ecdsa")
        + f'domain {handle} {{\n\tdomain key "{home}/acme/{handle}.key" ecdsa\n'
        f'\tdomain full chain certificate "{home}/certs/{handle}.pem"\n\tchallengedir "{home}/www"\n}}\n'
    )
    for path in (hook, config, seen):
        os.chown(path, account.pw_uid, account.pw_gid)
    issued = run_as_user(home, "-v", handle)
    assert issued.returncode == EXIT_CHANGED, issued.stderr
    document = json.loads((seen / "seen.json").read_text())
    assert [entry["handle"] for entry in document["changed"]] == [handle]
    assert (seen / "keys").read_text() == ""  # hidden, though the user owns it
    assert (seen / "seen.json").stat().st_uid == account.pw_uid
