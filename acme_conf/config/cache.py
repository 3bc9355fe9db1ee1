"""The parser, built from the grammar once and then loaded from a cache.

Building lark's LALR tables from grammar/acme-client.lark takes about 30 ms,
a fifth of the start-up budget of `acme-client -n`; loading them takes 3 ms.
The cache is a file in the user's cache directory (platformdirs).  It is
only a speed-up: if it cannot be read or written, or is stale, or is not
safe to trust, the parser is built from the grammar as if it did not exist,
and nothing is said.

Safe to trust: lark's cache format is a pickle, and unpickling runs code, so
a cache file is only read if the directory holding it belongs to the user
running acme-client, and the opened file itself is a regular file owned by
that user that no one else may write.  (Root running with another user's
HOME, say under sudo, will not load that user's file.)  It is written
through a private temporary file and renamed into place, never in place.
The first line of the file identifies the grammar text, lark and Python
versions it was built from; any difference means "stale".
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Callable

import lark
from lark import Lark
from platformdirs import user_cache_dir

# Bump when what the cache holds changes meaning without the grammar changing
# (the parser's options, the transformer's class, the lexer's class).
CACHE_FORMAT = "1"


def load_parser(grammar_path: str, build: Callable[[str], Lark]) -> Lark:
    """The parser for the grammar at `grammar_path`: cached, or built by `build`."""
    with open(grammar_path, encoding="utf-8") as file:
        grammar = file.read()
    stamp = _stamp(grammar)
    directory = _cache_directory()
    path = os.path.join(directory, "parser.cache") if directory else None
    if path is not None:
        parser = _read(path, stamp)
        if parser is not None:
            return parser
    parser = build(grammar)
    if directory is not None and path is not None:
        _write(directory, path, stamp, parser)
    return parser


def _stamp(grammar: str) -> bytes:
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, lark.__version__, sys.version, grammar):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return b"acme-client parser " + digest.hexdigest().encode("ascii") + b"\n"


def _cache_directory() -> str | None:
    """The cache directory, made if need be; None if it is not ours alone."""
    directory = user_cache_dir("acme-client")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError:
        return None
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return directory


def _read(path: str, stamp: bytes) -> Lark | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            return None
        try:
            if file.readline() != stamp:
                return None
            return Lark.load(file)
        except Exception:  # a damaged cache is no cache
            return None


def _write(directory: str, path: str, stamp: bytes, parser: Lark) -> None:
    try:
        fd, temporary = tempfile.mkstemp(prefix=".parser.", dir=directory)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(stamp)
            parser.save(file)
        os.replace(temporary, path)
    except Exception:  # no cache this time; the next run tries again
        try:
            os.unlink(temporary)
        except OSError:
            pass
