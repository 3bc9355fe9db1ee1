"""Account and domain keys: load the existing one, or create it safely when missing.

A new key is written to a temporary file in the key's own directory, flushed
to disk, then hard-linked into place: the key file either does not exist or
is complete, and an existing key is never replaced.

Paths are resolved by acme_conf.paths: a link is followed (as upstream)
unless another user could have placed it.  A key must be a regular file
(checked before it is opened: a link to a device or FIFO opens nothing),
owned by root or the running user, with no permission for group or others;
its directory, and the real one when the key is a link, must belong to root
or the running user and be writable by no one else.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acme_conf.acme.b64 import b64url_decode
from acme_conf.files import (
    KeyAccess,
    create_restricted,
    key_file_problems,
    read_resolved,
    require_regular,
    sync_directory,
    temporary_name,
    write_all,
)
from acme_conf.errors import ProcessFailure
from acme_conf.paths import (
    Resolved,
    private_directory_problems,
    reopen,
    resolve,
    resolve_in,
    shown,
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_BITS = 4096
EC_CURVE = ec.SECP384R1
# The sizes a configuration may ask for (config.plan.KEY_SIZES): a key is created so.
RSA_SIZES = (2048, 3072, 4096)
EC_CURVES: dict[int, type[ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1}
MAX_KEY_FILE = 64 * 1024
KEY_MODE = 0o400


class KeyFileError(ProcessFailure):
    """A key file cannot be read, parsed, or created, or holds the wrong kind of key."""


def load_or_create_key(
    path: Path, keytype: str, size: int = 0, access: KeyAccess | None = None
) -> tuple[PrivateKey, bool]:
    """The key at `path` and whether it was created just now (`size`: see check_key_type).

    With `access` (the group and mode the configuration names), a new key
    is created with them, and an existing one is given them.
    """
    try:
        data = _read_key_file(path, access, adjust=access is not None)
    except FileNotFoundError:
        key = generate_key(keytype, size)
        if _install_new_key(path, key, access):
            return key, True
        data = _read_key_file(path, access, adjust=access is not None)  # another run created it first: use theirs
    key = parse_key(data, path)
    check_key_type(key, keytype, path, size)
    return key, False


def load_previous_key(path: Path) -> PrivateKey:
    """An account's previous key, which must exist, of any type and size acme-client accepts."""
    try:
        data = _read_key_file(path)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: the previous account key does not exist") from None
    key = parse_key(data, path)
    check_key_type(key, "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa", path)
    return key


def load_existing_key(path: Path, keytype: str, size: int = 0, access: KeyAccess | None = None) -> PrivateKey | None:
    """The key at `path`, or None when there is none yet; never creates or changes one (`access`: what may read it)."""
    try:
        data = _read_key_file(path, access)
    except FileNotFoundError:
        return None
    key = parse_key(data, path)
    check_key_type(key, keytype, path, size)
    return key


def private_key_pem(key: PrivateKey) -> bytes:
    """The key as PKCS#8 PEM, unencrypted: what a key file and a combined file hold."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_der(key: PrivateKey) -> bytes:
    """The key's public half as DER SubjectPublicKeyInfo: what a certificate for it carries."""
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_der_of_pem(pem: bytes) -> bytes:
    """A PEM public key as DER SubjectPublicKeyInfo (the warm-up samples' keys)."""
    public = serialization.load_pem_public_key(pem)
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key(keytype: str, size: int = 0) -> PrivateKey:
    """A new key: RSA of `size` bits (default 4096), or ECDSA on the curve of `size` bits (default P-384)."""
    if keytype == "rsa" and size in (0, *RSA_SIZES):
        return rsa.generate_private_key(public_exponent=65537, key_size=size or RSA_BITS)
    if keytype == "ecdsa" and size in (0, *EC_CURVES):
        return ec.generate_private_key(EC_CURVES[size]() if size else EC_CURVE())
    raise KeyFileError(f"unknown key type {keytype!r} of size {size}")


def describe_key(key: PrivateKey) -> str:
    """"RSA 2048-bit" or "ECDSA P-256": for messages."""
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}-bit"
    return f"ECDSA P-{key.curve.key_size}"


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


def check_key_type(key: PrivateKey, keytype: str, path: Path, size: int = 0) -> None:
    """The key is of `keytype` and, when `size` is given, of that size: never silently another."""
    actual = "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa"
    if actual != keytype:
        raise KeyFileError(
            f"{path}: holds an {actual.upper()} key but the configuration says {keytype}"
        )
    actual_size = key.key_size if isinstance(key, rsa.RSAPrivateKey) else key.curve.key_size
    if size and actual_size != size:
        wanted = f"rsa {size}" if keytype == "rsa" else f"ecdsa p{size}"
        raise KeyFileError(f"{path}: holds an {describe_key(key)} key but the configuration says {wanted}")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise KeyFileError(f"{path}: RSA key of {key.key_size} bits is too weak (2048 at least)")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name not in (
        "secp256r1",
        "secp384r1",
        "secp521r1",
    ):
        raise KeyFileError(f"{path}: curve {key.curve.name} is not one ACME CAs accept")


