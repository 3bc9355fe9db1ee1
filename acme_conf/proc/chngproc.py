"""chngproc: publishes http-01 key authorizations in the challenge directory.

It holds one descriptor, the challenge directory, and creates and removes
files only relative to it.  Every file it created is removed before it
exits, whether the chain succeeded, failed, or was stopped.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
from dataclasses import dataclass, field

from acme_conf import sandbox
from acme_conf.acme.text import printable
from acme_conf.acme.tokens import is_valid_token
from acme_conf.files import open_directory, write_all
from acme_conf.ipc import Channel
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.proc.child import answer_until_closed, run_role
from acme_conf.proc.errors import ProcessFailure
from acme_conf.proc.signals import signals_held
from acme_conf.proc.spec import ChildSpec, ChngSettings

FILE_MODE = 0o444  # the web server must read it, whoever it runs as

log = logging.getLogger("acme_conf")


@dataclass
class Held:
    """chngproc's channel, the challenge directory, and the tokens it has written there."""

    net: Channel
    directory_fd: int
    directory: str
    written: list[str] = field(default_factory=list)  # tokens to remove at exit


def acquire(spec: ChildSpec) -> Held:
    settings = spec.settings
    assert isinstance(settings, ChngSettings)
    directory_fd = open_directory(settings.challengedir, "challengedir")
    return Held(Channel.from_fd(spec.channel_fd("netproc"), "netproc"), directory_fd, settings.challengedir)


def grants(spec: ChildSpec, held: Held) -> sandbox.Grants:
    return sandbox.Grants(
        channels=(held.net.fileno(),),
        files=(held.directory_fd,),
        write_dir=held.directory,
        strict=spec.strict_sandbox,
    )


def serve(spec: ChildSpec, held: Held) -> int:
    try:
        return answer_until_closed((held.net,), lambda request: _publish(held, request), ChallengeWrite)
    finally:
        with signals_held(signal.SIGTERM):  # a SIGTERM must not cut the clean-up short
            remove_all(held)


def _publish(held: Held, request: ChallengeWrite) -> ChallengeWritten:
    publish(held, request.token, request.key_authorization)
    return ChallengeWritten()


def publish(held: Held, token: str, key_authorization: str) -> None:
    """Write `key_authorization` to challengedir/TOKEN, mode 0444."""
    if not is_valid_token(token):
        raise ProcessFailure(f"refusing challenge token {printable(token, 80)!r}: not base64url")
    token_part, _, thumbprint = key_authorization.partition(".")
    if token_part != token or not is_valid_token(thumbprint):
        raise ProcessFailure("malformed key authorization: not TOKEN.THUMBPRINT")
    try:
        _write_file(held, token, key_authorization.encode("ascii"))
    except OSError as error:
        raise ProcessFailure(f"cannot write {held.directory}/{token}: {error.strerror}") from None
    log.debug("wrote %s/%s", held.directory, token)


def _write_file(held: Held, token: str, content: bytes) -> None:
    _remove(held, token)  # a file a killed run left behind
    fd = os.open(
        token,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        FILE_MODE,
        dir_fd=held.directory_fd,
    )
    held.written.append(token)
    try:
        os.fchmod(fd, FILE_MODE)
        write_all(fd, content)
    finally:
        os.close(fd)


def remove_all(held: Held) -> None:
    while held.written:
        token = held.written.pop()
        try:
            _remove(held, token)
        except OSError as error:
            log.warning("cannot remove %s/%s: %s", held.directory, token, error.strerror)
        else:
            log.debug("removed %s/%s", held.directory, token)


def _remove(held: Held, token: str) -> None:
    try:
        os.unlink(token, dir_fd=held.directory_fd)
    except OSError as error:
        if error.errno != errno.ENOENT:
            raise


def main(spec: ChildSpec) -> int:
    return run_role(spec, acquire, grants, serve)
