"""Landlock alone holds chngproc and fileproc to files in their directory: no directory, no link.

docs/SECURITY.md gives the writing roles "make file, write, remove" in their
directory.  In a real run seccomp kills mkdirat and symlinkat first, so the
matrix never asks Landlock; here seccomp is left out (defences_landlock_child.py)
and the role, started by root as its directory's owner (root: file
permissions allow everything), tries to make a directory and a symbolic link
in its own directory.  Landlock must refuse both (EACCES), and the role's job
(the control) must still work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import sandbox_harness as harness

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
