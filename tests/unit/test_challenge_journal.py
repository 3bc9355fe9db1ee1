"""The journal of challenge files: what chngproc notes, what the parent reads, what a sweeper removes.

A chngproc killed with SIGKILL cannot remove its files; the parent learns
them from the journal and a sweeper removes them (the end-to-end run is
tests/integration/test_failed_runs.py::test_chngproc_killed_while_the_challenge_is_published).
Here: a file is noted only once chngproc created it (never one that was in
the way), the parent keeps only tokens, no more than chngproc may hold, and
the sweeper removes the names it is given and nothing else.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from acme_conf.errors import ProcessFailure
from acme_conf.ipc import Channel
from acme_conf.messages.account import Thumbprint
from acme_conf.proc.chngproc import Held, publish, remove_written, sweep
from acme_conf.proc.errors import EXIT_FAILED, EXIT_OK
from acme_conf.proc.journal import MAX_JOURNAL_BYTES, left_behind, open_journal

TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
OTHER_TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
NET = 7


@pytest.fixture
def journal() -> Iterator[int]:
    fd = open_journal()
    yield fd
    os.close(fd)


@pytest.fixture
def challenges(tmp_path: Path) -> Path:
    directory = tmp_path / "acme-challenge"
    directory.mkdir()
    return directory


@pytest.fixture
def held(challenges: Path, journal: int) -> Iterator[Held]:
    acctproc, chngproc_end = socket.socketpair()
    Channel(acctproc, "chngproc").send(Thumbprint(THUMBPRINT))
    fd = os.open(challenges, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    yield Held((), fd, str(challenges), {NET: 2}, {NET: Channel(chngproc_end, "acctproc")}, journal_fd=journal)
    os.close(fd)
    acctproc.close()
    chngproc_end.close()


def write_journal(fd: int, text: bytes) -> None:
    os.pwrite(fd, text, 0)


def test_a_published_file_is_noted_and_its_removal_too(held: Held, journal: int) -> None:
    publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    assert left_behind(journal, 2, "test") == (TOKEN,)
    remove_written(held, NET)
    assert left_behind(journal, 2, "test") == ()
    assert os.pread(journal, 1000, 0) == f"+{TOKEN}\n-{TOKEN}\n".encode()


def test_a_file_in_the_way_is_never_noted_so_never_swept(held: Held, journal: int, challenges: Path) -> None:
    (challenges / TOKEN).write_text("someone else's")
    with pytest.raises(ProcessFailure, match="exists already"):
        publish(held, TOKEN, f"{TOKEN}.{THUMBPRINT}", NET)
    assert left_behind(journal, 2, "test") == ()


def test_the_parent_keeps_only_tokens_and_says_what_it_ignored(journal: int, caplog: pytest.LogCaptureFixture) -> None:
    write_journal(journal, f"+{TOKEN}\n+../../etc/passwd\n+a/b\n*{OTHER_TOKEN}\n+{OTHER_TOKEN}\n\x1b[2J\n".encode())
    with caplog.at_level(logging.WARNING, "acme_conf"):
        assert left_behind(journal, 4, "challengedir X") == (TOKEN, OTHER_TOKEN)
    ignored = [record.getMessage() for record in caplog.records]
    assert len(ignored) == 4 and all(message.startswith("challengedir X: ignoring a line") for message in ignored)
    assert not any("\x1b" in message for message in ignored)  # escaped, never passed on raw


def test_the_parent_keeps_no_more_tokens_than_chngproc_may_hold(journal: int) -> None:
    tokens = [f"{index:04d}{TOKEN}" for index in range(10)]
    write_journal(journal, "".join(f"+{token}\n" for token in tokens).encode())
    assert left_behind(journal, 3, "test") == tuple(tokens[:3])


def test_the_parent_reads_no_more_than_the_cap(journal: int) -> None:
    line = f"+{TOKEN}\n".encode()
    write_journal(journal, line * (MAX_JOURNAL_BYTES // len(line) + 100))
    assert left_behind(journal, 1, "test") == (TOKEN,)


def test_the_sweeper_removes_the_names_it_is_given_and_nothing_else(challenges: Path) -> None:
    for name in (TOKEN, OTHER_TOKEN, "index.html"):
        (challenges / name).write_text("x")
    fd = os.open(challenges, os.O_RDONLY | os.O_DIRECTORY)
    try:
        status = sweep(Held((), fd, str(challenges)), (TOKEN, "../index.html"))
    finally:
        os.close(fd)
    assert status == EXIT_FAILED  # the name that is not a token is refused, and said
    assert sorted(path.name for path in challenges.iterdir()) == sorted([OTHER_TOKEN, "index.html"])


def test_a_file_already_gone_is_no_failure_of_the_sweeper(challenges: Path) -> None:
    fd = os.open(challenges, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sweep(Held((), fd, str(challenges)), (TOKEN,)) == EXIT_OK
    finally:
        os.close(fd)
