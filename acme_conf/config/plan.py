"""The plan: what a configuration file asks for, validated and immutable.

The parser and validator build it; the executor and `-nv` only read it.
Every path in a plan is absolute and normalised; every name is lower-case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULT_CHALLENGEDIR = Path("/var/www/acme")


class KeyType(enum.Enum):
    """Key algorithm of an account or domain key, as the configuration spells it."""

    RSA = "rsa"  # RSA 4096 when created, unless a size is given
    ECDSA = "ecdsa"  # NIST P-384 when created, unless a curve is given


# The sizes a key may be given in the configuration: RSA bits, or the bits of
# an ECDSA curve (p256, p384).  None: any size acme-client accepts when the key
# exists, and the default (RSA 4096, P-384) when it is created.
KEY_SIZES = {KeyType.RSA: (2048, 3072, 4096), KeyType.ECDSA: (256, 384)}


def key_spelling(keytype: KeyType, size: int | None) -> str:
    """The key type as the configuration spells it: "rsa", "rsa 2048", "ecdsa p256"."""
    if size is None:
        return keytype.value
    return f"{keytype.value} {size}" if keytype is KeyType.RSA else f"{keytype.value} p{size}"


@dataclass(frozen=True)
class Location:
    """Where a block starts, for messages about it."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# RFC 8555 section 7.3.4: how the configuration names the MAC algorithm of an
# external account binding, and the JWS name of each.
MAC_ALGORITHMS = {"hs256": "HS256", "hs384": "HS384", "hs512": "HS512"}


@dataclass(frozen=True)
class AccountBinding:
    """`external account binding KID FILE [ALGORITHM]`: what a CA gave to bind a new account to a customer."""

    kid: str  # the key identifier
    mac_key_file: Path  # base64url MAC key, private like a key file
    algorithm: str  # as the configuration spells it: hs256 (the default), hs384, hs512


@dataclass(frozen=True)
class Authority:
    """An `authority NAME { ... }` block."""

    name: str
    api_url: str  # https:// URL of the ACME directory
    account_key: Path
    account_keytype: KeyType
    contact: str | None  # e.g. "mailto:hostmaster@example.com"
    insecure: bool  # do not verify the CA's TLS certificate
    ca_file: Path | None  # PEM bundle to trust for this CA instead of the system's
    location: Location
    account_key_size: int | None = None  # see KEY_SIZES
    binding: AccountBinding | None = None  # external account binding (RFC 8555 section 7.3.4)
    previous_account_key: Path | None = None  # the account's key is changed from this one to account_key


@dataclass(frozen=True)
class DnsHook:
    """`challenge dns-01 hook PROGRAM [OPTION VALUE ...]`: the program that adds and removes dns-01 TXT records."""

    program: Path
    user: str | None = None  # whom it runs as when acme-client runs as root (None: the unprivileged user)
    timeout: int = 60  # seconds one call of the program may take before it is killed
    resolver: tuple[str, int] | None = None  # where to look for the record (None: the name servers of /etc/resolv.conf)
    wait: int = 120  # seconds to wait for the record to be visible before the CA is asked to look (0: do not look)


# What each output file is called in the configuration (`domain KIND certificate`),
# in the order fileproc writes them.
OUTPUT_FILES = ("chain", "certificate", "full chain", "combined")
# Each output file's mode when the configuration gives none: certificates are
# public; a combined file holds the private key, so only its owner reads it.
DEFAULT_MODES = {"chain": 0o444, "certificate": 0o444, "full chain": 0o444, "combined": 0o400, "domain key": 0o400}


@dataclass(frozen=True)
class FileAccess:
    """`owner NAME group NAME mode OCTAL` after an output file: who may read it.

    None: as without the option, the owner and group are those of the
    certificate directory (whom fileproc runs as), the mode DEFAULT_MODES'.
    """

    owner: str | None = None
    group: str | None = None
    mode: int | None = None


