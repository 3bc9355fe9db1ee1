"""The outside of the proof: a test bed, jailed children, and the role x attempt matrix.

The bed: a private CA and two loopback HTTPS servers (the CA's port and
another), a UDP sink, an abstract unix socket, a sibling process, a challenge
directory, a certificate directory, a directory "outside" everything with a
victim file, an account key and a domain key.  Each role runs in fresh
children (sandbox_probe_child.py) that jail themselves with the real role code
and try the probes; a probe the sandbox kills ends its child with SIGSYS and
the next probe gets a new child.

Unprivileged runs: when the parent is root, the child is started as the test
user from exec (setgroups, setgid, setuid between fork and exec), through an
interpreter that user may run: the venv on Debian's python3 that
tools/test-deps.sh builds (this checkout's .venv may live under a private home
such as /root).  Everything the role does, its imports, acquire and enter,
then happens as that user, as in a real unprivileged run.  When the whole
suite runs as an ordinary user, children are simply that user.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CHILD = Path(__file__).with_name("sandbox_probe_child.py")
REPO = Path(__file__).resolve().parents[2]
ROLES = ("netproc", "dnsproc", "acctproc", "keyproc", "chngproc", "certproc", "fileproc", "revokeproc", "httpproc", "tlsproc", "hookproc")
KILLED = "SIGSYS"
UNPRIVILEGED_USER = "nobody"

# ---------------------------------------------------------------------------
# Probes: what each attempt means, and what the sandbox must answer

# Outcomes: "ok" = it worked; "SIGSYS" = seccomp killed the process; an errno
# name = the call failed with it; an exception name = Python gave up with it.
DENIED_BY_SECCOMP = KILLED


@dataclass(frozen=True)
class Probe:
    name: str
    meaning: str
    expected: dict[str, str]  # role -> outcome; roles absent are not tried
    must_do: bool = False  # a legitimate operation of the roles it is "ok" for
    known_gap: bool = False  # allowed although nobody needs it: documented in docs/SECURITY.md


def _every(outcome: str, **overrides: str) -> dict[str, str]:
    expected = {role: outcome for role in ROLES}
    expected.update(overrides)
    return expected


_OFFLINE_OPEN = "EPERM"  # seccomp's quiet denial of read-only opens

PROBES: tuple[Probe, ...] = (
    # the network
    Probe("socket_tcp", "open a TCP socket", _every(KILLED, netproc="ok", dnsproc="ok")),
    Probe("socket_udp", "open a UDP socket", _every(KILLED, dnsproc="ok")),
    Probe("socket_unix", "open a unix socket", _every(KILLED, dnsproc="EPERM")),
    Probe("socket_netlink", "open a netlink socket", _every(KILLED)),
    Probe("connect_other_port", "connect to a loopback TCP port", _every(KILLED, netproc="EACCES", dnsproc="EACCES")),
    Probe("connect_ca_port", "connect to the CA's port", _every(KILLED, netproc="ok", dnsproc="EACCES")),
    Probe("bind_tcp", "bind and listen on a TCP port", _every(KILLED)),
    Probe("resolve_name", "resolve a host name", _every(KILLED, dnsproc="ok")),
    Probe("abstract_unix", "connect to the parent's abstract unix socket", _every(KILLED, dnsproc="EPERM")),
    Probe(
        "udp_send",
        "send a UDP datagram to loopback",
        _every(KILLED, dnsproc="ok"),
        known_gap=True,
    ),
    # files
    # tlsproc's read-only opens are allowed (ssl reads its memfd again): Landlock refuses the rest.
    Probe("read_shadow", "open /etc/shadow", _every(_OFFLINE_OPEN, dnsproc="EACCES", tlsproc="EACCES")),
    Probe("read_account_key", "open the account key file", _every(_OFFLINE_OPEN, dnsproc="EACCES", tlsproc="EACCES")),
    Probe(
        "read_parent_descriptor",
        "open its parent's stderr pipe through /proc/PID/fd",
        _every(_OFFLINE_OPEN, dnsproc="EACCES", tlsproc="EACCES"),
    ),
    Probe(
        "create_outside",
        "create a file outside its directory",
        _every(KILLED, chngproc="ENOENT", fileproc="ENOENT"),
    ),
    Probe("overwrite_outside", "open an existing file outside for writing", _every(KILLED)),
    Probe("rename_outside", "rename a file outside its directory", _every(KILLED, fileproc="ENOENT")),
    Probe("unlink_outside", "remove a file outside its directory", _every(KILLED, chngproc="ENOENT", fileproc="ENOENT")),
    Probe("chmod_outside", "chmod a file outside its directory", _every(KILLED)),
    # fileproc gives its output files their owner and group before its jail (proc/fileproc.py): after it, no role may
    Probe("give_file_away", "chown a file it made in its own directory (or its stderr) to another user", _every(KILLED)),
    Probe(
        "write_cert_dir",
        "create a file in the certificate directory",
        {role: outcome for role, outcome in _every(KILLED, chngproc="ENOENT").items() if role != "fileproc"},
    ),
    Probe(
        "write_challenge_dir",
        "create a file in the challenge directory",
        {role: outcome for role, outcome in _every(KILLED, fileproc="ENOENT").items() if role != "chngproc"},
    ),
    Probe("mkdir_own_dir", "make a directory in its own directory", {"chngproc": KILLED, "fileproc": KILLED}),
    Probe("symlink_own_dir", "make a symlink in its own directory", {"chngproc": KILLED, "fileproc": KILLED}),
    Probe(
        "link_into_own_dir",
        "hard-link a file from outside into its directory",
        {"chngproc": KILLED, "fileproc": "ENOENT"},
    ),
    Probe(
        "stat_outside",
        "stat /etc/shadow (metadata only)",
        _every("ok", chngproc="ENOENT", fileproc="ENOENT"),  # chroot hides it from those two
        known_gap=True,
    ),
    # processes and privileges
    Probe("execve", "execute /bin/true", _every(KILLED)),
    Probe("fork", "fork", _every(KILLED)),
    Probe("thread", "start a thread (clone)", _every(KILLED)),
    Probe("signal_parent", "signal its parent", _every(KILLED)),
    Probe("signal_sibling", "signal another process of the same user", _every(KILLED)),
    Probe("ptrace_parent", "ptrace its parent", _every(KILLED)),
    Probe("setuid_root", "setuid(0)", _every(KILLED)),
    Probe("user_namespace", "unshare a new user namespace", _every(KILLED)),
    Probe("chroot_escape", "chroot", _every(KILLED)),
    Probe("import_module", "import a module not loaded before the jail", _every("ImportAfterJail")),
    Probe(
        "import_module_past_the_guard",
        "import a module with the import guard removed: the jail refuses the files",
        _every("EPERM", dnsproc="EACCES", tlsproc="EACCES", chngproc="ModuleNotFoundError", fileproc="ModuleNotFoundError"),
    ),
    Probe("exec_memory", "map executable memory", _every("EPERM")),
    Probe("tiocsti", "inject input into the terminal (TIOCSTI)", _every(KILLED)),
    # the job
    Probe("https_to_ca", "HTTPS request to the CA (real transport)", {"netproc": "ok"}, must_do=True),
    Probe("resolve_localhost", "resolve localhost (real dnsproc)", {"dnsproc": "ok"}, must_do=True),
    Probe("sign_request", "sign a JWS with the account key", {"acctproc": "ok"}, must_do=True),
    Probe("hold_csr", "hand over the CSR built before the jail", {"keyproc": "ok"}, must_do=True),
    Probe("parse_chain", "parse a certificate chain (real certproc)", {"certproc": "ok"}, must_do=True),
    Probe(
        "parse_read_certificate",
        "read the certificate through its descriptor",
        {"revokeproc": "ok"},
        must_do=True,
    ),
    Probe("publish_challenge", "write and remove a challenge file", {"chngproc": "ok"}, must_do=True),
    Probe("answer_challenge", "answer an http-01 GET from memory", {"httpproc": "ok"}, must_do=True),
    Probe(
        "answer_tls_alpn",
        "answer a tls-alpn-01 handshake with a certificate made and loaded through its memfd",
        {"tlsproc": "ok"},
        must_do=True,
    ),
    Probe(
        "install_certificate",
        "install certificate files atomically, twice (FILE.1)",
        {"fileproc": "ok"},
        must_do=True,
    ),
)

# hookproc runs the administrator's hook program: no seccomp filter and no Landlock rules (the
# program would inherit them), so most attempts work, as for any program its user runs. What it
# must not get: the keys (their directory is empty in its mount namespace, and stays so), the
# certificate and challenge directories (read-only), another process (not dumpable, nobody's).
# Attempts whose answer is its user's file permissions, which differ between the root and the
# unprivileged run, are not tried (create_outside and the like, signal_sibling, setuid_root); nor
# are user_namespace and chroot, which after the thread probe depend on how soon the kernel has
# let the thread go (unshare refuses a process with two): reveal_hidden_keys makes a user and a
# mount namespace of its own, first, in a child of its own.
HOOKPROC_OUTCOMES = {
    **dict.fromkeys(
        ("socket_tcp", "socket_udp", "socket_unix", "socket_netlink", "connect_other_port", "connect_ca_port",
         "bind_tcp", "resolve_name", "abstract_unix", "udp_send", "stat_outside", "fork", "thread",
         "import_module_past_the_guard", "exec_memory"),
        "ok",
    ),
    "read_shadow": "EACCES",
    "read_account_key": "ENOENT",
    "read_parent_descriptor": "EACCES",
    "write_cert_dir": "EROFS",
    "write_challenge_dir": "EROFS",
    "execve": "exit 0",  # /bin/true took its place
    "signal_parent": "EPERM",
    "ptrace_parent": "EPERM",
    "import_module": "ImportAfterJail",
    "tiocsti": "ENOTTY",
}
for _probe in PROBES:
    _probe.expected.pop("hookproc", None)
    if _probe.name in HOOKPROC_OUTCOMES:
        _probe.expected["hookproc"] = HOOKPROC_OUTCOMES[_probe.name]
PROBES = (
    Probe("reveal_hidden_keys", "unmount what hides the keys, in namespaces of its own", {"hookproc": "EINVAL"}),
    *PROBES,
    Probe("run_hook", "run the hook program", {"hookproc": "ok"}, must_do=True),
)

PROBES_BY_NAME = {probe.name: probe for probe in PROBES}


def probes_for(role: str) -> tuple[str, ...]:
    return tuple(probe.name for probe in PROBES if role in probe.expected)


# ---------------------------------------------------------------------------
# The bed


@dataclass
class Bed:
    root: Path
    values: dict[str, Any]
    uid: int
    gid: int
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        shutil.rmtree(self.root, ignore_errors=True)


def _make_tls(root: Path) -> tuple[Path, Path, Path, Path]:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file, bundle = root / "ca.pem", root / "server.pem", root / "server.key", root / "bundle.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    bundle.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    return ca_file, cert_file, key_file, bundle


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b'{"newNonce": "https://localhost/nonce"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        del format, args


def _https_server(cert: Path, key: Path) -> tuple[int, Any]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return server.server_address[1], stop


def _key_file(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o400)


def make_bed(uid: int, gid: int) -> Bed:
    """Everything the probes aim at; files owned by the user the children run as."""
    root = Path(tempfile.mkdtemp(prefix="acme-sandbox-"))
    root.chmod(0o755)
    bed = Bed(root, {}, uid, gid)
    try:
        ca_file, cert_file, key_file, bundle = _make_tls(root)
        allowed_port, stop_allowed = _https_server(cert_file, key_file)
        other_port, stop_other = _https_server(cert_file, key_file)
        bed.closers += [stop_allowed, stop_other]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        bed.closers.append(udp.close)
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        abstract_name = f"acme-sandbox-{os.getpid()}-{id(bed)}"
        abstract.bind("\0" + abstract_name)
        abstract.listen()
        bed.closers.append(abstract.close)
        sibling = subprocess.Popen(
            ["sleep", "600"], **_as_user(uid, gid), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        bed.closers.append(lambda: (sibling.kill(), sibling.wait()))
        dirs = {name: root / name for name in ("challenge_dir", "cert_dir", "outside_dir", "keys")}
        for directory in dirs.values():
            directory.mkdir(mode=0o755)
        (dirs["outside_dir"] / "victim").write_text("victim\n")
        account_key, domain_key = dirs["keys"] / "account.key", dirs["keys"] / "domain.key"
        _key_file(account_key)
        _key_file(domain_key)
        for path in [*dirs.values(), dirs["outside_dir"] / "victim", account_key, domain_key]:
            os.chown(path, uid, gid)
        bed.values = {
            "ca_file": str(ca_file),
            "bundle": str(bundle),
            "allowed_port": allowed_port,
            "other_port": other_port,
            "udp_port": udp.getsockname()[1],
            "abstract_name": abstract_name,
            "sibling_pid": sibling.pid,
            "account_key": str(account_key),
            "domain_key": str(domain_key),
            **{name: str(path) for name, path in dirs.items()},
        }
    except BaseException:
        bed.close()
        raise
    return bed


@contextmanager
def bed_for(unprivileged: bool) -> Iterator[Bed]:
    uid, gid = unprivileged_ids() if unprivileged else (os.getuid(), os.getgid())
    bed = make_bed(uid, gid)
    try:
        yield bed
    finally:
        bed.close()


def unprivileged_ids() -> tuple[int, int]:
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return entry.pw_uid, entry.pw_gid


def unprivileged_python() -> Path:
    """An interpreter the unprivileged user may run (see tests/integration/test_unprivileged.py)."""
    configured = os.environ.get("ACME_UNPRIVILEGED_PYTHON")
    python = Path(configured) if configured else REPO / ".testbed/unprivileged-venv/bin/python"
    if not os.access(python, os.X_OK):
        raise HarnessError(f"{python} is missing: tools/test-deps.sh creates it (or set ACME_UNPRIVILEGED_PYTHON)")
    return python


def _as_user(uid: int, gid: int) -> dict[str, Any]:
    if os.getuid() == 0 and uid != 0:
        return {"user": uid, "group": gid, "extra_groups": []}
    return {}


# ---------------------------------------------------------------------------
# Running children


@dataclass
class RoleRun:
    role: str
    unprivileged: bool
    outcomes: dict[str, str]
    reports: list[str]
    children: int


class HarnessError(Exception):
    """A child failed before its first probe: the sandbox or the role could not start."""


def _start(
    role: str, bed: Bed, probes: Iterable[str], unprivileged: bool, no_chroot: bool
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    parent_end, child_end = socket.socketpair()
    request = {
        "role": role,
        "bed": bed.values,
        "parent_fd": child_end.fileno(),
        "probes": list(probes),
        "no_chroot": no_chroot,
    }
    # Root starting an unprivileged run: the child is the user from exec on, never root.
    as_user = unprivileged and os.getuid() == 0
    python = unprivileged_python() if as_user else Path(sys.executable)
    process = subprocess.Popen(
        [str(python), "-I", str(CHILD), json.dumps(request)],
        **(_as_user(bed.uid, bed.gid) if as_user else {}),
        pass_fds=[child_end.fileno()],
        env={},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    child_end.close()
    return process, parent_end


def run_role(
    role: str, bed: Bed, unprivileged: bool, probes: Iterable[str] | None = None, no_chroot: bool = False
) -> RoleRun:
    """Every probe of `role`, each in the first child still alive to try it."""
    pending = list(probes if probes is not None else probes_for(role))
    run = RoleRun(role, unprivileged, {}, [], 0)
    while pending:
        process, channel = _start(role, bed, pending, unprivileged, no_chroot)
        run.children += 1
        events = _read_events(channel)
        _, stderr = process.communicate(timeout=60)
        started = None
        for event in events:
            if event["event"] == "ready":
                run.reports.append(event["report"])
                if unprivileged and event["uid"] == 0:
                    raise HarnessError(f"{role}: unprivileged child runs as root")
            elif event["event"] == "start":
                started = event["probe"]
            elif event["event"] == "result":
                run.outcomes[event["probe"]] = event["outcome"]
                pending.remove(event["probe"])
                started = None
        if started is not None:
            run.outcomes[started] = KILLED if process.returncode == -signal.SIGSYS else f"exit {process.returncode}"
            pending.remove(started)
        elif pending:
            raise HarnessError(
                f"{role}: child exited {process.returncode} before trying {pending[0]}:\n{stderr.decode(errors='replace')}"
            )
    return run


def _read_events(channel: socket.socket) -> list[dict[str, Any]]:
    data = bytearray()
    channel.settimeout(60)
    with channel:
        while chunk := channel.recv(65536):
            data += chunk
    return [json.loads(line) for line in data.decode().splitlines() if line]


def unexpected(run: RoleRun) -> list[str]:
    """Cells whose outcome is not what the policy says."""
    wrong = []
    for name, outcome in run.outcomes.items():
        expected = PROBES_BY_NAME[name].expected[run.role]
        if outcome != expected:
            wrong.append(f"{run.role} {name}: expected {expected}, got {outcome}")
    return wrong
