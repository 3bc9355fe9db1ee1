"""acme_conf.paths: a path walked one name at a time, links followed only where nobody else could place them.

Run as root (the suite's normal case), with `nobody` as the other user; as
an ordinary user the tests that need another owner are skipped.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pwd
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from acme_conf import paths
from acme_conf.files import is_missing, read_regular_file
from acme_conf.paths import PathRefused, resolve

NOBODY = pwd.getpwnam("nobody").pw_uid
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="making files another user owns needs root")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A directory only root (or the running user) may write, as every directory above it."""
    tmp_path.chmod(0o755)
    return tmp_path


def resolved(path: Path | str) -> paths.Resolved:
    result = resolve(str(path))
    os.close(result.fd)
    return result


def other_users_dir(parent: Path, name: str = "web") -> Path:
    directory = parent / name
    directory.mkdir(mode=0o755)
    os.chown(directory, NOBODY, NOBODY)
    return directory


# ---- plain paths and links in trusted directories --------------------------------------------


def test_a_plain_path_is_itself(base: Path) -> None:
    (base / "a").mkdir()
    result = resolved(base / "a")
    assert result.real == str(base / "a") and result.links == 0 and result.controlled_by == ""
    assert stat.S_ISDIR(result.info.st_mode)
    assert (result.holder.st_dev, result.holder.st_ino) == (base.stat().st_dev, base.stat().st_ino)


def test_links_in_trusted_directories_are_followed_and_the_real_path_given(base: Path) -> None:
    (base / "real").mkdir()
    (base / "real" / "key").write_text("k")
    (base / "absolute").symlink_to(base / "real")
    (base / "relative").symlink_to("real")
    (base / "real" / "up").symlink_to("../relative/key")  # a chain of three, with ".."
    for path in (base / "absolute" / "key", base / "relative" / "key", base / "real" / "up"):
        result = resolved(path)
        assert result.real == str(base / "real" / "key"), path
        assert result.links >= 1
        assert (result.holder.st_ino) == (base / "real").stat().st_ino


def test_a_relative_path_starts_from_the_current_directory(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (base / "f").write_text("x")
    monkeypatch.chdir(base)
    assert resolved("f").real == str(base / "f")


def test_a_loop_of_links_ends_with_eloop(base: Path) -> None:
    (base / "a").symlink_to("b")
    (base / "b").symlink_to("a")
    with pytest.raises(OSError) as raised:
        resolve(str(base / "a"))
    assert raised.value.errno == errno.ELOOP


def test_missing_and_not_a_directory_are_said_as_the_kernel_says_them(base: Path) -> None:
    (base / "file").write_text("")
    with pytest.raises(FileNotFoundError):
        resolve(str(base / "missing" / "x"))
    with pytest.raises(NotADirectoryError):
        resolve(str(base / "file" / "x"))
    (base / "dangling").symlink_to(base / "nothing")
    with pytest.raises(FileNotFoundError):
        resolve(str(base / "dangling"))


def test_missing_is_what_reading_would_find_missing(base: Path) -> None:
    """files.is_missing, by which the parent starts no revokeproc: only FileNotFoundError on the walk is missing."""
    (base / "file").write_text("")
    (base / "dangling").symlink_to(base / "nothing")
    for path in (base / "nothing", base / "missing" / "x", base / "dangling"):
        assert is_missing(path), path
        with pytest.raises(FileNotFoundError):
            read_regular_file(path, 10)
    for path in (base / "file", base, base / "file" / "x"):  # there, or wrong in a way the reader names
        assert not is_missing(path), path


@as_root
def test_a_path_through_a_link_someone_else_placed_is_not_missing(base: Path) -> None:
    """The reader refuses it (PathRefused) and says so: not a first issuance."""
    web = other_users_dir(base)
    (base / "vault").mkdir(mode=0o700)
    (web / "acme").symlink_to(base / "vault")
    assert not is_missing(web / "acme" / "cert.pem")


def test_nothing_is_left_open(base: Path) -> None:
    (base / "link").symlink_to(base)
    before = len(os.listdir("/proc/self/fd"))
    for path in (base / "link" / "link", base / "missing", base / "link" / "missing" / "x"):
        try:
            os.close(resolve(str(path)).fd)
        except OSError:
            pass
    assert len(os.listdir("/proc/self/fd")) == before


# ---- links someone else could have placed ------------------------------------------------------


@as_root
def test_a_link_in_another_users_directory_is_refused_naming_it_and_them(base: Path) -> None:
    web = other_users_dir(base)
    (base / "vault").mkdir(mode=0o700)
    (web / "acme").symlink_to(base / "vault")
    with pytest.raises(PathRefused) as raised:
        resolve(str(web / "acme"))
    assert raised.value.strerror == (
        f"{web}/acme is a symbolic link in {web}, which its owner nobody (uid {NOBODY}) may write: not followed"
    )


@pytest.mark.parametrize(
    ("mode", "who"), [(0o775, "its group (gid 0) may write (mode 0775)"), (0o757, "anyone may write (mode 0757)")]
)
def test_a_link_in_a_directory_group_or_others_may_write_is_refused(base: Path, mode: int, who: str) -> None:
    shared = base / "shared"
    shared.mkdir()
    shared.chmod(mode)
    os.chown(shared, os.geteuid(), 0)
    (shared / "link").symlink_to(base)
    with pytest.raises(PathRefused, match=re.escape(f"{shared}/link is a symbolic link in {shared}, which {who}")):
        resolve(str(shared / "link"))


@as_root
def test_in_a_sticky_directory_only_a_link_of_root_or_ours_is_followed(base: Path) -> None:
    sticky = base / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "ours").symlink_to(base)
    assert resolved(sticky / "ours").real == str(base)
    (sticky / "theirs").symlink_to(base)
    os.chown(sticky / "theirs", NOBODY, NOBODY, follow_symlinks=False)
    with pytest.raises(PathRefused, match="which anyone may write"):
        resolve(str(sticky / "theirs"))


