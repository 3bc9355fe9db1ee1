"""`owner NAME group NAME mode OCTAL` after an output file: read and checked.

Why each refusal:
- a user or group that does not exist would fail the run after the CA
  issued; one that exists is looked up again when the run starts;
- write for the group or others lets someone else decide what a daemon
  reads as its certificate (or key); an execute bit has no use on a PEM file;
- the combined file and the domain key hold the private key: others may
  never read them (give their readers a group instead), a group only the
  one named, and the key's owner stays root or the running user, as every
  key's (its owner could put another key in its place);
- without root, a file can be given only to the running user and to a group
  that user is in (chown(2)).
"""

from __future__ import annotations

import grp
import os
import pwd
import re

from .plan import FileAccess

ACCESS_WORDS = ("owner", "group", "mode")
_OCTAL_MODE = re.compile(r"0?[0-7]{3}")
# The keywords of files whose contents include the private key.
PRIVATE_OUTPUTS = frozenset(("domain combined certificate", "domain key"))


class AccessProblem(ValueError):
    """What is wrong with an output file's owner, group or mode (its message is the error's)."""


def file_access(keyword: str, words: tuple[str, ...]) -> FileAccess:
    """The FileAccess the words after an output file's path declare; AccessProblem if they are wrong."""
    given: dict[str, str] = {}
    pending = list(words)
    while pending:
        word = pending.pop(0)
        if word not in ACCESS_WORDS:
            offered = "rsa or ecdsa and a size, then group, mode" if keyword == "domain key" else "owner, group, mode"
            raise AccessProblem(f"{keyword}: unknown option {word} ({offered})")
        if not pending:
            raise AccessProblem(f"{keyword}: {word} needs a value")
        if word in given:
            raise AccessProblem(f"{keyword}: {word} given twice")
        given[word] = pending.pop(0)
    owner, group, mode = given.get("owner"), given.get("group"), given.get("mode")
    if owner is not None and keyword == "domain key":
        raise AccessProblem(
            f"{keyword}: owner {owner}: a key belongs to root or the running user (its owner could replace it);"
            " give its readers a group"
        )
    if owner is not None:
        _check_owner(keyword, owner)
    if group is not None:
        _check_group(keyword, group)
    checked = None if mode is None else checked_mode(keyword, mode)
    if checked is not None and checked & 0o070 and group is None and keyword in PRIVATE_OUTPUTS:
        raise AccessProblem(f"{keyword}: mode {mode}: a group may read the private key: name it (group NAME)")
    return FileAccess(owner, group, checked)


def checked_mode(keyword: str, text: str) -> int:
    """The mode `text` spells in octal, if an output file may have it."""
    if not text.isascii() or _OCTAL_MODE.fullmatch(text) is None:
        raise AccessProblem(f"{keyword}: mode {text}: not an octal mode such as 0640 (three digits 0 to 7)")
    mode = int(text, 8)
    if mode & 0o022:
        raise AccessProblem(
            f"{keyword}: mode {text}: the group or others may write it, and so decide what a daemon reads"
        )
    if mode & 0o111:
        raise AccessProblem(f"{keyword}: mode {text}: executable; a PEM file is not a program")
    if keyword in PRIVATE_OUTPUTS and mode & 0o007:
        raise AccessProblem(
            f"{keyword}: mode {text}: others may read it, and it holds the private key"
            " (give its readers a group and mode 0640 instead)"
        )
    return mode


def _check_owner(keyword: str, name: str) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        raise AccessProblem(f"{keyword}: owner {name}: no such user") from None
    if os.geteuid() != 0 and uid != os.geteuid():
        raise AccessProblem(f"{keyword}: owner {name}: only root may give a file to another user")


def _check_group(keyword: str, name: str) -> None:
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        raise AccessProblem(f"{keyword}: group {name}: no such group") from None
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        raise AccessProblem(f"{keyword}: group {name}: not root, and not one of the running user's groups")
