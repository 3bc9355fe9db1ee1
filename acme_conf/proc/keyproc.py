"""keyproc: holds the domain key; builds the certificate signing request.

It loads the domain key (or creates it when missing) and builds the CSR
before the jail.  Afterwards it tells certproc and revokeproc the key's
public half, unasked, and acctproc too (they learn the domain key from
here, never from netproc), then only hands that CSR to netproc.  When the
domain has a combined file, the parent gives it a channel to fileproc too,
which it tells the private key (PEM, serialised before the jail), unasked,
once: fileproc writes it before the full chain.  No other process is ever
sent the private key.

In a -K run it signs, with the domain key, the one request that revokes
the configured certificate, and nothing else (proc/revoke_by_key.py).

Before a chain starts, a keyproc of the domain may run beside the check's
revokeproc (KeySettings.public_only): it loads the key if there is one,
creates nothing, builds no CSR, and tells revokeproc the public key (or
that there is no key yet).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from acme_conf import sandbox
from acme_conf.files import KeyAccess
from acme_conf.ipc import Channel, ChannelClosed
from acme_conf.keys import load_existing_key, load_or_create_key, private_key_pem, public_key_der
from acme_conf.messages.key import Csr, CsrRequest, DomainKey, DomainPrivateKey
from acme_conf.proc.child import answer_until_closed, run_role
from acme_conf.proc.errors import EXIT_OK
from acme_conf.proc.spec import ChildSpec, KeySettings

if TYPE_CHECKING:
    from acme_conf.proc.revoke_by_key import RevocationSigner

# Whom keyproc tells the domain key, unasked, when they are there: certproc
# checks the certificate, revokeproc the installed one, acctproc the CSR of
# the finalize it signs.
KEY_TAKERS = ("certproc", "revokeproc", "acctproc")
# netproc asks for the CSR once; a few more are harmless, a flood is refused.
MAX_CSR_REQUESTS = 4

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """keyproc's channels, the domain key's public half and the CSR built before the jail."""

    net: Channel | None  # None in a check before the chain
    takers: tuple[Channel, ...]  # told the public key, then closed
    spki: bytes  # DER SubjectPublicKeyInfo; empty when there is no key yet (a check only)
    csr_der: bytes  # empty in a check
    revocation: RevocationSigner | None = None  # -K: the one revocation keyproc signs
    file: Channel | None = None  # fileproc, told the private key for a combined file; None without one
    private_pem: bytes = b""  # the private key for fileproc; empty without a channel to it


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, KeySettings)
    path = Path(settings.key_path)
    takers = tuple(Channel.from_fd(fd, peer) for peer, fd in spec.channels if peer in KEY_TAKERS)
    access = KeyAccess(settings.group, settings.mode) if settings.mode else None
    if settings.public_only:
        existing = load_existing_key(path, settings.keytype, settings.size, access)
        return Held(None, takers, b"" if existing is None else public_key_der(existing), b"")
    if settings.revoke_at:
        from acme_conf.proc import revoke_by_key  # before the jail, and only in a -K run

        signer = revoke_by_key.prepare(settings)
        net = Channel.from_fd(spec.channel_fd("netproc"), "netproc")
        return Held(net, takers, public_key_der(signer.key), b"", signer)
    key, created = load_or_create_key(path, settings.keytype, settings.size, access)
    if created:
        log.info("created domain key %s", settings.key_path)
    from acme_conf.csr import build_csr  # before the jail, and only where a CSR is built

    net = Channel.from_fd(spec.channel_fd("netproc"), "netproc")
    fileproc = [Channel.from_fd(fd, peer) for peer, fd in spec.channels if peer == "fileproc"]
    if not fileproc:
        return Held(net, takers, public_key_der(key), build_csr(key, settings.names))
    return Held(net, takers, public_key_der(key), build_csr(key, settings.names), None, fileproc[0], private_key_pem(key))


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    channels = tuple(
        channel.fileno() for channel in (*held.takers, *([held.net] if held.net else []), *([held.file] if held.file else []))
    )
    return sandbox.Grants(channels=channels, strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    tell_the_key(held)
    tell_the_private_key(held)
    if held.net is None:
        return EXIT_OK
    signer = held.revocation
    if signer is not None:
        return answer_until_closed(
            (held.net,), lambda _, request: signer.answer(request), signer.request_type, max_requests=MAX_CSR_REQUESTS
        )
    return answer_until_closed(
        (held.net,), lambda _, __: Csr(held.csr_der), CsrRequest, max_requests=MAX_CSR_REQUESTS
    )


def tell_the_key(held: Held) -> None:
    """The public key to certproc, revokeproc and acctproc; one that has stopped already needs it no more."""
    for taker in held.takers:
        try:
            taker.send(DomainKey(held.spki))
        except ChannelClosed:
            log.debug("%s stopped before it was told the domain key", taker.peer)
        finally:
            taker.close()


def tell_the_private_key(held: Held) -> None:
    """The private key to fileproc, for the combined file, once; a fileproc that has stopped needs it no more."""
    if held.file is None:
        return
    try:
        held.file.send(DomainPrivateKey(held.private_pem))
    except ChannelClosed:
        log.debug("fileproc stopped before it was told the private key")
    finally:
        held.file.close()


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
