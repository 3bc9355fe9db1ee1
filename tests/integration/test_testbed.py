"""The testbed itself: pebble, its DNS server and the http-01 responder really answer."""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID
from testbed import (
    ChallengeServer,
    PebbleBinaries,
    Testbed,
    TestbedError,
    dns_query,
    fetch_pebble,
    find_pebble,
)

if TYPE_CHECKING:
    from integration_common import Workdir

REPO_ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------
# helpers


def https_get(url_host: str, port: int, path: str, context: ssl.SSLContext, server_hostname: str | None = None):
    sock = socket.create_connection((url_host, port), timeout=5)
    tls = context.wrap_socket(sock, server_hostname=server_hostname or url_host)
    conn = http.client.HTTPConnection(url_host, port, timeout=5)
    conn.sock = tls
    conn.request("GET", path, headers={"User-Agent": "testbed-test"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def raw_get(port: int, path: str, host: str = "a.example.test", method: str = "GET") -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def child_pids() -> set[int]:
    """Live (not zombie) child processes of this test process."""
    return children_of(os.getpid())


def children_of(parent: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat_line.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: set[int], seconds: float = 10.0) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {pid for pid in pids if alive(pid)}
        if not left:
            return set()
        time.sleep(0.05)
    return {pid for pid in pids if alive(pid)}


def forge_leaf(issuer_cert: x509.Certificate, issuer_key, name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=6))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# ---------------------------------------------------------------------------
# fetching


def test_fetched_binaries_are_debian_pebble_2_10_or_newer(pebble_bin: PebbleBinaries) -> None:
    assert find_pebble() == pebble_bin  # the cache is where fetch put it
    upstream = pebble_bin.version.split("+")[0].split("-")[0]
    assert tuple(int(part) for part in upstream.split(".")[:2]) >= (2, 10), pebble_bin.version
    usage = subprocess.run([str(pebble_bin.challtestsrv), "-h"], check=False, capture_output=True, text=True).stderr
    assert "-dnsserver" in usage


def test_fetch_is_idempotent_and_finds_nothing_in_an_empty_cache(pebble_bin: PebbleBinaries, tmp_path: Path) -> None:
    before = pebble_bin.pebble.stat().st_mtime_ns
    assert fetch_pebble() == pebble_bin
    assert pebble_bin.pebble.stat().st_mtime_ns == before
    assert find_pebble(tmp_path) is None


# ---------------------------------------------------------------------------
# pebble over TLS


def test_directory_answers_over_tls_verified_with_generated_ca(testbed: Testbed) -> None:
    context = ssl.create_default_context(cafile=str(testbed.ca_file))
    port = testbed.ports["acme"]
    response, body = https_get("127.0.0.1", port, "/dir", context)
    assert response.status == 200
    directory = json.loads(body)
    base = f"https://127.0.0.1:{port}/"
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
        assert directory[key].startswith(base), key
    assert set(directory["meta"]["profiles"]) == {"default", "shortlived"}
    assert directory["meta"]["externalAccountRequired"] is False
    assert testbed.directory_url == base + "dir"


def test_directory_fails_verification_with_system_trust_store(testbed: Testbed) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get("127.0.0.1", testbed.ports["acme"], "/dir", ssl.create_default_context())


def test_pebble_certificate_names_localhost_and_loopback_only(testbed: Testbed) -> None:
    context = ssl.create_default_context(cafile=str(testbed.ca_file))
    port = testbed.ports["acme"]
    response, _ = https_get("127.0.0.1", port, "/dir", context, server_hostname="localhost")
    assert response.status == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get("127.0.0.1", port, "/dir", context, server_hostname="acme.example.test")


def test_new_nonce_hands_out_replay_nonces(testbed: Testbed) -> None:
    context = ssl.create_default_context(cafile=str(testbed.ca_file))
    port = testbed.ports["acme"]
    nonces = set()
    for _ in range(2):
        response, _ = https_get("127.0.0.1", port, "/nonce-plz", context)
        assert response.status == 204
        nonces.add(response.headers["Replay-Nonce"])
    assert len(nonces) == 2 and all(nonces)


def test_management_serves_issuing_hierarchy_distinct_from_tls_ca(testbed: Testbed) -> None:
    root = x509.load_pem_x509_certificate(testbed.root_pem().encode())
    intermediate = x509.load_pem_x509_certificate(testbed.intermediate_pem().encode())
    tls_ca = x509.load_pem_x509_certificate(testbed.ca_file.read_bytes())
    assert root.subject == root.issuer
    assert intermediate.issuer == root.subject
    intermediate.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert tls_ca.subject != root.subject
    with pytest.raises(TestbedError, match="HTTP 404"):
        testbed.root_pem(1)  # no alternate roots unless asked for


def test_verify_chain_accepts_only_chains_to_pebbles_root(testbed: Testbed) -> None:
    intermediate = x509.load_pem_x509_certificate(testbed.intermediate_pem().encode())
    intermediate_key = serialization.load_pem_private_key(testbed.intermediate_key_pem().encode(), None)
    leaf = forge_leaf(intermediate, intermediate_key, "a.example.test")
    path = testbed.verify_chain(pem(leaf) + pem(intermediate), "a.example.test")
    assert [cert.subject for cert in path[1:]] == [intermediate.subject, intermediate.issuer]
    with pytest.raises(verification.VerificationError):
        testbed.verify_chain(pem(leaf) + pem(intermediate), "b.example.test")
    with pytest.raises(verification.VerificationError):
        testbed.verify_chain(pem(leaf), "a.example.test")  # intermediate missing

    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not Pebble")])
    now = datetime.datetime.now(datetime.UTC)
    stranger = (
        x509.CertificateBuilder().subject_name(stranger_name).issuer_name(stranger_name)
        .public_key(stranger_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(stranger_key, hashes.SHA256())
    )
    foreign_leaf = forge_leaf(stranger, stranger_key, "a.example.test")
    with pytest.raises(verification.VerificationError):
        testbed.verify_chain(pem(foreign_leaf) + pem(stranger), "a.example.test")


def test_cert_status_of_unknown_serial_is_none(testbed: Testbed) -> None:
    assert testbed.cert_status("0123456789abcdef") is None
    with pytest.raises(ValueError):
        testbed.cert_status("../roots/0")


def test_set_renewal_info_reports_certificates_pebble_did_not_issue(testbed: Testbed) -> None:
    intermediate = x509.load_pem_x509_certificate(testbed.intermediate_pem().encode())
    intermediate_key = serialization.load_pem_private_key(testbed.intermediate_key_pem().encode(), None)
    leaf = forge_leaf(intermediate, intermediate_key, "a.example.test")
    window = {"suggestedWindow": {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}}
    with pytest.raises(TestbedError, match="not found"):
        testbed.set_renewal_info(pem(leaf), window)


def test_authority_block_names_directory_key_and_ca_file(testbed: Testbed, workdir: Workdir) -> None:
    block = testbed.authority_block("pebble", workdir.account_key())
    assert block.splitlines() == [
        "authority pebble {",
        f'\tapi url "{testbed.directory_url}"',
        f'\taccount key "{workdir.account_key()}" ecdsa',
        f'\tca file "{testbed.ca_file}"',
        "}",
    ]
    with pytest.raises(ValueError):
        testbed.authority_block('pe"bble')
    with pytest.raises(ValueError):
        testbed.authority_block("pebble", '/tmp/evil"\n}\nauthority x {')


# ---------------------------------------------------------------------------
# the http-01 responder


def test_challenge_file_is_served_and_logged(testbed: Testbed, challenge_dir: Path) -> None:
    token = "tok_EN-123abc"
    (challenge_dir / token).write_bytes(b"tok_EN-123abc.thumbprint")
    try:
        status, body = raw_get(testbed.http_port, f"/.well-known/acme-challenge/{token}", host="x.example.test:1")
    finally:
        (challenge_dir / token).unlink()
    assert (status, body) == (200, b"tok_EN-123abc.thumbprint")
    assert testbed.http_requests == [f"/.well-known/acme-challenge/{token}"]
    assert testbed.http_log[0].host == "x.example.test:1"
    assert testbed.http_log[0].status == 200


def test_the_responder_can_be_slow_on_purpose(tmp_path: Path) -> None:
    (tmp_path / "tok_EN-slow").write_bytes(b"tok_EN-slow.thumbprint")
    server = ChallengeServer(tmp_path, delay=0.3)
    server.start()
    try:
        started = time.monotonic()
        answer = raw_get(server.port, "/.well-known/acme-challenge/tok_EN-slow")
        waited = time.monotonic() - started
    finally:
        server.stop()
    assert answer == (200, b"tok_EN-slow.thumbprint")
    assert waited >= 0.3


def test_missing_token_and_other_paths_are_404(testbed: Testbed, challenge_dir: Path) -> None:
    (challenge_dir / "present").write_text("present.thumb")
    try:
        for path in (
            "/.well-known/acme-challenge/absent",
            "/.well-known/acme-challenge/",
            "/.well-known/acme-challenge/present?x=1",
            "/.well-known/acme-challenge/present/",
            "/present",
            "/",
        ):
            assert raw_get(testbed.http_port, path)[0] == 404, path
        assert raw_get(testbed.http_port, "/.well-known/acme-challenge/present", method="POST")[0] == 501
    finally:
        (challenge_dir / "present").unlink()
    assert len(testbed.http_requests) == 6  # every GET is logged, found or not


def test_path_traversal_and_symlinks_are_refused(testbed: Testbed, challenge_dir: Path) -> None:
    secret = challenge_dir.parent / "secret"
    secret.write_text("do not serve")
    (challenge_dir / "link").symlink_to(secret)
    (challenge_dir / "subdir").mkdir()
    try:
        for path in (
            "/.well-known/acme-challenge/../secret",
            "/.well-known/acme-challenge/%2e%2e%2fsecret",
            "/.well-known/acme-challenge/..%2Fsecret",
            "/.well-known/acme-challenge/link",
            "/.well-known/acme-challenge/subdir",
            "/.well-known/acme-challenge//" + str(secret),
            "/.well-known/acme-challenge/" + str(secret),
        ):
            status, body = raw_get(testbed.http_port, path)
            assert status == 404, path
            assert b"do not serve" not in body
    finally:
        (challenge_dir / "link").unlink()
        (challenge_dir / "subdir").rmdir()
        secret.unlink()


# ---------------------------------------------------------------------------
# challtestsrv: pebble's DNS


def test_dns_resolves_any_name_to_loopback_ipv4_only(testbed: Testbed) -> None:
    for name in ("a.example.test", "www.some-other.example", "x.y.z.invalid"):
        assert dns_query(testbed.dns_address, name, "A") == ["127.0.0.1"]
        assert dns_query(testbed.dns_address, name, "AAAA") == []


def test_txt_records_can_be_set_and_cleared(testbed: Testbed) -> None:
    host = "_acme-challenge.txt.example.test"
    assert dns_query(testbed.dns_address, host, "TXT") == []
    testbed.set_txt(host, "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0")
    try:
        assert dns_query(testbed.dns_address, host, "TXT") == ["LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"]
        assert dns_query(testbed.dns_address, "_acme-challenge.other.example.test", "TXT") == []
    finally:
        testbed.clear_txt(host)
    assert dns_query(testbed.dns_address, host, "TXT") == []


# ---------------------------------------------------------------------------
# options reach pebble


def test_options_reach_pebble(make_testbed, tmp_path: Path) -> None:
    served = tmp_path / "served"
    special = make_testbed(
        challenge_dir=served, always_valid=True, nonce_reject=0, authz_reuse=100, alternate_roots=1,
        eab_keys={"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"},
        profiles={"only": ("the one profile", 7 * 86400)},
    )
    log = special.pebble_log
    assert "VA always returns valid" in log
    assert "reject 0% of good nonces" in log
    assert "authz reuse for each identifier 100%" in log
    assert 'Loaded profile "only" with certificate validity period of 604800 seconds' in log
    assert special.challenge_dir == served and served.is_dir()
    context = ssl.create_default_context(cafile=str(special.ca_file))
    _, body = https_get("127.0.0.1", special.ports["acme"], "/dir", context)
    meta = json.loads(body)["meta"]
    assert meta["externalAccountRequired"] is True
    assert meta["profiles"] == {"only": "the one profile"}
    assert special.root_pem(1) != special.root_pem(0)


def test_key_algorithm_sets_the_issuing_hierarchys_keys(testbed: Testbed, make_testbed) -> None:
    fast = make_testbed(key_algorithm="ecdsa")
    for running, key_type in ((testbed, rsa.RSAPublicKey), (fast, ec.EllipticCurvePublicKey)):
        for pem_text in (running.root_pem(), running.intermediate_pem()):
            assert isinstance(x509.load_pem_x509_certificate(pem_text.encode()).public_key(), key_type)
    with pytest.raises(ValueError):
        Testbed(key_algorithm="dsa")


def test_default_testbed_validates_and_rejects_some_nonces(testbed: Testbed) -> None:
    log = testbed.pebble_log
    assert "Disabling random VA sleeps" in log
    assert "VA always returns valid" not in log
    assert "reject 5% of good nonces" in log


def test_two_testbeds_run_side_by_side(testbed: Testbed, make_testbed) -> None:
    other = make_testbed()
    assert set(other.ports.values()).isdisjoint(testbed.ports.values())
    assert other.root_pem() != testbed.root_pem()  # each pebble is a new CA
    assert other.start_seconds is not None and other.start_seconds > 0


# ---------------------------------------------------------------------------
# life cycle: clear errors, no orphans


def test_stop_ends_both_servers_and_removes_state(pebble_bin: PebbleBinaries) -> None:
    before = child_pids()
    running = Testbed(binaries=pebble_bin)
    running.start()
    pids = set(running.pids.values())
    state = running.state_dir
    assert len(pids) == 2 and pids <= child_pids() - before
    running.stop()
    running.stop()  # twice is harmless
    assert wait_gone(pids, 1.0) == set()
    assert state is not None and not state.exists()
    assert child_pids() == before


def test_pebble_dying_at_start_is_a_clear_error_without_orphans(pebble_bin: PebbleBinaries, tmp_path: Path) -> None:
    broken = tmp_path / "pebble"
    broken.write_text("#!/bin/sh\necho 'pebble: cannot start, on purpose' >&2\nexit 3\n")
    broken.chmod(0o755)
    before = child_pids()
    bad = Testbed(binaries=PebbleBinaries(pebble=broken, challtestsrv=pebble_bin.challtestsrv, version="x"))
    with pytest.raises(TestbedError, match=r"(?s)pebble exited with status 3.*cannot start, on purpose"):
        bad.start()
    assert child_pids() == before
    assert bad.state_dir is None


def test_cli_run_serves_until_terminated(pebble_bin: PebbleBinaries, tmp_path: Path) -> None:
    env_file = tmp_path / "testbed.env"
    authority_file = tmp_path / "authority.conf"
    served = tmp_path / "served"
    runner = subprocess.Popen(
        [
            sys.executable, str(REPO_ROOT / "tools" / "testbed.py"), "run", "--challengedir", str(served),
            "--write-env", str(env_file), "--write-authority", str(authority_file),
            "--account-key", str(tmp_path / "account.key"),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists():
            assert runner.poll() is None, runner.stdout.read() if runner.stdout else ""
            assert time.monotonic() < deadline, "testbed run never became ready"
            time.sleep(0.05)
        facts = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        directory_url = facts["ACME_TESTBED_DIRECTORY_URL"]
        ca_file = facts["ACME_TESTBED_CA_FILE"]
        port = int(directory_url.split(":")[2].split("/")[0])
        response, _ = https_get("127.0.0.1", port, "/dir", ssl.create_default_context(cafile=ca_file))
        assert response.status == 200
        assert f'api url "{directory_url}"' in authority_file.read_text()
        assert f'ca file "{ca_file}"' in authority_file.read_text()
        servers = children_of(runner.pid)
        assert len(servers) == 2
        runner.send_signal(signal.SIGTERM)
        output, _ = runner.communicate(timeout=20)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 0, output
    assert "ready" in output and directory_url in output
    assert wait_gone(servers) == set()
    assert not env_file.exists() and not authority_file.exists()


def test_cli_run_killed_hard_leaves_no_orphans(pebble_bin: PebbleBinaries, tmp_path: Path) -> None:
    env_file = tmp_path / "testbed.env"
    runner = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "tools" / "testbed.py"), "run", "--write-env", str(env_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists():
            assert runner.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        servers = children_of(runner.pid)
        assert len(servers) == 2
    finally:
        runner.kill()  # SIGKILL: no cleanup code runs in the runner
        runner.wait()
    assert wait_gone(servers) == set()
    # What a killed runner cannot remove itself:
    facts = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    shutil.rmtree(facts["ACME_TESTBED_STATE_DIR"].strip("'"))


# ---------------------------------------------------------------------------
# the conftest helpers


def test_workdir_modes(workdir: Workdir) -> None:
    assert stat.S_IMODE(workdir.account_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(workdir.key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(workdir.cert_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(workdir.root.stat().st_mode) == 0o755


def test_write_conf_lays_out_authority_and_domains(testbed: Testbed, workdir: Workdir, write_conf) -> None:
    path = write_conf("a.example.test", ["b.example.test", "c.example.test"], profile="shortlived")
    text = path.read_text()
    assert path.parent == workdir.root
    assert text.startswith(testbed.authority_block("pebble", workdir.account_key()))
    assert re.findall(r"^domain (\S+) \{$", text, re.MULTILINE) == ["a.example.test", "b.example.test"]
    assert 'alternative names { "c.example.test" }' in text
    assert f'domain key "{workdir.domain_key("b.example.test")}" ecdsa' in text
    assert f'domain full chain certificate "{workdir.fullchain("a.example.test")}"' in text
    assert text.count(f'challengedir "{testbed.challenge_dir}"') == 2
    assert text.count("sign with pebble") == 2
    assert text.count('profile "shortlived"') == 2


def test_start_retries_when_a_port_is_taken_meanwhile(pebble_bin: PebbleBinaries, monkeypatch) -> None:
    import testbed as testbed_module

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_free_port = testbed_module.free_tcp_port
    handed_out = iter([taken])
    monkeypatch.setattr(testbed_module, "free_tcp_port", lambda: next(handed_out, None) or real_free_port())
    try:
        with Testbed(binaries=pebble_bin) as running:
            assert running.ports["acme"] != taken
            assert "address already in use" not in running.pebble_log
    finally:
        squatter.close()
