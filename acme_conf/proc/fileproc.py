"""fileproc: installs the checked certificate files in the certificate directory.

It holds one descriptor, the certificate directory, and works only relative
to it.  Each file is written to a temporary file, flushed, and renamed over
the old one, whose previous version stays as FILE.1; the directory is
flushed last.  A reader sees the old file or the new one, never a part.

Each temporary file is made before the jail, while fileproc may still give
a file away (files.create_restricted: O_EXCL with mode 0000, then the
configured owner and group, then the mode), and so is each FILE.1 link to
the current file (the kernel lets only a file's owner, or whoever may read
and write it, link it: protected_hardlinks).  The jail then keeps no
capability: fileproc only writes, flushes and renames what it made.  A
temporary file left unused is removed.

It installs only what certproc approved, in the shape certproc gives it:
one PEM certificate, a chain of PEM certificates, and a full chain that is
exactly the two together (checked as text; certproc parsed them).  The
combined file is the private key keyproc told it (one PEM private key,
from keyproc alone: certproc never holds it), then that full chain.  Only
a -r run may remove the files.

Exit status: 0 when files were written or removed, 2 when there was nothing to do.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from typing import NamedTuple

from acme_conf import sandbox
from acme_conf.files import create_restricted, open_directory, temporary_name, write_all
from acme_conf.ipc import Channel, ChannelClosed
from acme_conf.messages.certificate import RemoveCertificate, WriteCertificate
from acme_conf.messages.key import DomainPrivateKey
from acme_conf.proc.child import run_role
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK, EXIT_UNCHANGED
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import ChildSpec, FileSettings

_PEM_CERTIFICATE = rb"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{1,65536}-----END CERTIFICATE-----\n"
_ONE_CERTIFICATE = re.compile(_PEM_CERTIFICATE)
_CERTIFICATES = re.compile(rb"(?:" + _PEM_CERTIFICATE + rb"){0,16}")
# What keyproc sends (keys.private_key_pem): one unencrypted PKCS#8 key; RSA 4096 is about 3.3 KB.
_PRIVATE_KEY = re.compile(rb"-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]{1,8192}-----END PRIVATE KEY-----\n")

# Modes when the parent gives none (config.plan.DEFAULT_MODES, which the parent sends).
PUBLIC_MODE = 0o444
PRIVATE_MODE = 0o400

log = logging.getLogger("acme_conf")


class Prepared(NamedTuple):
    """One output file made ready before the jail: its temporary file, open, and the link kept as its next FILE.1."""

    name: str
    temporary: str  # created with the configured owner, group and mode; empty
    fd: int
    backup: str  # a hard link to the current file, renamed to name.1 on install; "" when there is none


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """fileproc's channel from certproc and the certificate directory it works in."""

    cert: Channel
    directory_fd: int
    directory: str
    key: Channel | None = None  # from keyproc, for the combined file only
    # Made before the jail; the one install takes them all (empty in a -r run, and once installed).
    prepared: list[Prepared] | None = None


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, FileSettings)
    directory = open_directory(settings.cert_dir, "certificate directory")
    cert = Channel.from_fd(spec.channel_fd("certproc"), "certproc")
    if settings.revoke:
        return Held(cert, directory.fd, directory.real)
    key = Channel.from_fd(spec.channel_fd("keyproc"), "keyproc") if settings.combined else None
    # The real path, links resolved: in logs, and what the sandbox is given.
    return Held(cert, directory.fd, directory.real, key, list(prepare_outputs(directory.fd, directory.real, settings, os.geteuid() == 0)))


def prepare_outputs(
    directory_fd: int, directory: str, settings: FileSettings, as_root: bool = False
) -> tuple[Prepared, ...]:
    """Every configured file's temporary file and FILE.1 link, made while fileproc may still chown and link.

    `as_root` (before the jail, started by root): a file the configuration
    gives no owner or group gets the directory's, whom fileproc becomes in
    its jail.  Otherwise it stays its maker's (no system call to ask who
    that is: the jail has none).
    """
    default_uid, default_gid = -1, -1
    if as_root:
        info = os.fstat(directory_fd)
        default_uid, default_gid = info.st_uid, info.st_gid
    prepared: list[Prepared] = []
    try:
        for name, uid, gid, mode in outputs(settings):
            temporary = temporary_name(name)
            try:
                fd = create_restricted(
                    directory_fd,
                    temporary,
                    default_uid if uid == -1 else uid,
                    default_gid if gid == -1 else gid,
                    mode,
                )
            except OSError as error:
                raise ProcessFailure(f"cannot create a file in {directory}: {error.strerror}") from None
            prepared.append(Prepared(name, temporary, fd, ""))
            prepared[-1] = prepared[-1]._replace(backup=_link_current(directory_fd, directory, name))
    except ProcessFailure:
        discard_unused(directory_fd, tuple(prepared))
        raise
    return tuple(prepared)


def outputs(settings: FileSettings) -> tuple[tuple[str, int, int, int], ...]:
    """(name, uid, gid, mode) of each configured file, in the order they are installed: the parent's word, else the defaults."""
    declared = {entry[0]: entry for entry in settings.access}
    found = []
    for name, mode in (
        (settings.chain, PUBLIC_MODE),
        (settings.certificate, PUBLIC_MODE),
        (settings.fullchain, PUBLIC_MODE),
        (settings.combined, PRIVATE_MODE),
    ):
        if name:
            found.append(declared.get(name, (name, -1, -1, mode)))
    return tuple(found)


