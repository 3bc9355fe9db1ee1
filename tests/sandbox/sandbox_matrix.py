"""Print the role x attempt matrix: what each jailed role got when it tried each probe.

    python tests/sandbox/sandbox_matrix.py                 # as this user (and as nobody, when root)
    python tests/sandbox/sandbox_matrix.py --unprivileged  # only the unprivileged run

Cells: ok = it worked; SIGSYS = seccomp killed the process; an errno name =
the call failed (EACCES: Landlock; EPERM: a named seccomp exception, or the
kernel; ENOENT: chroot); ModuleNotFoundError = Python found nothing it may read;
'.' = not tried (another role's job).  A cell marked '!' differs from the
policy's answer in sandbox_harness.PROBES; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sandbox_harness as harness  # noqa: E402

_SHORT = {"netproc": "net", "dnsproc": "dns", "acctproc": "acct", "keyproc": "key", "chngproc": "chng",
          "certproc": "cert", "fileproc": "file", "revokeproc": "revoke", "httpproc": "http", "tlsproc": "tls",
          "hookproc": "hook"}


def run_matrix(unprivileged: bool) -> dict[str, harness.RoleRun]:
    with harness.bed_for(unprivileged) as bed:
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = list(pool.map(lambda role: harness.run_role(role, bed, unprivileged), harness.ROLES))
    return {run.role: run for run in runs}


def render(runs: dict[str, harness.RoleRun], title: str) -> tuple[str, int]:
    width = 20
    lines = [title, f"{'attempt':<48}" + "".join(f"{_SHORT[role]:>{width // 2 + 2}}" for role in harness.ROLES)]
    mismatches = 0
    for probe in harness.PROBES:
        label = probe.meaning + (" [gap]" if probe.known_gap else "") + (" [job]" if probe.must_do else "")
        cells = []
        for role in harness.ROLES:
            outcome = runs[role].outcomes.get(probe.name)
            if outcome is None:
                cell = "."
            else:
                wrong = outcome != probe.expected[role]
                mismatches += wrong
                cell = ("!" if wrong else "") + outcome.replace("ModuleNotFoundError", "NoModule")
            cells.append(f"{cell:>{width // 2 + 2}}")
        lines.append(f"{label[:47]:<48}" + "".join(cells))
    children = sum(run.children for run in runs.values())
    lines.append(f"({children} jailed children; [job] = the role's own work, [gap] = allowed, see docs/SECURITY.md)")
    return "\n".join(lines), mismatches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unprivileged", action="store_true", help="only the run as an unprivileged user")
    args = parser.parse_args()
    modes = [True] if args.unprivileged or os.getuid() != 0 else [False, True]
    total = 0
    for unprivileged in modes:
        who = "unprivileged user" if unprivileged else "root"
        text, mismatches = render(run_matrix(unprivileged), f"\n== started as {who} ==")
        print(text)
        total += mismatches
    if total:
        print(f"\n{total} cell(s) differ from the policy", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
