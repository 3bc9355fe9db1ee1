"""Output files a daemon can use, against pebble with the sandbox on: each file's owner, group and mode,
the combined file (the domain key, then the full chain), and a renewal that replaces them whole."""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import select
import stat
import struct
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from integration_common import RUN_TAG
from test_unprivileged import USER, home, run_as_user  # noqa: F401  (home: a fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to other users needs root")

EXIT_CHANGED, EXIT_FAILED, EXIT_UNCHANGED = 0, 1, 2
DAEMON = pwd.getpwnam("daemon").pw_uid
GROUP = grp.getgrnam("nogroup").gr_gid


def access_of(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


IN_CREATE, IN_ATTRIB, IN_MOVED_TO = 0x100, 0x004, 0x080
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; the name follows


class DirectoryWatch:
    """Every name created, changed or moved into a directory, with its owner, group and mode at that moment.

    inotify reports each event after the fact, so a stat may see a later
    state than the event's (or nothing, the name gone); it can never see an
    earlier one. Every state it sees must be allowed.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0
        assert self.libc.inotify_add_watch(self.fd, str(directory).encode(), IN_CREATE | IN_ATTRIB | IN_MOVED_TO) >= 0
        self.seen: list[tuple[str, int, int, int]] = []  # name, uid, gid, mode
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping.is_set():
            if not select.select([self.fd], [], [], 0.05)[0]:
                continue
            data = os.read(self.fd, 65536)
            offset = 0
            while offset < len(data):
                _, _, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0").decode()
                offset += _EVENT.size + length
                try:
                    info = (self.directory / name).lstat()
                except FileNotFoundError:
                    continue
                self.seen.append((name, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)))

    def stop(self) -> list[tuple[str, int, int, int]]:
        self.stopping.set()
        self.thread.join()
        os.close(self.fd)
        return self.seen


def conf_with_outputs(testbed, workdir, handle: str) -> Path:
    cert_dir = workdir.cert_dir
    text = testbed.authority_block("pebble", workdir.account_key()) + f"""
domain {handle} {{
	domain key "{workdir.domain_key(handle)}" ecdsa group nogroup mode 0440
	domain certificate "{cert_dir}/{handle}.crt" owner daemon group nogroup mode 0440
	domain chain certificate {handle}.chain.pem group nogroup mode 0640
	domain full chain certificate {handle}.fullchain.pem
	domain combined certificate {handle}.combined.pem owner root group nogroup mode 0440
	challengedir "{testbed.challenge_dir}"
}}
"""
    path = workdir.root / "acme-client.conf"
    path.write_text(text)
    return path


def test_each_output_file_gets_its_owner_group_and_mode_and_the_combined_file_its_key_and_chain(
    testbed, challenge_dir, workdir, run_client
):
    handle = f"outputs.{RUN_TAG}.example.test"
    conf = conf_with_outputs(testbed, workdir, handle)
    cert_dir = workdir.cert_dir
    directory = cert_dir.stat()

    watch = DirectoryWatch(cert_dir)
    try:
        first = run_client("-v", handle, conf=conf)
    finally:
        seen = watch.stop()
    assert first.returncode == EXIT_CHANGED, first.stderr
    # Whenever a file or its temporary version was seen, it had mode 0000, or else its final owner and
    # group and no permission beyond its final mode: never wider, not for a moment.
    final = {
        f"{handle}.crt": (DAEMON, GROUP, 0o440),
        f"{handle}.chain.pem": (directory.st_uid, GROUP, 0o640),
        f"{handle}.fullchain.pem": (directory.st_uid, directory.st_gid, 0o444),
        f"{handle}.combined.pem": (0, GROUP, 0o440),
    }
    temporaries = [each for each in seen if each[0].startswith(".")]
    assert {name.split(".tmp")[0].rsplit(".", 1)[0][1:] for name, *_ in temporaries} == set(final), seen
    for name, uid, gid, mode in seen:
        owner, group, allowed = final[name if name in final else name.split(".tmp")[0].rsplit(".", 1)[0][1:]]
        assert mode == 0 or ((uid, gid) == (owner, group) and mode & ~allowed == 0), (name, uid, gid, oct(mode))
    assert access_of(cert_dir / f"{handle}.crt") == (DAEMON, GROUP, 0o440)
    assert access_of(cert_dir / f"{handle}.chain.pem") == (directory.st_uid, GROUP, 0o640)
    assert access_of(cert_dir / f"{handle}.fullchain.pem") == (directory.st_uid, directory.st_gid, 0o444)
    assert access_of(cert_dir / f"{handle}.combined.pem") == (0, GROUP, 0o440)
    assert access_of(workdir.domain_key(handle)) == (0, GROUP, 0o440)  # created so

    combined = (cert_dir / f"{handle}.combined.pem").read_bytes()
    fullchain = (cert_dir / f"{handle}.fullchain.pem").read_bytes()
    key_pem, _, rest = combined.partition(b"-----END PRIVATE KEY-----\n")
    key = load_pem_private_key(key_pem + b"-----END PRIVATE KEY-----\n", password=None)
    assert rest == fullchain  # the chain follows the key, the leaf first
    leaf = x509.load_pem_x509_certificate(fullchain)
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    domain_key = load_pem_private_key(workdir.domain_key(handle).read_bytes(), password=None)
    assert key.private_numbers() == domain_key.private_numbers()  # the domain key itself, not another
    testbed.verify_chain(fullchain, handle)
    assert sorted(os.listdir(cert_dir)) == sorted(
        f"{handle}.{suffix}" for suffix in ("crt", "chain.pem", "fullchain.pem", "combined.pem")
    )  # no temporary file left

    # A renewal replaces each file whole; the old one, kept as FILE.1, is the inode the daemon had open.
    before = {name: (cert_dir / name).stat().st_ino for name in os.listdir(cert_dir)}
    renewed = run_client("-F", handle, conf=conf)
    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    for name, inode in before.items():
        assert (cert_dir / f"{name}.1").stat().st_ino == inode
        assert (cert_dir / name).stat().st_ino != inode
    assert access_of(cert_dir / f"{handle}.crt") == (DAEMON, GROUP, 0o440)
    assert access_of(cert_dir / f"{handle}.combined.pem") == (0, GROUP, 0o440)
    new_combined = (cert_dir / f"{handle}.combined.pem").read_bytes()
    assert new_combined.startswith(key_pem)  # the same domain key
    assert new_combined.partition(b"-----END PRIVATE KEY-----\n")[2] == (cert_dir / f"{handle}.fullchain.pem").read_bytes()
    assert x509.load_pem_x509_certificate(new_combined.partition(b"-----END PRIVATE KEY-----\n")[2]).serial_number != leaf.serial_number
    assert not [name for name in os.listdir(cert_dir) if name.startswith(".")]

    # The check before a chain reads the group-readable key the configuration names, and finds nothing to do.
    quiet = run_client(handle, conf=conf)
    assert quiet.returncode == EXIT_UNCHANGED, quiet.stderr
    assert not [name for name in os.listdir(workdir.key_dir) if name.startswith(".")]


def test_an_existing_key_is_given_the_configured_group_and_mode_and_one_another_group_reads_is_refused(
    testbed, challenge_dir, workdir, run_client
):
    handle = f"outputs-key.{RUN_TAG}.example.test"
    conf = conf_with_outputs(testbed, workdir, handle)
    key = workdir.domain_key(handle)
    first = run_client(handle, conf=conf)
    assert first.returncode == EXIT_CHANGED, first.stderr
    os.chown(key, 0, 0)
    key.chmod(0o400)  # as a key made before the configuration named a group
    again = run_client("-F", handle, conf=conf)
    assert again.returncode == EXIT_CHANGED, again.stderr
    assert access_of(key) == (0, GROUP, 0o440)
    os.chown(key, 0, grp.getgrnam("daemon").gr_gid)  # readable by a group the configuration does not name
    refused = run_client("-F", handle, conf=conf)
    assert refused.returncode == EXIT_FAILED
    assert "group read/writable or world read/writable beyond what the configuration names" in refused.stderr
    checked = run_client("-n", conf=conf)
    assert checked.returncode == EXIT_FAILED
    assert "beyond what the configuration names" in checked.stderr


def test_a_combined_file_readable_by_others_is_refused_at_the_check(testbed, workdir, run_client):
    handle = f"outputs-refused.{RUN_TAG}.example.test"
    conf = conf_with_outputs(testbed, workdir, handle)
    conf.write_text(conf.read_text().replace("owner root group nogroup mode 0440", "mode 0644"))
    checked = run_client("-n", conf=conf)
    assert checked.returncode == EXIT_FAILED
    line = next(number for number, text in enumerate(conf.read_text().splitlines(), 1) if "combined" in text)
    assert f"{conf}:{line}: domain combined certificate: mode 0644: others may read it, and it holds the private key" in checked.stderr
    assert os.listdir(workdir.cert_dir) == []


def test_an_ordinary_user_gives_the_combined_file_and_key_to_their_own_group(make_testbed, home):
    """Without root: files stay the user's, a group of the user's may be named, and the jail holds as ever."""
    testbed = make_testbed(challenge_dir=home / "www")
    handle = f"user-outputs.{RUN_TAG}.example.test"
    account = pwd.getpwnam(USER)
    group = grp.getgrgid(account.pw_gid).gr_name
    config = home / ".config" / "acme-client" / "acme-client.conf"
    config.write_text(
        testbed.authority_block("pebble", home / "acme" / "account.key", "ecdsa")
        + f"""
domain {handle} {{
\tdomain key "{home}/acme/{handle}.key" ecdsa group {group} mode 0440
\tdomain full chain certificate "{home}/certs/{handle}.pem" mode 0400
\tdomain combined certificate {handle}.combined.pem group {group} mode 0440
\tchallengedir "{home}/www"
}}
"""
    )
    os.chown(config, account.pw_uid, account.pw_gid)
    issued = run_as_user(home, handle)
    assert issued.returncode == EXIT_CHANGED, issued.stderr
    assert access_of(home / "certs" / f"{handle}.pem") == (account.pw_uid, account.pw_gid, 0o400)
    assert access_of(home / "certs" / f"{handle}.combined.pem") == (account.pw_uid, account.pw_gid, 0o440)
    assert access_of(home / "acme" / f"{handle}.key") == (account.pw_uid, account.pw_gid, 0o440)
    combined = (home / "certs" / f"{handle}.combined.pem").read_bytes()
    assert combined == (home / "acme" / f"{handle}.key").read_bytes() + (home / "certs" / f"{handle}.pem").read_bytes()

    config.write_text(config.read_text().replace(f"combined.pem group {group}", "combined.pem group root"))
    refused = run_as_user(home, "-n")
    assert refused.returncode == EXIT_FAILED
    assert "domain combined certificate: group root: not root, and not one of the running user's groups" in refused.stderr
