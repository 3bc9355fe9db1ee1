"""The suite imports its test directories without packages (pytest's rootdir import): every module name is global.

Two test files of one name in two directories make the whole run stop at
collection, but only when both directories are collected together (as
tools/test.sh does), never when each is run on its own.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_python_file_under_tests_has_a_name_of_its_own() -> None:
    names = Counter(path.name for path in TESTS.rglob("*.py") if path.name != "conftest.py")
    assert [name for name, count in names.items() if count > 1] == []
