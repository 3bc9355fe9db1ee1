"""How long to wait between polls of a pending resource."""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone

FIRST_DELAY = 0.02  # the CA often finishes within milliseconds
MAX_DELAY = 10.0  # backoff ceiling when the CA gives no Retry-After
MAX_RETRY_AFTER = 120.0  # a longer Retry-After is capped, not obeyed blindly
POLL_DEADLINE = 600.0  # give up on a resource that stays pending this long


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP-date), or None."""
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        if len(text) > 6:  # any longer is over the cap anyway; int() of huge text is slow
            return MAX_RETRY_AFTER
        return float(min(int(text), int(MAX_RETRY_AFTER)))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER))


def next_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff from FIRST_DELAY up to MAX_DELAY, never sooner than Retry-After."""
    backoff = min(FIRST_DELAY * (2**attempt), MAX_DELAY)
    if retry_after is None:
        return backoff
    return max(backoff, retry_after)
