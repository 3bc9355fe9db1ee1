"""fileproc: installing and removing certificate files in a real directory through its descriptor."""

from __future__ import annotations

import base64
import errno
import os
import stat
from pathlib import Path

import pytest

from acme_conf.messages.certificate import WriteCertificate
from acme_conf.proc import fileproc
from acme_conf.errors import ProcessFailure
from acme_conf.proc.fileproc import Held, remove_certificate, write_certificate
from acme_conf.proc.spec import FileSettings
from fileproc_fixtures import cert_dir, held  # noqa: F401  (fixtures)

SETTINGS = FileSettings(cert_dir="", certificate="cert.pem", chain="chain.pem", fullchain="fullchain.pem", revoke=False)


def pem_block(text: str) -> bytes:
    """A PEM certificate block in the shape certproc writes (fileproc checks the shape, not the content)."""
    body = base64.b64encode(text.encode() * 8).decode()
    lines = "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}-----END CERTIFICATE-----\n".encode()


def bundle(tag: str) -> WriteCertificate:
    leaf = pem_block(f"leaf {tag}")
    chain = pem_block(f"chain {tag}")
    return WriteCertificate(certificate=leaf, chain=chain, fullchain=leaf + chain)


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def settings_for(cert_dir: Path, **names: str) -> FileSettings:
    return FileSettings(
        cert_dir=str(cert_dir),
        certificate=names.get("certificate", SETTINGS.certificate),
        chain=names.get("chain", SETTINGS.chain),
        fullchain=names.get("fullchain", SETTINGS.fullchain),
        revoke=False,
    )


# installing ---------------------------------------------------------------------------------


def test_first_install_writes_exact_files_mode_0444(held: Held, cert_dir: Path) -> None:
    write_certificate(held, settings_for(cert_dir), bundle("one"))
    assert listing(cert_dir) == ["cert.pem", "chain.pem", "fullchain.pem"]
    assert (cert_dir / "cert.pem").read_bytes() == bundle("one").certificate
    assert (cert_dir / "chain.pem").read_bytes() == bundle("one").chain
    assert (cert_dir / "fullchain.pem").read_bytes() == bundle("one").fullchain
    for name in ("cert.pem", "chain.pem", "fullchain.pem"):
        assert mode(cert_dir / name) == 0o444


def test_mode_is_0444_whatever_the_umask(held: Held, cert_dir: Path) -> None:
    previous = os.umask(0o777)
    try:
        write_certificate(held, settings_for(cert_dir), bundle("one"))
    finally:
        os.umask(previous)
    assert all(mode(cert_dir / name) == 0o444 for name in listing(cert_dir))


def test_reinstall_keeps_a_one_deep_backup(held: Held, cert_dir: Path) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("one"))
    write_certificate(held, settings, bundle("two"))
    assert (cert_dir / "cert.pem").read_bytes() == bundle("two").certificate
    assert (cert_dir / "cert.pem.1").read_bytes() == bundle("one").certificate
    assert (cert_dir / "fullchain.pem.1").read_bytes() == bundle("one").fullchain
    write_certificate(held, settings, bundle("three"))
    assert (cert_dir / "cert.pem").read_bytes() == bundle("three").certificate
    assert (cert_dir / "cert.pem.1").read_bytes() == bundle("two").certificate
    assert (cert_dir / "chain.pem.1").read_bytes() == bundle("two").chain
    assert listing(cert_dir) == [
        "cert.pem", "cert.pem.1", "chain.pem", "chain.pem.1", "fullchain.pem", "fullchain.pem.1",
    ]
    assert all(mode(cert_dir / name) == 0o444 for name in listing(cert_dir))


def test_replace_is_atomic_a_reader_keeps_the_old_file(held: Held, cert_dir: Path) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("old"))
    with open(cert_dir / "fullchain.pem", "rb") as reader:
        old_inode = os.fstat(reader.fileno()).st_ino
        write_certificate(held, settings, bundle("new"))
        assert reader.read() == bundle("old").fullchain  # never truncated in place
    assert (cert_dir / "fullchain.pem").stat().st_ino != old_inode
    assert (cert_dir / "fullchain.pem.1").stat().st_ino == old_inode  # the backup is the old file itself


def test_only_configured_files_are_written(held: Held, cert_dir: Path) -> None:
    write_certificate(held, settings_for(cert_dir, certificate="", chain=""), bundle("one"))
    assert listing(cert_dir) == ["fullchain.pem"]


def test_symlink_in_place_of_a_file_is_replaced_not_followed(held: Held, cert_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (cert_dir / "cert.pem").symlink_to(victim)
    write_certificate(held, settings_for(cert_dir), bundle("one"))
    assert victim.read_bytes() == b"precious"
    assert not (cert_dir / "cert.pem").is_symlink()
    assert (cert_dir / "cert.pem").read_bytes() == bundle("one").certificate


# failures -------------------------------------------------------------------------------------------


def _fail_on_call(monkeypatch: pytest.MonkeyPatch, name: str, failing_call: int, error_number: int) -> None:
    real = getattr(os, name)
    calls = {"n": 0}

    def maybe_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise OSError(error_number, os.strerror(error_number))
        return real(*args, **kwargs)

    monkeypatch.setattr(fileproc.os, name, maybe_fail)


def _snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    return {name: ((directory / name).lstat().st_ino, (directory / name).read_bytes()) for name in listing(directory)}


@pytest.mark.parametrize(
    ("call", "failing", "error_number"),
    [("fsync", 1, errno.EIO), ("fsync", 3, errno.EIO), ("write", 2, errno.ENOSPC), ("fchmod", 3, errno.EPERM)],
)
def test_failure_while_writing_leaves_the_old_files_untouched(
    held: Held, cert_dir: Path, monkeypatch: pytest.MonkeyPatch, call: str, failing: int, error_number: int
) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("one"))
    write_certificate(held, settings, bundle("two"))
    before = _snapshot(cert_dir)
    _fail_on_call(monkeypatch, call, failing, error_number)
    with pytest.raises(ProcessFailure, match=os.strerror(error_number)):
        write_certificate(held, settings, bundle("three"))
    monkeypatch.undo()
    assert _snapshot(cert_dir) == before  # same files, same inodes, same bytes: no temporary left


