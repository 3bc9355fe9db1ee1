"""Landlock alone holds chngproc and fileproc: no directory, no link in their directory, no signal out.

docs/SECURITY.md gives the writing roles "make file, write, remove" in their
directory.  In a real run seccomp kills mkdirat and symlinkat first, so the
matrix never asks Landlock; here seccomp is left out (defences_landlock_child.py)
and the role, started by root as its directory's owner (root: file
permissions allow everything), tries to make a directory and a symbolic link
in its own directory.  Landlock must refuse both (EACCES), and the role's job
(the control) must still work.  As root, it may also signal any root process
as far as file permissions go: Landlock's signal scope (ABI 6) must refuse a
signal to a process outside the role (EPERM), where seccomp would kill first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import sandbox_harness as harness
from acme_conf.sandbox import landlock

CHILD = Path(__file__).with_name("defences_landlock_child.py")
JOB = {"chngproc": "publish_challenge", "fileproc": "install_certificate"}

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="as root, only Landlock stands between the role and its directory")


@pytest.fixture(scope="module")
def bed() -> Iterator[harness.Bed]:
    with harness.bed_for(False) as made:
        yield made


@pytest.mark.parametrize("role", sorted(JOB))
def test_landlock_alone_refuses_directories_and_links_in_the_roles_own_directory(
    bed: harness.Bed, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "CHILD", CHILD)
    run = harness.run_role(role, bed, False, ["mkdir_own_dir", "symlink_own_dir", JOB[role]])
    assert "seccomp: unavailable (left out to see Landlock alone)" in run.reports[0]
    assert "landlock: ABI" in run.reports[0]
    assert run.outcomes == {"mkdir_own_dir": "EACCES", "symlink_own_dir": "EACCES", JOB[role]: "ok"}


@pytest.mark.parametrize("role", sorted(JOB))
def test_landlock_alone_refuses_a_signal_to_a_process_of_the_same_user(
    bed: harness.Bed, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "CHILD", CHILD)
    if landlock.abi_version() < 6:  # the kernel's, not what the role reports of itself
        pytest.skip("Landlock below ABI 6 cannot scope signals")
    run = harness.run_role(role, bed, False, ["signal_sibling"])  # signal 0 to a root `sleep` of the bed
    assert "identity: uid 0 gid 0" in run.reports[0]  # root: file permissions would let it
    assert run.outcomes == {"signal_sibling": "EPERM"}
