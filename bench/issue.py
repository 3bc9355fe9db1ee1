"""Issuance benchmark: acme-client against a local pebble, real http-01 validation.

Scenarios (ECDSA keys, fresh state each run, PEBBLE_VA_NOSLEEP):
  (a) one certificate with one name
  (b) one certificate with 20 names
  (c) ten domains in one run
Each is run N times (default 5) and the median wall time of the whole
`acme-client` command is printed.  A separate run per scenario samples the
memory of the chain's processes (every 2 ms, from /proc) and prints the
peak of their summed PSS (shared pages counted once) and the sum of their
peak RSS (shared pages counted in every process), per chain.

    .venv/bin/python bench/issue.py [--runs N] [--scenario a|b|c] [--jobs J]

Targets on a 2-core machine: (a) < 0.6 s, (b) < 0.8 s, (c) < 2.4 s; a chain's
summed peak memory < 150 MB.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from testbed import Testbed  # noqa: E402 (after the path)

ACME_CLIENT = Path(sys.executable).parent / "acme-client"
TARGETS = {"a": 0.6, "b": 0.8, "c": 2.4}
MEMORY_TARGET_MB = 150
# The handles in the specs of the shared processes: an authority's dnsproc and
# acctproc, a challenge directory's chngproc.
SHARED_PREFIXES = ("authority ", "challengedir ")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    domains: tuple[tuple[str, ...], ...]  # one tuple of names per domain block


def scenarios() -> dict[str, Scenario]:
    many_names = tuple(["b.example.test"] + [f"n{i}.b.example.test" for i in range(1, 20)])
    return {
        "a": Scenario("a", "1 certificate, 1 name", (("a.example.test",),)),
        "b": Scenario("b", "1 certificate, 20 names", (many_names,)),
        "c": Scenario("c", "10 certificates in one run", tuple((f"c{i}.example.test",) for i in range(10))),
    }


def write_config(work: Path, testbed: Testbed, scenario: Scenario) -> Path:
    for name, mode in (("account", 0o700), ("private", 0o700), ("certs", 0o755)):
        (work / name).mkdir(mode=mode)
    blocks = [testbed.authority_block("pebble", work / "account" / "pebble.key", "ecdsa")]
    for names in scenario.domains:
        handle = names[0]
        alternatives = " ".join(f'"{name}"' for name in names[1:])
        blocks.append(
            f"domain {handle} {{\n"
            + (f"\talternative names {{ {alternatives} }}\n" if alternatives else "")
            + f'\tdomain key "{work / "private" / (handle + ".key")}" ecdsa\n'
            + f'\tdomain full chain certificate "{work / "certs" / (handle + ".pem")}"\n'
            + f'\tchallengedir "{testbed.challenge_dir}"\n}}\n'
        )
    config = work / "acme-client.conf"
    config.write_text("\n".join(blocks))
    return config


def run_once(testbed: Testbed, scenario: Scenario, jobs: int | None) -> float:
    """Seconds for one fresh `acme-client` run of the scenario (new keys, new account)."""
    work = Path(tempfile.mkdtemp(prefix="acme-bench."))
    work.chmod(0o755)
    try:
        config = write_config(work, testbed, scenario)
        argv = [str(ACME_CLIENT), "-f", str(config)] + (["-j", str(jobs)] if jobs else [])
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"acme-client failed ({done.returncode}):\n{done.stderr}")
        return elapsed
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class MemorySampler:
    """Polls /proc for the chain processes (their command line names acme_conf.proc).

    A chain's figures include the shared dnsproc, acctproc and chngproc, which
    serve it (and the other chains of the run) from processes of their own.
    """

    interval: float = 0.002
    peak_rss_kb: dict[int, int] = field(default_factory=dict)  # pid -> VmHWM
    handle_of: dict[int, str] = field(default_factory=dict)
    peak_pss_sum_kb: dict[str, int] = field(default_factory=dict)  # handle -> max summed PSS
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            pss_by_handle: dict[str, int] = {}
            for pid, handle in self._chain_processes():
                status = _read(f"/proc/{pid}/status")
                rollup = _read(f"/proc/{pid}/smaps_rollup")
                hwm, pss = _field_kb(status, "VmHWM:"), _field_kb(rollup, "Pss:")
                if hwm:
                    self.peak_rss_kb[pid] = max(self.peak_rss_kb.get(pid, 0), hwm)
                    self.handle_of[pid] = handle
                pss_by_handle[handle] = pss_by_handle.get(handle, 0) + pss
            # The shared processes serve every chain: each chain counts them whole.
            shared = sum(pss for handle, pss in pss_by_handle.items() if handle.startswith(SHARED_PREFIXES))
            for handle, total in pss_by_handle.items():
                if not handle.startswith(SHARED_PREFIXES):
                    self.peak_pss_sum_kb[handle] = max(self.peak_pss_sum_kb.get(handle, 0), total + shared)
            time.sleep(self.interval)

    @staticmethod
    def _chain_processes() -> list[tuple[int, str]]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            cmdline = _read(f"/proc/{entry}/cmdline")
            if "acme_conf.proc" not in cmdline or '"handle":"' not in cmdline:
                continue
            handle = cmdline.split('"handle":"', 1)[1].split('"', 1)[0]
            found.append((int(entry), handle))
        return found

    def peak_rss_sum_mb(self) -> float:
        per_handle: dict[str, int] = {}
        for pid, kb in self.peak_rss_kb.items():
            per_handle[self.handle_of[pid]] = per_handle.get(self.handle_of[pid], 0) + kb
        shared = sum(kb for handle, kb in per_handle.items() if handle.startswith(SHARED_PREFIXES))
        chains = [kb + shared for handle, kb in per_handle.items() if not handle.startswith(SHARED_PREFIXES)]
        return max(chains, default=0) / 1024

    def peak_pss_mb(self) -> float:
        return max(self.peak_pss_sum_kb.values(), default=0) / 1024


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _field_kb(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", choices=("a", "b", "c"), action="append")
    parser.add_argument("--jobs", type=int, default=None, help="acme-client -j (default: its own)")
    options = parser.parse_args()
    chosen = [scenarios()[key] for key in (options.scenario or ["a", "b", "c"])]

    print(f"acme-client issuance benchmark: {os.cpu_count()} CPUs, {options.runs} runs per scenario")
    with Testbed(retry_after_authz=0, retry_after_order=0) as testbed:
        print(f"pebble {testbed.directory_url}, real http-01 validation, ECDSA keys\n")
        print(f"{'scenario':32} {'median':>8} {'min':>7} {'max':>7} {'target':>7}  {'PSS':>8} {'sum RSS':>8}")
        for scenario in chosen:
            run_once(testbed, scenario, options.jobs)  # warm the page cache and .pyc files
            times = [run_once(testbed, scenario, options.jobs) for _ in range(options.runs)]
            with MemorySampler() as sampler:
                run_once(testbed, scenario, options.jobs)
            median = statistics.median(times)
            verdict = "ok" if median < TARGETS[scenario.key] else "MISSED"
            print(
                f"({scenario.key}) {scenario.title:28} {median:7.3f}s {min(times):6.3f}s {max(times):6.3f}s "
                f"{TARGETS[scenario.key]:6.1f}s  {sampler.peak_pss_mb():6.1f}MB {sampler.peak_rss_sum_mb():6.1f}MB  {verdict}"
            )
    print(f"\nPSS: the peak of one chain's summed proportional set size (target < {MEMORY_TARGET_MB} MB);")
    print("sum RSS: the sum of each of its processes' peak RSS, shared libraries counted in each.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
