#!/usr/bin/env python3
"""The local test CA: pebble and pebble-challtestsrv on loopback.

Tests, benchmarks and the README's demo talk to a real ACME server, never to
the internet. This module fetches pebble from Debian's package registry (see
`fetch_pebble`), and `Testbed` runs one throw-away CA:

- pebble on free loopback ports, its own HTTPS listener signed by a TLS CA
  generated here (`Testbed.ca_file` is what a client must trust);
- pebble-challtestsrv as pebble's DNS server: every name resolves to 127.0.0.1,
  and dns-01 TXT records can be set (`set_txt`);
- an HTTP server on 127.0.0.1 at pebble's http-01 port that serves
  /.well-known/acme-challenge/TOKEN from a challenge directory, so http-01
  validation really fetches the file a client wrote there.

Use it as a context manager:

    with Testbed(challenge_dir=path) as tb:
        print(tb.directory_url, tb.ca_file)

or from a shell script (a demo, a benchmark):

    python3 tools/testbed.py run --challengedir "$WWW" \
        --write-env "$T/testbed.env" --write-authority "$T/pebble.conf" &
    while [ ! -e "$T/testbed.env" ]; do sleep 0.1; done
    . "$T/testbed.env"        # ACME_TESTBED_DIRECTORY_URL, ..._CA_FILE, ...
    # acme-client.conf: include "$T/pebble.conf", then `sign with pebble`
    kill %1                   # stops pebble; the two files are removed

`python tools/testbed.py fetch` only downloads pebble.

Only the standard library and cryptography: importing this costs little, and
it runs wherever the project's tests run.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import fcntl
import http.client
import http.server
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("testbed")

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTBED_DIR_ENV = "ACME_TESTBED_DIR"
USER_AGENT = "acme-client-testbed/0.1"
LOOPBACK = "127.0.0.1"

# Debian unstable carries pebble 2.10 or newer (ARI, profiles, challtestsrv);
# Debian 12's own 2.4 has neither. The binaries are static Go programs.
SID_SOURCES = "deb http://deb.debian.org/debian sid main\n"
PEBBLE_PACKAGE = "pebble"

DAY = 86400
DEFAULT_PROFILES: Mapping[str, tuple[str, int]] = {
    "default": ("90-day certificates, like the CA's usual profile", 90 * DAY),
    "shortlived": ("6-day certificates", 6 * DAY),
}

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # base64url, as RFC 8555 tokens are
MAX_CHALLENGE_FILE = 64 * 1024

START_ATTEMPTS = 3  # a port picked as free may be taken before pebble binds it
POLL_INTERVAL = 0.01


Found = TypeVar("Found")


class TestbedError(Exception):
    """The testbed could not be fetched, started or asked something."""

    __test__ = False  # not a pytest test class


# ---------------------------------------------------------------------------
# Fetching pebble


@dataclass(frozen=True)
class PebbleBinaries:
    """The two programs of Debian's pebble package, unpacked."""

    pebble: Path
    challtestsrv: Path
    version: str  # the Debian package version, e.g. "2.10.0+ds1-2"


def testbed_dir() -> Path:
    """Where pebble is cached: $ACME_TESTBED_DIR, else the repository's .testbed/."""
    configured = os.environ.get(TESTBED_DIR_ENV)
    if configured:
        return Path(configured).resolve()
    return REPO_ROOT / ".testbed"


def find_pebble(cache_dir: Path | None = None) -> PebbleBinaries | None:
    """The cached binaries, or None when they have not been fetched yet."""
    root = (cache_dir or testbed_dir()) / "root"
    pebble = root / "usr" / "bin" / "pebble"
    challtestsrv = root / "usr" / "bin" / "pebble-challtestsrv"
    version_file = root / "VERSION"
    for path in (pebble, challtestsrv):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return None
    version = version_file.read_text().strip() if version_file.is_file() else "unknown"
    return PebbleBinaries(pebble=pebble, challtestsrv=challtestsrv, version=version)


def fetch_pebble(cache_dir: Path | None = None) -> PebbleBinaries:
    """Download Debian unstable's pebble package into the cache, once.

    Uses apt-get with a private sources list, package lists and cache, so the
    system's apt configuration and state stay as they were. Safe to call from
    several processes at once: the first fetches, the others wait and reuse.
    """
    cache = cache_dir or testbed_dir()
    found = fetch_once(cache, find_pebble, _download_and_unpack)
    if found is None:
        raise TestbedError(f"pebble was unpacked into {cache / 'root'} but its binaries are missing")
    _check_runs(found)
    return found


def fetch_once(cache: Path, find: Callable[[Path], Found | None], download: Callable[[Path], None]) -> Found | None:
    """What `find` sees in `cache`, after `download` filled it if it saw nothing (tools/webservers.py too).

    Safe from several processes at once: the first downloads, under a lock
    in `cache`, the others wait and then find what it left.
    """
    found = find(cache)
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find(cache)
        if found is None:
            download(cache)
            found = find(cache)
    return found


