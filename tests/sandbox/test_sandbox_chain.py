"""The real chain against a real CA (pebble, real http-01), every child strictly jailed.

seccomp's default action kills, so a system call missing from a role's list
shows up here as a child killed by SIGSYS and a failed run.  Issue, re-issue
with -F (FILE.1 backups: link and rename), revoke (-r: fileproc removes);
ECDSA and RSA keys; the CA addressed by name, so dnsproc really resolves.
Runs as whoever runs the tests: root in CI, an ordinary user otherwise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from testbed import Testbed, fetch_pebble  # noqa: E402

CHILD = Path(__file__).with_name("sandbox_chain_child.py")
ROLES = ("netproc", "dnsproc", "acctproc", "keyproc", "chngproc", "certproc", "fileproc", "revokeproc")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("chain")
    for name, mode in (("challenges", 0o755), ("account", 0o700), ("private", 0o700), ("certs", 0o755)):
        (root / name).mkdir(mode=mode)
    with Testbed(binaries=fetch_pebble(), challenge_dir=root / "challenges") as bed:
        yield {
            "root": str(root),
            "challenge_dir": str(root / "challenges"),
            "ca_file": str(bed.ca_file),
            # by name: dnsproc resolves it (from /etc/hosts), netproc connects to the address
            "directory_url": bed.directory_url.replace("127.0.0.1", "localhost"),
        }


def run_chain(work: dict, handle: str, keytype: str, **options: bool) -> subprocess.CompletedProcess[str]:
    request = {**work, "handle": handle, "keytype": keytype, "options": options}
    return subprocess.run(
        [sys.executable, "-I", str(CHILD), json.dumps(request)],
        env={}, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


def assert_all_jailed_cleanly(result: subprocess.CompletedProcess[str], first: bool = False) -> None:
    """Every role jailed; a first issuance (`first`: no certificate file yet) starts no revokeproc."""
    text = result.stderr
    assert "system call outside its sandbox" not in text
    assert "less than its policy" not in text
    jailed = set(re.findall(r"sandbox (\w+) \((?:root|unprivileged)", text))
    assert jailed == set(ROLES) - ({"revokeproc"} if first else set()), text


@pytest.mark.parametrize("keytype", ["ecdsa", "rsa"])
def test_issue_renew_and_revoke_with_every_child_jailed(work: dict, keytype: str) -> None:
    handle = f"jailed-{keytype}.example.test"
    certs = Path(work["root"]) / "certs"

    first = run_chain(work, handle, keytype)
    assert first.returncode == 0, first.stderr
    assert_all_jailed_cleanly(first, first=True)
    assert "resolved localhost: 127.0.0.1" in first.stderr
    assert (certs / f"{handle}.fullchain.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")

    again = run_chain(work, handle, keytype, force=True)
    assert again.returncode == 0, again.stderr
    assert_all_jailed_cleanly(again)
    assert (certs / f"{handle}.crt.1").exists()

    revoked = run_chain(work, handle, keytype, revoke=True)
    assert revoked.returncode == 0, revoked.stderr
    assert "system call outside its sandbox" not in revoked.stderr
    assert not (certs / f"{handle}.crt").exists()
    assert os.listdir(work["challenge_dir"]) == []
