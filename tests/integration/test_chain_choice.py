"""Chain selection against pebble with an alternate root (PEBBLE_ALTERNATE_ROOTS, real http-01).

pebble names the alternate chain in a Link header of the download; with
`preferred chain` naming the alternate root, that chain is installed, and it
chains to that root and not to the default one.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509 import verification

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED


def common_name(pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return str(certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def topmost_issuer(fullchain: bytes) -> str:
    top = x509.load_pem_x509_certificates(fullchain)[-1]
    return str(top.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


@pytest.fixture
def pebble(make_testbed):
    return make_testbed(alternate_roots=1)


def test_the_alternate_chain_of_the_preferred_root_is_installed(pebble, workdir, write_conf, run_client):
    default_root, alternate_root = common_name(pebble.root_pem(0)), common_name(pebble.root_pem(1))
    assert default_root != alternate_root
    handle = f"alternate.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble, chain=True)
    text = conf.read_text().replace("\tsign with ", f'\tpreferred chain "{alternate_root}"\n\tsign with ', 1)
    conf.write_text(text)
    result = run_client("-v", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert f"chain from {alternate_root} chosen (alternate 1)" in result.stderr, result.stderr
    fullchain = workdir.fullchain(handle).read_bytes()
    assert topmost_issuer(fullchain) == alternate_root
    pebble.verify_chain(fullchain, handle, root_index=1)
    with pytest.raises(verification.VerificationError):
        pebble.verify_chain(fullchain, handle, root_index=0)


def test_without_a_preference_or_a_match_the_default_chain_is_installed(pebble, workdir, write_conf, run_client):
    default_root = common_name(pebble.root_pem(0))
    for number, preferred in enumerate(("", "No Such Root")):
        handle = f"default{number}.{RUN_TAG}.example.test"
        conf = write_conf(handle, testbed=pebble, chain=True)
        if preferred:
            conf.write_text(conf.read_text().replace("\tsign with ", f'\tpreferred chain "{preferred}"\n\tsign with ', 1))
        result = run_client("-v", handle, conf=conf)
        assert result.returncode == EXIT_CHANGED, result.stderr
        assert topmost_issuer(workdir.fullchain(handle).read_bytes()) == default_root
        if preferred:
            assert "no chain from No Such Root offered: the default chain installed" in result.stderr
        else:
            assert "alternate chain" not in result.stderr  # none fetched: nothing preferred
