"""revokeproc: reads the existing certificate and decides what the chain does.

It opens the certificate file before the jail (it may not exist yet) and
afterwards has neither file system nor network.  It tells netproc one of:
no certificate yet, renewal due, current (stop: nothing to do), ask (current,
but the CA's renewal information is to be asked: none is kept for this
certificate, or the time to ask again has come), or revoke (with -r).  It
names the certificate as the CA's renewal information does (RFC 9773): the
moment the parent kept counts only for the certificate it was drawn for.  The file is read before the jail; only when there is one does
revokeproc load acme_conf.certstatus (and cryptography.x509) to judge it,
against the domain key keyproc tells it (never netproc): a certificate that
is not for that key is due for renewal.

Before a domain's chain starts, a revokeproc runs alone (no channel to a
netproc; a keyproc of the domain beside it tells it the key) when the
certificate exists, and answers with its exit status: 0 due (or to ask the
CA), 2 current.
Most runs from cron then start nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from acme_conf import sandbox
from acme_conf.files import read_regular_file
from acme_conf.paths import PathRefused
from acme_conf.ipc import Channel, close_all
from acme_conf.messages.key import DomainKey
from acme_conf.messages.revoke import (
    VERDICT_ASK,
    VERDICT_CURRENT,
    VERDICT_DUE,
    VERDICT_MISSING,
    VERDICT_REVOKE,
    CertStatus,
)
from acme_conf.proc.child import run_role
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK, EXIT_UNCHANGED
from acme_conf.proc.spec import ChildSpec, RevokeSettings

MAX_CERTIFICATE_FILE = 1024 * 1024

log = logging.getLogger("acme_conf")

if TYPE_CHECKING:
    from acme_conf.certstatus import Examined

# acme_conf.certstatus.examine_certificate: (contents, path, configured names, domain key, now, kept moment)
Judge = Callable[[bytes, str, tuple[str, ...], bytes, datetime, "tuple[str, datetime] | None"], "Examined"]


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """revokeproc's channels and what it read of the certificate file.

    netproc's channel is None when it runs alone; keyproc's is there in both
    cases (alone, a keyproc of the domain runs beside it).
    """

    net: Channel | None
    key: Channel
    contents: bytes | None  # None when there is no file
    unreadable: str  # why an existing file cannot be read; "" when it was read, or is missing
    judge: Judge | None = None  # acme_conf.certstatus.examine_certificate, loaded when there are contents


def acquire(spec: ChildSpec) -> Held:
    """Read the certificate file now, while files may be opened: after the jail
    revokeproc holds no descriptor but its channel, and parses only bytes."""
    settings = spec.settings
    assert isinstance(settings, RevokeSettings)
    net = None if settings.alone else Channel.from_fd(spec.channel_fd("netproc"), "netproc")
    key = Channel.from_fd(spec.channel_fd("keyproc"), "keyproc")
    try:
        contents = read_certificate_file(settings.certificate)
    except FileNotFoundError:
        return Held(net, key, None, "")
    except OSError as error:
        return Held(net, key, None, f"{settings.certificate}: {error.strerror}")
    return Held(net, key, contents, "", load_judge())


def read_certificate_file(path: str) -> bytes:
    """The file's bytes, at most one byte over the limit; a link is followed, as upstream does,
    unless another user could have placed it: that is an error, not an unusable certificate."""
    try:
        return read_regular_file(path, MAX_CERTIFICATE_FILE)
    except PathRefused as error:
        raise ProcessFailure(f"{path}: {error.strerror}") from None


def load_judge() -> Judge:
    """acme_conf.certstatus.examine_certificate, imported and warmed up here, before the jail, and only when needed."""
    from acme_conf import certstatus

    certstatus.warm_up()
    return certstatus.examine_certificate


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    channels = (held.key.fileno(),) if held.net is None else (held.key.fileno(), held.net.fileno())
    return sandbox.Grants(channels=channels, strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    settings = spec.settings
    assert isinstance(settings, RevokeSettings)
    try:
        status = examine(held, settings, domain_key(held, settings), datetime.now(timezone.utc))
        if held.net is None:
            return verdict_as_status(status)
        log.info("%s", status.reason)
        held.net.send(status)
    finally:
        close_all([held.key] if held.net is None else [held.key, held.net])
    return EXIT_OK


def domain_key(held: Held, settings: RevokeSettings) -> bytes:
    """The domain key's public half, from keyproc: only a certificate to judge for renewal needs it."""
    if held.contents is None or held.unreadable or settings.revoke:
        return b""
    return held.key.recv(DomainKey).spki


