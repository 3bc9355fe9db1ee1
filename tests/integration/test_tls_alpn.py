"""The built-in tls-alpn-01 responder (`challenge tls-alpn-01 listen on`), against pebble with real validation.

pebble's validator makes a TLS handshake with NAME:PORT (its `tlsPort`,
ports["tlsalpn01"]; every name resolves to 127.0.0.1), offering ALPN
acme-tls/1 and naming NAME in its SNI (an address: its reverse DNS name,
RFC 8738), and checks the validation certificate it gets: here the jailed
tlsproc's. A port taken by another program fails the domain before anything
is ordered.
"""

from __future__ import annotations

import socket

from cryptography import x509

from integration_common import RUN_TAG, validate_another_way
from test_issue import EXIT_CHANGED, EXIT_FAILED, exited


def with_tls_alpn(conf, port: int, *handles: str) -> None:
    """Each of `handles` answers tls-alpn-01 through the responder on 127.0.0.1 `port` instead of its challengedir."""
    validate_another_way(conf, f"challenge tls-alpn-01 listen on 127.0.0.1 port {port}", *handles)


def names_of(path) -> set[str]:
    leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    alternative = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*alternative.get_values_for_type(x509.DNSName), *(str(ip) for ip in alternative.get_values_for_type(x509.IPAddress))}


def check_responder_ran(stderr: str, port: int) -> None:
    """tlsproc, not chngproc, served the domain, exited 0 and imported nothing after its jail."""
    name = f"tls-alpn-01 responder 127.0.0.1 port {port}"
    assert "chngproc" not in {role for _, role in exited(stderr)}
    assert (name, "tlsproc") in exited(stderr, "0"), stderr
    assert f"acme-client: {name}: tlsproc: nothing imported after the jail" in stderr.splitlines(), stderr
    assert "after its jail" not in stderr and "Traceback" not in stderr


def test_a_certificate_validated_by_the_built_in_tls_alpn_responder(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(serve_challenges=False)
    port = pebble.ports["tlsalpn01"]
    handle = f"tls-alpn.{RUN_TAG}.example.test"
    conf = write_conf([handle, f"www.{handle}"], testbed=pebble)
    with_tls_alpn(conf, port, handle)
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    for name in (handle, f"www.{handle}"):
        assert f"tls-alpn-01 responder 127.0.0.1 port {port}: tlsproc: answered the tls-alpn-01 challenge for {name}" in result.stderr
        assert f"{name}: tls-alpn-01 challenge answered" in result.stderr
    check_responder_ran(result.stderr, port)
    assert names_of(workdir.certificate(handle)) == {handle, f"www.{handle}"}
    with socket.socket() as probe:  # the run is over: nothing listens there any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_an_ip_address_is_validated_by_its_reverse_name(make_testbed, workdir, write_conf, run_client):
    """RFC 8738: pebble asks for 1.0.0.127.in-addr.arpa and wants the address as the certificate's only name."""
    pebble = make_testbed(serve_challenges=False)
    port = pebble.ports["tlsalpn01"]
    handle = f"tls-alpn-ip.{RUN_TAG}.example.test"
    conf = write_conf([handle, "127.0.0.1"], testbed=pebble)
    with_tls_alpn(conf, port, handle)
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert f"tlsproc: answered the tls-alpn-01 challenge for 127.0.0.1" in result.stderr
    check_responder_ran(result.stderr, port)
    assert names_of(workdir.certificate(handle)) == {handle, "127.0.0.1"}


def test_a_port_in_use_fails_the_domain_before_anything_is_ordered(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(serve_challenges=False)
    handle = f"tls-alpn-busy.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with_tls_alpn(conf, port, handle)
        result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f"cannot listen on 127.0.0.1 port {port}: Address already in use: another program listens there" in result.stderr
    assert "netproc" not in {role for _, role in exited(result.stderr)}  # no chain started: nothing ordered
    assert "tlsproc" not in {role for _, role in exited(result.stderr)}
    assert "POST " not in pebble.pebble_log  # nothing signed reached pebble: no account, no order
