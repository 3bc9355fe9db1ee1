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
certificate exists and the parent does not recognise the file, and answers
with its exit status: 0 due (or to ask the CA), 2 current.  It also tells the
parent, on a memfd, what it found in the file, bound to the file's SHA-256:
later runs judge the same bytes from that record without a process
(proc/known_certificates.py).  Most runs from cron then start nothing else.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from acme_conf import sandbox
from acme_conf.files import MAX_CERTIFICATE_FILE, read_regular_file
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
from acme_conf.acme.renewal import time_to_ask
from acme_conf.proc.child import report_to_parent, run_role
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK, EXIT_UNCHANGED
from acme_conf.proc.spec import ChildSpec, RevokeSettings

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
    digest: str = ""  # the contents' SHA-256 (hex), what the parent recognises the file by


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
    digest = hashlib.sha256(contents).hexdigest() if settings.report_fd >= 0 else ""  # only a check reports
    return Held(net, key, contents, "", load_judge(), digest)


def read_certificate_file(path: str) -> bytes:
    """The file's bytes, at most one byte over the limit; a link is followed, as upstream does,
    unless another user could have placed it: that is an error, not an unusable certificate."""
    try:
        return read_regular_file(path, MAX_CERTIFICATE_FILE)
    except PathRefused as error:
        raise ProcessFailure(f"{path}: {error.strerror}") from None


def certificate_record(examined: Examined, digest: str) -> dict[str, object]:
    """What the parent keeps of a judged file (state.known_reported reads it back, checked)."""
    return {
        "sha256": digest,
        "not_before": examined.not_before.isoformat(),
        "not_after": examined.not_after.isoformat(),
        "names": list(examined.names),
        "key_matches": examined.key_matches,
        "id": examined.certificate_id,
    }


def load_judge() -> Judge:
    """acme_conf.certstatus.examine_certificate, imported and warmed up here, before the jail, and only when needed."""
    from acme_conf import certstatus

    certstatus.warm_up()
    return certstatus.examine_certificate


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    assert isinstance(spec.settings, RevokeSettings)
    channels = (held.key.fileno(),) if held.net is None else (held.key.fileno(), held.net.fileno())
    report = spec.settings.report_fd
    return sandbox.Grants(channels=channels, files=(report,) if report >= 0 else (), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    settings = spec.settings
    assert isinstance(settings, RevokeSettings)
    try:
        status, examined = examine_and_keep(held, settings, domain_key(held, settings), datetime.now(timezone.utc))
        if held.net is None:
            if examined is not None and settings.report_fd >= 0:
                record = certificate_record(examined, held.digest)
                report_to_parent(settings.report_fd, {"certificate": record}, "what the certificate file holds")
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
    return examine_and_keep(held, settings, domain_key, now)[0]


def examine_and_keep(
    held: Held, settings: RevokeSettings, domain_key: bytes, now: datetime
) -> tuple[CertStatus, Examined | None]:
    """The verdict, and what it was drawn from when a certificate was judged (None: none was)."""
    path = settings.certificate
    if held.unreadable:
        return _unusable(settings, held.unreadable), None
    if held.contents is None:
        if settings.revoke:
            raise ProcessFailure(f"{path}: no certificate to revoke")
        return CertStatus(VERDICT_MISSING, f"{path}: no certificate yet", b""), None
    if len(held.contents) > MAX_CERTIFICATE_FILE:  # read_certificate_file reads one byte over
        return _unusable(settings, f"{path}: too large to be a certificate"), None
    assert held.judge is not None, "acquire loads the judge with the contents"
    try:
        examined = held.judge(held.contents, path, settings.names, domain_key, now, kept_moment(settings))
    except ProcessFailure as error:
        return _unusable(settings, str(error)), None
    if settings.revoke:
        return CertStatus(VERDICT_REVOKE, f"{path}: revoking serial {examined.serial:x}", examined.der), examined
    reason, named = examined.decision.reason, examined.certificate_id
    if settings.force:
        return CertStatus(VERDICT_DUE, f"{path}: {reason}; renewing as -F asks", examined.der, named), examined
    if examined.decision.due:
        return CertStatus(VERDICT_DUE, f"{path}: {reason}", examined.der, named), examined
    if settings.renewal_information and named and time_to_ask(settings.kept_certificate, next_check(settings), named, now):
        status = CertStatus(VERDICT_ASK, f"{path}: {reason}; asking the CA's renewal information", examined.der, named)
        return status, examined
    return CertStatus(VERDICT_CURRENT, f"{path}: {reason}", examined.der, named), examined


def kept_moment(settings: RevokeSettings) -> tuple[str, datetime] | None:
    """The renewal moment the parent kept, with the certificate it was drawn for; None when there is none."""
    if not settings.renewal_information or not settings.kept_certificate or not settings.kept_moment:
        return None
    return settings.kept_certificate, datetime.fromisoformat(settings.kept_moment)


def next_check(settings: RevokeSettings) -> datetime | None:
    """When the parent said the CA's renewal information is to be asked again; None: now."""
    return datetime.fromisoformat(settings.next_check) if settings.next_check else None


def _unusable(settings: RevokeSettings, reason: str) -> CertStatus:
    """An existing certificate that cannot be used: replaced with -F, else an error saying so."""
    if settings.force and not settings.revoke:
        return CertStatus(VERDICT_DUE, f"{reason}; replacing it as -F asks", b"")
    if settings.revoke:
        raise ProcessFailure(reason)
    raise ProcessFailure(f"{reason}; run acme-client -F to replace it")


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