@as_root
def test_a_directory_on_the_way_that_another_user_may_write_is_reported(base: Path) -> None:
    web = other_users_dir(base)
    (web / "acme").mkdir()  # root's, in nobody's directory: nobody decides what web/acme is
    result = resolved(web / "acme")
    assert result.controlled_by == f"{web}, which its owner nobody (uid {NOBODY}) may write"
    assert resolved(web).controlled_by == ""  # web itself sits in a directory only root may write
    os.chown(web / "acme", NOBODY, NOBODY)
    assert resolved(web / "acme").controlled_by != ""  # still said; apply.py decides what it means


def test_a_link_in_a_directory_the_running_user_owns_is_followed(base: Path) -> None:
    (base / "mine").mkdir(mode=0o700)
    (base / "mine" / "link").symlink_to(base)
    assert resolved(base / "mine" / "link").real == str(base)


# ---- the kind of file, seen without opening it ------------------------------------------------


IN_OPEN = 0x20


@pytest.fixture
def opens_of() -> Iterator:
    """opens_of(path) -> a function telling whether `path` was opened (for real) since."""
    libc = ctypes.CDLL(None, use_errno=True)
    inotify = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert inotify >= 0

    def watch(path: Path):
        assert libc.inotify_add_watch(inotify, str(path).encode(), IN_OPEN) >= 0

        def opened() -> bool:
            try:
                return bool(os.read(inotify, 4096))
            except BlockingIOError:
                return False

        return opened

    yield watch
    os.close(inotify)


@as_root
def test_a_device_behind_a_link_is_seen_and_never_opened(base: Path, opens_of) -> None:
    device = base / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null: only we open it
    (base / "key").symlink_to(device)
    opened = opens_of(device)
    result = resolved(base / "key")
    assert paths.kind(result.info.st_mode) == "a character device"
    with pytest.raises(OSError, match=r"not a regular file \(a character device\)"):
        read_regular_file(base / "key", 100)
    assert not opened()
    os.close(os.open(device, os.O_RDONLY))  # the control: a real open is seen
    assert opened()


@pytest.mark.parametrize(
    ("make", "kind"),
    [(os.mkfifo, "a FIFO"), (lambda path: path.mkdir(), "a directory")],
)
def test_the_kind_is_named(base: Path, make, kind: str) -> None:
    make(base / "thing")
    assert paths.kind(resolved(base / "thing").info.st_mode) == kind


def test_a_regular_file_is_reopened_for_reading_and_checked_to_be_the_same(base: Path) -> None:
    (base / "f").write_bytes(b"0123456789")
    assert read_regular_file(base / "f", 4) == b"01234"  # one byte over tells the caller it is too big
    result = resolve(str(base / "f"))
    try:
        (base / "f").unlink()
        (base / "f").write_bytes(b"other")  # the name now names another file: the checked one is read
        fd = paths.reopen(result, os.O_RDONLY)
        assert os.read(fd, 100) == b"0123456789"
        os.close(fd)
    finally:
        os.close(result.fd)


# ---- who may own a key and its directory -------------------------------------------------------


@as_root
def test_private_file_and_directory_rules(base: Path) -> None:
    key = base / "key"
    key.write_text("k")
    key.chmod(0o600)
    assert paths.private_file_problems(key.stat()) == []
    key.chmod(0o640)
    assert paths.private_file_problems(key.stat()) == ["group read/writable or world read/writable"]
    key.chmod(0o600)
    os.chown(key, NOBODY, NOBODY)
    assert paths.private_file_problems(key.stat()) == [f"owned by nobody (uid {NOBODY}), not by root"]
    assert paths.private_directory_problems(base.stat()) == []
    base.chmod(0o1777)
    assert paths.private_directory_problems(base.stat()) == ["writable by group or others (mode 1777)"]
    base.chmod(0o755)
    os.chown(base, NOBODY, NOBODY)
    assert paths.private_directory_problems(base.stat()) == [f"owned by nobody (uid {NOBODY}), not by root"]
