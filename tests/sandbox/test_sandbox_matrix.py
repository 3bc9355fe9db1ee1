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
from acme_conf.sandbox.policy import POLICIES


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
    runs_programs = POLICIES[role].runs_programs  # hookproc: its view of the files instead of Landlock and seccomp
    filters = ("mounts: private; ", "landlock: none: ", "seccomp: none: ") if runs_programs else ("landlock: ABI", "seccomp:")
    for mechanism in ("descriptors", "identity", "no_new_privs: set", *filters, "limits:"):
        assert mechanism in report
    netns = "network namespace: private" if role not in ("netproc", "dnsproc", "hookproc") else "network namespace: host"
    assert netns in report
    if role in ("chngproc", "fileproc"):
        assert "chroot: into" in report
    if not run.unprivileged:
        account = process.unprivileged_account()
        expected = "identity: uid 0 gid 0 (owner of" if role in ("chngproc", "fileproc") else f"identity: uid {account.uid} "
        assert expected in report


# Without chroot (an ordinary user on a kernel without user namespaces), Landlock alone holds the
# writing roles: the same attempts, now answered by Landlock (EACCES, EXDEV) instead of chroot's ENOENT.
_LANDLOCK_ALONE = {
    "chngproc": {"create_outside": "EACCES", "unlink_outside": "EACCES", "write_cert_dir": "EACCES"},
    "fileproc": {
        "create_outside": "EACCES",
        "rename_outside": "EACCES",
        "unlink_outside": "EACCES",
        "write_challenge_dir": "EACCES",
        "link_into_own_dir": "EXDEV",
    },
}


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "unprivileged"])
@pytest.mark.parametrize("role", sorted(_LANDLOCK_ALONE))
def test_writers_are_held_by_landlock_without_chroot(role: str, unprivileged: bool) -> None:
    if not unprivileged and os.getuid() != 0:
        pytest.skip("needs root")
    probes = [*_LANDLOCK_ALONE[role], "publish_challenge" if role == "chngproc" else "install_certificate"]
    with harness.bed_for(unprivileged) as bed:
        run = harness.run_role(role, bed, unprivileged, probes, no_chroot=True)
    assert "chroot" not in run.reports[0]
    expected = {**_LANDLOCK_ALONE[role], probes[-1]: "ok"}
    assert run.outcomes == expected
