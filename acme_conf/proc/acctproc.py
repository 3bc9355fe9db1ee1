"""acctproc: holds the account key; signs JWS requests and computes the thumbprint.

The only process that ever sees the account key.  It loads the key (or
creates it when missing) before the jail; afterwards it has no file system
and no network.  One acctproc serves the netprocs of every domain of one
authority in a run, each over a channel of its own, and signs for each only
what that domain's run makes (acme/signing_rules.py: the CA's host, the
domain's names, a revocation only in a -r run, the account's deactivation
only in a -D run, a key change only one it builds itself), and a
finalize only with a CSR for the domain key that the domain's keyproc tells
it (acme_conf/csr.py).  It tells each chngproc it shares domains with the
account key's thumbprint, so that chngproc publishes answers for this
account only: a netproc taken over can have neither the account signed away
nor a certificate for the domain's names issued to a key of its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from acme_conf import samples, sandbox
from acme_conf.acme import jws
from acme_conf.acme.b64 import b64url
from acme_conf.acme.signing_rules import DomainRun, judge, not_the_cas
from acme_conf.acme.text import printable
from acme_conf.csr import build_csr, check_csr
from acme_conf.ipc import Channel, ChannelClosed, close_all
from acme_conf.keys import (
    KeyFileError,
    PrivateKey,
    load_or_create_key,
    load_previous_key,
    public_key_der,
    public_key_der_of_pem,
    read_mac_key,
)
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import (
    SIGNER_KEY_CHANGE,
    SIGNER_PREVIOUS,
    SignRequest,
    Signed,
    Thumbprint,
    ThumbprintRequest,
)
from acme_conf.messages.key import DomainKey
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.spec import AccountSettings, ChildSpec

# A domain's whole protocol, polls and badNonce retries included, signs a few
# hundred requests; a netproc asking for more is stopped.
MAX_REQUESTS = 10_000

log = logging.getLogger("acme_conf")

DomainKeyGetter = Callable[[], bytes]  # the domain key, asked of keyproc's channel only when a finalize needs it


class Binding(NamedTuple):
    """An external account binding (RFC 8555 section 7.3.4): added to a new account's request, by acctproc only."""

    kid: str
    mac_key: bytes
    algorithm: str  # HS256, HS384 or HS512


class Domain(NamedTuple):
    """One domain acctproc serves: what its run may have signed, and where its domain key comes from."""

    run: DomainRun
    keyproc: Channel | None  # None in tests that sign no finalize; told the key, unasked


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """acctproc's channels, what each domain may have signed, and the account key."""

    nets: tuple[Channel, ...]  # one to each domain's netproc
    domains: dict[int, Domain]  # netproc channel descriptor -> its domain
    chngprocs: tuple[Channel, ...]  # told the thumbprint, then closed
    key: PrivateKey
    domain_keys: dict[int, bytes]  # netproc channel descriptor -> the domain key, once keyproc has told it
    binding: Binding | None = None  # from the configuration; netproc never sees its MAC key
    previous: PrivateKey | None = None  # `previous account key`: the account's key is changed from it to `key`


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, AccountSettings)
    key, created = load_or_create_key(Path(settings.key_path), settings.keytype, settings.key_size)
    if created:
        log.info("created account key %s", settings.key_path)
    previous = load_previous_key(Path(settings.previous_key_path)) if settings.previous_key_path else None
    if previous is not None and public_key_der(previous) == public_key_der(key):
        raise KeyFileError(f"{settings.previous_key_path}: the previous account key is the account key")
    binding = None
    if settings.eab_kid:
        binding = Binding(settings.eab_kid, read_mac_key(Path(settings.eab_key_path)), settings.eab_algorithm)
    try:
        warm_up(key, previous)
    except jws.UnsupportedKeyError as error:
        which = settings.key_path if previous is None else f"{settings.key_path} or {settings.previous_key_path}"
        raise KeyFileError(f"{which}: {error}") from None
    nets = netproc_channels(spec)
    keyprocs = tuple(Channel.from_fd(fd, "keyproc") for peer, fd in spec.channels if peer == "keyproc")
    domains = {
        net.fileno(): Domain(run, keyproc)
        for net, run, keyproc in zip(nets, domain_runs(settings), keyprocs, strict=True)
    }
    chngprocs = tuple(Channel.from_fd(fd, "chngproc") for peer, fd in spec.channels if peer == "chngproc")
    return Held(nets, domains, chngprocs, key, {}, binding, previous)