def test_failure_on_first_install_leaves_nothing(held: Held, cert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_on_call(monkeypatch, "fsync", 2, errno.ENOSPC)
    with pytest.raises(ProcessFailure):
        write_certificate(held, settings_for(cert_dir), bundle("one"))
    monkeypatch.undo()
    assert listing(cert_dir) == []


def test_unwritable_name_fails_before_anything_is_replaced(held: Held, cert_dir: Path) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("one"))
    before = _snapshot(cert_dir)
    broken = settings_for(cert_dir, fullchain="no-such-subdir/fullchain.pem")
    with pytest.raises(ProcessFailure, match=f"cannot create a file in {cert_dir}"):
        write_certificate(held, broken, bundle("two"))
    assert _snapshot(cert_dir) == before


def test_failure_while_keeping_backups_leaves_the_old_set(
    held: Held, cert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("one"))
    _fail_on_call(monkeypatch, "rename", 2, errno.EIO)  # the certificate's backup fails
    with pytest.raises(ProcessFailure, match="cannot keep the previous .*cert.pem"):
        write_certificate(held, settings, bundle("two"))
    monkeypatch.undo()
    assert not [name for name in listing(cert_dir) if name.endswith(".tmp")]
    old = bundle("one")
    assert (cert_dir / "chain.pem").read_bytes() == old.chain
    assert (cert_dir / "cert.pem").read_bytes() == old.certificate
    assert (cert_dir / "fullchain.pem").read_bytes() == old.fullchain


@pytest.mark.parametrize("failing_install", [1, 2, 3])
def test_a_failed_rename_puts_back_what_was_already_replaced(
    held: Held, cert_dir: Path, monkeypatch: pytest.MonkeyPatch, failing_install: int
) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("one"))
    # renames: three backups, then the installs; fail the n-th install
    _fail_on_call(monkeypatch, "rename", 3 + failing_install, errno.EIO)
    with pytest.raises(ProcessFailure, match="cannot install"):
        write_certificate(held, settings, bundle("two"))
    monkeypatch.undo()
    assert not [name for name in listing(cert_dir) if name.endswith(".tmp")]
    old = bundle("one")
    assert (cert_dir / "chain.pem").read_bytes() == old.chain
    assert (cert_dir / "cert.pem").read_bytes() == old.certificate
    assert (cert_dir / "fullchain.pem").read_bytes() == old.fullchain


def test_a_failed_first_install_leaves_no_set_at_all(
    held: Held, cert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_on_call(monkeypatch, "rename", 3, errno.EIO)  # no backups: chain, cert installed, fullchain fails
    with pytest.raises(ProcessFailure, match="cannot install .*fullchain.pem"):
        write_certificate(held, settings_for(cert_dir), bundle("two"))
    monkeypatch.undo()
    assert listing(cert_dir) == []


# removing ---------------------------------------------------------------------------------------------


def test_remove_certificate_removes_the_configured_files(held: Held, cert_dir: Path) -> None:
    settings = settings_for(cert_dir)
    write_certificate(held, settings, bundle("one"))
    (cert_dir / "unrelated.txt").write_text("keep me")
    remove_certificate(held, settings)
    assert "cert.pem" not in listing(cert_dir)
    assert "chain.pem" not in listing(cert_dir)
    assert "fullchain.pem" not in listing(cert_dir)
    assert (cert_dir / "unrelated.txt").read_text() == "keep me"


def test_remove_certificate_when_files_are_missing(held: Held, cert_dir: Path) -> None:
    remove_certificate(held, settings_for(cert_dir))
    assert listing(cert_dir) == []


def test_remove_certificate_reports_what_it_cannot_remove(held: Held, cert_dir: Path) -> None:
    (cert_dir / "cert.pem").mkdir()  # unlink of a directory fails with EISDIR
    with pytest.raises(ProcessFailure, match="cannot remove .*cert.pem"):
        remove_certificate(held, settings_for(cert_dir))


@pytest.mark.parametrize(
    "files",
    [
        WriteCertificate(b"", b"", b""),
        WriteCertificate(b"#!/bin/sh\nrm -rf /\n", b"", b"#!/bin/sh\nrm -rf /\n"),
        WriteCertificate(pem_block("a") + pem_block("b"), b"", pem_block("a") + pem_block("b")),  # two leaves
        WriteCertificate(pem_block("a"), b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                         pem_block("a") + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        WriteCertificate(pem_block("a"), pem_block("b"), pem_block("a")),  # the full chain is not both
        WriteCertificate(pem_block("a"), pem_block("b"), pem_block("a") + pem_block("b") + b"trailer"),
    ],
    ids=["empty", "not-pem", "two-leaves", "a-key-in-the-chain", "short-full-chain", "longer-full-chain"],
)
def test_only_what_certproc_sends_is_installed(held: Held, cert_dir: Path, files: WriteCertificate) -> None:
    """A certproc taken over cannot install a script, a key or a mismatched set: nothing is written."""
    with pytest.raises(ProcessFailure, match="nothing installed"):
        write_certificate(held, settings_for(cert_dir), files)
    assert listing(cert_dir) == []
