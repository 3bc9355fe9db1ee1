"""The run with nothing to do: a certificate file the parent recognises is judged without a process.

A check (a revokeproc and a keyproc, two fresh interpreters) costs some
30 ms of CPU per domain; most runs from cron make one for every domain and
find nothing due.  So the check's revokeproc also reports what it found in
the file: its SHA-256, lifetime, names, whether it is for the domain key,
and its ARI identifier; the parent keeps that (state.KnownCertificate),
with its own note of the domain key file the judgement was made against.
A later run hashes the file (hashing is not parsing: the parent still
never reads a certificate's contents as anything but bytes), and only
while the hash and the key note match does it apply the renewal rules to
the kept values itself.  A file it does not recognise, or any decision
other than "current", goes to a check as before, and a domain that is due
is judged once more by its chain's own revokeproc under the domain's lock.

Why this is as safe as the check it replaces: every kept value was
produced by a jailed revokeproc from exactly the bytes whose hash is kept,
and the parent keeps only typed values it checked (state._known).  A
revokeproc subverted by a crafted file could have lied about that file on
every run anyway; the record lets it lie no more and for no longer than
the file stays unchanged, and the parent still applies the lifetime rule
(with the 398-day ceiling) to the kept dates on every run.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime

from acme_conf.acme.identifiers import configured_names
from acme_conf.acme.renewal import renewal_decision, time_to_ask
from acme_conf.config.plan import DomainJob
from acme_conf.files import MAX_CERTIFICATE_FILE, read_regular_file
from acme_conf.proc.settings import inspected_certificate
from acme_conf.state import DomainState, KnownCertificate


def key_identity(job: DomainJob) -> str:
    """The parent's note of the domain key a judgement is made against: the configured path, type and
    size, and the file's metadata (device, inode, size, modification and change times; never its
    contents).  A key replaced, rewritten, restored from a backup or configured otherwise reads differently."""
    configured = f"{job.domain_key}\0{job.keytype.value}\0{job.key_size or 0}"
    try:
        found = os.stat(job.domain_key)
    except OSError as error:
        return f"{configured}\0{error.errno}"
    return f"{configured}\0{found.st_dev}:{found.st_ino}:{found.st_size}:{found.st_mtime_ns}:{found.st_ctime_ns}"


def file_digest(path: str) -> str:
    """The SHA-256 (hex) of the file's bytes as revokeproc would read them; "" when it cannot be read that way."""
    try:
        contents = read_regular_file(path, MAX_CERTIFICATE_FILE)
    except OSError:  # PathRefused among them
        return ""
    if len(contents) > MAX_CERTIFICATE_FILE:  # read one byte over: too large to be one
        return ""
    return hashlib.sha256(contents).hexdigest()


def known_current(job: DomainJob, kept: DomainState, now: datetime) -> str | None:
    """Why the certificate needs nothing, when the kept record vouches for the file as it is now; else None
    (a check decides, as before)."""
    known, inspected = kept.certificate, inspected_certificate(job)
    if known is None or inspected is None or known.key != key_identity(job):
        return None
    if file_digest(str(inspected)) != known.sha256:
        return None
    decision = renewal_decision(
        known.not_before,
        known.not_after,
        now,
        frozenset(known.names),
        configured_names(job.names),
        key_matches=known.key_matches,
        ari_moment=_kept_moment(job, kept, known),
    )
    if decision.due or _to_ask(job, kept, known, now):
        return None
    return f"{inspected}: {decision.reason}"


def _kept_moment(job: DomainJob, kept: DomainState, known: KnownCertificate) -> datetime | None:
    """The moment drawn in the CA's renewal window, if it was drawn for this very certificate."""
    renewal = kept.renewal
    if not job.renewal_information or renewal is None or not known.certificate_id:
        return None
    return renewal.moment if renewal.certificate == known.certificate_id else None


def _to_ask(job: DomainJob, kept: DomainState, known: KnownCertificate, now: datetime) -> bool:
    """Whether the CA's renewal information is to be asked about it now (then a chain does)."""
    if not job.renewal_information or not known.certificate_id:
        return False
    renewal = kept.renewal
    if renewal is None:
        return True
    return time_to_ask(renewal.certificate, renewal.next_check, known.certificate_id, now)
