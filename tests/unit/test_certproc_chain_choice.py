"""Chain selection: the alternates a download's Link headers name, and certproc's choice among them."""

from __future__ import annotations

import logging

import pytest

from acme_conf.acme.resources import alternate_links
from acme_conf.keys import public_key_der
from acme_conf.messages.certificate import CertBundle
from acme_conf.proc.certproc import MAX_ALTERNATES, CertificateCheckError, choose_chain
from acme_conf.proc.spec import CertSettings

import pki
from pki import NOW

NAMES = ("example.com",)
CA = "https://ca.example"


def test_alternate_links_are_the_https_urls_with_rel_alternate() -> None:
    values = (
        f'<{CA}/cert/1/1>;rel="alternate"',
        f'<{CA}/dir>;rel="index", <{CA}/cert/1/2> ; rel="alternate"',
        f'<{CA}/cert/1/3>; rel="up alternate"',  # rel names several relations
        '<http://ca.example/cert/1/4>;rel="alternate"',  # not https
        f'<{CA}/cert/1/\x1b5>;rel="alternate"',  # not printable
        f'<{CA}/cert/1/1>;rel="alternate"',  # named twice
        f'<{CA}/up>;rel="up"',
    )
    assert alternate_links(values, 10) == (f"{CA}/cert/1/1", f"{CA}/cert/1/2", f"{CA}/cert/1/3")
    assert alternate_links(values, 2) == (f"{CA}/cert/1/1", f"{CA}/cert/1/2")
    assert alternate_links((), 4) == ()


@pytest.fixture(scope="module")
def chains():
    """One leaf key, certified under two roots: the default chain and an alternate."""
    key = pki.new_key()
    default_root, other_root = pki.root_authority("Default Root"), pki.root_authority("Other Root")
    bundles = []
    for root in (default_root, other_root):
        intermediate = root.issue_ca(f"Intermediate of {root.certificate.subject.rfc4514_string()}")
        leaf = intermediate.issue_leaf(key.public_key(), NAMES)
        bundles.append(pki.pem(leaf, intermediate.certificate))
    return public_key_der(key), bundles


def test_the_alternate_from_the_preferred_issuer_is_chosen(chains) -> None:
    spki, (default, alternate) = chains
    bundle = CertBundle(default, (alternate.decode(),))
    assert choose_chain(bundle, spki, CertSettings(NAMES, "Other Root"), NOW).fullchain == alternate
    assert choose_chain(bundle, spki, CertSettings(NAMES, "Default Root"), NOW).fullchain == default
    assert choose_chain(bundle, spki, CertSettings(NAMES, ""), NOW).fullchain == default  # none preferred


def test_without_a_chain_from_the_preferred_issuer_the_default_is_installed(chains, caplog) -> None:
    spki, (default, alternate) = chains
    with caplog.at_level(logging.INFO, "acme_conf"):
        chosen = choose_chain(CertBundle(default, (alternate.decode(),)), spki, CertSettings(NAMES, "Nobody"), NOW)
    assert chosen.fullchain == default
    assert "no chain from Nobody offered" in caplog.text


def test_an_alternate_that_fails_the_checks_is_left_out(chains, caplog) -> None:
    spki, (default, alternate) = chains
    stranger = pki.root_authority("Other Root").issue_ca("Forged")  # the preferred name, but another key's leaf
    forged = pki.pem(stranger.issue_leaf(pki.new_key().public_key(), NAMES), stranger.certificate).decode()
    chosen = choose_chain(CertBundle(default, (forged, alternate.decode())), spki, CertSettings(NAMES, "Other Root"), NOW)
    assert chosen.fullchain == alternate
    assert "alternate chain 1 left out" in caplog.text


def test_the_default_chain_must_pass_whatever_the_alternates(chains) -> None:
    spki, (default, alternate) = chains
    with pytest.raises(CertificateCheckError):
        choose_chain(CertBundle(b"not PEM", (alternate.decode(),)), spki, CertSettings(NAMES, "Other Root"), NOW)


def test_more_alternates_than_netproc_fetches_are_refused(chains) -> None:
    spki, (default, alternate) = chains
    many = (alternate.decode(),) * (MAX_ALTERNATES + 1)
    with pytest.raises(CertificateCheckError, match="alternate chains"):
        choose_chain(CertBundle(default, many), spki, CertSettings(NAMES, "Other Root"), NOW)
