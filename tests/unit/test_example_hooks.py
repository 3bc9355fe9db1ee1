"""The hooks under examples/hooks: what they send, and what they refuse.

examples/hooks/challtestsrv runs for real against pebble-challtestsrv, and
examples/hooks/nsupdate against BIND's named with a TSIG key, in
tests/integration/test_dns_hook.py. Here nsupdate's is run with an
`nsupdate` of the test's own first on PATH that keeps what it is given: the
update commands the hook composes, and what it refuses to compose.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[2] / "examples" / "hooks"
RECORD = "_acme-challenge.www.example.com."
VALUE = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"


def run_nsupdate(tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], str]:
    kept = tmp_path / "commands"
    fake = tmp_path / "bin" / "nsupdate"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "args: $*" > {kept}\ncat >> {kept}\n')
    fake.chmod(0o755)
    environment = {"PATH": f"{fake.parent}:/usr/bin:/bin", "NSUPDATE_SERVER": "192.0.2.53", "NSUPDATE_KEY": "/etc/acme/tsig.key"}
    done = subprocess.run([HOOKS / "nsupdate", *arguments], env=environment, capture_output=True, text=True, timeout=30)
    return done, kept.read_text() if kept.exists() else ""


def test_nsupdate_adds_and_deletes_one_txt_value_signed_with_the_key(tmp_path: Path) -> None:
    done, sent = run_nsupdate(tmp_path, "add", RECORD, VALUE)
    assert done.returncode == 0, done.stderr
    assert sent == f'args: -k /etc/acme/tsig.key\nserver 192.0.2.53\nupdate add {RECORD} 60 IN TXT "{VALUE}"\nsend\n'
    done, sent = run_nsupdate(tmp_path, "remove", RECORD, VALUE)
    assert done.returncode == 0, done.stderr
    assert f'update delete {RECORD} IN TXT "{VALUE}"\nsend\n' in sent


@pytest.mark.parametrize(
    "arguments",
    [
        ("add", "www.example.com.", VALUE),  # not an _acme-challenge name
        ("add", RECORD + "\nupdate delete example.com.", VALUE),  # a second command
        ("add", RECORD, VALUE + '" ; send'),
        ("replace", RECORD, VALUE),
        ("add", RECORD),
    ],
)
def test_nsupdate_refuses_what_acme_client_never_sends(tmp_path: Path, arguments: tuple[str, ...]) -> None:
    done, sent = run_nsupdate(tmp_path, *arguments)
    assert done.returncode == 2 and sent == ""


@pytest.mark.parametrize(
    "arguments", [("add", "www.example.com.", VALUE), ("add", RECORD, "short"), ("delete", RECORD, VALUE), ()]
)
def test_challtestsrv_refuses_what_acme_client_never_sends(arguments: tuple[str, ...]) -> None:
    done = subprocess.run(
        ["/usr/bin/python3", HOOKS / "challtestsrv", *arguments],
        env={"PATH": "/usr/bin:/bin", "CHALLTESTSRV_URL": "http://127.0.0.1:9"},
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2


def test_the_example_hooks_are_executable_and_writable_by_their_owner_only() -> None:
    for hook in HOOKS.iterdir():
        mode = hook.stat().st_mode & 0o777
        assert mode & 0o100 and not mode & 0o022, hook
