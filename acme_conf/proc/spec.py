"""What the parent tells a child when it starts it: its role, channels and settings.

The parent serialises a ChildSpec to JSON as the child's last argument; the
child rebuilds it before doing anything else.  Only plain values cross:
paths as strings, names as lists.

These records are NamedTuples, not dataclasses: every child creates all nine
classes at start-up, and this module then loads in 1.2 ms instead of 5.5 ms
(a frozen dataclass costs ~0.5 ms to create, a NamedTuple ~0.1 ms).  They are
immutable all the same.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile
# every field's annotation text at start-up (~1 ms per child).

import json
from typing import NamedTuple

# Every role, in the order the parent starts them: netproc first, as it has
# the most to import and is on the critical path.
ROLES = (
    "netproc",
    "revokeproc",
    "dnsproc",
    "acctproc",
    "keyproc",
    "chngproc",
    "certproc",
    "fileproc",
    "httpproc",
    "hookproc",
    "tlsproc",
    "runhookproc",
)


# What -D and -k ask of an authority's account: the one thing such a run does, in netproc.
DEACTIVATE = "deactivate"
ROLLOVER = "rollover"
RECORDS = "records"  # -P: print each domain's dns-persist-01 records (its account looked up, or created)


class NetSettings(NamedTuple):
    """netproc: the CA, its trust, the account's contact and what to order."""

    api_url: str
    ca_file: str  # "" = the system bundle
    insecure: bool
    contact: str  # "" = none
    names: tuple[str, ...]
    profile: str  # "" = the CA's default
    revoke: bool
    eab: bool = False  # an external account binding is configured (acctproc holds it)
    alternates: bool = False  # a preferred chain is configured: fetch the CA's alternate chains too
    revoke_reason: int = -1  # -R: the RFC 5280 reason code sent with the revocation (-1: none)
    rollover: bool = False  # a previous account key is configured: change the account's key to the account key
    report_fd: int = -1  # the parent's memfd: netproc writes what the parent keeps across runs (a back-off)
    revoke_with_domain_key: bool = False  # -K: keyproc signs the revocation; no account is looked up
    renewal_information: bool = True  # ask the CA's renewal information, and send `replaces` (RFC 9773)
    kept_window: tuple[str, ...] = ()  # (certificate id, start, end, moment) kept from an earlier run; () none
    account_action: str = ""  # DEACTIVATE, ROLLOVER or RECORDS: do that, and nothing else; "": none
    dns_persist: bool = False  # answer dns-persist-01 challenges (the records published by the user), not http-01
    dns_hook: bool = False  # answer dns-01 challenges, the records published by hookproc, not http-01
    tls_alpn: bool = False  # answer tls-alpn-01 challenges (through tlsproc, in chngproc's place), not http-01
    no_certificate: bool = False  # the parent found no certificate file and started no revokeproc: a first issuance
    challenge_check: tuple[str, int] | None = None  # ask the web server at (address, port) for each file first


class DnsSettings(NamedTuple):
    """dnsproc needs no settings."""


class KeySettings(NamedTuple):
    """acctproc and keyproc: which key to load, or create when it is missing."""

    key_path: str
    keytype: str  # "rsa" or "ecdsa"
    names: tuple[str, ...]  # keyproc only: the CSR's names
    public_only: bool = False  # keyproc beside a check: tell revokeproc the public key; create and build nothing
    size: int = 0  # RSA bits or ECDSA curve bits the key must have (0: any; created with the default)
    revoke_at: str = ""  # -K: the CA's directory URL; keyproc signs the revocation of `certificate` there
    certificate: str = ""  # -K: the certificate file whose revocation keyproc signs (read before its jail)
    revoke_reason: int = -1  # -K with -R: the only reason code the revocation may carry


