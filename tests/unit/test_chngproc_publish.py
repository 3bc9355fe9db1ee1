"""chngproc: publishing key authorizations only inside challengedir, and removing them."""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acme_conf.ipc import Channel, ChannelClosed
from acme_conf.messages import Failure
from acme_conf.messages.account import Thumbprint
from acme_conf.messages.challenge import ChallengeWrite, ChallengeWritten
from acme_conf.messages.key import CsrRequest
from acme_conf.proc import chngproc
from acme_conf.proc.chngproc import Held, publish, remove_all, remove_written
from acme_conf.errors import ProcessFailure
from acme_conf.proc.errors import Terminated
from acme_conf.proc.spec import ChildSpec, ChngSettings

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
OTHER_TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
NET = 7  # the descriptor of the netproc channel a file is published for
NAMES = 3  # each test domain has three names: three files at most at a time


@pytest.fixture
def webroot(tmp_path: Path) -> Path:
    """challengedir is webroot/.well-known/acme-challenge; webroot holds a file an attacker would like to overwrite."""
    directory = tmp_path / "www" / ".well-known" / "acme-challenge"
    directory.mkdir(parents=True)
    (tmp_path / "www" / "index.html").write_text("site")
    return directory


def account_link(thumbprint: str | None = THUMBPRINT) -> tuple[socket.socket, Channel]:
    """The test as the authority's acctproc: it tells `thumbprint` (None: nothing, then stops)."""
    acctproc, chngproc_end = socket.socketpair()
    if thumbprint is not None:
        Channel(acctproc, "chngproc").send(Thumbprint(thumbprint))
    else:
        acctproc.shutdown(socket.SHUT_WR)
    return acctproc, Channel(chngproc_end, "acctproc")