def domain_runs(settings: AccountSettings) -> tuple[DomainRun, ...]:
    """What each domain's run may have signed, in the order of the channels."""
    replaces = settings.replaces or (False,) * len(settings.names)
    return tuple(
        DomainRun(
            settings.api_url, settings.contact, names, profile, settings.revoke, settings.revoke_reason, follows,
            settings.deactivate,
        )
        for names, profile, follows in zip(settings.names, settings.profiles, replaces, strict=True)
    )


def warm_up(key: PrivateKey, previous: PrivateKey | None = None) -> None:
    """Answer each kind of request once with the real key, before the jail.

    The key's type is fixed from here on, so this runs every path its
    requests can take (ECDSA signing loads cryptography's OpenSSL backend
    module on first use) and the rules on requests they refuse.  A
    finalize's CSR may come from a domain key of any type: every sample CSR
    (acme_conf/samples.py) is checked, and one made with the account key.
    """
    names = ("ca.invalid", "192.0.2.1")
    run = DomainRun("https://ca.invalid/dir", "mailto:a@ca.invalid", names, "", False)
    own_key = public_key_der(key)
    csr = b64url(build_csr(key, names))
    answer(key, run, ThumbprintRequest(), lambda: own_key)
    if previous is not None:  # a look-up with the previous key, and the key change from it
        answer(key, run, SignRequest("https://ca.invalid/acct", "n", "", b'{"onlyReturnExisting": true}', SIGNER_PREVIOUS),
               lambda: own_key, previous=previous)
        answer(key, run, SignRequest("https://ca.invalid/key-change", "n", "https://ca.invalid/acct/1", b"", SIGNER_KEY_CHANGE),
               lambda: own_key, previous=previous)
    for algorithm in jws.MAC_ALGORITHMS:  # an account binding, whichever the configuration names
        binding = Binding("kid", b"k" * 32, algorithm)
        answer(key, run, SignRequest("https://ca.invalid/acct", "n", "", b'{"termsOfServiceAgreed": true}'),
               lambda: own_key, binding)
    for url, kid, payload in (
        ("https://ca.invalid/acct", "", b'{"onlyReturnExisting": true}'),  # the public key in the header
        ("https://ca.invalid/order/1", "https://ca.invalid/acct/1", b""),  # the account URL
        ("https://ca.invalid/order", "https://ca.invalid/acct/1",
         b'{"identifiers": [{"type": "dns", "value": "ca.invalid"}, {"type": "ip", "value": "192.0.2.1"}]}'),
        ("https://ca.invalid/finalize", "k", b'{"csr": "%s"}' % csr.encode()),
        ("https://ca.invalid/finalize", "k", b'{"csr": "AAAA"}'),  # refused: not a CSR
        ("https://b\u00fccher.invalid/", "k", b""),  # refused: urllib.parse checks such a host with unicodedata
        ("https://ca.invalid/order", "k", b'{"identifiers": [{"type": "ip", "value": "::1"}]}'),
        ("https://ca.invalid/key-change", "k", b'{"protected": "", "payload": "", "signature": ""}'),
        ("https://ca.invalid/x", "k", b"\xff[" + b"[" * 5000),
    ):
        answer(key, run, SignRequest(url, "nonce", kid, payload), lambda: own_key)
    replacing = b'{"identifiers": [{"type": "dns", "value": "ca.invalid"}, {"type": "ip", "value": "192.0.2.1"}], "replaces": "a.b"}'
    answer(key, run._replace(replaces=True), SignRequest("https://ca.invalid/order", "n", "k", replacing), lambda: own_key)
    deactivation = SignRequest("https://ca.invalid/acct/1", "n", "https://ca.invalid/acct/1", b'{"status": "deactivated"}')
    answer(key, run._replace(deactivate=True), deactivation, lambda: own_key)
    for sample in samples.SAMPLES:
        if check_csr(sample.csr, samples.NAMES, public_key_der_of_pem(sample.public_key)):
            raise KeyFileError("warm-up: a sample CSR did not pass the finalize check")


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    keyprocs = [domain.keyproc for domain in held.domains.values() if domain.keyproc is not None]
    channels = (*held.nets, *keyprocs, *held.chngprocs)
    return sandbox.Grants(channels=tuple(channel.fileno() for channel in channels), strict=spec.strict_sandbox)


