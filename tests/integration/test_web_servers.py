"""The web-server snippets in examples/webservers/, proven with the real servers.

Debian's nginx, Apache httpd and Caddy (tools/webservers.py unpacks them into
.testbed/, installing nothing) listen on 127.0.0.1 at pebble's http-01
port, each with its snippet from examples/ pointed at the test's challenge
directory; the test bed starts no http-01 server of its own. A real
`acme-client` run then has pebble fetch
http://NAME:PORT/.well-known/acme-challenge/TOKEN from that server: the
certificate is issued only if the snippet maps the URL to the file
chngproc wrote, and the server's access log shows pebble's request (nginx
and Apache; Caddy's snippet keeps none).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED
from testbed import TestbedError
from web_servers_common import SNIPPETS, WebServer, snippet_for
from webservers import WebServerBinaries, fetch_web_servers

CHALLENGE_PATH = "/.well-known/acme-challenge/"
SNIPPET_FILES = {
    "nginx": "nginx-acme-challenge.conf",
    "apache": "apache-acme-challenge.conf",
    "caddy": "caddy-acme-challenge.Caddyfile",
}
LOGS_REQUESTS = {"nginx", "apache"}  # Caddy's snippet asks for no access log


@pytest.fixture(scope="module")
def web_servers() -> WebServerBinaries:
    """nginx, Apache and Caddy from Debian; a failed fetch is an error, as pebble's is (the packages are Debian's own)."""
    try:
        return fetch_web_servers()
    except TestbedError as exc:
        pytest.fail(f"cannot have Debian's nginx, Apache and Caddy: {exc}")


def served_directory(workdir) -> Path:
    """A challenge directory the server's workers (nobody, when root) may read, as /var/www/acme is."""
    directory = workdir.root / "www" / "acme"
    directory.mkdir(parents=True, mode=0o755)
    directory.parent.chmod(0o755)
    directory.chmod(0o755)
    return directory


def names_in(certificate_path: Path) -> set[str]:
    leaf = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
    return set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))


@pytest.mark.parametrize("kind", sorted(SNIPPET_FILES))
def test_the_snippet_serves_pebbles_validation(kind, web_servers, make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed(serve_challenges=False)
    challenge_dir = served_directory(workdir)
    handle = f"{kind}.{RUN_TAG}.example.test"
    conf = write_conf([handle, f"www.{handle}"], testbed=pebble, challengedir=challenge_dir)
    with WebServer(kind, web_servers, SNIPPETS / SNIPPET_FILES[kind], challenge_dir, pebble.http_port) as server:
        result = run_client("-v", handle, conf=conf)
        served = [line for line in server.access_log() if CHALLENGE_PATH in line]
        logs = server.logs()
    assert result.returncode == EXIT_CHANGED, f"{result.stderr}\n{logs}"
    assert names_in(workdir.certificate(handle)) == {handle, f"www.{handle}"}
    pebble.verify_chain(workdir.fullchain(handle).read_bytes(), handle)
    if kind in LOGS_REQUESTS:
        # One fetch per name, each answered by this server with the file chngproc wrote, to pebble's validator.
        answered = [line for line in served if '" 200 "' in line and "Pebble" in line]
        assert len(answered) >= 2, served
    assert list(challenge_dir.iterdir()) == []  # chngproc removed its files after the validation


@pytest.mark.parametrize("kind", sorted(SNIPPET_FILES))
def test_a_server_pointed_elsewhere_fails_the_validation(kind, web_servers, make_testbed, workdir, write_conf, run_client):
    """The same run with the server serving another directory fails: the first test's success is the snippet's doing."""
    pebble = make_testbed(serve_challenges=False)
    challenge_dir = served_directory(workdir)
    elsewhere = workdir.root / "www" / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    handle = f"{kind}-elsewhere.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble, challengedir=challenge_dir)
    with WebServer(kind, web_servers, SNIPPETS / SNIPPET_FILES[kind], elsewhere, pebble.http_port) as server:
        result = run_client("-v", handle, conf=conf)
        served = [line for line in server.access_log() if CHALLENGE_PATH in line]
    assert result.returncode == EXIT_FAILED, result.stderr
    assert not workdir.certificate(handle).exists()
    if kind in LOGS_REQUESTS:
        assert served and all('" 404 "' in line for line in served), served
    assert f"{handle}: authorization invalid: Non-200 status code from HTTP" in result.stderr
    assert "returned 404" in result.stderr


@pytest.mark.parametrize("kind", sorted(SNIPPET_FILES))
def test_the_snippet_names_the_default_challenge_directory(kind):
    """What the tests replace is the default challengedir of acme-client.conf(5), and only that."""
    text = (SNIPPETS / SNIPPET_FILES[kind]).read_text()
    assert "/var/www/acme" in text
    replaced = snippet_for(SNIPPETS / SNIPPET_FILES[kind], Path("/srv/test-challenges"))
    assert "/var/www/acme" not in replaced
    assert replaced.count("/srv/test-challenges") == text.count("/var/www/acme")
