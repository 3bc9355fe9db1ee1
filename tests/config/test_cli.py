"""acme-client(1) as a user meets it: exit codes, and what goes to which stream."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from acme_conf import cli
from acme_conf.config import dump, load_plan

from config_testing import AUTHORITY, CORPUS, domain

REPO = Path(__file__).resolve().parents[2]
ACME_CLIENT = Path(sys.executable).with_name("acme-client")
EXAMPLE = REPO / "examples" / "acme-client.conf"
GOOD = CORPUS / "valid" / "every-keyword.conf"
BAD = CORPUS / "invalid" / "authority-rules.conf"


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACME_CLIENT), *args], capture_output=True, text=True, timeout=60, **kwargs
    )


# ---- the installed command, as a subprocess ----------------------------------------


def test_check_of_a_good_file_is_silent_on_stdout_and_exits_0() -> None:
    result = run("-n", "-f", str(GOOD))
    assert result.returncode == 0
    assert result.stdout == ""
    # Only warnings (directories that do not exist here) on stderr.
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines())


def test_check_verbose_prints_the_canonical_configuration_on_stdout() -> None:
    result = run("-nv", "-f", str(GOOD))
    assert result.returncode == 0
    assert result.stdout == GOOD.with_suffix(".dump").read_text()


def test_check_verbose_output_fed_back_prints_the_same(tmp_path: Path) -> None:
    first = run("-nv", "-f", str(EXAMPLE)).stdout
    (tmp_path / "again.conf").write_text(first)
    second = run("-n", "-v", "-f", str(tmp_path / "again.conf"))
    assert second.returncode == 0 and second.stdout == first


def test_bad_configuration_errors_on_stderr_exit_1() -> None:
    result = run("-n", "-f", str(BAD))
    assert result.returncode == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert errors[0] == f"{BAD}:4: duplicate api"
    assert len(errors) == 15


def test_bad_configuration_with_verbose_prints_nothing_on_stdout() -> None:
    result = run("-nv", "-f", str(BAD))
    assert result.returncode == 1 and result.stdout == ""


def test_missing_configuration_file(tmp_path: Path) -> None:
    # About the file as a whole, so no line: said as OpenBSD's acme-client says it.
    result = run("-n", "-f", str(tmp_path / "none.conf"))
    assert result.returncode == 1
    assert result.stderr == f"acme-client: {tmp_path}/none.conf: No such file or directory\n"


def test_directory_given_as_configuration_file(tmp_path: Path) -> None:
    result = run("-n", "-f", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == f"acme-client: {tmp_path}: Is a directory\n"


def test_unknown_handles_are_each_named(tmp_path: Path) -> None:
    result = run("-n", "-f", str(GOOD), "example.com", "nope.example", "other.example")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"acme-client: domain nope.example not found in {GOOD}\n" in result.stderr
    assert f"acme-client: domain other.example not found in {GOOD}\n" in result.stderr


def test_check_verbose_with_handles_prints_those_domains_and_every_authority(tmp_path: Path) -> None:
    result = run("-nv", "-f", str(GOOD), "example.org")
    assert result.returncode == 0
    assert "domain example.org {" in result.stdout
    assert "domain example.com {" not in result.stdout
    assert result.stdout.count("authority ") == 3
    (tmp_path / "again.conf").write_text(result.stdout)
    assert run("-nv", "-f", str(tmp_path / "again.conf")).stdout == result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-x"], "acme-client: option -x not recognized"),
        (["-f"], "acme-client: option -f requires argument"),
        (["-j", "0"], "acme-client: -j 0: not a positive number"),
        (["-j", "two"], "acme-client: -j two: not a positive number"),
        (["-R", "stolen"], "acme-client: -R stolen: not a revocation reason "
                           "(unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)"),
        (["-R", "certificateHold"], "acme-client: -R certificateHold: not a revocation reason "
                                    "(unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)"),
    ],
)
def test_usage_errors_exit_1_with_usage_on_stderr(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == message
    assert lines[1].startswith("usage: acme-client [-F")


def test_control_characters_in_the_file_are_escaped_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "evil.conf"
    path.write_text(AUTHORITY + "domain \x1b[31mred {\n}\n")
    result = run("-n", "-f", str(path))
    assert result.returncode == 1
    assert "\x1b" not in result.stderr
    assert 'unexpected character "\\x1b"' in result.stderr


@pytest.fixture
def unprivileged_copy() -> Iterator[tuple[Path, Path]]:
    """A world-readable directory holding a configuration, for a non-root check."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a check as another user")
    top = Path(tempfile.mkdtemp(prefix="acme-cli-"))
    try:
        top.chmod(0o755)
        keys = top / "private"
        keys.mkdir(mode=0o700)
        (keys / "a.key").write_text("key")
        (keys / "a.key").chmod(0o600)
        config = top / "acme-client.conf"
        config.write_text(
            f'authority ca {{\n\tapi url "https://acme.example/dir"\n'
            f'\taccount key "{top}/acme.pem"\n}}\n'
            f'domain a.example {{\n\tdomain key "{keys}/a.key"\n'
            f'\tdomain certificate "{top}/a.crt"\n\tchallengedir "{top}"\n}}\n'
        )
        config.chmod(0o644)
        yield top, config
    finally:
        shutil.rmtree(top)


