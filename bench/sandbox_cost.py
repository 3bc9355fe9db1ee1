"""What the sandbox costs: enter() per role, pyseccomp's import, and a whole chain with and without it.

    .venv/bin/python bench/sandbox_cost.py [--runs N] [--no-chain]

1. enter() per role: fresh `python -I` children, each jailing itself with the
   role's policy and grants shaped like the real role's; the figure is the
   Report's own clock around enter() (median, min, max of N).
2. pyseccomp's import in a fresh process: plain (ctypes.util.find_library ->
   two `ldconfig -p` runs) and as acme_conf.sandbox.seccomp does it (known
   sonames), medians of N.
3. One real chain against a local pebble (tools/testbed.py; ECDSA, -F so every
   run issues, authorizations reused so that validation does not add noise),
   alternately with the sandbox and with sandbox.enter replaced by a no-op in
   every child (this benchmark's own bootstrap; acme-client has no switch to
   turn the sandbox off).  Median wall time of N each, and the sum of the
   eight enter() times the children reported.  Target: < 50 ms per chain.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from acme_conf.proc.spec import ROLES

REPO = Path(__file__).resolve().parents[1]

_ENTER_CHILD = """
import json, os, socket, sys, tempfile
from acme_conf.sandbox import Grants, enter
role = sys.argv[1]
work = sys.argv[2]
channels = tuple(socket.socketpair()[0].detach() for _ in range({"netproc": 6, "certproc": 2}.get(role, 1)))
files, write_dir, ports = (), None, ()
if role in ("chngproc", "fileproc"):
    files, write_dir = (os.open(work, os.O_RDONLY | os.O_DIRECTORY),), work
elif role == "netproc":
    ports = (443,)
report = enter(role, Grants(channels=channels, files=files, write_dir=write_dir, connect_ports=ports, strict=True))
sys.stdout.write(json.dumps(report.elapsed_ms) + "\\n")
sys.stdout.flush()
os._exit(0)
"""


def _fresh(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, *args], env={}, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def enter_per_role(runs: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {role: [] for role in ROLES}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(runs):
            for role in ROLES:
                timings[role].append(float(_fresh(_ENTER_CHILD, role, work)))
    return timings


def _pyseccomp_import_ms(statement: str) -> float:
    """pyseccomp's cumulative import time (-X importtime) in a fresh process running `statement`."""
    result = subprocess.run(
        [sys.executable, "-I", "-X", "importtime", "-c", statement],
        env={}, capture_output=True, text=True, timeout=60, check=True,
    )
    for line in result.stderr.splitlines():
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == "pyseccomp":
            return int(fields[1]) / 1000
    raise SystemExit(f"no pyseccomp import seen in: {statement}")


def pyseccomp_import(runs: int) -> tuple[list[float], list[float]]:
    """Plain `import pyseccomp`, then as acme_conf.sandbox.seccomp imports it (both include typing)."""
    plain = [_pyseccomp_import_ms("import pyseccomp") for _ in range(runs)]
    known = [_pyseccomp_import_ms("import acme_conf.sandbox") for _ in range(runs)]
    return plain, known


_CHAIN_CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from sandbox_chain_child import job_for
from acme_conf.proc import scheduler, settings, spawner
request = json.loads(sys.argv[1])
if not request["sandbox"]:
    marker = "from acme_conf.proc.__main__"
    assert marker in spawner.CHILD_BOOTSTRAP, "the child bootstrap changed: update bench/sandbox_cost.py"
    spawner.CHILD_BOOTSTRAP = spawner.CHILD_BOOTSTRAP.replace(
        marker, "import acme_conf.sandbox as _s; _s.enter = lambda role, grants: type('NoReport', (), {'imports': None})(); " + marker)
options = settings.RunOptions(force=True, verbosity=2 if request["sandbox"] else 0)
sys.exit(scheduler.run([job_for(request)], options))
"""


def chain_with_and_without(runs: int) -> tuple[list[float], list[float], list[float]]:
    sys.path.insert(0, str(REPO / "tools"))
    from testbed import Testbed, fetch_pebble

    with_sandbox: list[float] = []
    without: list[float] = []
    enter_sums: list[float] = []
    with tempfile.TemporaryDirectory() as work_dir:
        root = Path(work_dir)
        for name, mode in (("challenges", 0o755), ("account", 0o700), ("private", 0o700), ("certs", 0o755)):
            (root / name).mkdir(mode=mode)
        with Testbed(binaries=fetch_pebble(), challenge_dir=root / "challenges", authz_reuse=100) as bed:
            base = {
                "root": str(root),
                "challenge_dir": str(root / "challenges"),
                "ca_file": str(bed.ca_file),
                "directory_url": bed.directory_url.replace("127.0.0.1", "localhost"),
                "handle": "bench.example.test",
                "keytype": "ecdsa",
                "options": {},
            }
            helpers = str(REPO / "tests" / "sandbox")
            for index in range(runs + 1):  # the first pair warms up (keys, account, authorization)
                for sandbox in (True, False):
                    started = time.perf_counter()
                    result = subprocess.run(
                        [sys.executable, "-I", "-c", _CHAIN_CHILD, json.dumps({**base, "sandbox": sandbox}), helpers],
                        env={}, capture_output=True, text=True, timeout=120,
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    if result.returncode != 0:
                        raise SystemExit(f"chain failed (sandbox={sandbox}):\n{result.stderr}")
                    if index == 0:
                        continue
                    (with_sandbox if sandbox else without).append(elapsed)
                    if sandbox:
                        enter_sums.append(sum(map(float, re.findall(r"sandbox \w+ \(\w+, ([\d.]+) ms\)", result.stderr))))
    return with_sandbox, without, enter_sums


def _line(label: str, values: list[float]) -> str:
    return f"{label:<34} median {statistics.median(values):7.2f} ms   min {min(values):7.2f}   max {max(values):7.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-chain", action="store_true", help="skip the chain (needs pebble)")
    args = parser.parse_args()

    print(f"enter() per role, fresh process each (n={args.runs}):")
    per_role = enter_per_role(args.runs)
    for role, values in per_role.items():
        print("  " + _line(role, values))
    total = sum(statistics.median(values) for values in per_role.values())
    print(f"  {'sum of medians (8 roles)':<34} {total:7.2f} ms")

    plain, known = pyseccomp_import(args.runs)
    print(f"\npyseccomp import in a fresh process (n={args.runs}):")
    print("  " + _line("plain (find_library, ldconfig)", plain))
    print("  " + _line("with known sonames (ours)", known))
    saved = statistics.median(plain) - statistics.median(known)
    print(f"  saved per process {saved:.1f} ms, CPU time per chain of 8 processes {8 * saved:.1f} ms")

    if not args.no_chain:
        runs = max(3, args.runs // 2)
        with_sandbox, without, enter_sums = chain_with_and_without(runs)
        print(f"\none chain against pebble, -F, ECDSA (n={runs} each, alternating):")
        print("  " + _line("with the sandbox", with_sandbox))
        print("  " + _line("sandbox.enter a no-op", without))
        print("  " + _line("sum of the 8 enter() times", enter_sums))
        added = statistics.median(with_sandbox) - statistics.median(without)
        print(f"  added wall time per chain (difference of medians): {added:.1f} ms (target < 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
