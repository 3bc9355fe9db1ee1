"""The matrix, end to end against pebble: CA key x domain key x account key x chain length.

Each row starts a pebble of its own (its CA key and chain length are
pebble's settings), then issues a certificate, renews it with -F and revokes
it with -r, each run with -vv, and checks after every run:

- the run's exit status, and what it did to the files (a new serial and
  FILE.1 on renewal; the files removed and pebble's record "Revoked" on
  revocation);
- the certificate carries the domain key's public key, the full chain (leaf
  first) verifies to pebble's root and holds 1 + chain_length certificates,
  and its intermediates carry the CA's key type;
- the challenge directory is empty;
- the import proof: every child that ran (the chain's five and the three
  shared ones, each exactly once) exited 0 and said `ROLE: nothing imported
  after the jail`, and no line reports an import after a jail.  A role that
  imports lazily after its jail on some path (certproc under an ECDSA CA
  did) fails here on the row that takes that path.

pebble's authorization reuse is off (authz_reuse=0), so that every issuance
and renewal is validated over http-01 for real and chngproc publishes each
time.

How the rows were chosen.  A full product (2 CA keys x 5 domain keys x 5
account keys x 2 chain lengths = 100 pebbles, an RSA 4096 key generated in
many) would cost minutes; six rows cover every value of every axis, each CA
key type with each domain key type (RSA and ECDSA), each CA key type with
each chain length and with each account key type, and generate only two
RSA 4096 keys:

| row | CA key | domain key                | account key               | chain |
|-----|--------|---------------------------|---------------------------|-------|
| 1   | RSA    | RSA 2048, existing        | ECDSA P-384, created      | 3     |
| 2   | RSA    | ECDSA P-384, created      | RSA 4096, created         | 1     |
| 3   | RSA    | ECDSA P-521, existing     | ECDSA P-256, existing     | 3     |
| 4   | ECDSA  | RSA 4096, created         | ECDSA P-521, existing     | 1     |
| 5   | ECDSA  | ECDSA P-384, created      | RSA 2048, existing        | 3     |
| 6   | ECDSA  | ECDSA P-256, existing     | ECDSA P-384, created      | 1     |
| 7   | RSA    | RSA 3072, created (sized) | ECDSA P-256, created (sized) | 1  |
| 8   | ECDSA  | ECDSA P-256, created (sized) | RSA 2048, created (sized) | 3   |

"created": the configuration's `rsa` or `ecdsa` with no key file yet, so
keyproc or acctproc creates RSA 4096 or ECDSA P-384; "created (sized)": the
configuration names the size (`rsa 3072`, `rsa 2048`, `ecdsa p256`), and the
key is created so.  Rows 7 and 8 add every size a configuration may name
that rows 1-6 do not create, each JWS algorithm and CSR it brings once
(keys.generate_key is one function for both kinds of key: tests/unit/test_keys.py
creates every size).  "existing": a key
file written before the first run, mode 0400, of a kind
acme_conf/keys.py check_key_type accepts but would not create itself;
domain keys as PKCS#8 PEM (what acme-client writes), account keys in the
traditional PEM forms (`BEGIN RSA PRIVATE KEY`, `BEGIN EC PRIVATE KEY`, what
`openssl genrsa` and `openssl ecparam -genkey` write).  The created ECDSA
P-384 domain key meets both CA key types; the created RSA 4096 domain key
meets the ECDSA CA (the one whose certificates broke certproc), an existing
RSA 2048 key the RSA CA.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, exited

CHAIN_ROLES = ("netproc", "revokeproc", "keyproc", "certproc", "fileproc")
AUTHORITY = "pebble"
# Domain names carry a tag of this pytest process: another copy of the suite
# running at the same time (CI beside a developer) then shares no domain lock.
RUN_TIMEOUT = 180.0  # two cores shared with other work, and an RSA 4096 key to generate



class Key(NamedTuple):
    """One value of a key axis: the configuration's key type, and the key file written
    beforehand (None: the client creates it)."""

    keytype: str  # "rsa" or "ecdsa", as the configuration says
    existing: int | ec.EllipticCurve | None  # RSA bits or a curve; None: created by the client
    label: str
    size: int = 0  # the size the configuration names (RSA bits, curve bits); 0: none

    @property
    def spelled(self) -> str:
        """As the configuration writes it: "rsa", "rsa 3072", "ecdsa p256"."""
        if not self.size:
            return self.keytype
        return f"rsa {self.size}" if self.keytype == "rsa" else f"ecdsa p{self.size}"

    def generate(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        assert self.existing is not None
        if isinstance(self.existing, int):
            return rsa.generate_private_key(public_exponent=65537, key_size=self.existing)
        return ec.generate_private_key(self.existing)


RSA_4096 = Key("rsa", None, "rsa4096new")
P384 = Key("ecdsa", None, "p384new")
RSA_2048_FILE = Key("rsa", 2048, "rsa2048file")
P256_FILE = Key("ecdsa", ec.SECP256R1(), "p256file")
P521_FILE = Key("ecdsa", ec.SECP521R1(), "p521file")
RSA_3072_SIZED = Key("rsa", None, "rsa3072new", 3072)
RSA_2048_SIZED = Key("rsa", None, "rsa2048new", 2048)
P256_SIZED = Key("ecdsa", None, "p256new", 256)


class Row(NamedTuple):
    number: int
    ca_key: str  # pebble's keyAlgorithm: the issuing CA's key type
    domain_key: Key
    account_key: Key
    chain_length: int  # intermediates pebble sends

    @property
    def id(self) -> str:
        return (
            f"{self.number}-ca_{self.ca_key}-domain_{self.domain_key.label}"
            f"-account_{self.account_key.label}-chain{self.chain_length}"
        )


ROWS = (
    Row(1, "rsa", RSA_2048_FILE, P384, 3),
    Row(2, "rsa", P384, RSA_4096, 1),
    Row(3, "rsa", P521_FILE, P256_FILE, 3),
    Row(4, "ecdsa", RSA_4096, P521_FILE, 1),
    Row(5, "ecdsa", P384, RSA_2048_FILE, 3),
    Row(6, "ecdsa", P256_FILE, P384, 1),
    Row(7, "rsa", RSA_3072_SIZED, P256_SIZED, 1),
    Row(8, "ecdsa", P256_SIZED, RSA_2048_SIZED, 3),
)


def test_the_rows_cover_every_value_and_pair_the_docstring_promises():
    """The table above, checked: a row edited away cannot silently drop a value."""
    keys = {RSA_4096, P384, RSA_2048_FILE, P256_FILE, P521_FILE}
    assert {row.domain_key for row in ROWS} == keys | {RSA_3072_SIZED, P256_SIZED}
    assert {row.account_key for row in ROWS} == keys | {P256_SIZED, RSA_2048_SIZED}
    # every size a configuration may name is created once (KEY_SIZES)
    assert {(key.keytype, key.size) for row in ROWS for key in (row.domain_key, row.account_key) if key.size} == {
        ("rsa", 2048), ("rsa", 3072), ("ecdsa", 256)
    }
    assert {(row.ca_key, row.domain_key.keytype) for row in ROWS} == {
        (ca, kind) for ca in ("rsa", "ecdsa") for kind in ("rsa", "ecdsa")
    }
    assert {(row.ca_key, row.chain_length) for row in ROWS} == {(ca, n) for ca in ("rsa", "ecdsa") for n in (1, 3)}
    assert {(row.ca_key, row.account_key.keytype) for row in ROWS} == {
        (ca, kind) for ca in ("rsa", "ecdsa") for kind in ("rsa", "ecdsa")
    }
    assert {row.domain_key for row in ROWS if row.ca_key == "rsa"} & {row.domain_key for row in ROWS if row.ca_key == "ecdsa"} == {P384}


def write_key_file(path: Path, key: Key, encoding: serialization.PrivateFormat) -> None:
    """An existing key, mode 0400, as an administrator would have left it."""
    pem = key.generate().private_bytes(serialization.Encoding.PEM, encoding, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def check_key_file(path: Path, key: Key, before: bytes | None) -> bytes:
    """The key file after a run: an existing one untouched, a created one of the configured kind, 0400."""
    data = path.read_bytes()
    if before is not None:
        assert data == before  # never replaced
    else:
        assert (path.stat().st_mode & 0o777) == 0o400
        created = load_pem_private_key(data, password=None)
        if key.keytype == "rsa":
            assert isinstance(created, rsa.RSAPrivateKey) and created.key_size == (key.size or 4096)
        else:
            assert isinstance(created, ec.EllipticCurvePrivateKey) and created.curve.key_size == (key.size or 384)
    return data


def check_import_proof(stderr: str, handle: str, challenge_dir: Path, ordered: bool = True, first: bool = False) -> None:
    """Every child of the run ran once, exited 0, and imported nothing after its jail.

    A run that orders nothing (`ordered` False: -r) starts no chngproc; a
    first issuance (`first`: no certificate file yet) no revokeproc.
    """
    expected = sorted(
        [(handle, role) for role in CHAIN_ROLES if not (first and role == "revokeproc")]
        + [(f"authority {AUTHORITY}", "dnsproc"), (f"authority {AUTHORITY}", "acctproc")]
        + [(f"challengedir {challenge_dir}", "chngproc")] * ordered
    )
    ran = exited(stderr)
    assert sorted(ran) == expected, stderr  # each of them, once: none left out of the proof
    assert exited(stderr, "0") == ran, stderr  # every one exited 0
    lines = stderr.splitlines()
    for name, role in ran:
        assert f"acme-client: {name}: {role}: nothing imported after the jail" in lines, (name, role, stderr)
    late = [line for line in lines if "after its jail" in line and "import" in line]
    assert late == [], late
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr


def check_certificate(pebble, workdir, handle: str, row: Row, domain_key_pem: bytes) -> x509.Certificate:
    """The installed set: our key, a full chain of 1 + chain_length to pebble's root, from a CA of the row's key type."""
    certificate_pem = workdir.certificate(handle).read_bytes()
    chain_pem = workdir.chain(handle).read_bytes()
    fullchain_pem = workdir.fullchain(handle).read_bytes()
    leaf = x509.load_pem_x509_certificate(certificate_pem)
    key = load_pem_private_key(domain_key_pem, password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert leaf.public_key().public_bytes(serialization.Encoding.DER, spki) == key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    )
    assert fullchain_pem == certificate_pem + chain_pem
    bundle = x509.load_pem_x509_certificates(fullchain_pem)
    assert len(bundle) == 1 + row.chain_length
    path = pebble.verify_chain(fullchain_pem, handle)  # raises unless it chains to pebble's root for the name
    assert len(path) == len(bundle) + 1  # leaf, every intermediate sent, the root
    ca_key_type = rsa.RSAPublicKey if row.ca_key == "rsa" else ec.EllipticCurvePublicKey
    assert all(isinstance(issuer.public_key(), ca_key_type) for issuer in bundle[1:])  # the row's CA, really
    return leaf


def serial(certificate: x509.Certificate) -> str:
    return f"{certificate.serial_number:x}"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_issue_renew_revoke(row, make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(key_algorithm=row.ca_key, chain_length=row.chain_length, authz_reuse=0)
    assert pebble.challenge_dir is not None
    handle = f"row{row.number}.{RUN_TAG}.matrix.example.test"
    domain_key_path = workdir.domain_key(handle)
    account_key_path = workdir.account_key(AUTHORITY)
    domain_before = account_before = None
    if row.domain_key.existing is not None:
        write_key_file(domain_key_path, row.domain_key, serialization.PrivateFormat.PKCS8)
        domain_before = domain_key_path.read_bytes()
    if row.account_key.existing is not None:
        write_key_file(account_key_path, row.account_key, serialization.PrivateFormat.TraditionalOpenSSL)
        account_before = account_key_path.read_bytes()
    conf = write_conf(
        [handle, f"www.{handle}"], testbed=pebble, authority=AUTHORITY, chain=True,
        keytype=row.domain_key.spelled, account_keytype=row.account_key.spelled,
    )

    def run(*flags: str) -> str:
        # a first issuance (no certificate file) starts no revokeproc; -F and -r prove its imports
        first = not workdir.certificate(handle).exists()
        result = run_client("-vv", *flags, handle, conf=conf, timeout=RUN_TIMEOUT)
        assert result.returncode == EXIT_CHANGED, result.stderr
        assert sorted(pebble.challenge_dir.iterdir()) == [], result.stderr  # chngproc removed what it wrote
        check_import_proof(result.stderr, handle, pebble.challenge_dir, ordered="-r" not in flags, first=first)
        return result.stderr

    # issue
    assert not workdir.certificate(handle).exists()
    pebble.clear_http_log()
    run()
    domain_pem = check_key_file(domain_key_path, row.domain_key, domain_before)
    account_pem = check_key_file(account_key_path, row.account_key, account_before)
    first = check_certificate(pebble, workdir, handle, row, domain_pem)
    # pebble fetched the challenge from the responder: validated over http-01 for real
    assert [r for r in pebble.http_log if r.status == 200 and "/.well-known/acme-challenge/" in r.path]

    # renew: a new certificate for the same key, the previous set kept as FILE.1
    previous = {path: path.read_bytes() for path in (workdir.certificate(handle), workdir.chain(handle), workdir.fullchain(handle))}
    pebble.clear_http_log()
    run("-F")
    assert domain_key_path.read_bytes() == domain_pem and account_key_path.read_bytes() == account_pem
    renewed = check_certificate(pebble, workdir, handle, row, domain_pem)
    assert renewed.serial_number != first.serial_number
    for path, content in previous.items():
        assert Path(f"{path}.1").read_bytes() == content
    assert [r for r in pebble.http_log if r.status == 200 and "/.well-known/acme-challenge/" in r.path]  # no reuse

    # revoke: the current certificate, and only it, revoked; the files removed
    assert pebble.cert_status(serial(renewed))["Status"] == "Valid"
    stderr = run("-r")
    assert "certificate revoked" in stderr
    assert pebble.cert_status(serial(renewed))["Status"] == "Revoked"
    assert pebble.cert_status(serial(first))["Status"] == "Valid"
    for path in (workdir.certificate(handle), workdir.chain(handle), workdir.fullchain(handle)):
        assert not path.exists()
    assert domain_key_path.read_bytes() == domain_pem and account_key_path.read_bytes() == account_pem


def test_a_key_of_another_size_than_configured_is_an_error_naming_both(workdir, write_conf, run_client):
    """An existing P-256 domain key where the configuration says `ecdsa p384`: never replaced, never used."""
    handle = f"sized.{RUN_TAG}.matrix.example.test"
    path = workdir.domain_key(handle)
    write_key_file(path, P256_FILE, serialization.PrivateFormat.PKCS8)
    before = path.read_bytes()
    conf = write_conf(handle, keytype="ecdsa p384")
    result = run_client(handle, conf=conf)
    assert result.returncode == 1, result.stderr
    assert f"{path}: holds an ECDSA P-256 key but the configuration says ecdsa p384" in result.stderr, result.stderr
    assert path.read_bytes() == before
    assert not workdir.certificate(handle).exists()


# ---------------------------------------------------------------------------
# The import proof can fail: what it refuses, on made-up -vv output


def _clean_stderr(handle: str, challenge_dir: Path) -> list[str]:
    lines = []
    names = [(handle, role) for role in CHAIN_ROLES] + [
        (f"authority {AUTHORITY}", "dnsproc"), (f"authority {AUTHORITY}", "acctproc"),
        (f"challengedir {challenge_dir}", "chngproc"),
    ]
    for name, role in names:
        lines.append(f"acme-client: {name}: {role}: nothing imported after the jail")
        lines.append(f"acme-client: {name}: {role} exited 0 after 50 ms of CPU")
    return lines


@pytest.mark.parametrize(
    "defect",
    ["clean", "tried an import", "imported", "no proof line", "exited 1", "did not run", "ran twice"],
)
def test_the_import_proof_refuses_each_defect(defect):
    handle, challenge_dir = "proof.example.test", Path("/srv/acme")
    lines = _clean_stderr(handle, challenge_dir)
    certproc_proof = f"acme-client: {handle}: certproc: nothing imported after the jail"
    certproc_exit = f"acme-client: {handle}: certproc exited 0 after 50 ms of CPU"
    if defect == "tried an import":
        lines.insert(0, f"acme-client: {handle}: certproc: internal error: certproc tried to import "
                        "cryptography.hazmat.backends.openssl after its jail")
    elif defect == "imported":
        lines.insert(0, f"acme-client: {handle}: certproc: internal error: certproc imported foo, bar after its jail")
    elif defect == "no proof line":
        lines.remove(certproc_proof)
    elif defect == "exited 1":
        lines[lines.index(certproc_exit)] = certproc_exit.replace("exited 0", "exited 1")
    elif defect == "did not run":
        lines.remove(certproc_exit)
    elif defect == "ran twice":
        lines.append(certproc_exit)
    stderr = "\n".join(lines) + "\n"
    if defect == "clean":
        check_import_proof(stderr, handle, challenge_dir)
    else:
        with pytest.raises(AssertionError):
            check_import_proof(stderr, handle, challenge_dir)

