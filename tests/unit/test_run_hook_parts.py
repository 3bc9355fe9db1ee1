"""The run hook's pieces without a CA: its document, which hooks a run calls for, and runhookproc running the program."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from acme_conf.config.plan import Authority, DomainJob, KeyType, Location, RunHook
from acme_conf.errors import ProcessFailure
from acme_conf.proc import runhookproc
from acme_conf.proc.errors import EXIT_FAILED, EXIT_OK
from acme_conf.proc.reports import ChainResult
from acme_conf.proc.run_document import run_document
from acme_conf.proc.run_hook import hooks_due, run_hooks_after
from acme_conf.proc.settings import RunOptions
from acme_conf.proc.spec import ChildSpec, RunHookSettings

AUTHORITY = Authority(
    name="letsencrypt",
    api_url="https://ca.example/dir",
    account_key=Path("/etc/acme/account.key"),
    account_keytype=KeyType.ECDSA,
    contact=None,
    insecure=False,
    ca_file=None,
    location=Location("/etc/acme-client.conf", 1),
)
CHANGED = RunHook("changed", Path("/usr/local/bin/reload"))
FAILED = RunHook("failed", Path("/usr/local/bin/page"))


def job(handle: str, *more_names: str, fullchain_only: bool = False) -> DomainJob:
    return DomainJob(
        handle=handle,
        names=(handle, *more_names),
        domain_key=Path(f"/etc/ssl/private/{handle}.key"),
        keytype=KeyType.ECDSA,
        cert_dir=Path("/etc/ssl"),
        certificate=None if fullchain_only else Path(f"/etc/ssl/{handle}.crt"),
        chain=None if fullchain_only else Path(f"/etc/ssl/{handle}.chain.pem"),
        fullchain=Path(f"/etc/ssl/{handle}.fullchain.pem"),
        authority=AUTHORITY,
        challengedir=Path("/var/www/acme"),
        profile=None,
        location=Location("/etc/acme-client.conf", 10),
    )


JOBS = (job("a.example", "www.a.example"), job("b.example", fullchain_only=True), job("c.example"), job("d.example"))
RESULTS = (
    ChainResult("d.example", failed=True, changed=False, reason="authorization invalid: 404"),
    ChainResult("a.example", failed=False, changed=True),
    ChainResult("b.example", failed=False, changed=False),
    ChainResult("c.example", failed=False, changed=True, reason="certificate renewed: a third of its lifetime left"),
)


def test_the_document_lists_every_domain_under_its_result_in_the_order_of_the_configuration() -> None:
    document = json.loads(run_document("changed", 1, JOBS, RESULTS))
    ssl = "/etc/ssl/"
    assert document == {
        "version": 1,
        "hook": "changed",
        "status": 1,
        "changed": [
            {
                "handle": "a.example", "names": ["a.example", "www.a.example"], "authority": "letsencrypt",
                "result": "changed", "reason": "",
                "files": {"certificate": ssl + "a.example.crt", "chain": ssl + "a.example.chain.pem",
                          "fullchain": ssl + "a.example.fullchain.pem"},
            },
            {
                "handle": "c.example", "names": ["c.example"], "authority": "letsencrypt",
                "result": "changed", "reason": "certificate renewed: a third of its lifetime left",
                "files": {"certificate": ssl + "c.example.crt", "chain": ssl + "c.example.chain.pem",
                          "fullchain": ssl + "c.example.fullchain.pem"},
            },
        ],
        "unchanged": [
            {
                "handle": "b.example", "names": ["b.example"], "authority": "letsencrypt",
                "result": "unchanged", "reason": "", "files": {"fullchain": ssl + "b.example.fullchain.pem"},
            },
        ],
        "failed": [
            {
                "handle": "d.example", "names": ["d.example"], "authority": "letsencrypt",
                "result": "failed", "reason": "authorization invalid: 404",
                "files": {"certificate": ssl + "d.example.crt", "chain": ssl + "d.example.chain.pem",
                          "fullchain": ssl + "d.example.fullchain.pem"},
            },
        ],
    }


def test_the_document_is_ascii_whatever_a_reason_holds() -> None:
    results = (ChainResult("a.example", True, False, reason="caf\u00e9 \u202e"),)
    text = run_document("failed", 1, JOBS[:1], results)
    assert text.isascii() and json.loads(text)["failed"][0]["reason"] == "caf\u00e9 \u202e"


@pytest.mark.parametrize(
    ("changed", "status", "due"),
    [
        (True, EXIT_OK, [CHANGED]),
        (True, EXIT_FAILED, [CHANGED, FAILED]),  # changed first
        (False, EXIT_FAILED, [FAILED]),
        (False, 2, []),  # nothing changed, nothing failed
    ],
)
def test_which_hooks_a_run_calls_for(changed: bool, status: int, due: list[RunHook]) -> None:
    results = [ChainResult("a.example", status == EXIT_FAILED, changed)]
    assert hooks_due((CHANGED, FAILED), results, RunOptions(), status) == due


@pytest.mark.parametrize(
    "options",
    [RunOptions(revoke=True), RunOptions(revoke_with_domain_key=True), RunOptions(account_action="deactivate"),
     RunOptions(account_action="rollover"), RunOptions(account_action="records")],
)
def test_no_hook_after_a_revocation_or_an_account_action(options: RunOptions) -> None:
    results = [ChainResult("a.example", True, True)]
    assert hooks_due((CHANGED, FAILED), results, options, EXIT_FAILED) == []


def test_a_run_without_hooks_keeps_its_status() -> None:
    assert run_hooks_after(JOBS, RESULTS, RunOptions(), EXIT_OK) == EXIT_OK
    assert run_hooks_after((), (), RunOptions(), 2) == 2


def test_a_hook_that_cannot_start_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    """A program in a key's directory would be hidden from itself: refused before anything runs, and the run fails."""
    hidden = replace(CHANGED, program=Path("/etc/ssl/private/reload"))
    assert run_hooks_after(JOBS, RESULTS, RunOptions(run_hooks=(hidden,)), EXIT_OK) == EXIT_FAILED


