"""The inside of the proof: a real role jails itself, then attempts things.

Run by the harness as `python -I sandbox_probe_child.py SPEC-JSON`, with one
descriptor to the parent.  It imports the REAL role module, runs its real
acquire, grants and sandbox.enter, then tries each named probe in turn and
reports over the descriptor, one JSON line per event:

    {"event": "ready", "report": "..."}   after the jail
    {"event": "start", "probe": NAME}      before an attempt
    {"event": "result", "probe": NAME, "outcome": "ok" | "EACCES" | ExceptionName}

A probe the sandbox kills leaves a "start" without a "result", and the
process ends with SIGSYS; the harness then starts a fresh child for the rest.

Every module a probe needs is imported before the jail, like a role does.
Only `pycparser` is left out on purpose: importing it is a probe.  It lies in
the site-packages of every venv the children run with, the unprivileged
user's included (cffi's parser, installed with cryptography), where every user
may read it, and no role loads it.  Not a test dependency, which the
unprivileged venv lacks, nor the standard library, which may lie under a home
the role's user cannot enter (pyenv in /root): either would make the import
fail before the jail has a say.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import importlib
import importlib.util
import json
import mmap
import os
import select
import socket
import ssl
import sys
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509

from acme_conf import certstatus, sandbox
from acme_conf.acme import jws
from acme_conf.messages.certificate import WriteCertificate
from acme_conf.messages.challenge import ChallengeWrite
from acme_conf.net.transport import Transport
from acme_conf.proc import spec as specs
from acme_conf.proc.listener import open_listener

_libc = ctypes.CDLL(None, use_errno=True)
_PTRACE_SEIZE = 0x4206
_LATE_MODULE = "pycparser"  # see the module's docstring


class ProbeFailed(Exception):
    """A legitimate operation returned something other than what it should."""


class Context:
    """What the probes see: the test bed's paths and ports, and the role's held resources."""

    def __init__(self, bed: dict[str, Any], role_module: Any, spec: specs.ChildSpec, held: Any) -> None:
        self.bed = bed
        self.role_module = role_module
        self.spec = spec
        self.held = held
        self.ppid = os.getppid()
        self.client: socket.socket | None = None  # httpproc, tlsproc: connected to its listener before the jail
        self.tls_client: ssl.SSLContext | None = None  # tlsproc: a validator's context, made before the jail
        with open(bed["bundle"], "rb") as bundle:
            self.bundle_pem = bundle.read()

    def outside(self, name: str) -> str:
        return os.path.join(self.bed["outside_dir"], name)


# ---------------------------------------------------------------------------
# What no role may do (or only the one whose job it is)


def socket_tcp(ctx: Context) -> None:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()


def socket_udp(ctx: Context) -> None:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()


def socket_unix(ctx: Context) -> None:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()


def socket_netlink(ctx: Context) -> None:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()


def _connect(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.connect(("127.0.0.1", port))
    finally:
        sock.close()


def connect_ca_port(ctx: Context) -> None:
    _connect(ctx.bed["allowed_port"])


def connect_other_port(ctx: Context) -> None:
    _connect(ctx.bed["other_port"])


def bind_tcp(ctx: Context) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    finally:
        sock.close()


def udp_send(ctx: Context) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"sandbox-probe", ("127.0.0.1", ctx.bed["udp_port"]))
    finally:
        sock.close()


def resolve_name(ctx: Context) -> None:
    # bytes: straight to glibc, no idna codec in between
    socket.getaddrinfo(b"localhost", 443, type=socket.SOCK_STREAM)


def abstract_unix(ctx: Context) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0" + ctx.bed["abstract_name"])
    finally:
        sock.close()


def _open_close(path: str, flags: int) -> None:
    os.close(os.open(path, flags, 0o600))


def read_shadow(ctx: Context) -> None:
    _open_close("/etc/shadow", os.O_RDONLY)


def read_account_key(ctx: Context) -> None:
    _open_close(ctx.bed["account_key"], os.O_RDONLY)


def read_parent_descriptor(ctx: Context) -> None:
    """Its parent's stderr pipe through /proc: a kernel-internal object, as tlsproc's memfd is, but another process's."""
    _open_close(f"/proc/{ctx.ppid}/fd/2", os.O_RDONLY)


