"""Run Debian's nginx, Apache httpd or Caddy on loopback with a snippet from examples/webservers/.

The snippet is the file in examples/ as a person would install it; only
its challenge directory (/var/www/acme) is replaced with the test's, and
for Caddy, whose snippet is a whole site, its port (80). What
a real installation has around it (the main configuration: listener,
logs, pid file, modules, the worker user) is written here, in a private
directory, as small as each server accepts. The server runs in the
foreground as a child of the test, nginx's and Apache's workers as nobody
when the test runs as root, and is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from webservers import APACHE_MODULES, WebServerBinaries

REPO_ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = REPO_ROOT / "examples" / "webservers"
EXAMPLE_CHALLENGE_DIR = "/var/www/acme"
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_GRACE = 5.0


class WebServerError(Exception):
    """The server would not start, or its snippet is not what the test expects."""


def snippet_for(snippet: Path, challenge_dir: Path) -> str:
    """The snippet's text with its challenge directory replaced; it must name the example's."""
    text = snippet.read_text()
    if EXAMPLE_CHALLENGE_DIR not in text:
        raise WebServerError(f"{snippet} does not name {EXAMPLE_CHALLENGE_DIR}: nothing to point at the test's directory")
    return text.replace(EXAMPLE_CHALLENGE_DIR, str(challenge_dir))


@dataclass(frozen=True)
class ServerFiles:
    """Where one server's configuration and logs are."""

    directory: Path
    config: Path
    snippet: Path
    access_log: Path
    error_log: Path


def _worker_user() -> tuple[str, str] | None:
    """Whom the workers run as: nobody when the test is root (as a web server's workers would be)."""
    return ("nobody", "nogroup") if os.geteuid() == 0 else None


def nginx_config(files: ServerFiles, port: int) -> str:
    user = _worker_user()
    temp = files.directory / "temp"
    temp.mkdir(exist_ok=True)
    temp_paths = "".join(
        f"\t{kind}_temp_path {temp / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "daemon off;\nmaster_process on;\nworker_processes 1;\n"
        f"pid {files.directory / 'nginx.pid'};\nerror_log {files.error_log} info;\n"
        + (f"user {user[0]} {user[1]};\n" if user else "")
        + "events { worker_connections 64; }\n"
        "http {\n"
        "\tlog_format acme '$remote_addr \"$request\" $status \"$http_user_agent\"';\n"
        f"\taccess_log {files.access_log} acme;\n"
        + temp_paths
        + "\ttypes { text/html html; }\n\tdefault_type application/octet-stream;\n"
        f"\tserver {{\n\t\tlisten {LOOPBACK}:{port};\n\t\tserver_name _;\n"
        f"\t\tinclude {files.snippet};\n\t}}\n"
        "}\n"
    )


CADDY_SITE = "http:// {"  # every name on port 80


def caddy_site(snippet_text: str, port: int) -> str:
    """The Caddy snippet on `port` instead of 80: its one site address, and nothing else, changed."""
    if snippet_text.count(CADDY_SITE) != 1:
        raise WebServerError(f"the Caddy snippet has no single {CADDY_SITE!r} site to move to port {port}")
    return snippet_text.replace(CADDY_SITE, f"http://:{port} {{")


def caddy_config(files: ServerFiles) -> str:
    """Caddy's global options: loopback only, no admin endpoint, its data in the test's directory."""
    return (
        "{\n\tadmin off\n\tdefault_bind " + LOOPBACK + "\n"
        f"\tstorage file_system {files.directory / 'data'}\n"
        f"\tlog {{\n\t\toutput file {files.error_log}\n\t}}\n}}\n"
        f"import {files.snippet}\n"
    )


