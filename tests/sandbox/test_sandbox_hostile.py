"""A hostile input reaches only its sandbox (issue 4, item 4).

certproc parses what the CA sent; revokeproc parses the certificate file on
disk, which also came from the CA.  Two kinds of attack:

- crafted bundles that make the parser fail: the role reports a clear error
  and exits 1 from inside its jail (the error path needs nothing forbidden);
- code execution inside the parser, simulated by a parser that first makes
  one forbidden attempt (read the account key and send it, connect out, run
  a shell, plant a file in the certificate directory, signal the parent,
  start a thread, map executable memory).  Each attempt is killed or denied,
  and nothing reaches its target: no connection, no file, no key bytes on
  any channel, the parent unharmed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import sandbox_harness as harness
from acme_conf.ipc import Channel
from acme_conf.messages.certificate import CertBundle
from acme_conf.messages.key import DomainKey

CHILD = Path(__file__).with_name("sandbox_hostile_child.py")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import make_samples  # noqa: E402  (tools/: the generator of acme_conf/samples.py)

KILLED = -31
DENIED = 1  # the role's own error handling: "internal error: PermissionError ..."

ATTACKS = {
    "exfiltrate_key": DENIED,
    "connect_out": KILLED,
    "run_shell": KILLED,
    "plant_file": KILLED,
    "signal_parent": KILLED,
    "start_thread": KILLED,
    "make_memory_executable": DENIED,
}

MODES = [
    pytest.param(False, id="root", marks=pytest.mark.skipif(os.getuid() != 0, reason="needs root")),
    pytest.param(True, id="unprivileged"),
]


@dataclass
class Outcome:
    returncode: int
    stderr: str
    received: bytes  # everything the role sent on any channel
    connections: int  # connections the listener accepted


@pytest.fixture(scope="module", params=MODES)
def bed(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    with harness.bed_for(request.param) as made:
        made.values["unprivileged"] = request.param
        yield made


def run_role(
    bed: harness.Bed,
    role: str,
    attack: str,
    pem: bytes,
    control: bool = False,
    *,
    domain_key: bytes = b"",
    names: tuple[str, ...] = ("localhost",),
    warm_up: bool = True,
) -> Outcome:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    certificate = bed.root / f"certificate-{role}-{attack}.pem"
    certificate.write_bytes(pem)
    os.chown(certificate, bed.uid, bed.gid)
    peers = ("netproc", "keyproc", "fileproc") if role == "certproc" else ("netproc", "keyproc")
    pairs = {peer: socket.socketpair() for peer in peers}
    values = {
        **bed.values,
        "listener_port": listener.getsockname()[1],
        "marker": str(bed.root / "pwned"),
        "parent_pid": os.getpid(),
        "certificate": str(certificate),
    }
    request = {
        "role": role,
        "attack": attack,
        "bed": values,
        "channels": {peer: theirs.fileno() for peer, (_, theirs) in pairs.items()},
        "drop_to": [bed.uid, bed.gid] if bed.values["unprivileged"] and os.getuid() == 0 else None,
        "control_without_sandbox": control,
        "names": names,
        "warm_up": warm_up,
    }
    child = subprocess.Popen(
        [sys.executable, "-I", str(CHILD), json.dumps(request)],
        pass_fds=[theirs.fileno() for _, theirs in pairs.values()],
        env={},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _, theirs in pairs.values():
        theirs.close()
    received = bytearray()
    try:
        Channel(pairs["keyproc"][0], role).send(DomainKey(domain_key))  # the test is its keyproc
        if role == "certproc":
            Channel(pairs["netproc"][0], "certproc").send(CertBundle(pem=pem))
        for peer, (mine, _) in pairs.items():
            if peer == "keyproc":
                continue  # told, not telling
            mine.settimeout(30)
            while chunk := mine.recv(65536):
                received += chunk
        _, stderr = child.communicate(timeout=30)
        connections = 0
        try:
            listener.accept()[0].close()
            connections = 1
        except BlockingIOError:
            pass
    finally:
        listener.close()
        for mine, _ in pairs.values():
            mine.close()
        if child.poll() is None:
            child.kill()
            child.wait()
    return Outcome(child.returncode, stderr.decode(errors="replace"), bytes(received), connections)


@pytest.mark.parametrize("role", ["certproc", "revokeproc"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_code_execution_in_the_parser_is_contained(bed: harness.Bed, role: str, attack: str) -> None:
    pem = Path(bed.values["bundle"]).read_bytes()
    key = Path(bed.values["account_key"]).read_bytes() if os.access(bed.values["account_key"], os.R_OK) else b""
    outcome = run_role(bed, role, attack, pem)

    assert outcome.returncode == ATTACKS[attack], outcome.stderr
    if outcome.returncode == DENIED:
        assert "internal error: PermissionError" in outcome.stderr
    assert outcome.connections == 0
    assert not (bed.root / "pwned").exists()
    assert not (Path(bed.values["cert_dir"]) / "evil.pem").exists()
    assert b"PRIVATE KEY" not in outcome.received
    if key:
        assert key[40:80] not in outcome.received
    assert b"stolen" not in outcome.received


def test_control_without_the_sandbox_the_same_attacks_reach_their_targets(bed: harness.Bed) -> None:
    """Shows the checks above can fail: unjailed, the key leaves, the connection and the file happen."""
    pem = Path(bed.values["bundle"]).read_bytes()
    leaked = run_role(bed, "certproc", "exfiltrate_key", pem, control=True)
    assert b"PRIVATE KEY" in leaked.received
    assert run_role(bed, "certproc", "connect_out", pem, control=True).connections == 1
    run_role(bed, "revokeproc", "plant_file", pem, control=True)
    planted = Path(bed.values["cert_dir"]) / "evil.pem"
    assert planted.exists()
    planted.unlink()


CRAFTED = {
    "not base64": b"-----BEGIN CERTIFICATE-----\n" + b"!" * 5000 + b"\n-----END CERTIFICATE-----\n",
    "truncated DER": b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpE=\n-----END CERTIFICATE-----\n",
    "no certificate": b"hello\n" * 1000,
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
@pytest.mark.parametrize("role", ["certproc", "revokeproc"])
def test_a_crafted_bundle_is_refused_with_a_clear_error_from_inside_the_jail(
    bed: harness.Bed, role: str, name: str
) -> None:
    outcome = run_role(bed, role, "none", CRAFTED[name])
    assert outcome.returncode == 1, outcome.stderr
    expected = "unreadable certificate bundle" if role == "certproc" else "not a PEM certificate"
    assert expected in outcome.stderr


def test_too_many_certificates_are_refused(bed: harness.Bed) -> None:
    pem = Path(bed.values["bundle"]).read_bytes() * 9  # 18 certificates
    outcome = run_role(bed, "certproc", "none", pem)
    assert outcome.returncode == 1, outcome.stderr
    assert "18 certificates; at most 16 expected" in outcome.stderr


# ---------------------------------------------------------------------------
# Every signature algorithm and key type, checked and judged inside the real jail


ALGORITHMS = [signer[0] for signer in make_samples.SIGNERS]


@pytest.fixture(scope="module")
def fresh() -> dict[str, tuple[bytes, bytes]]:
    """algorithm -> (bundle, its leaf's public key, DER), valid now, made with new keys (not the warm-up samples)."""
    made = {}
    now = datetime.now(timezone.utc)
    for name, issuer_key, algorithm, pad, leaf_key in make_samples.SIGNERS:
        _, pem, public_key, _ = make_samples.sample(name, issuer_key(), algorithm, pad, leaf_key(), now)
        spki = serialization.load_pem_public_key(public_key).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        made[name] = (pem, spki)
    return made


SAMPLE_NAMES = ("sample.invalid", "www.sample.invalid", "192.0.2.1", "2001:db8::1")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_certproc_in_its_jail_checks_a_bundle_signed_with_every_algorithm(bed: harness.Bed, fresh, algorithm: str) -> None:
    """Seccomp, Landlock and the import guard leave room for every CA signature algorithm and key type."""
    pem, spki = fresh[algorithm]
    outcome = run_role(bed, "certproc", "none", pem, domain_key=spki, names=SAMPLE_NAMES)
    assert outcome.returncode == 0, outcome.stderr
    assert b"-----BEGIN CERTIFICATE-----" in outcome.received  # the checked files, on to fileproc
    assert "after its jail" not in outcome.stderr


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_revokeproc_in_its_jail_judges_a_certificate_of_every_kind(bed: harness.Bed, fresh, algorithm: str) -> None:
    pem, spki = fresh[algorithm]
    outcome = run_role(bed, "revokeproc", "none", pem, domain_key=spki, names=SAMPLE_NAMES)
    assert outcome.returncode == 0, outcome.stderr
    assert b"renewal due from" in outcome.received  # the verdict, to netproc
    assert "after its jail" not in outcome.stderr


def test_control_without_its_warm_up_certproc_names_the_module_an_ecdsa_ca_needs(bed: harness.Bed, fresh) -> None:
    """What every ECDSA-signing CA met: now an error naming module and role, not a PermissionError."""
    pem, spki = fresh["ecdsa-p384-sha384"]
    outcome = run_role(bed, "certproc", "none", pem, domain_key=spki, names=SAMPLE_NAMES, warm_up=False)
    assert outcome.returncode == 1
    assert "internal error: certproc tried to import cryptography.hazmat.backends after its jail" in outcome.stderr
    assert "PermissionError" not in outcome.stderr
    assert b"-----BEGIN CERTIFICATE-----" not in outcome.received
