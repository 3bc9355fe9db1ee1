"""When a domain's certificate is due for renewal, and why, from what the parent knows: the status view's
column and the reason a run's summary line gives.

The values judged come from a jailed revokeproc (state.KnownCertificate,
bound to the file's SHA-256): the parent never parses a certificate.  The
rules are acme/renewal.py's, the ones revokeproc applies; this only names
which of them decides (`rule`), and from when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from acme_conf.acme.identifiers import configured_names
from acme_conf.acme.renewal import MAX_LIFETIME, lifetime_renewal_moment, renewal_decision
from acme_conf.config.plan import DomainJob
from acme_conf.state import DomainState, KnownCertificate

# What decides, in the order renewal_decision applies the rules.
MISSING = "missing"  # no certificate file yet
UNJUDGED = "unjudged"  # a file that could not be judged (unreadable, not a certificate, the check failed)
KEY_MISMATCH = "key-mismatch"  # not for the domain key
NAMES_CHANGED = "names-changed"  # its names differ from the configured ones
TOO_LONG = "too-long"  # valid for longer than acme/renewal.MAX_LIFETIME
EXPIRED = "expired"
ARI = "ari"  # the moment drawn in the CA's renewal window (RFC 9773) comes first
LIFETIME = "lifetime"  # a third of the lifetime left (a half for ten days or less)
RULES = (MISSING, UNJUDGED, KEY_MISMATCH, NAMES_CHANGED, TOO_LONG, EXPIRED, ARI, LIFETIME)


@dataclass(frozen=True)
class Outlook:
    """Whether renewal is due, from when, and which rule says so."""

    due: bool
    due_at: datetime | None  # from when renewal is due (in the past when due); None: at once, no moment known
    rule: str  # one of RULES
    reason: str  # one line, as revokeproc would say it


def missing(path: str) -> Outlook:
    return Outlook(True, None, MISSING, f"{path}: no certificate yet")


def unjudged(path: str, why: str) -> Outlook:
    return Outlook(True, None, UNJUDGED, f"{path}: {why}")


def judged(job: DomainJob, path: str, known: KnownCertificate, kept: DomainState, now: datetime) -> Outlook:
    """The outlook for the certificate `known` describes, with the ARI moment kept for it, if any."""
    moment = ari_moment(job, kept, known)
    configured = configured_names(job.names)
    decision = renewal_decision(
        known.not_before, known.not_after, now, frozenset(known.names), configured,
        key_matches=known.key_matches, ari_moment=moment,
    )
    reason = f"{path}: {decision.reason}"
    if not known.key_matches:
        return Outlook(True, None, KEY_MISMATCH, reason)
    if frozenset(known.names) != configured:
        return Outlook(True, None, NAMES_CHANGED, reason)
    if known.not_after - known.not_before > MAX_LIFETIME:
        return Outlook(True, None, TOO_LONG, reason)
    if known.not_after <= now:
        return Outlook(True, known.not_after, EXPIRED, reason)
    by_lifetime = lifetime_renewal_moment(known.not_before, known.not_after)
    if moment is not None and moment < by_lifetime:
        return Outlook(decision.due, moment, ARI, reason)
    return Outlook(decision.due, by_lifetime, LIFETIME, reason)


def ari_moment(job: DomainJob, kept: DomainState, known: KnownCertificate) -> datetime | None:
    """The moment drawn in the CA's renewal window, if it was drawn for this very certificate."""
    renewal = kept.renewal
    if not job.renewal_information or renewal is None or not known.certificate_id:
        return None
    return renewal.moment if renewal.certificate == known.certificate_id else None
