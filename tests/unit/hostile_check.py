"""A domain whose check runs through the parent's real loop with a hostile revokeproc: shared by the tests of
what the parent relays (test_voice.py) and what it keeps of why a check failed (test_status_gather.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from acme_conf.config.plan import FileAccess
from acme_conf.proc import spawner
from acme_conf.proc.spec import ChildSpec


def checked_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revokeproc_source: str) -> SimpleNamespace:
    """example.com with a certificate file to check, whose check's revokeproc runs `revokeproc_source` (a keyproc: true)."""
    script = tmp_path / "hostile.py"
    script.write_text(revokeproc_source)

    def spawn(spec: ChildSpec, import_path: tuple[str, ...]) -> subprocess.Popen[bytes]:
        argv = ["true"] if spec.role == "keyproc" else [spawner.sys.executable, str(script)]
        return subprocess.Popen(argv, stderr=subprocess.PIPE)

    monkeypatch.setattr(spawner, "spawn", spawn)
    certificate = tmp_path / "example.com.crt"
    certificate.write_text("a certificate\n")
    return SimpleNamespace(
        handle="example.com", certificate=certificate, fullchain=None, names=("example.com",),
        domain_key=tmp_path / "example.com.key", keytype=SimpleNamespace(value="ecdsa"), key_size=None,
        renewal_information=True, authority=SimpleNamespace(account_key=tmp_path / "account.key"), chain=None,
        uses_challengedir=False, access=lambda output: FileAccess(), combined=None,
    )
