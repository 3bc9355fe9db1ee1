"""The policy table in acme_conf/sandbox/policy.py is the one docs/SECURITY.md states, row by row.

tests/sandbox/test_kernel_view.py proves that the kernel applies to every
live role what POLICIES says; it takes its expectations from POLICIES, so a
policy widened in the code would be confirmed, not caught.  This test closes
the loop: each row of POLICIES must be the row docs/SECURITY.md ("The
processes and their rights") gives it, read from the document itself: the
files Landlock allows, TCP connect, the network namespace and chroot, whom
the role runs as, the system calls beyond the Python runtime, and the
spare descriptors of RLIMIT_NOFILE.  Kernel == POLICIES == the document.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acme_conf.sandbox.landlock import FsAccess
from acme_conf.sandbox.policy import POLICIES, PYTHON_RUNTIME, QUIET_READ_DENIAL, Connect, Identity, Policy

SECURITY = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"
HEADER = "| role | files (Landlock) | TCP connect | netns | runs as (root install) | system calls beyond the Python runtime |"
RIGHTS = {"make file": FsAccess.MAKE_REG, "write": FsAccess.WRITE_FILE, "remove": FsAccess.REMOVE_FILE}
CONNECT = {"none": Connect.NONE, "53": Connect.DNS, "the CA's ports only": Connect.GRANTED_PORTS, "anywhere": Connect.ANYWHERE}
SYSCALL_NAME = re.compile(r"[a-z][a-z0-9_]*")


def documented_rows() -> dict[str, list[str]]:
    lines = SECURITY.read_text().splitlines()
    assert HEADER in lines, f"docs/SECURITY.md has no table starting {HEADER!r}"
    rows: dict[str, list[str]] = {}
    for line in lines[lines.index(HEADER) + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows[cells[0]] = cells[1:]
    return rows


ROWS = documented_rows()


def documented_syscalls(cell: str) -> set[str]:
    """The system calls a cell names: `a`/`b`, `get/setsockopt`, `ioctl(FIONBIO)`, `renameat(2)`, "as chngproc, plus"."""
    names: set[str] = set()
    if cell.startswith("as "):
        names |= documented_syscalls(ROWS[cell.split()[1].rstrip(",")][4])
    for quoted in re.findall(r"`([^`]+)`", cell):
        if quoted == "get/setsockopt":
            names |= {"getsockopt", "setsockopt"}
            continue
        word, _, argument = quoted.partition("(")
        if not SYSCALL_NAME.fullmatch(word):
            continue  # a flag, such as `O_WRONLY|O_CREAT|O_EXCL`
        names.add(word)
        if argument == "2)":  # `renameat(2)`: renameat and renameat2
            names.add(f"{word}2")
    return names


def code_syscalls(policy: Policy) -> set[str]:
    """System calls of the role beyond the runtime every role has (and the quiet read denial of the offline ones)."""
    common = set(PYTHON_RUNTIME) | set(QUIET_READ_DENIAL)
    return {rule.name for rule in policy.syscalls if rule not in common}


def test_the_document_has_a_row_for_every_role_and_no_other() -> None:
    assert set(ROWS) == set(POLICIES)


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_landlock_files_are_the_documented_ones(role: str) -> None:
    policy, files = POLICIES[role], ROWS[role][0]
    if files.startswith("none"):
        assert policy.read_files == () and policy.write_dir_rights == FsAccess(0)
    elif files.startswith("read:"):
        names = [re.sub(r"\(.*\)", "", name).strip() for name in files[len("read:"):].split(",")]
        assert set(policy.read_files) == {name if name.startswith("/") else f"/etc/{name}" for name in names}
        assert policy.write_dir_rights == FsAccess(0)
    else:
        _, _, rights = files.partition(": ")
        wanted = FsAccess(0)
        for right in rights.split(", "):
            wanted |= RIGHTS[right]
        assert policy.write_dir_rights == wanted and policy.read_files == ()


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_tcp_connect_is_the_documented_one(role: str) -> None:
    assert POLICIES[role].connect is CONNECT[ROWS[role][1]]


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_network_namespace_and_chroot_are_the_documented_ones(role: str) -> None:
    policy, netns = POLICIES[role], ROWS[role][2]
    assert policy.private_netns == netns.startswith("private")
    assert policy.chroot_write_dir == netns.endswith("chroot")


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_identity_is_the_documented_one(role: str) -> None:
    owner = ROWS[role][3].startswith("owner of")
    assert POLICIES[role].identity is (Identity.DIRECTORY_OWNER if owner else Identity.UNPRIVILEGED_USER)


@pytest.mark.parametrize("role", sorted(POLICIES))
def test_system_calls_are_the_documented_ones(role: str) -> None:
    cell = ROWS[role][4]
    documented = set() if cell == "none" else documented_syscalls(cell)
    assert code_syscalls(POLICIES[role]) == documented


def test_every_offline_role_fails_read_only_opens_softly_and_only_dnsproc_may_read() -> None:
    """tlsproc may open read-only too (ssl reads its memfd again); Landlock gives it no path."""
    for role, policy in POLICIES.items():
        quiet = all(rule in policy.syscalls for rule in QUIET_READ_DENIAL)
        assert quiet == (role not in ("dnsproc", "tlsproc") and not policy.runs_programs), role
    assert POLICIES["tlsproc"].read_files == () and not POLICIES["tlsproc"].write_dir_rights


def test_only_the_hook_roles_run_programs_and_have_neither_filter_nor_file_rules() -> None:
    """The roles without seccomp and Landlock (the dns-01 hook's, the run hook's) say so in their policy and documentation."""
    assert [role for role, policy in POLICIES.items() if policy.runs_programs] == ["hookproc", "runhookproc"]
    for role in ("hookproc", "runhookproc"):
        assert POLICIES[role].syscalls == () and ROWS[role][4].startswith("no filter")
        assert ROWS[role][0].startswith("none applied")


def test_spare_descriptors_are_the_documented_ones() -> None:
    text = " ".join(SECURITY.read_text().split())
    found = re.search(r"plus the few new ones its job needs \(([^)]*), others (\d+)\)", text)
    assert found, "docs/SECURITY.md no longer says how many descriptors each role may open"
    documented = {role: int(number) for role, number in (item.split() for item in found.group(1).split(", "))}
    others = int(found.group(2))
    assert {role: policy.spare_fds for role, policy in POLICIES.items()} == {
        role: documented.get(role, others) for role in POLICIES
    }
