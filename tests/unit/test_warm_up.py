"""Each role's warm-up loads, before the jail, everything its real work on any input needs afterwards.

Every case runs in a fresh interpreter that imports only the role's module,
runs the role's warm-up, puts up the import guard (as the jail does), and
then does the role's real work on inputs made here, fresh (new keys, so not
the built-in samples): every signature algorithm a CA may use, every key
type, and hostile answers.  Nothing may be imported.  The controls run the
same work without the warm-up and must see the guard fire: they show both
that the test can fail and that the warm-up is what keeps it from failing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acme_conf import samples
from acme_conf.acme.b64 import b64url
from acme_conf.csr import build_csr
from acme_conf.net import warm_up as net_warm_up

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import make_samples  # noqa: E402  (the generator of acme_conf/samples.py)

GUARD = """
import json, sys
from acme_conf.sandbox.imports import ImportAfterJail, forbid_imports
inputs = json.loads(open(sys.argv[1]).read())
"""


def run_guarded(tmp_path: Path, role_code: str, inputs: object) -> dict:
    """Run `role_code` (it sets `results`) after GUARD; what it found, and what was imported late."""
    data = tmp_path / "inputs.json"
    data.write_text(json.dumps(inputs))
    script = textwrap.dedent(GUARD) + textwrap.dedent(role_code) + textwrap.dedent(
        """
        print(json.dumps({"results": results, "late": list(guard.violations())}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(data)],
        env={}, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_bundles() -> list[dict[str, str]]:
    """A bundle for every signature algorithm the samples cover, made with new keys."""
    made = []
    for name, issuer_key, algorithm, pad, leaf_key in make_samples.SIGNERS:
        _, pem, public_key, _ = make_samples.sample(name, issuer_key(), algorithm, pad, leaf_key())
        made.append({"algorithm": name, "bundle": pem.hex(), "key": public_key.hex()})
    return made


@pytest.fixture(scope="module")
def bundles() -> list[dict[str, str]]:
    return fresh_bundles()


def test_the_samples_cover_every_signature_algorithm_and_key_type() -> None:
    from cryptography import x509

    assert [sample.algorithm for sample in samples.SAMPLES] == [signer[0] for signer in make_samples.SIGNERS]
    leaf_keys = set()
    for sample in samples.SAMPLES:
        leaf, issuer = x509.load_pem_x509_certificates(sample.bundle)
        leaf.verify_directly_issued_by(issuer)
        key = leaf.public_key()
        leaf_keys.add(f"ec-{key.curve.name}" if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__)
        assert leaf.not_valid_before_utc <= samples.NOW < leaf.not_valid_after_utc
    # every domain key type acme-client accepts (acme_conf.keys.check_key_type)
    assert leaf_keys == {"RSAPublicKey", "ec-secp256r1", "ec-secp384r1", "ec-secp521r1"}


# certproc ------------------------------------------------------------------------------------

CERTPROC = """
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from acme_conf import samples
from acme_conf.acme.b64 import b64url
from acme_conf.csr import build_csr
from acme_conf.proc import certproc
{warm_up}
guard = forbid_imports("certproc")
results = []
for item in inputs:
    key = serialization.load_pem_public_key(bytes.fromhex(item["key"])).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bundle = bytes.fromhex(item["bundle"])
    try:
        certproc.check_bundle(bundle, key, samples.NAMES, samples.NOW)
        results.append("accepted")
    except certproc.CertificateCheckError:
        results.append("refused")
    except ImportAfterJail as error:
        results.append(error.module)
"""


def hostile_bundles(bundles: list[dict[str, str]]) -> list[dict[str, str]]:
    """Bundles certproc must refuse, in every shape its checks take."""
    first, second = bytes.fromhex(bundles[0]["bundle"]), bytes.fromhex(bundles[-1]["bundle"])
    leaf_of_first = first[: first.index(b"-----END CERTIFICATE-----") + 26]
    shapes = [
        b"",
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        first[: len(first) // 2],
        leaf_of_first + second,  # the wrong issuer
        first.replace(b"\n", b"\r\n"),
        first * 9,  # 18 certificates: over the limit
    ]
    return [{"bundle": shape.hex(), "key": bundles[0]["key"]} for shape in shapes]


def test_certproc_checks_bundles_of_every_algorithm_and_refuses_broken_ones_importing_nothing(
    tmp_path: Path, bundles: list[dict[str, str]]
) -> None:
    found = run_guarded(tmp_path, CERTPROC.replace("{warm_up}", "certproc.warm_up()"), bundles + hostile_bundles(bundles))
    assert found["results"][: len(bundles)] == ["accepted"] * len(bundles)
    assert set(found["results"][len(bundles):]) <= {"accepted", "refused"}  # first * 9 ... some parse, none import
    assert found["late"] == []


def test_control_certproc_without_its_warm_up_imports_after_the_jail(tmp_path: Path, bundles) -> None:
    ecdsa = [item for item in bundles if item["algorithm"].startswith("ecdsa")]
    found = run_guarded(tmp_path, CERTPROC.replace("{warm_up}", ""), ecdsa)
    assert found["results"][0] == "cryptography.hazmat.backends"  # what broke every ECDSA-signing CA
    assert found["late"] != []


# revokeproc ------------------------------------------------------------------------------------

REVOKEPROC = """
from cryptography.hazmat.primitives import serialization
from acme_conf import certstatus, samples
from acme_conf.errors import ProcessFailure
{warm_up}
keys = [
    serialization.load_pem_public_key(bytes.fromhex(item["key"])).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for item in inputs
]
guard = forbid_imports("revokeproc")
results = []
for item, key in zip(inputs, keys):
    try:
        bundle = bytes.fromhex(item["bundle"])
        examined = certstatus.examine_certificate(bundle, "cert.pem", samples.NAMES, key, samples.NOW)
        results.append("due" if examined.decision.due else "current")
    except ProcessFailure:
        results.append("unusable")
    except ImportAfterJail as error:
        results.append(error.module)
"""


def test_revokeproc_judges_certificates_of_every_kind_importing_nothing(tmp_path: Path, bundles) -> None:
    found = run_guarded(tmp_path, REVOKEPROC.replace("{warm_up}", "certstatus.warm_up()"), bundles + hostile_bundles(bundles))
    assert found["results"][: len(bundles)] == ["current"] * len(bundles)
    assert found["late"] == []


# acctproc ------------------------------------------------------------------------------------

ACCTPROC = """
from cryptography.hazmat.primitives import serialization
from acme_conf.acme.signing_rules import DomainRun
from acme_conf.proc import acctproc
from acme_conf.messages.account import SignRequest, ThumbprintRequest
key = serialization.load_pem_private_key(bytes.fromhex(inputs["key"]), password=None)
run = DomainRun("https://ca.invalid/dir", "", ("example.org",), "", False)
{warm_up}
guard = forbid_imports("acctproc")
results = []
try:
    results.append(type(acctproc.answer(key, run, ThumbprintRequest(), lambda: b"")).__name__)
    for url, kid, payload in inputs["requests"]:
        reply = acctproc.answer(key, run, SignRequest(url, "n", kid, bytes.fromhex(payload)), lambda: b"")
        results.append(type(reply).__name__)
except ImportAfterJail as error:
    results.append(error.module)
"""

# What a netproc taken over might ask acctproc to sign, and what an honest one does.
SIGN_REQUESTS = [
    ("https://ca.invalid/acct", "", b'{"onlyReturnExisting": true}'),
    ("https://ca.invalid/order/1", "https://ca.invalid/acct/1", b""),
    ("https://ca.invalid/chall/1", "https://ca.invalid/acct/1", b"{}"),
    ("https://\u00e9vil.invalid/", "k", b""),
    ("https://ca.invalid:444/", "k", b""),
    ("https://ca.invalid/key-change", "k", b'{"protected": "x", "payload": "y", "signature": "z"}'),
    ("https://ca.invalid/acct/1", "k", b'{"status": "deactivated"}'),
    ("https://ca.invalid/order", "k", '{"identifiers": [{"type": "dns", "value": "\u00e9.invalid"}]}'.encode()),
    ("https://ca.invalid/x", "k", "\u00e9".encode("utf-16")),
    ("https://ca.invalid/x", "k", b"[" * 100_000),
    ("https://ca.invalid/finalize", "k", b'{"csr": "%s"}' % b64url(build_csr(ec.generate_private_key(ec.SECP256R1()), ("example.org",))).encode()),
]
HONEST = 3  # the first three are signed; the finalize's CSR is not for the (unknown) domain key


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).hex()


ACCOUNT_KEYS = {
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
}


def acctproc_inputs(kind: str) -> dict[str, object]:
    return {"key": _pem(ACCOUNT_KEYS[kind]()), "requests": [(url, kid, body.hex()) for url, kid, body in SIGN_REQUESTS]}


@pytest.mark.parametrize("kind", sorted(ACCOUNT_KEYS))
def test_acctproc_signs_with_every_key_type_and_refuses_the_rest_importing_nothing(tmp_path: Path, kind: str) -> None:
    found = run_guarded(tmp_path, ACCTPROC.replace("{warm_up}", "acctproc.warm_up(key)"), acctproc_inputs(kind))
    refused = len(SIGN_REQUESTS) - HONEST
    assert found["results"] == ["Thumbprint", *["Signed"] * HONEST, *["Failure"] * refused]
    assert found["late"] == []


def test_control_acctproc_without_its_warm_up_imports_after_the_jail(tmp_path: Path) -> None:
    found = run_guarded(tmp_path, ACCTPROC.replace("{warm_up}", ""), acctproc_inputs("ecdsa-p256"))
    assert found["late"] != []


# netproc ------------------------------------------------------------------------------------

NETPROC = """
import http.client
from acme_conf.proc import netproc
from acme_conf.net import warm_up as net_warm_up
from acme_conf.net.transport import split_url
from acme_conf.acme import resources
from acme_conf.acme.polling import retry_after_seconds
from datetime import datetime, timezone
{warm_up}
guard = forbid_imports("netproc")
results = []
def attempt(what, action):
    try:
        action()
        results.append("ok")
    except ImportAfterJail as error:
        results.append(f"{what}: {error.module}")
    except Exception as error:
        results.append(type(error).__name__)
for raw in inputs["responses"]:
    attempt("response", lambda: net_warm_up._read(bytes.fromhex(raw)))
for url in inputs["urls"]:
    attempt("url", lambda: split_url(url, (443,)))
for body in inputs["bodies"]:
    for parse in (resources.parse_directory, lambda b: resources.parse_order("https://ca.invalid/o", b),
                  lambda b: resources.parse_authorization("https://ca.invalid/a", b), resources.parse_challenge,
                  resources.parse_problem):
        attempt("body", lambda: parse(bytes.fromhex(body)))
for header in inputs["retry_after"]:
    attempt("retry-after", lambda: retry_after_seconds(header, datetime.now(timezone.utc)))
"""

HOSTILE_RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-16\r\nContent-Length: 6\r\n\r\n\xff\xfe{\x00}\x00",
    b"HTTP/1.1 503 Busy\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nX-\xff\xfe: \x00\x01\x1b[31m\r\nLocation: https://\xe9xample.invalid/\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 150 + b"\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"\x16\x03\x01\x02\x00",  # TLS where HTTP was expected
]
HOSTILE_URLS = [
    "https://b\u00fccher.invalid/x",
    "https://xn--bcher-kva.invalid/x",
    "https://\uff43a.invalid/",  # fullwidth: NFKC changes it
    "https://ca.invalid\u2100/",  # a character that decomposes into a '/'
    "https://[fe80::1%25eth0]/",
    "https://user:pw@ca.invalid:443/",
    "https://ca.invalid:0x1bb/",
]
HOSTILE_BODIES = [
    '{"newNonce": "https://\u00fc.invalid/"}'.encode("utf-8"),
    '{"type": "x"}'.encode("utf-16"),
    '{"type": "x"}'.encode("utf-32-be"),
    b"\xef\xbb\xbf{}",
    b'{"status": "valid", "authorizations": [1e999999], "finalize": "https://ca.invalid/f"}',
    b'{"a": ' * 5000,
    b'{"detail": "\\ud800", "type": "urn:ietf:params:acme:error:malformed", "subproblems": [{"identifier": 3}]}',
    b'{"challenges": [{"type": "http-01", "url": "https://ca.invalid/\\u00e9", "status": "pending"}],'
    b' "status": "pending", "identifier": {"type": "dns", "value": "\\u0000"}}',
    b'{"status": "valid", "authorizations": [], "finalize": "https://ca.invalid/f", "error": {"type": []}}',
]
HOSTILE_RETRY_AFTER = ["Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 32 Foo 2025 99:99:99 +9999", "-1", "\u0661\u0662"]


def netproc_inputs() -> dict[str, list[str]]:
    return {
        "responses": [raw.hex() for raw in HOSTILE_RESPONSES + list(net_warm_up.RESPONSES)],
        "urls": HOSTILE_URLS,
        "bodies": [body.hex() for body in HOSTILE_BODIES],
        "retry_after": HOSTILE_RETRY_AFTER,
    }


def test_netproc_reads_hostile_answers_importing_nothing(tmp_path: Path) -> None:
    found = run_guarded(tmp_path, NETPROC.replace("{warm_up}", "net_warm_up.warm_up()"), netproc_inputs())
    assert found["late"] == [], found["results"]
    assert not any(":" in result for result in found["results"])


def test_control_netproc_without_its_warm_up_imports_after_the_jail(tmp_path: Path) -> None:
    found = run_guarded(tmp_path, NETPROC.replace("{warm_up}", ""), netproc_inputs())
    assert "url: unicodedata" in found["results"]  # urllib.parse checks a non-ASCII host with it
