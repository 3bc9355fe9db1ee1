"""What the run was told: the options, and each child's settings drawn from the plan.

A child learns what its role needs of the configuration and nothing more
(spec.py defines the settings): which names, which key path, which
directory.  Also which processes a run shares and under what name.
"""

from __future__ import annotations

import grp
import logging
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acme_conf.config.plan import DEFAULT_MODES, MAC_ALGORITHMS, OUTPUT_FILES, AccountBinding, Authority, DnsHook, DomainJob, RunHook
from acme_conf.errors import ProcessFailure
from acme_conf.files import is_missing
from acme_conf.proc.hook_view import hook_view
from acme_conf.state import DomainState, state_directory
from acme_conf.proc.spec import (
    DEACTIVATE,
    ROLES,
    AccountSettings,
    CertSettings,
    ChngSettings,
    DnsSettings,
    FileSettings,
    HookSettings,
    HttpSettings,
    KeySettings,
    NetSettings,
    RevokeSettings,
    TlsSettings,
    Settings,
)

log = logging.getLogger("acme_conf")

# A domain's chain: its own netproc, revokeproc, keyproc, certproc and
# fileproc.  The other roles are shared in a run: one dnsproc and one
# acctproc per authority, one chngproc per challenge directory, each serving
# the netproc of every domain it concerns over a channel of its own.  A
# shared process holds nothing one of its domains could take from another:
# dnsproc holds nothing, the account key is the authority's anyway, and the
# challenge directory is the same for all of them.  Sharing saves three
# fresh interpreters per domain.
SHARED_ROLES = ("dnsproc", "acctproc", "chngproc")
# The roles a chngproc's place may hold: the built-in responders' httpproc and tlsproc, a dns-01 hook's hookproc.
SERVICE_ROLES = (*SHARED_ROLES, "httpproc", "tlsproc", "hookproc")
LISTENING = (HttpSettings, TlsSettings)  # the settings of a role given a socket the parent bound
AFTER_RUN_ROLES = ("runhookproc",)  # started once the chains are over (run_hook.py)
CHAIN_ROLES = tuple(role for role in ROLES if role not in (*SERVICE_ROLES, *AFTER_RUN_ROLES))


@dataclass(frozen=True)
class RunOptions:
    force: bool = False
    revoke: bool = False
    revoke_reason: int = -1  # -R: an RFC 5280 reason code for the revocation (-1: none)
    revoke_with_domain_key: bool = False  # -K: keyproc signs the revocation with the domain key, no account
    account_action: str = ""  # -D "deactivate", -k "rollover": the only thing the run does, in its one chain
    verbosity: int = 0
    max_chains: int = 1
    strict_sandbox: bool = False
    # The whole configuration, not only the domains of this run: what a dns-01 hook may not see (hook_view.py).
    every_domain: tuple[DomainJob, ...] = ()
    every_authority: tuple[Authority, ...] = ()
    run_hooks: tuple[RunHook, ...] = ()  # `hook changed`, `hook failed`: run after the chains (run_hook.py)

    @property
    def installs(self) -> bool:
        """A run that may order and install certificates: not -r, -K, -D, -k or -P."""
        return not (self.revoke or self.revoke_with_domain_key or self.account_action)


@dataclass(frozen=True)
class SharedPlan:
    """Processes the run shares among domains, before they start."""

    name: str  # see shared_name
    roles: tuple[str, ...]  # the shared roles under that name
    jobs: tuple[DomainJob, ...]  # the domains it serves


def shared_roles(options: RunOptions) -> tuple[str, ...]:
    """The shared roles a run needs: no chngproc where nothing is ordered, no acctproc where no account is used.

    A role not started holds nothing and creates nothing: a -K run, made
    because the account key is lost, creates no new one.
    """
    if options.revoke_with_domain_key:
        return ("dnsproc",)
    if not options.installs:
        return ("dnsproc", "acctproc")
    return SHARED_ROLES