MIN_MAC_KEY = 16  # bytes: no CA hands out a shorter one, and a file that short is likely not the key


def read_mac_key(path: Path) -> bytes:
    """An external account binding's MAC key: base64url text, as CAs give it, in a private file.

    The file is held to the rules of a key file (see the module's docstring);
    surrounding blanks and newlines are ignored.
    """
    try:
        text = _read_key_file(path).decode("ascii").strip()
        key = b64url_decode(text)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: the external account binding's MAC key file does not exist") from None
    except (UnicodeDecodeError, ValueError):
        raise KeyFileError(f"{path}: not a base64url MAC key (as the CA gives it)") from None
    if len(key) < MIN_MAC_KEY:
        raise KeyFileError(f"{path}: a MAC key of {len(key)} bytes is too short ({MIN_MAC_KEY} at least)")
    return key


def _read_key_file(path: Path, access: KeyAccess | None = None, adjust: bool = False) -> bytes:
    """The key file's bytes, once the file and its directories passed the checks in the docstring.

    `access`: the group and mode the configuration lets the key have; with
    `adjust`, the key is given them (before it is read).
    """
    directory = _key_directory(path)
    try:
        try:
            resolved = resolve_in(directory, path.name)
        except FileNotFoundError:
            if _is_link(directory, path.name):
                raise KeyFileError(f"{path}: symbolic link to a missing file") from None
            raise
        except OSError as error:
            raise KeyFileError(f"{path}: cannot read key: {error.strerror}") from None
        try:
            require_regular(resolved.info.st_mode)
            _check_private(path, directory, resolved, access)
            if adjust and access is not None:
                _give_access(resolved, access)
            data = read_resolved(resolved, MAX_KEY_FILE)
        except OSError as error:
            raise KeyFileError(f"{shown(str(path), resolved)}: cannot read key: {error.strerror}") from None
        finally:
            os.close(resolved.fd)
    finally:
        os.close(directory.fd)
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: file is too large to be a key")
    if not data:
        raise KeyFileError(f"{path}: key file is empty")
    return data


def _key_directory(path: Path) -> Resolved:
    """The key's directory, resolved and checked; the caller closes its descriptor."""
    try:
        directory = resolve(str(path.parent))
    except FileNotFoundError:
        raise KeyFileError(f"{path}: cannot create key: directory {path.parent} does not exist") from None
    except OSError as error:
        raise KeyFileError(f"{path}: {error.strerror}") from None
    problems = [] if stat.S_ISDIR(directory.info.st_mode) else ["not a directory"]
    problems += private_directory_problems(directory.info)
    if problems:
        os.close(directory.fd)
        raise KeyFileError(f"{path}: key directory {shown(str(path.parent), directory)}: {'; '.join(problems)}")
    return directory


def _check_private(path: Path, directory: Resolved, resolved: Resolved, access: KeyAccess | None = None) -> None:
    """The key file is private (but for the group `access` names), and so is the directory it really is in when a link leads elsewhere."""
    problems = key_file_problems(resolved.info, access)
    if (resolved.holder.st_dev, resolved.holder.st_ino) != (directory.info.st_dev, directory.info.st_ino):
        real_directory = os.path.dirname(resolved.real)
        problems += [f"key directory {real_directory}: {p}" for p in private_directory_problems(resolved.holder)]
    if problems:
        raise KeyFileError(f"{shown(str(path), resolved)}: {'; '.join(problems)}")


def _give_access(resolved: Resolved, access: KeyAccess) -> None:
    """An existing key given the configured group, then mode (it passed key_file_problems: a group
    bit it has is for that group already, so the change of group exposes nothing)."""
    fd = reopen(resolved, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if access.group not in (-1, info.st_gid):
            os.fchown(fd, -1, access.group)
        if stat.S_IMODE(info.st_mode) != access.mode:
            os.fchmod(fd, access.mode)
    finally:
        os.close(fd)


def _is_link(directory: Resolved, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory.fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _install_new_key(path: Path, key: PrivateKey, access: KeyAccess | None = None) -> bool:
    """Write `key` to `path` unless it exists by now; False when another run won."""
    pem = private_key_pem(key)
    directory = _key_directory(path)
    temporary = temporary_name(path.name)
    try:
        _write_synced(directory.fd, temporary, pem, access)
        try:
            os.link(temporary, path.name, src_dir_fd=directory.fd, dst_dir_fd=directory.fd)
        except FileExistsError:
            return False
        sync_directory(directory.fd)
    except OSError as error:
        raise KeyFileError(f"{path}: cannot create key: {error.strerror}") from None
    finally:
        try:
            os.unlink(temporary, dir_fd=directory.fd)
        except FileNotFoundError:
            pass
        os.close(directory.fd)
    return True


def _write_synced(directory_fd: int, name: str, data: bytes, access: KeyAccess | None = None) -> None:
    if access is None:
        fd = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, KEY_MODE, dir_fd=directory_fd
        )
    else:  # mode 0000, then the group, then the mode, before a byte of the key
        fd = create_restricted(directory_fd, name, -1, access.group, access.mode)
    try:
        if access is None:
            os.fchmod(fd, KEY_MODE)  # whatever the umask
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)




def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
