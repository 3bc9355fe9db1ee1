"""What `-n` may say about files and directories a configuration names.

The check judges the configuration, not the machine it runs on (as
upstream): a key that does not exist yet is created at run time, and a
directory that is missing now only has to exist when certificates are
issued, so both give at most a warning.  What is wrong already is an error:
an existing key that group or others may read (upstream's rule), a key or
CA file path that is not a plain file, a CA file with no certificate in it.
Symbolic links are followed, as the run follows them when it reads.
"""

from __future__ import annotations

import errno
import os
import stat

from acme_conf.files import read_regular_file


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

    def private_key(self, path: str) -> Finding | None:
        """A key file: absent is fine (it is created); present must be private.

        A link is followed (the run reads the key through it); a link to
        nothing is worth a warning, since the run does not create a key there.
        """
        directory, name = os.path.split(path)
        listing = self._listing(directory)
        if listing is not None and name not in listing:
            return self.directory(directory, "key directory")
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if os.path.islink(path):
                return Finding(
                    False,
                    f"{_named(path)}, which does not exist (a key is not created through a link)",
                )
            return self.directory(directory, "key directory")
        except PermissionError:
            return Finding(False, f"cannot check {path}: permission denied")
        except OSError as error:
            return Finding(True, f"cannot stat {path}: {error.strerror}")
        if not stat.S_ISREG(info.st_mode):
            return Finding(True, f"{_named(path)}: not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return Finding(True, f"{_named(path)}: group read/writable or world read/writable")
        return None

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

        A missing directory is reported once, where it is first named.
        """
        if path in self._directories:
            return None
        exists = self._directories[path] = os.path.isdir(path)
        if exists:
            return None
        return Finding(False, f"{what} {path} does not exist (it must exist at run time)")

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


MAX_CA_FILE = 16 * 2**20  # the system bundle is ~0.2 MiB; a certificate after this is not looked for
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def _named(path: str) -> str:
    """`path` for a message about the file it names: with its target if it is a link."""
    if os.path.islink(path):
        return f"{path} (a link to {os.path.realpath(path)})"
    return path