def apache_config(files: ServerFiles, port: int, binaries: WebServerBinaries) -> str:
    user = _worker_user()
    modules = "".join(
        f"LoadModule {name}_module {binaries.apache_modules / f'mod_{name}.so'}\n" for name in APACHE_MODULES
    )
    documents = files.directory / "htdocs"
    documents.mkdir(exist_ok=True)
    types = files.directory / "mime.types"
    types.write_text("text/html html\n")
    return (
        f'ServerRoot "{files.directory}"\nDefaultRuntimeDir "{files.directory}"\n'
        f'PidFile "{files.directory / "apache2.pid"}"\nServerName localhost\n'
        f"Listen {LOOPBACK}:{port}\n"
        + modules
        + (f"User {user[0]}\nGroup {user[1]}\n" if user else "")
        + f'ErrorLog "{files.error_log}"\nLogLevel info\n'
        f'LogFormat "%a \\"%r\\" %>s \\"%{{User-Agent}}i\\"" acme\nCustomLog "{files.access_log}" acme\n'
        f'DocumentRoot "{documents}"\nTypesConfig "{types}"\n'
        f'Include "{files.snippet}"\n'
    )


class WebServer:
    """nginx or Apache, listening on 127.0.0.1:`port`, with `snippet` pointed at `challenge_dir`."""

    def __init__(self, kind: str, binaries: WebServerBinaries, snippet: Path, challenge_dir: Path, port: int) -> None:
        if kind not in ("nginx", "apache", "caddy"):
            raise ValueError(f"kind must be nginx, apache or caddy, not {kind!r}")
        self.kind = kind
        self.binaries = binaries
        self.port = port
        self._snippet_text = snippet_for(snippet, challenge_dir)
        if kind == "caddy":
            self._snippet_text = caddy_site(self._snippet_text, port)
        self._process: subprocess.Popen[bytes] | None = None
        self.files: ServerFiles | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix=f"acme-{self.kind}."))
        directory.chmod(0o755)  # the workers (nobody) reach nothing here but what the master opened for them
        files = ServerFiles(
            directory, directory / f"{self.kind}.conf", directory / "acme-challenge.conf",
            directory / "access.log", directory / "error.log",
        )
        self.files = files
        files.snippet.write_text(self._snippet_text)
        if self.kind == "nginx":
            files.config.write_text(nginx_config(files, self.port))
            argv = [str(self.binaries.nginx), "-p", str(directory), "-e", str(files.error_log), "-c", str(files.config)]
            env = {"PATH": "/usr/bin:/bin"}
        elif self.kind == "apache":
            files.config.write_text(apache_config(files, self.port, self.binaries))
            argv = [str(self.binaries.apache2), "-f", str(files.config), "-DFOREGROUND"]
            env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(self.binaries.library_path)}
        else:
            files.config.write_text(caddy_config(files))
            argv = [str(self.binaries.caddy), "run", "--config", str(files.config), "--adapter", "caddyfile"]
            env = {"PATH": "/usr/bin:/bin", "HOME": str(directory), "XDG_DATA_HOME": str(directory / "data"),
                   "XDG_CONFIG_HOME": str(directory / "config")}
        with open(directory / "output.log", "wb") as output:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
                cwd=directory, start_new_session=True,  # its workers in its own group, stopped with it
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise WebServerError(f"{self.kind} exited {self._process.returncode} while starting:\n{self.logs()}")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((LOOPBACK, self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise WebServerError(f"{self.kind} did not listen on port {self.port} in {START_TIMEOUT:.0f} s:\n{self.logs()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server and its workers (its own process group) and remove its files. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.files is not None:
            shutil.rmtree(self.files.directory, ignore_errors=True)
            self.files = None

    def access_log(self) -> list[str]:
        """The requests served so far, one line each: address "request" status "user agent".

        Caddy keeps no access log unless the site asks for one, and its snippet does not: [] for it.
        """
        assert self.files is not None
        path = self.files.access_log
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def logs(self) -> str:
        """The server's output and error log, for a failure's message."""
        if self.files is None:
            return ""
        parts = []
        for path in (self.files.directory / "output.log", self.files.error_log):
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {path.name} ---\n" + "\n".join(text.strip().splitlines()[-30:]))
        return "\n".join(parts)
