"""netproc: the only process that talks to the network; runs the ACME sequence.

It holds no key and reads no file after its jail.  Before the jail it loads
the CA bundle into a TLS context; afterwards it asks dnsproc for addresses,
acctproc for signatures, keyproc for the CSR, chngproc to publish
challenges, and hands the certificate to certproc.  revokeproc speaks first:
when the certificate is current, netproc stops before any traffic at all;
when it is current but the CA's renewal information (ARI, RFC 9773) is to be
asked, netproc asks it, and goes on only if the CA's window has opened.

The sequence, as RFC 8555 section 7 lays it out:
directory -> [renewal information] -> account -> new order (naming the
certificate it replaces) -> authorizations (http-01) -> ready -> finalize ->
valid -> download certificate.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit

from acme_conf import __version__, sandbox
from acme_conf.acme.b64 import b64url
from acme_conf.acme.identifiers import canonical_ip, identifier, is_ip
from acme_conf.acme.persist import persist_records, record_name
from acme_conf.acme.polling import (
    FIRST_DELAY,
    POLL_DEADLINE,
    backoff_seconds,
    next_delay,
    retry_after_seconds,
)
from acme_conf.acme.renewal_info import (
    MAX_CHECK_INTERVAL,
    NOT_OFFERED_CHECK_INTERVAL,
    Window,
    choose_moment,
    is_certificate_id,
    next_check,
    parse_renewal_info,
    renewal_info_url,
)
from acme_conf.net.challenge_check import check_served
from acme_conf.acme.resources import (
    Authorization,
    Challenge,
    Directory,
    Order,
    ProtocolError,
    alternate_links,
    checked_url,
    parse_authorization,
    parse_directory,
    parse_json,
    parse_order,
)
from acme_conf.acme.text import printable
from acme_conf.acme.tokens import is_valid_token, key_authorization
from acme_conf.ipc import MAX_FRAME, Channel, close_all
from acme_conf.messages import Failure
from acme_conf.messages.account import SIGNER_KEY_CHANGE, SIGNER_PREVIOUS, Thumbprint, ThumbprintRequest
from acme_conf.messages.certificate import CertBundle, RemoveCertificate
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.messages.dns import Addresses, Resolve
from acme_conf.messages.key import Csr, CsrRequest
from acme_conf.messages.revoke import (
    VERDICT_ASK,
    VERDICT_CURRENT,
    VERDICT_DUE,
    VERDICT_MISSING,
    VERDICT_REVOKE,
    CertStatus,
)
from acme_conf.net.session import AcmeError, AcmeSession
from acme_conf.net.transport import Response, Transport, TransportError
from acme_conf.net.warm_up import warm_up
from acme_conf.proc.child import NOTICE, report_to_parent, run_role
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import EXIT_OK
from acme_conf.proc.spec import DEACTIVATE, RECORDS, ChildSpec, NetSettings

USER_AGENT = f"acme-client-python/{__version__}"
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # OpenBSD, macOS
)
PEM_CHAIN = "application/pem-certificate-chain"
MAX_ALTERNATES = 4  # alternate chains fetched (Let's Encrypt has offered one at most)
FRAME_SLACK = 4096  # room kept in the message to certproc for its fields' lengths
# Who publishes each kind of challenge, over the channel of chngproc's place (an httpproc's says chngproc too).
PUBLISHERS = {"http-01": "chngproc", "tls-alpn-01": "tlsproc", "dns-01": "hookproc"}

log = logging.getLogger("acme_conf")


# A NamedTuple, not a frozen dataclass: ~0.4 ms less to create at start-up.
class Held(NamedTuple):
    """netproc's channels to every other process, its TLS context and the CA's ports.

    A run that orders nothing has no chngproc, and a -K run no acctproc
    either (main.shared_roles); a chain whose certificate file does not
    exist yet has no revokeproc (NetSettings.no_certificate): those
    channels are None.
    """

    revoke: Channel | None
    dns: Channel
    acct: Channel | None
    key: Channel
    chng: Channel | None
    cert: Channel
    tls: ssl.SSLContext
    ports: tuple[int, ...]
    report_fd: int = -1  # what the parent keeps for the next run (NetSettings.report_fd)

    def channels(self) -> tuple[Channel, ...]:
        return tuple(each for each in (self.revoke, self.dns, self.acct, self.key, self.chng, self.cert) if each is not None)

    def peer(self, channel: Channel | None, role: str) -> Channel:
        """A channel this run must have; ProcessFailure when the parent started no such process."""
        if channel is None:
            raise ProcessFailure(f"this run has no {role}")
        return channel


# acquire, jail, serve ----------------------------------------------------------


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, NetSettings)
    tls = tls_context(settings)
    warm_up()  # every parser of the CA's answers, once, while modules can still be loaded

    def channel(peer: str) -> Channel:
        return Channel.from_fd(spec.channel_fd(peer), peer)

    def optional(peer: str) -> Channel | None:
        return channel(peer) if any(name == peer for name, _ in spec.channels) else None

    return Held(
        revoke=optional("revokeproc"),
        dns=channel("dnsproc"),
        acct=optional("acctproc"),
        key=channel("keyproc"),
        chng=optional("chngproc"),
        cert=channel("certproc"),
        tls=tls,
        ports=(_port_of(settings.api_url),),
        report_fd=settings.report_fd,
    )


def _self_check_port(spec: ChildSpec) -> tuple[int, ...]:
    """The web server's port when the self-check is on: the jail lets netproc connect there, the CA's URLs never."""
    settings = spec.settings
    assert isinstance(settings, NetSettings)
    return (settings.challenge_check[1],) if settings.challenge_check is not None else ()


def _port_of(url: str) -> int:
    try:
        return urlsplit(url).port or 443
    except ValueError:
        raise ProcessFailure(f"api url {printable(url)}: bad port") from None


def tls_context(settings: NetSettings) -> ssl.SSLContext:
    """TLS 1.2+ trusting exactly one bundle: `ca file`, else the system's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        log.info("insecure: the CA's TLS certificate is not verified")
        return context
    bundle = settings.ca_file or _system_bundle()
    try:
        context.load_verify_locations(cafile=bundle)
    except (OSError, ssl.SSLError) as error:
        raise ProcessFailure(f"CA bundle {bundle}: {printable(getattr(error, 'strerror', None) or error)}") from None
    return context