def job_roles(job: DomainJob, roles_used: Sequence[str]) -> tuple[str, ...]:
    """The shared roles serving `job`: a domain validated with dns-persist-01 publishes nothing, so has no chngproc."""
    return tuple(role for role in roles_used if not (role == "chngproc" and job.dns_persist))


def shared_plans(jobs: Sequence[DomainJob], roles_used: Sequence[str] = SHARED_ROLES) -> list[SharedPlan]:
    """The processes a run shares (`roles_used` of them), in the order they start, with the domains each serves."""
    roles: dict[str, dict[str, None]] = {}  # name -> its roles, in order
    served: dict[str, dict[str, DomainJob]] = {}  # name -> handle -> job, in the jobs' order
    for job in jobs:
        for role in job_roles(job, roles_used):
            name = shared_name(role, job)
            roles.setdefault(name, {})[role] = None
            served.setdefault(name, {})[job.handle] = job
    return [SharedPlan(name, tuple(roles[name]), tuple(served[name].values())) for name in roles]


def service_role(role: str, settings: Settings) -> str:
    """The role started in a shared process's place: a responder or a hookproc in chngproc's."""
    if isinstance(settings, HttpSettings):
        return "httpproc"
    if isinstance(settings, TlsSettings):
        return "tlsproc"
    if isinstance(settings, HookSettings):
        return "hookproc"
    return role


def key_settings(job: DomainJob) -> KeySettings:
    """keyproc's settings in a chain that issues; a check and a -K run start from these."""
    settings = KeySettings(str(job.domain_key), job.keytype.value, job.names, size=job.key_size or 0)
    access = job.access("domain key")
    if access.group is None and access.mode is None:
        return settings
    return settings._replace(group=group_id(access.group), mode=access.mode or DEFAULT_MODES["domain key"])


def settings_for(role: str, job: DomainJob, options: RunOptions, kept: DomainState = DomainState()) -> Settings:
    """What one child needs to know of the job (and of what earlier runs `kept`), and nothing more."""
    authority = job.authority
    if role == "netproc":
        return NetSettings(
            api_url=authority.api_url,
            ca_file=str(authority.ca_file or ""),
            insecure=authority.insecure,
            contact=authority.contact or "",
            names=job.names,
            profile=job.profile or "",
            revoke=options.revoke,
            eab=authority.binding is not None,
            revoke_reason=options.revoke_reason,
            revoke_with_domain_key=options.revoke_with_domain_key,
            rollover=authority.previous_account_key is not None,
            alternates=job.preferred_chain is not None,
            dns_persist=job.dns_persist,
            dns_hook=job.dns_hook is not None,
            tls_alpn=job.tls_alpn is not None,
            challenge_check=job.challenge_check,
            renewal_information=job.renewal_information,
            kept_window=kept_window(kept),
            account_action=options.account_action,
        )
    if role == "keyproc" and options.revoke_with_domain_key:
        return key_settings(job)._replace(
            revoke_at=authority.api_url, certificate=str(inspected_certificate(job)), revoke_reason=options.revoke_reason
        )
    if role == "keyproc":  # an account action only tells the key, if there is one: it creates nothing
        return key_settings(job)._replace(public_only=bool(options.account_action))
    if role == "certproc":
        return CertSettings(job.names, job.preferred_chain or "")
    if role == "fileproc":
        return FileSettings(
            cert_dir=str(job.cert_dir),
            certificate=_name_in(job.cert_dir, job.certificate),
            chain=_name_in(job.cert_dir, job.chain),
            fullchain=_name_in(job.cert_dir, job.fullchain),
            revoke=options.revoke,
            combined=_name_in(job.cert_dir, job.combined),
            access=output_access(job),
        )
    if role == "revokeproc":
        return revoke_settings(job, options, alone=False, kept=kept)
    raise ProcessFailure(f"unknown role {role}")


