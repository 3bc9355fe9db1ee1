"""Account and domain keys: load the existing one, or create it safely when missing.

A new key is written to a temporary file in the key's own directory, flushed
to disk, then hard-linked into place: the key file either does not exist or
is complete, and an existing key is never replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acme_conf.files import read_regular_file, temporary_name, write_all
from acme_conf.errors import ProcessFailure

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_BITS = 4096
EC_CURVE = ec.SECP384R1
MAX_KEY_FILE = 64 * 1024
KEY_MODE = 0o400


class KeyFileError(ProcessFailure):
    """A key file cannot be read, parsed, or created, or holds the wrong kind of key."""


def load_or_create_key(path: Path, keytype: str) -> tuple[PrivateKey, bool]:
    """The key at `path` and whether it was created just now."""
    try:
        data = _read_key_file(path)
    except FileNotFoundError:
        key = generate_key(keytype)
        if _install_new_key(path, key):
            return key, True
        data = _read_key_file(path)  # another run created it first: use theirs
    key = parse_key(data, path)
    check_key_type(key, keytype, path)
    return key, False


def generate_key(keytype: str) -> PrivateKey:
    if keytype == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if keytype == "ecdsa":
        return ec.generate_private_key(EC_CURVE())
    raise KeyFileError(f"unknown key type {keytype!r}")


def parse_key(data: bytes, path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{path}: key is encrypted; acme-client needs an unencrypted key") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise KeyFileError(f"{path}: not a PEM private key ({_first_line(error)})") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyFileError(f"{path}: {type(key).__name__} is neither an RSA nor an ECDSA key")
    return key


def check_key_type(key: PrivateKey, keytype: str, path: Path) -> None:
    actual = "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa"
    if actual != keytype:
        raise KeyFileError(
            f"{path}: holds an {actual.upper()} key but the configuration says {keytype}"
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise KeyFileError(f"{path}: RSA key of {key.key_size} bits is too weak (2048 at least)")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise KeyFileError(f"{path}: curve {key.curve.name} is not one ACME CAs accept")


def _read_key_file(path: Path) -> bytes:
    """The key file's bytes; a link is followed (as upstream), a FIFO or device refused."""
    try:
        data = read_regular_file(path, MAX_KEY_FILE)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise KeyFileError(f"{path}: symbolic link to a missing file") from None
        raise
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read key: {error.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: file is too large to be a key")
    if not data:
        raise KeyFileError(f"{path}: key file is empty")
    return data


def _install_new_key(path: Path, key: PrivateKey) -> bool:
    """Write `key` to `path` unless it exists by now; False when another run won."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    directory = path.parent
    if not directory.is_dir():
        raise KeyFileError(f"{path}: cannot create key: directory {directory} does not exist")
    temporary = directory / temporary_name(path.name)
    try:
        _write_synced(temporary, pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        _sync_directory(directory)
    except OSError as error:
        raise KeyFileError(f"{path}: cannot create key: {error.strerror}") from None
    finally:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
    return True


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, KEY_MODE)
    try:
        os.fchmod(fd, KEY_MODE)  # whatever the umask
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
