"""fileproc: installs the checked certificate files in the certificate directory.

It holds one descriptor, the certificate directory, and works only relative
to it.  Each file is written to a temporary file, flushed, made read-only,
and renamed over the old one, whose previous version stays as FILE.1; the
directory is flushed last.  A reader sees the old file or the new one,
never a part.

It installs only what certproc approved, in the shape certproc gives it:
one PEM certificate, a chain of PEM certificates, and a full chain that is
exactly the two together (checked as text; certproc parsed them).  Only a
-r run may remove the files.

Exit status: 0 when files were written or removed, 2 when there was nothing to do.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import signal
from typing import NamedTuple

from acme_conf import sandbox
from acme_conf.files import open_directory, temporary_name, write_all
from acme_conf.ipc import Channel, ChannelClosed
from acme_conf.messages.certificate import RemoveCertificate, WriteCertificate
from acme_conf.proc.child import run_role
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK, EXIT_UNCHANGED
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import ChildSpec, FileSettings

FILE_MODE = 0o444
_PEM_CERTIFICATE = rb"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{1,65536}-----END CERTIFICATE-----\n"
_ONE_CERTIFICATE = re.compile(_PEM_CERTIFICATE)
_CERTIFICATES = re.compile(rb"(?:" + _PEM_CERTIFICATE + rb"){0,16}")

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """fileproc's channel from certproc and the certificate directory it works in."""

    cert: Channel
    directory_fd: int
    directory: str


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, FileSettings)
    directory = open_directory(settings.cert_dir, "certificate directory")
    # The real path, links resolved: in logs, and what the sandbox is given.
    return Held(Channel.from_fd(spec.channel_fd("certproc"), "certproc"), directory.fd, directory.real)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(
        channels=(held.cert.fileno(),),
        files=(held.directory_fd,),
        write_dir=held.directory,
        strict=spec.strict_sandbox,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    settings = spec.settings
    assert isinstance(settings, FileSettings)
    # Only a -r run removes files: a certproc taken over cannot order it.
    expected = RemoveCertificate if settings.revoke else WriteCertificate
    try:
        try:
            request = held.cert.recv(expected)
        except ChannelClosed:
            return EXIT_UNCHANGED
        with signals_held(signal.SIGTERM):  # a SIGTERM waits until the set is installed or left untouched
            if isinstance(request, WriteCertificate):
                write_certificate(held, settings, request)
            else:
                remove_certificate(held, settings)
    finally:
        held.cert.close()
    return EXIT_OK


def write_certificate(held: Held, settings: FileSettings, files: WriteCertificate) -> None:
    """Install chain, certificate and full chain, as configured, as one set.

    Three steps: every new file is written and flushed under a temporary
    name; every old file is kept as FILE.1; then each new file is renamed
    over its old one.  A failure in the first two steps leaves the old set
    in place; a failed rename in the last puts back the files already
    replaced, so the set is never half old, half new.
    """
    _check_shape(files)
    wanted = [
        (name, content)
        for name, content in (
            (settings.chain, files.chain),
            (settings.certificate, files.certificate),
            (settings.fullchain, files.fullchain),
        )
        if name
    ]
    written: list[tuple[str, str]] = []
    try:
        for name, content in wanted:
            written.append((name, _write_temporary(held, name, content)))
    except ProcessFailure:
        for _, temporary in written:
            _discard(held, temporary)
        raise
    kept: dict[str, bool] = {}  # name -> an old version was kept as name.1
    try:
        for name, _ in written:
            kept[name] = _keep_backup(held, name)
    except OSError as error:
        for _, temporary in written:
            _discard(held, temporary)
        raise ProcessFailure(f"cannot keep the previous {held.directory}/{name}: {error.strerror}") from None
    for index, (name, temporary) in enumerate(written):
        try:
            os.rename(temporary, name, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
        except OSError as error:
            for done, _ in written[:index]:
                _put_back(held, done, kept[done])
            for _, left in written[index:]:
                _discard(held, left)
            raise ProcessFailure(f"cannot install {held.directory}/{name}: {error.strerror}") from None
    for name, _ in written:
        log.info("wrote %s/%s", held.directory, name)
    _sync(held)


def _check_shape(files: WriteCertificate) -> None:
    """What certproc sends, and nothing else: a file of another shape is refused, whoever made it."""
    if _ONE_CERTIFICATE.fullmatch(files.certificate) is None:
        raise ProcessFailure("certproc sent a certificate that is not one PEM certificate: nothing installed")
    if _CERTIFICATES.fullmatch(files.chain) is None:
        raise ProcessFailure("certproc sent a chain that is not PEM certificates: nothing installed")
    if files.fullchain != files.certificate + files.chain:
        raise ProcessFailure("certproc sent a full chain that is not the certificate and its chain: nothing installed")


def remove_certificate(held: Held, settings: FileSettings) -> None:
    for name in (settings.certificate, settings.chain, settings.fullchain):
        if not name:
            continue
        try:
            os.unlink(name, dir_fd=held.directory_fd)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ProcessFailure(f"cannot remove {held.directory}/{name}: {error.strerror}") from None
        log.info("removed %s/%s", held.directory, name)
    _sync(held)


def _write_temporary(held: Held, name: str, content: bytes) -> str:
    temporary = temporary_name(name)
    try:
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            FILE_MODE,
            dir_fd=held.directory_fd,
        )
    except OSError as error:
        raise ProcessFailure(f"cannot create a file in {held.directory}: {error.strerror}") from None
    try:
        write_all(fd, content)
        os.fchmod(fd, FILE_MODE)
        os.fsync(fd)
    except OSError as error:
        os.close(fd)
        _discard(held, temporary)
        raise ProcessFailure(f"cannot write {held.directory}/{temporary}: {error.strerror}") from None
    os.close(fd)
    return temporary


def _keep_backup(held: Held, name: str) -> bool:
    """Hard-link the current file to name.1 (atomically replacing an older backup).

    False when there is no current file (the first certificate).
    """
    link = temporary_name(f"{name}.1")
    try:
        os.link(name, link, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd, follow_symlinks=False)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return False
        raise
    try:
        os.rename(link, f"{name}.1", src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
    except OSError:
        _discard(held, link)
        raise
    return True


def _put_back(held: Held, name: str, had_old: bool) -> None:
    """Undo the install of `name`: its kept old version back in place, or no file, as before."""
    try:
        if had_old:
            link = temporary_name(name)
            os.link(f"{name}.1", link, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
            os.rename(link, name, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
        else:
            os.unlink(name, dir_fd=held.directory_fd)
    except OSError as error:
        log.warning("cannot put back the previous %s/%s: %s", held.directory, name, error.strerror)


def _discard(held: Held, name: str) -> None:
    try:
        os.unlink(name, dir_fd=held.directory_fd)
    except OSError:
        pass


def _sync(held: Held) -> None:
    try:
        os.fsync(held.directory_fd)
    except OSError as error:
        raise ProcessFailure(f"cannot flush {held.directory}: {error.strerror}") from None


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