def key_goes_to_fileproc(job: DomainJob, options: RunOptions) -> bool:
    """Whether keyproc tells fileproc the private key: only for a combined file, in a run that may install one."""
    return (
        job.combined is not None
        and not options.revoke
        and not options.revoke_with_domain_key
        and not options.account_action
    )


def output_access(job: DomainJob) -> tuple[tuple[str, int, int, int], ...]:
    """(file name, uid, gid, mode) of each output file, the names looked up now; -1: the directory's owner or group."""
    access = []
    for output, path in zip(OUTPUT_FILES, (job.chain, job.certificate, job.fullchain, job.combined)):
        if path is None:
            continue
        declared = job.access(output)
        mode = DEFAULT_MODES[output] if declared.mode is None else declared.mode
        access.append((path.name, user_id(declared.owner), group_id(declared.group), mode))
    return tuple(access)


def user_id(name: str | None) -> int:
    if name is None:
        return -1
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        raise ProcessFailure(f"owner {name}: no such user (any more)") from None


def group_id(name: str | None) -> int:
    if name is None:
        return -1
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ProcessFailure(f"group {name}: no such group (any more)") from None


def revoke_settings(job: DomainJob, options: RunOptions, *, alone: bool, kept: DomainState = DomainState()) -> RevokeSettings:
    """revokeproc's: in a chain, or `alone`, checking before any chain starts."""
    inspected = inspected_certificate(job)
    if inspected is None:
        raise ProcessFailure("neither a certificate nor a full chain is configured")
    settings = RevokeSettings(str(inspected), job.names, options.force, options.revoke, alone, job.renewal_information)
    renewal = kept.renewal
    if renewal is None or not job.renewal_information:
        return settings
    return settings._replace(
        kept_certificate=renewal.certificate,
        kept_moment=renewal.moment.isoformat() if renewal.moment is not None else "",
        next_check=renewal.next_check.isoformat(),
    )


def kept_window(kept: DomainState) -> tuple[str, ...]:
    """netproc's view of the kept renewal advice: (certificate id, start, end, moment), or () when none."""
    renewal = kept.renewal
    if renewal is None or renewal.window is None or renewal.moment is None:
        return ()
    start, end = renewal.window
    return (renewal.certificate, start.isoformat(), end.isoformat(), renewal.moment.isoformat())


def certificate_missing(job: DomainJob, options: RunOptions) -> bool:
    """No certificate file yet, as a revokeproc would find it: the chain then starts none (netproc is told).

    Its verdict would be "no certificate yet", learnt from the absence
    alone, which the parent sees without reading anything (files.is_missing
    walks the path as revokeproc's read does, under the domain's lock the
    caller holds). A -r, -K, -D, -k or -P run keeps its revokeproc.
    """
    if not options.installs:
        return False
    inspected = inspected_certificate(job)
    if inspected is None or not is_missing(inspected):
        return False
    log.debug("%s: %s: no certificate yet; no revokeproc", job.handle, inspected)
    return True


def inspected_certificate(job: DomainJob) -> Path | None:
    """The file revokeproc judges: the certificate, else the full chain (its first certificate is the leaf)."""
    return job.certificate or job.fullchain


def shared_name(role: str, job: DomainJob) -> str:
    """Which of the run's shared processes serve `job` in `role`; the name starts their messages."""
    if role in ("dnsproc", "acctproc"):
        return f"authority {job.authority.name}"
    if role == "chngproc" and job.responder is not None:  # served by an httpproc
        return f"responder {job.responder[0]} port {job.responder[1]}"
    if role == "chngproc" and job.dns_hook is not None:  # served by a hookproc: one per hook and its options
        return f"hook {job.dns_hook.program}" + hook_options(job.dns_hook)
    if role == "chngproc" and job.tls_alpn is not None:  # served by a tlsproc
        return f"tls-alpn-01 responder {job.tls_alpn[0]} port {job.tls_alpn[1]}"
    if role == "chngproc":
        return f"challengedir {job.challengedir}"
    raise ProcessFailure(f"{role} is not shared")


