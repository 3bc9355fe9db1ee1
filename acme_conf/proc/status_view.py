"""acme-client -l: what is known of each domain's certificate, gathered the sandboxed way and sent nowhere.

A certificate file is judged as a run judges it first: when the parent
recognises it (the SHA-256 and the domain key's note a check kept,
known_certificates.py), from that record; otherwise by a check exactly as
a run starts one, a jailed revokeproc with a keyproc beside it
(scheduler.judge), which then keeps the record for the next run.  The
parent never parses the certificate, and nothing here speaks to the
network: no netproc, dnsproc or acctproc is started.  status_report.py
prints what this gathers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from acme_conf.config.plan import DomainJob
from acme_conf.files import is_missing
from acme_conf.proc.known_certificates import file_digest, key_identity
from acme_conf.proc.renewal_outlook import Outlook, judged, missing, unjudged
from acme_conf.proc.scheduler import judge
from acme_conf.proc.settings import RunOptions, inspected_certificate
from acme_conf.state import DomainState, KnownCertificate, load_state


@dataclass(frozen=True)
class DomainStatus:
    """One domain's line of the status view."""

    job: DomainJob
    certificate: str  # the file judged: the certificate, else the full chain
    known: KnownCertificate | None  # what a jailed revokeproc found in it, when it vouches for the file as it is now
    outlook: Outlook
    kept: DomainState  # what runs keep for it: the ARI advice, a back-off, the last run's result


def gather(jobs: Sequence[DomainJob], options: RunOptions, state_dir: Path, now: datetime) -> list[DomainStatus]:
    """Each job's status; a certificate the parent does not recognise is judged by a check first."""
    kept = {job.handle: load_state(state_dir, job.handle) for job in jobs}
    unknown = [job for job in jobs if _present(job) and recognised(job, kept[job.handle]) is None]
    failures: dict[str, str] = {}
    if unknown:
        judged_now, failures = judge(unknown, options, state_dir)
        kept.update(judged_now)
    return [status_of(job, kept[job.handle], failures.get(job.handle, ""), now) for job in jobs]


def status_of(job: DomainJob, kept: DomainState, failure: str, now: datetime) -> DomainStatus:
    """The status of `job` from what is kept, a check (if there was one) having kept its record first."""
    inspected = inspected_certificate(job)
    path = str(inspected) if inspected is not None else ""
    if inspected is None or is_missing(inspected):
        return DomainStatus(job, path, None, missing(path or job.handle), kept)
    known = recognised(job, kept)
    if known is None:
        why = failure or "not judged: the check kept no record of it"
        return DomainStatus(job, path, None, unjudged(path, why), kept)
    return DomainStatus(job, path, known, judged(job, path, known, kept, now), kept)


def recognised(job: DomainJob, kept: DomainState) -> KnownCertificate | None:
    """The kept record, when it vouches for the certificate file as it is now (its hash) and the domain key (its note)."""
    known, inspected = kept.certificate, inspected_certificate(job)
    if known is None or inspected is None or known.key != key_identity(job):
        return None
    return known if file_digest(str(inspected)) == known.sha256 else None


def _present(job: DomainJob) -> bool:
    inspected = inspected_certificate(job)
    return inspected is not None and not is_missing(inspected)
