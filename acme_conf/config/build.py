"""From blocks of options to the plan: every rule that is not syntax.

Blocks are taken in reading order.  Each problem is reported at the line of
the option (or block) that causes it, in upstream's words where upstream has
words for it, and every problem is reported: a bad block does not stop the
checking of the others.  The plan is only made if there is no error at all.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from pathlib import Path
from urllib.parse import urlsplit

from acme_conf.acme.identifiers import canonical_ip, is_ip

from .errors import ConfigError, ConfigErrors
from .file_access import ACCESS_WORDS, AccessProblem, file_access
from .filesystem import FileChecks, Finding
from .names import BadName, canonical_name
from .plan import (
    DEFAULT_CHALLENGEDIR,
    DEFAULT_MODES,
    KEY_SIZES,
    MAC_ALGORITHMS,
    AccountBinding,
    Authority,
    DnsHook,
    DomainJob,
    FileAccess,
    KeyType,
    Location,
    Plan,
    RunHook,
    domain_job,
    key_spelling,
)
from .source import Reading
from .statements import Block, Option

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_PROFILE = re.compile(r"\S+")
_KID = re.compile(r"[!-~]{1,256}")
EVERY_ADDRESS = frozenset(("::", "0.0.0.0"))  # a responder here takes the port on every address
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")  # a POSIX user name as useradd accepts it
HOOK_SECONDS = 3600  # the most `timeout` and `wait` may say
# Each names a block's way to validate; a block has one.
CHALLENGE_KEYWORDS = (
    "challengedir",
    "challenge http-01 listen on",
    "challenge tls-alpn-01 listen on",
    "challenge dns-persist-01",
    "challenge dns-01 hook",
)
# A DomainJob's field of each output file -> the name OUTPUT_FILES gives it.
_OUTPUT_NAME = {"certificate": "certificate", "chain": "chain", "fullchain": "full chain", "combined": "combined"}
_ISSUER = re.compile(r"[ -~]{1,64}")  # an X.520 Common Name is at most 64 characters

_DUPLICATE = {
    "api url": "duplicate api",
    "account key": "duplicate account",
    "contact": "duplicate contact",
    "insecure": "duplicate insecure",
    "ca file": "duplicate ca file",
    "external account binding": "duplicate external account binding",
    "previous account key": "duplicate previous account key",
    "domain name": "duplicate domain name",
    "domain key": "duplicate key",
    "domain certificate": "duplicate cert",
    "domain chain certificate": "duplicate chain",
    "domain full chain certificate": "duplicate full chain",
    "domain combined certificate": "duplicate combined",
    "sign with": "duplicate sign with",
    "challengedir": "duplicate challengedir",
    "profile": "duplicate profile",
    "preferred chain": "duplicate preferred chain",
    "no renewal information": "duplicate no renewal information",
    "challenge http-01 listen on": "duplicate challenge",
    "challenge dns-persist-01": "duplicate challenge",
    "challenge dns-01 hook": "duplicate challenge",
    "challenge tls-alpn-01 listen on": "duplicate challenge",
}

# The output files fileproc writes, each keeping its previous version as FILE.1.
_OUTPUT_KINDS = frozenset(("domain cert", "domain chain", "domain full chain", "domain combined"))
# What each file is called in "... file already used".
_FILE_KIND = {
    "account key": "account key",
    "external account binding": "MAC key",
    "previous account key": "previous account key",
    "domain key": "domain key",
    "domain certificate": "domain cert",
    "domain chain certificate": "domain chain",
    "domain full chain certificate": "domain full chain",
    "domain combined certificate": "domain combined",
}


def build_plan(reading: Reading, source: str) -> Plan:
    """The plan for what was read; ConfigErrors with every error if there is any."""
    blocks = sorted(reading.blocks, key=_reading_order)
    builder = _PlanBuilder(reading, blocks)
    for block in blocks:
        if block.kind == "authority":
            builder.add_authority(block)
        elif block.kind == "hook":
            builder.add_run_hook(block)
        else:
            builder.add_domain(block)
    domains = builder.domain_jobs()
    _warn_unused_macros(reading)
    errors = reading.sorted_errors()
    if errors:
        raise ConfigErrors(errors)
    return Plan(
        source=source,
        authorities=builder.authorities(),
        domains=domains,
        warnings=tuple(str(warning) for warning in reading.sorted_warnings()),
        run_hooks=builder.run_hooks(),
    )


def _reading_order(block: Block) -> tuple[int, ...]:
    return block.order


def _warn_unused_macros(reading: Reading) -> None:
    for name, macro in reading.macros.items():
        if not macro.used:
            warning = ConfigError(macro.file, macro.line, f"macro '{name}' not used")
            reading.add_warning(macro.order, warning)


class _DomainDraft:
    """A domain block's checked settings, waiting for the default authority."""

    __slots__ = ("block", "job_fields", "sign_with", "complete")

    def __init__(self, block: Block) -> None:
        self.block = block
        self.job_fields: dict[str, object] = {}
        self.sign_with: Authority | None = None
        self.complete = True


