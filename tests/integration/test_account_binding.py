"""External account binding against pebble with `externalAccountBindingRequired` (real http-01).

pebble refuses a new account without a binding, and one whose MAC does not
verify with the key it has for the kid; an existing account needs none.
"""

from __future__ import annotations

import os
from pathlib import Path

from acme_conf.acme.b64 import b64url

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED

KID = "kid-acme-client-test"
MAC_KEY = os.urandom(48)


def with_binding(conf: Path, mac_file: Path, algorithm: str = "") -> None:
    """The binding line added to the authority block, after its `ca file`."""
    text = conf.read_text()
    marker = "\tca file "
    start = text.index(marker)
    end = text.index("\n", start) + 1
    line = f'\texternal account binding "{KID}" "{mac_file}"{" " + algorithm if algorithm else ""}\n'
    conf.write_text(text[:end] + line + text[end:])


def mac_file(workdir, key: bytes = MAC_KEY) -> Path:
    path = workdir.account_dir / "pebble.mac"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(b64url(key) + "\n")
    return path


def test_a_new_account_is_bound_and_issues(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(eab_keys={KID: b64url(MAC_KEY)})
    handle = f"bound.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    with_binding(conf, mac_file(workdir), "hs256")
    result = run_client("-v", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert "created account" in result.stderr
    assert workdir.certificate(handle).exists()
    # the account exists now: a later run finds it, and a binding is not asked again
    again = run_client("-F", handle, conf=conf)
    assert again.returncode == EXIT_CHANGED, again.stderr
    assert "created account" not in again.stderr


def test_without_a_binding_the_error_says_what_to_configure(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(eab_keys={KID: b64url(MAC_KEY)})
    handle = f"unbound.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED, result.stderr
    assert "the CA requires an external account binding for a new account" in result.stderr, result.stderr
    assert "external account binding KID FILE" in result.stderr
    assert not workdir.certificate(handle).exists()


def test_a_wrong_mac_key_is_the_cas_refusal_and_nothing_is_created(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(eab_keys={KID: b64url(MAC_KEY)})
    handle = f"misbound.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    with_binding(conf, mac_file(workdir, os.urandom(48)), "hs256")
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED, result.stderr
    assert "new account" in result.stderr and "created account" not in result.stderr, result.stderr
    assert not workdir.certificate(handle).exists()