# runhookproc, in this process ---------------------------------------------------------------------


def hook_spec(program: Path, document_fd: int = -1, timeout: int = 10, arguments: tuple[str, ...] = ()) -> ChildSpec:
    settings = RunHookSettings("changed", str(program), arguments, "", timeout, document_fd)
    return ChildSpec("runhookproc", "run", 0, False, (), settings)


def script(directory: Path, body: str, mode: int = 0o700) -> Path:
    program = directory / "hook"
    program.write_text("#!/bin/sh\n" + body)
    program.chmod(mode)
    return program


def test_the_program_reads_the_document_with_its_arguments_and_a_clean_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    program = script(tmp_path, f'cat > {out}.in\nenv > {out}.env\necho "$#:$1:$2" > {out}.argv\n')
    document_fd = os.memfd_create("test-document")
    os.write(document_fd, b'{"hook": "changed"}\n')
    spec = hook_spec(program, document_fd, arguments=("reload", "web server"))
    document = runhookproc.acquire(spec)
    with pytest.raises(OSError):
        os.fstat(document_fd)  # read, then closed: the program never gets it
    os.environ["ACME_TEST_SECRET"] = "leaked"
    try:
        assert runhookproc.serve(spec, document) == EXIT_OK
    finally:
        del os.environ["ACME_TEST_SECRET"]
    assert (tmp_path / "out.in").read_text() == '{"hook": "changed"}\n'
    assert (tmp_path / "out.argv").read_text() == "2:reload:web server\n"
    names = {line.split("=", 1)[0] for line in (tmp_path / "out.env").read_text().splitlines()}
    assert names - {"PWD", "SHLVL", "_", "OLDPWD"} == {"PATH", "ACME_CLIENT_HOOK"}
    assert "ACME_CLIENT_HOOK=changed" in (tmp_path / "out.env").read_text()


def test_a_program_that_does_not_read_its_input_is_fine(tmp_path: Path) -> None:
    program = script(tmp_path, "exit 0\n")
    assert runhookproc.serve(hook_spec(program), b"x" * 1_000_000) == EXIT_OK


def test_a_failing_program_says_why_with_its_last_line(tmp_path: Path) -> None:
    program = script(tmp_path, "echo first\necho 'reload refused'\nexit 4\n")
    with pytest.raises(ProcessFailure, match=r"hook changed: .*hook failed \(exit status 4\): reload refused$"):
        runhookproc.serve(hook_spec(program), b"{}")


def test_runhookproc_refuses_a_program_others_may_change(tmp_path: Path) -> None:
    program = script(tmp_path, "exit 0\n", mode=0o777)
    document_fd = os.memfd_create("test-document")
    with pytest.raises(ProcessFailure, match="group or others may write it"):
        runhookproc.acquire(hook_spec(program, document_fd))


def test_a_combined_file_is_among_the_files_a_hook_is_told() -> None:
    combined = replace(job("e.example"), combined=Path("/etc/ssl/e.example.pem"))
    document = json.loads(run_document("changed", EXIT_OK, (combined,), (ChainResult("e.example", False, True),)))
    assert document["changed"][0]["files"]["combined"] == "/etc/ssl/e.example.pem"
