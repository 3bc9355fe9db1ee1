"""fileproc: installs the checked certificate files in the certificate directory.

It holds one descriptor, the certificate directory, and works only relative
to it.  Each file is written to a temporary file, flushed, and renamed over
the old one, whose previous version stays as FILE.1; the directory is
flushed last.  A reader sees the old file or the new one, never a part.

Each temporary file is made by files.create_restricted: O_EXCL with mode
0000, then the configured owner and group, then the mode.  One for another
owner or group is made before the jail, while fileproc may still give a
file away, and so is the FILE.1 link to a current file of another owner
(the kernel lets only a file's owner, or whoever may read and write it,
link it: protected_hardlinks); the jail keeps no capability.  A temporary
file left unused is removed; what a fileproc killed before its install
left, the next one removes when it starts.

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
    """One output file made ready before the jail: what only a process that may chown or link it can make."""

    name: str
    temporary: str  # its new version, created empty with the configured owner, group and mode; "" when the jail can make it
    fd: int  # the temporary file, open for writing; -1 without one
    backup: str  # a hard link to the current file, renamed to name.1 on install; "" when the jail can make it


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
    sweep_leftovers(directory.fd, settings)
    # Whom fileproc is in its jail (sandbox: the directory's owner when started by root).
    if os.geteuid() == 0:
        info = os.fstat(directory.fd)
        identity = (info.st_uid, info.st_gid)
    else:
        identity = (os.geteuid(), os.getegid())
    prepared = prepare_outputs(directory.fd, directory.real, settings, identity)
    # The real path, links resolved: in logs, and what the sandbox is given.
    return Held(cert, directory.fd, directory.real, key, list(prepared))


def prepare_outputs(
    directory_fd: int, directory: str, settings: FileSettings, identity: tuple[int, int]
) -> tuple[Prepared, ...]:
    """What the jailed fileproc, as `identity` (uid, gid) with no capability, could not make itself.

    A file to belong to another owner or group is created now (empty, mode
    0000, chown, chmod); a current file that belongs to another owner is
    linked now for its .1 (the kernel lets only a file's owner, or whoever
    may read and write it, link it).  Everything else waits for the jail,
    so that a fileproc killed before its install leaves nothing behind.
    """
    prepared: list[Prepared] = []
    try:
        for name, uid, gid, mode in outputs(settings):
            foreign = uid not in (-1, identity[0]) or gid not in (-1, identity[1])
            temporary, fd = "", -1
            if foreign:
                temporary = temporary_name(name)
                try:
                    fd = create_restricted(directory_fd, temporary, uid, gid, mode)
                except OSError as error:
                    raise ProcessFailure(f"cannot create a file in {directory}: {error.strerror}") from None
                prepared.append(Prepared(name, temporary, fd, ""))
            backup = _link_current(directory_fd, directory, name) if foreign or _foreign_current(directory_fd, name, identity) else ""
            if foreign:
                prepared[-1] = prepared[-1]._replace(backup=backup)
            elif backup:
                prepared.append(Prepared(name, "", -1, backup))
    except ProcessFailure:
        discard_unused(directory_fd, tuple(prepared))
        raise
    return tuple(prepared)


def _foreign_current(directory_fd: int, name: str, identity: tuple[int, int]) -> bool:
    """Whether the current `name` belongs to another owner than the jailed fileproc (who could not link it)."""
    try:
        return os.stat(name, dir_fd=directory_fd, follow_symlinks=False).st_uid != identity[0]
    except FileNotFoundError:
        return False


def sweep_leftovers(directory_fd: int, settings: FileSettings) -> None:
    """Remove what a fileproc of this domain killed before its install left: hidden temporaries of its own files."""
    names = [name for name, _, _, _ in outputs(settings)]
    pattern = re.compile(r"\.(" + "|".join(re.escape(name) for name in names) + r")(\.1)?\.[0-9a-f]{12}\.tmp")
    try:
        with os.scandir(directory_fd) as entries:
            stale = [entry.name for entry in entries if pattern.fullmatch(entry.name)]
    except OSError:
        return
    for name in stale:
        _discard_in(directory_fd, name)
        log.info("removed %s, left by a fileproc that was stopped", name)


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
        if each.fd != -1:
            os.close(each.fd)
        for name in (each.temporary, each.backup):
            if name:
                _discard_in(directory_fd, name)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    channels = (held.cert.fileno(), *([held.key.fileno()] if held.key else []))
    return sandbox.Grants(
        channels=channels,
        files=(held.directory_fd, *(each.fd for each in held.prepared or () if each.fd != -1)),
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

    Three steps: every new file is written and flushed under a temporary
    name (made before the jail when it belongs to another owner or group:
    prepare_outputs); every old file is kept as FILE.1; then each new file
    is renamed over its old one.  A failure in the first two steps leaves
    the old set in place; a failed rename in the last puts back the files
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
    prepared = {each.name: each for each in _take_prepared(held)}
    made: list[Prepared] = []  # what this install made itself, to remove if it fails
    try:
        ready = [
            _new_version(held, prepared.get(name) or Prepared(name, "", -1, ""), (uid, gid, mode), contents[name], made)
            for name, uid, gid, mode in outputs(settings)
        ]
        _install(held, ready)
    finally:
        discard_unused(held.directory_fd, (*prepared.values(), *made))


def _take_prepared(held: Held) -> tuple[Prepared, ...]:
    """What acquire prepared, once: a second install (the sandbox probe) makes its own."""
    if not held.prepared:
        return ()
    taken = tuple(held.prepared)
    held.prepared.clear()
    return taken


def _new_version(
    held: Held, prepared: Prepared, access: tuple[int, int, int], content: bytes, made: list[Prepared]
) -> Prepared:
    """`content` written and flushed under a temporary name: prepared's, else one made now (as fileproc is)."""
    if not prepared.temporary:
        temporary = temporary_name(prepared.name)
        try:
            fd = create_restricted(held.directory_fd, temporary, *access)
        except OSError as error:
            raise ProcessFailure(f"cannot create a file in {held.directory}: {error.strerror}") from None
        prepared = prepared._replace(temporary=temporary, fd=fd)
        made.append(prepared._replace(backup=""))
    _write_temporary(held, prepared, content)
    return prepared


def _install(held: Held, ready: list[Prepared]) -> None:
    kept: dict[str, bool] = {}  # name -> an old version was kept as name.1
    try:
        for each in ready:
            kept[each.name] = _keep_backup(held, each)
    except OSError as error:
        raise ProcessFailure(f"cannot keep the previous {held.directory}/{each.name}: {error.strerror}") from None
    for index, each in enumerate(ready):
        try:
            os.rename(each.temporary, each.name, src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
        except OSError as error:
            for done in ready[:index]:
                _put_back(held, done.name, kept[done.name])
            raise ProcessFailure(f"cannot install {held.directory}/{each.name}: {error.strerror}") from None
    for name in (each.name for each in ready):
        log.info("wrote %s/%s", held.directory, name)
    _sync(held)


def _keep_backup(held: Held, each: Prepared) -> bool:
    """The current file kept as name.1 (atomically replacing an older backup): the link made before the jail,
    else one made now.  False when there is no current file (the first certificate)."""
    link = each.backup or _link_current(held.directory_fd, held.directory, each.name)
    if not link:
        return False
    try:
        os.rename(link, f"{each.name}.1", src_dir_fd=held.directory_fd, dst_dir_fd=held.directory_fd)
    except OSError:
        _discard_in(held.directory_fd, link)
        raise
    return True


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
