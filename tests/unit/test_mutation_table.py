"""tools/mutate.py stays true to the code: a tiny smoke of the mutation figure in every test run.

The whole figure (every defence removed once, its tests run) takes some
ten minutes and is run by hand; here each row must still find its text
exactly once and name tests that exist, so that a refactor cannot quietly
turn a mutation into one that changes nothing, and one mutant runs end to
end through the script's scratch copy and must be caught.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "mutate.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("acme_mutate_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple classes look their module up
    spec.loader.exec_module(module)
    return module


MUTATE = load_script()


@pytest.mark.parametrize("mutation", MUTATE.MUTATIONS, ids=lambda mutation: mutation.name)
def test_each_mutation_finds_its_text_once_and_names_tests_that_exist(mutation: object) -> None:
    assert MUTATE.occurrences(mutation, REPO) == 1, f"{mutation.name}: the text to find moved in {mutation.path}"
    assert mutation.find != mutation.replace
    assert mutation.tests, f"{mutation.name} names no test"
    assert MUTATE.missing_tests(mutation.tests, REPO) == [], f"{mutation.name} names tests that are gone"


@pytest.mark.parametrize("mutation", MUTATE.MUTATIONS, ids=lambda mutation: mutation.name)
def test_each_mutant_is_still_python(mutation: object) -> None:
    """A mutant that does not compile is caught by every test for the wrong reason (and pytest says ERROR)."""
    path = REPO / mutation.path
    if path.suffix != ".py":
        return
    compile(path.read_text().replace(mutation.find, mutation.replace), str(path), "exec")


def test_mutation_names_are_unique() -> None:
    names = [mutation.name for mutation in MUTATE.MUTATIONS]
    assert len(names) == len(set(names))


def test_one_mutant_is_caught_through_the_scratch_copy() -> None:
    # the default scratch place: pytest's tmp_path is 0700, closed to the unprivileged interpreter
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "import-guard-catchable", "--no-baseline", "--timeout", "300"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 of 1 mutations caught" in result.stdout, result.stdout[-3000:]
