"""Runs that are interrupted, fail half-way, or lose their stderr: the status and the disk stay right."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from test_issue import EXIT_CHANGED, EXIT_FAILED, chain_processes


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def as_at_a_terminal() -> None:
    """In the client, before exec: ^C does what it does at a terminal.

    A shell starts a background job (`tools/test.sh &`, nohup) with SIGINT
    ignored, and the client, like any program, keeps an ignored SIGINT
    ignored: then no ^C would reach it, and these tests would prove nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(client: subprocess.Popen[str]) -> None:
    """^C to a client that must still be running (else the test proves nothing)."""
    assert client.poll() is None, f"the run ended with status {client.returncode} before the interrupt"
    client.send_signal(signal.SIGINT)  # ^C: the terminal signals the parent's process group


def test_interrupt_while_the_ca_validates(make_testbed, workdir, write_conf):
    slow = make_testbed(answer_delay=5)  # the CA's validation takes 5 s (pebble's own sleep may be 0)
    handle = "interrupted.example.test"
    conf = write_conf(handle, testbed=slow)
    assert slow.challenge_dir is not None
    client = subprocess.Popen(
        [sys.executable, "-m", "acme_conf", "-f", str(conf), handle],
        stderr=subprocess.PIPE, text=True, cwd=workdir.root, preexec_fn=as_at_a_terminal,
    )
    wait_for(lambda: any(slow.challenge_dir.iterdir()))  # the chain is mid-protocol
    interrupt(client)
    _, stderr = client.communicate(timeout=30)
    assert client.returncode == EXIT_FAILED, stderr
    assert "stopping on request" in stderr
    assert "Traceback" not in stderr
    assert list(slow.challenge_dir.iterdir()) == []  # chngproc cleaned up
    assert not workdir.certificate(handle).exists()
    assert [p.name for p in workdir.cert_dir.iterdir()] == []  # no temporary files either
    assert chain_processes(handle) == []


def test_a_failing_child_is_always_reported(workdir, write_conf, run_client):
    # revokeproc fails at once here, and its neighbours stop at the same
    # moment: its message must never be lost in the race.
    handle = "nothing-to-revoke.example.test"
    conf = write_conf(handle)
    for _ in range(8):
        result = run_client("-r", handle, conf=conf)
        assert result.returncode == EXIT_FAILED
        assert "revokeproc" in result.stderr and "no certificate to revoke" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_closed_stderr_does_not_change_the_status(workdir, write_conf):
    handle = "no-stderr.example.test"
    conf = write_conf(handle)
    reader, writer = _pipe_closed_for_reading()
    done = subprocess.run(
        [sys.executable, "-m", "acme_conf", "-v", "-f", str(conf), handle],
        stderr=writer, stdout=subprocess.DEVNULL, cwd=workdir.root, timeout=120, check=False,
    )
    writer.close()
    assert done.returncode == EXIT_CHANGED
    assert workdir.certificate(handle).exists()


def _pipe_closed_for_reading():
    import os

    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # every write to the other end fails with EPIPE
    return None, open(write_fd, "wb", closefd=True)


def test_a_corrupt_certificate_says_how_to_recover(workdir, write_conf, run_client):
    handle = "corrupt.example.test"
    conf = write_conf(handle)
    workdir.certificate(handle).write_bytes(b"")
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert "is empty" in result.stderr and "-F" in result.stderr
    forced = run_client("-F", handle, conf=conf)
    assert forced.returncode == EXIT_CHANGED, forced.stderr
    assert Path(f"{workdir.certificate(handle)}.1").read_bytes() == b""  # kept, as any previous file
