"""hookproc: publishes dns-01 TXT records through the administrator's hook program, and removes them.

One hookproc per configured hook (`challenge dns-01 hook PROGRAM ...`) in a
run serves the netproc of every domain that names it, over a channel of its
own, in place of a chngproc.  For each record it runs

    PROGRAM add _acme-challenge.NAME. VALUE      (and later)
    PROGRAM remove _acme-challenge.NAME. VALUE

with a clean environment, no standard input, in a session of its own, and
kills the whole session when it overruns its timeout.  After `add` it waits,
within the configured bound, until the configured resolver, or else every
name server of the record's zone (found through the resolvers of
/etc/resolv.conf, and asked without recursion), answers the record, so
that the CA does not look too early.  Each record it added is removed when its domain's netproc
closes its channel (whether the chain succeeded, failed or was stopped), and
whatever is left when hookproc itself ends; a record whose `add` failed or
overran is removed too, since the program may have added it before failing.

A hookproc killed (SIGKILL) cannot clean up, so, as chngproc does, it
notes each record in the parent's journal before its `add` runs and again
once its `remove` has; the parent then starts this role as a sweeper, with
no channel and only the records left, whose `remove` it runs.

A netproc may be taken over, so each channel gets no more than its domain
needs: records only for the names of its own domain (from the plan, never
from netproc), each once, for its own account only (the key authorization is
checked against the thumbprint the authority's acctproc tells; the value is
computed here), and a bounded number of requests.

The program is the administrator's and runs with what its user may do, so
this role has no seccomp filter and no Landlock file rules (they would bind
the program too); its jail is a view of the file system of its own, in which
every key's directory is empty and the certificate, challenge and state
directories are read-only (sandbox/mounts.py), the unprivileged user (or
the configured one) when started as root, no_new_privs, and no descriptor
but its channels.  The program itself is checked first: no other user may
change it or a directory on its path.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import time
from dataclasses import dataclass, field

from acme_conf import sandbox
from acme_conf.acme.b64 import b64url
from acme_conf.acme.text import printable
from acme_conf.acme.tokens import key_authorization_refusal
from acme_conf.errors import ProcessFailure
from acme_conf.ipc import Channel, close_all
from acme_conf.messages.challenge import ChallengeWrite
from acme_conf.net.txt_lookup import authoritative_servers, resolv_conf_servers, visible
from acme_conf.files import write_all
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.errors import EXIT_FAILED, EXIT_OK
from acme_conf.proc import programs
from acme_conf.proc.journal import is_record_entry
from acme_conf.proc.programs import PATH, check_program
from acme_conf.proc.publishing import account_channels, account_thumbprint, answer, served_channels
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import ChildSpec, HookSettings

LABEL = "_acme-challenge"
REQUESTS_PER_NAME = 4  # as chngproc: each name published once; a refused or repeated request costs one more
LOOK_EVERY_SECONDS = 2.0  # between two questions to a name server
QUESTION_SECONDS = 2.0  # one question's answer
AUTHORITATIVE_PORT = 53  # where a zone's name servers answer

log = logging.getLogger("acme_conf")


@dataclass(frozen=True)
class Record:
    """One TXT record a hook added: where, and what."""

    name: str  # the identifier it validates, as ordered ("*." for a wildcard)
    owner: str  # _acme-challenge.NAME. (a wildcard's is its base name's)
    value: str  # base64url of the SHA-256 of the key authorization


@dataclass
class Held:
    """hookproc's channels, the name servers to ask, and the records added for each channel."""

    nets: tuple[Channel, ...]
    settings: HookSettings
    servers: tuple[tuple[str, int], ...]
    names: dict[int, frozenset[str]] = field(default_factory=dict)  # channel fd -> its domain's names
    accounts: dict[int, Channel] = field(default_factory=dict)  # channel fd -> its authority's acctproc
    added: dict[int, list[Record]] = field(default_factory=dict)  # channel fd -> its records, removed at its end
    thumbprints: dict[int, str] = field(default_factory=dict)  # acctproc channel fd -> what it told ("": nothing)


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, HookSettings)
    check_program(settings.program)
    if settings.sweep:
        return Held((), settings, ())
    nets = netproc_channels(spec)
    return Held(
        nets,
        settings,
        name_servers(settings),
        {net.fileno(): frozenset(names) for net, names in zip(nets, settings.names, strict=True)},
        account_channels(spec, nets, settings.authorities),
    )


