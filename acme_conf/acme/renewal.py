"""When a certificate is due for renewal."""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

from datetime import datetime, timedelta
from typing import NamedTuple

from acme_conf.acme.text import printable

SHORT_LIFETIME = timedelta(days=10)
LAST_MOMENT = timedelta(days=3)
# The CA/Browser Forum's ceiling for a publicly trusted TLS certificate; a
# longer one (a 100-year certificate from a CA taken over) would put the next
# renewal decades away.  certproc refuses one; a file holding one is renewed.
MAX_LIFETIME = timedelta(days=398)


class RenewalDecision(NamedTuple):
    """Whether to renew, and why (one line for -v)."""

    due: bool
    reason: str


def renewal_decision(
    not_before: datetime,
    not_after: datetime,
    now: datetime,
    certificate_names: frozenset[str],
    configured_names: frozenset[str],
    *,
    key_matches: bool,
    ari_moment: datetime | None = None,
) -> RenewalDecision:
    """Due whenever the certificate is not for the domain key, its names differ
    from the configured ones, or its lifetime is longer than MAX_LIFETIME;
    then from `ari_moment` (the moment drawn in the CA's suggested renewal
    window, RFC 9773), if there is one; and in any case when less than a
    third of the lifetime remains (a half for lifetimes of ten days or
    less), always within three days of expiry."""
    if not key_matches:
        return RenewalDecision(True, "certificate is not for the domain key")
    if certificate_names != configured_names:
        missing = sorted(configured_names - certificate_names)
        extra = sorted(printable(name, 80) for name in certificate_names - configured_names)  # from the file
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"not configured {', '.join(extra)}" if extra else "",
            )
            if part
        )
        return RenewalDecision(True, f"certificate names differ from the configuration ({detail})")
    lifetime = not_after - not_before
    if lifetime > MAX_LIFETIME:
        return RenewalDecision(True, f"certificate is valid for {lifetime.days} days, longer than {MAX_LIFETIME.days}")
    if ari_moment is not None and ari_moment <= now:
        return RenewalDecision(True, f"the CA's renewal window (ARI) has opened: renewal due since {_utc(ari_moment)}")
    renew_at = lifetime_renewal_moment(not_before, not_after)
    expires = _utc(not_after)
    if not_after <= now:
        return RenewalDecision(True, f"certificate expired {expires}")
    if renew_at < now:
        return RenewalDecision(True, f"certificate expires {expires}: renewal is due")
    if ari_moment is not None:
        due = f"{_utc(min(ari_moment, renew_at))} (the CA's window, ARI: {_utc(ari_moment)}; lifetime: {_utc(renew_at)})"
        return RenewalDecision(False, f"certificate valid until {expires}; renewal due from {due}")
    return RenewalDecision(False, f"certificate valid until {expires}; renewal due from {_utc(renew_at)}")


def lifetime_renewal_moment(not_before: datetime, not_after: datetime) -> datetime:
    """When the lifetime rule makes a certificate due: a third of its lifetime before it ends (a half for
    lifetimes of ten days or less), and never later than three days before."""
    lifetime = not_after - not_before
    share = 2 if lifetime <= SHORT_LIFETIME else 3
    return not_after - max(lifetime / share, LAST_MOMENT)


def time_to_ask(kept_for: str, next_check: datetime | None, certificate_id: str, now: datetime) -> bool:
    """Whether to ask the CA's renewal information about `certificate_id` now: nothing is kept for
    it (what was kept for "" is for the certificate the last run installed, whatever it is),
    or the time to ask again has come."""
    if kept_for not in ("", certificate_id) or next_check is None:
        return True
    return next_check <= now


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
