"""An ordinary user renews certificates with every path in their home directory."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")

USER = "nobody"
REPO = Path(__file__).resolve().parents[2]
# An interpreter the user may run: tools/test.sh makes it from Debian's python3,
# because this checkout's own .venv may live under a private home directory.
UNPRIVILEGED_PYTHON = Path(os.environ.get("ACME_UNPRIVILEGED_PYTHON", REPO / ".testbed/unprivileged-venv/bin/python"))


@pytest.fixture
def home():
    """A home directory owned by the unprivileged user, with the usual layout."""
    account = pwd.getpwnam(USER)
    root = Path(tempfile.mkdtemp(prefix="acme-home."))
    root.chmod(0o755)
    for relative, mode in (("", 0o755), (".config/acme-client", 0o700), ("acme", 0o700), ("certs", 0o755), ("www", 0o755)):
        path = root / relative
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        path.chmod(mode)
        os.chown(path, account.pw_uid, account.pw_gid)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_as_user(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not os.access(UNPRIVILEGED_PYTHON, os.X_OK):
        pytest.fail(f"{UNPRIVILEGED_PYTHON} is missing: tools/test.sh creates it (or set ACME_UNPRIVILEGED_PYTHON)")
    account = pwd.getpwnam(USER)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(home / ".config")}
    return subprocess.run(
        ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups",
         str(UNPRIVILEGED_PYTHON), "-m", "acme_conf", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=home,
    )


def test_user_issues_with_config_from_their_config_directory(make_testbed, home):
    testbed = make_testbed(challenge_dir=home / "www")
    handle = "user.example.test"
    config = home / ".config" / "acme-client" / "acme-client.conf"
    config.write_text(
        testbed.authority_block("pebble", home / "acme" / "account.key", "ecdsa")
        + f"""
domain {handle} {{
\tdomain key "{home}/acme/{handle}.key" ecdsa
\tdomain full chain certificate "{home}/certs/{handle}.pem"
\tchallengedir "{home}/www"
}}
"""
    )
    account = pwd.getpwnam(USER)
    os.chown(config, account.pw_uid, account.pw_gid)

    checked = run_as_user(home, "-n")  # no -f: the user's own configuration file
    assert checked.returncode == 0, checked.stderr

    issued = run_as_user(home, "-v", handle)
    assert issued.returncode == 0, issued.stderr
    certificate = home / "certs" / f"{handle}.pem"
    assert certificate.stat().st_uid == account.pw_uid
    assert (home / "acme" / f"{handle}.key").stat().st_uid == account.pw_uid
    testbed.verify_chain(certificate.read_bytes(), handle)

    again = run_as_user(home, handle)
    assert again.returncode == 2, again.stderr
