"""Account and domain keys: loading, creating when missing, refusing what is wrong (acme_conf.keys)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from acme_conf import keys
from acme_conf.keys import KeyFileError, load_or_create_key


def pem_of(key, fmt=serialization.PrivateFormat.PKCS8, encryption=None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption())


def public_der(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def directory_listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.fixture
def key_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "private"
    directory.mkdir(mode=0o700)
    previous = os.umask(0o077)  # keys the tests write are private, as a key must be
    yield directory
    os.umask(previous)


@pytest.fixture(scope="module")
def small_rsa_pem() -> bytes:
    return pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048))


# creation ---------------------------------------------------------------------------------


def test_ecdsa_key_is_created_when_missing(key_dir: Path) -> None:
    path = key_dir / "domain.key"
    key, created = load_or_create_key(path, "ecdsa")
    assert created
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp384r1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    loaded = serialization.load_pem_private_key(data, password=None)
    assert public_der(loaded) == public_der(key)
    assert directory_listing(key_dir) == ["domain.key"]


def test_rsa_key_is_created_with_4096_bits(key_dir: Path) -> None:
    path = key_dir / "account.key"
    key, created = load_or_create_key(path, "rsa")
    assert created
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 4096
    assert key.public_key().public_numbers().e == 65537
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert directory_listing(key_dir) == ["account.key"]


@pytest.mark.parametrize(
    ("keytype", "size", "expected"),
    [("rsa", 2048, 2048), ("rsa", 3072, 3072), ("rsa", 4096, 4096), ("ecdsa", 256, 256), ("ecdsa", 384, 384)],
)
def test_a_key_is_created_of_the_configured_size(key_dir: Path, keytype: str, size: int, expected: int) -> None:
    key, created = load_or_create_key(key_dir / "k.key", keytype, size)
    assert created
    actual = key.key_size if isinstance(key, rsa.RSAPrivateKey) else key.curve.key_size
    assert actual == expected
    again, created = load_or_create_key(key_dir / "k.key", keytype, size)  # and is then accepted
    assert not created and public_der(again) == public_der(key)


def test_a_size_no_configuration_can_name_is_never_created(key_dir: Path) -> None:
    for keytype, size in (("rsa", 1024), ("ecdsa", 521), ("ecdsa", 2048)):
        with pytest.raises(KeyFileError, match="unknown key type"):
            load_or_create_key(key_dir / "k.key", keytype, size)
    assert directory_listing(key_dir) == []


def test_an_existing_key_of_another_size_is_refused_naming_both(key_dir: Path, small_rsa_pem: bytes) -> None:
    path = key_dir / "k.key"
    path.write_bytes(small_rsa_pem)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="holds an RSA 2048-bit key but the configuration says rsa 4096"):
        load_or_create_key(path, "rsa", 4096)
    assert path.read_bytes() == before  # never replaced
    assert load_or_create_key(path, "rsa")[1] is False  # no size named: any size accepted, as upstream
    path.unlink()
    path.write_bytes(pem_of(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(KeyFileError, match="holds an ECDSA P-256 key but the configuration says ecdsa p384"):
        keys.load_existing_key(path, "ecdsa", 384)


def test_mode_is_0400_whatever_the_umask(key_dir: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_key(key_dir / "k.key", "ecdsa")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((key_dir / "k.key").stat().st_mode) == 0o400


def test_existing_key_is_loaded_not_replaced(key_dir: Path) -> None:
    path = key_dir / "domain.key"
    first, _ = load_or_create_key(path, "ecdsa")
    before = path.read_bytes()
    second, created = load_or_create_key(path, "ecdsa")
    assert not created
    assert public_der(first) == public_der(second)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8], ids=["traditional", "pkcs8"]
)
def test_existing_keys_in_either_pem_format_are_accepted(key_dir: Path, fmt, small_rsa_pem: bytes) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (key_dir / "ec.key").write_bytes(pem_of(ec_key, fmt))
    loaded, created = load_or_create_key(key_dir / "ec.key", "ecdsa")
    assert not created and public_der(loaded) == public_der(ec_key)
    rsa_key = serialization.load_pem_private_key(small_rsa_pem, None)
    (key_dir / "rsa.key").write_bytes(pem_of(rsa_key, fmt))
    loaded, created = load_or_create_key(key_dir / "rsa.key", "rsa")
    assert not created and public_der(loaded) == public_der(rsa_key)


def test_unknown_key_type_is_an_error(key_dir: Path) -> None:
    with pytest.raises(KeyFileError, match="unknown key type 'dsa'"):
        load_or_create_key(key_dir / "k.key", "dsa")
    assert directory_listing(key_dir) == []


# refusing what is wrong, touching nothing --------------------------------------------------------


def _refused(path: Path, keytype: str, match: str) -> None:
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(KeyFileError, match=match) as raised:
        load_or_create_key(path, keytype)
    assert str(path) in str(raised.value)
    if before is not None:
        assert path.read_bytes() == before  # never replaced


def test_rsa_key_where_ecdsa_is_configured(key_dir: Path, small_rsa_pem: bytes) -> None:
    path = key_dir / "k.key"
    path.write_bytes(small_rsa_pem)
    _refused(path, "ecdsa", "holds an RSA key but the configuration says ecdsa")


def test_ecdsa_key_where_rsa_is_configured(key_dir: Path) -> None:
    path = key_dir / "k.key"
    path.write_bytes(pem_of(ec.generate_private_key(ec.SECP384R1())))
    _refused(path, "rsa", "holds an ECDSA key but the configuration says rsa")


def test_encrypted_key(key_dir: Path) -> None:
    path = key_dir / "k.key"
    key = ec.generate_private_key(ec.SECP384R1())
    path.write_bytes(pem_of(key, encryption=serialization.BestAvailableEncryption(b"secret")))
    _refused(path, "ecdsa", "encrypted")


@pytest.mark.parametrize(
    "content",
    [
        b"garbage\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        b"\xff\xfe\x00\x01" * 100,
    ],
    ids=["text", "bad-base64-body", "certificate", "binary"],
)
def test_garbage_key_file(key_dir: Path, content: bytes) -> None:
    path = key_dir / "k.key"
    path.write_bytes(content)
    _refused(path, "ecdsa", "not a PEM private key")


def test_empty_key_file_is_not_replaced(key_dir: Path) -> None:
    path = key_dir / "k.key"
    path.write_bytes(b"")
    _refused(path, "ecdsa", "key file is empty")
    assert path.read_bytes() == b""


def test_huge_key_file(key_dir: Path) -> None:
    path = key_dir / "k.key"
    path.write_bytes(b"A" * (keys.MAX_KEY_FILE + 1))
    _refused(path, "ecdsa", "too large")


def test_weak_rsa_key(key_dir: Path) -> None:
    path = key_dir / "k.key"
    path.write_bytes(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    _refused(path, "rsa", "1024 bits is too weak")


def test_curve_acme_cas_do_not_accept(key_dir: Path) -> None:
    path = key_dir / "k.key"
    path.write_bytes(pem_of(ec.generate_private_key(ec.SECP256K1())))
    _refused(path, "ecdsa", "curve secp256k1")


def test_ed25519_key(key_dir: Path) -> None:
    path = key_dir / "k.key"
    path.write_bytes(pem_of(ed25519.Ed25519PrivateKey.generate()))
    _refused(path, "ecdsa", "neither an RSA nor an ECDSA key")


def test_symlink_is_followed_when_reading(key_dir: Path, tmp_path: Path) -> None:
    # As OpenBSD's acme-client: the configured path may be a link to the key.
    key = ec.generate_private_key(ec.SECP384R1())
    target = tmp_path / "elsewhere.key"
    target.write_bytes(pem_of(key))
    link = key_dir / "k.key"
    link.symlink_to(target)
    loaded, created = load_or_create_key(link, "ecdsa")
    assert not created and loaded.private_numbers() == key.private_numbers()


def test_dangling_symlink_is_not_followed_to_create_a_key(key_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "planted.key"
    link = key_dir / "k.key"
    link.symlink_to(target)
    with pytest.raises(KeyFileError, match="symbolic link to a missing file"):
        load_or_create_key(link, "ecdsa")
    assert not target.exists()


def test_fifo_is_refused_without_hanging(key_dir: Path) -> None:
    fifo = key_dir / "k.key"
    os.mkfifo(fifo)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_or_create_key(fifo, "ecdsa")


def test_directory_in_place_of_the_key(key_dir: Path) -> None:
    (key_dir / "k.key").mkdir()
    with pytest.raises(KeyFileError, match="k.key"):
        load_or_create_key(key_dir / "k.key", "ecdsa")


def test_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "k.key"
    with pytest.raises(KeyFileError, match=r"cannot create key: directory .*no-such-dir does not exist"):
        load_or_create_key(path, "ecdsa")
    assert not path.parent.exists()


# failures while creating leave nothing behind ------------------------------------------------------


def test_link_failure_leaves_no_files(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(keys.os, "link", refuse)
    with pytest.raises(KeyFileError, match="cannot create key: Operation not permitted"):
        load_or_create_key(key_dir / "k.key", "ecdsa")
    assert directory_listing(key_dir) == []


def test_fsync_failure_leaves_no_files(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(keys.os, "fsync", fail)
    with pytest.raises(KeyFileError, match="Input/output error"):
        load_or_create_key(key_dir / "k.key", "ecdsa")
    assert directory_listing(key_dir) == []


def test_full_disk_while_writing_leaves_no_files(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def short_then_full(fd: int, data) -> int:
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keys.os, "write", short_then_full)
    with pytest.raises(KeyFileError, match="No space left on device"):
        load_or_create_key(key_dir / "k.key", "ecdsa")
    monkeypatch.undo()
    assert directory_listing(key_dir) == []


def test_interrupt_while_writing_leaves_no_files(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(keys.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_or_create_key(key_dir / "k.key", "ecdsa")
    assert directory_listing(key_dir) == []


def test_directory_vanishing_mid_creation(key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write_synced = keys._write_synced

    def vanish_then_write(*args: object) -> None:
        key_dir.rmdir()
        real_write_synced(*args)

    monkeypatch.setattr(keys, "_write_synced", vanish_then_write)
    with pytest.raises(KeyFileError, match="cannot create key: No such file or directory"):
        load_or_create_key(key_dir / "k.key", "ecdsa")
    assert not key_dir.exists()


# two runs creating the same key ------------------------------------------------------------------


def _create_in_child(path: str, barrier, results) -> None:
    real_generate = keys.generate_key

    def generate_after_both_looked(keytype: str, size: int = 0):
        key = real_generate(keytype, size)
        barrier.wait(timeout=10)  # both processes have found no key and made their own
        return key

    keys.generate_key = generate_after_both_looked
    key, created = load_or_create_key(Path(path), "ecdsa")
    results.put((public_der(key), created))


def test_concurrent_creation_ends_with_one_key_both_use(key_dir: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    results = context.Queue()
    path = key_dir / "shared.key"
    children = [context.Process(target=_create_in_child, args=(str(path), barrier, results)) for _ in range(2)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=20) for _ in children]
    for child in children:
        child.join(timeout=10)
        assert child.exitcode == 0
    (first_key, first_created), (second_key, second_created) = outcomes
    assert first_key == second_key  # both use the same key...
    assert sorted([first_created, second_created]) == [False, True]  # ...which exactly one created
    on_disk = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert public_der(on_disk) == first_key
    assert directory_listing(key_dir) == ["shared.key"]
