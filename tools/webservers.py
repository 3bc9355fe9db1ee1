#!/usr/bin/env python3
"""Debian's nginx, Apache httpd and Caddy for the tests, unpacked, never installed.

tests/integration/test_web_servers.py proves the snippets in
examples/webservers/ with the real servers: each serves a challenge
directory to pebble's http-01 validation on loopback. This module fetches
them the way tools/testbed.py fetches pebble: `apt-get download` with a
private sources list, package lists and cache (the release this machine
runs, so that the system's libraries fit), then `dpkg -x` into
.testbed/webservers/root (or $ACME_TESTBED_DIR/webservers). The system's
packages, apt state and services are left as they were: nothing is
installed, no service is started.

nginx and Caddy need only libraries every Debian has; Apache's binary also needs
libapr1 and libaprutil1, unpacked beside it (LD_LIBRARY_PATH). The unpacked
programs are checked with ldd before they are used, so a library missing on
some machine is an error that names it, not a server that will not start.

    python3 tools/webservers.py fetch     # download once; the tests also do it on first use

Only the standard library.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from testbed import TestbedError, apt_options, fetch_once, run_fetch_tool, testbed_dir

log = logging.getLogger("webservers")

PACKAGES = ("nginx", "apache2-bin", "libapr1", "libaprutil1", "caddy")
# What the tests' Apache loads: an MPM, and what examples/webservers/apache-acme-challenge.conf uses.
APACHE_MODULES = ("mpm_event", "authz_core", "alias", "mime")
SUBDIRECTORY = "webservers"
SOURCES_FILE = "release.list"
WHAT = "web servers"  # for error messages


@dataclass(frozen=True)
class WebServerBinaries:
    """The unpacked programs and what they need to run from where they are."""

    root: Path  # what dpkg -x unpacked
    nginx: Path
    apache2: Path
    caddy: Path
    apache_modules: Path  # Apache's LoadModule directory
    library_path: Path  # LD_LIBRARY_PATH for apache2 (libapr, libaprutil)
    versions: str  # "nginx 1.22.1-9+deb12u12, apache2-bin 2.4.71-1~deb12u1, ..."


def cache_dir() -> Path:
    return testbed_dir() / SUBDIRECTORY


def find_web_servers(cache: Path | None = None) -> WebServerBinaries | None:
    """The unpacked servers, or None when they have not been fetched yet."""
    root = (cache or cache_dir()) / "root"
    nginx = root / "usr" / "sbin" / "nginx"
    apache2 = root / "usr" / "sbin" / "apache2"
    caddy = root / "usr" / "bin" / "caddy"
    modules = root / "usr" / "lib" / "apache2" / "modules"
    libraries = [path.parent for path in root.glob("usr/lib/*/libapr-1.so.0")]
    if not (nginx.is_file() and apache2.is_file() and caddy.is_file() and modules.is_dir() and len(libraries) == 1):
        return None
    versions_file = root / "VERSIONS"
    versions = versions_file.read_text().strip() if versions_file.is_file() else "unknown"
    return WebServerBinaries(root, nginx, apache2, caddy, modules, libraries[0], versions)


def fetch_web_servers(cache: Path | None = None) -> WebServerBinaries:
    """Download and unpack the packages once; later calls reuse them. Safe from several processes at once."""
    cache = cache or cache_dir()
    found = fetch_once(cache, find_web_servers, _download_and_unpack)
    if found is None:
        raise TestbedError(f"web servers were unpacked into {cache / 'root'} but a program is missing")
    _check_libraries(found)
    return found


def release_sources(os_release: Path = Path("/etc/os-release")) -> str:
    """A one-line-style sources list for the Debian release this machine runs."""
    fields = dict(
        line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line
    )
    codename = fields.get("VERSION_CODENAME", "").strip('"')
    if fields.get("ID", "").strip('"') != "debian" or not codename:
        raise TestbedError(f"cannot fetch {WHAT}: {os_release} names no Debian release")
    return (
        f"deb http://deb.debian.org/debian {codename} main\n"
        f"deb http://deb.debian.org/debian {codename}-updates main\n"
        f"deb http://deb.debian.org/debian-security {codename}-security main\n"
    )


def _download_and_unpack(cache: Path) -> None:
    started = time.monotonic()
    log.info("fetching %s into %s", ", ".join(PACKAGES), cache)
    (cache / SOURCES_FILE).write_text(release_sources())
    (cache / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "apt-cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    options = apt_options(cache, SOURCES_FILE)
    download = Path(tempfile.mkdtemp(prefix="download.", dir=cache))
    unpacked = Path(tempfile.mkdtemp(prefix="root.", dir=cache))
    try:
        run_fetch_tool(["apt-get", *options, "update"], WHAT)
        run_fetch_tool(["apt-get", *options, "download", *PACKAGES], WHAT, cwd=download)
        versions = []
        for package in PACKAGES:
            debs = sorted(download.glob(f"{package}_*.deb"))
            if len(debs) != 1:
                raise TestbedError(f"cannot fetch {WHAT}: expected one {package} .deb, found {debs}")
            version = run_fetch_tool(["dpkg-deb", "-f", str(debs[0]), "Version"], WHAT).strip()
            versions.append(f"{package} {version}")
            run_fetch_tool(["dpkg", "-x", str(debs[0]), str(unpacked)], WHAT)
        (unpacked / "VERSIONS").write_text(", ".join(versions) + "\n")
        # Only a complete unpack gets the name find_web_servers looks for.
        shutil.rmtree(cache / "root", ignore_errors=True)
        os.rename(unpacked, cache / "root")
    finally:
        shutil.rmtree(download, ignore_errors=True)
        shutil.rmtree(unpacked, ignore_errors=True)
        shutil.rmtree(cache / "lists", ignore_errors=True)  # the release's package lists: not needed again
        shutil.rmtree(cache / "apt-cache", ignore_errors=True)
    log.info("fetched web servers in %.1f s", time.monotonic() - started)


def _check_libraries(found: WebServerBinaries) -> None:
    """Every shared library the programs and the modules the tests load resolves here."""
    modules = [found.apache_modules / f"mod_{name}.so" for name in APACHE_MODULES]
    programs = [found.nginx, found.apache2, found.caddy, *modules]
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(found.library_path)}
    for program in programs:
        done = subprocess.run(
            ["ldd", str(program)], check=False, capture_output=True, text=True, timeout=30, env=env,
            stdin=subprocess.DEVNULL,
        )
        missing = [line.split()[0] for line in done.stdout.splitlines() if "not found" in line]
        if done.returncode != 0 or missing:
            why = f"needs {', '.join(missing)}, which this machine lacks" if missing else done.stderr.strip()
            raise TestbedError(f"{program}: {why}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="webservers.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download nginx, Apache and Caddy into the cache (once)")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="webservers: %(message)s")
    try:
        found = fetch_web_servers()
    except TestbedError as exc:
        print(f"webservers: {exc}", file=sys.stderr)
        return 1
    print(f"{found.versions}\n  {found.nginx}\n  {found.apache2}\n  {found.caddy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