def _link_current(directory_fd: int, directory: str, name: str) -> str:
    """A hidden hard link to the current `name`, to become name.1; "" when there is no current file."""
    link = temporary_name(f"{name}.1")
    try:
        os.link(name, link, src_dir_fd=directory_fd, dst_dir_fd=directory_fd, follow_symlinks=False)
    except FileNotFoundError:
        return ""
    except OSError as error:
        raise ProcessFailure(f"cannot keep the previous {directory}/{name}: {error.strerror}") from None
    return link


def discard_unused(directory_fd: int, prepared: tuple[Prepared, ...]) -> None:
    """Close every prepared descriptor and remove what was not installed (an installed one is gone already)."""
    for each in prepared:
        os.close(each.fd)
        for name in (each.temporary, each.backup):
            if name:
                _discard_in(directory_fd, name)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    channels = (held.cert.fileno(), *([held.key.fileno()] if held.key else []))
    return sandbox.Grants(
        channels=channels,
        files=(held.directory_fd, *(each.fd for each in held.prepared or ())),
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
        private_pem = _private_key(held) if held.key is not None and isinstance(request, WriteCertificate) else b""
        with signals_held(signal.SIGTERM):  # a SIGTERM waits until the set is installed or left untouched
            if isinstance(request, WriteCertificate):
                write_certificate(held, settings, request, private_pem)
            else:
                remove_certificate(held, settings)
    finally:
        held.cert.close()
        if held.key is not None:
            held.key.close()
        discard_unused(held.directory_fd, _take_prepared(held))
    return EXIT_OK


def _private_key(held: Held) -> bytes:
    """The private key keyproc told, for the combined file: one PEM private key, or nothing is installed."""
    assert held.key is not None
    try:
        pem = held.key.recv(DomainPrivateKey).pem
    except ChannelClosed:
        raise ProcessFailure("keyproc stopped before it told the private key: nothing installed") from None
    if _PRIVATE_KEY.fullmatch(pem) is None:
        raise ProcessFailure("keyproc sent a private key that is not one PEM private key: nothing installed")
    return pem


def write_certificate(held: Held, settings: FileSettings, files: WriteCertificate, private_pem: bytes = b"") -> None:
    """Install chain, certificate, full chain and combined file, as configured, as one set.

    Three steps: every new file is written and flushed under its temporary
    name (made before the jail, or here when fileproc's acquire did not:
    the unit tests); every old file is kept as FILE.1; then each new file is
    renamed over its old one.  A failure in the first two steps leaves the
    old set in place; a failed rename in the last puts back the files
    already replaced, so the set is never half old, half new.
    """
    _check_shape(files)
    contents = {
        settings.chain: files.chain,
        settings.certificate: files.certificate,
        settings.fullchain: files.fullchain,
        settings.combined: private_pem + files.fullchain,
    }
    if settings.combined and _PRIVATE_KEY.fullmatch(private_pem) is None:
        raise ProcessFailure("no private key for the combined file: nothing installed")
    prepared = _take_prepared(held) or prepare_outputs(held.directory_fd, held.directory, settings)
    try:
        _install(held, prepared, contents)
    finally:
        discard_unused(held.directory_fd, prepared)


def _take_prepared(held: Held) -> tuple[Prepared, ...]:
    """What acquire prepared, once: a second install (the sandbox probe) prepares its own."""
    if not held.prepared:
        return ()
    taken = tuple(held.prepared)
    held.prepared.clear()
    return taken


def _install(held: Held, prepared: tuple[Prepared, ...], contents: dict[str, bytes]) -> None:
    written: list[tuple[str, str]] = []
    for each in prepared:
        _write_temporary(held, each, contents[each.name])
        written.append((each.name, each.temporary))
    kept: dict[str, bool] = {}  # name -> an old version was kept as name.1
    try:
        for each in prepared:
            if each.backup:
                os.rename(each.backup, f"{each.name}.1", src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
            kept[each.name] = bool(each.backup)
    except OSError as error:
        raise ProcessFailure(f"cannot keep the previous {held.directory}/{each.name}: {error.strerror}") from None
    for index, (name, temporary) in enumerate(written):
        try:
            os.rename(temporary, name, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
        except OSError as error:
            for done, _ in written[:index]:
                _put_back(held, done, kept[done])
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
    for name in (settings.certificate, settings.chain, settings.fullchain, settings.combined):
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


def _write_temporary(held: Held, prepared: Prepared, content: bytes) -> None:
    """Write and flush the new version into its temporary file, which already has its owner and mode."""
    try:
        write_all(prepared.fd, content)
        os.fsync(prepared.fd)
    except OSError as error:
        raise ProcessFailure(f"cannot write {held.directory}/{prepared.temporary}: {error.strerror}") from None


def _put_back(held: Held, name: str, had_old: bool) -> None:
    """Undo the install of `name`: its kept old version back in place, or no file, as before."""
    try:
        if had_old:
            _restore_backup(held, name)
        else:
            os.unlink(name, dir_fd=held.directory_fd)
    except OSError as error:
        log.warning("cannot put back the previous %s/%s: %s", held.directory, name, error.strerror)


def _restore_backup(held: Held, name: str) -> None:
    """name.1 back as name; kept as name.1 too where the kernel lets fileproc link it (not another owner's file)."""
    link = temporary_name(name)
    try:
        os.link(f"{name}.1", link, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
    except PermissionError:
        os.rename(f"{name}.1", name, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
        return
    os.rename(link, name, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)


def _discard_in(directory_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=directory_fd)
    except OSError:
        pass


def _sync(held: Held) -> None:
    try:
        os.fsync(held.directory_fd)
    except OSError as error:
        raise ProcessFailure(f"cannot flush {held.directory}: {error.strerror}") from None


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
