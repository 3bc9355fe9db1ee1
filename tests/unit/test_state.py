"""What runs keep for each other (acme_conf/state.py): written whole, read with suspicion."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acme_conf.acme.polling import MAX_BACKOFF
from acme_conf.state import DomainState, backoff_reported, load_state, save_state, state_directory

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def test_a_state_is_written_whole_private_and_read_back(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    save_state(directory, "example.com", DomainState(backoff_until=NOW))
    assert load_state(directory, "example.com") == DomainState(backoff_until=NOW)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "example.com.json").stat().st_mode) == 0o600
    assert os.listdir(directory) == ["example.com.json"]  # no temporary file left
    save_state(directory, "example.com", DomainState())
    assert load_state(directory, "example.com") == DomainState()


def test_no_state_is_an_empty_one(tmp_path: Path) -> None:
    assert load_state(tmp_path, "example.com") == DomainState()


@pytest.mark.parametrize(
    "data",
    [b"{", b"[]", b'{"backoff_until": "tomorrow"}', b'{"backoff_until": 5}', b'{"backoff_until": "2026-12-07T12:00:00"}',
     b"x" * 70_000, b"\xff\xfe", b'{"backoff_until": "0001-01-01T00:00:00+01:00"}', b"[" * 4000],
)
def test_a_state_that_makes_no_sense_is_a_warning_and_rebuilt(tmp_path: Path, data: bytes, caplog) -> None:
    (tmp_path / "example.com.json").write_bytes(data)
    with caplog.at_level(logging.WARNING, "acme_conf"):
        assert load_state(tmp_path, "example.com") == DomainState()
    assert "is corrupt" in caplog.text
    assert json.loads((tmp_path / "example.com.json").read_text()) == {"backoff_until": None, "renewal": None, "certificate": None, "last_run": None}


def test_a_handle_cannot_name_a_file_elsewhere(tmp_path: Path) -> None:
    for handle in ("../x", ".hidden", ""):
        with pytest.raises(ValueError):
            load_state(tmp_path, handle)


def test_the_reported_back_off_is_checked_and_bounded() -> None:
    line = lambda when: json.dumps({"backoff_until": when}).encode() + b"\n"  # noqa: E731
    assert backoff_reported(line((NOW + timedelta(hours=2)).isoformat()), NOW) == NOW + timedelta(hours=2)
    assert backoff_reported(line((NOW + timedelta(days=400)).isoformat()), NOW) == NOW + timedelta(seconds=MAX_BACKOFF)
    assert backoff_reported(line((NOW - timedelta(days=1)).isoformat()), NOW) == NOW  # never in the past
    for garbage in (b"", b"not json\n", line("soon"), line(None), b"[1]\n", line("2026-12-07T12:00:00"),
                    line("0001-01-01T00:00:00+01:00"), b"[" * 4096):
        assert backoff_reported(garbage, NOW) is None, garbage


def test_the_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_CLIENT_STATE_DIR", "/srv/acme-state")
    assert state_directory() == Path("/srv/acme-state")
    monkeypatch.delenv("ACME_CLIENT_STATE_DIR")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert state_directory() == Path("/var/db/acme")


def test_a_kept_back_off_is_believed_a_week_ahead_at_most(tmp_path: Path) -> None:
    far = datetime.now(timezone.utc) + timedelta(days=3650)
    (tmp_path / "example.com.json").write_text(json.dumps({"backoff_until": far.isoformat()}))
    until = load_state(tmp_path, "example.com").backoff_until
    assert until is not None and until <= datetime.now(timezone.utc) + timedelta(seconds=MAX_BACKOFF)


def test_a_state_file_that_is_a_fifo_or_a_link_is_not_read(tmp_path: Path, caplog) -> None:
    os.mkfifo(tmp_path / "fifo.example.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"backoff_until": None}))
    (tmp_path / "link.example.json").symlink_to(tmp_path / "elsewhere.json")
    with caplog.at_level(logging.WARNING, "acme_conf"):
        assert load_state(tmp_path, "fifo.example") == DomainState()  # and it did not block
        assert load_state(tmp_path, "link.example") == DomainState()
    assert caplog.text.count("cannot be read") == 2