class AccountSettings(NamedTuple):
    """acctproc: the account key, and what it may sign for each domain's netproc (acme/signing_rules.py)."""

    key_path: str
    keytype: str  # "rsa" or "ecdsa"
    api_url: str  # the CA's directory: requests go to its host and port only
    contact: str  # "" = none
    revoke: bool  # -r: revocations, and no orders
    names: tuple[tuple[str, ...], ...]  # each domain's names, in the order of its netproc channels
    profiles: tuple[str, ...]  # each domain's profile ("" = the CA's default), in the same order
    key_size: int = 0  # RSA bits or ECDSA curve bits the account key must have (0: any)
    eab_kid: str = ""  # external account binding: the key identifier the CA gave ("": none)
    eab_key_path: str = ""  # the file holding its MAC key, base64url
    eab_algorithm: str = "HS256"
    revoke_reason: int = -1  # -R: the only reason code a revocation may carry (-1: none)
    previous_key_path: str = ""  # `previous account key`: the account's key to change from ("": none)
    replaces: tuple[bool, ...] = ()  # each domain's orders may name the certificate they replace (ARI on)
    deactivate: bool = False  # -D: the account's deactivation may be signed, and no order, account or finalize


class ChngSettings(NamedTuple):
    """chngproc: where the http-01 files go, and how many each domain may have there at once.

    The parent gives it a journal (a memfd it reads once chngproc has ended)
    in which chngproc notes each file it created and each it removed; when
    one died with files still there, a second chngproc, given only their
    tokens (`sweep`) and no channel, removes them.
    """

    challengedir: str
    files: tuple[int, ...]  # per netproc channel, in order: the domain's number of names
    authorities: tuple[int, ...]  # per netproc channel, in order: which acctproc channel tells its account
    journal_fd: int = -1  # "+TOKEN\n" once a file is created, "-TOKEN\n" once removed; -1: none
    sweep: tuple[str, ...] = ()  # a sweeper: the tokens whose files a chngproc that died left behind


class HttpSettings(NamedTuple):
    """httpproc: the built-in http-01 responder's address, and how many answers each domain may have live."""

    address: str  # an IPv4 or IPv6 address to listen on ("0.0.0.0", "::": every address)
    port: int
    files: tuple[int, ...]  # per netproc channel, in order: the domain's number of names
    authorities: tuple[int, ...]  # per netproc channel, in order: which acctproc channel tells its account
    listen_fd: int = -1  # the socket the parent bound and listens on (proc/listener.py)


class HookSettings(NamedTuple):
    """hookproc: the dns-01 hook program, how to run it, where to look for its records, and what it may publish.

    hidden and read_only are what its view of the file system covers
    (sandbox/mounts.py): every key's directory, and the certificate,
    challenge and state directories of the run.
    """

    program: str
    user: str  # whom to become when started as root ("": the unprivileged user)
    timeout: int  # seconds one call of the program may take
    resolver: tuple[str, int] | tuple[()]  # (address, port) to look for the records at; (): the system's name servers
    wait: int  # seconds a record may take to be visible (0: do not look)
    names: tuple[tuple[str, ...], ...]  # per netproc channel, in order: the domain's names, the only records it may ask for
    authorities: tuple[int, ...]  # per netproc channel, in order: which acctproc channel tells its account
    hidden: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    journal_fd: int = -1  # "+NAME VALUE\n" once a record's add is run, "-NAME VALUE\n" once its remove has run
    sweep: tuple[str, ...] = ()  # a sweeper: "NAME VALUE" of the records a hookproc that died left behind


class RunHookSettings(NamedTuple):
    """runhookproc: the run hook to run once after the run (`hook changed` or `hook failed`), and its document.

    The document (proc/run_document.py) is in a memfd of the parent's, read
    before the jail and given to the program on its standard input; hidden
    and read_only are its view of the file system, as hookproc's.
    """

    event: str  # "changed" or "failed"
    program: str
    arguments: tuple[str, ...]
    user: str  # whom to become when started as root ("": the unprivileged user)
    timeout: int  # seconds the program may take
    document_fd: int = -1
    hidden: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()


class TlsSettings(NamedTuple):
    """tlsproc: the built-in tls-alpn-01 responder's address, and the names each domain may have answered.

    The names come from the plan, never from netproc: a netproc may publish
    only for an identifier its own domain was configured with.
    """

    address: str  # an IPv4 or IPv6 address to listen on ("0.0.0.0", "::": every address)
    port: int
    names: tuple[tuple[str, ...], ...]  # per netproc channel, in order: the domain's names (identifiers as ordered)
    authorities: tuple[int, ...]  # per netproc channel, in order: which acctproc channel tells its account
    listen_fd: int = -1  # the socket the parent bound and listens on (proc/listener.py)


