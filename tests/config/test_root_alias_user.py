"""A hook's user is never root, nor root by another name (a uid-0 alias such as `toor`), at the check."""

from __future__ import annotations

import pwd

import pytest

from acme_conf.config import build

from config_testing import AUTHORITY, domain, errors_of

HOOK = "/bin/true"


def root_alias(name: str) -> pwd.struct_passwd:
    if name == "toor":
        return pwd.struct_passwd(("toor", "x", 0, 0, "root by another name", "/root", "/bin/sh"))
    return pwd.getpwnam(name)


@pytest.mark.parametrize(
    "text",
    [
        f"hook changed {HOOK} user toor\n" + AUTHORITY + domain("a.example"),
        AUTHORITY + domain("a.example", f"challenge dns-01 hook {HOOK} user toor"),
    ],
)
def test_a_uid_0_alias_is_refused_at_the_check(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(build.pwd, "getpwnam", root_alias)
    assert any("user toor: not an unprivileged user's name" in error for error in errors_of(text))
