"""The parent's logging (proc/run_log.py): levels, and the syslog socket that never holds a run back."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from acme_conf.proc import run_log


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    for name in ("acme_conf", "acme_conf.relayed"):  # as they were: other tests capture acme_conf's records
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[socket.socket]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(tmp_path / "log"))
        server.settimeout(2)
        yield server


def test_each_level_has_its_severity_and_every_relayed_line_goes_too(
    daemon: socket.socket, restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_log.configure_logging(0, daemon.getsockname())
    log = logging.getLogger("acme_conf")
    log.info("a step")  # not without -v
    log.log(run_log.NOTICE, "example.com: nothing to do (why)")
    log.error("example.com: broken")
    run_log.relay("acme-client: example.com: netproc: said \\x1b")
    sent = [daemon.recv(4096).decode() for _ in range(3)]
    tag = sent[0][sent[0].index(">") + 1:sent[0].index(": ") + 2]
    assert tag.startswith("acme-client[") and tag.endswith("]: ")
    assert sent == [f"<29>{tag}example.com: nothing to do (why)", f"<27>{tag}example.com: broken",
                    f"<29>{tag}example.com: netproc: said \\x1b"]
    assert capsys.readouterr().err == "acme-client: example.com: nothing to do (why)\nacme-client: example.com: broken\n"


def test_a_daemon_that_stops_reading_costs_lines_not_the_run(daemon: socket.socket, restored: None) -> None:
    run_log.configure_logging(2, daemon.getsockname())
    log = logging.getLogger("acme_conf")

    def flood() -> None:
        for number in range(5000):  # far more than a datagram socket queues: a blocking send would wait forever
            log.debug("line %d", number)

    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    flooding.join(20)
    assert not flooding.is_alive(), "logging blocked on a syslog socket nobody reads"
    assert daemon.recv(4096).decode().endswith("line 0")


def test_no_socket_is_said(tmp_path: Path, restored: None) -> None:
    with pytest.raises(run_log.SyslogUnavailable, match=f"cannot log to syslog: {tmp_path}/none: No such file or directory"):
        run_log.configure_logging(0, str(tmp_path / "none"))
