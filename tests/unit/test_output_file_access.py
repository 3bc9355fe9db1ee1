"""fileproc's output files with an owner, group and mode: made restricted first, never wider on the way.

Run as root (the suite does) to give files away; the order of the calls
is checked by watching them, the result by stat.
"""

from __future__ import annotations

import base64
import os
import pwd
import grp
import stat
from pathlib import Path

import pytest

from acme_conf import files, keys
from acme_conf.files import KeyAccess
from acme_conf.errors import ProcessFailure
from acme_conf.messages.certificate import WriteCertificate
from acme_conf.proc import fileproc
from acme_conf.proc.fileproc import Held, discard_unused, prepare_outputs, write_certificate
from acme_conf.proc.spec import FileSettings
from fileproc_fixtures import cert_dir, held  # noqa: F401  (fixtures)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
DAEMON = pwd.getpwnam("daemon").pw_uid
NOGROUP = grp.getgrnam("nogroup").gr_gid
KEY = b"-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(b"k" * 90) + b"\n-----END PRIVATE KEY-----\n"


def pem(tag: str) -> bytes:
    body = base64.b64encode(tag.encode() * 12).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


def bundle(tag: str) -> WriteCertificate:
    return WriteCertificate(pem(f"leaf {tag}"), pem(f"chain {tag}"), pem(f"leaf {tag}") + pem(f"chain {tag}"))


def settings(cert_dir: Path, access: tuple[tuple[str, int, int, int], ...] = ()) -> FileSettings:
    return FileSettings(str(cert_dir), "cert.pem", "", "full.pem", False, combined="combined.pem", access=access)