class CertSettings(NamedTuple):
    """certproc: the names the certificate must carry, and the chain to prefer."""

    names: tuple[str, ...]
    preferred_chain: str = ""  # the Common Name of the topmost issuer to choose a chain by ("": the default)


class FileSettings(NamedTuple):
    """fileproc: the certificate directory and the file names in it."""

    cert_dir: str
    certificate: str  # file names inside cert_dir; "" = not configured
    chain: str
    fullchain: str
    revoke: bool  # only a -r run may remove the files


class RevokeSettings(NamedTuple):
    """revokeproc: the certificate to inspect, the configured names, -F and -r, whether it runs alone,
    and what the parent kept of the CA's renewal information (ARI) for the certificate it judged last."""

    certificate: str  # absolute path of the certificate (or full chain) to inspect
    names: tuple[str, ...]
    force: bool
    revoke: bool
    alone: bool = False  # no chain yet: it answers with its exit status, 0 due (or to ask the CA) or 2 current
    renewal_information: bool = True  # ask the CA's renewal information (not `no renewal information`)
    kept_certificate: str = ""  # the ARI identifier of the certificate the rest was kept for ("": nothing kept)
    kept_moment: str = ""  # the moment drawn in the CA's window, ISO 8601 ("": none)
    next_check: str = ""  # ask the CA no sooner than this, ISO 8601 ("": ask now)
    report_fd: int = -1  # alone: a memfd of the parent's, told what the file holds (proc/known_certificates.py)


Settings = (
    NetSettings | DnsSettings | KeySettings | AccountSettings | ChngSettings | CertSettings | FileSettings
    | RevokeSettings | HttpSettings | HookSettings | TlsSettings | RunHookSettings
)

SETTINGS_TYPES: dict[str, type[Settings]] = {
    "netproc": NetSettings,
    "dnsproc": DnsSettings,
    "acctproc": AccountSettings,
    "keyproc": KeySettings,
    "chngproc": ChngSettings,
    "certproc": CertSettings,
    "fileproc": FileSettings,
    "revokeproc": RevokeSettings,
    "httpproc": HttpSettings,
    "hookproc": HookSettings,
    "tlsproc": TlsSettings,
    "runhookproc": RunHookSettings,
}


class ChildSpec(NamedTuple):
    """Everything a child is told: its role, job handle, verbosity, channels and settings."""

    role: str
    handle: str
    verbosity: int
    strict_sandbox: bool
    channels: tuple[tuple[str, int], ...]  # (peer role, descriptor)
    settings: Settings
    startup_fd: int = -1  # a chain's child closes it once started up, before its jail; -1: none

    def to_json(self) -> str:
        return json.dumps({**self._asdict(), "settings": self.settings._asdict()}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ChildSpec":
        raw = json.loads(text)
        role = raw["role"]
        settings_type = SETTINGS_TYPES[role]
        settings = settings_type(**{name: _tuples(raw["settings"][name]) for name in settings_type._fields})
        channels = tuple((str(peer), int(fd)) for peer, fd in raw["channels"])
        return cls(
            role,
            str(raw["handle"]),
            int(raw["verbosity"]),
            bool(raw["strict_sandbox"]),
            channels,
            settings,
            int(raw["startup_fd"]),
        )

    def channel_fd(self, peer: str) -> int:
        return self.channel_fds(peer)[0]

    def channel_fds(self, peer: str) -> tuple[int, ...]:
        """Every channel to `peer`: an authority's dnsproc and acctproc serve one netproc per domain."""
        fds = tuple(fd for name, fd in self.channels if name == peer)
        if not fds:
            raise KeyError(f"{self.role} has no channel to {peer}")
        return fds


def _tuples(value: object) -> object:
    """JSON's lists as tuples, at every depth (settings are immutable)."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value