def create_outside(ctx: Context) -> None:
    _open_close(ctx.outside(f"new-{os.getpid()}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def overwrite_outside(ctx: Context) -> None:
    _open_close(ctx.outside("victim"), os.O_WRONLY | os.O_TRUNC)


def _dir_fd_if_writer(ctx: Context) -> int | None:
    # The writing roles may call renameat/unlinkat (their own code does, relative to this
    # descriptor); an absolute path makes the kernel ignore it, so the attempt reaches
    # chroot and Landlock. Other roles make the plain call, which seccomp kills.
    return getattr(getattr(ctx, "held", None), "directory_fd", None)


def rename_outside(ctx: Context) -> None:
    fd = _dir_fd_if_writer(ctx)
    os.rename(ctx.outside("victim"), ctx.outside("renamed"), src_dir_fd=fd, dst_dir_fd=fd)


def unlink_outside(ctx: Context) -> None:
    os.unlink(ctx.outside("victim"), dir_fd=_dir_fd_if_writer(ctx))


def chmod_outside(ctx: Context) -> None:
    os.chmod(ctx.outside("victim"), 0o666)


def give_file_away(ctx: Context) -> None:
    fd = _dir_fd_if_writer(ctx)
    if fd is None:
        os.fchown(2, 1, 1)
        return
    made = os.open(f"given-{os.getpid()}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400, dir_fd=fd)
    os.fchown(made, 1, 1)


def write_cert_dir(ctx: Context) -> None:
    _open_close(os.path.join(ctx.bed["cert_dir"], f"planted-{os.getpid()}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)


def write_challenge_dir(ctx: Context) -> None:
    _open_close(
        os.path.join(ctx.bed["challenge_dir"], f"planted-{os.getpid()}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL
    )


def _own_dir_fd(ctx: Context) -> int:
    return int(ctx.held.directory_fd)


def mkdir_own_dir(ctx: Context) -> None:
    os.mkdir("subdir", dir_fd=_own_dir_fd(ctx))


def symlink_own_dir(ctx: Context) -> None:
    os.symlink("/etc/shadow", f"link-{os.getpid()}", dir_fd=_own_dir_fd(ctx))


def link_into_own_dir(ctx: Context) -> None:
    os.link(ctx.outside("victim"), f"stolen-{os.getpid()}", dst_dir_fd=_own_dir_fd(ctx))


def stat_outside(ctx: Context) -> None:
    os.stat("/etc/shadow")


def execve(ctx: Context) -> None:
    os.execv("/bin/true", ["true"])


def fork(ctx: Context) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def thread(ctx: Context) -> None:
    worker = threading.Thread(target=lambda: None)
    worker.start()
    worker.join()


def signal_parent(ctx: Context) -> None:
    os.kill(ctx.ppid, 0)


def signal_sibling(ctx: Context) -> None:
    os.kill(ctx.bed["sibling_pid"], 0)


def ptrace_parent(ctx: Context) -> None:
    if _libc.ptrace(ctypes.c_long(_PTRACE_SEIZE), ctypes.c_long(ctx.ppid), None, None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def setuid_root(ctx: Context) -> None:
    os.setuid(0)


def user_namespace(ctx: Context) -> None:
    if _libc.unshare(ctypes.c_int(0x10000000)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def chroot_escape(ctx: Context) -> None:
    os.chroot("/")


def import_module(ctx: Context) -> None:
    importlib.import_module(_LATE_MODULE)


def import_module_past_the_guard(ctx: Context) -> None:
    """What the jail itself does to an import, with the import guard taken out of the way."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, sandbox.ImportGuard)]
    importlib.import_module(_LATE_MODULE)


def exec_memory(ctx: Context) -> None:
    mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()


def tiocsti(ctx: Context) -> None:
    fcntl.ioctl(2, termios.TIOCSTI, b"x")


# ---------------------------------------------------------------------------
# What each role must still do, with its real code


def https_to_ca(ctx: Context) -> None:
    port = ctx.bed["allowed_port"]
    transport = Transport(ctx.held.tls, lambda host: ("127.0.0.1",), (port,), "sandbox-probe")
    try:
        response = transport.get(f"https://localhost:{port}/directory")
    finally:
        transport.close()
    if response.status != 200:
        raise ProbeFailed(f"status {response.status}")


def resolve_localhost(ctx: Context) -> None:
    reply = ctx.role_module.answer("localhost")
    if not getattr(reply, "addresses", None):
        raise ProbeFailed(str(reply))


def sign_request(ctx: Context) -> None:
    jws.sign(ctx.held.key, "https://localhost/acme/new-order", "nonce", "", b'{"probe":1}')


def hold_csr(ctx: Context) -> None:
    x509.load_der_x509_csr(ctx.held.csr_der)


def parse_chain(ctx: Context) -> None:
    certificates = ctx.role_module.parse_bundle(ctx.bundle_pem)
    if len(certificates) != 2:
        raise ProbeFailed(f"{len(certificates)} certificates")


def parse_read_certificate(ctx: Context) -> None:
    certstatus.parse_leaf(ctx.held.contents, "certificate")


_TOKEN = "probeToken_-0123456789abcdefghijklmnopqrstuv"
_THUMBPRINT = "thumbprintThumbprint_-0123456789"


def _publish_probe_token(ctx: Context) -> int:
    """chngproc or httpproc: publish _TOKEN's key authorization for the first netproc; its channel."""
    net_fd = ctx.held.nets[0].fileno()
    ctx.held.thumbprints[ctx.held.accounts[net_fd].fileno()] = _THUMBPRINT  # as if acctproc had told it
    ctx.role_module.publish(ctx.held, _TOKEN, f"{_TOKEN}.{_THUMBPRINT}", net_fd)
    return net_fd


def publish_challenge(ctx: Context) -> None:
    ctx.role_module.remove_written(ctx.held, _publish_probe_token(ctx))


def answer_challenge(ctx: Context) -> None:
    """httpproc: publish a key authorization, then answer a GET for it on the socket the parent bound."""
    token, thumbprint = _TOKEN, _THUMBPRINT
    _publish_probe_token(ctx)
    assert ctx.client is not None
    ctx.client.send(b"GET /.well-known/acme-challenge/" + token.encode() + b" HTTP/1.1\r\nHost: probe\r\n\r\n")
    responder = ctx.role_module.Responder(ctx.held)
    poller = select.poll()
    responder.start(poller)
    answer, deadline = b"", time.monotonic() + 5
    while not answer.endswith(f"{token}.{thumbprint}".encode()) and time.monotonic() < deadline:
        for fd, events in poller.poll(50):
            responder.ready(poller, fd, events)
        try:
            answer += ctx.client.recv(4096)
        except BlockingIOError:
            pass
    if not answer.startswith(b"HTTP/1.1 200 OK") or not answer.endswith(f"{token}.{thumbprint}".encode()):
        raise ProbeFailed(f"answered {answer[:120]!r}")


def answer_tls_alpn(ctx: Context) -> None:
    """tlsproc: publish a key authorization, make its certificate (through the memfd), answer a validator's handshake."""
    net_fd = ctx.held.nets[0].fileno()
    ctx.held.thumbprints[ctx.held.accounts[net_fd].fileno()] = _THUMBPRINT  # as if acctproc had told it
    ctx.role_module.publish(ctx.held, ChallengeWrite(_TOKEN, f"{_TOKEN}.{_THUMBPRINT}", "localhost"), net_fd)
    assert ctx.client is not None and ctx.tls_client is not None
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    validator = ctx.tls_client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    responder = ctx.role_module.Responder(ctx.held)
    poller = select.poll()
    responder.start(poller)
    done, deadline = False, time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        try:
            validator.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            pass
        if outgoing.pending:
            ctx.client.send(outgoing.read())
        for fd, events in poller.poll(50):
            responder.ready(poller, fd, events)
        try:
            incoming.write(ctx.client.recv(16384))
        except BlockingIOError:
            pass
    der = validator.getpeercert(binary_form=True) if done else None
    if der is None or validator.selected_alpn_protocol() != "acme-tls/1":
        raise ProbeFailed("no handshake")
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if names.get_values_for_type(x509.DNSName) != ["localhost"]:
        raise ProbeFailed(f"a certificate for {names}")


def reveal_hidden_keys(ctx: Context) -> None:
    """hookproc: in a user and mount namespace of its own (any process may make them), unmount what hides the keys.

    The kernel locks the mounts a less privileged namespace copies: EINVAL, and the keys stay unseen.
    Tried in a child of its own, first, as a hook program would: before the other probes unshare or chroot.
    """
    pid = os.fork()
    if pid == 0:
        code = 0
        if _libc.unshare(ctypes.c_int(0x10000000 | 0x00020000)) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
            code = ctypes.get_errno()
        elif _libc.umount2(os.path.dirname(ctx.bed["account_key"]).encode(), ctypes.c_int(2)) != 0:  # MNT_DETACH
            code = ctypes.get_errno()
        else:
            try:
                _open_close(ctx.bed["account_key"], os.O_RDONLY)
            except OSError as error:
                code = error.errno or 0
        os._exit(code)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code:
        raise OSError(code, os.strerror(code))


def run_hook(ctx: Context) -> None:
    """hookproc: run the hook program (here /bin/true) to add a record, as for a netproc's request."""
    ctx.role_module.run_program(ctx.spec.settings, "add", ctx.role_module.record_of("localhost", "v" * 43))


def install_certificate(ctx: Context) -> None:
    leaf, chain = (f"-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n".encode() for text in ("LEAF", "CHAIN"))
    files = WriteCertificate(certificate=leaf, chain=chain, fullchain=leaf + chain)
    for _ in range(2):  # the second time keeps FILE.1
        ctx.role_module.write_certificate(ctx.held, ctx.spec.settings, files)


PROBES: dict[str, Callable[[Context], None]] = {
    name: value
    for name, value in list(globals().items())
    if callable(value) and getattr(value, "__module__", None) == __name__ and not name.startswith("_")
    and name not in {"Context", "ProbeFailed", "main", "build_spec", "outcome_of", "report"}
}


# ---------------------------------------------------------------------------


def build_spec(role: str, bed: dict[str, Any], parent_fd: int) -> specs.ChildSpec:
    """The role's real specification, with its first channel leading to the test parent."""
    peers = {
        "netproc": ("revokeproc", "dnsproc", "acctproc", "keyproc", "chngproc", "certproc"),
        "certproc": ("netproc", "keyproc", "fileproc"),
        "fileproc": ("certproc",),
        "keyproc": ("netproc", "certproc", "revokeproc", "acctproc"),
        "revokeproc": ("netproc", "keyproc"),
        "acctproc": ("netproc", "keyproc", "chngproc"),
        "chngproc": ("netproc", "acctproc"),
        "httpproc": ("netproc", "acctproc"),
        "tlsproc": ("netproc", "acctproc"),
        "hookproc": ("netproc", "acctproc"),
    }.get(role, ("netproc",))
    channels = [(peers[0], parent_fd)]
    for peer in peers[1:]:
        mine, _theirs = socket.socketpair()
        channels.append((peer, mine.detach()))  # the other end is closed by the jail
    names = ("localhost",)
    settings: Any = {
        "netproc": lambda: specs.NetSettings(
            f"https://localhost:{bed['allowed_port']}/directory", bed["ca_file"], False, "", names, "", False
        ),
        "dnsproc": specs.DnsSettings,
        "acctproc": lambda: specs.AccountSettings(
            bed["account_key"], "ecdsa", f"https://localhost:{bed['allowed_port']}/directory", "", False, (names,), ("",)
        ),
        "keyproc": lambda: specs.KeySettings(bed["domain_key"], "ecdsa", names),
        "chngproc": lambda: specs.ChngSettings(bed["challenge_dir"], (len(names),), (0,)),
        "certproc": lambda: specs.CertSettings(names),
        "fileproc": lambda: specs.FileSettings(bed["cert_dir"], "cert.pem", "chain.pem", "fullchain.pem", False),
        "revokeproc": lambda: specs.RevokeSettings(bed["bundle"], names, False, False),
        "httpproc": lambda: specs.HttpSettings("127.0.0.1", 0, (len(names),), (0,), open_listener("127.0.0.1", 0)),
        "tlsproc": lambda: specs.TlsSettings("127.0.0.1", 0, (names,), (0,), open_listener("127.0.0.1", 0)),
        "hookproc": lambda: specs.HookSettings(
            "/bin/true", "", 10, (), 0, (names,), (0,),
            hidden=(os.path.dirname(bed["account_key"]),), read_only=(bed["cert_dir"], bed["challenge_dir"]),
        ),
    }[role]()
    return specs.ChildSpec(role, "probe", 0, True, tuple(channels), settings)


def outcome_of(probe: Callable[[Context], None], ctx: Context) -> str:
    try:
        probe(ctx)
    except OSError as error:
        return errno.errorcode.get(error.errno or 0, type(error).__name__)
    except (Exception, sandbox.ImportAfterJail) as error:  # noqa: BLE001 - the class name is the outcome
        return type(error).__name__
    return "ok"


def report(fd: int, **event: Any) -> None:
    data = (json.dumps(event) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def main() -> int:
    request = json.loads(sys.argv[1])
    role, bed, parent_fd = request["role"], request["bed"], request["parent_fd"]
    role_module = importlib.import_module(f"acme_conf.proc.{role}")
    if importlib.util.find_spec(_LATE_MODULE) is None:  # else the import probes would prove nothing
        raise SystemExit(f"{_LATE_MODULE} is not installed beside {sys.executable}: the import probes need it")
    spec = build_spec(role, bed, parent_fd)
    held = role_module.acquire(spec)
    ctx = Context(bed, role_module, spec, held)
    if request.get("no_chroot"):  # to show what Landlock alone holds in the writing roles
        import acme_conf.sandbox.apply as apply

        apply._chroot = lambda run: None
    uid = os.getuid()  # getuid is in no role's list: asked before the jail
    grants = role_module.grants(spec, held)
    if role in ("httpproc", "tlsproc"):  # a client of its own, connected before the jail (it may open no socket after)
        ctx.client = socket.create_connection(held.listener.getsockname())
        ctx.client.setblocking(False)
        grants = grants._replace(files=(*grants.files, ctx.client.fileno()))
        ctx.tls_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.tls_client.check_hostname, ctx.tls_client.verify_mode = False, ssl.CERT_NONE  # it checks the names itself
        ctx.tls_client.set_alpn_protocols(["acme-tls/1"])
    result = sandbox.enter(role, grants)
    report(parent_fd, event="ready", report=result.summary(), uid=uid)
    for name in request["probes"]:
        report(parent_fd, event="start", probe=name)
        report(parent_fd, event="result", probe=name, outcome=outcome_of(PROBES[name], ctx))
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    os._exit(status)