def test_check_does_not_need_root(unprivileged_copy: tuple[Path, Path]) -> None:
    # A key directory that only root may enter gives a warning, not an error.
    top, config = unprivileged_copy
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(ACME_CLIENT),
         "-n", "-f", str(config)],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"warning: {config}:6: cannot check {top}/private/a.key: permission denied\n"
    )


# ---- in-process: parsing options, choosing the file, handing over to the executor --


def test_options_from_flags() -> None:
    options = cli.parse_arguments(["-Fr", "-vv", "-j", "3", "-f", "/x.conf", "a", "b"])
    assert options == cli.Options(
        config_path="/x.conf", handles=("a", "b"), force=True, revoke=True, verbose=2,
        jobs=3, check_only=False,
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [("unspecified", 0), ("keyCompromise", 1), ("keycompromise", 1), ("affiliationChanged", 3),
     ("superseded", 4), ("cessationOfOperation", 5)],
)
def test_a_revocation_reason_by_its_rfc_5280_name_implies_r(name: str, code: int) -> None:
    options = cli.parse_arguments(["-R", name, "a"])
    assert (options.revoke, options.revoke_reason) == (True, code)
    assert cli.parse_arguments(["-r", "a"]).revoke_reason == -1


def test_k_revokes_with_the_domain_key() -> None:
    options = cli.parse_arguments(["-K", "a"])
    assert (options.revoke, options.revoke_with_domain_key) == (True, True)
    assert cli.parse_arguments(["-r", "a"]).revoke_with_domain_key is False


def test_d_and_k_name_the_authority_whose_account_they_act_on() -> None:
    assert (cli.parse_arguments(["-D", "letsencrypt"]).account_action, cli.parse_arguments(["-D", "letsencrypt"]).authority) == (
        "deactivate", "letsencrypt"
    )
    options = cli.parse_arguments(["-v", "-k", "zerossl"])
    assert (options.account_action, options.authority, options.verbose) == ("rollover", "zerossl", 1)


@pytest.mark.parametrize(
    "argv",
    [["-D"], ["-D", "a", "handle"], ["-D", "a", "-F"], ["-k", "a", "-r"], ["-k", "a", "-K"], ["-D", "a", "-n"],
     ["-D", "a", "-k", "a"], ["-k", "a", "-R", "superseded"]],
)
def test_d_and_k_do_that_alone(argv: list[str]) -> None:
    with pytest.raises(cli.UsageError):
        cli.parse_arguments(argv)


def test_jobs_default_to_the_number_of_processors() -> None:
    assert cli.parse_arguments(["-f", "/x"]).jobs == (os.cpu_count() or 1)


def test_root_reads_the_system_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cli.default_config_path() == "/etc/acme-client.conf"


def test_user_reads_their_own_configuration_if_they_have_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert cli.default_config_path() == "/etc/acme-client.conf"
    own = tmp_path / "acme-client" / "acme-client.conf"
    own.parent.mkdir()
    own.write_text("")
    assert cli.default_config_path() == str(own)


