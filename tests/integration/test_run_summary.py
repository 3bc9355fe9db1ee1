"""What a run says: one summary line per domain that changed or failed (with -v, also per domain with nothing to do), one line per step with -v, protocol detail
with -vv, and with --syslog the same lines, the children's among them, on the local syslog socket (real pebble)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time

from integration_common import PROXY_VARIABLES
from test_issue import EXIT_CHANGED, EXIT_UNCHANGED

from acme_conf.state import STATE_DIRECTORY_VARIABLE


def summary(handle: str, stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(rf"acme-client: {re.escape(handle)}: (certificate updated|nothing to do|failed)( |$)", line)]


def test_a_run_with_nothing_to_do_is_silent_and_with_v_says_one_line_per_domain(workdir, write_conf, run_client):
    first, second = "first.quiet.example.test", "second.quiet.example.test"
    conf = write_conf(first, second)
    issued = run_client(conf=conf)
    assert issued.returncode == EXIT_CHANGED, issued.stderr
    assert [line for line in issued.stderr.splitlines() if ": netproc: created account " not in line] == [
        f"acme-client: {handle}: certificate updated ({workdir.certificate(handle)}: no certificate yet)" for handle in (first, second)
    ]

    quiet = run_client(conf=conf)  # checks, each a revokeproc and a keyproc
    assert quiet.returncode == EXIT_UNCHANGED
    assert quiet.stderr == ""  # nothing to do: nothing for cron to mail

    told = run_client("-v", conf=conf)  # from the records the checks kept: no process at all
    assert told.returncode == EXIT_UNCHANGED
    lines = summary(first, told.stderr) + summary(second, told.stderr)
    assert len(lines) == 2, told.stderr
    assert all(f"nothing to do ({workdir.cert_dir}/" in line and ": certificate valid until " in line for line in lines)


def test_v_says_each_step_and_vv_the_protocol(workdir, write_conf, run_client):
    handle = "steps.example.test"
    conf = write_conf(handle)

    steps = run_client("-v", conf=conf)

    assert steps.returncode == EXIT_CHANGED, steps.stderr
    said = steps.stderr
    for step in (f"{handle}: keyproc: created domain key ", f"{handle}: netproc: order ",
                 f"{handle}: netproc: {handle}: http-01 challenge answered", f"{handle}: netproc: {handle}: authorized",
                 f"{handle}: netproc: order finalized: ", f"{handle}: netproc: certificate downloaded",
                 f"{handle}: certproc: certificate checked: ", f"{handle}: fileproc: wrote {workdir.certificate(handle)}"):
        assert f"acme-client: {step}" in said, (step, said)
    assert summary(handle, said) == [said.splitlines()[-1]]  # the summary comes last
    assert " exited " not in said and "GET " not in said and "POST " not in said  # -vv's detail

    detail = run_client("-vv", "-F", conf=conf)

    assert detail.returncode == EXIT_CHANGED, detail.stderr
    assert re.search(rf"acme-client: {re.escape(handle)}: netproc: (POST|GET) https://\S+ ", detail.stderr), detail.stderr
    assert f"acme-client: {handle}: revokeproc exited 0 after " in detail.stderr
    assert summary(handle, detail.stderr) == [f"acme-client: {handle}: certificate updated (renewal forced (-F))"]


def test_syslog_gets_every_line_the_parent_relays(workdir, write_conf, tmp_path):
    handle = "syslog.example.test"
    conf = write_conf(handle)
    address = tmp_path / "log"
    received: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(address))
        server.settimeout(1)
        listening = threading.Event()

        def listen() -> None:  # a syslog daemon: it reads as lines come
            while not listening.is_set():
                try:
                    received.append(server.recv(65536).decode())
                except TimeoutError:
                    continue

        reader = threading.Thread(target=listen)
        reader.start()
        # /dev/log is the machine's; this run's parent is told another socket (the only difference)
        program = (
            "import sys\n"
            "from acme_conf.proc import run_log\n"
            f"run_log.SYSLOG_SOCKET = {str(address)!r}\n"
            "from acme_conf.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        env = {key: value for key, value in os.environ.items() if key.lower() not in PROXY_VARIABLES}
        env[STATE_DIRECTORY_VARIABLE] = str(workdir.state_dir)
        try:
            done = subprocess.run(
                [sys.executable, "-c", program, "--syslog", "-v", "-f", str(conf)], cwd=workdir.root, env=env,
                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
            )
        finally:
            time.sleep(0.5)  # the last datagrams
            listening.set()
            reader.join()
    assert done.returncode == EXIT_CHANGED, done.stderr
    stderr_lines = done.stderr.splitlines()
    assert len(received) == len(stderr_lines), (received, stderr_lines)
    for sent, shown in zip(received, stderr_lines):
        match = re.fullmatch(r"<(\d+)>acme-client\[\d+\]: (.*)", sent)
        assert match, sent
        assert "acme-client: " + match.group(2) == shown  # the same line, tagged by syslog instead
        assert int(match.group(1)) >> 3 == 3  # LOG_DAEMON
    last = re.fullmatch(r"<(\d+)>.*", received[-1])
    assert last and int(last.group(1)) & 7 == 5 and "certificate updated" in received[-1]  # the summary, at notice
    assert any(f"{handle}: netproc: certificate downloaded" in line for line in received)  # a child's line, relayed
