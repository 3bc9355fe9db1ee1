"""The processes a run shares (real pebble): one dnsproc and one acctproc per authority, one
chngproc per challenge directory, each serving every domain it concerns."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_interrupts import as_at_a_terminal, interrupt
from test_issue import EXIT_CHANGED, EXIT_FAILED, chain_processes, child_processes, exited


def second_authority(testbed, workdir, account_key: Path, handle: str) -> str:
    """A second authority block (the same pebble, another account) and one domain signed by it."""
    return testbed.authority_block("second", account_key, "ecdsa") + f"""
domain {handle} {{
	domain key "{workdir.domain_key(handle)}" ecdsa
	domain certificate "{workdir.certificate(handle)}"
	sign with second
	challengedir "{testbed.challenge_dir}"
}}
"""


def exits(stderr: str, name: str, role: str) -> int:
    """How many times -vv said that `name`'s `role` exited with status 0."""
    return exited(stderr, "0").count((name, role))


def shared_processes() -> list[int]:
    """Live shared processes of any run (their spec names the authority or the challenge directory)."""
    return child_processes('"handle":"authority ') + child_processes('"handle":"challengedir ')


def test_each_authority_and_challenge_directory_has_one_set_of_processes_for_all_its_domains(
    testbed, workdir, write_conf, run_client
):
    domains = ("one.shared.example.test", "two.shared.example.test", "three.shared.example.test")
    extra = second_authority(testbed, workdir, workdir.account_key("second"), "other.shared.example.test")
    conf = write_conf(*domains, extra=extra)

    result = run_client("-vv", "-j", "4", conf=conf)

    assert result.returncode == EXIT_CHANGED, result.stderr
    for handle in (*domains, "other.shared.example.test"):
        assert workdir.certificate(handle).exists()
        assert exits(result.stderr, handle, "netproc") == 1
        for shared in ("dnsproc", "acctproc", "chngproc"):
            assert exits(result.stderr, handle, shared) == 0  # not the chain's own
    for authority in ("pebble", "second"):
        assert exits(result.stderr, f"authority {authority}", "dnsproc") == 1, result.stderr
        assert exits(result.stderr, f"authority {authority}", "acctproc") == 1, result.stderr
    # both authorities' domains publish in the one challenge directory the testbed serves
    assert exits(result.stderr, f"challengedir {testbed.challenge_dir}", "chngproc") == 1, result.stderr
    assert list(testbed.challenge_dir.iterdir()) == []
    assert workdir.account_key("pebble").exists() and workdir.account_key("second").exists()
    assert shared_processes() == []


def test_an_unusable_account_key_fails_only_that_authoritys_domains(testbed, workdir, write_conf, run_client):
    broken = workdir.account_key("second")
    broken.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    broken.chmod(0o400)
    extra = second_authority(testbed, workdir, broken, "unsigned.example.test")
    conf = write_conf("signed.example.test", extra=extra)

    result = run_client("-v", conf=conf)

    assert result.returncode == EXIT_FAILED
    assert workdir.certificate("signed.example.test").exists()
    assert not workdir.certificate("unsigned.example.test").exists()
    assert "authority second: acctproc:" in result.stderr and str(broken) in result.stderr, result.stderr
    assert "unsigned.example.test: failed (the processes of authority second failed)" in result.stderr
    assert "signed.example.test: certificate updated" in result.stderr
    assert "Traceback" not in result.stderr
    assert broken.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\nnot a key")  # left as it was
    assert shared_processes() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only a run as root refuses a directory on a path others may write")
def test_a_challenge_directory_its_chngproc_refuses_fails_only_its_domains(testbed, workdir, write_conf, run_client):
    # root's directory under one every user may write in: there for the parent's look before
    # anything starts (preflight.py), refused by chngproc as root, whose failure fails every
    # domain it serves and no other
    shared = workdir.root / "anyone-writes-here"
    shared.mkdir()
    shared.chmod(0o777)
    missing = shared / "webroot"
    missing.mkdir()
    lost = f"""
domain lost.example.test {{
	domain key "{workdir.domain_key('lost.example.test')}" ecdsa
	domain certificate "{workdir.certificate('lost.example.test')}"
	sign with pebble
	challengedir "{missing}"
}}
"""
    conf = write_conf("found.example.test", extra=lost)

    result = run_client("-vv", conf=conf)

    assert result.returncode == EXIT_FAILED
    assert workdir.certificate("found.example.test").exists()
    assert not workdir.certificate("lost.example.test").exists()
    assert f"challengedir {missing}: chngproc: " in result.stderr, result.stderr
    assert exits(result.stderr, f"challengedir {testbed.challenge_dir}", "chngproc") == 1
    assert f"lost.example.test: failed (the processes of challengedir {missing} failed)" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(missing.iterdir()) == []  # nothing written there
    assert shared_processes() == []