@needs_root
def test_a_new_file_is_created_exclusive_with_mode_0_then_chowned_then_chmodded(
    cert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, object]] = []
    real_open, real_fchown, real_fchmod = os.open, os.fchown, os.fchmod

    def watch_open(path, flags, mode=0o777, *, dir_fd=None):  # type: ignore[no-untyped-def]
        calls.append(("open", (flags & (os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW), mode)))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def watch_fchown(fd: int, uid: int, gid: int) -> None:
        calls.append(("fchown", (uid, gid, stat.S_IMODE(os.fstat(fd).st_mode))))
        real_fchown(fd, uid, gid)

    def watch_fchmod(fd: int, mode: int) -> None:
        info = os.fstat(fd)
        calls.append(("fchmod", (mode, info.st_uid, info.st_gid, info.st_size)))
        real_fchmod(fd, mode)

    monkeypatch.setattr(files.os, "open", watch_open)
    monkeypatch.setattr(files.os, "fchown", watch_fchown)
    monkeypatch.setattr(files.os, "fchmod", watch_fchmod)
    directory_fd = real_open(cert_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.close(files.create_restricted(directory_fd, "new.pem", DAEMON, NOGROUP, 0o640))
        os.close(files.create_restricted(directory_fd, "same.pem", -1, os.getegid(), 0o444))
    finally:
        os.close(directory_fd)
    assert calls == [
        ("open", (os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0)),  # nobody may open it but root
        ("fchown", (DAEMON, NOGROUP, 0)),  # still mode 0000 when it gets its owner
        ("fchmod", (0o640, DAEMON, NOGROUP, 0)),  # the mode once the owner is right, still empty
        ("open", (os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0)),
        ("fchmod", (0o444, os.geteuid(), os.getegid(), 0)),  # no chown where nothing changes: none in the jail
    ]


def test_an_existing_name_or_a_link_is_never_opened(cert_dir: Path) -> None:
    (cert_dir / "there.pem").write_text("old")
    (cert_dir / "link.pem").symlink_to(cert_dir / "elsewhere.pem")
    directory_fd = os.open(cert_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in ("there.pem", "link.pem"):
            with pytest.raises(FileExistsError):
                files.create_restricted(directory_fd, name, -1, -1, 0o444)
    finally:
        os.close(directory_fd)
    assert (cert_dir / "there.pem").read_text() == "old"
    assert not (cert_dir / "elsewhere.pem").exists()


@needs_root
def test_before_the_jail_only_what_the_jail_could_not_make_is_made_and_with_its_owner_and_mode(
    held: Held, cert_dir: Path
) -> None:
    access = (("cert.pem", DAEMON, NOGROUP, 0o440), ("combined.pem", 0, NOGROUP, 0o440))
    (cert_dir / "full.pem").write_text("the current full chain, the daemon's")
    os.chown(cert_dir / "full.pem", DAEMON, NOGROUP)
    prepared = prepare_outputs(held.directory_fd, held.directory, settings(cert_dir, access), (0, 0))
    try:
        found = {each.name: os.stat(each.temporary, dir_fd=held.directory_fd) for each in prepared if each.temporary}
        backups = {each.name: os.stat(each.backup, dir_fd=held.directory_fd).st_ino for each in prepared if each.backup}
    finally:
        discard_unused(held.directory_fd, prepared)
    # full.pem, as fileproc will be in its jail, is made there; its current version, another owner's, is linked now
    assert {name: (i.st_uid, i.st_gid, stat.S_IMODE(i.st_mode)) for name, i in found.items()} == {
        "cert.pem": (DAEMON, NOGROUP, 0o440),
        "combined.pem": (0, NOGROUP, 0o440),
    }
    assert all(info.st_size == 0 for info in found.values())
    assert backups == {"full.pem": os.stat(cert_dir / "full.pem").st_ino}
    assert os.listdir(cert_dir) == ["full.pem"]  # unused: removed


def test_nothing_is_made_before_the_jail_for_files_as_fileproc_will_be(held: Held, cert_dir: Path) -> None:
    identity = (os.stat(cert_dir).st_uid, os.stat(cert_dir).st_gid)
    (cert_dir / "cert.pem").write_text("current")
    assert prepare_outputs(held.directory_fd, held.directory, settings(cert_dir), identity) == ()


def test_a_fileproc_stopped_before_its_install_leaves_what_the_next_one_sweeps(held: Held, cert_dir: Path) -> None:
    stale = [".cert.pem.0123456789ab.tmp", ".combined.pem.1.0123456789ab.tmp"]
    others = [".other.pem.0123456789ab.tmp", ".cert.pem.tmp", "cert.pem.1", ".cert.pem.0123456789ab.tmp.x"]
    for name in stale + others:
        (cert_dir / name).write_text("")
    fileproc.sweep_leftovers(held.directory_fd, settings(cert_dir))
    assert sorted(os.listdir(cert_dir)) == sorted(others)


@needs_root
def test_an_install_gives_each_file_its_owner_group_and_mode_and_the_combined_file_key_then_full_chain(
    held: Held, cert_dir: Path
) -> None:
    access = (("cert.pem", DAEMON, -1, 0o444), ("full.pem", -1, NOGROUP, 0o640), ("combined.pem", 0, NOGROUP, 0o440))
    write_certificate(held, settings(cert_dir, access), bundle("one"), KEY)
    found = {name: os.stat(cert_dir / name) for name in ("cert.pem", "full.pem", "combined.pem")}
    assert {name: (i.st_uid, i.st_gid, stat.S_IMODE(i.st_mode)) for name, i in found.items()} == {
        "cert.pem": (DAEMON, os.stat(cert_dir).st_gid, 0o444),
        "full.pem": (os.stat(cert_dir).st_uid, NOGROUP, 0o640),
        "combined.pem": (0, NOGROUP, 0o440),
    }
    assert (cert_dir / "combined.pem").read_bytes() == KEY + bundle("one").fullchain
    assert sorted(os.listdir(cert_dir)) == ["cert.pem", "combined.pem", "full.pem"]


@needs_root
def test_a_renewal_replaces_each_file_whole_and_keeps_the_old_one_with_its_access(held: Held, cert_dir: Path) -> None:
    access = (("combined.pem", DAEMON, NOGROUP, 0o400),)
    write_certificate(held, settings(cert_dir, access), bundle("one"), KEY)
    before = os.stat(cert_dir / "combined.pem")
    write_certificate(held, settings(cert_dir, access), bundle("two"), KEY)
    assert (cert_dir / "combined.pem").read_bytes() == KEY + bundle("two").fullchain
    assert (cert_dir / "combined.pem.1").read_bytes() == KEY + bundle("one").fullchain
    assert os.stat(cert_dir / "combined.pem.1").st_ino == before.st_ino
    after = os.stat(cert_dir / "combined.pem")
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (DAEMON, NOGROUP, 0o400)
    assert sorted(os.listdir(cert_dir)) == ["cert.pem", "cert.pem.1", "combined.pem", "combined.pem.1", "full.pem", "full.pem.1"]


@pytest.mark.parametrize(
    "key",
    [b"", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", KEY + KEY, KEY.replace(b"PRIVATE", b"RSA PRIVATE")],
)
def test_no_combined_file_without_one_pem_private_key(held: Held, cert_dir: Path, key: bytes) -> None:
    with pytest.raises(ProcessFailure, match="private key"):
        write_certificate(held, settings(cert_dir), bundle("one"), key)
    assert os.listdir(cert_dir) == []


def test_fileproc_takes_the_private_key_from_keyproc_only_in_its_shape(cert_dir: Path) -> None:
    import socket

    from acme_conf.ipc import Channel
    from acme_conf.messages.key import DomainPrivateKey

    ours, theirs = socket.socketpair()
    sender = Channel(theirs, "fileproc")
    holder = Held(Channel(socket.socketpair()[0], "certproc"), -1, str(cert_dir), Channel(ours, "keyproc"))
    sender.send(DomainPrivateKey(b"not a key"))
    with pytest.raises(ProcessFailure, match="not one PEM private key"):
        fileproc._private_key(holder)
    sender.send(DomainPrivateKey(KEY))
    assert fileproc._private_key(holder) == KEY
    theirs.close()
    with pytest.raises(ProcessFailure, match="keyproc stopped"):
        fileproc._private_key(holder)


# the domain key's group and mode (keys.py) ----------------------------------------------------


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    return directory


@needs_root
def test_a_new_key_is_created_with_the_named_group_and_mode(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[int, int, int]] = []
    real = files.create_restricted

    def watch(directory_fd: int, name: str, uid: int, gid: int, mode: int) -> int:
        made.append((uid, gid, mode))
        return real(directory_fd, name, uid, gid, mode)

    monkeypatch.setattr(keys, "create_restricted", watch)
    key, created = keys.load_or_create_key(key_dir / "d.key", "ecdsa", 256, KeyAccess(NOGROUP, 0o440))
    assert created and made == [(-1, NOGROUP, 0o440)]  # through the writer that is never wider on the way
    info = os.stat(key_dir / "d.key")
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, NOGROUP, 0o440)
    assert os.listdir(key_dir) == ["d.key"]


@needs_root
def test_an_existing_key_is_given_the_named_group_and_mode_but_only_by_a_run_that_may_create_it(key_dir: Path) -> None:
    path = key_dir / "d.key"
    keys.load_or_create_key(path, "ecdsa", 256)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o400
    access = KeyAccess(NOGROUP, 0o440)
    assert keys.load_existing_key(path, "ecdsa", 256, access) is not None
    assert (os.stat(path).st_gid, stat.S_IMODE(os.stat(path).st_mode)) == (0, 0o400)  # a check only reads
    keys.load_or_create_key(path, "ecdsa", 256, access)
    assert (os.stat(path).st_gid, stat.S_IMODE(os.stat(path).st_mode)) == (NOGROUP, 0o440)


@needs_root
@pytest.mark.parametrize(("gid", "mode"), [(1, 0o440), (NOGROUP, 0o444), (NOGROUP, 0o460)])
def test_a_key_more_readable_than_the_configuration_names_is_refused_untouched(key_dir: Path, gid: int, mode: int) -> None:
    path = key_dir / "d.key"
    keys.load_or_create_key(path, "ecdsa", 256)
    os.chown(path, 0, gid)
    path.chmod(mode)
    with pytest.raises(keys.KeyFileError, match="beyond what the configuration names"):
        keys.load_or_create_key(path, "ecdsa", 256, KeyAccess(NOGROUP, 0o440))
    assert (os.stat(path).st_gid, stat.S_IMODE(os.stat(path).st_mode)) == (gid, mode)
    with pytest.raises(keys.KeyFileError, match="group read/writable or world read/writable"):
        keys.load_existing_key(path, "ecdsa", 256)  # without a group named, the private rule as before


@needs_root
def test_certproc_cannot_hand_fileproc_a_key_and_nothing_is_installed(cert_dir: Path) -> None:
    import socket

    from acme_conf.ipc import Channel, ChannelError
    from acme_conf.messages.key import DomainPrivateKey
    from acme_conf.proc.spec import ChildSpec

    certproc_end, ours = socket.socketpair()
    keyproc_end, our_key = socket.socketpair()
    directory_fd = os.open(cert_dir, os.O_RDONLY | os.O_DIRECTORY)
    settings_ = settings(cert_dir, (("combined.pem", DAEMON, NOGROUP, 0o440),))
    holder = Held(
        Channel(ours, "certproc"), directory_fd, str(cert_dir), Channel(our_key, "keyproc"),
        list(prepare_outputs(directory_fd, str(cert_dir), settings_, (0, 0))),
    )
    assert os.listdir(cert_dir)  # the combined file's new version, another owner's, made before the jail
    Channel(certproc_end, "fileproc").send(DomainPrivateKey(KEY))  # on certproc's channel: not what it may send
    spec = ChildSpec("fileproc", "a.example", 0, False, (), settings_)
    try:
        with pytest.raises(ChannelError):
            fileproc.serve(spec, holder)
    finally:
        os.close(directory_fd)
        certproc_end.close()
        keyproc_end.close()
    assert os.listdir(cert_dir) == []  # the files made before the jail are gone with it


@needs_root
def test_a_revocation_removes_the_combined_file_too(held: Held, cert_dir: Path) -> None:
    write_certificate(held, settings(cert_dir, (("combined.pem", DAEMON, NOGROUP, 0o440),)), bundle("one"), KEY)
    fileproc.remove_certificate(held, settings(cert_dir)._replace(revoke=True))
    assert sorted(os.listdir(cert_dir)) == []
