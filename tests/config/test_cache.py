"""The parser cache: a speed-up that is never trusted blindly and never fails a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lark import Lark

from acme_conf.config import cache, load_plan_text
from acme_conf.config.parse import GRAMMAR, _build_parser

from config_testing import AUTHORITY, domain

TEXT = AUTHORITY + domain("a.example")


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "acme-client"


def counting_build(calls: list[str]):  # noqa: ANN201 - a test double
    def build(grammar: str) -> Lark:
        calls.append("built")
        return _build_parser(grammar)

    return build


def test_first_run_writes_a_private_cache_and_the_next_reads_it(cache_home: Path) -> None:
    calls: list[str] = []
    cache.load_parser(GRAMMAR, counting_build(calls))
    file = cache_home / "parser.cache"
    assert file.stat().st_mode & 0o777 == 0o600
    assert cache_home.stat().st_mode & 0o777 == 0o700
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built"]
    assert [job.handle for job in load_plan_text(TEXT).domains] == ["a.example"]


def test_stale_cache_is_rebuilt(cache_home: Path) -> None:
    calls: list[str] = []
    cache.load_parser(GRAMMAR, counting_build(calls))
    file = cache_home / "parser.cache"
    data = file.read_bytes()
    file.write_bytes(b"acme-client parser 0000\n" + data.split(b"\n", 1)[1])
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"]
    assert file.read_bytes().split(b"\n", 1)[0] == data.split(b"\n", 1)[0]
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"]


def test_damaged_cache_is_no_cache(cache_home: Path) -> None:
    calls: list[str] = []
    cache.load_parser(GRAMMAR, counting_build(calls))
    file = cache_home / "parser.cache"
    file.write_bytes(file.read_bytes()[:200])
    parser = cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"] and isinstance(parser, Lark)


@pytest.mark.parametrize("mode", [0o620, 0o602])
def test_cache_others_may_write_is_not_read(cache_home: Path, mode: int) -> None:
    calls: list[str] = []
    cache.load_parser(GRAMMAR, counting_build(calls))
    (cache_home / "parser.cache").chmod(mode)
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"]


def test_cache_in_a_directory_others_may_write_is_not_used(cache_home: Path) -> None:
    calls: list[str] = []
    cache_home.mkdir(mode=0o700)
    cache_home.chmod(0o777)
    cache.load_parser(GRAMMAR, counting_build(calls))
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"]
    assert not (cache_home / "parser.cache").exists()


def test_cache_owned_by_someone_else_is_not_read(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    cache.load_parser(GRAMMAR, counting_build(calls))
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"]


def test_symlinked_cache_file_is_not_followed(cache_home: Path, tmp_path: Path) -> None:
    calls: list[str] = []
    cache.load_parser(GRAMMAR, counting_build(calls))
    real = tmp_path / "elsewhere"
    (cache_home / "parser.cache").rename(real)
    (cache_home / "parser.cache").symlink_to(real)
    cache.load_parser(GRAMMAR, counting_build(calls))
    assert calls == ["built", "built"]


def test_unusable_cache_directory_is_no_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # cannot make a directory in a file
    assert [job.handle for job in load_plan_text(TEXT).domains] == ["a.example"]
