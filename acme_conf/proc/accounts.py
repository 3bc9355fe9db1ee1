"""What the parent does for an authority's account: the previous key kept across runs, and -k moving the key aside.

An account key change is declarative: acctproc changes the account's key
from the previous account key to the account key whenever the account key
names no account yet (proc/netproc.py change_account_key).  The previous
key is the one `previous account key` names, or else the one a run with -k
kept in the authority's state (acme_conf/state.py): -k moves the account
key aside to FILE.previous (a hard link, then the old name removed: the key
exists under one name or both at every moment, and is never read here), and
acctproc creates a new key in its place.  If the run cannot finish the
change, every later run tries again until one does; once a run finds that
the account key names the account, the kept previous key is forgotten (the
file stays: it is the user's).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from acme_conf.config.plan import Authority, DomainJob
from acme_conf.errors import ProcessFailure
from acme_conf.files import sync_directory
from acme_conf.paths import private_directory_problems, resolve
from acme_conf.state import AuthorityState, load_authority_state, save_authority_state

PREVIOUS_SUFFIX = ".previous"

log = logging.getLogger("acme_conf")


def with_kept_previous_keys(jobs: Sequence[DomainJob], state_dir: Path) -> tuple[tuple[DomainJob, ...], dict[str, str]]:
    """The jobs, each authority with the previous account key its kept state names (where the
    configuration names none), and those kept keys by authority name.

    A kept key whose file is gone is forgotten, with a warning: the change
    it was for cannot be made any more.
    """
    kept: dict[str, str] = {}
    for authority in {job.authority.name: job.authority for job in jobs}.values():
        previous = load_authority_state(state_dir, authority.name).previous_account_key
        if previous is None or authority.previous_account_key is not None:
            continue
        if previous != str(aside_of(authority.account_key)):  # only what -k makes: never another key of this host
            log.warning("authority %s: the kept previous account key %s is not %s: ignored", authority.name, previous,
                        aside_of(authority.account_key))
            continue
        if not os.path.lexists(previous):
            log.warning("authority %s: the previous account key %s kept by -k is gone: forgotten", authority.name, previous)
            save_authority_state(state_dir, authority.name, AuthorityState())
            continue
        kept[authority.name] = previous
    if not kept:
        return tuple(jobs), kept
    return tuple(_with_previous(job, kept) for job in jobs), kept


def _with_previous(job: DomainJob, kept: dict[str, str]) -> DomainJob:
    previous = kept.get(job.authority.name)
    if previous is None:
        return job
    return replace(job, authority=replace(job.authority, previous_account_key=Path(previous)))


def move_account_key_aside(authority: Authority, state_dir: Path) -> None:
    """-k: the account key becomes FILE.previous, kept in the authority's state; acctproc creates a new FILE.

    An earlier -k whose change is not done yet (its key kept and still
    there) is finished instead.  Refused, saying why, when the configuration
    names a previous account key already, when there is no account key, or
    when FILE.previous is in the way.
    """
    name, key = authority.name, authority.account_key
    if authority.previous_account_key is not None:
        raise ProcessFailure(
            f"-k {name}: the configuration names a previous account key already; "
            "a run without -k changes the account's key from it"
        )
    kept = load_authority_state(state_dir, name).previous_account_key
    aside = aside_of(key)
    if kept == str(aside) and os.path.lexists(kept):
        log.info("authority %s: finishing the account key change an earlier -k began (from %s)", name, kept)
        return
    directory = _key_directory(name, key)
    try:
        _move_aside(name, key, aside, directory, state_dir)
    finally:
        os.close(directory)
    log.info("authority %s: account key %s kept as %s; a new account key takes its place", name, key, aside)


def aside_of(key: Path) -> Path:
    return key.with_name(key.name + PREVIOUS_SUFFIX)


def _key_directory(name: str, key: Path) -> int:
    """A descriptor of the key's directory, reached as paths.resolve allows and as private as a key's must be.

    Root renames in it: a directory another user could swap (or a link
    placed by one on the way) would let them choose what is renamed.
    """
    try:
        resolved = resolve(str(key.parent))
    except OSError as error:
        raise ProcessFailure(f"-k {name}: {key.parent}: {error.strerror}") from None
    problems = private_directory_problems(resolved.info)
    if resolved.controlled_by:
        problems.append(f"another user may change it ({resolved.controlled_by})")
    if not stat.S_ISDIR(resolved.info.st_mode):
        problems.append("not a directory")
    if problems:
        os.close(resolved.fd)
        raise ProcessFailure(f"-k {name}: {key.parent}: {'; '.join(problems)}")
    return resolved.fd


def _move_aside(name: str, key: Path, aside: Path, directory: int, state_dir: Path) -> None:
    """KEY becomes KEY.previous inside `directory` (both names at one moment, never neither), kept in the state."""
    try:
        os.link(key.name, aside.name, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        raise ProcessFailure(f"-k {name}: there is no account key {key} to change from") from None
    except FileExistsError:  # nothing is ever replaced
        raise ProcessFailure(f"-k {name}: {aside} is in the way; move it elsewhere first") from None
    except OSError as error:
        raise ProcessFailure(f"-k {name}: cannot keep {key} as {aside}: {error.strerror}") from None
    if not save_authority_state(state_dir, name, AuthorityState(previous_account_key=str(aside))):
        os.unlink(aside.name, dir_fd=directory)  # the key is still at its own name: nothing changed
        raise ProcessFailure(f"-k {name}: the previous account key could not be kept in the state directory")
    try:
        os.unlink(key.name, dir_fd=directory)
        sync_directory(directory)
    except OSError as error:
        raise ProcessFailure(f"-k {name}: cannot make room for a new account key at {key}: {error.strerror}") from None


def forget_previous_key(name: str, state_dir: Path) -> None:
    """The account key names the account: the previous key kept for `name` is no longer needed."""
    if save_authority_state(state_dir, name, AuthorityState()):
        log.info("authority %s: the account key names the account: the kept previous account key is no longer used", name)
