"""The package's layers, as docs/ARCHITECTURE.md draws them: nothing imports upwards.

From the top: the command (cli.py, __main__.py); the executor (proc/); the
configuration language (config/); the pieces the executor's processes use
(net/, keys.py, certstatus.py, files.py, certnames.py, ipc.py, messages/,
sandbox/); the protocol with no I/O (acme/); errors.py and samples.py at the bottom.  A
layer may import its own and those below it, never one above: the wire and
the helpers never import the executor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "acme_conf"

# (layer, the module prefixes in it), top first
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("command", ("acme_conf.cli", "acme_conf.__main__")),
    ("executor", ("acme_conf.proc",)),
    ("configuration", ("acme_conf.config",)),
    (
        "process pieces",
        (
            "acme_conf.net",
            "acme_conf.keys",
            "acme_conf.csr",
            "acme_conf.certstatus",
            "acme_conf.files",
            "acme_conf.state",
            "acme_conf.paths",
            "acme_conf.certnames",
            "acme_conf.ipc",
            "acme_conf.messages",
            "acme_conf.sandbox",
        ),
    ),
    ("protocol", ("acme_conf.acme",)),
    ("bottom", ("acme_conf.errors", "acme_conf.samples", "acme_conf")),
)


def layer_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes if prefix != "acme_conf"):
            return index
    if module == "acme_conf":  # the package itself: only __version__
        return len(LAYERS) - 1
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/ARCHITECTURE.md")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every acme_conf module the module `name` imports, at any depth of its `source` (lazy imports too)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {module for module in found if module == "acme_conf" or module.startswith("acme_conf.")}


def existing(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative / "__init__.py").exists()


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    name = module_name(path)
    assert upward_imports(path.read_text(), name, path.name == "__init__.py") == []


def upward_imports(source: str, name: str, is_package: bool = False) -> list[str]:
    own = layer_of(name)
    return sorted(
        f"{name} ({LAYERS[own][0]}) imports {module} ({LAYERS[layer_of(module)][0]})"
        for module in imported_modules(source, name, is_package)
        if existing(module) and layer_of(module) < own
    )


@pytest.mark.parametrize(
    "source",
    [
        "from acme_conf.proc.errors import EXIT_OK",
        "import acme_conf.proc.spec",
        "from ..proc import spec",
        "def late():\n    from acme_conf.proc.child import run_role",
    ],
)
def test_an_upward_import_in_any_form_is_seen(source: str) -> None:
    assert upward_imports(source, "acme_conf.net.transport") != []


def test_imports_downwards_and_sideways_are_fine() -> None:
    source = "from acme_conf.errors import ProcessFailure\nfrom .session import AcmeSession\nfrom acme_conf import sandbox"
    assert upward_imports(source, "acme_conf.net.transport") == []
