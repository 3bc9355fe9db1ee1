"""chngproc: publishing key authorizations only inside challengedir, and removing them."""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_conf.ipc import Channel
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.proc import chngproc
from acme_conf.proc.chngproc import Held, publish, remove_all
from acme_conf.proc.errors import ProcessFailure
from acme_conf.proc.spec import ChildSpec, ChngSettings

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture
def webroot(tmp_path: Path) -> Path:
    """challengedir is webroot/.well-known/acme-challenge; webroot holds a file an attacker would like to overwrite."""
    directory = tmp_path / "www" / ".well-known" / "acme-challenge"
    directory.mkdir(parents=True)
    (tmp_path / "www" / "index.html").write_text("site")
    return directory


@pytest.fixture
def held(webroot: Path) -> Iterator[Held]:
    ours, theirs = socket.socketpair()
    fd = os.open(webroot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    yield Held(Channel(ours, "netproc"), fd, str(webroot))
    os.close(fd)
    ours.close()
    theirs.close()


def all_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_publish_writes_the_key_authorization_mode_0444(held: Held, webroot: Path) -> None:
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}")
    path = webroot / TOKEN
    assert path.read_bytes() == f"{TOKEN}.{THUMBPRINT}".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert held.written == [TOKEN]


@pytest.mark.parametrize("umask", [0o077, 0o777, 0o000])
def test_mode_is_0444_regardless_of_umask(held: Held, webroot: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((webroot / TOKEN).stat().st_mode) == 0o444


def test_stale_file_from_a_killed_run_is_replaced(held: Held, webroot: Path) -> None:
    (webroot / TOKEN).write_text("stale")
    os.chmod(webroot / TOKEN, 0o600)
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}")
    assert (webroot / TOKEN).read_text() == f"{TOKEN}.{THUMBPRINT}"
    assert stat.S_IMODE((webroot / TOKEN).stat().st_mode) == 0o444


def test_symlink_planted_at_the_token_is_not_followed(held: Held, webroot: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (webroot / TOKEN).symlink_to(victim)
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}")
    assert victim.read_text() == "precious"
    assert not (webroot / TOKEN).is_symlink()


@pytest.mark.parametrize(
    "token",
    [
        "../x",
        "../../etc/passwd",
        "..",
        ".",
        "",
        "a" * 15,  # too short
        "a" * 257,  # too long
        f"{TOKEN}/x",
        f"/{TOKEN}",
        f"{TOKEN}.html",
        f"{TOKEN}=",  # padding is not base64url as ACME uses it
        f"{TOKEN}+",
        f"{TOKEN}\x00",
        f"{TOKEN}\n",
        f"{TOKEN} ",
        TOKEN[:-1] + "é",
        "..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_bad_tokens_are_refused_and_nothing_is_written(held: Held, webroot: Path, token: str) -> None:
    before = all_files(webroot.parents[1])
    with pytest.raises(ProcessFailure, match="refusing challenge token"):
        publish(held, token, f"{token}.{THUMBPRINT}")
    assert all_files(webroot.parents[1]) == before
    assert held.written == []


def test_refusal_message_is_sanitised(held: Held) -> None:
    with pytest.raises(ProcessFailure) as raised:
        publish(held, "\x1b[2J\n../" + "x" * 500, "k")
    message = str(raised.value)
    assert "\x1b" not in message and "\n" not in message
    assert len(message) < 200


@pytest.mark.parametrize(
    "key_authorization",
    [
        "",
        TOKEN,
        f"{TOKEN}.",
        f".{THUMBPRINT}",
        f"{TOKEN}.{THUMBPRINT}.extra",
        f"{TOKEN}.{THUMBPRINT}\n",
        f"{TOKEN[:-1]}A.{THUMBPRINT}",  # another token
        f"{TOKEN}.{THUMBPRINT[:-1]}é",
        f"{TOKEN}.short",
        f"{TOKEN}.{THUMBPRINT}/../../x",
    ],
)
def test_malformed_key_authorizations_are_refused(held: Held, webroot: Path, key_authorization: str) -> None:
    with pytest.raises(ProcessFailure, match="malformed key authorization"):
        publish(held, TOKEN, key_authorization)
    assert os.listdir(webroot) == []


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_any_token_is_a_plain_name_inside_challengedir_or_refused(token: str) -> None:
    # is_valid_token is the gate: whatever it lets through is a single path component.
    if chngproc.is_valid_token(token):
        assert "/" not in token and token not in (".", "..") and "\x00" not in token
        assert token.isascii() and 16 <= len(token) <= 256


def test_remove_all_removes_every_published_file(held: Held, webroot: Path) -> None:
    tokens = [TOKEN, TOKEN[::-1], "A" * 43]
    for token in tokens:
        publish(held, token, f"{token}.{THUMBPRINT}")
    (webroot / "not-ours").write_text("keep")
    assert len(os.listdir(webroot)) == 4
    remove_all(held)
    assert os.listdir(webroot) == ["not-ours"]
    assert held.written == []


def test_remove_all_tolerates_files_already_gone(held: Held, webroot: Path) -> None:
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}")
    (webroot / TOKEN).unlink()
    remove_all(held)
    assert os.listdir(webroot) == []


def test_serve_publishes_then_removes_everything_at_end_of_file(webroot: Path) -> None:
    ours, theirs = socket.socketpair()
    fd = os.open(webroot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    held = Held(Channel(theirs, "netproc"), fd, str(webroot))
    spec = ChildSpec("chngproc", "test", 0, False, (), ChngSettings(str(webroot)))
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("status", chngproc.serve(spec, held)))
    thread.start()
    netproc = Channel(ours, "chngproc")
    try:
        netproc.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        assert (webroot / TOKEN).exists()  # published while the exchange goes on
    finally:
        netproc.close()
        thread.join(timeout=5)
        os.close(fd)
    assert result["status"] == 0
    assert os.listdir(webroot) == []


def test_serve_removes_what_it_wrote_when_refusing_a_later_token(webroot: Path) -> None:
    ours, theirs = socket.socketpair()
    fd = os.open(webroot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    held = Held(Channel(theirs, "netproc"), fd, str(webroot))
    spec = ChildSpec("chngproc", "test", 0, False, (), ChngSettings(str(webroot)))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            chngproc.serve(spec, held)
        except ProcessFailure as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    netproc = Channel(ours, "chngproc")
    try:
        netproc.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        netproc.send(ChallengeWrite("../../etc/passwd", "x"))
        thread.join(timeout=5)
    finally:
        netproc.close()
        os.close(fd)
    assert errors and "refusing challenge token" in str(errors[0])
    assert os.listdir(webroot) == []