def _system_bundle() -> str:
    for path in SYSTEM_BUNDLES:
        try:
            with open(path, "rb"):
                return path
        except OSError:
            continue
    raise ProcessFailure(f"no system CA bundle found (looked for {', '.join(SYSTEM_BUNDLES)}); name one with `ca file`")


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(
        channels=tuple(channel.fileno() for channel in held.channels()),
        files=(held.report_fd,) if held.report_fd >= 0 else (),
        connect_ports=held.ports + _self_check_port(spec),
        strict=spec.strict_sandbox,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    settings = spec.settings
    assert isinstance(settings, NetSettings)
    try:
        status = first_verdict(settings, held)
        check_verdict(status, settings)
        if status.verdict == VERDICT_CURRENT and not settings.account_action:
            return EXIT_OK
        transport = Transport(held.tls, _resolver(held.dns), held.ports, USER_AGENT)
        try:
            directory = None
            if settings.account_action:  # -D or -k: that, and nothing else, whatever the certificate's state
                act_on_account(settings, held, open_session(settings, held, transport, fetch_directory(settings, transport)))
                return EXIT_OK
            if status.verdict == VERDICT_ASK:
                directory = ask_renewal_information(settings, transport, status.certificate_id, held.report_fd)
                if directory is None:
                    return EXIT_OK
            _run(settings, held, transport, status, directory)
        except ProtocolError as error:
            raise ProcessFailure(f"CA protocol error: {error}") from None
        except AcmeError as error:
            report_backoff(held.report_fd, error)
            raise
        finally:
            transport.close()
    finally:
        close_all(held.channels())
    return EXIT_OK


def report_backoff(report_fd: int, error: AcmeError) -> datetime | None:
    """A refusal for the CA's rate limits, or its unavailability: tell the parent until when to send nothing.

    The parent keeps it (acme_conf/state.py), so that a later run before
    that moment does not ask again (and burn the limit further).
    """
    kind = error.problem.short_type if error.problem is not None else ""
    now = datetime.now(timezone.utc)
    seconds = backoff_seconds(kind, error.status, error.retry_after, now)
    if seconds is None or report_fd < 0:
        return None
    until = now + timedelta(seconds=seconds)
    log.info("the CA asks for no more requests until %s", until.strftime("%Y-%m-%d %H:%M:%S UTC"))
    report_to_parent(report_fd, {"backoff_until": until.isoformat()}, "when to retry")
    return until


def report_renewal(report_fd: int, certificate_id: str, check: datetime, window: Window | None = None, moment: datetime | None = None) -> None:
    """Tell the parent what the CA's renewal information said of the certificate, to keep for the next run."""
    record = {
        "certificate": certificate_id,
        "next_check": check.isoformat(),
        "window": [window.start.isoformat(), window.end.isoformat()] if window is not None else None,
        "moment": moment.isoformat() if moment is not None else None,
    }
    report_to_parent(report_fd, {"renewal": record}, "the CA's renewal window")


def first_verdict(settings: NetSettings, held: Held) -> CertStatus:
    """revokeproc's verdict on the installed certificate; "missing" when the parent found no file and started no revokeproc.

    The parent decides that from the file's absence alone (acme_conf/files.py
    is_missing, under the domain's lock), which is all a revokeproc would
    have learnt from it: nothing is read, so nothing needs parsing in a jail.
    """
    if not settings.no_certificate:
        return held.peer(held.revoke, "revokeproc").recv(CertStatus)
    if held.revoke is not None:
        raise ProcessFailure("the parent says there is no certificate, yet started a revokeproc to judge one")
    return CertStatus(VERDICT_MISSING, "no certificate yet", b"")


def check_verdict(status: CertStatus, settings: NetSettings) -> None:
    """Refuse a verdict the run did not ask for.

    revokeproc parses a file, so it is treated as possibly hostile: it may
    not turn a renewal into a revocation (or the reverse) on its own, nor
    have the CA asked for renewal information the domain does not follow.
    """
    allowed = (VERDICT_REVOKE,) if settings.revoke else (VERDICT_MISSING, VERDICT_DUE, VERDICT_CURRENT)
    if settings.renewal_information and not settings.revoke:
        allowed += (VERDICT_ASK,)
    if status.verdict not in allowed:
        raise ProcessFailure(f"revokeproc answered {printable(status.verdict, 20)!r}, which this run did not ask for")


def _run(settings: NetSettings, held: Held, transport: Transport, status: CertStatus, directory: Directory | None) -> None:
    """The rest of the sequence, from the directory (`directory`, when the renewal information step fetched it)."""
    directory = directory or fetch_directory(settings, transport)
    if status.verdict == VERDICT_REVOKE and settings.revoke_with_domain_key:
        # -K: no account; keyproc signs the revocation with the certificate's own key
        acme = AcmeSession(transport, held.key, directory)
    else:
        acme = open_session(settings, held, transport, directory)
    if status.verdict == VERDICT_REVOKE:
        revoke_certificate(acme, status.certificate_der, settings.revoke_reason)
        held.cert.send(RemoveCertificate())
        return
    order = new_order(acme, settings, replaced(settings, directory, status))
    authorize_all(acme, order, held, settings)
    if held.chng is not None:  # none for dns-persist-01, which publishes nothing
        held.chng.close()  # authorized: chngproc removes this domain's challenge files now
    csr = held.key.request(CsrRequest(), Csr).der
    held.key.close()  # keyproc has given all it had to: it exits, and the domain key with it
    if order.status == "pending":  # as newOrder said: every authorization is valid now, so it is ready
        order = finalize_when_ready(acme, order, csr)
    elif order.status == "ready":
        order = finalize(acme, order, csr)
    order = wait_for_order(acme, order, "processing")
    if order.status != "valid" or order.certificate is None:
        raise ProcessFailure(f"order {printable(order.url)} ended {printable(order.status)}{_order_problem(order)}")
    bundle, alternates = download_certificate(acme, order.certificate)
    if settings.alternates:
        held.cert.send(CertBundle(bundle, download_alternates(acme, alternates, MAX_FRAME - FRAME_SLACK - len(bundle))))
    else:
        held.cert.send(CertBundle(bundle))


def _resolver(dns: Channel) -> Callable[[str], tuple[str, ...]]:
    def resolve(host: str) -> tuple[str, ...]:
        reply = dns.request(Resolve(host), Addresses, Failure)
        if isinstance(reply, Failure):
            raise TransportError(printable(reply.reason))
        return reply.addresses

    return resolve


# the protocol steps ---------------------------------------------------------------


def fetch_directory(settings: NetSettings, transport: Transport) -> Directory:
    return parse_directory(_checked(transport.get(settings.api_url), "directory").body)


def ask_renewal_information(
    settings: NetSettings, transport: Transport, certificate_id: str, report_fd: int
) -> Directory | None:
    """The directory, when the CA's renewal information (RFC 9773) says the certificate is due now.

    None when it is not due yet, or the CA offers no renewal information, or
    cannot be asked: revokeproc found the certificate current by the
    lifetime rule, which then decides, with a warning, never a failed run.
    What the CA said (its window, the moment drawn in it, when to ask again)
    goes to the parent, which keeps it: a run before that moment sends nothing.
    """
    now = datetime.now(timezone.utc)
    if not is_certificate_id(certificate_id):  # from revokeproc, which parses what the CA sent: checked
        raise ProcessFailure("revokeproc named the certificate in a malformed way")
    retry_after: float | None = None
    try:
        directory = fetch_directory(settings, transport)
        if not directory.renewal_info:
            log.warning(
                "the CA offers no renewal information (its directory has no renewalInfo): the lifetime rule decides; "
                "`no renewal information` in the domain block stops asking"
            )
            report_renewal(report_fd, certificate_id, now + NOT_OFFERED_CHECK_INTERVAL)
            return None
        response = _checked(transport.get(renewal_info_url(directory.renewal_info, certificate_id)), "renewal information")
        retry_after = retry_after_seconds(response.header("retry-after"), now, MAX_CHECK_INTERVAL.total_seconds())
        info = parse_renewal_info(response.body, now)
    except (ProcessFailure, ProtocolError, TransportError) as error:
        # 429 or 503 (an AcmeError): a back-off to keep, and nothing asked before it ends
        until = report_backoff(report_fd, error) if isinstance(error, AcmeError) else None
        log.warning("renewal information: %s; the lifetime rule decides", printable(error, 200))
        report_renewal(report_fd, certificate_id, max(next_check(retry_after, now), until or now))
        return None
    moment = choose_moment(info.window, *_kept_window(settings, certificate_id))
    report_renewal(report_fd, certificate_id, next_check(retry_after, now), info.window, moment)
    window = f"{_utc(info.window.start)} to {_utc(info.window.end)}"
    if info.explanation is not None:
        log.info("the CA explains its renewal window at %s", printable(info.explanation))
    if moment > now:
        log.info("the CA suggests renewal from %s: renewal due from %s", window, _utc(moment))
        return None
    log.log(NOTICE, "the CA suggests renewal from %s: renewal due since %s", window, _utc(moment))
    return directory


def _kept_window(settings: NetSettings, certificate_id: str) -> tuple[Window | None, datetime | None]:
    """The window and moment an earlier run kept for this certificate, or (None, None)."""
    if len(settings.kept_window) != 4 or settings.kept_window[0] != certificate_id:
        return None, None
    start, end, moment = (datetime.fromisoformat(text) for text in settings.kept_window[1:])
    return Window(start, end), moment


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def replaced(settings: NetSettings, directory: Directory, status: CertStatus) -> str:
    """The certificate a renewal order replaces (RFC 9773 section 5), "" when none is named.

    Named only when the domain follows the CA's renewal information and the
    CA offers it.
    """
    if not settings.renewal_information or not directory.renewal_info or status.verdict not in (VERDICT_DUE, VERDICT_ASK):
        return ""
    return status.certificate_id if is_certificate_id(status.certificate_id) else ""


def open_session(settings: NetSettings, held: Held, transport: Transport, directory: Directory) -> AcmeSession:
    """Find (or create: not in a run that acts on the account) the account.

    With a previous account key, the parent is told once the account key
    names the account: the previous key it kept (after -k) is done with.
    """
    acme = AcmeSession(transport, held.peer(held.acct, "acctproc"), directory)
    create = settings.account_action in ("", RECORDS)
    acme.kid = find_or_create_account(acme, settings.contact, settings.eab, settings.rollover, create)
    if settings.rollover:
        report_to_parent(held.report_fd, {"account": "current"}, "that the account key names the account")
    return acme


# What a CA that wants a binding is told, and the user: where to configure one.
NEEDS_BINDING = (
    "the CA requires an external account binding for a new account: configure `external account "
    "binding KID FILE` in the authority, with the key identifier and MAC key the CA gave"
)


def find_or_create_account(
    acme: AcmeSession, contact: str, bound: bool = False, rollover: bool = False, create: bool = True
) -> str:
    """The account URL: look the key up first; register it only when unknown (and `create`).

    A new account carries the configured external account binding, which
    acctproc adds (`bound` says one is configured): netproc never sees its key.
    With a previous account key configured (`rollover`), an account the
    account key does not name is looked up with the previous key, and its key
    changed to the account key.
    """
    url = look_up_account(acme, "", "account lookup")
    if url is not None:
        log.info("account %s", printable(url))
        if rollover:
            log.info("the account key names the account: the previous account key is no longer needed")
        return url
    changed = change_account_key(acme) if rollover else None
    if changed is not None:
        return changed
    if not create:
        raise ProcessFailure(f"the CA knows no account for the account key{' nor for the previous one' if rollover else ''}")
    if rollover:
        log.warning("the previous account key names no account either: a new account is created")
    if acme.directory.external_account_required and not bound:
        raise ProcessFailure(NEEDS_BINDING)
    payload: dict[str, object] = {"termsOfServiceAgreed": True}
    if contact:
        payload["contact"] = [contact]
    try:
        response = acme.post(acme.directory.new_account, payload, "new account", embed_key=True)
    except AcmeError as refused:
        if refused.problem is not None and refused.problem.short_type == "externalAccountRequired" and not bound:
            raise ProcessFailure(NEEDS_BINDING) from None
        raise
    url = _location(response, "new account")
    log.log(NOTICE, "created account %s", printable(url))
    if acme.directory.terms_of_service:
        log.info("agreed to the terms of service at %s", printable(acme.directory.terms_of_service))
    return url


def change_account_key(acme: AcmeSession) -> str | None:
    """The account the previous key names, now with the account key; None if neither key names one.

    Domains of one authority run side by side, each with its netproc: if
    another changed the key first, the previous key names no account any
    more, or the change is refused; then the account key names it, and it is
    looked up again.
    """
    url = look_up_account(acme, SIGNER_PREVIOUS, "account lookup with the previous key")
    if url is None:
        return look_up_account(acme, "", "account lookup")  # changed meanwhile by another domain's run?
    if not acme.directory.key_change:
        raise ProcessFailure("the CA offers no key change (its directory has no keyChange URL)")
    acme.kid = url  # the outer JWS names the account; acctproc signs it with the previous key
    try:
        acme.post(acme.directory.key_change, None, "account key change", signer=SIGNER_KEY_CHANGE)
    except AcmeError:
        if look_up_account(acme, "", "account lookup") != url:  # not changed by another domain's run: a refusal
            raise
        log.info("account %s: its key was changed by another domain's run", printable(url))
        return url
    log.log(NOTICE, "account %s: key changed from the previous account key to the account key", printable(url))
    return url


def act_on_account(settings: NetSettings, held: Held, acme: AcmeSession) -> None:
    """-D: deactivate the account (RFC 8555 section 7.3.6); -k: its key was changed on the way (open_session);
    -P: tell the parent the dns-persist-01 records to publish for the domain's names and this account."""
    if settings.account_action == RECORDS:
        if not acme.directory.caa_identities:
            raise ProcessFailure("the CA names no issuer domain (its directory has no caaIdentities): no record to print")
        for record in persist_records(settings.names, acme.directory.caa_identities[0], acme.kid):
            log.info("publish %s", printable(record))
            report_to_parent(held.report_fd, {"record": record}, "a record to publish")
        return
    if settings.account_action != DEACTIVATE:
        log.log(NOTICE, "account %s: its key is the account key", printable(acme.kid))
        return
    response = acme.post(acme.kid, {"status": "deactivated"}, "account deactivation")
    status = parse_json(response.body, "account").get("status")
    if status != "deactivated":
        raise ProcessFailure(f"account deactivation: the CA answered status {printable(status, 40)}")
    log.log(NOTICE, "account %s deactivated: the CA accepts nothing more signed with this account key", printable(acme.kid))


def look_up_account(acme: AcmeSession, signer: str, what: str) -> str | None:
    """The account URL the key (`signer`: see SignRequest) names, or None when it names none."""
    try:
        response = acme.post(acme.directory.new_account, {"onlyReturnExisting": True}, what, embed_key=True, signer=signer)
    except AcmeError as error:
        if error.problem is None or error.problem.short_type != "accountDoesNotExist":
            raise
        return None
    return _location(response, what)


def new_order(acme: AcmeSession, settings: NetSettings, replaces: str = "") -> Order:
    """A new order for the configured names (and profile), naming the certificate it `replaces` if any.

    If the CA refuses it as a replacement (that certificate was replaced
    already, or is not this account's), it is ordered once more without.
    """
    payload: dict[str, object] = {"identifiers": [identifier(name) for name in settings.names]}
    if settings.profile:
        offered = acme.directory.profiles
        if settings.profile not in offered:
            listed = ", ".join(printable(name, 40) for name in offered) or "none"
            raise ProcessFailure(f"the CA does not offer profile {settings.profile} (it offers: {listed})")
        payload["profile"] = settings.profile
    try:
        response = acme.post(acme.directory.new_order, {**payload, "replaces": replaces} if replaces else payload, "new order")
    except AcmeError as refused:
        if not replaces or refused.status in (429, 503) or refused.problem is None or refused.problem.short_type == "rateLimited":
            raise
        log.warning("the CA refused the order as a renewal of the certificate (%s): ordering it as a new one", refused.problem)
        response = acme.post(acme.directory.new_order, payload, "new order")
    order = parse_order(_location(response, "new order"), response.body)
    check_order(order, settings.names)
    log.info("order %s: %s", printable(order.url), printable(order.status))
    return order


def check_order(order: Order, names: tuple[str, ...]) -> None:
    """The order is for exactly the names asked for, with no more authorizations than names."""
    if frozenset(_normal(kind, value) for kind, value in order.identifiers) != requested(names):
        shown = ", ".join(printable(value, 80) for _, value in order.identifiers[:10]) or "nothing"
        raise ProcessFailure(f"new order: the CA made an order for {shown}, not for the configured names")
    if len(order.authorizations) > len(names):
        raise ProcessFailure(
            f"new order: {len(order.authorizations)} authorizations for {len(names)} name{'s' * (len(names) != 1)}"
        )


def requested(names: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """The identifiers ordered for `names`, as _normal spells them."""
    return frozenset(_normal(item["type"], item["value"]) for item in map(identifier, names))


def _normal(kind: str, value: str) -> tuple[str, str]:
    """An identifier as compared: DNS names in lower case, addresses in RFC 5952 form."""
    if kind == "ip" and is_ip(value):
        return kind, canonical_ip(value)
    return kind, value.lower() if kind == "dns" else value


def authorize_all(acme: AcmeSession, order: Order, held: Held, settings: NetSettings) -> None:
    """Answer every pending authorization's http-01 (or tls-alpn-01) challenge, then wait for all.

    All challenges are published and answered before the first poll, so the
    CA validates them in parallel.
    """
    thumbprint = "" if settings.dns_persist else held.peer(held.acct, "acctproc").request(ThumbprintRequest(), Thumbprint).value
    pending: list[Authorization] = []
    ours = requested(settings.names)
    for url in order.authorizations:
        authorization = fetch_authorization(acme, url)
        if _authorized_name(authorization) not in ours:
            raise ProcessFailure(f"authorization for {printable(authorization.identifier_value, 80)}, which was not ordered")
        if authorization.status == "valid":
            log.info("%s: already authorized", printable(authorization.identifier_value))
        elif authorization.status == "pending" and settings.dns_persist:
            answer_persist_challenge(acme, authorization)
            pending.append(authorization)
        elif authorization.status == "pending":
            kind = "dns-01" if settings.dns_hook else "tls-alpn-01" if settings.tls_alpn else "http-01"
            check = settings.challenge_check if kind == "http-01" else None
            answer_challenge(acme, authorization, thumbprint, held.peer(held.chng, PUBLISHERS[kind]), kind, check)
            pending.append(authorization)
        else:
            raise ProcessFailure(f"authorization for {printable(authorization.identifier_value)} is {printable(authorization.status)}")
    for done in poll(acme, tuple(a.url for a in pending), "authorization", "pending", parse_authorization):
        _check_authorized(done, acme if settings.dns_persist else None)


def _authorized_name(authorization: Authorization) -> tuple[str, str]:
    """The identifier an authorization is for, as ordered: a wildcard's is "*." and its value."""
    value = authorization.identifier_value
    if authorization.wildcard and authorization.identifier_type == "dns":
        value = f"*.{value}"
    return _normal(authorization.identifier_type, value)


def answer_persist_challenge(acme: AcmeSession, authorization: Authorization) -> None:
    """dns-persist-01: nothing to publish now (the owner published the record once): tell the CA to look."""
    identifier = _authorized_name(authorization)[1]
    name = printable(identifier)
    challenge = offered_challenge(authorization, "dns-persist-01", name, with_token=False)
    if challenge.status == "pending":
        acme.post(challenge.url, {}, f"{name}: dns-persist-01 challenge")
    log.info("%s: dns-persist-01 challenge answered: the CA looks up %s", name, printable(record_name(identifier)))


def fetch_authorization(acme: AcmeSession, url: str) -> Authorization:
    return parse_authorization(url, acme.post(url, None, "authorization").body)


def offered_challenge(authorization: Authorization, kind: str, name: str, with_token: bool = True) -> Challenge:
    """The authorization's challenge of `kind`, with a token safe to publish; ProcessFailure when the CA sent none."""
    challenge = authorization.challenge(kind)
    if challenge is None:
        offered = ", ".join(printable(c.type, 40) for c in authorization.challenges) or "none"
        raise ProcessFailure(f"{name}: the CA offers no {kind} challenge (offered: {offered})")
    if with_token and (challenge.token is None or not is_valid_token(challenge.token)):
        raise ProcessFailure(f"{name}: the CA sent a malformed {kind} token")
    return challenge


def answer_challenge(
    acme: AcmeSession,
    authorization: Authorization,
    thumbprint: str,
    chng: Channel,
    kind: str = "http-01",
    check: tuple[str, int] | None = None,
) -> None:
    """Publish the `kind` challenge's key authorization (through chngproc, or what stands in its place), then tell the CA.

    With `check`, the web server at that address and port must first serve
    the file chngproc wrote (challenge_check.py).
    """
    identifier = _authorized_name(authorization)[1]
    name = printable(authorization.identifier_value)
    challenge = offered_challenge(authorization, kind, name)
    assert challenge.token is not None
    written = chng.request(
        ChallengeWrite(challenge.token, key_authorization(challenge.token, thumbprint), identifier), ChallengeWritten, Failure
    )
    if isinstance(written, Failure):
        raise ProcessFailure(f"{name}: {PUBLISHERS[kind]}: {printable(written.reason)}")
    if check is not None:
        check_served(check, identifier, challenge.token, key_authorization(challenge.token, thumbprint))
    if challenge.status == "pending":
        acme.post(challenge.url, {}, f"{name}: {kind} challenge")
    log.info("%s: %s challenge answered", name, kind)


def _check_authorized(authorization: Authorization, persisting: AcmeSession | None = None) -> None:
    """A valid authorization, or an error with the CA's reason (and, for dns-persist-01, the record it wanted)."""
    identifier = _authorized_name(authorization)[1]
    name = printable(identifier)
    if authorization.status == "valid":
        log.info("%s: authorized", name)
        return
    problems = [str(c.error) for c in authorization.challenges if c.error is not None]
    detail = f": {problems[0]}" if problems else ""
    hint = ""
    challenge = authorization.challenge("dns-persist-01") if persisting is not None else None
    if persisting is not None and challenge is not None and challenge.issuer_names:
        wanted = persist_records((identifier,), challenge.issuer_names[0], persisting.kid)
        hint = f"; publish {printable(wanted[0])} (acme-client -P prints them)"
    raise ProcessFailure(f"{name}: authorization {printable(authorization.status)}{detail}{hint}")


def wait_for_order(acme: AcmeSession, order: Order, pending_status: str) -> Order:
    """The order once it has left `pending_status` ("pending" or "processing")."""
    if order.status != pending_status:
        return order
    return poll(acme, (order.url,), "order", pending_status, parse_order)[0]


def finalize_when_ready(acme: AcmeSession, order: Order, csr: bytes) -> Order:
    """Finalize an order newOrder called pending, whose authorizations are all valid now.

    A CA marks such an order ready as soon as the last authorization is
    valid, so it is finalized at once rather than polled first (a request
    and a poll's wait saved); a CA that answers orderNotReady all the same
    is polled until the order leaves pending, as before.
    """
    try:
        return finalize(acme, order, csr)
    except AcmeError as refused:
        if refused.problem is None or refused.problem.short_type != "orderNotReady":
            raise
        log.debug("finalize: the order is not ready yet; polling it")
    order = wait_for_order(acme, order, "pending")
    return finalize(acme, order, csr) if order.status == "ready" else order


def finalize(acme: AcmeSession, order: Order, csr: bytes) -> Order:
    response = acme.post(order.finalize, {"csr": b64url(csr)}, "finalize")
    finalized = parse_order(order.url, response.body)
    log.info("order finalized: %s", printable(finalized.status))
    return finalized


def download_certificate(acme: AcmeSession, url: str, what: str = "certificate download") -> tuple[bytes, tuple[str, ...]]:
    """The PEM chain at `url`, and the URLs of the alternate chains its Link headers name."""
    response = acme.post(url, None, what)
    content_type = (response.header("content-type") or "").split(";")[0].strip()
    if content_type != PEM_CHAIN:
        raise ProcessFailure(f"{what}: unexpected content type {printable(content_type, 80)}")
    log.info("%s (%d bytes)", "certificate downloaded" if what == "certificate download" else f"{what} downloaded", len(response.body))
    return response.body, alternate_links(response.all_headers("link"), MAX_ALTERNATES)


def download_alternates(acme: AcmeSession, urls: tuple[str, ...], room: int) -> tuple[str, ...]:
    """The alternate chains, for certproc to choose from by the configured issuer (at most MAX_ALTERNATES).

    One that cannot be fetched, or would not fit with the others in the
    message to certproc (`room` bytes), is left out with a warning: the
    default chain, already issued, is installed whatever happens here.
    """
    chains: list[str] = []
    for number, url in enumerate(urls, 1):
        try:
            body, _ = download_certificate(acme, url, f"alternate chain {number}")
            text = body.decode("ascii")
        except (ProcessFailure, ProtocolError, UnicodeDecodeError) as error:
            log.warning("alternate chain %s left out: %s", printable(url), printable(error, 200))
            continue
        if len(text) > room:
            log.warning("alternate chain %s left out: %d bytes, more than the %d left", printable(url), len(text), room)
            continue
        room -= len(text)
        chains.append(text)
    return tuple(chains)


def revoke_certificate(acme: AcmeSession, certificate_der: bytes, reason: int = -1) -> None:
    """Revoke with the account key; `reason` an RFC 5280 reason code (-1: none, the CA's "unspecified")."""
    payload: dict[str, object] = {"certificate": b64url(certificate_der)}
    if reason >= 0:
        payload["reason"] = reason
    try:
        acme.post(acme.directory.revoke_cert, payload, "revocation")
    except AcmeError as error:
        if error.problem is None or error.problem.short_type != "alreadyRevoked":
            raise
        log.log(NOTICE, "certificate was already revoked")
        return
    log.log(NOTICE, "certificate revoked")


# polling ----------------------------------------------------------------------------


class _Resource(Protocol):
    @property
    def status(self) -> str: ...


R = TypeVar("R", bound=_Resource)


def poll(
    acme: AcmeSession, urls: tuple[str, ...], what: str, pending_status: str, parse: Callable[[str, bytes], R]
) -> list[R]:
    """POST-as-GET each of `urls` until its status leaves `pending_status`; the results in order.

    Polls in rounds: one wait, then every resource still pending.  The wait
    backs off exponentially, is never shorter than the longest Retry-After
    (capped), and polling gives up after POLL_DEADLINE seconds.
    """
    deadline = time.monotonic() + POLL_DEADLINE
    done: dict[str, R] = {}
    remaining = urls
    delay = FIRST_DELAY
    attempt = 0
    while remaining:
        time.sleep(delay)
        still_pending: list[str] = []
        retry_after: float | None = None
        for url in remaining:
            response = acme.post(url, None, what)
            resource = parse(url, response.body)
            if resource.status != pending_status:
                done[url] = resource
                continue
            still_pending.append(url)
            asked = retry_after_seconds(response.header("retry-after"), datetime.now(timezone.utc))
            if asked is not None:
                retry_after = max(asked, retry_after or 0.0)
        remaining = tuple(still_pending)
        delay = next_delay(attempt, retry_after)
        attempt += 1
        if remaining and time.monotonic() + delay > deadline:
            raise ProcessFailure(f"{what} {printable(remaining[0])} still {pending_status} after {POLL_DEADLINE:.0f} s")
        if remaining:
            log.debug("%d %s(s) still %s; next poll in %.2f s", len(remaining), what, pending_status, delay)
    return [done[url] for url in urls]


# helpers ------------------------------------------------------------------------------


def _checked(response: Response, what: str) -> Response:
    if not 200 <= response.status < 300:
        note = "; redirects are not followed" if 300 <= response.status < 400 else ""
        message = f"{printable(response.url)} answered HTTP {response.status}{note}"
        if response.status in (429, 503):  # a rate limit, or down for a while: maybe a back-off to keep
            raise AcmeError(what, response.status, None, message, retry_after=response.header("retry-after"))
        raise ProcessFailure(f"{what}: {message}")
    return response


def _location(response: Response, what: str) -> str:
    url = response.header("location")
    if url is None:
        raise ProcessFailure(f"{what}: the CA sent no https Location")
    return checked_url(url, f"{what}: the CA's Location")


def _order_problem(order: Order) -> str:
    return f": {order.error}" if order.error is not None else ""


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
