"""A run that fails leaves nothing behind (real pebble, real http-01 validation).

The requirement: "after a failure in certproc, or in any role after
challenges were published, the challenge files of that run are removed and
no temporary file remains; existing keys and certificates are
byte-identical."

Every test first obtains a certificate from the session's pebble and renews
it once, so that there is a domain key, an account key, a certificate, a
chain, a full chain and each one's FILE.1 to compare.  The failing run is a
renewal (-F, -vv) of that certificate against a pebble of the test's own,
with the same key and certificate files:

- certproc fails for real: a pebble with chain_length=20 sends 21
  certificates, and certproc accepts at most 16;
- a role is killed while the challenge is published: the slow pebble's
  http-01 fetch reads the file only after 5 s (answer_delay), so the file
  sits in the challenge directory while the CA validates, and the test
  kills one role then.  revokeproc has already exited by then (it speaks
  first, and the other cases check that it is gone), so it is killed as
  soon as it runs instead;
- chngproc is stopped with SIGTERM (it must remove its files) and killed
  with SIGKILL (it cannot: the parent reads the journal chngproc kept and
  starts a sweeper chngproc that removes what it left).

The processes a run shares are named by authority and challenge directory:
an authority name no other run of the suite uses (`failing-TAG`, TAG random
per pytest process), and each pebble's own challenge directory, make them
this run's alone; the domain names carry the TAG too, so that another copy
of the suite running at the same time (CI beside a developer) shares no
domain lock and no process with this one.  A process is only ever signalled
when it is a child of this test's own run.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from integration_common import PROXY_VARIABLES, RUN_TAG, Workdir
from test_issue import EXIT_CHANGED, EXIT_FAILED, child_processes

AUTHORITY = f"failing-{RUN_TAG}"
VALIDATION_DELAY = 5.0  # seconds the slow pebble's http-01 fetch waits before it reads the file
RUN_TIMEOUT = 180.0  # generous: two cores are shared with other work
# The roles still running while the CA validates: revokeproc is not among them.
ALIVE_DURING_VALIDATION = ("netproc", "keyproc", "certproc", "fileproc", "acctproc", "dnsproc")


class LeftBehind(AssertionError):
    """The disk after a failed run is not as the requirement says (see check_nothing_left_behind)."""



# ---------------------------------------------------------------------------
# What the disk looks like


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and directory under `root`: relative path -> (sha256 of a file's bytes, mode)."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(directory, name)
            found[str(path.relative_to(root))] = ("directory", path.lstat().st_mode)
        for name in files:
            path = Path(directory, name)
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "not a regular file"
            found[str(path.relative_to(root))] = (digest, info.st_mode)
    return found


def temporaries(*roots: Path) -> list[str]:
    """Every name under `roots` that looks temporary: hidden (fileproc's and key
    creation's `.NAME.<hex>.tmp`) or ending in .tmp."""
    found = []
    for root in roots:
        for directory, dirs, files in os.walk(root):
            found += [str(Path(directory, name)) for name in [*dirs, *files]
                      if name.startswith(".") or name.endswith(".tmp")]
    return found


def check_nothing_left_behind(before: dict[str, tuple[str, int]], workdir: Workdir, challenge_dir: Path) -> None:
    """The requirement, on the disk; raises LeftBehind naming every deviation at once."""
    deviations = []
    # Fails if chngproc (or whoever cleans up for it) leaves a published key
    # authorization in the challenge directory after the run.
    published = sorted(p.name for p in challenge_dir.iterdir())
    if published:
        deviations.append(f"challenge files left in {challenge_dir}: {published}")
    # Fails if fileproc, or key creation, leaves a temporary file (`.NAME.<hex>.tmp`) behind.
    left = temporaries(workdir.root, challenge_dir)
    if left:
        deviations.append(f"temporary files left: {left}")
    # Fails if the failed run replaced, removed, rotated (FILE.1) or added any
    # key, certificate, chain or full chain, or changed a mode: every byte of
    # the work directory must be as it was before the run.
    after = snapshot(workdir.root)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    changed = [path for path in changed if path.split("/")[0] != "state"]  # where each run keeps how it ended (state.LastRun)
    if changed:
        deviations.append(f"changed in {workdir.root}: {changed}")
    if deviations:
        raise LeftBehind("; ".join(deviations))


def check_failure_was_clean(stderr: str) -> None:
    # Fails if a role, on its way out of a failure, tried a module import its jail forbids
    # (error paths after the jail are where a lazy import hides).
    assert not [line for line in stderr.splitlines() if "after its jail" in line and "import" in line], stderr
    # Fails if a failure path crashed with a traceback instead of reporting in one line.
    assert "Traceback" not in stderr, stderr


def issue_and_renew(handle: str, workdir: Workdir, write_conf, run_client) -> None:
    """A certificate, renewed once, from the session's pebble: every file a failed run must keep."""
    conf = write_conf(handle, authority=AUTHORITY, chain=True)
    first = run_client(handle, conf=conf, timeout=RUN_TIMEOUT)
    # Set-up, not the subject: fails if plain issuance or renewal is broken (test_issue says more).
    assert first.returncode == EXIT_CHANGED, first.stderr
    renewed = run_client("-F", handle, conf=conf, timeout=RUN_TIMEOUT)
    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    for path in (workdir.certificate(handle), workdir.chain(handle), workdir.fullchain(handle)):
        assert Path(f"{path}.1").is_file()  # fails if renewal kept no FILE.1: nothing to compare then
    assert workdir.domain_key(handle).is_file() and workdir.account_key(AUTHORITY).is_file()


def run_processes(handle: str, challenge_dir: Path) -> list[int]:
    """Live processes of a run: the chain's, and the shared ones of this file's authority and directory."""
    return (
        child_processes(f'"handle":"{handle}"')
        + child_processes(f'"handle":"authority {AUTHORITY}"')
        + child_processes(f'"handle":"challengedir {challenge_dir}"')
    )


# ---------------------------------------------------------------------------
# certproc fails for real


def test_certproc_refusing_the_chain_leaves_everything_as_it_was(make_testbed, workdir, write_conf, run_client):
    handle = f"certproc.refused.{RUN_TAG}.example.test"
    issue_and_renew(handle, workdir, write_conf, run_client)
    long_chain = make_testbed(chain_length=20)  # 20 intermediates: 21 certificates in the bundle
    assert long_chain.challenge_dir is not None
    conf = write_conf(handle, testbed=long_chain, authority=AUTHORITY, chain=True, filename="long.conf")
    before = snapshot(workdir.root)

    result = run_client("-vv", "-F", handle, conf=conf, timeout=RUN_TIMEOUT)

    # Fails if a run whose certificate was refused reports success.
    assert result.returncode == EXIT_FAILED, result.stderr
    # Fails if certproc accepts an over-long bundle, or the run failed elsewhere (then it proves nothing here).
    assert f"acme-client: {handle}: certproc: CA sent 21 certificates; at most 16 expected" in result.stderr
    # Fails if no challenge was published and fetched in this run: then the
    # empty challenge directory below would prove nothing.
    assert any(r.status == 200 and "/.well-known/acme-challenge/" in r.path for r in long_chain.http_log)
    check_failure_was_clean(result.stderr)
    check_nothing_left_behind(before, workdir, long_chain.challenge_dir)
    # Fails if a process of the failed run (the chain's or a shared one) outlives it.
    assert run_processes(handle, long_chain.challenge_dir) == []


# ---------------------------------------------------------------------------
# A role killed, or stopped, while the challenge is published


def parent_and_state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a live or zombie process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name, in parentheses, may hold spaces
    return int(fields[1]), fields[0]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(interval)


def stop_then_signal(pid: int, signum: int) -> None:
    """SIGSTOP first, so that a process seen alive is still alive (not a zombie) when `signum` comes."""
    os.kill(pid, signal.SIGSTOP)
    seen = parent_and_state(pid)
    # Not a check of the client: fails if the process ended before the test could signal it.
    assert seen is not None and seen[1] != "Z", f"process {pid} ended before the test could signal it"
    os.kill(pid, signum)
    if signum != signal.SIGKILL:
        os.kill(pid, signal.SIGCONT)  # a stopped process handles its SIGTERM once it runs again


class SlowRenewal:
    """A -vv -F renewal against a pebble whose validation takes 5 s, run in the background."""

    def __init__(self, handle: str, make_testbed, workdir: Workdir, write_conf, log_dir: Path) -> None:
        self.handle = handle
        self.pebble = make_testbed(answer_delay=VALIDATION_DELAY)
        assert self.pebble.challenge_dir is not None
        self.challenge_dir: Path = self.pebble.challenge_dir
        self.conf = write_conf(handle, testbed=self.pebble, authority=AUTHORITY, chain=True, filename="slow.conf")
        self.workdir = workdir
        self.log_path = log_dir / "stderr.txt"  # outside the work directory, whose every byte is compared
        self.client: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        env = {key: value for key, value in os.environ.items() if key.lower() not in PROXY_VARIABLES}
        with open(self.log_path, "wb") as log:  # a file, not a pipe: -vv says a lot, and nobody reads it meanwhile
            self.client = subprocess.Popen(
                [sys.executable, "-m", "acme_conf", "-vv", "-F", "-f", str(self.conf), self.handle],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd=self.workdir.root, env=env,
            )
        return self.client

    def pids(self, role: str, name: str) -> list[int]:
        """This run's children (never another run's) in `role`, serving `name`."""
        assert self.client is not None
        return [
            pid for pid in child_processes(f'"role":"{role}","handle":"{name}"')
            if (parent_and_state(pid) or (0, ""))[0] == self.client.pid
        ]

    def published(self) -> list[str]:
        return sorted(p.name for p in self.challenge_dir.iterdir())

    def wait_until_published(self) -> None:
        client = self.client
        assert client is not None
        wait_for(lambda: self.published() or client.poll() is not None, "the challenge is published")
        # Fails if the run ended before publishing: then no kill could be "after publication".
        assert client.poll() is None, f"the run ended ({client.returncode}) before publishing:\n{self.stderr}"

    def finish(self) -> int:
        """The run's exit status; a run still going at the timeout is stopped (SIGTERM stops its children too)."""
        assert self.client is not None
        try:
            return self.client.wait(timeout=RUN_TIMEOUT)
        finally:
            self.abandon()

    def abandon(self) -> None:
        if self.client is not None and self.client.poll() is None:
            self.client.terminate()
            try:
                self.client.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.client.kill()
                self.client.wait()

    @property
    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")


def shared_name(role: str, challenge_dir: Path) -> str | None:
    """The name a shared process goes by (its handle), or None for a chain's own role."""
    if role in ("dnsproc", "acctproc"):
        return f"authority {AUTHORITY}"
    if role == "chngproc":
        return f"challengedir {challenge_dir}"
    return None


@pytest.mark.parametrize("role", [*ALIVE_DURING_VALIDATION, "revokeproc"])
def test_a_role_killed_mid_run_leaves_nothing_behind(role, make_testbed, workdir, write_conf, run_client, tmp_path):
    """Each role killed (SIGKILL) while the challenge file is published; revokeproc,
    which is gone by then, as soon as it runs."""
    handle = f"{role}.killed.{RUN_TAG}.example.test"
    issue_and_renew(handle, workdir, write_conf, run_client)
    run = SlowRenewal(handle, make_testbed, workdir, write_conf, tmp_path)
    name = shared_name(role, run.challenge_dir) or handle
    before = snapshot(workdir.root)
    client = run.start()
    try:
        if role == "revokeproc":
            wait_for(lambda: run.pids(role, name) or client.poll() is not None, "revokeproc runs", interval=0.002)
        else:
            run.wait_until_published()
            # Fails if revokeproc were still alive once a challenge is published:
            # then it could fail after publication too, and would be killed here.
            assert run.pids("revokeproc", handle) == [], run.stderr
        victims = run.pids(role, name)
        # Fails if the role is not running (or runs twice) at this moment.
        assert len(victims) == 1, (victims, run.stderr)
        stop_then_signal(victims[0], signal.SIGKILL)
        status = run.finish()
    finally:
        run.abandon()
    stderr = run.stderr

    # Fails if a run that lost a process reports success, or nothing to do.
    assert status == EXIT_FAILED, stderr
    # Fails if the parent does not name the role that died, and how.
    assert f"acme-client: {name}: {role} killed by SIGKILL" in stderr, stderr
    check_failure_was_clean(stderr)
    check_nothing_left_behind(before, workdir, run.challenge_dir)
    # Fails if a process of the run (the chain's, or a shared one) outlives it.
    assert run_processes(handle, run.challenge_dir) == [], stderr


class Signalled(NamedTuple):
    status: int
    stderr: str
    name: str  # the shared chngproc's handle
    before: dict
    challenge_dir: Path


def signal_chngproc_while_published(
    handle: str, signum: signal.Signals, make_testbed, workdir, write_conf, run_client, tmp_path
) -> Signalled:
    """Issue, then start a slow renewal and send chngproc `signum` once its file is published."""
    issue_and_renew(handle, workdir, write_conf, run_client)
    run = SlowRenewal(handle, make_testbed, workdir, write_conf, tmp_path)
    name = f"challengedir {run.challenge_dir}"
    before = snapshot(workdir.root)
    run.start()
    try:
        run.wait_until_published()
        victims = run.pids("chngproc", name)
        assert len(victims) == 1, (victims, run.stderr)  # fails if chngproc is not running now
        stop_then_signal(victims[0], signum)
        status = run.finish()
    finally:
        run.abandon()
    return Signalled(status, run.stderr, name, before, run.challenge_dir)


def test_chngproc_stopped_while_the_challenge_is_published_removes_its_files(
    make_testbed, workdir, write_conf, run_client, tmp_path
):
    handle = f"chngproc.stopped.{RUN_TAG}.example.test"
    status, stderr, name, before, challenge_dir = signal_chngproc_while_published(
        handle, signal.SIGTERM, make_testbed, workdir, write_conf, run_client, tmp_path
    )

    # Fails if the run reports success although its challenge directory's process failed.
    assert status == EXIT_FAILED, stderr
    # Fails if chngproc does not treat SIGTERM as a request to stop (it would die
    # without its clean-up, or go on), or the parent misreports how it ended.
    assert f"acme-client: {name}: chngproc: stopped on request" in stderr, stderr
    assert f"acme-client: {name}: chngproc exited 1 after" in stderr, stderr
    # Fails if the domain's result does not name the failed shared process.
    assert f"{handle}: failed (the processes of {name} failed)" in stderr, stderr
    check_failure_was_clean(stderr)
    # The file went before the CA read it, so validation failed and nothing was installed.
    check_nothing_left_behind(before, workdir, challenge_dir)
    # Fails if a process of the run (the chain's, or a shared one) outlives it.
    assert run_processes(handle, challenge_dir) == [], stderr


def test_chngproc_killed_while_the_challenge_is_published(make_testbed, workdir, write_conf, run_client, tmp_path):
    handle = f"chngproc.killed.{RUN_TAG}.example.test"
    status, stderr, name, before, challenge_dir = signal_chngproc_while_published(
        handle, signal.SIGKILL, make_testbed, workdir, write_conf, run_client, tmp_path
    )

    # A chngproc killed cannot remove what it published: the parent reads its
    # journal and a sweeper chngproc removes the file, before the CA looks.
    # Fails if the run reports success although a process it started was killed.
    assert status == EXIT_FAILED, stderr
    # Fails if the parent does not name the role that died, and how.
    assert f"acme-client: {name}: chngproc killed by SIGKILL" in stderr, stderr
    # Fails if the parent does not sweep (the file would stay, and the CA could still validate).
    assert f"acme-client: {name}: chngproc ended with 1 challenge file(s) in place; removing them" in stderr, stderr
    # Fails if the sweeper, a jailed chngproc of its own, did not remove it (the run is -vv).
    assert f"acme-client: {name}: chngproc: removed {challenge_dir}/" in stderr, stderr
    assert "challenge file(s) may be left" not in stderr, stderr
    check_failure_was_clean(stderr)
    # Fails if a process of the run (the chain's, the shared ones, the sweeper) outlives it.
    assert run_processes(handle, challenge_dir) == [], stderr
    # Fails if the challenge file stays, a temporary file is left, or a key or
    # certificate changed (the file went before the CA read it: nothing issued).
    check_nothing_left_behind(before, workdir, challenge_dir)