def verdict_as_status(status: CertStatus) -> int:
    """Alone: 2 current, said once; 0 due, whose reason the chain's own revokeproc will give."""
    if status.verdict == VERDICT_CURRENT:
        log.info("%s", status.reason)
        return EXIT_UNCHANGED
    if status.verdict in (VERDICT_DUE, VERDICT_MISSING, VERDICT_ASK):
        log.debug("%s", status.reason)
        return EXIT_OK
    raise ProcessFailure(f"no exit status for the verdict {status.verdict!r}")


def examine(held: Held, settings: RevokeSettings, domain_key: bytes, now: datetime) -> CertStatus:
    """The verdict on the existing certificate, for the domain key `domain_key` (DER SubjectPublicKeyInfo)."""
    path = settings.certificate
    if held.unreadable:
        return _unusable(settings, held.unreadable)
    if held.contents is None:
        if settings.revoke:
            raise ProcessFailure(f"{path}: no certificate to revoke")
        return CertStatus(VERDICT_MISSING, f"{path}: no certificate yet", b"")
    if len(held.contents) > MAX_CERTIFICATE_FILE:  # read_certificate_file reads one byte over
        return _unusable(settings, f"{path}: too large to be a certificate")
    assert held.judge is not None, "acquire loads the judge with the contents"
    try:
        examined = held.judge(held.contents, path, settings.names, domain_key, now, kept_moment(settings))
    except ProcessFailure as error:
        return _unusable(settings, str(error))
    if settings.revoke:
        return CertStatus(VERDICT_REVOKE, f"{path}: revoking serial {examined.serial:x}", examined.der)
    reason, named = examined.decision.reason, examined.certificate_id
    if settings.force:
        return CertStatus(VERDICT_DUE, f"{path}: {reason}; renewing as -F asks", examined.der, named)
    if examined.decision.due:
        return CertStatus(VERDICT_DUE, f"{path}: {reason}", examined.der, named)
    if settings.renewal_information and named and time_to_ask(settings, named, now):
        return CertStatus(VERDICT_ASK, f"{path}: {reason}; asking the CA's renewal information", examined.der, named)
    return CertStatus(VERDICT_CURRENT, f"{path}: {reason}", examined.der, named)


def kept_moment(settings: RevokeSettings) -> tuple[str, datetime] | None:
    """The renewal moment the parent kept, with the certificate it was drawn for; None when there is none."""
    if not settings.renewal_information or not settings.kept_certificate or not settings.kept_moment:
        return None
    return settings.kept_certificate, datetime.fromisoformat(settings.kept_moment)


def time_to_ask(settings: RevokeSettings, certificate_id: str, now: datetime) -> bool:
    """Whether to ask the CA's renewal information now: nothing kept for this certificate, or its time has come.

    What was kept for "" is for the certificate the last run installed, whatever it is.
    """
    if settings.kept_certificate not in ("", certificate_id) or not settings.next_check:
        return True
    return datetime.fromisoformat(settings.next_check) <= now


def _unusable(settings: RevokeSettings, reason: str) -> CertStatus:
    """An existing certificate that cannot be used: replaced with -F, else an error saying so."""
    if settings.force and not settings.revoke:
        return CertStatus(VERDICT_DUE, f"{reason}; replacing it as -F asks", b"")
    if settings.revoke:
        raise ProcessFailure(reason)
    raise ProcessFailure(f"{reason}; run acme-client -F to replace it")


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