def test_without_check_the_selected_jobs_go_to_the_executor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "t.conf"
    path.write_text(AUTHORITY + domain("a.example") + domain("b.example"))
    handed: list[tuple] = []
    monkeypatch.setattr(cli, "_execute", lambda *args: handed.append(args) or 2)
    assert cli.main(["-F", "-f", str(path), "b.example"]) == 2
    (plan, jobs, options), = handed
    assert [job.handle for job in jobs] == ["b.example"]
    assert plan.source == str(path)
    assert options.force and not options.check_only and options.handles == ("b.example",)
    handed.clear()
    assert cli.main(["-f", str(path)]) == 2
    assert [job.handle for job in handed[0][1]] == ["a.example", "b.example"]


def test_check_never_reaches_the_executor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "t.conf"
    path.write_text(AUTHORITY + domain("a.example"))
    monkeypatch.setattr(cli, "_execute", lambda *args: pytest.fail("executor called"))
    assert cli.main(["-n", "-f", str(path)]) == 0


def test_in_process_streams(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-nv", "-f", str(GOOD)]) == 0
    captured = capsys.readouterr()
    assert captured.out == dump(load_plan(GOOD))
    assert cli.main(["-n", "-f", str(BAD)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and f"{BAD}:4: duplicate api\n" in captured.err


def test_ca_file_the_checking_user_cannot_read_is_a_warning(
    unprivileged_copy: tuple[Path, Path],
) -> None:
    # The run may have rights the check has not: only a warning.
    top, config = unprivileged_copy
    ca = top / "private" / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    readable = top / "readable-but-not-for-them.pem"
    readable.write_text(ca.read_text())
    readable.chmod(0o600)
    for path in (ca, readable):
        config.write_text(
            f'authority ca {{\n\tapi url "https://acme.example/dir"\n'
            f'\taccount key "{top}/acme.pem"\n\tca file "{path}"\n}}\n'
        )
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(ACME_CLIENT),
             "-n", "-f", str(config)],
            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == f"warning: {config}:4: cannot check ca file {path}: permission denied\n"


def test_include_that_cannot_be_read_is_an_error_at_its_line(
    unprivileged_copy: tuple[Path, Path],
) -> None:
    top, config = unprivileged_copy
    secret = top / "secret.conf"
    secret.write_text("")
    secret.chmod(0o600)
    config.write_text(f'# reads a file only root may read\ninclude "{secret}"\n')
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(ACME_CLIENT),
         "-n", "-f", str(config)],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr == f"{config}:2: failed to include file {secret}: Permission denied\n"


def test_l_shows_the_status_and_orders_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "t.conf"
    path.write_text(AUTHORITY + domain("a.example") + domain("b.example"))
    shown: list[tuple] = []
    monkeypatch.setattr(cli, "_show_status", lambda *args: shown.append(args) or 3)
    monkeypatch.setattr(cli, "_execute", lambda *args: pytest.fail("executor called"))
    assert cli.main(["-l", "-f", str(path), "b.example"]) == 3
    (_, jobs, options), = shown
    assert [job.handle for job in jobs] == ["b.example"] and options.status and not options.json
    assert cli.parse_arguments(["--json"]).status and cli.parse_arguments(["--json"]).json
    assert cli.parse_arguments(["--prometheus", "/x/acme.prom"]).prometheus == "/x/acme.prom"
    assert cli.parse_arguments(["--syslog", "a.example"]).syslog


@pytest.mark.parametrize("argv", [["-l", "-F"], ["-l", "-r"], ["-l", "-n"], ["--json", "-D", "x"], ["-l", "--syslog"]])
def test_l_shows_and_does_nothing_else(argv: list[str]) -> None:
    with pytest.raises(cli.UsageError, match="-l shows the status"):
        cli.parse_arguments(argv)


def test_syslog_that_cannot_be_reached_is_said_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from acme_conf.proc import run_log, scheduler

    path = tmp_path / "t.conf"
    path.write_text(AUTHORITY + domain("a.example"))
    nowhere = tmp_path / "no-log"
    monkeypatch.setattr(run_log, "SYSLOG_SOCKET", str(nowhere))
    monkeypatch.setattr(scheduler, "run", lambda *args: pytest.fail("run started without its syslog"))
    try:
        assert cli.main(["--syslog", "-f", str(path)]) == 1
    finally:
        for name in ("acme_conf", "acme_conf.relayed"):  # as they were: other tests capture acme_conf's records
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert f"acme-client: cannot log to syslog: {nowhere}: No such file or directory" in capsys.readouterr().err
