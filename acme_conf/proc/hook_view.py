"""What a dns-01 hook program must not see or change: hookproc's view of the file system (sandbox/mounts.py).

Computed by the parent from the plan (never from a child): every key of the
run (domain keys, account keys, previous account keys, MAC keys) by its
directory, shown empty, or by the file alone where the directory is one the
program needs (/etc, /root...); the certificate, challenge and state
directories shown read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from acme_conf.config.plan import DomainJob
from acme_conf.sandbox.mounts import SYSTEM_DIRECTORIES


def hidden_paths(jobs: Sequence[DomainJob]) -> tuple[str, ...]:
    """The directories (or, in a system directory, the files) holding the run's keys."""
    keys: list[Path] = []
    for job in jobs:
        authority = job.authority
        keys += [job.domain_key, authority.account_key]
        if authority.previous_account_key is not None:
            keys.append(authority.previous_account_key)
        if authority.binding is not None:
            keys.append(authority.binding.mac_key_file)
    hidden = [str(key if str(key.parent) in SYSTEM_DIRECTORIES else key.parent) for key in keys]
    return tuple(dict.fromkeys(hidden))


def hiding(program: str, hidden: Sequence[str]) -> str:
    """The hidden path that covers `program` ("": none), so that the hook would not be found in its own view."""
    for path in hidden:
        if program == path or program.startswith(path.rstrip("/") + "/"):
            return path
    return ""


def read_only_paths(jobs: Sequence[DomainJob], state_dir: Path) -> tuple[str, ...]:
    """The certificate directories, the challenge directories in use, and the kept state's directory."""
    directories = [str(job.cert_dir) for job in jobs]
    directories += [str(job.challengedir) for job in jobs if uses_challengedir(job)]
    directories.append(str(state_dir))
    return tuple(path for path in dict.fromkeys(directories) if path not in SYSTEM_DIRECTORIES)


def uses_challengedir(job: DomainJob) -> bool:
    return job.responder is None and not job.dns_persist and job.dns_hook is None
