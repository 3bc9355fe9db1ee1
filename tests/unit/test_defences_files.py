"""fileproc: the directory is flushed after every change, and only a -r run removes certificates.

docs/SECURITY.md and ARCHITECTURE.md: new files are written and flushed,
renamed over the old ones, "then the directory is flushed" (without it a
crash right after an install may lose the renames, leaving the old
certificate or none); and certproc "cannot make fileproc remove them, which
fileproc does only in a -r run".

The flush is seen by recording, around the real write_certificate and
remove_certificate, every rename, unlink and fsync with the file each
fsync was for.  The remove rule is tried on the real fileproc, started by
the parent's own spawn (proc/spawner.py) and jailed strictly, with this test playing a
certproc taken over on its real channel.
"""

from __future__ import annotations

import base64
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acme_conf.ipc import Channel
from acme_conf.messages.certificate import RemoveCertificate, WriteCertificate
from acme_conf.proc import spawner
from acme_conf.proc.fileproc import Held, remove_certificate, write_certificate
from acme_conf.proc.spec import ChildSpec, FileSettings
from fileproc_fixtures import cert_dir, held  # noqa: F401  (fixtures)

FILES = ("cert.pem", "chain.pem", "fullchain.pem")


def pem_block(text: str) -> bytes:
    body = base64.b64encode(text.encode() * 8).decode()
    lines = "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}-----END CERTIFICATE-----\n".encode()


def bundle(tag: str) -> WriteCertificate:
    leaf, chain = pem_block(f"leaf {tag}"), pem_block(f"chain {tag}")
    return WriteCertificate(certificate=leaf, chain=chain, fullchain=leaf + chain)


def settings_for(cert_dir: Path, *, revoke: bool = False) -> FileSettings:
    return FileSettings(str(cert_dir), *FILES, revoke=revoke)


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every rename, unlink and fsync fileproc makes, in order; an fsync names the inode it flushed."""
    events: list[tuple[str, Any]] = []

    def recording(name: str, real: Callable[..., Any], what: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            events.append((name, what(*args)))
            return result

        return call

    monkeypatch.setattr(os, "rename", recording("rename", os.rename, lambda source, target: target))
    monkeypatch.setattr(os, "unlink", recording("unlink", os.unlink, lambda path: path))
    monkeypatch.setattr(os, "fsync", recording("fsync", os.fsync, lambda fd: os.fstat(fd).st_ino))
    return events


def last_change(events: list[tuple[str, Any]], kind: str) -> int:
    return max(index for index, (name, _) in enumerate(events) if name == kind)


def test_an_install_flushes_the_directory_after_its_last_rename(
    held: Held, cert_dir: Path, journal: list[tuple[str, Any]]
) -> None:
    for tag in ("first", "second"):  # the first install, then one that keeps FILE.1 backups
        journal.clear()
        write_certificate(held, settings_for(cert_dir), bundle(tag))
        directory = cert_dir.stat().st_ino
        flushed_after = [what for name, what in journal[last_change(journal, "rename") + 1:] if name == "fsync"]
        assert directory in flushed_after, f"{tag} install: the directory was not flushed after the renames: {journal}"
    assert (cert_dir / "cert.pem").read_bytes() == bundle("second").certificate


def test_a_removal_flushes_the_directory_after_its_last_unlink(
    held: Held, cert_dir: Path, journal: list[tuple[str, Any]]
) -> None:
    write_certificate(held, settings_for(cert_dir), bundle("one"))
    journal.clear()
    remove_certificate(held, settings_for(cert_dir, revoke=True))
    flushed_after = [what for name, what in journal[last_change(journal, "unlink") + 1:] if name == "fsync"]
    assert cert_dir.stat().st_ino in flushed_after, journal


# the real fileproc, jailed ------------------------------------------------------------------------


def run_fileproc(cert_dir: Path, revoke: bool, request: RemoveCertificate | WriteCertificate) -> tuple[int, str]:
    """The real fileproc, started as the parent starts it, given `request` by a certproc played here."""
    ours, theirs = socket.socketpair()
    try:
        channels = (("certproc", theirs.fileno()),)
        spec = ChildSpec("fileproc", "files.example.test", 0, True, channels, settings_for(cert_dir, revoke=revoke))
        child = spawner.spawn(spec, spawner.child_import_path())
        theirs.close()
        Channel(ours, "fileproc").send(request)
        ours.shutdown(socket.SHUT_WR)
        _, err = child.communicate(timeout=60)
    finally:
        ours.close()
        theirs.close()
    return child.returncode, err.decode(errors="replace")


def install(cert_dir: Path) -> dict[str, bytes]:
    files = bundle("installed")
    contents = dict(zip(FILES, (files.certificate, files.chain, files.fullchain)))
    for name, content in contents.items():
        (cert_dir / name).write_bytes(content)
    return contents


def test_a_certproc_taken_over_cannot_have_the_certificate_removed_outside_a_revoke_run(cert_dir: Path) -> None:
    installed = install(cert_dir)
    status, err = run_fileproc(cert_dir, revoke=False, request=RemoveCertificate())
    assert status == 1, err
    assert "bad message" in err, err
    assert {name: (cert_dir / name).read_bytes() for name in FILES} == installed


def test_control_in_a_revoke_run_the_same_request_removes_them(cert_dir: Path) -> None:
    install(cert_dir)
    status, err = run_fileproc(cert_dir, revoke=True, request=RemoveCertificate())
    assert status == 0, err
    assert sorted(os.listdir(cert_dir)) == []


def test_a_revoke_run_installs_nothing(cert_dir: Path) -> None:
    installed = install(cert_dir)
    status, err = run_fileproc(cert_dir, revoke=True, request=bundle("other"))
    assert status == 1 and "bad message" in err, err
    assert {name: (cert_dir / name).read_bytes() for name in FILES} == installed
    assert all(stat.S_ISREG((cert_dir / name).lstat().st_mode) for name in FILES)
