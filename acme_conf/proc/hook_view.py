"""What a dns-01 hook program must not see or change: hookproc's view of the file system (sandbox/mounts.py).

Computed by the parent from the plan (never from a child): every key of the
configuration (domain keys, account keys, previous account keys, MAC keys),
by its directory as named and the directory its links lead to, shown empty
(a key directly in a directory the program needs, such as /etc, is
refused); the certificate, challenge and state directories, links
resolved, shown read-only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from acme_conf.config.plan import Authority, DomainJob
from acme_conf.errors import ProcessFailure
from acme_conf.sandbox.mounts import SYSTEM_DIRECTORIES


def hook_view(
    program: str, jobs: Sequence[DomainJob], authorities: Sequence[Authority], state_dir: Path
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(hidden, read-only) for a hook `program`; ProcessFailure when the program itself would be hidden."""
    hidden = hidden_paths(jobs, authorities)
    covering = hiding(program, hidden)
    if covering:
        raise ProcessFailure(f"hook {program} is in {covering}, which holds a key: the hook cannot see it there")
    return hidden, read_only_paths(jobs, state_dir)


def hidden_paths(jobs: Sequence[DomainJob], authorities: Sequence[Authority] = ()) -> tuple[str, ...]:
    """The directories holding the keys of `jobs` and `authorities`, as named and with every link resolved.

    A key directly in a directory the program needs (/etc, /root...) is
    refused: covering the file alone would not cover a key created or
    replaced there later.
    """
    keys: list[Path] = []
    for authority in (*(job.authority for job in jobs), *authorities):
        keys.append(authority.account_key)
        if authority.previous_account_key is not None:
            keys.append(authority.previous_account_key)
        if authority.binding is not None:
            keys.append(authority.binding.mac_key_file)
    keys += [job.domain_key for job in jobs]
    hidden: list[str] = []
    for key in keys:
        for directory in (str(key.parent), os.path.dirname(os.path.realpath(key))):
            if directory in SYSTEM_DIRECTORIES:
                raise ProcessFailure(
                    f"{key} lies in {directory}, which a dns-01 hook must see: give the key a directory of its own"
                )
            hidden.append(directory)
    return tuple(dict.fromkeys(hidden))


def hiding(program: str, hidden: Sequence[str]) -> str:
    """The hidden path that covers `program` ("": none), so that the hook would not be found in its own view."""
    for named in (program, os.path.realpath(program)):
        for path in hidden:
            if named == path or named.startswith(path.rstrip("/") + "/"):
                return path
    return ""


def read_only_paths(jobs: Sequence[DomainJob], state_dir: Path) -> tuple[str, ...]:
    """The certificate directories, the challenge directories in use, and the kept state's directory."""
    directories = [str(job.cert_dir) for job in jobs]
    directories += [str(job.challengedir) for job in jobs if job.uses_challengedir]
    directories.append(str(state_dir))
    resolved = [os.path.realpath(path) for path in directories]  # a link is bound where it leads
    return tuple(path for path in dict.fromkeys(resolved) if path not in SYSTEM_DIRECTORIES)