class _PlanBuilder:
    def __init__(self, reading: Reading, blocks: list[Block]) -> None:
        self.reading = reading
        self.files = FileChecks()
        # Authority name -> the authority, or None if its block has errors.
        self.defined: dict[str, Authority | None] = {}
        self.authority_blocks: dict[str, Block] = {}  # name -> its first block
        # Every authority of the file, to say where when one is used too early.
        self.every_authority: dict[str, Block] = {}
        for block in reversed(blocks):  # in reading order: the first one stays
            if block.kind == "authority":
                self.every_authority[block.name] = block
        self.first_authority: str | None = None
        self.drafts: list[_DomainDraft] = []
        self.handles: dict[str, Block] = {}  # handle -> its first block
        # Path -> what it is used as, and where: file and line.
        self.used_files: dict[str, tuple[str, str, int]] = {}
        self.paths: dict[str, Path] = {}
        # Port -> the responder address first given with it, and where: file and line.
        self.listeners: dict[int, tuple[str, str, int]] = {}
        # (address, port) -> the challenge type first served there, and where: one listener serves one type.
        self.listen_types: dict[tuple[str, int], tuple[str, str, int]] = {}
        self.hooks: dict[str, tuple[RunHook | None, Block]] = {}  # "hook changed" -> the hook (None: in error), its line

    # ---- reporting

    def error(self, block: Block, line: int, message: str) -> None:
        order = block.order[:-1] + (line,)
        self.reading.add_error(order, ConfigError(block.file, line, message))

    def warning(self, block: Block, line: int, message: str) -> None:
        order = block.order[:-1] + (line,)
        self.reading.add_warning(order, ConfigError(block.file, line, message))

    def missing(self, block: Block, message: str) -> None:
        """A required option is missing, unless a line of the block could not be read."""
        if not self.reading.has_error_within(block.file, block.line, block.end_line):
            self.error(block, block.line, message)

    def finding(self, block: Block, line: int, finding: Finding | tuple[Finding, ...] | None) -> bool:
        """Report a file check's findings (a key's may be several); whether any was an error."""
        if not finding:  # None or (): nearly always, three times a block
            return False
        found = finding if isinstance(finding, tuple) else (finding,)
        for each in found:
            if each.is_error:
                self.error(block, line, each.message)
            else:
                self.warning(block, line, each.message)
        return any(each.is_error for each in found)

    # ---- authorities

    def add_authority(self, block: Block) -> None:
        options = self.single_options(block)
        name = block.name
        complete = True
        first = self.authority_blocks.get(name)
        if first is not None:
            where = _where(first.file, first.line, block)
            self.error(block, block.line, f"authority {name} already defined at {where}")
            return
        self.authority_blocks[name] = block
        if self.first_authority is None:
            self.first_authority = name

        api = options.get("api url")
        if api is None:
            self.missing(block, f"authority {name}: no api URL specified")
            complete = False
        else:
            problem = api_url_problem(api.values[0])
            if problem is not None:
                self.error(block, api.line, f"api url {api.values[0]}: {problem}")
                complete = False

        account = options.get("account key")
        account_key = None
        account_size: int | None | bool = None
        if account is None:
            self.missing(block, f"authority {name}: no account key file specified")
            complete = False
        else:
            account_key = self.file_path(block, account)
            if account_key is None or self.finding(
                block, account.line, self.files.private_key(account_key)
            ):
                complete = False
            account_size = self.key_size(block, account)
            if account_size is False:
                complete = False

        binding = self.account_binding(block, options.get("external account binding"))
        if binding is False:
            complete = False
        previous = self.previous_account_key(block, options.get("previous account key"))
        if previous is False:
            complete = False

        contact = options.get("contact")
        if contact is not None and not _URL.fullmatch(contact.values[0]):
            self.error(
                block,
                contact.line,
                f"contact {contact.values[0]}: not a URL (for e-mail, write mailto:address)",
            )
            complete = False

        insecure = options.get("insecure")
        ca = options.get("ca file")
        ca_file = None
        if ca is not None:
            ca_file = self.absolute_path(block, ca)
            if ca_file is None:
                complete = False
            else:
                self.finding(block, ca.line, self.files.ca_file(ca_file))
            if insecure is not None:
                line = max(ca.line, insecure.line)
                self.error(block, line, f"authority {name}: insecure and ca file cannot be used together")
                complete = False

        authority = None
        if complete:
            assert api is not None and account is not None and account_key is not None
            authority = Authority(
                name=name,
                api_url=api.values[0],
                account_key=self.path(account_key),
                account_keytype=_keytype(account),
                account_key_size=account_size or None,
                binding=binding or None,
                previous_account_key=self.path(previous) if isinstance(previous, str) else None,
                contact=contact.values[0] if contact is not None else None,
                insecure=insecure is not None,
                ca_file=self.path(ca_file) if ca_file is not None else None,
                location=Location(block.file, block.line),
            )
        self.defined[name] = authority

    def authorities(self) -> tuple[Authority, ...]:
        return tuple(a for a in self.defined.values() if a is not None)

    # ---- domains

    def add_domain(self, block: Block) -> None:
        draft = _DomainDraft(block)
        self.drafts.append(draft)
        options = self.single_options(block)
        handle = block.name
        first = self.handles.get(handle)
        if first is not None:
            where = _where(first.file, first.line, block)
            self.error(block, block.line, f"domain {handle} already defined at {where}")
            draft.complete = False
        else:
            self.handles[handle] = block

        persist = options.get("challenge dns-persist-01")
        hook_option = options.get("challenge dns-01 hook")
        names = self.names(block, options.get("domain name"), wildcards=persist is not None or hook_option is not None)
        label = options["domain name"].values[0] if "domain name" in options else handle
        key_option = options.get("domain key")
        domain_key = None
        key_access = FileAccess()
        if key_option is None:
            self.missing(block, f"no domain key file specified for domain {label}")
        else:
            key_option, access_words = _key_and_access(key_option)
            domain_key = self.file_path(block, key_option)
            try:
                key_access = file_access("domain key", access_words)
            except AccessProblem as problem:
                self.error(block, key_option.line, str(problem))
                domain_key = None
            if domain_key is not None and self.finding(
                block, key_option.line, self.files.private_key(domain_key, _allowed(key_access))
            ):
                domain_key = None
        certificates = self.certificates(block, options, label)
        sign_with = self.authority_to_sign_with(block, options.get("sign with"), draft)
        responder = self.responder(block, options.get("challenge http-01 listen on"), options.get("challengedir"))
        tls_alpn = self.tls_alpn_responder(block, options)
        if tls_alpn is False:
            responder = False
        dns = persist or hook_option
        if dns is not None:
            responder = self.no_other_challenge(block, dns, options) and responder
            for address in [name for name in names or () if is_ip(name)]:
                self.error(block, dns.line, f"{address}: {_challenge(dns)} validates domain names, not addresses")
                responder = False
        hook = self.dns_hook(block, hook_option)
        challengedir = (
            DEFAULT_CHALLENGEDIR if responder or dns or tls_alpn else self.challengedir(block, options.get("challengedir"))
        )
        check = self.challenge_check(block, options.get("challengedir"))
        profile = self.profile(block, options.get("profile"))
        preferred = self.preferred_chain(block, options.get("preferred chain"))

        if names is None or domain_key is None or certificates is None or challengedir is None:
            draft.complete = False
        size = self.key_size(block, key_option) if key_option is not None else None
        if size is False:
            draft.complete = False
        if not draft.complete or profile is False or preferred is False or responder is False or hook is False:
            draft.complete = False
            return
        if check is False:
            draft.complete = False
            return
        assert key_option is not None
        draft.sign_with = sign_with
        draft.job_fields = {
            "handle": handle,
            "names": names,
            "domain_key": self.path(domain_key),
            "keytype": _keytype(key_option),
            "key_size": size or None,
            **certificates,
            "file_access": (
                certificates["file_access"] + ((("domain key", key_access),) if key_access != FileAccess() else ())
            ),
            "challengedir": challengedir,
            "profile": profile,
            "preferred_chain": preferred,
            "renewal_information": "no renewal information" not in options,
            "responder": responder or None,
            "dns_persist": persist is not None,
            "dns_hook": hook or None,
            "tls_alpn": tls_alpn or None,
            "challenge_check": check or None,
            "location": Location(block.file, block.line),
        }

    def names(self, block: Block, domain_name: Option | None, wildcards: bool = False) -> tuple[str, ...] | None:
        """`domain name` (else the handle) then the alternative names, checked.

        The handle must be a good name even when `domain name` is given (it
        names the block on the command line and in messages), and never a
        wildcard (it names files); the others may be wildcards where the
        block validates through DNS, dns-01 or dns-persist-01 (`wildcards`).
        """
        spelled = [(block.line, block.name)]
        if domain_name is not None:
            spelled.append((domain_name.line, domain_name.values[0]))
        for option in block.options:
            if option.keyword == "alternative names":
                spelled.extend((option.line, value) for value in option.values)
        names = []
        for index, (line, text) in enumerate(spelled):
            try:
                if index == 0 and "*" in text:
                    raise BadName(f"{text}: a wildcard cannot name a domain block; give it as `domain name` or an alternative name")
                names.append(canonical_name(text, wildcards))
            except BadName as bad:
                self.error(block, line, str(bad))
        if len(names) != len(spelled):
            return None
        if domain_name is not None:
            del names[0]  # the handle, checked only
        return tuple(dict.fromkeys(names))

    def certificates(
        self, block: Block, options: dict[str, Option], label: str
    ) -> dict[str, object] | None:
        """The certificate directory and files, resolved; None after an error."""
        certificate = options.get("domain certificate")
        chain = options.get("domain chain certificate")
        fullchain = options.get("domain full chain certificate")
        combined = options.get("domain combined certificate")
        if certificate is None and fullchain is None:
            self.missing(
                block,
                "at least certificate file or full certificate chain file must be specified"
                f" for domain {label}",
            )
            return None
        defining = certificate if certificate is not None else fullchain
        assert defining is not None
        if not self.names_a_file(block, defining):
            return None
        defining_path = self.absolute_path(block, defining)
        if defining_path is None:
            return None
        cert_dir = os.path.dirname(defining_path)
        resolved: dict[str, str | None] = {"certificate": None, "chain": None, "fullchain": None, "combined": None}
        complete = True
        files = []
        access: list[tuple[str, FileAccess]] = []
        for field, option in (
            ("certificate", certificate), ("chain", chain), ("fullchain", fullchain), ("combined", combined)
        ):
            if option is None:
                continue
            try:
                declared = file_access(option.keyword, option.values[1:])
            except AccessProblem as problem:
                self.error(block, option.line, str(problem))
                complete = False
            else:
                if declared != FileAccess():
                    access.append((_OUTPUT_NAME[field], declared))
            path = defining_path if option is defining else self.in_directory(block, option, cert_dir)
            if path is None:
                complete = False
            else:
                files.append((option.line, option, path))
                resolved[field] = path
        for _, option, path in sorted(files, key=_first):
            if not self.use_file(block, option, path):
                complete = False
        self.finding(block, defining.line, self.files.directory(cert_dir, "certificate directory"))
        if not complete:
            return None
        return {
            "cert_dir": self.path(cert_dir),
            **{field: self.path(path) if path else None for field, path in resolved.items()},
            "file_access": tuple(access),
        }

    def in_directory(self, block: Block, option: Option, directory: str) -> str | None:
        """A chain or full chain file: relative to the certificate directory, and in it."""
        value = option.values[0]
        if not self.names_a_file(block, option):
            return None
        path = os.path.normpath(os.path.join(directory, value))
        if os.path.dirname(path) != directory:
            what = option.keyword.removeprefix("domain ")
            self.error(block, option.line, f"{value}: the {what} must be in the certificate directory {directory}")
            return None
        return path

    def authority_to_sign_with(
        self, block: Block, option: Option | None, draft: _DomainDraft
    ) -> Authority | None:
        if option is None:
            return None
        name = option.values[0]
        if name in self.defined:
            authority = self.defined[name]
            if authority is None:
                draft.complete = False  # its block has errors, reported there
            return authority
        draft.complete = False
        message = f"sign with {name}: unknown authority"
        below = self.every_authority.get(name)
        if below is not None:
            where = _where(below.file, below.line, block)
            message += (
                f" (authority {name} is defined below, at {where};"
                " define it before the domains that use it)"
            )
        self.error(block, option.line, message)
        return None

    def challengedir(self, block: Block, option: Option | None) -> Path | None:
        if option is None:
            path = str(DEFAULT_CHALLENGEDIR)
            line = block.line
        else:
            value = self.absolute_path(block, option)
            if value is None:
                return None
            path, line = value, option.line
        self.finding(block, line, self.files.directory(path, "challengedir"))
        return self.path(path)

    def challenge_check(self, block: Block, option: Option | None) -> tuple[str, int] | None | bool:
        """`challengedir PATH check ADDRESS [port PORT]`: the web server's (address, port); None if absent, False after an error.

        Before the CA is told to look, netproc asks the web server at ADDRESS
        (an IPv4 or IPv6 address: this machine's, as it serves the directory)
        for each challenge file, port 80 unless given.
        """
        if option is None or len(option.values) == 1:
            return None
        path, *rest = option.values
        where = f"challengedir {path}"
        if len(rest) not in (2, 4) or rest[0] != "check":
            self.error(block, option.line, f"{where}: expected check and an address after the directory")
            return False
        address = rest[1]
        if not is_ip(address):
            self.error(block, option.line, f"{where} check {address}: not an IPv4 or IPv6 address")
            return False
        number = 80
        if len(rest) == 4:
            keyword, port = rest[2:]
            if keyword != "port" or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
                self.error(block, option.line, f"{where} check {address}: expected port and a number from 1 to 65535")
                return False
            number = int(port)
        return canonical_ip(address), number

    def no_other_challenge(self, block: Block, dns: Option, options: dict[str, Option]) -> bool:
        """A DNS challenge names the block's only way to validate: False after saying what else does."""
        for keyword in CHALLENGE_KEYWORDS:
            other = options.get(keyword)
            if other is not None and other is not dns:
                self.error(block, max(dns.line, other.line), f"{dns.keyword} and {keyword} cannot be used together")
                return False
        return True

    def dns_hook(self, block: Block, option: Option | None) -> DnsHook | None | bool:
        """`challenge dns-01 hook PROGRAM [user NAME] [timeout SECONDS] [resolver ADDRESS [port PORT]] [wait SECONDS]`.

        None if absent, False after an error.
        """
        if option is None:
            return None
        program = self.absolute_path(block, option)
        settings: dict[str, str] = {}
        words = list(option.values[1:])
        while words:
            keyword = words.pop(0)
            if keyword not in ("user", "timeout", "resolver", "port", "wait"):
                self.error(block, option.line, f"challenge dns-01 hook: unknown option {keyword} (user, timeout, resolver, port, wait)")
                return False
            if not words:
                self.error(block, option.line, f"challenge dns-01 hook: {keyword} needs a value")
                return False
            if keyword in settings:
                self.error(block, option.line, f"challenge dns-01 hook: {keyword} given twice")
                return False
            settings[keyword] = words.pop(0)
        if program is None:
            return False
        found = self.files.program(program)
        if found is not None and self.finding(block, option.line, found):
            return False
        return self.hook_settings(block, option, Path(program), settings)

    def hook_settings(self, block: Block, option: Option, program: Path, settings: dict[str, str]) -> DnsHook | bool:
        """The values after a hook's program, checked: a DnsHook, or False after an error."""
        where = "challenge dns-01 hook"
        user = settings.get("user")
        if user is not None and not _is_unprivileged_user(user):
            self.error(block, option.line, f"{where}: user {user}: not an unprivileged user's name")
            return False
        numbers: dict[str, int] = {}
        for keyword, low, default in (("timeout", 1, DnsHook.timeout), ("wait", 0, DnsHook.wait), ("port", 1, 53)):
            text = settings.get(keyword, str(default))
            highest = 65535 if keyword == "port" else HOOK_SECONDS
            if not text.isascii() or not text.isdigit() or not low <= int(text) <= highest:
                self.error(block, option.line, f"{where}: {keyword} {text}: not a number from {low} to {highest}")
                return False
            numbers[keyword] = int(text)
        resolver = settings.get("resolver")
        if resolver is None and "port" in settings:
            self.error(block, option.line, f"{where}: port is the resolver's: give resolver ADDRESS before it")
            return False
        if resolver is not None and not is_ip(resolver):
            self.error(block, option.line, f"{where}: resolver {resolver}: not an IPv4 or IPv6 address")
            return False
        return DnsHook(
            program,
            user,
            numbers["timeout"],
            (canonical_ip(resolver), numbers["port"]) if resolver is not None else None,
            numbers["wait"],
        )

    def tls_alpn_responder(self, block: Block, options: dict[str, Option]) -> tuple[str, int] | None | bool:
        """`challenge tls-alpn-01 listen on ADDRESS [port PORT]` (RFC 8737): as `responder`, port 443 unless given."""
        option = options.get("challenge tls-alpn-01 listen on")
        if option is None:
            return None
        http = options.get("challenge http-01 listen on")
        if http is not None:
            self.error(block, max(option.line, http.line), "challenge tls-alpn-01 and challenge http-01 cannot be used together")
            return False
        return self.responder(block, option, options.get("challengedir"), "tls-alpn-01")

    def responder(
        self, block: Block, option: Option | None, challengedir: Option | None, challenge: str = "http-01"
    ) -> tuple[str, int] | None | bool:
        """`challenge http-01 listen on ADDRESS [port PORT]`: (address, port); None if absent, False after an error.

        The address is an IPv4 or IPv6 address, or `*` (every address); the
        port 80 unless given (443 for tls-alpn-01, the `challenge`).
        """
        if option is None:
            return None
        address, *rest = option.values
        where = f"challenge {challenge} listen on {address}"
        if challengedir is not None:
            self.error(block, max(option.line, challengedir.line), f"{where}: challengedir cannot be used with it")
            return False
        if address == "*":
            address = "::"
        elif not is_ip(address):
            self.error(block, option.line, f"{where}: not an IPv4 or IPv6 address (or * for every address)")
            return False
        number = 443 if challenge == "tls-alpn-01" else 80
        if rest:
            keyword, port = rest
            if keyword != "port" or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
                self.error(block, option.line, f"{where}: expected port and a number from 1 to 65535 after the address")
                return False
            number = int(port)
        address = canonical_ip(address)
        first = self.listeners.setdefault(number, (address, block.file, option.line))
        if first[0] != address and EVERY_ADDRESS & {first[0], address}:  # the second bind would fail
            other = f"{first[0]} port {number} at {_where(first[1], first[2], block)}"
            self.error(block, option.line, f"{where} port {number}: overlaps {other}; give every block the same address")
            return False
        served = self.listen_types.setdefault((address, number), (challenge, block.file, option.line))
        if served[0] != challenge:  # one listener answers one kind of request
            other = f"challenge {served[0]} at {_where(served[1], served[2], block)}"
            self.error(block, option.line, f"{where} port {number}: already used for {other}; give each its own port")
            return False
        return address, number

    def account_binding(self, block: Block, option: Option | None) -> AccountBinding | None | bool:
        """`external account binding KID FILE [ALGORITHM]`; None if absent, False after an error.

        The MAC key is a file held to a key file's rules, never a value in the
        configuration, which is not secret (it may be world-readable, and -nv
        prints it).
        """
        if option is None:
            return None
        kid, _, *rest = option.values
        algorithm = rest[0] if rest else "hs256"
        ok = True
        if not _KID.fullmatch(kid):
            self.error(block, option.line, f'external account binding "{kid}": not a key identifier (printable ASCII, no blanks)')
            ok = False
        if algorithm not in MAC_ALGORITHMS:
            offered = ", ".join(MAC_ALGORITHMS)
            self.error(block, option.line, f"external account binding: {algorithm}: not a MAC algorithm ({offered})")
            ok = False
        path = self.file_path(block, Option(option.keyword, option.line, option.values[1:]))
        if path is None or self.finding(block, option.line, self.files.private_key(path)):
            ok = False
        elif not os.path.lexists(path):
            self.warning(block, option.line, f"MAC key file {path} does not exist (it must exist at run time)")
        if not ok or path is None:
            return False
        return AccountBinding(kid, self.path(path), algorithm)

    def previous_account_key(self, block: Block, option: Option | None) -> str | None | bool:
        """The key an account's key is changed from: a private key file; None if absent, False after an error."""
        if option is None:
            return None
        path = self.file_path(block, option)
        if path is None or self.finding(block, option.line, self.files.private_key(path)):
            return False
        if not os.path.lexists(path):
            self.warning(block, option.line, f"previous account key {path} does not exist (it must exist at run time)")
        return path

    def key_size(self, block: Block, option: Option) -> int | None | bool:
        """The size given after the key type (see KEY_SIZES), None if none, False after an error."""
        if len(option.values) < 3:
            return None
        keytype, spelled = _keytype(option), option.values[2]
        size = _key_size(option)
        if size is None:
            offered = ", ".join(key_spelling(keytype, each) for each in KEY_SIZES[keytype])
            self.error(block, option.line, f"{keytype.value} {spelled}: not a key size acme-client knows ({offered})")
            return False
        return size

    def preferred_chain(self, block: Block, option: Option | None) -> str | None | bool:
        """The issuer name a chain is chosen by, None if there is none, False after an error."""
        return self.word(block, option, _ISSUER, "not an issuer name (printable ASCII, at most 64 characters)")

    def profile(self, block: Block, option: Option | None) -> str | None | bool:
        """The profile name, None if there is none, False after an error."""
        return self.word(block, option, _PROFILE, "not a profile name")

    def word(self, block: Block, option: Option | None, pattern: re.Pattern[str], complaint: str) -> str | None | bool:
        """An option's one value if it matches `pattern`; None without the option, False after an error."""
        if option is None:
            return None
        value = option.values[0]
        if not pattern.fullmatch(value):
            self.error(block, option.line, f'{option.keyword} "{value}": {complaint}')
            return False
        return value

    def domain_jobs(self) -> tuple[DomainJob, ...]:
        """The domain jobs, with the first authority as the default."""
        default = self.defined.get(self.first_authority) if self.first_authority else None
        jobs = []
        reported_no_authority = False
        for draft in self.drafts:
            if not draft.complete:
                continue
            authority = draft.sign_with
            if authority is None:
                if self.first_authority is None:
                    if not reported_no_authority:
                        self.error(draft.block, draft.block.line, "no authorities configured")
                        reported_no_authority = True
                    continue
                if default is None:
                    continue  # the first authority has errors, reported there
                authority = default
            draft.job_fields["authority"] = authority
            jobs.append(domain_job(draft.job_fields))
        return tuple(jobs)

    # ---- run hooks

    def add_run_hook(self, block: Block) -> None:
        """`hook changed|failed PROGRAM [ARGUMENT ...] [user NAME] [timeout SECONDS]`: one of each at most."""
        option = block.options[0]
        first = self.hooks.get(option.keyword)
        if first is not None:
            self.error(block, option.line, f"{option.keyword} already defined at {_where(first[1].file, first[1].line, block)}")
            return
        self.hooks[option.keyword] = (self.run_hook(block, option), block)

    def run_hook(self, block: Block, option: Option) -> RunHook | None:
        """The hook `option` describes, checked as a dns-01 hook's program and options are; None after an error.

        The words `user` and `timeout` end the program's arguments.
        """
        where = option.keyword
        program = self.absolute_path(block, option)
        words = list(option.values[1:])
        ends = [index for index, word in enumerate(words) if word in ("user", "timeout")]
        arguments, words = tuple(words[: ends[0]] if ends else words), words[ends[0] :] if ends else []
        settings: dict[str, str] = {}
        while words:
            keyword = words.pop(0)
            if keyword not in ("user", "timeout"):
                self.error(block, option.line, f"{where}: unknown option {keyword} after the arguments (user, timeout)")
                return None
            if not words:
                self.error(block, option.line, f"{where}: {keyword} needs a value")
                return None
            if keyword in settings:
                self.error(block, option.line, f"{where}: {keyword} given twice")
                return None
            settings[keyword] = words.pop(0)
        if program is None or self.finding(block, option.line, self.files.program(program)):
            return None
        user, timeout = settings.get("user"), settings.get("timeout", str(RunHook.timeout))
        if user is not None and not _is_unprivileged_user(user):
            self.error(block, option.line, f"{where}: user {user}: not an unprivileged user's name")
            return None
        if not timeout.isascii() or not timeout.isdigit() or not 1 <= int(timeout) <= HOOK_SECONDS:
            self.error(block, option.line, f"{where}: timeout {timeout}: not a number from 1 to {HOOK_SECONDS}")
            return None
        return RunHook(option.keyword.split()[1], Path(program), arguments, user, int(timeout))

    def run_hooks(self) -> tuple[RunHook, ...]:
        """The run hooks without errors, `changed` before `failed` (the order they run in)."""
        hooks = (self.hooks.get(keyword, (None, None))[0] for keyword in ("hook changed", "hook failed"))
        return tuple(hook for hook in hooks if hook is not None)

    # ---- options and paths

    def single_options(self, block: Block) -> dict[str, Option]:
        """The block's options by keyword; a repeated one is an error."""
        options: dict[str, Option] = {}
        for option in block.options:
            keyword = option.keyword
            if keyword == "alternative names":
                continue  # may be given more than once, as upstream
            if keyword in options:
                self.error(block, option.line, _DUPLICATE[keyword])
            else:
                options[keyword] = option
        return options

    def absolute_path(self, block: Block, option: Option) -> str | None:
        value = option.values[0]
        if not value.startswith("/"):
            self.error(block, option.line, f"{value}: not an absolute path")
            return None
        return os.path.normpath(value)

    def names_a_file(self, block: Block, option: Option) -> bool:
        value = option.values[0]
        if value.endswith("/") or value in ("", ".", ".."):
            self.error(block, option.line, f"{value}: names a directory, not a file")
            return False
        return True

    def file_path(self, block: Block, option: Option) -> str | None:
        """A key or certificate file: absolute, a file, used once in the configuration."""
        if not self.names_a_file(block, option):
            return None
        path = self.absolute_path(block, option)
        if path is None or not self.use_file(block, option, path):
            return None
        return path

    def use_file(self, block: Block, option: Option, path: str) -> bool:
        """Note a file's use; using one file for two things is an error.

        Several authorities may share an account key (upstream allows it).
        """
        kind = _FILE_KIND[option.keyword]
        if not self.no_previous_version_at(block, option, kind, path):
            return False
        first_use = self.used_files.get(path)
        if first_use is None:
            self.used_files[path] = (kind, block.file, option.line)
            return True
        used_as, file, line = first_use
        if used_as == kind and kind in ("account key", "previous account key"):
            return True  # several authorities may share an account, and so its previous key
        as_what = "" if used_as == kind else f" as {used_as}"
        where = _where(file, line, block)
        self.error(block, option.line, f"{kind} file {path} already used{as_what} at {where}")
        return False

    def no_previous_version_at(self, block: Block, option: Option, kind: str, path: str) -> bool:
        """False after saying that `path` and another file clash through a previous version.

        fileproc keeps each output file's previous version as FILE.1 beside
        it: a file configured there would be overwritten by the other's
        renewal (and its temporary files taken for that one's leftovers).
        """
        clash = ""
        backup = self.used_files.get(path + ".1")
        if kind in _OUTPUT_KINDS and backup is not None:
            clash = f"its previous version would be kept as {path}.1, which is used at {_where(backup[1], backup[2], block)}"
        current = self.used_files.get(path.removesuffix(".1")) if path.endswith(".1") else None
        if current is not None and current[0] in _OUTPUT_KINDS:
            where = _where(current[1], current[2], block)
            clash = f"the previous version of {path.removesuffix('.1')} (at {where}) is kept there"
        if clash:
            self.error(block, option.line, f"{kind} file {path}: {clash}: choose another name")
        return not clash

    def path(self, text: str) -> Path:
        """A Path for `text`, made once however many blocks use it."""
        path = self.paths.get(text)
        if path is None:
            path = self.paths[text] = Path(text)
        return path


