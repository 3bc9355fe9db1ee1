"""The corpus: valid files and their canonical dumps, invalid files and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from acme_conf.config import dump, load_plan, load_plan_text

from config_testing import CORPUS, errors_of, expected_errors

VALID = sorted((CORPUS / "valid").glob("*.conf"))
INVALID = sorted((CORPUS / "invalid").glob("*.conf"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_file_dumps_as_recorded(path: Path) -> None:
    assert dump(load_plan(path)) == path.with_suffix(".dump").read_text()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_dump_reads_back_to_the_same_dump(path: Path) -> None:
    first = dump(load_plan(path))
    assert dump(load_plan_text(first, "dumped.conf")) == first


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_file_gives_exactly_its_errors(path: Path) -> None:
    expected = expected_errors(path)
    assert expected, f"{path.name} says no error it should give"
    assert errors_of(path) == expected


def test_corpus_covers_every_keyword() -> None:
    text = "\n".join(path.read_text() for path in VALID)
    for keyword in (
        "include", "authority", "api url", "account key", "contact", "insecure",
        "ca file", "domain name", "alternative names", "domain key",
        "domain certificate", "domain chain certificate",
        "domain full chain certificate", "sign with", "challengedir", "profile",
        "rsa", "ecdsa",
    ):
        if keyword == "include":
            continue  # needs real files: see test_include.py
        assert keyword in text, keyword
