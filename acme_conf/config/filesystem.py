"""What `-n` may say about files and directories a configuration names.

The check judges the configuration, not the machine it runs on (as
upstream): a key that does not exist yet is created at run time, and a
directory that is missing now only has to exist when certificates are
issued, so both give at most a warning.  What is wrong already is an error:
an existing key that group or others may read (upstream's rule), that
belongs to another user than root or the one checking, or whose directory
someone else may write; a key or CA file path that is not a plain file, a
CA file with no certificate in it.  Paths are resolved as the run resolves
them (acme_conf.paths): a link is followed unless another user could have
placed it, which is an error for a key and a warning for a directory (the
run refuses it then, as it refuses to work as root in a root-owned
challenge or certificate directory that another user decides).
"""

from __future__ import annotations

import errno
import os
import stat

from acme_conf.files import KeyAccess, key_file_problems, read_regular_file
from acme_conf.paths import (
    PathRefused,
    Resolved,
    hook_program_refusal,
    kind,
    private_directory_problems,
    resolve,
)


class Finding:
    """One result of a check: an error or a warning, and its message."""

    __slots__ = ("is_error", "message")

    def __init__(self, is_error: bool, message: str) -> None:
        self.is_error = is_error
        self.message = message


class FileChecks:
    """Checks with a memory of directories already looked at (many blocks share them)."""

    def __init__(self) -> None:
        self._directories: dict[str, bool] = {}  # path -> whether it exists
        self._listings: dict[str, frozenset[str] | None] = {}
        # Key directory -> what is wrong with it: walked once, not once per key
        # (thousands of keys may share one; walking is one open and fstat
        # per component of the path).
        self._key_directory_problems: dict[str, tuple[Finding, ...]] = {}

    def private_key(self, path: str, allowed: tuple[int, int] | None = None) -> tuple[Finding, ...]:
        """A key file: absent is fine (it is created) if its directory is private; present must be private.

        A link is followed (the run reads the key through it) unless another
        user could have placed it; a link to nothing is worth a warning, since
        the run does not create a key there.  Each problem is one finding.
        """
        directory, name = os.path.split(path)
        listing = self._listing(directory)
        if listing is not None and name not in listing:
            return self._key_directory(directory)
        try:
            resolved = resolve(path)
        except FileNotFoundError:
            if os.path.islink(path):
                return (
                    Finding(False, f"{_named(path)}, which does not exist (a key is not created through a link)"),
                )
            return self._key_directory(directory)
        except PathRefused as error:
            return (Finding(True, f"{path}: {error.strerror}"),)
        except PermissionError:
            return (Finding(False, f"cannot check {path}: permission denied"),)
        except OSError as error:
            return (Finding(True, f"cannot stat {path}: {error.strerror}"),)
        os.close(resolved.fd)
        if not stat.S_ISREG(resolved.info.st_mode):
            return (Finding(True, f"{_named(path)}: not a regular file"),)
        real_directory = os.path.dirname(resolved.real)
        # `allowed`: the (gid, mode) `domain key ... group NAME mode OCTAL` lets the key have
        access = None if allowed is None else KeyAccess(*allowed)
        found = [Finding(True, f"{_named(path)}: {problem}") for problem in key_file_problems(resolved.info, access)]
        found += [
            Finding(True, f"key directory {real_directory}: {problem}")
            for problem in private_directory_problems(resolved.holder)
        ]
        if real_directory != os.path.normpath(directory):  # a link led elsewhere: the configured one counts too
            found += self._key_directory(directory)
        return tuple(found)

    def _key_directory(self, directory: str) -> tuple[Finding, ...]:
        """The directory of a key: missing is a warning; existing, it must be root's or ours, and ours alone to write."""
        missing = self.directory(directory, "key directory")
        if missing is not None or not self._directories.get(directory):
            return () if missing is None else (missing,)
        problems = self._key_directory_problems.get(directory)
        if problems is None:
            problems = self._key_directory_problems[directory] = self._walk_key_directory(directory)
        return problems  # for every key in it, each at its own line

    @staticmethod
    def _walk_key_directory(directory: str) -> tuple[Finding, ...]:
        """What is wrong with an existing key directory: its owner, who else may write it."""
        try:
            resolved = resolve(directory)
        except PathRefused as error:
            return (Finding(True, f"key directory {directory}: {error.strerror}"),)
        except OSError:
            return ()  # os.path.isdir found it: this user may not walk the whole path, the run may
        os.close(resolved.fd)
        return tuple(
            Finding(True, f"key directory {_shown(directory, resolved)}: {problem}")
            for problem in private_directory_problems(resolved.info)
        )

    def _listing(self, directory: str) -> frozenset[str] | None:
        """The names in a directory (read once: many keys share one), or None."""
        if directory not in self._listings:
            try:
                self._listings[directory] = frozenset(os.listdir(directory))
            except OSError:
                self._listings[directory] = None
        return self._listings[directory]

    def directory(self, path: str, what: str) -> Finding | None:
        """A directory that must exist when certificates are issued.

        A missing directory is reported once, where it is first named; so is
        a challenge or certificate directory that the run would refuse (a
        link another user could have placed, or a root-owned directory on a
        path another user may write: the run works there as its owner).
        """
        if path in self._directories:
            return None
        exists = self._directories[path] = os.path.isdir(path)
        if not exists:
            return Finding(False, f"{what} {path} does not exist (it must exist at run time)")
        if what not in _WRITTEN_AS_OWNER:
            return None
        try:
            resolved = resolve(path)
        except PathRefused as error:
            return Finding(False, f"{what} {path}: {error.strerror} (the run refuses it)")
        except OSError:
            return None  # os.path.isdir found it: this user may not walk the whole path, the run may
        os.close(resolved.fd)
        if not stat.S_ISDIR(resolved.info.st_mode):
            return Finding(False, f"{what} {_shown(path, resolved)}: not a directory ({kind(resolved.info.st_mode)})")
        if os.geteuid() == 0 and resolved.info.st_uid == 0 and resolved.controlled_by:
            return Finding(
                False,
                f"{what} {_shown(path, resolved)} belongs to root, but {resolved.controlled_by}, is on"
                " its path: a run as root refuses to write there",
            )
        return None

    @staticmethod
    def program(path: str) -> Finding | None:
        """A hook program: a file that exists and may be run, that no other user may change.

        The run checks it again when hookproc starts (proc/hookproc.py):
        whoever may change the program, or a directory on its path, runs
        code as the hook's user.
        """
        problem = hook_program_refusal(path)
        return Finding(True, f"{path}: {problem}") if problem else None

    @staticmethod
    def ca_file(path: str) -> Finding | None:
        """A CA bundle: a file holding PEM certificates (links are followed).

        Missing is only a warning (it must exist at run time); so is a file
        this user may not read, since the run may have other rights.
        """
        try:
            bundle = read_regular_file(path, MAX_CA_FILE)
        except FileNotFoundError:
            return Finding(False, f"ca file {path} does not exist (it must exist at run time)")
        except PermissionError:
            return Finding(False, f"cannot check ca file {path}: permission denied")
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.EISDIR):
                return Finding(True, f"ca file {_named(path)}: not a regular file")
            return Finding(True, f"cannot stat ca file {path}: {error.strerror}")
        if _PEM_CERTIFICATE not in bundle:
            return Finding(True, f"ca file {_named(path)}: contains no PEM certificate")
        return None


# Directories the run writes in as their owner (chngproc, fileproc).
_WRITTEN_AS_OWNER = ("challengedir", "certificate directory")
MAX_CA_FILE = 16 * 2**20  # the system bundle is ~0.2 MiB; a certificate after this is not looked for
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def _shown(path: str, resolved: Resolved) -> str:
    """A directory's path for a message, with the real one when a link leads elsewhere."""
    return path if resolved.real == os.path.normpath(path) else f"{path} (really {resolved.real})"


def _named(path: str) -> str:
    """`path` for a message about the file it names: with its target if it is a link."""
    if os.path.islink(path):
        return f"{path} (a link to {os.path.realpath(path)})"
    return path

