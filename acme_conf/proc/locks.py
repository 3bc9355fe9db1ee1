"""One lock per domain, so two runs for the same domain never interleave."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import platformdirs

from acme_conf.errors import ProcessFailure

SYSTEM_LOCK_DIR = Path("/run/acme-client")


class LockBusy(ProcessFailure):
    """Another acme-client run is working on this domain."""


def lock_directory() -> Path:
    """/run/acme-client for root; the user's runtime directory otherwise."""
    if os.geteuid() == 0:
        return SYSTEM_LOCK_DIR
    runtime = Path(platformdirs.user_runtime_dir("acme-client"))
    if runtime.parent.is_dir():
        return runtime
    return Path("/tmp") / f"acme-client-{os.geteuid()}"


class DomainLock:
    """An exclusive, non-blocking flock on DIR/HANDLE.lock, held until released."""

    def __init__(self, directory: Path, handle: str) -> None:
        self.path = directory / f"{handle}.lock"
        self._fd = -1

    def acquire(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = directory.lstat()
            if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                raise ProcessFailure(f"lock directory {directory} is not private to this user")
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise ProcessFailure(f"cannot create lock {self.path}: {error.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = -1
            raise LockBusy(f"another acme-client run holds {self.path}") from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1
