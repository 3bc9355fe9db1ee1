"""The challenge directory attacked by a local user, in a real run against pebble (issue 12, item 5).

The web root belongs to an ordinary user (nobody here); the configuration
names its acme directory as the challenge directory.  The attacks:

- that user replaces the acme directory with a symbolic link to a directory
  of root's holding a 0600 file: chngproc, which takes the owner of its
  directory as its identity, would have run as root there;
- a root-owned acme directory inside that user's web root: they may rename
  it away and put another of root's directories in its place.

Both runs are refused with an error naming the real directory and the user,
and root's directory is left exactly as it was.  The control: a link that
only root could have placed, to a directory of the web server's user, is
followed; chngproc runs as that user, the certificate is issued, and the
log names the real directory.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacker is another user: run as root")

EXIT_CHANGED, EXIT_FAILED = 0, 1


@pytest.fixture
def nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


def as_user(account: pwd.struct_passwd, script: str, cwd: Path) -> None:
    """What the local attacker does, as that user."""
    subprocess.run(
        ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", "sh", "-c", script],
        cwd=cwd, check=True, timeout=30, env={"PATH": "/usr/bin:/bin"},
    )


def snapshot(directory: Path) -> tuple:
    """Everything that changes when anything in `directory` is created, replaced or removed."""
    info = directory.stat()
    return (
        info.st_mtime_ns, info.st_ctime_ns, info.st_uid, info.st_mode,
        sorted((entry.name, entry.stat(follow_symlinks=False)[:]) for entry in os.scandir(directory)),
    )


def roots_directory(path: Path) -> Path:
    """A root-owned directory with a root-only file in it: what the attacker wants written to as root."""
    path.mkdir(mode=0o755)
    (path / "secret").write_text("root's alone\n")
    (path / "secret").chmod(0o600)
    return path


def test_acme_directory_swapped_for_a_link_by_the_web_roots_owner(workdir, write_conf, run_client, nobody) -> None:
    handle = "swapped-link.example.test"
    web = workdir.root / "www"
    web.mkdir(mode=0o755)
    os.chown(web, nobody.pw_uid, nobody.pw_gid)
    as_user(nobody, "mkdir acme", web)  # as set up: the web server's own acme directory
    conf = write_conf(handle, challengedir=web / "acme")
    vault = roots_directory(workdir.root / "vault")
    before = snapshot(vault)

    as_user(nobody, f"rmdir acme && ln -s {vault} acme", web)  # the attack
    result = run_client("-v", handle, conf=conf)

    why = (
        f"{web}/acme is a symbolic link in {web}, which its owner nobody (uid {nobody.pw_uid}) may write:"
        " not followed"
    )
    assert snapshot(vault) == before  # nothing created, replaced or removed in root's directory
    assert (vault / "secret").read_text() == "root's alone\n"
    assert result.returncode == EXIT_FAILED, result.stderr
    assert f"challengedir {web}/acme: {why}" in result.stderr
    assert not workdir.certificate(handle).exists()

    checked = run_client("-n", conf=conf)  # -n says it beforehand (a warning: the run refuses it)
    assert f"challengedir {web}/acme: {why} (the run refuses it)" in checked.stderr


def test_root_owned_acme_directory_in_the_web_roots_owners_hands(workdir, write_conf, run_client, nobody) -> None:
    handle = "root-in-theirs.example.test"
    web = workdir.root / "www"
    web.mkdir(mode=0o755)
    os.chown(web, nobody.pw_uid, nobody.pw_gid)
    acme = roots_directory(web / "acme")  # root's, but nobody may swap it for another of root's
    conf = write_conf(handle, challengedir=acme)
    before = snapshot(acme)

    result = run_client("-v", handle, conf=conf)

    assert snapshot(acme) == before  # chngproc never wrote there as root
    assert result.returncode == EXIT_FAILED, result.stderr
    assert (
        f"sandbox: chngproc: {acme} belongs to root, but {web}, which its owner nobody (uid {nobody.pw_uid})"
        " may write, is on its path: whoever writes there decides what the path names,"
        " so chngproc will not work in it as root"
    ) in result.stderr
    checked = run_client("-n", conf=conf)
    assert f"challengedir {acme} belongs to root, but {web}" in checked.stderr


def test_control_a_link_only_root_could_place_to_the_web_users_directory(
    make_testbed, workdir, write_conf, run_client, nobody
) -> None:
    # /var/www root's, its acme directory the web server user's: the usual layout keeps working.
    handle = "trusted-link.example.test"
    served = workdir.root / "served"
    served.mkdir(mode=0o755)
    os.chown(served, nobody.pw_uid, nobody.pw_gid)
    link = workdir.root / "acme"
    link.symlink_to(served)
    testbed = make_testbed(challenge_dir=served)
    conf = write_conf(handle, testbed=testbed, challengedir=link)

    result = run_client("-vv", handle, conf=conf)

    assert result.returncode == EXIT_CHANGED, result.stderr
    assert f"challengedir {link} (really {served})" in result.stderr
    assert f"uid {nobody.pw_uid} gid {nobody.pw_gid} (owner of {served})" in result.stderr
    assert list(served.iterdir()) == []  # the challenge files were removed again
