"""ACME Renewal Information (ARI, RFC 9773): the CA's suggested renewal window for a certificate.

The certificate is named by its ARI identifier: the key identifier of its
Authority Key Identifier and its serial number (the DER integer's content
octets), each base64url without padding, joined by a dot.  revokeproc, which
parses the certificate, computes it; netproc fetches the window at the
directory's `renewalInfo` URL followed by "/" and the identifier (a plain
GET: nothing is signed); one moment is drawn at random inside the window and
kept across runs (acme_conf/state.py) for as long as the window stays the
same.

Everything from the CA is checked here: the window's two moments in RFC
3339 form (start before end, neither absurdly far), the explanation an
https URL.  Pure: no I/O.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

import random
import re
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from acme_conf.acme.b64 import b64url
from acme_conf.acme.resources import ProtocolError, is_url, parse_json
from acme_conf.acme.text import printable

# Two base64url runs joined by a dot: a key identifier is 20 to 64 bytes, a
# serial number at most 20 (RFC 5280), so 200 characters leave room.
_CERTIFICATE_ID = re.compile(r"[A-Za-z0-9_-]{1,150}\.[A-Za-z0-9_-]{1,48}")
# RFC 3339 section 5.6: date "T" time, fraction, and "Z" or an offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)

# How soon and how late a run asks again (RFC 9773 section 4.3.3 has the
# client clamp the response's Retry-After to a sensible range).
DEFAULT_CHECK_INTERVAL = timedelta(hours=6)  # no Retry-After, or an answer that could not be used
MIN_CHECK_INTERVAL = timedelta(minutes=1)
MAX_CHECK_INTERVAL = timedelta(days=1)
NOT_OFFERED_CHECK_INTERVAL = timedelta(days=7)  # a CA without ARI: look at its directory again in a week
# A window ending this long after a certificate's expiry, or starting this
# long before now, is no advice a certificate can follow: refused.
MAX_WINDOW_SPAN = timedelta(days=400)


class Window(NamedTuple):
    """The suggested window: renew at a moment from start up to end."""

    start: datetime
    end: datetime


class RenewalInfo(NamedTuple):
    """A renewalInfo response: the window, and the CA's explanation (an https URL, or None)."""

    window: Window
    explanation: str | None


def certificate_id(authority_key_id: bytes, serial: int) -> str:
    """The ARI identifier of a certificate (RFC 9773 section 4.1); "" when it has no key identifier,
    or one too long for the identifier's syntax (no CA's): then the lifetime rule alone decides."""
    if not authority_key_id or serial < 0:
        return ""
    named = f"{b64url(authority_key_id)}.{b64url(serial.to_bytes(serial.bit_length() // 8 + 1, 'big'))}"
    return named if is_certificate_id(named) else ""


def is_certificate_id(value: object) -> bool:
    return isinstance(value, str) and _CERTIFICATE_ID.fullmatch(value) is not None


def renewal_info_url(base: str, certificate: str) -> str:
    """Where the CA answers for `certificate`: the directory's `renewalInfo` URL, "/", the identifier."""
    return f"{base.rstrip('/')}/{certificate}"


def parse_moment(value: object, what: str) -> datetime:
    """An RFC 3339 moment, in UTC; ProtocolError naming `what` for anything else."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) and len(value) <= 40 else None
    if match is None:
        raise ProtocolError(f"{what} is not an RFC 3339 moment: {printable(value, 60)}")
    day, time, fraction, offset = match.groups()
    text = f"{day}T{time}.{(fraction or '0')[:6]:0<6}{'+00:00' if offset in ('Z', 'z') else offset}"
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ProtocolError(f"{what} is not a moment: {printable(value, 60)}") from None


def parse_renewal_info(body: bytes, now: datetime) -> RenewalInfo:
    """A renewalInfo response, checked (RFC 9773 section 4.2)."""
    obj = parse_json(body, "renewal information")
    window = obj.get("suggestedWindow")
    if not isinstance(window, dict):
        raise ProtocolError("renewal information: `suggestedWindow` is missing")
    start = parse_moment(window.get("start"), "renewal information: the window's start")
    end = parse_moment(window.get("end"), "renewal information: the window's end")
    if end <= start:
        raise ProtocolError("renewal information: the window ends before it starts")
    if end > now + MAX_WINDOW_SPAN or start < now - MAX_WINDOW_SPAN:
        raise ProtocolError("renewal information: the window is more than 400 days away")
    explanation = obj.get("explanationURL")
    if explanation is not None and not (isinstance(explanation, str) and is_url(explanation)):
        explanation = None  # advice without a usable link is still advice
    return RenewalInfo(Window(start, end), explanation)


def choose_moment(window: Window, kept: Window | None, kept_moment: datetime | None) -> datetime:
    """The moment to renew at: the one kept, while the window is the one it was drawn in; else a new one.

    Drawn uniformly inside the window (RFC 9773 section 4.2), so that the
    CA's clients do not all come at once.
    """
    if kept == window and kept_moment is not None and window.start <= kept_moment <= window.end:
        return kept_moment
    span = (window.end - window.start).total_seconds()
    return window.start + timedelta(seconds=random.SystemRandom().uniform(0.0, span))


def next_check(retry_after: float | None, now: datetime) -> datetime:
    """When to ask again: the response's Retry-After (seconds), clamped; DEFAULT_CHECK_INTERVAL without one."""
    if retry_after is None:
        return now + DEFAULT_CHECK_INTERVAL
    wait = timedelta(seconds=retry_after)
    return now + min(max(wait, MIN_CHECK_INTERVAL), MAX_CHECK_INTERVAL)