def name_servers(settings: HookSettings) -> tuple[tuple[str, int], ...]:
    """Whom to ask: the configured resolver, else the resolvers of /etc/resolv.conf (which find the zone's servers)."""
    if settings.wait == 0:
        return ()
    if settings.resolver:
        address, port = settings.resolver
        return ((address, port),)
    try:
        with open("/etc/resolv.conf", encoding="ascii", errors="replace") as conf:
            servers = resolv_conf_servers(conf.read(65536))
    except OSError as error:
        raise ProcessFailure(f"cannot read /etc/resolv.conf to look for the records: {error.strerror}") from None
    if not servers:
        raise ProcessFailure("/etc/resolv.conf names no name server to look for the records at (configure a resolver)")
    return servers


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    settings = held.settings
    return sandbox.Grants(
        channels=served_channels(held.nets, held.accounts),
        files=(settings.journal_fd,) if settings.journal_fd >= 0 else (),
        strict=spec.strict_sandbox,
        hidden=settings.hidden,
        read_only=settings.read_only,
        user=settings.user,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    if held.settings.sweep:
        return sweep(held)
    try:
        return answer_until_closed(
            held.nets,
            lambda net, request: answer(lambda: publish(held, request, net.fileno())),
            ChallengeWrite,
            max_requests=lambda net: REQUESTS_PER_NAME * len(held.names[net.fileno()]),
            closed=lambda net: _domain_done(held, net.fileno()),
        )
    finally:
        with signals_held(signal.SIGTERM):  # a SIGTERM must not cut the clean-up short
            for net_fd in list(held.added):
                remove_added(held, net_fd)
        close_all(held.accounts.values())


def _domain_done(held: Held, net_fd: int) -> None:
    with signals_held(signal.SIGTERM):
        remove_added(held, net_fd)


def publish(held: Held, request: ChallengeWrite, net_fd: int) -> None:
    """Add the record for `request.identifier` through the program, then wait until it is visible."""
    record = checked_record(held, request, net_fd)
    held.added.setdefault(net_fd, []).append(record)  # before the program runs: it may add, then fail
    _note(held, "+", record)
    run_program(held.settings, "add", record)
    wait_until_visible(held, record)


def checked_record(held: Held, request: ChallengeWrite, net_fd: int) -> Record:
    """The record `request` asks for, if its domain may have it; ProcessFailure saying why not."""
    name = request.identifier
    if name not in held.names[net_fd]:
        raise ProcessFailure(f"refusing a TXT record for {printable(name, 80)}: not a name of the domain")
    if any(record.name == name for record in held.added.get(net_fd, ())):
        raise ProcessFailure(f"refusing a second TXT record for {name}: one per name")
    thumbprint = account_thumbprint(held.accounts, held.thumbprints, net_fd)
    refusal = key_authorization_refusal(request.token, request.key_authorization, thumbprint)
    if refusal:
        raise ProcessFailure(refusal)
    digest = hashlib.sha256(request.key_authorization.encode("ascii")).digest()
    return record_of(name, b64url(digest))


def record_of(name: str, value: str) -> Record:
    return Record(name, f"{LABEL}.{name.removeprefix('*.')}.", value)


def run_program(settings: HookSettings, action: str, record: Record) -> None:
    """Run `PROGRAM ACTION OWNER VALUE`; ProcessFailure unless it exits 0 within the timeout."""
    environment = {
        "PATH": PATH,
        "ACME_ACTION": action,
        "ACME_NAME": record.name.removeprefix("*."),
        "ACME_RECORD": record.owner,
        "ACME_VALUE": record.value,
    }
    programs.run_program(
        (settings.program, action, record.owner, record.value), environment, settings.timeout, f"hook {action} {record.owner}"
    )


def wait_until_visible(held: Held, record: Record) -> None:
    """Return once every name server asked answers the record; ProcessFailure when the wait is over first.

    Asked: the configured resolver; else the name servers of the record's
    zone, found through the system's resolvers, and asked without
    recursion, so that no cache answers for them; else, when they cannot be
    found, the system's resolvers.
    """
    if not held.servers:
        return
    deadline = time.monotonic() + held.settings.wait
    waiting, recursion = list(held.servers), True
    if not held.settings.resolver:
        zone_servers = authoritative_servers(record.owner, held.servers, QUESTION_SECONDS, AUTHORITATIVE_PORT)
        if zone_servers:
            waiting, recursion = list(zone_servers), False
        else:
            log.warning("%s: the zone's name servers cannot be found; looking at the system's resolvers", record.owner)
    while True:
        waiting = [
            server for server in waiting if not visible(server, record.owner, record.value, QUESTION_SECONDS, recursion)
        ]
        if not waiting:
            log.info("%s: TXT record visible", record.owner)
            return
        if time.monotonic() + LOOK_EVERY_SECONDS > deadline:
            servers = ", ".join(f"{address} port {port}" for address, port in waiting)
            raise ProcessFailure(f"{record.owner}: the TXT record is not visible at {servers} after {held.settings.wait} s")
        time.sleep(LOOK_EVERY_SECONDS)


def remove_added(held: Held, net_fd: int) -> None:
    """Remove the records added for the netproc on `net_fd`: its domain is done with them.

    A record leaves the list only once the program was run to remove it, so
    that whatever interrupts this leaves the rest for the final clean-up.
    """
    records = held.added.get(net_fd, [])
    while records:
        record = records[-1]
        try:
            run_program(held.settings, "remove", record)
        except ProcessFailure as error:
            log.warning("%s", error)
        else:
            log.debug("removed %s", record.owner)
        _note(held, "-", record)
        records.pop()
    held.added.pop(net_fd, None)


def _note(held: Held, change: str, record: Record) -> None:
    """Tell the parent's journal that the record's add is about to run (+), or its remove has run (-)."""
    if held.settings.journal_fd < 0:
        return
    try:
        write_all(held.settings.journal_fd, f"{change}{record.name} {record.value}\n".encode("ascii"))
    except OSError as error:  # the records are still removed at the end; only a SIGKILL would leave them
        log.warning("cannot note %s in the journal: %s", record.owner, error.strerror)


def sweep(held: Held) -> int:
    """Remove the records a hookproc that died left: of the names of its domains only, each a record value."""
    names = frozenset(name for domain in held.settings.names for name in domain)
    failed = False
    for entry in held.settings.sweep:
        name, _, value = entry.partition(" ")
        if not is_record_entry(entry) or name not in names:
            log.error("refusing to remove %r: not a record of this hook's domains", printable(entry, 80))
            failed = True
            continue
        record = record_of(name, value)
        try:
            run_program(held.settings, "remove", record)
        except ProcessFailure as error:
            log.error("%s", error)
            failed = True
        else:
            log.info("removed %s, left by a hookproc that died", record.owner)
    return EXIT_FAILED if failed else EXIT_OK


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
