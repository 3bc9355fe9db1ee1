"""The run with nothing to do, at scale: N current certificates, first run and steady state.

    .venv/bin/python bench/noop.py [--domains 100,1000,10000] [--runs N] [--jobs J]

For each size it makes, in a temporary directory: a test CA, one ECDSA
domain key per domain (0600), a full chain per domain issued a day ago for
90 days (two names, an Authority Key Identifier so that ARI can name it),
a configuration with one domain block each and an authority whose URL no
server answers (any request would fail the run: exit 1), and a state
directory where an earlier run asked the CA's renewal information six
hours ago (as cron's previous run would have left it; without that the
first run would rightly ask the CA).  Then:

- first run: `acme-client -j J` over files never judged before: one check
  (a revokeproc and a keyproc) per domain, each reporting what it found;
- steady state: the same command again, N times (median): the parent
  recognises every file by its SHA-256 and starts no process.

Each must exit 2 (nothing to do).  Memory: the peak of the summed PSS of
acme-client and every process under it, sampled every 20 ms from /proc.

Targets (issue 15): steady state 1,000 domains < 5 s, 10,000 < 30 s;
10,000 domains < 200 MB in all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from acme_conf.acme.renewal_info import certificate_id
from acme_conf.state import DomainState, KeptRenewal, save_state

ACME_CLIENT = Path(sys.executable).with_name("acme-client")
UNANSWERED = "https://127.0.0.1:9/directory"  # the discard port: nothing listens there
TARGETS = {1000: 5.0, 10000: 30.0}
MEMORY_TARGET_MB = 200


@dataclass(frozen=True)
class Issuer:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def make_issuer() -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench no-op CA")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issuer(key, certificate)


def issue(issuer: Issuer, key: ec.EllipticCurvePrivateKey, names: tuple[str, ...]) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(issuer.certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=89))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )


def write_domains(work: Path, domains: int) -> Path:
    """Keys, certificates, kept ARI state and a configuration for `domains` current domains; the configuration."""
    for name, mode in (("account", 0o700), ("private", 0o700), ("certs", 0o755), ("www", 0o755), ("state", 0o700)):
        (work / name).mkdir(mode=mode)
    issuer, ca_pem = make_issuer(), b""
    ca_pem = issuer.certificate.public_bytes(serialization.Encoding.PEM)
    asked = datetime.now(timezone.utc) + timedelta(hours=6)
    blocks = [f'authority bench {{\n\tapi url "{UNANSWERED}"\n\taccount key "{work}/account/bench.key"\n}}\n']
    for index in range(domains):
        handle = f"host{index}.example.com"
        key = ec.generate_private_key(ec.SECP256R1())
        key_path = work / "private" / f"{handle}.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        leaf = issue(issuer, key, (handle, f"www.{handle}"))
        (work / "certs" / f"{handle}.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca_pem)
        aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier or b""
        save_state(work / "state", handle, DomainState(renewal=KeptRenewal(certificate_id(aki, leaf.serial_number), asked)))
        blocks.append(
            f"domain {handle} {{\n"
            f'\talternative names {{ www.{handle} }}\n'
            f'\tdomain key "{key_path}" ecdsa p256\n'
            f'\tdomain full chain certificate "{work}/certs/{handle}.pem"\n'
            f'\tchallengedir "{work}/www"\n'
            "\tsign with bench\n}\n"
        )
    config = work / "acme-client.conf"
    config.write_text("\n".join(blocks))
    return config


@dataclass
class TreeMemory:
    """Peak summed PSS of a process and everything under it, sampled from /proc."""

    root: int
    interval: float = 0.02
    peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> TreeMemory:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(self.root)))
            time.sleep(self.interval)


def _tree(root: int) -> list[int]:
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_client(config: Path, work: Path, jobs: int) -> tuple[float, float]:
    """Seconds and peak MB of one `acme-client` run over every domain; it must find nothing to do."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ACME_CLIENT_STATE_DIR": str(work / "state")}
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(ACME_CLIENT), "-f", str(config), "-j", str(jobs)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    with TreeMemory(process.pid) as memory:
        _, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 2:
        raise SystemExit(f"acme-client exited {process.returncode}, not 2 (nothing to do):\n{stderr.decode()[-3000:]}")
    return elapsed, memory.peak_kb / 1024


def measure(domains: int, runs: int, jobs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="acme-noop."))
    try:
        made = time.perf_counter()
        config = write_domains(work, domains)
        print(f"{domains} domains: made in {time.perf_counter() - made:.1f} s", flush=True)
        first, first_mb = run_client(config, work, jobs)
        steady = [run_client(config, work, jobs) for _ in range(runs)]
        median = statistics.median(seconds for seconds, _ in steady)
        peak = max(mb for _, mb in steady)
        target = TARGETS.get(domains)
        verdict = f"target < {target:.0f} s: {'met' if median < target else 'MISSED'}" if target else ""
        print(f"  first run (a check per domain, -j {jobs}): {first:8.2f} s  {1000 * first / domains:6.2f} ms/domain  peak {first_mb:6.1f} MB")
        print(f"  steady state (median of {runs}):          {median:8.2f} s  {1000 * median / domains:6.2f} ms/domain  peak {peak:6.1f} MB  {verdict}")
        if domains >= 10000:
            most = max(first_mb, peak)
            print(f"  memory in all: {most:.1f} MB (target < {MEMORY_TARGET_MB} MB: {'met' if most < MEMORY_TARGET_MB else 'MISSED'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default="100,1000,10000", help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=3, help="steady-state runs per size (median)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="acme-client -j")
    options = parser.parse_args()
    print(f"no-op run: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {datetime.now():%Y-%m-%d}")
    for size in (int(each) for each in options.domains.split(",")):
        measure(size, options.runs, options.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