@pytest.fixture
def held(webroot: Path) -> Iterator[Held]:
    ours, theirs = socket.socketpair()
    acctproc, account = account_link()
    fd = os.open(webroot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    yield Held((Channel(ours, "netproc"),), fd, str(webroot), {NET: NAMES, NET + 1: NAMES}, {NET: account, NET + 1: account})
    os.close(fd)
    for end in (ours, theirs, acctproc):
        end.close()
    account.close()


def all_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_publish_writes_the_key_authorization_mode_0444(held: Held, webroot: Path) -> None:
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    path = webroot / TOKEN
    assert path.read_bytes() == f"{TOKEN}.{THUMBPRINT}".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert held.written == {NET: [TOKEN]}


@pytest.mark.parametrize("umask", [0o077, 0o777, 0o000])
def test_mode_is_0444_regardless_of_umask(held: Held, webroot: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((webroot / TOKEN).stat().st_mode) == 0o444


def test_a_file_already_named_like_the_token_is_an_error_and_left_alone(held: Held, webroot: Path) -> None:
    """A CA that chose the name of a file in the directory cannot have it replaced, nor removed."""
    (webroot / TOKEN).write_text("someone's file")
    os.chmod(webroot / TOKEN, 0o600)
    with pytest.raises(ProcessFailure, match=f"{TOKEN} exists already: not overwritten, not removed"):
        publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    remove_all(held)  # the end of the run: chngproc removes what it created, and that only
    assert (webroot / TOKEN).read_text() == "someone's file"
    assert stat.S_IMODE((webroot / TOKEN).stat().st_mode) == 0o600
    assert held.written == {}


def test_symlink_planted_at_the_token_is_neither_followed_nor_removed(held: Held, webroot: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (webroot / TOKEN).symlink_to(victim)
    with pytest.raises(ProcessFailure, match="exists already"):
        publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    remove_all(held)
    assert victim.read_text() == "precious"
    assert (webroot / TOKEN).is_symlink()


def test_an_answer_for_another_account_is_refused(held: Held, webroot: Path) -> None:
    """A netproc taken over cannot have chngproc answer a challenge of an account of its own."""
    theirs = "QWNjb3VudE9mVGhlQXR0YWNrZXJfMDEyMzQ1Njc4OQ"
    with pytest.raises(ProcessFailure, match="for another account than the configured one"):
        publish(held, TOKEN, f"{TOKEN}.{theirs}", NET)
    assert os.listdir(webroot) == []


def test_without_the_thumbprint_from_acctproc_nothing_is_published(webroot: Path) -> None:
    acctproc, account = account_link(None)
    fd = os.open(webroot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        silent = Held((), fd, str(webroot), {NET: NAMES}, {NET: account})
        with pytest.raises(ProcessFailure, match="acctproc told no thumbprint"):
            publish(silent, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
        assert os.listdir(webroot) == []
    finally:
        os.close(fd)
        acctproc.close()
        account.close()


def test_a_domain_gets_one_file_per_name_at_most(held: Held, webroot: Path) -> None:
    """A netproc taken over (or a CA with thousands of authorizations) cannot fill the directory."""
    tokens = [TOKEN, OTHER_TOKEN, "A" * 43]
    for token in tokens:
        publish(held, token, f"{token}.{THUMBPRINT}", NET)
    with pytest.raises(ProcessFailure, match="the domain has 3 already, one per name"):
        publish(held, "B" * 43, f"{'B' * 43}.{THUMBPRINT}", NET)
    publish(held, "B" * 43, f"{'B' * 43}.{THUMBPRINT}", NET + 1)  # another domain has its own three
    assert sorted(os.listdir(webroot)) == sorted([*tokens, "B" * 43])


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
        publish(held, token, f"{token}.{THUMBPRINT}", NET)
    assert all_files(webroot.parents[1]) == before
    assert held.written == {}


def test_refusal_message_is_sanitised(held: Held) -> None:
    with pytest.raises(ProcessFailure) as raised:
        publish(held, "\x1b[2J\n../" + "x" * 500, "k", NET)
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
        publish(held, TOKEN, key_authorization, NET)
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
        publish(held, token, f"{token}.{THUMBPRINT}", NET)
    (webroot / "not-ours").write_text("keep")
    assert len(os.listdir(webroot)) == 4
    remove_all(held)
    assert os.listdir(webroot) == ["not-ours"]
    assert held.written == {}


def test_remove_written_removes_only_that_netprocs_files(held: Held, webroot: Path) -> None:
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    publish(held, OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}", NET + 1)
    remove_written(held, NET)
    assert os.listdir(webroot) == [OTHER_TOKEN]
    assert held.written == {NET + 1: [OTHER_TOKEN]}


def test_remove_all_tolerates_files_already_gone(held: Held, webroot: Path) -> None:
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    (webroot / TOKEN).unlink()
    remove_all(held)
    assert os.listdir(webroot) == []


class Serving:
    """chngproc.serve in a thread, serving `count` netprocs; `nets` are their ends."""

    def __init__(self, webroot: Path, count: int) -> None:
        pairs = [socket.socketpair() for _ in range(count)]
        self.nets = [Channel(ours, "chngproc") for ours, _ in pairs]
        self._fd = os.open(webroot, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        theirs = tuple(Channel(end, "netproc") for _, end in pairs)
        self._acctproc, account = account_link()
        held = Held(
            theirs, self._fd, str(webroot), {channel.fileno(): NAMES for channel in theirs},
            {channel.fileno(): account for channel in theirs},
        )
        settings = ChngSettings(str(webroot), (NAMES,) * count, (0,) * count)
        spec = ChildSpec("chngproc", "challengedir test", 0, False, (), settings)
        self._result: dict[str, int] = {}
        self._thread = threading.Thread(target=lambda: self._result.setdefault("status", chngproc.serve(spec, held)))
        self._thread.start()

    def status(self) -> int:
        """Close every netproc end, wait for chngproc to finish, and give its exit status."""
        for net in self.nets:
            net.close()
        self._thread.join(timeout=5)
        os.close(self._fd)
        self._acctproc.close()
        return self._result["status"]


def test_serve_publishes_then_removes_everything_at_end_of_file(webroot: Path) -> None:
    serving = Serving(webroot, 1)
    try:
        serving.nets[0].request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        assert (webroot / TOKEN).exists()  # published while the exchange goes on
    finally:
        status = serving.status()
    assert status == 0
    assert os.listdir(webroot) == []


def test_serve_refuses_a_bad_token_to_its_sender_alone_and_goes_on(webroot: Path) -> None:
    serving = Serving(webroot, 2)
    try:
        sender, other = serving.nets
        sender.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        refusal = sender.request(ChallengeWrite("../../etc/passwd", "x"), ChallengeWritten, Failure)
        assert isinstance(refusal, Failure) and "refusing challenge token" in refusal.reason
        other.request(ChallengeWrite(OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        assert sorted(os.listdir(webroot)) == sorted([TOKEN, OTHER_TOKEN])  # nobody is done with them yet
        sender.request(ChallengeWrite("A" * 43, f"{'A' * 43}.{THUMBPRINT}"), ChallengeWritten)
    finally:
        status = serving.status()
    assert status == 0
    assert os.listdir(webroot) == []


def test_a_failed_write_is_reported_to_its_sender_alone(webroot: Path) -> None:
    (webroot / TOKEN).mkdir()  # in the way: it cannot be replaced by a file
    serving = Serving(webroot, 2)
    try:
        sender, other = serving.nets
        failure = sender.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten, Failure)
        assert isinstance(failure, Failure)
        assert failure.reason == f"{webroot}/{TOKEN} exists already: not overwritten, not removed"
        other.request(ChallengeWrite(OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        assert (webroot / OTHER_TOKEN).is_file()
    finally:
        status = serving.status()
    assert status == 0
    assert os.listdir(webroot) == [TOKEN]  # not ours: left alone


def test_a_domains_clean_up_holds_sigterm(webroot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked_during_clean_up: list[bool] = []
    real_remove_written = chngproc.remove_written

    def remove_written(held: Held, net_fd: int) -> None:
        blocked_during_clean_up.append(signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, []))
        real_remove_written(held, net_fd)

    monkeypatch.setattr(chngproc, "remove_written", remove_written)
    serving = Serving(webroot, 2)
    try:
        first, second = serving.nets
        first.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        first.close()
        second.request(ChallengeWrite(OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}"), ChallengeWritten)
    finally:
        serving.status()
    assert blocked_during_clean_up[0] is True  # the first channel's end, inside serve
    assert os.listdir(webroot) == []


def test_an_interrupted_clean_up_leaves_the_rest_for_remove_all(
    held: Held, webroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for token in (TOKEN, OTHER_TOKEN, "A" * 43):
        publish(held, token, f"{token}.{THUMBPRINT}", NET)
    real_remove = chngproc._remove
    calls: list[str] = []

    def remove_then_stop(held: Held, token: str) -> None:
        calls.append(token)
        real_remove(held, token)
        if len(calls) == 1:
            raise Terminated("stopped by signal 15")

    monkeypatch.setattr(chngproc, "_remove", remove_then_stop)
    with pytest.raises(Terminated):
        remove_written(held, NET)
    monkeypatch.setattr(chngproc, "_remove", real_remove)
    remove_all(held)
    assert os.listdir(webroot) == []
    assert held.written == {}


def test_a_domains_files_go_when_its_netproc_closes_while_others_stay(webroot: Path) -> None:
    serving = Serving(webroot, 2)
    try:
        first, second = serving.nets
        first.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        second.request(ChallengeWrite(OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        first.close()
        # poll reports channels in the order they were registered: the first's end comes before this request
        second.request(ChallengeWrite("A" * 43, f"{'A' * 43}.{THUMBPRINT}"), ChallengeWritten)
        assert sorted(os.listdir(webroot)) == sorted([OTHER_TOKEN, "A" * 43])
    finally:
        status = serving.status()
    assert status == 0
    assert os.listdir(webroot) == []


def test_a_netproc_flooding_requests_is_dropped_and_its_files_removed(webroot: Path) -> None:
    serving = Serving(webroot, 2)
    try:
        rogue, honest = serving.nets
        rogue.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        for _ in range(chngproc.REQUESTS_PER_NAME * NAMES - 1):  # refused: the same token again and again
            rogue.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten, Failure)
        rogue.send(ChallengeWrite(OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}"))  # one too many
        with pytest.raises(ChannelClosed):
            rogue.recv(ChallengeWritten, Failure)
        honest.request(ChallengeWrite("A" * 43, f"{'A' * 43}.{THUMBPRINT}"), ChallengeWritten)
        assert os.listdir(webroot) == ["A" * 43]  # the rogue's file went with its channel
    finally:
        status = serving.status()
    assert status == 1
    assert os.listdir(webroot) == []


def test_a_netproc_sending_what_it_may_not_is_dropped_and_its_files_removed(webroot: Path) -> None:
    serving = Serving(webroot, 2)
    try:
        rogue, honest = serving.nets
        rogue.request(ChallengeWrite(TOKEN, f"{TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        rogue.send(CsrRequest())
        honest.request(ChallengeWrite(OTHER_TOKEN, f"{OTHER_TOKEN}.{THUMBPRINT}"), ChallengeWritten)
        assert os.listdir(webroot) == [OTHER_TOKEN]
    finally:
        status = serving.status()
    assert status == 1  # served the others, then failed
    assert os.listdir(webroot) == []
