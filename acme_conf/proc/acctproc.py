"""acctproc: holds the account key; signs JWS requests and computes the thumbprint.

The only process that ever sees the account key.  It loads the key (or
creates it when missing) before the jail; afterwards it has no file system
and no network.  One acctproc serves the netprocs of every domain of one
authority in a run, each over a channel of its own, and signs for each only
what that domain's run makes (acme/signing_rules.py: the CA's host, the
domain's names, a revocation only in a -r run, never a key change): a
netproc taken over cannot have the account signed away.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from acme_conf import sandbox
from acme_conf.acme import jws
from acme_conf.acme.signing_rules import DomainRun, refusal
from acme_conf.acme.text import printable
from acme_conf.ipc import Channel
from acme_conf.keys import KeyFileError, PrivateKey, load_or_create_key
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import SignRequest, Signed, Thumbprint, ThumbprintRequest
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.spec import AccountSettings, ChildSpec

# A domain's whole protocol, polls and badNonce retries included, signs a few
# hundred requests; a netproc asking for more is stopped.
MAX_REQUESTS = 10_000

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """acctproc's channels (one to each domain's netproc), what each may have signed, and the account key."""

    nets: tuple[Channel, ...]
    runs: dict[int, DomainRun]  # channel descriptor -> its domain's run
    key: PrivateKey


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, AccountSettings)
    key, created = load_or_create_key(Path(settings.key_path), settings.keytype)
    if created:
        log.info("created account key %s", settings.key_path)
    try:
        warm_up(key)
    except jws.UnsupportedKeyError as error:
        raise KeyFileError(f"{settings.key_path}: {error}") from None
    nets = netproc_channels(spec)
    runs = {net.fileno(): run for net, run in zip(nets, domain_runs(settings), strict=True)}
    return Held(nets, runs, key)


def domain_runs(settings: AccountSettings) -> tuple[DomainRun, ...]:
    """What each domain's run may have signed, in the order of the channels."""
    return tuple(
        DomainRun(settings.api_url, settings.contact, names, profile, settings.revoke)
        for names, profile in zip(settings.names, settings.profiles, strict=True)
    )


def warm_up(key: PrivateKey) -> None:
    """Answer each kind of request once with the real key, before the jail.

    The key's type is fixed from here on, so this runs every path its
    requests can take (ECDSA signing loads cryptography's OpenSSL backend
    module on first use), and the rules on requests they refuse.
    """
    run = DomainRun("https://ca.invalid/dir", "mailto:a@ca.invalid", ("ca.invalid", "192.0.2.1"), "", False)
    _answer(key, run, ThumbprintRequest())
    for url, kid, payload in (
        ("https://ca.invalid/acct", "", b'{"onlyReturnExisting": true}'),  # the public key in the header
        ("https://ca.invalid/order/1", "https://ca.invalid/acct/1", b""),  # the account URL
        ("https://ca.invalid/order", "https://ca.invalid/acct/1",
         b'{"identifiers": [{"type": "dns", "value": "ca.invalid"}, {"type": "ip", "value": "192.0.2.1"}]}'),
        ("https://b\u00fccher.invalid/", "k", b""),  # refused: urllib.parse checks such a host with unicodedata
        ("https://ca.invalid/order", "k", b'{"identifiers": [{"type": "ip", "value": "::1"}]}'),
        ("https://ca.invalid/key-change", "k", b'{"protected": "", "payload": "", "signature": ""}'),
        ("https://ca.invalid/x", "k", b"\xff[" + b"[" * 5000),
    ):
        _answer(key, run, SignRequest(url, "nonce", kid, payload))


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(channels=tuple(net.fileno() for net in held.nets), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    def answer(net: Channel, request: ThumbprintRequest | SignRequest) -> Message:
        reply = _answer(held.key, held.runs[net.fileno()], request)
        if isinstance(reply, Failure):
            log.warning("%s", reply.reason)
        return reply

    return answer_until_closed(held.nets, answer, ThumbprintRequest, SignRequest, max_requests=MAX_REQUESTS)


def _answer(key: PrivateKey, run: DomainRun, request: ThumbprintRequest | SignRequest) -> Message:
    if isinstance(request, ThumbprintRequest):
        return Thumbprint(jws.thumbprint(key))
    refused = refusal(run, request.url, request.kid, request.payload)
    if refused:
        return Failure(f"refusing to sign {refused} ({printable(request.url, 120)})")
    return Signed(jws.sign(key, request.url, request.nonce, request.kid, request.payload))


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