def api_url_problem(url: str) -> str | None:
    """Why `url` cannot be an ACME directory URL for netproc, or None if it can.

    The executor splits the URL with urlsplit and connects to its host and
    port, so what it could not use is refused here, at its line.
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        return "not a URL (it holds a blank or a control character)"
    if not url.isascii():
        return "not ASCII (%-encode other characters; write an international host name in its xn-- form)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "bad host (an IPv6 address is written in brackets: https://[2001:db8::1]/dir)"
    if parts.scheme != "https":
        return "not an https URL"
    if "@" in parts.netloc:
        return "a user name or password does not belong in the URL"
    host = parts.hostname
    if not host:
        return "no host"
    if not parts.netloc.startswith("[") and not _is_host(host):
        return f"host {host}: not a host name or an IP address"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return f"port {parts.netloc.rpartition(':')[2]}: not a number from 1 to 65535"
    if "#" in url:
        return 'a fragment ("#...") does not belong in the URL'
    return None


def _is_host(host: str) -> bool:
    """Whether `host` (not in brackets) is a host name or an IPv4 address, by the rules domain names follow."""
    try:
        canonical_name(host.removesuffix("."))
    except BadName:
        return False
    return True


def _key_and_access(option: Option) -> tuple[Option, tuple[str, ...]]:
    """`domain key FILE [TYPE [SIZE]] [group NAME] [mode OCTAL]`: the key's part, and the words after it."""
    values = option.values
    end = 1
    if len(values) > 1 and values[1] in ("rsa", "ecdsa"):
        end = 3 if len(values) > 2 and values[2] not in ACCESS_WORDS else 2
    return Option(option.keyword, option.line, values[:end]), values[end:]


