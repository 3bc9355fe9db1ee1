"""Fixtures for tests against a real ACME server: pebble on loopback.

- `pebble_bin`: the pebble binaries, fetched once into .testbed/ (or
  $ACME_TESTBED_DIR). A failed fetch is an error, never a skip.
- `testbed`: one pebble for the whole session, default settings (pebble's
  5 % badNonce rejections included).
- `make_testbed(**options)`: a pebble of a test's own (see testbed.Testbed for
  the options: always_valid, nonce_reject, authz_reuse, eab_keys, ...).
- `challenge_dir`: the directory the session testbed serves over http-01.
- `workdir`: a fresh folder with account/ and private/ (0700) and certs/ (0755).
- `write_conf(*domains, ...)`: writes an acme-client.conf into the workdir.
- `run_client(*args, conf=...)`: runs acme-client, returns (returncode, stdout, stderr).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))

from testbed import PebbleBinaries, Testbed, fetch_pebble  # noqa: E402 (after the path)

from integration_common import PROXY_VARIABLES, RUN_TAG, Workdir  # noqa: E402

from acme_conf.proc.locks import lock_directory  # noqa: E402
from acme_conf.state import STATE_DIRECTORY_VARIABLE  # noqa: E402

class CliResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def _remove_this_runs_lock_files() -> Iterator[None]:
    """The client leaves a lock file per domain in the lock directory; the tagged
    names are this pytest process's alone, so their lock files go with it."""
    yield
    for path in lock_directory().glob(f"*.{RUN_TAG}.*.lock"):
        path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def pebble_bin() -> PebbleBinaries:
    """pebble and pebble-challtestsrv; fetched from Debian on first use."""
    return fetch_pebble()


@pytest.fixture(scope="session")
def testbed(pebble_bin: PebbleBinaries) -> Iterator[Testbed]:
    """The session's pebble, default settings."""
    with Testbed(binaries=pebble_bin) as running:
        yield running


@pytest.fixture
def make_testbed(pebble_bin: PebbleBinaries) -> Iterator[Callable[..., Testbed]]:
    """Start a pebble with special settings; stopped at the end of the test."""
    started: list[Testbed] = []

    def make(**options: object) -> Testbed:
        running = Testbed(binaries=pebble_bin, **options)  # type: ignore[arg-type]
        started.append(running)
        running.start()
        return running

    yield make
    for running in reversed(started):
        running.stop()


@pytest.fixture
def challenge_dir(testbed: Testbed) -> Path:
    """The session testbed's http-01 directory; its request log starts empty."""
    testbed.clear_http_log()
    assert testbed.challenge_dir is not None
    return testbed.challenge_dir


@pytest.fixture
def workdir() -> Iterator[Workdir]:
    # Not under pytest's tmp_path: that is 0700, and a client that drops
    # privileges for some of its processes must still reach these folders.
    root = Path(tempfile.mkdtemp(prefix="acme-work."))
    root.chmod(0o755)
    made = Workdir(root=root, account_dir=root / "account", key_dir=root / "private", cert_dir=root / "certs")
    made.account_dir.mkdir(mode=0o700)
    made.key_dir.mkdir(mode=0o700)
    made.cert_dir.mkdir(mode=0o755)
    yield made
    shutil.rmtree(root, ignore_errors=True)


def _quoted(value: object) -> str:
    text = str(value)
    if any(ch in text for ch in '"\\\n'):
        raise ValueError(f"cannot quote {text!r} for acme-client.conf")
    return f'"{text}"'


def conf_text(
    testbed: Testbed,
    workdir: Workdir,
    domains: Sequence[str | Sequence[str]],
    *,
    authority: str = "pebble",
    account_keytype: str = "ecdsa",
    keytype: str = "ecdsa",
    profile: str | None = None,
    challengedir: Path | None = None,
    certificate: bool = True,
    chain: bool = False,
    fullchain: bool = True,
    extra: str = "",
) -> str:
    """An acme-client.conf: the testbed's authority, then one domain block per
    entry of `domains` (a name, or [name, *alternative names])."""
    served = challengedir or testbed.challenge_dir
    parts = [testbed.authority_block(authority, workdir.account_key(authority), account_keytype)]
    for entry in domains:
        names = [entry] if isinstance(entry, str) else list(entry)
        handle, alternatives = names[0], names[1:]
        lines = [f"domain {handle} {{"]
        if alternatives:
            lines.append("\talternative names { " + " ".join(_quoted(n) for n in alternatives) + " }")
        lines.append(f"\tdomain key {_quoted(workdir.domain_key(handle))} {keytype}")
        if certificate:
            lines.append(f"\tdomain certificate {_quoted(workdir.certificate(handle))}")
        if chain:
            lines.append(f"\tdomain chain certificate {_quoted(workdir.chain(handle))}")
        if fullchain:
            lines.append(f"\tdomain full chain certificate {_quoted(workdir.fullchain(handle))}")
        lines.append(f"\tsign with {authority}")
        lines.append(f"\tchallengedir {_quoted(served)}")
        if profile is not None:
            lines.append(f"\tprofile {_quoted(profile)}")
        lines.append("}")
        parts.append("\n".join(lines) + "\n")
    if extra:
        parts.append(extra if extra.endswith("\n") else extra + "\n")
    return "\n".join(parts)


@pytest.fixture
def write_conf(testbed: Testbed, workdir: Workdir) -> Callable[..., Path]:
    """write_conf("a.example.test", ["b.example.test", "c.example.test"], testbed=other,
    profile="shortlived", filename="acme-client.conf") -> the file's path."""

    def write(
        *domains: str | Sequence[str],
        testbed: Testbed = testbed,
        filename: str = "acme-client.conf",
        **options: object,
    ) -> Path:
        path = workdir.root / filename
        path.write_text(conf_text(testbed, workdir, domains, **options))  # type: ignore[arg-type]
        return path

    return write


@pytest.fixture
def run_client(workdir: Workdir) -> Callable[..., CliResult]:
    """run_client("-v", "a.example.test", conf=path) runs `python -m acme_conf -f path -v
    a.example.test` in the workdir, without proxy variables, and returns
    (returncode, stdout, stderr)."""

    def run(
        *args: str | os.PathLike[str],
        conf: Path | None = None,
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> CliResult:
        argv = [sys.executable, "-m", "acme_conf"]
        if conf is not None:
            argv += ["-f", str(conf)]
        argv += [str(arg) for arg in args]
        child_env = {
            key: value for key, value in os.environ.items() if key.lower() not in PROXY_VARIABLES
        }
        child_env[STATE_DIRECTORY_VARIABLE] = str(workdir.state_dir)  # never the machine's /var/db/acme
        child_env.update(env or {})
        done = subprocess.run(
            argv, check=False, cwd=workdir.root, env=child_env, capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run
