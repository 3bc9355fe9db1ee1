"""A real authoritative name server for the tests: BIND's named, on loopback, for one zone, with RFC 2136 updates.

    with NameServer(Path("/tmp/ns"), "nsupdate.test") as server:
        server.address        # ("127.0.0.1", PORT): for pebble's -dnsserver and a hook's resolver
        server.key_file       # the TSIG key nsupdate signs its updates with (tsig-keygen's format)

The zone answers 127.0.0.1 for every name in it (so pebble's other lookups
work) and lets the key add and delete TXT records in it (BIND's
update-policy has no "_acme-challenge.* only"): what examples/hooks/nsupdate
does for acme-client. named runs
in the foreground from a directory of its own and never touches the
system's configuration; tools/test-deps.sh installs it (Debian's bind9).
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from testbed import LOOPBACK, free_tcp_udp_port

KEY_NAME = "acme-client"
START_SECONDS = 20.0


class NameServerError(RuntimeError):
    """named could not be started, or did not answer."""


def available() -> bool:
    return shutil.which("named") is not None and shutil.which("nsupdate") is not None


class NameServer:
    def __init__(self, directory: Path, zone: str) -> None:
        self.directory = directory
        self.zone = zone.rstrip(".")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    @property
    def key_file(self) -> Path:
        return self.directory / "tsig.key"

    def __enter__(self) -> NameServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_tcp_udp_port()
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        key = f'key "{KEY_NAME}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'
        self.key_file.write_text(key)
        self.key_file.chmod(0o644)  # the hook reads it as another user when the tests run as root
        (self.directory / f"{self.zone}.zone").write_text(
            f"$TTL 60\n@ IN SOA ns.{self.zone}. hostmaster.{self.zone}. 1 3600 600 86400 60\n"
            f"@ IN NS ns.{self.zone}.\n@ IN A {LOOPBACK}\n* IN A {LOOPBACK}\n"
        )
        conf = self.directory / "named.conf"
        conf.write_text(
            f'options {{\n\tdirectory "{self.directory}";\n\tpid-file "{self.directory}/named.pid";\n'
            f"\tlisten-on port {self.port} {{ {LOOPBACK}; }};\n\tlisten-on-v6 {{ none; }};\n"
            "\trecursion no;\n\tdnssec-validation no;\n\tnotify no;\n};\n"
            "controls { };\n"
            f'include "{self.key_file}";\n'
            f'zone "{self.zone}" {{\n\ttype primary;\n\tfile "{self.directory}/{self.zone}.zone";\n'
            f"\tupdate-policy {{ grant {KEY_NAME} subdomain {self.zone}. TXT; }};\n}};\n"
        )
        log = (self.directory / "named.log").open("wb")
        self.process = subprocess.Popen(
            ["named", "-g", "-4", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        self._wait_until_answering()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NameServerError(f"named exited {self.process.returncode}: {self.log()[-2000:]}")
            found = subprocess.run(
                ["dig", "+short", "+time=1", "+tries=1", "-p", str(self.port), f"@{LOOPBACK}", self.zone, "SOA"],
                capture_output=True, text=True, check=False,
            )
            if found.returncode == 0 and found.stdout.strip():
                return
            time.sleep(0.2)
        raise NameServerError(f"named did not answer within {START_SECONDS} s: {self.log()[-2000:]}")

    def log(self) -> str:
        return (self.directory / "named.log").read_text(errors="replace")