def apt_options(cache: Path, sources: str = "sid.list") -> list[str]:
    """apt-get options that keep every list, cache and source in `cache` (the
    sources list is the file `sources` there): the system's apt is left as it was.
    bench/peers.py fetches its Debian peers this way too."""
    options = {
        "Dir::Etc::sourcelist": str(cache / sources),
        "Dir::Etc::sourceparts": "-",
        "Dir::State::Lists": str(cache / "lists"),
        "Dir::Cache": str(cache / "apt-cache"),
        "APT::Get::List-Cleanup": "false",
    }
    if os.geteuid() == 0:
        # _apt could not write into the cache folder anyway; apt would fall
        # back to root with a warning.
        options["APT::Sandbox::User"] = "root"
    return [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]


def run_fetch_tool(argv: Sequence[str], what: str = "pebble", cwd: Path | None = None) -> str:
    """The output of a program that fetches `what` (apt-get, dpkg); a failure is a TestbedError that says why."""
    try:
        done = subprocess.run(
            list(argv), check=False, cwd=cwd, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise TestbedError(f"cannot fetch {what}: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"cannot fetch {what}: {' '.join(argv[:2])} took over 300 s") from exc
    if done.returncode != 0:
        raise TestbedError(
            f"cannot fetch {what}: {' '.join(argv)} exited {done.returncode}:\n"
            f"{_tail(done.stdout + done.stderr)}"
        )
    return done.stdout


def _download_and_unpack(cache: Path) -> None:
    started = time.monotonic()
    log.info("fetching %s from Debian unstable into %s", PEBBLE_PACKAGE, cache)
    (cache / "sid.list").write_text(SID_SOURCES)
    (cache / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "apt-cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    options = apt_options(cache)
    run_fetch_tool(["apt-get", *options, "update"])
    download = Path(tempfile.mkdtemp(prefix="download.", dir=cache))
    unpacked = Path(tempfile.mkdtemp(prefix="root.", dir=cache))
    try:
        run_fetch_tool(["apt-get", *options, "download", PEBBLE_PACKAGE], cwd=download)
        debs = sorted(download.glob(f"{PEBBLE_PACKAGE}_*.deb"))
        if len(debs) != 1:
            raise TestbedError(f"cannot fetch pebble: expected one .deb in {download}, found {debs}")
        version = run_fetch_tool(["dpkg-deb", "-f", str(debs[0]), "Version"]).strip()
        run_fetch_tool(["dpkg", "-x", str(debs[0]), str(unpacked)])
        (unpacked / "VERSION").write_text(version + "\n")
        # Only a complete unpack gets the name find_pebble looks for.
        shutil.rmtree(cache / "root", ignore_errors=True)
        os.rename(unpacked, cache / "root")
    finally:
        shutil.rmtree(download, ignore_errors=True)
        shutil.rmtree(unpacked, ignore_errors=True)
        # Package lists of all of Debian unstable: tens of MB, not needed again.
        shutil.rmtree(cache / "lists", ignore_errors=True)
        shutil.rmtree(cache / "apt-cache", ignore_errors=True)
    log.info("fetched pebble %s in %.1f s", version, time.monotonic() - started)


def _check_runs(binaries: PebbleBinaries) -> None:
    for program in (binaries.pebble, binaries.challtestsrv):
        done = subprocess.run(
            [str(program), "-h"], check=False, capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )
        # Go's flag package prints the usage and exits 0 or 2 for -h.
        if "Usage of" not in done.stderr:
            raise TestbedError(f"{program} does not run here:\n{_tail(done.stdout + done.stderr)}")


# ---------------------------------------------------------------------------
# TLS material for pebble's own listeners


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away TLS CA and pebble's server certificate, as PEM files."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path, valid_days: int = 30) -> TlsFiles:
    """Generate a CA and a certificate for localhost, 127.0.0.1 and ::1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(minutes=5)
    not_after = now + datetime.timedelta(days=valid_days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"acme-client testbed TLS CA {secrets.token_hex(4)}")]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    files = TlsFiles(
        ca_cert=directory / "pebble-tls-ca.pem",
        server_cert=directory / "pebble-tls-server.pem",
        server_key=directory / "pebble-tls-server.key",
    )
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(files.server_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    # The CA's key is not kept: nothing else may ever be signed by it.
    return files


# ---------------------------------------------------------------------------
# Ports


def free_tcp_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def free_tcp_udp_port() -> int:
    """A loopback port free for both TCP and UDP right now (a DNS server wants both)."""
    for _ in range(50):
        port = free_tcp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise TestbedError("found no loopback port free for both TCP and UDP")


# ---------------------------------------------------------------------------
# DNS: just enough to ask challtestsrv a question


DNS_TYPES = {"A": 1, "AAAA": 28, "TXT": 16}


def dns_query(server: tuple[str, int], name: str, qtype: str = "A", timeout: float = 2.0) -> list[str]:
    """Ask a DNS server over UDP; return the answers of type `qtype` as text.

    A and AAAA answers are addresses; TXT answers are their strings joined.
    """
    type_code = DNS_TYPES[qtype]
    query_id = secrets.randbits(16)
    question = _dns_name(name) + struct.pack("!HH", type_code, 1)
    packet = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, server)
        while True:
            reply, _ = sock.recvfrom(4096)
            if len(reply) >= 2 and struct.unpack("!H", reply[:2])[0] == query_id:
                break
    return _dns_answers(reply, type_code)


def _dns_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _skip_dns_name(reply: bytes, offset: int) -> int:
    while True:
        length = reply[offset]
        if length & 0xC0 == 0xC0:  # compression pointer: two bytes, name ends
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset


def _dns_answers(reply: bytes, type_code: int) -> list[str]:
    _, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", reply[:12])
    if flags & 0x000F:
        raise TestbedError(f"DNS server answered with rcode {flags & 0x000F}")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_dns_name(reply, offset) + 4
    answers = []
    for _ in range(ancount):
        offset = _skip_dns_name(reply, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", reply[offset : offset + 10])
        rdata = reply[offset + 10 : offset + 10 + rdlength]
        offset += 10 + rdlength
        if rtype != type_code:
            continue
        if rtype == DNS_TYPES["A"]:
            answers.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == DNS_TYPES["AAAA"]:
            answers.append(str(ipaddress.IPv6Address(rdata)))
        else:
            answers.append(_txt_strings(rdata))
    return answers


def _txt_strings(rdata: bytes) -> str:
    parts, offset = [], 0
    while offset < len(rdata):
        length = rdata[offset]
        parts.append(rdata[offset + 1 : offset + 1 + length].decode("utf-8", "replace"))
        offset += 1 + length
    return "".join(parts)


# ---------------------------------------------------------------------------
# The http-01 responder


@dataclass(frozen=True)
class ChallengeRequest:
    """One request the http-01 responder answered."""

    host: str  # the Host header as sent (pebble sends NAME:PORT)
    path: str
    status: int


class ChallengeServer:
    """Serves GET /.well-known/acme-challenge/TOKEN from one directory, nothing else.

    TOKEN must be base64url; the file must be a regular file (no symbolic
    link) directly in the directory. Every request is logged, found or not.
    """

    def __init__(self, challenge_dir: Path, host: str = LOOPBACK, port: int = 0, delay: float = 0.0) -> None:
        self.challenge_dir = challenge_dir
        self.delay = delay  # seconds to wait before each answer
        self._requests: list[ChallengeRequest] = []
        self._lock = threading.Lock()
        handler = _make_challenge_handler(self)
        self._servers = _bind_pair(host, port, handler)
        self.port = int(self._servers[0].server_address[1])
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"http-01 responder {server.server_address[0]}:{self.port}", daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server, thread in zip(self._servers, self._threads):
            server.shutdown()
            thread.join()
        self._threads.clear()
        for server in self._servers:
            server.server_close()

    @property
    def requests(self) -> list[ChallengeRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def record(self, request: ChallengeRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def lookup(self, path: str) -> bytes | None:
        """The body to serve for a request path, or None for 404."""
        if not path.startswith(CHALLENGE_PREFIX):
            return None
        token = path[len(CHALLENGE_PREFIX) :]
        if not TOKEN_RE.fullmatch(token):
            return None
        try:
            fd = os.open(self.challenge_dir / token, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) and info.st_size <= MAX_CHALLENGE_FILE):
            os.close(fd)
            return None
        with open(fd, "rb") as file:
            return file.read(MAX_CHALLENGE_FILE)


class _ThreadingHTTPServer6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _bind_pair(
    host: str, port: int, handler: type[http.server.BaseHTTPRequestHandler]
) -> list[http.server.ThreadingHTTPServer]:
    """The responder on `host`, and on ::1 at the same port when `host` is 127.0.0.1.

    pebble validates an IPv6 identifier (RFC 8738) by fetching from that
    address itself, [::1]:PORT for ::1.  A port free on 127.0.0.1 may be
    taken on ::1: then another port is tried.
    """
    for _ in range(20):
        first = http.server.ThreadingHTTPServer((host, port), handler)
        first.daemon_threads = True
        if host != LOOPBACK:
            return [first]
        try:
            second = _ThreadingHTTPServer6(("::1", int(first.server_address[1])), handler)
        except OSError:
            first.server_close()
            if port:
                raise
            continue
        second.daemon_threads = True
        return [first, second]
    raise TestbedError("found no port free on both 127.0.0.1 and ::1 for the http-01 responder")


def _make_challenge_handler(owner: ChallengeServer) -> type[http.server.BaseHTTPRequestHandler]:
    class ChallengeHandler(http.server.BaseHTTPRequestHandler):
        server_version = "acme-testbed-http01"
        sys_version = ""
        timeout = 10

        def do_GET(self) -> None:
            time.sleep(owner.delay)
            body = owner.lookup(self.path)
            status = 404 if body is None else 200
            owner.record(ChallengeRequest(host=self.headers.get("Host", ""), path=self.path, status=status))
            payload = b"not found\n" if body is None else body
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if body is None else "application/octet-stream")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log above is the record; keep test output clean

    return ChallengeHandler


# ---------------------------------------------------------------------------
# Child processes


PR_SET_PDEATHSIG = 1


def _die_with_parent_hook() -> Callable[[], None]:
    """What the child runs between fork and exec: ask for SIGTERM when its parent
    dies, so a killed test run leaves no pebble behind.

    libc is loaded here, in the parent: between fork and exec of a process with
    threads only the prctl call itself is safe (no import, no dlopen).
    """
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    # Linux sends the signal when the *thread* that forked exits: start a
    # Testbed from a thread that outlives it (the main thread, as pytest does).
    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    hook = _die_with_parent_hook()
    with open(log_path, "wb") as out:  # a fresh log per attempt
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env), cwd=cwd, close_fds=True,
            preexec_fn=hook,  # noqa: PLW1509 (the hook only calls prctl)
        )


def _stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------
# The testbed


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class PebbleSettings:
    """pebble's knobs; see Testbed for what each means."""

    always_valid: bool = False
    nonce_reject: int | None = None
    authz_reuse: int | None = None
    chain_length: int | None = None
    alternate_roots: int | None = None
    va_sleep: bool | int = False
    strict: bool = False


class _PortTaken(Exception):
    """pebble or challtestsrv found a port taken that was free a moment ago."""


class Testbed:
    """pebble + pebble-challtestsrv + an http-01 responder, on loopback ports of its own.

    Options map to pebble's knobs: `always_valid` (PEBBLE_VA_ALWAYS_VALID: only for
    tests about something other than validation), `nonce_reject` (percent of good
    nonces rejected as bad; None keeps pebble's default of 5), `authz_reuse`
    (percent; pebble's default 50), `chain_length`, `alternate_roots`,
    `va_sleep` (False: PEBBLE_VA_NOSLEEP; an int: PEBBLE_VA_SLEEPTIME, a random
    0 to N whole seconds, so sometimes none), `answer_delay` (seconds the
    http-01 responder waits before each answer: a CA slow to validate, always),
    `eab_keys` (kid -> base64url MAC key; makes EAB required), `retry_after_*`
    (seconds; 0 sends no Retry-After), `profiles` (name -> (description, seconds)),
    `key_algorithm` ("rsa", pebble's default, or "ecdsa": the issuing CA's keys;
    ecdsa starts about 0.1 s faster, but pebble then serves no intermediate key).
    `serve_challenges` False starts no http-01 responder of the test bed's own:
    pebble's validator then fetches from `http_port`, where the client's
    built-in responder (`challenge http-01 listen on`) is to listen.
    `dns_server` (address, port) is where pebble looks names up instead of
    challtestsrv: a real name server (tools/nameserver.py).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        challenge_dir: Path | str | None = None,
        always_valid: bool = False,
        nonce_reject: int | None = None,
        authz_reuse: int | None = None,
        chain_length: int | None = None,
        alternate_roots: int | None = None,
        va_sleep: bool | int = False,
        answer_delay: float = 0.0,
        eab_keys: Mapping[str, str] | None = None,
        retry_after_authz: int = 1,
        retry_after_order: int = 1,
        profiles: Mapping[str, tuple[str, int]] | None = None,
        key_algorithm: str | None = None,
        serve_challenges: bool = True,
        dns_server: tuple[str, int] | None = None,
        strict: bool = False,
        extra_env: Mapping[str, str] | None = None,
        binaries: PebbleBinaries | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self.settings = PebbleSettings(
            always_valid=always_valid, nonce_reject=nonce_reject, authz_reuse=authz_reuse,
            chain_length=chain_length, alternate_roots=alternate_roots, va_sleep=va_sleep, strict=strict,
        )
        self._given_challenge_dir = Path(challenge_dir).resolve() if challenge_dir is not None else None
        self.answer_delay = answer_delay
        self.eab_keys: dict[str, str] = dict(eab_keys or {})
        self.retry_after = {"authz": retry_after_authz, "order": retry_after_order}
        self.profiles: dict[str, tuple[str, int]] = dict(profiles if profiles is not None else DEFAULT_PROFILES)
        if key_algorithm not in (None, "rsa", "ecdsa"):
            raise ValueError(f"key_algorithm must be 'rsa' or 'ecdsa', not {key_algorithm!r}")
        self.key_algorithm = key_algorithm
        self.serve_challenges = serve_challenges
        self._dns_server = dns_server
        self._extra_env = dict(extra_env or {})
        self._binaries = binaries
        self._start_timeout = start_timeout

        self.state_dir: Path | None = None
        self.challenge_dir: Path | None = None
        self.tls: TlsFiles | None = None
        self.ports: dict[str, int] = {}
        self.start_seconds: float | None = None
        self._http: ChallengeServer | None = None
        self._pebble: subprocess.Popen[bytes] | None = None
        self._challtestsrv: subprocess.Popen[bytes] | None = None
        self._ssl: ssl.SSLContext | None = None

    # -- life -----------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything and return once pebble and its DNS server answer."""
        if self.state_dir is not None:
            raise TestbedError("this testbed is already started")
        started = time.monotonic()
        binaries = self._binaries or fetch_pebble()
        self.state_dir = Path(tempfile.mkdtemp(prefix="acme-testbed."))
        try:
            # Readable by all: a client that drops privileges still reads the CA
            # file and reaches the challenge directory. The TLS key is 0600.
            self.state_dir.chmod(0o755)
            self.challenge_dir = self._given_challenge_dir or self.state_dir / "challenges"
            self.challenge_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            self.tls = make_tls_files(self.state_dir)
            self._ssl = ssl.create_default_context(cafile=str(self.tls.ca_cert))
            if self.serve_challenges:
                self._http = ChallengeServer(self.challenge_dir, delay=self.answer_delay)
                self._http.start()
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    self._start_servers(binaries)
                    break
                except _PortTaken:
                    self._stop_servers()
                    if attempt == START_ATTEMPTS:
                        raise TestbedError("loopback ports kept being taken while starting\n"
                                           + self._logs_for_error()) from None
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        log.info("testbed up in %.3f s: %s", self.start_seconds, self.directory_url)

    def stop(self) -> None:
        """Stop the servers and remove the generated files. Safe to call twice."""
        self._stop_servers()
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None

    def _start_servers(self, binaries: PebbleBinaries) -> None:
        assert self.state_dir is not None
        self.ports = {
            "acme": free_tcp_port(),
            "management": free_tcp_port(),
            "http01": self._http.port if self._http is not None else free_tcp_port(),
            "tlsalpn01": free_tcp_port(),
            "dns": free_tcp_udp_port(),
            "challtestsrv": free_tcp_port(),
        }
        config = self.state_dir / "pebble-config.json"
        config.write_text(json.dumps(self._pebble_config(), indent=2))
        self._challtestsrv = _spawn(
            [
                str(binaries.challtestsrv),
                "-management", f"{LOOPBACK}:{self.ports['challtestsrv']}",
                "-dnsserver", f"{LOOPBACK}:{self.ports['dns']}",
                "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
                "-defaultIPv4", LOOPBACK, "-defaultIPv6", "",
            ],
            {"PATH": "/usr/bin:/bin"},
            self.state_dir / "challtestsrv.log",
            self.state_dir,
        )
        address, port = self._dns_server or (LOOPBACK, self.ports["dns"])
        argv = [str(binaries.pebble), "-config", str(config), "-dnsserver", f"{address}:{port}"]
        if self.settings.strict:
            argv.append("-strict")
        self._pebble = _spawn(argv, self._pebble_env(), self.state_dir / "pebble.log", self.state_dir)
        self._wait_until_ready()

    def _stop_servers(self) -> None:
        _stop_process(self._pebble)
        _stop_process(self._challtestsrv)
        self._pebble = None
        self._challtestsrv = None

    def _pebble_config(self) -> dict[str, Any]:
        assert self.tls is not None
        config: dict[str, Any] = {
            "listenAddress": f"{LOOPBACK}:{self.ports['acme']}",
            "managementListenAddress": f"{LOOPBACK}:{self.ports['management']}",
            "certificate": str(self.tls.server_cert),
            "privateKey": str(self.tls.server_key),
            "httpPort": self.ports["http01"],
            "tlsPort": self.ports["tlsalpn01"],
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab_keys),
            "retryAfter": dict(self.retry_after),
            "profiles": {
                name: {"description": description, "validityPeriod": seconds}
                for name, (description, seconds) in self.profiles.items()
            },
        }
        if self.eab_keys:
            config["externalAccountMACKeys"] = dict(self.eab_keys)
        if self.key_algorithm is not None:
            config["keyAlgorithm"] = self.key_algorithm
        return {"pebble": config}

    def _pebble_env(self) -> dict[str, str]:
        # A minimal environment: no proxy variables may divert pebble's validator.
        env = {"PATH": "/usr/bin:/bin"}
        settings = self.settings
        if settings.va_sleep is False:
            env["PEBBLE_VA_NOSLEEP"] = "1"
        elif settings.va_sleep is not True:
            env["PEBBLE_VA_SLEEPTIME"] = str(int(settings.va_sleep))
        if settings.always_valid:
            env["PEBBLE_VA_ALWAYS_VALID"] = "1"
        for value, var in (
            (settings.nonce_reject, "PEBBLE_WFE_NONCEREJECT"),
            (settings.authz_reuse, "PEBBLE_AUTHZREUSE"),
            (settings.chain_length, "PEBBLE_CHAIN_LENGTH"),
            (settings.alternate_roots, "PEBBLE_ALTERNATE_ROOTS"),
        ):
            if value is not None:
                env[var] = str(int(value))
        env.update(self._extra_env)
        return env

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        pebble_ready = dns_ready = False
        while not (pebble_ready and dns_ready):
            self._check_alive()
            if not dns_ready:
                dns_ready = self._dns_answers()
            if not pebble_ready:
                pebble_ready = self._pebble_answers()
            if time.monotonic() > deadline:
                waiting = [name for name, ok in (("pebble", pebble_ready), ("challtestsrv", dns_ready)) if not ok]
                raise TestbedError(
                    f"{' and '.join(waiting)} did not answer within {self._start_timeout:.0f} s\n"
                    + self._logs_for_error()
                )
            if not (pebble_ready and dns_ready):
                time.sleep(POLL_INTERVAL)

    def _check_alive(self) -> None:
        for name, proc in (("pebble", self._pebble), ("pebble-challtestsrv", self._challtestsrv)):
            if proc is not None and proc.poll() is not None:
                logs = self._logs_for_error()
                if "address already in use" in logs:
                    raise _PortTaken()
                raise TestbedError(f"{name} exited with status {proc.returncode} while starting\n{logs}")

    def _dns_answers(self) -> bool:
        try:
            return dns_query(self.dns_address, "testbed-ready.test", "A", timeout=0.2) == [LOOPBACK]
        except (OSError, TestbedError):
            return False

    def _pebble_answers(self) -> bool:
        try:
            return self._request("GET", self.directory_url, timeout=1.0).status == 200
        except (OSError, http.client.HTTPException):
            return False

    def _logs_for_error(self) -> str:
        if self.state_dir is None:
            return ""
        parts = []
        for name in ("pebble.log", "challtestsrv.log"):
            path = self.state_dir / name
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} ---\n{_tail(text)}")
        return "\n".join(parts)

    # -- facts ------------------------------------------------------------

    def _need_started(self) -> None:
        if self.state_dir is None:
            raise TestbedError("the testbed is not started")

    @property
    def directory_url(self) -> str:
        """pebble's ACME directory. The TLS certificate also names localhost and ::1,
        but pebble listens on 127.0.0.1 only."""
        self._need_started()
        return f"https://{LOOPBACK}:{self.ports['acme']}/dir"

    @property
    def ca_file(self) -> Path:
        """PEM file of the TLS CA that signed pebble's listener certificates."""
        self._need_started()
        assert self.tls is not None
        return self.tls.ca_cert

    @property
    def management_url(self) -> str:
        self._need_started()
        return f"https://{LOOPBACK}:{self.ports['management']}"

    @property
    def challtestsrv_url(self) -> str:
        self._need_started()
        return f"http://{LOOPBACK}:{self.ports['challtestsrv']}"

    @property
    def dns_address(self) -> tuple[str, int]:
        self._need_started()
        return (LOOPBACK, self.ports["dns"])

    @property
    def http_port(self) -> int:
        """Where pebble's validator fetches http-01 files (our responder listens there)."""
        self._need_started()
        return self.ports["http01"]

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the running pebble and pebble-challtestsrv."""
        running = {"pebble": self._pebble, "challtestsrv": self._challtestsrv}
        return {name: proc.pid for name, proc in running.items() if proc is not None}

    @property
    def pebble_log(self) -> str:
        """Everything pebble printed so far."""
        self._need_started()
        assert self.state_dir is not None
        return (self.state_dir / "pebble.log").read_text(errors="replace")

    @property
    def http_requests(self) -> list[str]:
        """Paths of every request the http-01 responder got, in order."""
        return [request.path for request in self.http_log]

    @property
    def http_log(self) -> list[ChallengeRequest]:
        """Every request the http-01 responder got: Host header, path, status."""
        return self._http.requests if self._http is not None else []

    def clear_http_log(self) -> None:
        if self._http is not None:
            self._http.clear()

    def describe(self) -> dict[str, str]:
        """The facts a script or a person needs, as strings."""
        assert self.challenge_dir is not None
        return {
            "directory_url": self.directory_url,
            "ca_file": str(self.ca_file),
            "management_url": self.management_url,
            "challtestsrv_url": self.challtestsrv_url,
            "dns": f"{self.dns_address[0]}:{self.dns_address[1]}",
            "http01_port": str(self.http_port),
            "tlsalpn01_port": str(self.ports["tlsalpn01"]),
            "challenge_dir": str(self.challenge_dir),
            "state_dir": str(self.state_dir),
        }

    def authority_block(
        self,
        name: str = "pebble",
        account_key: Path | str | None = None,
        keytype: str = "ecdsa",
        contact: str | None = None,
    ) -> str:
        """An acme-client.conf `authority` block for this CA."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"authority name {name!r} is not a plain word")
        if account_key is None:
            assert self.state_dir is not None
            account_key = self.state_dir / "account.key"
        lines = [
            f"authority {name} {{",
            f"\tapi url {_conf_string(self.directory_url)}",
            f"\taccount key {_conf_string(str(account_key))} {keytype}",
        ]
        if contact is not None:
            lines.append(f"\tcontact {_conf_string(contact)}")
        lines.append(f"\tca file {_conf_string(str(self.ca_file))}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- asking pebble and challtestsrv --------------------------------------

    def _request(
        self, method: str, url: str, body: bytes | None = None, timeout: float = 10.0
    ) -> HttpResponse:
        scheme, _, rest = url.partition("://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        headers = {"User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, "/" + path, body=body, headers=headers)
            response = conn.getresponse()
            return HttpResponse(response.status, response.headers, response.read())
        finally:
            conn.close()

    def _management(self, method: str, path: str, payload: Any = None) -> HttpResponse:
        self._need_started()
        body = None if payload is None else json.dumps(payload).encode()
        return self._request(method, self.management_url + path, body)

    def _management_pem(self, path: str) -> str:
        response = self._management("GET", path)
        if response.status != 200:
            raise TestbedError(f"pebble management {path}: HTTP {response.status}")
        return response.body.decode("ascii")

    def root_pem(self, index: int = 0) -> str:
        """pebble's issuing root certificate (index > 0: alternate roots), PEM."""
        return self._management_pem(f"/roots/{index}")

    def intermediate_pem(self, index: int = 0) -> str:
        """The intermediate under root `index`, PEM."""
        return self._management_pem(f"/intermediates/{index}")

    def intermediate_key_pem(self, index: int = 0) -> str:
        """The intermediate's private key (pebble publishes it): for forging
        certificates that chain to pebble's root in adversarial tests. RSA only:
        pebble 2.10 answers 404 when key_algorithm is "ecdsa"."""
        return self._management_pem(f"/intermediate-keys/{index}")

    def cert_status(self, serial_hex: str) -> dict[str, Any] | None:
        """pebble's record of a certificate it issued ({"Status": "Valid"|"Revoked",
        "Serial", "Certificate", maybe "Reason", "RevokedAt"}), or None if unknown."""
        serial = serial_hex.lower().removeprefix("0x").replace(":", "")
        if not re.fullmatch(r"[0-9a-f]+", serial):
            raise ValueError(f"not a hexadecimal serial number: {serial_hex!r}")
        response = self._management("GET", f"/cert-status-by-serial/{serial}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise TestbedError(f"pebble cert-status-by-serial: HTTP {response.status}")
        result: dict[str, Any] = response.json()
        return result

    def set_renewal_info(self, certificate_pem: str, renewal_info: Mapping[str, Any]) -> None:
        """Make pebble's ARI answer `renewal_info` (e.g. {"suggestedWindow": {"start": ...,
        "end": ...}}) for a certificate it issued."""
        payload = {"Certificate": certificate_pem, "ARIResponse": json.dumps(dict(renewal_info))}
        response = self._management("POST", "/set-renewal-info/", payload)
        if response.status != 200:
            raise TestbedError(
                f"pebble set-renewal-info: HTTP {response.status}: {response.body[:300]!r}"
            )

    def _challtestsrv_post(self, path: str, payload: Mapping[str, Any]) -> None:
        self._need_started()
        response = self._request("POST", self.challtestsrv_url + path, json.dumps(dict(payload)).encode())
        if response.status != 200:
            raise TestbedError(f"challtestsrv {path}: HTTP {response.status}: {response.body[:300]!r}")

    def set_txt(self, host: str, value: str) -> None:
        """Add a TXT record, e.g. set_txt("_acme-challenge.a.example.test", digest)."""
        self._challtestsrv_post("/set-txt", {"host": _fqdn(host), "value": value})

    def clear_txt(self, host: str) -> None:
        """Remove every TXT record of a host."""
        self._challtestsrv_post("/clear-txt", {"host": _fqdn(host)})

    def verify_chain(self, chain_pem: str | bytes, name: str, root_index: int = 0) -> list[x509.Certificate]:
        """Check that a leaf (first) plus intermediates chains to pebble's root for
        `name` (a DNS name or IP address); return the built path, leaf first.
        Raises cryptography's VerificationError when it does not."""
        from cryptography.x509 import verification

        certs = x509.load_pem_x509_certificates(chain_pem if isinstance(chain_pem, bytes) else chain_pem.encode())
        root = x509.load_pem_x509_certificate(self.root_pem(root_index).encode())
        subject: x509.DNSName | x509.IPAddress
        try:
            subject = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            subject = x509.DNSName(name)
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store([root]))
            .build_server_verifier(subject)
        )
        return list(verifier.verify(certs[0], certs[1:]))


def _fqdn(host: str) -> str:
    return host if host.endswith(".") else host + "."


def _conf_string(value: str) -> str:
    if any(ch in value for ch in '"\\\n\r') or not value.isprintable():
        raise ValueError(f"cannot put {value!r} into acme-client.conf as a quoted string")
    return f'"{value}"'


# ---------------------------------------------------------------------------
# Command line


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _env_text(facts: Mapping[str, str]) -> str:
    import shlex

    return "".join(f"ACME_TESTBED_{key.upper()}={shlex.quote(value)}\n" for key, value in facts.items())


def _parse_eab(values: Sequence[str]) -> dict[str, str]:
    keys = {}
    for value in values:
        kid, sep, key = value.partition("=")
        if not sep or not kid or not key:
            raise SystemExit(f"--eab wants KID=BASE64URL-KEY, got {value!r}")
        keys[kid] = key
    return keys


def _cmd_fetch(args: argparse.Namespace) -> int:
    binaries = fetch_pebble(Path(args.dir).resolve() if args.dir else None)
    print(f"pebble {binaries.version}")
    print(f"  {binaries.pebble}")
    print(f"  {binaries.challtestsrv}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    testbed = Testbed(
        challenge_dir=args.challengedir, always_valid=args.always_valid,
        nonce_reject=args.nonce_reject, authz_reuse=args.authz_reuse,
        chain_length=args.chain_length, alternate_roots=args.alternate_roots,
        eab_keys=_parse_eab(args.eab), retry_after_authz=args.retry_after,
        retry_after_order=args.retry_after, key_algorithm=args.key_algorithm,
    )
    with testbed:
        facts = testbed.describe()
        block = testbed.authority_block(args.authority_name, args.account_key)
        if args.write_authority:
            _write_atomically(Path(args.write_authority), block)
        if args.write_env:
            _write_atomically(Path(args.write_env), _env_text(facts))
        width = max(map(len, facts))
        print(f"pebble testbed up in {testbed.start_seconds:.2f} s")
        for key, value in facts.items():
            print(f"  {key:<{width}}  {value}")
        if testbed.eab_keys:
            print(f"  {'eab':<{width}}  " + ", ".join(testbed.eab_keys))
        print("\n# acme-client.conf\n" + block, flush=True)
        print("ready; stop with Ctrl-C or SIGTERM", flush=True)
        while not stop.wait(1.0):
            pass
        for path in (args.write_env, args.write_authority):
            if path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testbed.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download pebble into the cache (once)")
    fetch.add_argument("--dir", help=f"cache folder (default ${TESTBED_DIR_ENV} or .testbed/)")
    run = sub.add_parser("run", help="run a testbed in the foreground until killed")
    run.add_argument("--challengedir", help="folder served at /.well-known/acme-challenge/ (default: a temporary one)")
    run.add_argument("--always-valid", action="store_true", help="PEBBLE_VA_ALWAYS_VALID: skip validation")
    run.add_argument("--nonce-reject", type=int, help="percent of good nonces to reject (pebble's default 5)")
    run.add_argument("--authz-reuse", type=int, help="percent of valid authorizations reused (default 50)")
    run.add_argument("--chain-length", type=int, help="PEBBLE_CHAIN_LENGTH")
    run.add_argument("--alternate-roots", type=int, help="PEBBLE_ALTERNATE_ROOTS")
    run.add_argument("--eab", action="append", default=[], metavar="KID=KEY", help="require EAB with this key")
    run.add_argument("--key-algorithm", choices=("rsa", "ecdsa"), help="the issuing CA's key type")
    run.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds for authz and order")
    run.add_argument("--authority-name", default="pebble", help="name in the printed authority block")
    run.add_argument("--account-key", help="account key path for the printed authority block")
    run.add_argument("--write-env", help="write ACME_TESTBED_*=... lines (sh syntax) here once ready")
    run.add_argument("--write-authority", help="write the authority block here once ready (for `include`)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="testbed: %(message)s")
    try:
        return int(_cmd_fetch(args) if args.command == "fetch" else _cmd_run(args))
    except TestbedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
