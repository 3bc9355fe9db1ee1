"""The live count on a terminal (proc/progress.py) in a real run against pebble, and none in a pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from test_issue import EXIT_CHANGED

from acme_conf.proc.progress import ERASE_LINE
from acme_conf.state import STATE_DIRECTORY_VARIABLE

DOMAINS = ("one.count.example.test", "two.count.example.test", "three.count.example.test")


def run_at_a_terminal(argv: list[str], cwd: os.PathLike[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `argv` with its standard error on a pseudo-terminal; its status and all it wrote there."""
    primary, secondary = os.openpty()
    try:
        client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary, cwd=cwd, env=env)
    finally:
        os.close(secondary)
    shown = bytearray()
    try:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: every writer has gone
                break
            if not data:
                break
            shown += data
    finally:
        os.close(primary)
    return client.wait(timeout=120), shown.decode()


def test_a_terminal_sees_the_count_and_a_pipe_does_not(workdir, write_conf, run_client):
    conf = write_conf(*DOMAINS)
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    env[STATE_DIRECTORY_VARIABLE] = str(workdir.state_dir)
    status, shown = run_at_a_terminal([sys.executable, "-m", "acme_conf", "-v", "-f", str(conf)], workdir.root, env)

    assert status == EXIT_CHANGED, shown
    assert re.search(ERASE_LINE.replace("[", r"\[") + r"acme-client: [0-3] of 3 domains done", shown), repr(shown)
    # every message line is whole: the count is erased before it, never left in front of it
    for line in shown.replace("\r\n", "\n").split("\n"):
        message = line.rsplit(ERASE_LINE, 1)[-1]
        assert "domains done" not in message or message.startswith("acme-client: "), repr(line)
        assert "domains doneacme-client" not in line, repr(line)

    again = run_client("-v", "-F", conf=conf)  # standard error a pipe, as under cron
    assert again.returncode == EXIT_CHANGED, again.stderr
    assert "\x1b" not in again.stderr and "\r" not in again.stderr
    assert "domains done" not in again.stderr
