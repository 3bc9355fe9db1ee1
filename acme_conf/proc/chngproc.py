"""chngproc: publishes http-01 key authorizations in the challenge directory.

One chngproc per challenge directory in a run serves the netproc of every
domain that uses that directory, over a channel of its own.  It holds one
descriptor, the directory, and creates and removes files only relative to
it.  The files written for a domain are removed when that domain's netproc
closes its channel, whether its chain succeeded, failed or was stopped,
and whatever is left when chngproc itself exits.

A netproc may be taken over, so each channel gets no more than its domain
needs: answers for its own account only (the thumbprint comes from the
authority's acctproc, never from netproc: a netproc taken over cannot have
a challenge of an account of its own answered here), at most one file per
name of the domain at a time (ChngSettings.files), a bounded number of
requests, and files created new only (O_EXCL, no link followed): a file
that is there already, whatever put it there, is an error and is left
alone; chngproc removes only what it created in this run.

A chngproc killed (SIGKILL) cannot clean up, so each file is noted in the
parent's journal once created and again once removed (ChngSettings); the
parent then starts this role as a sweeper, with no channel and only the
tokens left, which it removes and nothing else.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
from dataclasses import dataclass, field

from acme_conf import sandbox
from acme_conf.acme.text import printable
from acme_conf.acme.tokens import is_valid_token, key_authorization_refusal
from acme_conf.files import open_directory, write_all
from acme_conf.ipc import Channel, close_all
from acme_conf.messages.challenge import ChallengeWrite
from acme_conf.proc.child import answer_until_closed, netproc_channels, run_role
from acme_conf.proc.publishing import account_channels, account_thumbprint, answer, served_channels
from acme_conf.proc.errors import EXIT_FAILED, EXIT_OK
from acme_conf.errors import ProcessFailure
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import ChildSpec, ChngSettings

FILE_MODE = 0o444  # the web server must read it, whoever it runs as
# Each name is published once; a refused or repeated request costs one more.
REQUESTS_PER_NAME = 4

log = logging.getLogger("acme_conf")


@dataclass
class Held:
    """chngproc's channels, the challenge directory, and the tokens written there for each channel."""

    nets: tuple[Channel, ...]
    directory_fd: int
    directory: str
    most_files: dict[int, int] = field(default_factory=dict)  # channel fd -> its domain's number of names
    accounts: dict[int, Channel] = field(default_factory=dict)  # channel fd -> its authority's acctproc
    written: dict[int, list[str]] = field(default_factory=dict)  # channel fd -> its tokens, removed at its end
    thumbprints: dict[int, str] = field(default_factory=dict)  # acctproc channel fd -> what it told ("": nothing)
    journal_fd: int = -1  # the parent's record of the files created and not yet removed (ChngSettings)


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, ChngSettings)
    directory = open_directory(settings.challengedir, "challengedir")
    if settings.sweep:
        return Held((), directory.fd, directory.real)
    nets = netproc_channels(spec)
    most_files = {net.fileno(): files for net, files in zip(nets, settings.files, strict=True)}
    accounts = account_channels(spec, nets, settings.authorities)
    # The real path, links resolved: in logs, and what the sandbox is given.
    return Held(nets, directory.fd, directory.real, most_files, accounts, journal_fd=settings.journal_fd)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(
        channels=served_channels(held.nets, held.accounts),
        files=(held.directory_fd, *((held.journal_fd,) if held.journal_fd >= 0 else ())),
        write_dir=held.directory,
        strict=spec.strict_sandbox,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    assert isinstance(spec.settings, ChngSettings)
    if spec.settings.sweep:
        return sweep(held, spec.settings.sweep)
    try:
        return answer_until_closed(
            held.nets,
            lambda net, request: answer(lambda: publish(held, request.token, request.key_authorization, net.fileno())),
            ChallengeWrite,
            max_requests=lambda net: REQUESTS_PER_NAME * held.most_files[net.fileno()],
            closed=lambda net: _domain_done(held, net.fileno()),
        )
    finally:
        with signals_held(signal.SIGTERM):  # a SIGTERM must not cut the clean-up short
            remove_all(held)
        close_all(held.accounts.values())


def _domain_done(held: Held, net_fd: int) -> None:
    with signals_held(signal.SIGTERM):  # a SIGTERM must not cut the clean-up short
        remove_written(held, net_fd)


def publish(held: Held, token: str, key_authorization: str, net_fd: int) -> None:
    """Write `key_authorization` to challengedir/TOKEN, mode 0444, on behalf of the netproc on `net_fd`."""
    refusal = key_authorization_refusal(token, key_authorization, account_thumbprint(held.accounts, held.thumbprints, net_fd))
    if refusal:
        raise ProcessFailure(refusal)
    written = held.written.setdefault(net_fd, [])
    if len(written) >= held.most_files[net_fd]:
        raise ProcessFailure(f"refusing a challenge file: the domain has {len(written)} already, one per name")
    try:
        _write_file(held, token, key_authorization.encode("ascii"), written)
    except FileExistsError:
        raise ProcessFailure(f"{held.directory}/{token} exists already: not overwritten, not removed") from None
    except OSError as error:
        raise ProcessFailure(f"cannot write {held.directory}/{token}: {error.strerror}") from None
    log.debug("wrote %s/%s", held.directory, token)


def _write_file(held: Held, token: str, content: bytes, written: list[str]) -> None:
    """A new file, never one that is there (O_EXCL), never through a link (O_NOFOLLOW)."""
    fd = os.open(
        token,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        FILE_MODE,
        dir_fd=held.directory_fd,
    )
    written.append(token)
    _note(held, "+", token)  # after the create: never a file that was there before
    try:
        os.fchmod(fd, FILE_MODE)
        write_all(fd, content)
    finally:
        os.close(fd)


def remove_written(held: Held, net_fd: int) -> None:
    """Remove the files written for the netproc on `net_fd`: its domain is done with them.

    A token leaves the list only once its file is gone, so that whatever
    interrupts this leaves the rest for remove_all.
    """
    tokens = held.written.get(net_fd, [])
    while tokens:
        token = tokens[-1]
        try:
            _remove(held, token)
        except OSError as error:
            log.warning("cannot remove %s/%s: %s", held.directory, token, error.strerror)
        else:
            log.debug("removed %s/%s", held.directory, token)
        tokens.pop()
    held.written.pop(net_fd, None)


def remove_all(held: Held) -> None:
    for net_fd in list(held.written):
        remove_written(held, net_fd)


def _remove(held: Held, token: str) -> None:
    try:
        os.unlink(token, dir_fd=held.directory_fd)
    except OSError as error:
        if error.errno != errno.ENOENT:
            raise
    _note(held, "-", token)


def _note(held: Held, change: str, token: str) -> None:
    """Tell the parent's journal that the file `token` was created (+) or removed (-)."""
    if held.journal_fd < 0:
        return
    try:
        write_all(held.journal_fd, f"{change}{token}\n".encode("ascii"))
    except OSError as error:  # the files are still removed at the end; only a SIGKILL would leave them
        log.warning("cannot note %s/%s in the journal: %s", held.directory, token, error.strerror)


def sweep(held: Held, tokens: tuple[str, ...]) -> int:
    """Remove the files a chngproc that died left behind: these names only, each a token."""
    failed = False
    for token in tokens:
        if not is_valid_token(token):
            log.error("refusing to remove %r: not a challenge token", printable(token, 80))
            failed = True
            continue
        try:
            _remove(held, token)
        except OSError as error:
            log.error("cannot remove %s/%s: %s", held.directory, token, error.strerror)
            failed = True
        else:
            log.info("removed %s/%s, left by a chngproc that died", held.directory, token)
    return EXIT_FAILED if failed else EXIT_OK


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
