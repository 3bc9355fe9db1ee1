"""The self-check (`challengedir PATH check ADDRESS port PORT`, net/challenge_check.py) against pebble:
our own web server is asked for each challenge file before the CA is told to look."""

from __future__ import annotations

import socket
from pathlib import Path

from test_issue import EXIT_CHANGED, EXIT_FAILED


def with_check(conf: Path, directory: Path, port: int) -> Path:
    """`conf` with its challengedir line asking the web server at 127.0.0.1 `port` first."""
    line = f'\tchallengedir "{directory}"\n'
    text = conf.read_text()
    assert line in text
    conf.write_text(text.replace(line, f'\tchallengedir "{directory}" check 127.0.0.1 port {port}\n'))
    return conf


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_web_server_that_serves_the_directory_passes_and_the_certificate_is_issued(testbed, workdir, write_conf, run_client):
    handle = "served.selfcheck.example.test"
    conf = with_check(write_conf(handle), testbed.challenge_dir, testbed.http_port)

    result = run_client("-vv", conf=conf)

    assert result.returncode == EXIT_CHANGED, result.stderr
    assert f"{handle}: self-check: the web server at 127.0.0.1 port {testbed.http_port} serves the challenge file" in result.stderr
    assert "netproc: nothing imported after the jail" in result.stderr
    assert workdir.certificate(handle).exists()


def test_a_web_server_serving_another_directory_fails_the_domain_before_the_ca_is_asked(
    testbed, workdir, write_conf, run_client
):
    handle = "unserved.selfcheck.example.test"
    elsewhere = workdir.root / "not-the-web-root"
    elsewhere.mkdir()
    conf = with_check(write_conf(handle, challengedir=elsewhere), elsewhere, testbed.http_port)

    result = run_client("-vv", conf=conf)

    assert result.returncode == EXIT_FAILED, result.stderr
    assert (
        f"{handle}: self-check: the web server at 127.0.0.1 port {testbed.http_port} answers "
        f"http://{handle}/.well-known/acme-challenge/"
    ) in result.stderr
    assert "with 404, not the challenge file; the CA was not asked" in result.stderr
    assert "http-01 challenge answered" not in result.stderr and "/chalZ/" not in result.stderr  # never told to look
    assert list(elsewhere.iterdir()) == []  # chngproc took its file back
    assert not workdir.certificate(handle).exists()


def test_no_web_server_at_the_address_fails_the_domain_in_one_line(testbed, workdir, write_conf, run_client):
    handle = "nobody.selfcheck.example.test"
    port = unused_port()
    conf = with_check(write_conf(handle), testbed.challenge_dir, port)

    result = run_client(conf=conf)

    assert result.returncode == EXIT_FAILED, result.stderr
    assert f"{handle}: self-check: the web server at 127.0.0.1 port {port} did not answer" in result.stderr
    assert "the CA was not asked" in result.stderr
    assert list(testbed.challenge_dir.iterdir()) == []