def shared_settings(role: str, jobs: Sequence[DomainJob], options: RunOptions) -> Settings:
    """What a shared process serving `jobs` (one channel each, in this order) needs to know.

    What is per domain (the names acctproc may order, the challenge files
    chngproc may keep) is listed in the order of the channels.
    """
    job = jobs[0]  # every job shares the authority, or the challenge directory
    if role == "dnsproc":
        return DnsSettings()
    if role == "acctproc":
        authority = job.authority
        return AccountSettings(
            key_path=str(authority.account_key),
            keytype=authority.account_keytype.value,
            api_url=authority.api_url,
            contact=authority.contact or "",
            revoke=options.revoke,
            names=tuple(each.names for each in jobs),
            profiles=tuple(each.profile or "" for each in jobs),
            key_size=authority.account_key_size or 0,
            revoke_reason=options.revoke_reason,
            previous_key_path=str(authority.previous_account_key or ""),
            replaces=tuple(each.renewal_information for each in jobs),
            deactivate=options.account_action == DEACTIVATE,
            **_binding_settings(authority.binding),
        )
    if role == "chngproc" and job.dns_hook is not None:
        hook = job.dns_hook
        hidden, read_only = hook_view(
            str(hook.program), (*jobs, *options.every_domain), options.every_authority, state_directory()
        )
        return HookSettings(
            str(hook.program),
            hook.user or "",
            hook.timeout,
            hook.resolver or (),
            hook.wait,
            tuple(each.names for each in jobs),
            authority_indices(jobs),
            hidden,
            read_only,
        )
    if role == "chngproc" and job.responder is not None:
        return HttpSettings(job.responder[0], job.responder[1], tuple(len(each.names) for each in jobs), authority_indices(jobs))
    if role == "chngproc" and job.tls_alpn is not None:
        return TlsSettings(
            job.tls_alpn[0],
            job.tls_alpn[1],
            tuple(each.names for each in jobs),  # from the plan: the only identifiers a domain's netproc may publish for
            authority_indices(jobs),
        )
    if role == "chngproc":
        return ChngSettings(str(job.challengedir), tuple(len(each.names) for each in jobs), authority_indices(jobs))
    raise ProcessFailure(f"unknown role {role}")


def authority_indices(jobs: Sequence[DomainJob]) -> tuple[int, ...]:
    """For each job, which of its publisher's acctproc links tells its account: the authorities in first-named order."""
    authorities = list(dict.fromkeys(each.authority.name for each in jobs))  # the order of shared_links
    return tuple(authorities.index(each.authority.name) for each in jobs)


def hook_options(hook: DnsHook) -> str:
    """A hook's options that differ from the defaults, as written in the configuration ("" for none)."""
    words = [f" user {hook.user}"] if hook.user else []
    if hook.timeout != DnsHook.timeout:
        words.append(f" timeout {hook.timeout}")
    if hook.resolver is not None:
        words.append(f" resolver {hook.resolver[0]} port {hook.resolver[1]}")
    if hook.wait != DnsHook.wait:
        words.append(f" wait {hook.wait}")
    return "".join(words)


def _binding_settings(binding: AccountBinding | None) -> dict[str, str]:
    """acctproc's settings for an external account binding (none: the defaults)."""
    if binding is None:
        return {}
    return {
        "eab_kid": binding.kid,
        "eab_key_path": str(binding.mac_key_file),
        "eab_algorithm": MAC_ALGORITHMS[binding.algorithm],
    }


def _name_in(directory: Path, path: Path | None) -> str:
    """The file name of `path`, which must lie directly in `directory` (fileproc writes nowhere else)."""
    if path is None:
        return ""
    if path.parent != directory:
        raise ProcessFailure(f"{path} is not in the certificate directory {directory}")
    return path.name
