"""Before a chain starts: a domain due whose directories are not there is told so in one line each, and left alone.

A first run often meets a directory not made yet (the key, certificate or
challenge directory, or the account key's).  Every child would find out for
itself, after the account key was made and perhaps an order placed, and each
would say so in its own words.  The parent looks first: it only asks whether
each directory the domain's processes will write in exists (a `stat`, no
file is opened or read), and a domain missing one starts no process at all.
The children still check everything themselves: this is guidance, not a
defence.
"""

from __future__ import annotations

import os
from pathlib import Path

from acme_conf.config.plan import DomainJob


def missing_directories(job: DomainJob) -> list[str]:
    """What is missing for `job` to run, one line each (without the handle); [] when nothing is."""
    needed: dict[Path, str] = {job.authority.account_key.parent: "account key directory"}
    needed.setdefault(job.domain_key.parent, "key directory")
    for path in (job.certificate, job.chain, job.fullchain):
        if path is not None:
            needed.setdefault(path.parent, "certificate directory")
    if job.uses_challengedir:
        needed.setdefault(job.challengedir, "challengedir")
    return [
        f"{what} {directory} does not exist: create it, then run again"
        for directory, what in needed.items()
        if not os.path.isdir(directory)
    ]
