"""acme-client against a real pebble, with real http-01 validation.

Every test runs the installed command line (python -m acme_conf) against
the testbed: pebble-challtestsrv resolves every test name to 127.0.0.1 and
pebble fetches http-01 files from the testbed's HTTP server, which serves
the challenge directory chngproc writes into.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from acme_conf.proc.locks import lock_directory

EXIT_CHANGED, EXIT_FAILED, EXIT_UNCHANGED = 0, 1, 2


def leaf(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def san(certificate: x509.Certificate) -> set[str]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*names.get_values_for_type(x509.DNSName), *(str(ip) for ip in names.get_values_for_type(x509.IPAddress))}


def child_processes(spec_text: str) -> list[int]:
    """Live acme-client children whose command line (it carries the spec) contains `spec_text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"acme_conf.proc" in cmdline and spec_text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def exited(stderr: str, status: str = r"-?\d+") -> list[tuple[str, str]]:
    """(name, role) of every child that -vv says exited (with `status`, a pattern), in order."""
    return re.findall(rf"acme-client: (.+?): (\w+proc) exited {status} after", stderr)


def chain_processes(handle: str) -> list[int]:
    """Live processes of the chain for `handle`."""
    return child_processes(f'"handle":"{handle}"')


@pytest.mark.parametrize("keytype", ["ecdsa", "rsa"])
def test_first_issuance_then_nothing_to_do(keytype, testbed, challenge_dir, workdir, write_conf, run_client):
    handle = f"first-{keytype}.example.test"
    conf = write_conf([handle, f"www.{handle}"], keytype=keytype, account_keytype=keytype, chain=True)

    first = run_client("-v", handle, conf=conf)
    assert first.returncode == EXIT_CHANGED, first.stderr
    assert "created account https://" in first.stderr

    # the domain key: created, private, of the configured type
    key_path = workdir.domain_key(handle)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o400
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey if keytype == "ecdsa" else rsa.RSAPrivateKey)
    if keytype == "rsa":
        assert key.key_size == 4096
    else:
        assert key.curve.name == "secp384r1"

    # the certificate: our key, exactly our names, chaining to pebble's root
    certificate = leaf(workdir.certificate(handle))
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert san(certificate) == {handle, f"www.{handle}"}
    fullchain = workdir.fullchain(handle).read_bytes()
    assert fullchain == workdir.certificate(handle).read_bytes() + workdir.chain(handle).read_bytes()
    testbed.verify_chain(fullchain, handle)
    for path in (workdir.certificate(handle), workdir.chain(handle), workdir.fullchain(handle)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o444

    # pebble really fetched the challenge from our HTTP server, and it is gone now
    assert any("/.well-known/acme-challenge/" in path for path in testbed.http_requests)
    assert list(challenge_dir.iterdir()) == []

    second = run_client(handle, conf=conf)
    assert second.returncode == EXIT_UNCHANGED, second.stderr
    assert second.stderr == ""  # nothing to do: silent, as cron wants it (-v gives the summary line)
    told = run_client("-v", handle, conf=conf)
    assert told.stderr.splitlines()[-1].startswith(
        f"acme-client: {handle}: nothing to do ({workdir.certificate(handle)}: certificate valid until "
    ), told.stderr
    assert leaf(workdir.certificate(handle)).serial_number == certificate.serial_number


def test_current_certificate_needs_no_network(testbed, workdir, write_conf, run_client):
    handle = "quiet.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    # The same configuration, but the CA's port now refuses connections: a run
    # that made any request at all would fail instead of reporting "nothing to do".
    text = conf.read_text().replace(testbed.directory_url, "https://127.0.0.1:9/dir")
    offline = conf.with_name("offline.conf")
    offline.write_text(text)
    result = run_client("-v", handle, conf=offline)
    assert result.returncode == EXIT_UNCHANGED, result.stderr
    assert "renewal due from" in result.stderr


def test_force_reissues_and_keeps_backup(workdir, write_conf, run_client):
    handle = "force.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    before = workdir.certificate(handle).read_bytes()

    forced = run_client("-F", handle, conf=conf)
    assert forced.returncode == EXIT_CHANGED, forced.stderr
    after = workdir.certificate(handle).read_bytes()
    assert after != before
    assert Path(f"{workdir.certificate(handle)}.1").read_bytes() == before
    assert Path(f"{workdir.fullchain(handle)}.1").exists()
    # no temporary files left in the certificate directory
    assert not [p.name for p in workdir.cert_dir.iterdir() if p.name.startswith(".")]


def test_revoke_then_remove(testbed, workdir, write_conf, run_client):
    handle = "revoke.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    serial = f"{leaf(workdir.certificate(handle)).serial_number:x}"
    assert testbed.cert_status(serial)["Status"] == "Valid"

    revoked = run_client("-r", handle, conf=conf)
    assert revoked.returncode == EXIT_CHANGED, revoked.stderr
    assert "revoked" in revoked.stderr
    assert testbed.cert_status(serial)["Status"] == "Revoked"
    assert not workdir.certificate(handle).exists()
    assert not workdir.fullchain(handle).exists()

    again = run_client("-r", handle, conf=conf)
    assert again.returncode == EXIT_FAILED
    assert "no certificate to revoke" in again.stderr


def test_revoke_with_a_reason(testbed, workdir, write_conf, run_client):
    handle = "revoke-reason.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    serial = f"{leaf(workdir.certificate(handle)).serial_number:x}"
    revoked = run_client("-vv", "-R", "keyCompromise", handle, conf=conf)
    assert revoked.returncode == EXIT_CHANGED, revoked.stderr
    assert "chngproc" not in {role for _, role in exited(revoked.stderr)}  # nothing ordered: no chngproc started
    assert "acctproc" in {role for _, role in exited(revoked.stderr)}
    status = testbed.cert_status(serial)
    assert status["Status"] == "Revoked" and status.get("Reason") == 1, status
    assert not workdir.certificate(handle).exists()


def test_revoke_with_the_domain_key_when_the_account_is_lost(testbed, workdir, write_conf, run_client):
    handle = "revoke-by-key.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    serial = f"{leaf(workdir.certificate(handle)).serial_number:x}"
    workdir.account_key().unlink()  # the account is lost
    revoked = run_client("-v", "-K", "-R", "superseded", handle, conf=conf)
    assert revoked.returncode == EXIT_CHANGED, revoked.stderr
    assert "netproc: account " not in revoked.stderr and "netproc: created account" not in revoked.stderr  # none used
    assert "acctproc" not in revoked.stderr and "chngproc" not in revoked.stderr  # neither started
    assert not workdir.account_key().exists()  # no account key created in its place
    status = testbed.cert_status(serial)
    assert status["Status"] == "Revoked" and status.get("Reason") == 4, status
    assert not workdir.certificate(handle).exists()


def test_changed_alternative_names_force_renewal(workdir, write_conf, run_client):
    handle = "names.example.test"
    conf = write_conf(handle)
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    conf = write_conf([handle, "extra.names.example.test"])
    result = run_client("-v", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert "names differ" in result.stderr
    assert san(leaf(workdir.certificate(handle))) == {handle, "extra.names.example.test"}


def test_bad_nonce_storm(make_testbed, workdir, write_conf, run_client):
    stormy = make_testbed(nonce_reject=50)
    handle = "storm.example.test"
    conf = write_conf([handle, "a.storm.example.test", "b.storm.example.test"], testbed=stormy)
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert "nonce rejected" in result.stderr
    stormy.verify_chain(workdir.fullchain(handle).read_bytes(), handle)


def test_shortlived_profile(workdir, write_conf, run_client):
    handle = "short.example.test"
    conf = write_conf(handle, profile="shortlived")
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED
    certificate = leaf(workdir.certificate(handle))
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime < timedelta(days=7)
    # a fresh six-day certificate is not yet due (renewal at half its lifetime)
    assert run_client(handle, conf=conf).returncode == EXIT_UNCHANGED


def test_unknown_profile_is_refused(workdir, write_conf, run_client):
    conf = write_conf("noprofile.example.test", profile="nonesuch")
    result = run_client("noprofile.example.test", conf=conf)
    assert result.returncode == EXIT_FAILED
    assert "does not offer profile nonesuch" in result.stderr


def test_ip_identifier(testbed, workdir, write_conf, run_client):
    conf = write_conf(["ip.example.test", "127.0.0.1"])
    result = run_client("ip.example.test", conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert san(leaf(workdir.certificate("ip.example.test"))) == {"ip.example.test", "127.0.0.1"}
    testbed.verify_chain(workdir.fullchain("ip.example.test").read_bytes(), "127.0.0.1")


def test_ipv6_identifier(testbed, workdir, write_conf, run_client):
    """RFC 8738: pebble fetches the file from [::1] itself, where the responder listens too."""
    testbed.clear_http_log()
    conf = write_conf(["ip6.example.test", "::1", "127.0.0.1"])
    result = run_client("ip6.example.test", conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert san(leaf(workdir.certificate("ip6.example.test"))) == {"ip6.example.test", "::1", "127.0.0.1"}
    testbed.verify_chain(workdir.fullchain("ip6.example.test").read_bytes(), "::1")
    # validated for real over http-01, the IPv6 address's file fetched from [::1]
    hosts = {request.host for request in testbed.http_log if request.status == 200}
    assert any(host.startswith("[::1]") for host in hosts), hosts


def test_two_domains_in_one_run_and_all_by_default(workdir, write_conf, run_client):
    conf = write_conf("one.example.test", "two.example.test", "three.example.test")
    both = run_client("one.example.test", "two.example.test", conf=conf)
    assert both.returncode == EXIT_CHANGED, both.stderr
    assert workdir.certificate("one.example.test").exists()
    assert workdir.certificate("two.example.test").exists()
    assert not workdir.certificate("three.example.test").exists()

    every = run_client("-j", "3", conf=conf)  # no handle: every domain block
    assert every.returncode == EXIT_CHANGED, every.stderr
    assert workdir.certificate("three.example.test").exists()
    assert run_client(conf=conf).returncode == EXIT_UNCHANGED


def test_failure_in_one_domain_fails_the_run(workdir, write_conf, run_client):
    unserved = workdir.root / "unserved"
    unserved.mkdir()
    bad = f"""
domain bad.example.test {{
	domain key "{workdir.domain_key('bad.example.test')}" ecdsa
	domain certificate "{workdir.certificate('bad.example.test')}"
	challengedir "{unserved}"
}}
"""
    conf = write_conf("good.example.test", extra=bad)
    result = run_client(conf=conf)
    assert result.returncode == EXIT_FAILED
    assert workdir.certificate("good.example.test").exists()
    assert not workdir.certificate("bad.example.test").exists()
    assert "bad.example.test" in result.stderr
    assert run_client(conf=conf).returncode == EXIT_FAILED  # good is current; bad still fails


def test_failed_validation_cleans_up(testbed, workdir, write_conf, run_client, tmp_path):
    unserved = workdir.root / "unserved"
    unserved.mkdir()
    conf = write_conf("unserved.example.test", challengedir=unserved)
    result = run_client("unserved.example.test", conf=conf)
    assert result.returncode == EXIT_FAILED
    assert "authorization invalid" in result.stderr
    assert "404" in result.stderr  # the CA's own detail, passed on
    assert list(unserved.iterdir()) == []  # chngproc removed what it wrote
    assert not workdir.certificate("unserved.example.test").exists()
    assert chain_processes("unserved.example.test") == []


def test_wrong_key_type_names_the_process(workdir, write_conf, run_client):
    handle = "keytype.example.test"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import serialization

    workdir.domain_key(handle).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    workdir.domain_key(handle).chmod(0o400)
    conf = write_conf(handle, keytype="ecdsa")
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert "keyproc" in result.stderr and "RSA key but the configuration says ecdsa" in result.stderr
    assert not workdir.certificate(handle).exists()
    assert chain_processes(handle) == []


def test_broken_account_key_is_reported_and_kept(workdir, write_conf, run_client):
    handle = "brokenkey.example.test"
    workdir.account_key().write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    workdir.account_key().chmod(0o600)
    conf = write_conf(handle)
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert "acctproc" in result.stderr and "not a PEM private key" in result.stderr
    assert b"not base64" in workdir.account_key().read_bytes()  # never replaced


def test_a_running_domain_is_locked(workdir, write_conf, run_client):
    handle = "locked.example.test"
    conf = write_conf(handle)
    directory = lock_directory()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory / f"{handle}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = run_client(handle, conf=conf)
    finally:
        os.close(fd)
    assert result.returncode == EXIT_FAILED
    assert "another acme-client run holds" in result.stderr
    assert run_client(handle, conf=conf).returncode == EXIT_CHANGED


def test_jobs_bound_how_many_chains_run_at_once(workdir, write_conf, run_client):
    handles = [f"bound{i}.example.test" for i in range(4)]
    conf = write_conf(*handles)
    for bound in (1, 2):
        result = run_client("-vv", "-F", "-j", str(bound), conf=conf)
        assert result.returncode == EXIT_CHANGED, result.stderr
        running, most = 0, 0
        for line in result.stderr.splitlines():
            if line.endswith("running)") and ": chain started (" in line:
                running += 1
            elif line.endswith(": chain finished"):
                running -= 1
            most = max(most, running)
        assert most == bound  # four chains, never more than the bound at once, and the bound is used
