"""The paths a role is given, attacked as a local user would: each real role, started as the parent starts it.

keyproc, revokeproc and fileproc run as real children (the parent's own
bootstrap, an empty environment, the strict sandbox), and the configuration
check runs as `acme-client -n`.  What they are given:

- a key, certificate or configuration file that is a link to a FIFO or a
  device: refused by its kind, and never opened (a FIFO's blocked writer
  would see the open; a private device node's inotify watch would see it);
- a key owned by another user, a key directory others may write, a key or
  certificate directory reached through a link in another user's directory:
  refused at run time, each reported by -n at the statement's line;
- a root-owned certificate directory inside another user's directory:
  fileproc refuses to work there as root.

Each test also shows that the same run works, or the same thing is opened,
without the attack (the control), so that a refusal is the defence's doing.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from acme_conf.proc.spawner import CHILD_BOOTSTRAP, child_import_path
from acme_conf.proc.spec import ChildSpec, FileSettings, KeySettings, RevokeSettings, Settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacks need another user's files: run as root")

NOBODY = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
HANDLE = "attack.example"
ROLE_TIMEOUT = 60


# ---- running a real role ---------------------------------------------------------------------


def run_role(role: str, settings: Settings, peers: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """Start `role` as the parent does, with a channel to each of `peers` that is closed at once.

    A role that gets past its jail then finds every peer gone: keyproc ends
    with 0, fileproc with 2 (nothing to do).
    """
    pairs = [(peer, *socket.socketpair()) for peer in peers]
    spec = ChildSpec(role, HANDLE, 1, True, tuple((peer, theirs.fileno()) for peer, _, theirs in pairs), settings)
    argv = [sys.executable, "-I", "-S", "-c", CHILD_BOOTSTRAP, role, spec.to_json(), *child_import_path()]
    try:
        process = subprocess.Popen(
            argv, pass_fds=[theirs.fileno() for _, _, theirs in pairs], env={}, cwd="/",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
    finally:
        for _, ours, theirs in pairs:
            theirs.close()
            ours.close()
    try:
        _, stderr = process.communicate(timeout=ROLE_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(argv, process.returncode, "", stderr)


def run_keyproc(key: Path) -> subprocess.CompletedProcess[str]:
    return run_role("keyproc", KeySettings(str(key), "ecdsa", (HANDLE,)), ("netproc",))


def run_revokeproc_alone(certificate: Path) -> subprocess.CompletedProcess[str]:
    # A keyproc channel is given as the parent gives one; nothing is asked of it for a refused file.
    return run_role("revokeproc", RevokeSettings(str(certificate), (HANDLE,), False, False, True), ("keyproc",))


def run_fileproc(cert_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_role("fileproc", FileSettings(str(cert_dir), "a.crt", "", "", False), ("certproc",))


def run_check(config: Path) -> subprocess.CompletedProcess[str]:
    """acme-client -n -f CONFIG."""
    return subprocess.run(
        [sys.executable, "-m", "acme_conf", "-n", "-f", str(config)],
        capture_output=True, text=True, timeout=ROLE_TIMEOUT, stdin=subprocess.DEVNULL,
    )


# ---- what the test bed is made of ---------------------------------------------------------------


@pytest.fixture
def base(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    return tmp_path


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    path.chmod(0o700)
    return path


def nobodys_dir(path: Path) -> Path:
    assert NOBODY is not None
    path.mkdir(mode=0o755)
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    return path


def write_key(path: Path, mode: int = 0o600) -> bytes:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(mode)
    return pem


def as_nobody(*command: str, cwd: Path) -> None:
    """Run `command` as nobody, as the local attacker."""
    assert NOBODY is not None
    subprocess.run(
        ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups", *command],
        cwd=cwd, check=True, timeout=30, env={"PATH": "/usr/bin:/bin"},
    )


def snapshot(directory: Path) -> tuple:
    """Everything that would change if anything were created, removed or changed in `directory`."""
    info = directory.stat()
    return (
        info.st_mtime_ns, info.st_ctime_ns, info.st_uid, info.st_mode,
        sorted((entry.name, entry.stat(follow_symlinks=False).st_mtime_ns) for entry in os.scandir(directory)),
    )


def config_text(base: Path, domain_key: Path, cert_dir: Path | None = None) -> str:
    account = private_dir(base / "account") if not (base / "account").exists() else base / "account"
    certs = cert_dir or base / "certs"
    certs.mkdir(exist_ok=True)
    (base / "www").mkdir(exist_ok=True)
    return (
        "authority ca {\n"
        '\tapi url "https://127.0.0.1:14000/dir"\n'
        f'\taccount key "{account}/ca.key" ecdsa\n'
        "}\n"
        f"domain {HANDLE} {{\n"
        f'\tdomain key "{domain_key}" ecdsa\n'  # line 6
        f'\tdomain certificate "{certs}/a.crt"\n'  # line 7
        f'\tchallengedir "{base}/www"\n'
        "}\n"
    )


def check_config(base: Path, domain_key: Path, cert_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    config = base / "acme-client.conf"
    config.write_text(config_text(base, domain_key, cert_dir))
    return run_check(config)


# ---- opened or not: a FIFO's writer, a device's inotify watch -----------------------------------


IN_OPEN = 0x20


@contextmanager
def watched_fifo(path: Path) -> Iterator[Callable[[], bool]]:
    """A FIFO at `path` with a writer blocked until someone opens it for reading; yields opened()."""
    os.mkfifo(path, 0o600)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; os.open(sys.argv[1], os.O_WRONLY); print('opened')", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{writer.pid}/wchan").read_text() != "wait_for_partner":
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never blocked in open"
            time.sleep(0.01)

        def opened() -> bool:
            try:
                writer.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                return False
            return True

        yield opened
    finally:
        writer.kill()
        writer.wait()


@contextmanager
def watched_device(path: Path) -> Iterator[Callable[[], bool]]:
    """A private character device (the null device's numbers) at `path`, watched for opens; yields opened()."""
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    libc = ctypes.CDLL(None, use_errno=True)
    inotify = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert inotify >= 0 and libc.inotify_add_watch(inotify, str(path).encode(), IN_OPEN) >= 0

    def opened() -> bool:
        try:
            return bool(os.read(inotify, 4096))
        except BlockingIOError:
            return False

    try:
        yield opened
    finally:
        os.close(inotify)


WATCHED = {"fifo": (watched_fifo, "a FIFO"), "device": (watched_device, "a character device")}


# ---- item 6: the kind of a file is checked before it is opened ----------------------------------


@pytest.mark.parametrize("what", WATCHED)
def test_key_that_links_to_a_fifo_or_device_is_refused_unopened(base: Path, what: str) -> None:
    watch, kind = WATCHED[what]
    keys = private_dir(base / "keys")
    target = private_dir(base / "elsewhere") / "thing"
    (keys / "a.key").symlink_to(target)
    with watch(target) as opened:
        result = run_keyproc(keys / "a.key")
        assert not opened(), "keyproc opened it"
    assert result.returncode == 1
    assert f"{keys}/a.key (really {target}): cannot read key: not a regular file ({kind})" in result.stderr


def test_key_that_links_to_ptmx_is_refused(base: Path) -> None:
    keys = private_dir(base / "keys")
    (keys / "a.key").symlink_to("/dev/ptmx")
    result = run_keyproc(keys / "a.key")
    assert result.returncode == 1
    assert "(really /dev/ptmx): cannot read key: not a regular file (a character device)" in result.stderr


@pytest.mark.parametrize("what", WATCHED)
def test_certificate_that_links_to_a_fifo_or_device_is_refused_unopened(base: Path, what: str) -> None:
    watch, kind = WATCHED[what]
    certs = base / "certs"
    certs.mkdir()
    target = private_dir(base / "elsewhere") / "thing"
    (certs / "a.crt").symlink_to(target)
    with watch(target) as opened:
        result = run_revokeproc_alone(certs / "a.crt")
        assert not opened(), "revokeproc opened it"
    assert result.returncode == 1
    assert f"{certs}/a.crt: not a regular file ({kind}); run acme-client -F to replace it" in result.stderr


@pytest.mark.parametrize("what", WATCHED)
def test_configuration_that_links_to_a_fifo_or_device_is_refused_unopened(base: Path, what: str) -> None:
    watch, kind = WATCHED[what]
    target = private_dir(base / "elsewhere") / "thing"
    (base / "acme-client.conf").symlink_to(target)
    (base / "main.conf").write_text(f'include "{base}/acme-client.conf"\n')
    with watch(target) as opened:
        direct = run_check(base / "acme-client.conf")
        included = run_check(base / "main.conf")
        assert not opened(), "the configuration check opened it"
    assert direct.returncode == 1 and f"{base}/acme-client.conf: not a regular file ({kind})" in direct.stderr
    assert included.returncode == 1
    assert f"main.conf:1: failed to include file {base}/acme-client.conf: not a regular file ({kind})" in included.stderr


def test_control_a_regular_key_behind_a_link_is_read(base: Path) -> None:
    keys = private_dir(base / "keys")
    target = private_dir(base / "elsewhere") / "a.key"
    write_key(target)
    (keys / "a.key").symlink_to(target)
    result = run_keyproc(keys / "a.key")
    assert result.returncode == 0, result.stderr


# ---- item 8: keys owned by the right user, in directories no one else may write -----------------


def test_key_owned_by_another_user_is_refused_and_reported(base: Path) -> None:
    assert NOBODY is not None
    keys = private_dir(base / "keys")
    pem = write_key(keys / "a.key", 0o600)
    os.chown(keys / "a.key", NOBODY.pw_uid, NOBODY.pw_gid)
    result = run_keyproc(keys / "a.key")
    why = f"{keys}/a.key: owned by nobody (uid {NOBODY.pw_uid}), not by root"
    assert result.returncode == 1 and why in result.stderr
    assert (keys / "a.key").read_bytes() == pem
    checked = check_config(base, keys / "a.key")
    assert checked.returncode == 1 and f"acme-client.conf:6: {why}" in checked.stderr


@pytest.mark.parametrize("mode", [0o604, 0o640, 0o620])
def test_key_group_or_others_may_use_is_refused_at_run_time(base: Path, mode: int) -> None:
    keys = private_dir(base / "keys")
    pem = write_key(keys / "a.key", mode)
    result = run_keyproc(keys / "a.key")
    assert result.returncode == 1
    assert f"{keys}/a.key: group read/writable or world read/writable" in result.stderr
    assert (keys / "a.key").read_bytes() == pem


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_key_directory_others_may_write_is_refused_and_reported(base: Path, mode: int) -> None:
    keys = base / "keys"
    keys.mkdir()
    keys.chmod(mode)
    pem = write_key(keys / "a.key", 0o600)
    result = run_keyproc(keys / "a.key")
    why = f"key directory {keys}: writable by group or others (mode {mode:04o})"
    assert result.returncode == 1 and f"{keys}/a.key: {why}" in result.stderr
    assert (keys / "a.key").read_bytes() == pem
    checked = check_config(base, keys / "a.key")
    assert checked.returncode == 1 and f"acme-client.conf:6: {why}" in checked.stderr


def test_no_key_is_created_in_a_directory_others_may_write(base: Path) -> None:
    keys = base / "keys"
    keys.mkdir()
    keys.chmod(0o777)
    result = run_keyproc(keys / "a.key")
    assert result.returncode == 1 and f"key directory {keys}: writable by group or others" in result.stderr
    assert os.listdir(keys) == []
    checked = check_config(base, keys / "a.key")
    assert checked.returncode == 1
    assert f"acme-client.conf:6: key directory {keys}: writable by group or others (mode 0777)" in checked.stderr


def test_key_in_a_directory_another_user_owns_is_refused_and_reported(base: Path) -> None:
    assert NOBODY is not None
    keys = nobodys_dir(base / "keys")
    keys.chmod(0o700)
    write_key(keys / "a.key", 0o600)  # root's key, in nobody's directory: nobody can swap it
    result = run_keyproc(keys / "a.key")
    why = f"key directory {keys}: owned by nobody (uid {NOBODY.pw_uid}), not by root"
    assert result.returncode == 1 and why in result.stderr
    checked = check_config(base, keys / "a.key")
    assert checked.returncode == 1 and f"acme-client.conf:6: {why}" in checked.stderr


def test_control_a_private_key_in_a_private_directory_is_used_and_checks_clean(base: Path) -> None:
    keys = private_dir(base / "keys")
    write_key(keys / "a.key", 0o400)
    assert run_keyproc(keys / "a.key").returncode == 0
    checked = check_config(base, keys / "a.key")
    assert checked.returncode == 0, checked.stderr


# ---- item 5: no link another user could have placed, and no root where they decide --------------


def test_key_directory_swapped_for_a_link_by_another_user_is_refused(base: Path) -> None:
    web = nobodys_dir(base / "home")
    as_nobody("mkdir", "keys", cwd=web)
    vault = private_dir(base / "vault")  # root's keys, where the attacker wants a key made or used
    before = snapshot(vault)
    as_nobody("sh", "-c", f"rmdir keys && ln -s {vault} keys", cwd=web)
    result = run_keyproc(web / "keys" / "a.key")
    why = f"{web}/keys is a symbolic link in {web}, which its owner nobody (uid {NOBODY.pw_uid}) may write: not followed"
    assert snapshot(vault) == before  # no key made or read there
    assert result.returncode == 1 and why in result.stderr
    checked = check_config(base, web / "keys" / "a.key")
    assert checked.returncode == 1 and f"acme-client.conf:6: key directory {web}/keys: {why}" in checked.stderr


def test_certificate_directory_swapped_for_a_link_by_another_user_is_refused(base: Path) -> None:
    web = nobodys_dir(base / "home")
    as_nobody("mkdir", "certs", cwd=web)
    vault = private_dir(base / "vault")
    (vault / "secret").write_text("root's\n")
    (vault / "secret").chmod(0o600)
    before = snapshot(vault)
    as_nobody("sh", "-c", f"rmdir certs && ln -s {vault} certs", cwd=web)
    result = run_fileproc(web / "certs")
    why = f"{web}/certs is a symbolic link in {web}, which its owner nobody (uid {NOBODY.pw_uid}) may write: not followed"
    assert result.returncode == 1
    assert f"certificate directory {web}/certs: {why}" in result.stderr
    assert snapshot(vault) == before
    revoke = run_revokeproc_alone(web / "certs" / "a.crt")  # the certificate is not read through it either
    assert revoke.returncode == 1 and f"{web}/certs/a.crt: {why}" in revoke.stderr
    assert "acme-client -F" not in revoke.stderr  # an error, not a certificate -F would replace
    keys = private_dir(base / "keys")
    checked = check_config(base, keys / "a.key", web / "certs")
    assert f"acme-client.conf:7: certificate directory {web}/certs: {why} (the run refuses it)" in checked.stderr


def test_root_owned_certificate_directory_that_another_user_decides_is_refused(base: Path) -> None:
    web = nobodys_dir(base / "home")
    certs = web / "certs"
    certs.mkdir(mode=0o755)  # root's, but nobody may rename it away and put another of root's there
    before = snapshot(certs)
    result = run_fileproc(certs)
    assert result.returncode == 1
    assert (
        f"sandbox: fileproc: {certs} belongs to root, but {web}, which its owner nobody (uid {NOBODY.pw_uid})"
        " may write, is on its path: whoever writes there decides what the path names,"
        " so fileproc will not work in it as root"
    ) in result.stderr
    assert snapshot(certs) == before
    keys = private_dir(base / "keys")
    checked = check_config(base, keys / "a.key", certs)
    assert f"acme-client.conf:7: certificate directory {certs} belongs to root, but {web}" in checked.stderr


def test_control_a_directory_another_user_owns_is_theirs_to_have_written(base: Path) -> None:
    # /var/www root's, /var/www/acme the web server user's: the role runs as that user there.
    certs = nobodys_dir(base / "certs")
    result = run_fileproc(certs)
    assert result.returncode == 2, result.stderr  # jailed as nobody, then nothing to do: certproc is gone
