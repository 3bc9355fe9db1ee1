"""How long to wait between polls of a pending resource."""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone

FIRST_DELAY = 0.005  # a CA often finishes within milliseconds (pebble validates http-01 in 5-10 ms)
MAX_DELAY = 10.0  # backoff ceiling when the CA gives no Retry-After
MAX_RETRY_AFTER = 120.0  # a longer Retry-After is capped, not obeyed blindly
POLL_DEADLINE = 600.0  # give up on a resource that stays pending this long


def retry_after_seconds(header: str | None, now: datetime, cap: float = MAX_RETRY_AFTER) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP-date), at most `cap` (at most 7 days), or None."""
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        if len(text) > 7:  # any longer is over every cap anyway; int() of huge text is slow
            return cap
        return float(min(int(text), int(cap)))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, min((when - now).total_seconds(), cap))


# How long a CA that refused for its rate limits, or was unavailable, is left
# alone across runs (acme_conf/state.py keeps it): what its Retry-After asks,
# at most a week (Let's Encrypt's longest window), and an hour when a rate
# limit comes without one.  A 503 without Retry-After is a passing failure.
MAX_BACKOFF = 7 * 24 * 3600.0
RATE_LIMIT_BACKOFF = 3600.0


def backoff_seconds(problem_type: str, status: int, retry_after: str | None, now: datetime) -> float | None:
    """How long to send nothing more to the CA for this domain after a refusal; None: no back-off."""
    rate_limited = problem_type == "rateLimited" or status == 429
    if not rate_limited and status != 503:
        return None
    asked = retry_after_seconds(retry_after, now, MAX_BACKOFF)
    if asked is None:
        return RATE_LIMIT_BACKOFF if rate_limited else None
    return asked


def next_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff from FIRST_DELAY up to MAX_DELAY, never sooner than Retry-After."""
    backoff = min(FIRST_DELAY * (2**attempt), MAX_DELAY)
    if retry_after is None:
        return backoff
    return max(backoff, retry_after)