def test_interrupt_stops_the_shared_processes_too(make_testbed, workdir, write_conf):
    slow = make_testbed(answer_delay=5)  # the CA's validation takes 5 s (pebble's own sleep may be 0)
    conf = write_conf("first.stopped.example.test", "second.stopped.example.test", testbed=slow)
    assert slow.challenge_dir is not None
    client = subprocess.Popen(
        [sys.executable, "-m", "acme_conf", "-j", "1", "-f", str(conf)],
        stderr=subprocess.PIPE, text=True, cwd=workdir.root, preexec_fn=as_at_a_terminal,
    )
    deadline = time.monotonic() + 20
    while not any(slow.challenge_dir.iterdir()):  # the first chain is mid-protocol, the second waits
        assert time.monotonic() < deadline, "the chain never published its challenge"
        time.sleep(0.01)
    assert shared_processes() != []
    interrupt(client)
    _, stderr = client.communicate(timeout=30)
    assert client.returncode == EXIT_FAILED, stderr
    assert "Traceback" not in stderr
    assert chain_processes("first.stopped.example.test") == []
    assert shared_processes() == []
    assert list(slow.challenge_dir.iterdir()) == []


def test_many_domains_fit_under_a_low_descriptor_limit(workdir, write_conf):
    # The parent holds three channel ends for every domain not yet started,
    # and each shared process one per domain: a run of many domains must not die
    # of EMFILE under a soft limit of 64 (1024 is the usual default, with
    # a far higher hard limit). -r with no certificates keeps it quick: every
    # chain starts, and each stops at revokeproc's "no certificate to revoke".
    handles = [f"d{i}.many.example.test" for i in range(48)]
    conf = write_conf(*handles)

    def low_limit() -> None:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))

    done = subprocess.run(
        [sys.executable, "-m", "acme_conf", "-r", "-j", "4", "-f", str(conf)],
        capture_output=True, text=True, cwd=workdir.root, timeout=300, preexec_fn=low_limit, check=False,
    )
    assert done.returncode == EXIT_FAILED
    assert done.stderr.count(": revokeproc: ") == len(handles), done.stderr  # no certificate to revoke, each said once
    assert len([line for line in done.stderr.splitlines() if line.endswith(": no certificate to revoke)")]) == len(handles)  # the summaries
    assert "Too many open files" not in done.stderr
    assert shared_processes() == []


def test_a_hard_descriptor_limit_too_low_for_the_run_is_a_clear_error(workdir, write_conf):
    handles = [f"d{i}.capped.example.test" for i in range(48)]
    conf = write_conf(*handles)

    def capped() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    done = subprocess.run(
        [sys.executable, "-m", "acme_conf", "-f", str(conf)],
        capture_output=True, text=True, cwd=workdir.root, timeout=60, preexec_fn=capped, check=False,
    )
    assert done.returncode == EXIT_FAILED
    assert "48 domains in one run need 400 open descriptors, over the limit of 64" in done.stderr, done.stderr
    assert "ulimit -n" in done.stderr and "Traceback" not in done.stderr
    assert list(workdir.key_dir.iterdir()) == []  # nothing was started


def test_a_domain_lets_go_of_its_challenge_files_and_key_once_it_no_longer_needs_them(
    testbed, write_conf, run_client
):
    handle = "prompt.example.test"
    result = run_client("-vv", conf=write_conf(handle))

    assert result.returncode == EXIT_CHANGED, result.stderr
    lines = result.stderr.splitlines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    downloaded = first(f"acme-client: {handle}: netproc: certificate downloaded")
    removed = first(f"challengedir {testbed.challenge_dir}: chngproc: removed ")
    key_gone = first(f"{handle}: keyproc exited 0")
    assert removed < downloaded, result.stderr  # authorized: the files go before the certificate comes
    assert key_gone < downloaded, result.stderr  # the CSR given, keyproc and its key are gone
