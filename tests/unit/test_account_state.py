"""proc/accounts.py: -k moving the account key aside, and the previous key an authority's kept state names."""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from acme_conf.config.plan import Authority, DomainJob, KeyType, Location
from acme_conf.errors import ProcessFailure
from acme_conf.proc import accounts
from acme_conf.proc.accounts import forget_previous_key, move_account_key_aside, with_kept_previous_keys
from acme_conf.state import AuthorityState, load_authority_state, save_authority_state


def authority(key: Path, name: str = "letsencrypt") -> Authority:
    return Authority(name, "https://ca.example/dir", key, KeyType.ECDSA, None, False, None, Location("/etc/acme-client.conf", 1))


def job(auth: Authority, handle: str = "example.com") -> DomainJob:
    return DomainJob(
        handle, (handle,), Path("/k"), KeyType.ECDSA, Path("/c"), Path("/c/c.pem"), None, None, auth, Path("/w"), None,
        Location("/etc/acme-client.conf", 5),
    )


@pytest.fixture
def key(tmp_path: Path) -> Path:
    directory = tmp_path / "acme"
    directory.mkdir(mode=0o700)
    path = directory / "account.key"
    path.write_bytes(b"the old key\n")
    path.chmod(0o400)
    return path


def test_k_keeps_the_key_as_previous_and_makes_room(key: Path, tmp_path: Path) -> None:
    move_account_key_aside(authority(key), tmp_path / "state")
    aside = key.with_name("account.key.previous")
    assert not key.exists() and aside.read_bytes() == b"the old key\n"
    assert stat.S_IMODE(aside.stat().st_mode) == 0o400  # the same file, not a copy
    assert load_authority_state(tmp_path / "state", "letsencrypt") == AuthorityState(str(aside))
    assert stat.S_IMODE((tmp_path / "state" / "authorities").stat().st_mode) == 0o700


def test_k_never_replaces_what_is_in_the_way(key: Path, tmp_path: Path) -> None:
    aside = key.with_name("account.key.previous")
    aside.write_bytes(b"someone else's\n")
    with pytest.raises(ProcessFailure, match="is in the way"):
        move_account_key_aside(authority(key), tmp_path / "state")
    assert key.read_bytes() == b"the old key\n" and aside.read_bytes() == b"someone else's\n"
    assert load_authority_state(tmp_path / "state", "letsencrypt") == AuthorityState()


def test_k_puts_everything_back_when_the_state_cannot_be_kept(key: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(accounts, "save_authority_state", lambda *args: False)
    with pytest.raises(ProcessFailure, match="could not be kept"):
        move_account_key_aside(authority(key), tmp_path / "state")
    assert key.read_bytes() == b"the old key\n" and not key.with_name("account.key.previous").exists()


def test_k_without_a_key_or_beside_a_configured_previous_key_is_refused(key: Path, tmp_path: Path) -> None:
    with pytest.raises(ProcessFailure, match="no account key"):
        move_account_key_aside(authority(key.with_name("missing.key")), tmp_path / "state")
    with pytest.raises(ProcessFailure, match="names a previous account key already"):
        move_account_key_aside(replace(authority(key), previous_account_key=Path("/old.key")), tmp_path / "state")
    assert key.exists()


def test_a_second_k_finishes_the_first(key: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    move_account_key_aside(authority(key), state)
    key.write_bytes(b"the new key\n")  # what acctproc created
    move_account_key_aside(authority(key), state)  # the change was not done: nothing moves again
    assert key.read_bytes() == b"the new key\n"
    assert key.with_name("account.key.previous").read_bytes() == b"the old key\n"


def test_the_kept_previous_key_becomes_the_authoritys_previous_key(key: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    move_account_key_aside(authority(key), state)
    other = authority(Path("/etc/acme/other.key"), "other")
    jobs, kept = with_kept_previous_keys((job(authority(key)), job(other, "other.example")), state)
    assert kept == {"letsencrypt": str(key) + ".previous"}
    assert jobs[0].authority.previous_account_key == Path(str(key) + ".previous")
    assert jobs[1].authority.previous_account_key is None

    configured = replace(authority(key), previous_account_key=Path("/etc/acme/configured.key"))
    jobs, kept = with_kept_previous_keys((job(configured),), state)
    assert kept == {} and jobs[0].authority.previous_account_key == Path("/etc/acme/configured.key")  # the file wins

    forget_previous_key("letsencrypt", state)
    assert with_kept_previous_keys((job(authority(key)),), state)[1] == {}


def test_a_kept_previous_key_that_is_gone_is_forgotten_with_a_warning(key: Path, tmp_path: Path, caplog) -> None:
    state = tmp_path / "state"
    save_authority_state(state, "letsencrypt", AuthorityState(str(key) + ".previous"))  # no such file
    with caplog.at_level(logging.WARNING, "acme_conf"):
        jobs, kept = with_kept_previous_keys((job(authority(key)),), state)
    assert kept == {} and jobs[0].authority.previous_account_key is None
    assert "is gone: forgotten" in caplog.text
    assert load_authority_state(state, "letsencrypt") == AuthorityState()


@pytest.mark.parametrize("text", ['{"previous_account_key": "relative.key"}', '{"previous_account_key": 5}', "[]", "{"])
def test_an_authority_state_that_makes_no_sense_is_rebuilt(tmp_path: Path, text: str, caplog) -> None:
    (tmp_path / "authorities").mkdir()
    (tmp_path / "authorities" / "letsencrypt.json").write_text(text)
    assert load_authority_state(tmp_path, "letsencrypt") == AuthorityState()
    assert "is corrupt" in caplog.text
    assert json.loads((tmp_path / "authorities" / "letsencrypt.json").read_text()) == {"previous_account_key": None}


def test_an_authority_name_cannot_name_a_file_elsewhere(tmp_path: Path) -> None:
    save_authority_state(tmp_path, "../../x", AuthorityState("/k"))
    assert os.listdir(tmp_path / "authorities") == ["..%2F..%2Fx.json"]
    assert load_authority_state(tmp_path, "../../x") == AuthorityState("/k")


def test_a_kept_previous_key_is_only_ever_the_account_keys_own_aside(key: Path, tmp_path: Path, caplog) -> None:
    """The state is as trusted as the configuration, but may name no other key of this host (a domain key)."""
    state = tmp_path / "state"
    other = tmp_path / "acme" / "domain.key"
    other.write_bytes(b"a domain key\n")
    save_authority_state(state, "letsencrypt", AuthorityState(str(other)))
    with caplog.at_level(logging.WARNING, "acme_conf"):
        jobs, kept = with_kept_previous_keys((job(authority(key)),), state)
    assert kept == {} and jobs[0].authority.previous_account_key is None
    assert "is not" in caplog.text and "ignored" in caplog.text


def test_k_refuses_a_key_directory_others_may_write(key: Path, tmp_path: Path) -> None:
    key.parent.chmod(0o777)
    with pytest.raises(ProcessFailure, match="writable by group or others"):
        move_account_key_aside(authority(key), tmp_path / "state")
    assert key.exists() and not key.with_name("account.key.previous").exists()
