"""Retry-After and backoff (acme_conf.acme.polling)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_conf.acme.polling import FIRST_DELAY, MAX_DELAY, MAX_RETRY_AFTER, next_delay, retry_after_seconds

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


# delta-seconds ------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "seconds"), [("0", 0.0), ("1", 1.0), ("5", 5.0), (" 30 ", 30.0), ("120", 120.0)])
def test_delta_seconds(header: str, seconds: float) -> None:
    assert retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize("header", ["121", "3600", "86400", "99999999999999999999"])
def test_delta_seconds_are_capped(header: str) -> None:
    assert retry_after_seconds(header, NOW) == MAX_RETRY_AFTER


# HTTP-date --------------------------------------------------------------------------------


def test_http_date_in_the_future() -> None:
    assert retry_after_seconds(http_date(NOW + timedelta(seconds=42)), NOW) == 42.0


def test_http_date_in_the_past_means_now() -> None:
    assert retry_after_seconds(http_date(NOW - timedelta(hours=1)), NOW) == 0.0


def test_http_date_far_ahead_is_capped() -> None:
    assert retry_after_seconds(http_date(NOW + timedelta(days=365)), NOW) == MAX_RETRY_AFTER


def test_http_date_with_numeric_zone() -> None:
    assert retry_after_seconds("Sat, 01 Jun 2030 14:00:10 +0200", NOW) == 10.0


def test_http_date_without_zone_is_taken_as_utc() -> None:
    assert retry_after_seconds("Sat, 01 Jun 2030 12:00:07 -0000", NOW) == 7.0


def test_obsolete_rfc850_date_form() -> None:
    # RFC 9110 requires recipients to accept it; when it parses it must be right.
    value = retry_after_seconds("Saturday, 01-Jun-30 12:00:20 GMT", NOW)
    assert value in (None, 20.0)


# garbage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["", " ", "soon", "-5", "+5", "5.5", "1e3", "0x10", "5 seconds", "Sat, 99 Foo 2030", "\x00", "Mon, 01 Jan 99999 00:00:00 GMT"],
)
def test_garbage_is_ignored(header: str) -> None:
    assert retry_after_seconds(header, NOW) is None


def test_missing_header() -> None:
    assert retry_after_seconds(None, NOW) is None


@pytest.mark.parametrize("header", ["\u00b9", "\u00b2\u00b3", "1\u00b2"])
def test_superscript_digits_are_ignored(header: str) -> None:
    # http.client decodes header bytes as Latin-1, so a CA sending 0xB9 produces '¹'.
    assert retry_after_seconds(header, NOW) is None


def test_absurdly_long_delta_seconds_are_capped() -> None:
    assert retry_after_seconds("9" * 5000, NOW) == MAX_RETRY_AFTER


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=40))
@settings(max_examples=500)
def test_any_latin1_header_gives_none_or_a_bounded_delay(header: str) -> None:
    # Latin-1: the only characters http.client can put in a header value.
    value = retry_after_seconds(header, NOW)
    assert value is None or 0.0 <= value <= MAX_RETRY_AFTER


# backoff ----------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay() -> None:
    delays = [next_delay(attempt, None) for attempt in range(5)]
    assert delays == [FIRST_DELAY * 2**n for n in range(5)]


def test_backoff_reaches_its_ceiling_and_stays() -> None:
    delays = [next_delay(attempt, None) for attempt in range(40)]
    assert max(delays) == MAX_DELAY
    first_at_ceiling = delays.index(MAX_DELAY)
    assert all(delay == MAX_DELAY for delay in delays[first_at_ceiling:])
    assert all(a <= b for a, b in zip(delays, delays[1:]))


def test_never_sooner_than_retry_after() -> None:
    assert next_delay(0, 3.0) == 3.0
    assert next_delay(0, MAX_RETRY_AFTER) == MAX_RETRY_AFTER  # above the backoff ceiling


def test_retry_after_shorter_than_the_backoff_does_not_hurry() -> None:
    assert next_delay(20, 0.0) == MAX_DELAY
    assert next_delay(2, 0.01) == FIRST_DELAY * 4


@given(st.integers(min_value=0, max_value=200), st.none() | st.floats(min_value=0, max_value=MAX_RETRY_AFTER))
def test_delay_is_bounded_and_respects_retry_after(attempt: int, retry_after: float | None) -> None:
    delay = next_delay(attempt, retry_after)
    assert FIRST_DELAY <= delay <= MAX_RETRY_AFTER
    if retry_after is not None:
        assert delay >= retry_after
    else:
        assert delay <= MAX_DELAY
