"""When a certificate is due for renewal."""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

from datetime import datetime, timedelta
from typing import NamedTuple

from acme_conf.acme.text import printable

SHORT_LIFETIME = timedelta(days=10)
LAST_MOMENT = timedelta(days=3)


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
) -> RenewalDecision:
    """Due when less than a third of the lifetime remains (a half for lifetimes of
    ten days or less), always within three days of expiry, and whenever the
    certificate's names differ from the configured ones."""
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
    remaining = not_after - now
    share = 2 if lifetime <= SHORT_LIFETIME else 3
    threshold = max(lifetime / share, LAST_MOMENT)
    expires = not_after.strftime("%Y-%m-%d %H:%M:%S UTC")
    if remaining <= timedelta(0):
        return RenewalDecision(True, f"certificate expired {expires}")
    if remaining < threshold:
        return RenewalDecision(True, f"certificate expires {expires}: renewal is due")
    renew_at = (not_after - threshold).strftime("%Y-%m-%d %H:%M:%S UTC")
    return RenewalDecision(False, f"certificate valid until {expires}; renewal due from {renew_at}")
