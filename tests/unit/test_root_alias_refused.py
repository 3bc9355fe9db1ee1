"""A program's user is never root, nor root by another name: the sandbox of the roles that run programs refuses uid 0."""

from __future__ import annotations

import pytest

from acme_conf.sandbox import apply, process
from acme_conf.sandbox.errors import SetupError
from acme_conf.sandbox.grants import Grants
from acme_conf.sandbox.policy import POLICIES


@pytest.mark.parametrize("role", sorted(role for role, policy in POLICIES.items() if policy.runs_programs))
def test_a_uid_0_alias_is_refused_by_the_sandbox_too(monkeypatch: pytest.MonkeyPatch, role: str) -> None:
    # the user may have become root's alias after the check: the role that would run the program refuses
    monkeypatch.setattr(process, "named_account", lambda name: process.Account(name, 0, 0))
    run = apply._Run(POLICIES[role], Grants(channels=(), user="toor"), privileged=True)
    with pytest.raises(SetupError, match="user toor has uid 0: never run as root"):
        apply._prepare(run)
