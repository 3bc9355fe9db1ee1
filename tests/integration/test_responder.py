"""The built-in http-01 responder (`challenge http-01 listen on`), against pebble with real validation.

The test bed starts no http-01 server of its own: pebble's validator fetches
http://NAME:PORT/.well-known/acme-challenge/TOKEN from whatever listens on
its http port, here the jailed httpproc. A port taken by another program
fails the domain before anything is ordered; domains with a challenge
directory and with the responder are issued side by side in one run.
"""

from __future__ import annotations

import socket

from cryptography import x509

from integration_common import RUN_TAG, validate_another_way
from test_issue import EXIT_CHANGED, EXIT_FAILED, exited


def with_responder(conf, pebble, *handles: str, port: int | None = None) -> None:
    """Each of `handles` answers through the responder on pebble's http port (or `port`) instead of its challengedir."""
    validate_another_way(conf, f"challenge http-01 listen on 127.0.0.1 port {port or pebble.http_port}", *handles)


def test_a_certificate_validated_by_the_built_in_responder(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(serve_challenges=False)
    handle = f"responder.{RUN_TAG}.example.test"
    conf = write_conf([handle, f"www.{handle}"], testbed=pebble)
    with_responder(conf, pebble, handle)
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert f"responder 127.0.0.1 port {pebble.http_port}: httpproc: answered the challenge for token" in result.stderr
    assert "chngproc" not in {role for _, role in exited(result.stderr)}
    assert "httpproc" in {role for _, role in exited(result.stderr, "0")}
    leaf = x509.load_pem_x509_certificates(workdir.certificate(handle).read_bytes())[0]
    names = set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
    assert names == {handle, f"www.{handle}"}
    with socket.socket() as probe:  # the run is over: nothing listens there any more
        assert probe.connect_ex(("127.0.0.1", pebble.http_port)) != 0


def test_a_port_in_use_fails_the_domain_before_anything_is_ordered(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(serve_challenges=False)
    handle = f"responder-busy.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with_responder(conf, pebble, handle, port=port)
        result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f"cannot listen on 127.0.0.1 port {port}: Address already in use: another program listens there" in result.stderr
    assert "netproc" not in {role for _, role in exited(result.stderr)}  # no chain started: nothing ordered
    assert "POST " not in pebble.pebble_log  # nothing signed reached pebble: no account, no order


def test_a_challenge_directory_and_the_responder_in_one_run(make_testbed, testbed, workdir, write_conf, run_client):
    """Two authorities: the shared test bed validates from the challenge directory, a second from the responder."""
    responded = make_testbed(serve_challenges=False)
    by_directory = f"mixed-directory.{RUN_TAG}.example.test"
    by_responder = f"mixed-responder.{RUN_TAG}.example.test"
    first = write_conf(by_directory, filename="directory.conf").read_text()
    second = write_conf(by_responder, testbed=responded, authority="responded", filename="responder.conf")
    with_responder(second, responded, by_responder)
    conf = workdir.root / "acme-client.conf"
    conf.write_text(first + "\n" + second.read_text())
    result = run_client("-vv", conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert workdir.certificate(by_directory).exists() and workdir.certificate(by_responder).exists()
    roles = {role for _, role in exited(result.stderr, "0")}
    assert {"chngproc", "httpproc"} <= roles
