"""One voice: a child's stderr reaches the user only labelled and sanitised by the parent (proc/voice.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acme_conf.proc.scheduler import _run_chains
from acme_conf.proc.settings import RunOptions
from acme_conf.proc.voice import MAX_LINE, MAX_TOTAL, ChildVoice

from hostile_check import checked_job

FORGERY = b"\x1b[2J\x1b]0;pwned\x07acme-client: example.com: certificate updated\r\nsecond\x00line\n"


def test_each_line_is_labelled_with_the_role_the_parent_started() -> None:
    voice = ChildVoice("example.com: netproc")
    assert voice.hear(b"order ready\nhalf") == ["acme-client: example.com: netproc: order ready"]
    assert voice.hear(b" a line\n") == ["acme-client: example.com: netproc: half a line"]
    assert voice.hear(b"no end") == []
    assert voice.hear(b"") == ["acme-client: example.com: netproc: no end"]  # end of file: what is left


def test_a_forged_line_cannot_pass_for_the_parents_nor_reach_the_terminal_raw() -> None:
    lines = ChildVoice("example.com: netproc").hear(FORGERY)
    assert lines == [
        "acme-client: example.com: netproc: \\x1b[2J\\x1b]0;pwned\\x07acme-client: example.com: certificate updated",
        "acme-client: example.com: netproc: second\\x00line",
    ]
    assert all(line.isprintable() and line.isascii() for line in lines)


def test_a_long_line_is_cut_and_a_flood_is_silenced() -> None:
    voice = ChildVoice("example.com: netproc")
    (line,) = voice.hear(b"x" * 10_000 + b"\n")
    assert len(line) < MAX_LINE + 100 and line.endswith("...")
    flood = voice.hear(b"y\n" * MAX_TOTAL)
    assert flood == [f"acme-client: example.com: netproc: wrote more than {MAX_TOTAL} bytes; the rest is not shown"]
    assert voice.hear(b"more\n") == [] and voice.hear(b"") == []


def test_the_parent_relays_a_hostile_child_labelled_and_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Through the parent's real loop: a child (here a check's revokeproc) that writes a forgery."""
    job = checked_job(tmp_path, monkeypatch, f"import os, sys\nos.write(2, {FORGERY!r})\nsys.exit(2)\n")
    results, _ = _run_chains([job], RunOptions(), (), state_dir=tmp_path / "state")  # type: ignore[list-item]
    assert not results[0].failed  # exit 2: current
    written = capfd.readouterr().err
    assert "acme-client: example.com: revokeproc: \\x1b[2J\\x1b]0;pwned\\x07acme-client: example.com: certificate updated" in written
    assert "\x1b" not in written and "\x07" not in written
    assert "\nacme-client: example.com: certificate updated" not in written  # never a line of its own
