"""Helpers for the configuration tests (imported by name: pytest puts this directory on sys.path).

Configuration files in corpus/invalid say which errors they must give: a
comment `# error: MESSAGE` on the line the error is reported at, or
`# error(line N): MESSAGE` for another line (the end of the file).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acme_conf.config import ConfigErrors, load_plan, load_plan_text
from acme_conf.config.plan import Plan

CORPUS = Path(__file__).parent / "corpus"
_ANNOTATION = re.compile(r"# error(?:\(line (\d+)\))?: (.*?)(?=\s*# error|\s*$)")


def expected_errors(path: Path) -> list[str]:
    """The `file:line: message` errors a corpus file says it gives, in order."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for match in _ANNOTATION.finditer(line):
            at = int(match.group(1)) if match.group(1) else number
            found.append((at, f"{path}:{at}: {match.group(2)}"))
    return [message for _, message in sorted(found, key=lambda item: item[0])]


def errors_of(path_or_text: str | Path, name: str = "test.conf") -> list[str]:
    """The errors a configuration gives, as printed; fails if it gives none."""
    with pytest.raises(ConfigErrors) as raised:
        if isinstance(path_or_text, Path):
            load_plan(path_or_text)
        else:
            load_plan_text(path_or_text, name)
    return [str(error) for error in raised.value.errors]


def plan_of(text: str, name: str = "test.conf") -> Plan:
    return load_plan_text(text, name)


AUTHORITY = """\
authority ca {
	api url "https://acme.example/dir"
	account key "/nonexistent-acme-test/a/ca.pem"
}
"""


def domain(handle: str = "example.com", *options: str) -> str:
    """A domain block with a key and a certificate, plus `options`."""
    lines = [
        f"domain {handle} {{",
        f'\tdomain key "/nonexistent-acme-test/k/{handle}.key"',
        f'\tdomain certificate "/nonexistent-acme-test/c/{handle}.crt"',
        *(f"\t{option}" for option in options),
        "}",
    ]
    return "\n".join(lines) + "\n"
