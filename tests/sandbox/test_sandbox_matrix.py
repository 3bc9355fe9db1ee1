"""The proof, role by role: every attempt a role must not make is denied, and its job still works.

Each role runs its real acquire, grants and sandbox.enter (strict: any missing
mechanism is fatal) in fresh child processes, then tries every probe of
sandbox_harness.PROBES.  Both as root (how CI runs) and as an unprivileged user.
"""

from __future__ import annotations

import os
import pwd
from concurrent.futures import ThreadPoolExecutor

import pytest

import sandbox_harness as harness
from acme_conf.sandbox import process


def _can_be_unprivileged() -> bool:
    if os.getuid() != 0:
        return True
    try:
        pwd.getpwnam(harness.UNPRIVILEGED_USER)
    except KeyError:
        return False
    return True


MODES = [
    pytest.param(False, id="root", marks=pytest.mark.skipif(os.getuid() != 0, reason="needs root")),
    pytest.param(True, id="unprivileged", marks=pytest.mark.skipif(not _can_be_unprivileged(), reason="no nobody")),
]


@pytest.fixture(scope="module", params=MODES)
def matrix(request: pytest.FixtureRequest) -> dict[str, harness.RoleRun]:
    unprivileged = request.param
    with harness.bed_for(unprivileged) as bed:
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = list(pool.map(lambda role: harness.run_role(role, bed, unprivileged), harness.ROLES))
    return {run.role: run for run in runs}


@pytest.mark.parametrize("role", harness.ROLES)
def test_every_attempt_gets_the_policys_answer(matrix: dict[str, harness.RoleRun], role: str) -> None:
    run = matrix[role]
    assert set(run.outcomes) == set(harness.probes_for(role))
    assert harness.unexpected(run) == []


@pytest.mark.parametrize("role", harness.ROLES)
def test_no_forbidden_attempt_succeeds(matrix: dict[str, harness.RoleRun], role: str) -> None:
    """Independent of the exact answer: every 'must not' cell is a denial."""
    run = matrix[role]
    allowed = {
        probe.name
        for probe in harness.PROBES
        if probe.expected.get(role) == "ok"  # its job, or a documented gap
    }
    succeeded = {name for name, outcome in run.outcomes.items() if outcome == "ok"}
    assert succeeded <= allowed


@pytest.mark.parametrize("role", harness.ROLES)
def test_the_roles_job_works_inside(matrix: dict[str, harness.RoleRun], role: str) -> None:
    jobs = [probe.name for probe in harness.PROBES if probe.must_do and role in probe.expected]
    assert jobs, f"{role} has no must-do probe"
    assert {name: matrix[role].outcomes[name] for name in jobs} == {name: "ok" for name in jobs}


@pytest.mark.parametrize("role", harness.ROLES)
def test_every_mechanism_was_applied(matrix: dict[str, harness.RoleRun], role: str) -> None:
    run = matrix[role]
    report = run.reports[0]
    for mechanism in ("descriptors", "identity", "no_new_privs: set", "landlock: ABI", "seccomp:", "limits:"):
        assert mechanism in report
    netns = "network namespace: private" if role not in ("netproc", "dnsproc") else "network namespace: host"
    assert netns in report
    if role in ("chngproc", "fileproc"):
        assert "chroot: into" in report
    if not run.unprivileged:
        account = process.unprivileged_account()
        expected = "identity: uid 0 gid 0 (owner of" if role in ("chngproc", "fileproc") else f"identity: uid {account.uid} "
        assert expected in report
