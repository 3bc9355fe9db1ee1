"""acctproc: holds the account key; signs JWS requests and computes the thumbprint.

The only process that ever sees the account key.  It loads the key (or
creates it when missing) before the jail; afterwards it has no file system
and no network, and signs whatever netproc asks it to sign.  One acctproc
serves the netprocs of every domain of one authority in a run: they share
the account, so none can have signed by it what another could not.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from acme_conf import sandbox
from acme_conf.acme import jws
from acme_conf.ipc import Channel
from acme_conf.keys import KeyFileError, PrivateKey, load_or_create_key
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import SignRequest, Signed, Thumbprint, ThumbprintRequest
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.spec import ChildSpec, KeySettings

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """What acctproc holds after acquiring: its channels, one to each netproc, and the account key."""

    nets: tuple[Channel, ...]
    key: PrivateKey


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, KeySettings)
    key, created = load_or_create_key(Path(settings.key_path), settings.keytype)
    if created:
        log.info("created account key %s", settings.key_path)
    try:
        warm_up(key)
    except jws.UnsupportedKeyError as error:
        raise KeyFileError(f"{settings.key_path}: {error}") from None
    nets = netproc_channels(spec)
    return Held(nets, key)


def warm_up(key: PrivateKey) -> None:
    """Answer each kind of request once with the real key, before the jail.

    The key's type is fixed from here on, so this runs every path its
    requests can take (ECDSA signing loads cryptography's OpenSSL backend
    module on first use).
    """
    _answer(key, ThumbprintRequest())
    for kid in ("", "https://dry-run.invalid/account/1"):  # the JWK in the header, or the account URL
        _answer(key, SignRequest("https://dry-run.invalid/new-order", "nonce", kid, b"{}"))
    _answer(key, SignRequest("http://dry-run.invalid/", "nonce", "", b""))  # refused


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(channels=tuple(net.fileno() for net in held.nets), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    return answer_until_closed(
        held.nets, lambda _, request: _answer(held.key, request), ThumbprintRequest, SignRequest
    )


def _answer(key: PrivateKey, request: ThumbprintRequest | SignRequest) -> Message:
    if isinstance(request, ThumbprintRequest):
        return Thumbprint(jws.thumbprint(key))
    if not request.url.startswith("https://"):
        return Failure("refusing to sign a request for a non-https URL")
    return Signed(jws.sign(key, request.url, request.nonce, request.kid, request.payload))


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