def _allowed(access: FileAccess) -> tuple[int, int] | None:
    """(gid, mode) a key file may have besides the private rule, from its declared access; None: private."""
    if access.group is None and access.mode is None:
        return None
    group = grp.getgrnam(access.group).gr_gid if access.group is not None else -1
    return group, access.mode if access.mode is not None else DEFAULT_MODES["domain key"]


def _challenge(option: Option) -> str:
    """The challenge type a `challenge ...` option names."""
    return option.keyword.split()[1]


def _keytype(option: Option) -> KeyType:
    return KeyType.ECDSA if len(option.values) > 1 and option.values[1] == "ecdsa" else KeyType.RSA


def _key_size(option: Option) -> int | None:
    """The size spelled after the key type, if it is one of KEY_SIZES; else None."""
    if len(option.values) < 3:
        return None
    keytype = _keytype(option)
    for size in KEY_SIZES[keytype]:
        if option.values[2] == key_spelling(keytype, size).split()[1]:
            return size
    return None


def _is_unprivileged_user(user: str) -> bool:
    """Whether a hook's `user` names a user a hook may run as: a POSIX name, never root, nor root by another name (uid 0)."""
    if _USER.fullmatch(user) is None:
        return False
    try:
        return pwd.getpwnam(user).pw_uid != 0
    except KeyError:
        return True  # not on this machine (yet): the run looks it up, and refuses uid 0 as well



def _where(file: str, line: int, block: Block) -> str:
    """Where something else is, for a message about `block`: "line N", or "file:N"."""
    return f"line {line}" if file == block.file else f"{file}:{line}"


def _first(item: tuple) -> object:
    return item[0]