@dataclass(frozen=True)
class RunHook:
    """`hook changed|failed PROGRAM [ARGUMENT ...] [user NAME] [timeout SECONDS]`: a program run once after a run.

    `changed` runs after a run in which a certificate changed, `failed` after
    one in which a domain failed (proc/run_hook.py).
    """

    event: str  # "changed" or "failed"
    program: Path
    arguments: tuple[str, ...] = ()
    user: str | None = None  # whom it runs as when acme-client runs as root (None: the unprivileged user)
    timeout: int = 60  # seconds it may take before it is killed, with everything it started


@dataclass(frozen=True)
class DomainJob:
    """A `domain HANDLE { ... }` block: one certificate to keep current."""

    handle: str
    names: tuple[str, ...]  # `domain name` first, then alternative names; no duplicates
    domain_key: Path
    keytype: KeyType
    cert_dir: Path  # directory of the certificate, else of the full chain
    certificate: Path | None
    chain: Path | None
    fullchain: Path | None
    authority: Authority
    challengedir: Path
    profile: str | None
    location: Location
    key_size: int | None = None  # see KEY_SIZES
    preferred_chain: str | None = None  # the Common Name of the topmost issuer of the chain to install
    renewal_information: bool = True  # follow the CA's renewal information (ARI); `no renewal information` turns it off
    responder: tuple[str, int] | None = None  # `challenge http-01 listen on`: the built-in responder's address and port
    dns_persist: bool = False  # `challenge dns-persist-01`: a TXT record the user published once validates; no files
    dns_hook: DnsHook | None = None  # `challenge dns-01 hook`: a program publishes each TXT record; no files
    tls_alpn: tuple[str, int] | None = None  # `challenge tls-alpn-01 listen on`: the built-in TLS responder's address and port
    challenge_check: tuple[str, int] | None = None  # `challengedir PATH check ADDRESS`: the web server asked first
    combined: Path | None = None  # `domain combined certificate`: the private key, then the full chain, in the certificate directory
    # (output file as OUTPUT_FILES names it, or "domain key"; its access) for each file whose configuration says owner, group or mode
    file_access: tuple[tuple[str, FileAccess], ...] = ()

    def access(self, output: str) -> FileAccess:
        """What the configuration says of `output` (one of OUTPUT_FILES, or "domain key"): FileAccess() when nothing."""
        for name, access in self.file_access:
            if name == output:
                return access
        return FileAccess()

    @property
    def uses_challengedir(self) -> bool:
        """Validated by files in `challengedir` that a web server serves (http-01), not another way."""
        return self.responder is None and self.tls_alpn is None and not self.dns_persist and self.dns_hook is None


_JOB_FIELDS = frozenset(field.name for field in fields(DomainJob))


def domain_job(values: dict[str, object]) -> DomainJob:
    """The DomainJob of `values`, one for each of its fields: DomainJob(**values), faster.

    A frozen dataclass's __init__ sets its fields one by one through
    object.__setattr__; for the 25 of a DomainJob that is about 3 µs, 35 ms
    on 10,000 domain blocks.  The instance's dict is filled at once instead.
    Every field must be given, none other, as __init__ would require (it has
    no __post_init__ to run).
    """
    if values.keys() != _JOB_FIELDS:
        wrong = sorted(_JOB_FIELDS.symmetric_difference(values))
        raise TypeError(f"DomainJob: fields missing or unknown: {', '.join(wrong)}")
    job = object.__new__(DomainJob)
    job.__dict__.update(values)
    return job


@dataclass(frozen=True)
class Plan:
    """A whole configuration: authorities in file order, one job per domain block."""

    source: str  # the configuration file's path as given
    authorities: tuple[Authority, ...]
    domains: tuple[DomainJob, ...]
    warnings: tuple[str, ...]  # "file:line: message" lines; not errors
    run_hooks: tuple[RunHook, ...] = ()  # `hook changed` and `hook failed`, in file order

    def domain(self, handle: str) -> DomainJob | None:
        """The job for a handle, or None when no domain block has it."""
        for job in self.domains:
            if job.handle == handle:
                return job
        return None
