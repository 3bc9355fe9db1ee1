"""The import guard: once a role is jailed, no module may be loaded, and an attempt is impossible to miss.

Every case runs in a fresh interpreter (a guard in the test process would
stop pytest itself).  The guard is tested on its own, then through
run_role, the life every child shares, under the real sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code)],
        env={},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def answer(*parts: str) -> dict:
    done = run("\n".join(textwrap.dedent(part) for part in parts))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


GUARDED = """
    import importlib, json, sys
    from acme_conf.sandbox.imports import ImportAfterJail, forbid_imports
    guard = forbid_imports("certproc")

    def attempt(action):
        try:
            action()
        except ImportAfterJail as error:
            return [error.role, error.module, str(error)]
        return "imported"
"""


@pytest.mark.parametrize(
    ("action", "module"),
    [
        ("lambda: __import__('fractions')", "fractions"),
        ("lambda: importlib.import_module('statistics')", "statistics"),
        ("lambda: exec('from xml.dom import minidom')", "xml"),
        ("lambda: 'b\\u00fccher.example'.encode('idna')", "encodings.idna"),  # a codec is a module
        ("lambda: importlib.import_module('json.tool')", "json.tool"),  # a submodule of a loaded package
    ],
)
def test_every_way_of_importing_raises_naming_module_and_role(action: str, module: str) -> None:
    facts = answer(GUARDED, f"print(json.dumps(attempt({action})))")
    assert facts[:2] == ["certproc", module]
    assert facts[2] == f"certproc tried to import {module} after its jail"


def test_modules_loaded_before_the_jail_still_import() -> None:
    facts = answer(GUARDED, "import json, importlib\nprint(json.dumps({'violations': guard.violations()}))")
    assert facts == {"violations": []}


def test_no_library_handler_can_swallow_it() -> None:
    """except Exception and except ImportError (what libraries write around optional imports) let it through."""
    facts = answer(
        GUARDED,
        """
    def library():
        try:
            import fractions  # noqa: F401
        except ImportError:
            return "swallowed by except ImportError"
        except Exception:
            return "swallowed by except Exception"
    print(json.dumps(attempt(library)))
    """
    )
    assert facts[1] == "fractions"


def test_an_attempt_swallowed_anyway_is_still_on_record() -> None:
    facts = answer(
        GUARDED,
        """
    try:
        import fractions  # noqa: F401
    except BaseException:
        pass
    print(json.dumps({"violations": guard.violations()}))
    """
    )
    assert facts == {"violations": ["fractions"]}


def test_a_module_that_arrives_without_a_finder_is_seen_at_the_end() -> None:
    facts = answer(
        GUARDED,
        """
    import types
    sys.modules["planted"] = types.ModuleType("planted")
    print(json.dumps({"violations": guard.violations()}))
    """
    )
    assert facts == {"violations": ["planted"]}


# ---------------------------------------------------------------------------
# Through run_role, under the real sandbox: what a user sees


ROLE = """
    import os, socket, sys
    from acme_conf.proc.child import run_role
    from acme_conf.proc.spec import CertSettings, ChildSpec
    from acme_conf import sandbox
    a, b = socket.socketpair()
    spec = ChildSpec("certproc", "example.com", {verbosity}, False, (("netproc", a.fileno()),), CertSettings(("example.com",)))

    def serve(spec, held):
{serve}
        return 0

    status = run_role(spec, lambda spec: None, lambda spec, held: sandbox.Grants(channels=(a.fileno(),)), serve)
    sys.stderr.flush()
    os._exit(status)
"""


def run_role(serve: str, verbosity: int = 2) -> subprocess.CompletedProcess[str]:
    body = textwrap.indent(textwrap.dedent(serve), " " * 8)
    return run(textwrap.dedent(ROLE).replace("{serve}", body).replace("{verbosity}", str(verbosity)))


def test_a_role_that_imports_after_its_jail_fails_with_an_internal_error_naming_both() -> None:
    done = run_role("import fractions  # noqa: F401")
    assert done.returncode == 1
    # bare: the parent labels each line of a child's with its domain and role (proc/voice.py)
    assert "internal error: certproc tried to import fractions after its jail" in done.stderr
    assert "PermissionError" not in done.stderr and "Traceback" not in done.stderr


def test_a_role_that_swallows_the_attempt_fails_at_its_end_all_the_same() -> None:
    done = run_role(
        """
        try:
            import fractions  # noqa: F401
        except BaseException:
            pass
        """,
        verbosity=0,
    )
    assert done.returncode == 1
    assert "internal error: certproc imported fractions after its jail" in done.stderr


def test_a_role_that_imports_nothing_says_so_at_vv() -> None:
    done = run_role("import json  # loaded before the jail")
    assert done.returncode == 0, done.stderr
    assert "nothing imported after the jail" in done.stderr
