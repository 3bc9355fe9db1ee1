"""The live count of domains done (proc/progress.py): drawn on a terminal only, never breaking a line."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from acme_conf.proc import progress
from acme_conf.proc.progress import ERASE_LINE, LiveCount, live_count
from acme_conf.proc.reports import ChainResult


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def results(done: int, failed: int) -> dict[str, ChainResult]:
    return {f"d{i}.example": ChainResult(f"d{i}.example", i < failed, False) for i in range(done)}


def test_the_count_says_how_many_are_done_and_failed():
    terminal = Terminal()
    count = LiveCount(terminal, 5)
    count.update(results(3, 1))
    assert terminal.getvalue() == ERASE_LINE + "acme-client: 3 of 5 domains done (1 failed)"


def test_a_line_written_during_the_count_goes_above_it_whole(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.0)
    terminal = Terminal()
    count = LiveCount(terminal, 2)
    count.update(results(1, 0))
    count.write("acme-client: b.example: netproc: refused\n")
    shown = terminal.getvalue()
    # erased first, the message whole on its own line, the count drawn again after it
    assert shown.endswith(ERASE_LINE + "acme-client: b.example: netproc: refused\n" + "acme-client: 1 of 2 domains done")
    count.clear()
    assert terminal.getvalue().endswith(ERASE_LINE)


def test_the_count_is_redrawn_at_most_every_tenth_of_a_second():
    terminal = Terminal()
    count = LiveCount(terminal, 3)
    count.update(results(1, 0))
    count.update(results(2, 0))  # at once: not drawn
    assert "2 of 3" not in terminal.getvalue()


def test_no_count_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with live_count(10) as count:
        assert count is None


def test_no_count_for_a_single_domain(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    with live_count(1) as count:
        assert count is None


def test_stderr_and_the_log_handler_write_through_the_count_and_are_put_back(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    logger = logging.getLogger("acme_conf")
    handler = logging.StreamHandler(terminal)
    monkeypatch.setattr(logger, "handlers", [handler])
    with pytest.raises(RuntimeError):
        with live_count(3) as count:
            assert count is not None
            assert sys.stderr is count and handler.stream is count
            raise RuntimeError  # put back whatever happens
    assert sys.stderr is terminal and handler.stream is terminal