def serve(spec: ChildSpec, held: Held) -> int:
    tell_the_thumbprint(held)

    def reply(net: Channel, request: ThumbprintRequest | SignRequest) -> Message:
        fd = net.fileno()
        answered = answer(
            held.key, held.domains[fd].run, request, lambda: domain_key(held, fd), held.binding, held.previous
        )
        if isinstance(answered, Failure):
            log.warning("%s", answered.reason)
        return answered

    try:
        return answer_until_closed(
            held.nets, reply, ThumbprintRequest, SignRequest, max_requests=MAX_REQUESTS,
            closed=lambda net: _forget(held, net.fileno()),
        )
    finally:
        close_all(domain.keyproc for domain in held.domains.values() if domain.keyproc is not None)


def tell_the_thumbprint(held: Held) -> None:
    """The account key's thumbprint to every chngproc: it publishes answers for this account only."""
    thumbprint = Thumbprint(jws.thumbprint(held.key))
    for chngproc in held.chngprocs:
        try:
            chngproc.send(thumbprint)
        except ChannelClosed:
            log.debug("a chngproc stopped before it was told the thumbprint")
        finally:
            chngproc.close()


def domain_key(held: Held, net_fd: int) -> bytes:
    """The domain key of the domain on `net_fd`, as its keyproc told it (empty: it did not)."""
    if net_fd not in held.domain_keys:
        keyproc = held.domains[net_fd].keyproc
        try:
            held.domain_keys[net_fd] = b"" if keyproc is None else keyproc.recv(DomainKey).spki
        except ChannelClosed:
            held.domain_keys[net_fd] = b""
        finally:
            if keyproc is not None:
                keyproc.close()  # told once: nothing more comes
    return held.domain_keys[net_fd]


def _forget(held: Held, net_fd: int) -> None:
    keyproc = held.domains[net_fd].keyproc
    if keyproc is not None:
        keyproc.close()


def answer(
    key: PrivateKey,
    run: DomainRun,
    request: ThumbprintRequest | SignRequest,
    domain_key: DomainKeyGetter,
    binding: Binding | None = None,
    previous: PrivateKey | None = None,
) -> Message:
    """The reply to one request of `run`'s netproc: a signature, the thumbprint, or why not.

    A new account gets the configured external account binding, made here:
    netproc asks for the account without it and never sees the MAC key.
    With a previous account key configured, and only then, netproc may have
    an account looked up with it and the account's key changed from it to
    the account key (built here whole: netproc chooses neither key).
    """
    if isinstance(request, ThumbprintRequest):
        return Thumbprint(jws.thumbprint(key))
    if request.signer:
        return _answer_for_the_previous_key(key, run, request, previous)
    verdict = judge(run, request.url, request.kid, request.payload)
    refused = verdict.refusal
    if not refused and verdict.kind == "finalize":
        refused = check_csr(str(verdict.body["csr"]), run.names, domain_key())
    if refused:
        return Failure(f"refusing to sign {refused} ({printable(request.url, 120)})")
    payload = request.payload
    if verdict.kind == "new account" and binding is not None:
        bound = jws.external_account_binding(key, request.url, binding.kid, binding.mac_key, binding.algorithm)
        payload = json.dumps({**verdict.body, "externalAccountBinding": bound}).encode("utf-8")
    return Signed(jws.sign(key, request.url, request.nonce, request.kid, payload))


def _answer_for_the_previous_key(
    key: PrivateKey, run: DomainRun, request: SignRequest, previous: PrivateKey | None
) -> Message:
    """A look-up signed with the previous account key, or the key change from it to the account key."""
    if previous is None:
        return Failure("refusing to sign with a previous account key: none is configured")
    if request.signer == SIGNER_PREVIOUS:
        verdict = judge(run, request.url, request.kid, request.payload)
        if verdict.refusal or verdict.kind != "account look-up":
            return Failure(f"refusing to sign {verdict.refusal or verdict.kind} with the previous account key")
        return Signed(jws.sign(previous, request.url, request.nonce, "", request.payload))
    if request.signer == SIGNER_KEY_CHANGE:
        wrong = not_the_cas(run.api_url, request.url) or not_the_cas(run.api_url, request.kid)
        if wrong or request.payload:
            return Failure(f"refusing to sign a key change: {wrong or 'a payload of its own'}")
        return Signed(jws.key_change(key, previous, request.url, request.nonce, request.kid))
    return Failure(f"refusing to sign for {printable(request.signer, 20)!r}")


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
