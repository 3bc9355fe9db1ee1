"""An output file the configuration now wants otherwise: installed again at once, not at the next renewal.

A current certificate starts no chain, so a `mode`, `owner` or `group` added
to an output file or the domain key, or a new output file (a combined file
added to a domain block), would otherwise wait for the next renewal, weeks
away, with the file readable as before.  The parent compares what the
configuration declares with what `lstat` says of each file (no file is
opened or read), and a domain that differs gets a chain as with -F: fileproc
writes every output file again the safe way (a temporary file made with the
declared owner, group and mode, then renamed), and keyproc gives the key
its declared group and mode.

Only what the configuration declares is compared, never the defaults (the
owner of a file installed by another client stays its business), and only
regular files: what is not one is left to the chain's own rules, so that a
difference a chain cannot mend never has one issued on every run.  A
missing domain key is left to the check, as before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from acme_conf.config.plan import OUTPUT_FILES, DomainJob, FileAccess
from acme_conf.errors import ProcessFailure
from acme_conf.proc.settings import group_id, user_id


def access_drift(job: DomainJob) -> str | None:
    """Why `job`'s files are not as configured (one line), or None when they are (or cannot be told)."""
    outputs = zip(OUTPUT_FILES, (job.chain, job.certificate, job.fullchain, job.combined))
    for output, path in [*outputs, ("domain key", job.domain_key)]:
        if path is None:
            continue
        why = _differs(path, job.access(output), missing_matters=output != "domain key")
        if why is not None:
            return f"{path}: {why}: installed again"
    return None


def _differs(path: Path, declared: FileAccess, missing_matters: bool) -> str | None:
    """How the file at `path` is not as `declared`; a missing domain key is the check's to judge (keyproc's)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing" if missing_matters else None
    except OSError:
        return None  # the chain's processes say why, if it matters
    if not stat.S_ISREG(info.st_mode):
        return None
    mode = stat.S_IMODE(info.st_mode)
    if declared.mode is not None and mode != declared.mode:
        return f"mode {mode:04o}, configured {declared.mode:04o}"
    if declared.owner is not None and info.st_uid != _id(user_id, declared.owner, info.st_uid):
        return f"owner uid {info.st_uid}, configured {declared.owner}"
    if declared.group is not None and info.st_gid != _id(group_id, declared.group, info.st_gid):
        return f"group gid {info.st_gid}, configured {declared.group}"
    return None


def _id(look_up: Callable[[str], int], name: str, otherwise: int) -> int:
    """The id of user or group `name` as the chain would look it up; `otherwise` when it is gone (the chain says so)."""
    try:
        return look_up(name)
    except ProcessFailure:
        return otherwise
