"""When renewal is due (acme_conf.acme.renewal) and how names compare (acme_conf.certnames)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_conf.acme.renewal import MAX_LIFETIME, renewal_decision
from acme_conf.acme.identifiers import configured_names
from acme_conf.certnames import certificate_names

import pki

START = datetime(2030, 1, 1, tzinfo=timezone.utc)
NAMES = frozenset({"example.com", "www.example.com"})


def decide(lifetime: timedelta, elapsed: timedelta, *, cert=NAMES, conf=NAMES):
    return renewal_decision(START, START + lifetime, START + elapsed, cert, conf, key_matches=True)


# a third of the lifetime -------------------------------------------------------------


def test_ninety_day_certificate_is_current_until_a_third_remains() -> None:
    lifetime = timedelta(days=90)
    assert not decide(lifetime, timedelta(days=59, hours=23)).due
    assert not decide(lifetime, timedelta(days=60)).due  # exactly a third left: not less
    assert decide(lifetime, timedelta(days=60, seconds=1)).due


def test_current_reason_names_expiry_and_renewal_date() -> None:
    decision = decide(timedelta(days=90), timedelta(days=1))
    assert not decision.due
    assert "2030-04-01 00:00:00 UTC" in decision.reason  # expiry (Jan 1 + 90 days)
    assert "2030-03-02 00:00:00 UTC" in decision.reason  # expiry minus 30 days


def test_due_reason_says_so() -> None:
    decision = decide(timedelta(days=90), timedelta(days=80))
    assert decision.due
    assert "renewal is due" in decision.reason


# a half for short lifetimes ------------------------------------------------------------


def test_ten_day_lifetime_renews_at_half() -> None:
    lifetime = timedelta(days=10)
    assert not decide(lifetime, timedelta(days=5)).due
    assert decide(lifetime, timedelta(days=5, seconds=1)).due


def test_just_over_ten_days_renews_at_a_third() -> None:
    lifetime = timedelta(days=10, seconds=3)
    # a third of (10 days + 3 s) remains after 6 days 16 h + 2 s
    assert not decide(lifetime, timedelta(days=6, hours=16, seconds=2)).due
    assert decide(lifetime, timedelta(days=6, hours=16, seconds=3)).due


def test_shortlived_six_and_a_half_days() -> None:
    lifetime = timedelta(days=6, hours=12)  # of the order of a "shortlived" profile
    # half is 3 d 6 h, more than the 3-day floor
    assert not decide(lifetime, timedelta(days=3, hours=6)).due
    assert decide(lifetime, timedelta(days=3, hours=6, seconds=1)).due


# never later than three days before expiry ---------------------------------------------


def test_three_day_floor_beats_a_half_of_a_short_lifetime() -> None:
    lifetime = timedelta(days=5)  # half = 2.5 days < 3 days
    assert not decide(lifetime, timedelta(days=2)).due
    assert decide(lifetime, timedelta(days=2, seconds=1)).due


def test_lifetime_under_three_days_is_always_due() -> None:
    for elapsed in (timedelta(0), timedelta(hours=1)):
        assert decide(timedelta(days=2), elapsed).due


@given(
    lifetime=st.timedeltas(min_value=timedelta(hours=1), max_value=timedelta(days=800)),
    elapsed=st.timedeltas(min_value=timedelta(days=-10), max_value=timedelta(days=900)),
)
@settings(max_examples=400)
def test_rule_as_a_property(lifetime: timedelta, elapsed: timedelta) -> None:
    decision = decide(lifetime, elapsed)
    remaining = lifetime - elapsed
    share = lifetime / 2 if lifetime <= timedelta(days=10) else lifetime / 3
    too_long = lifetime > MAX_LIFETIME  # a 100-year certificate would renew in 67 years
    assert decision.due == (too_long or remaining < max(share, timedelta(days=3)))
    if remaining < timedelta(days=3):  # exactly three days before expiry is not later than that
        assert decision.due


# expired ---------------------------------------------------------------------------------


def test_expired_certificate_is_due_and_says_expired() -> None:
    decision = decide(timedelta(days=90), timedelta(days=91))
    assert decision.due
    assert "expired 2030-04-01" in decision.reason


def test_exact_expiry_moment_is_expired() -> None:
    decision = decide(timedelta(days=90), timedelta(days=90))
    assert decision.due
    assert "expired" in decision.reason


# names differ ------------------------------------------------------------------------------


def test_missing_configured_name_forces_renewal_of_a_fresh_certificate() -> None:
    decision = decide(timedelta(days=90), timedelta(days=1), cert=frozenset({"example.com"}))
    assert decision.due
    assert "missing www.example.com" in decision.reason
    assert "not configured" not in decision.reason


def test_extra_certificate_name_forces_renewal() -> None:
    decision = decide(timedelta(days=90), timedelta(days=1), cert=NAMES | {"old.example.com"})
    assert decision.due
    assert "not configured old.example.com" in decision.reason
    assert "missing" not in decision.reason


def test_both_missing_and_extra_are_reported() -> None:
    decision = decide(timedelta(days=90), timedelta(days=1), cert=frozenset({"a.example", "example.com"}))
    assert decision.due
    assert "missing www.example.com" in decision.reason
    assert "not configured a.example" in decision.reason


# the names renewal compares -------------------------------------------------------------------


def test_configured_names_are_case_insensitive_and_deduplicated() -> None:
    assert configured_names(("Example.COM", "example.com", "WWW.example.com")) == NAMES


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
        ("192.0.2.1", "192.0.2.1"),
    ],
)
def test_configured_ip_names_take_rfc5952_form(spelling: str, canonical: str) -> None:
    assert configured_names((spelling,)) == frozenset({canonical})


def test_certificate_names_lower_case_dns_and_canonical_ips() -> None:
    ca = pki.root_authority()
    leaf = ca.issue_leaf(pki.new_key().public_key(), ("WWW.Example.COM", "2001:DB8::0:1", "192.0.2.7"))
    assert certificate_names(leaf) == frozenset({"www.example.com", "2001:db8::1", "192.0.2.7"})


def test_certificate_and_configuration_agree_for_the_same_names_spelt_differently() -> None:
    ca = pki.root_authority()
    leaf = ca.issue_leaf(pki.new_key().public_key(), ("example.com", "2001:db8::1"))
    configured = configured_names(("EXAMPLE.com", "2001:0DB8:0000::0001", "example.com"))
    assert certificate_names(leaf) == configured
    assert not renewal_decision(
        START, START + timedelta(days=90), START, certificate_names(leaf), configured, key_matches=True
    ).due


def test_certificate_without_subject_alt_name_has_no_names() -> None:
    ca = pki.root_authority()
    leaf = ca.issue_leaf(pki.new_key().public_key(), (), common_name="example.com")
    assert certificate_names(leaf) == frozenset()  # the CN alone does not count


# the key, and lifetimes past the ceiling ------------------------------------------------------


def test_a_certificate_for_another_key_is_due_whatever_its_dates() -> None:
    decision = renewal_decision(START, START + timedelta(days=90), START, NAMES, NAMES, key_matches=False)
    assert decision == (True, "certificate is not for the domain key")


def test_a_lifetime_past_the_ceiling_is_due_at_once() -> None:
    decision = decide(timedelta(days=36500), timedelta(days=1))
    assert decision.due and "valid for 36500 days, longer than 398" in decision.reason
    assert not decide(MAX_LIFETIME, timedelta(days=1)).due
