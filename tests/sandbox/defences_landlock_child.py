"""sandbox_probe_child.py with seccomp left out, to see what Landlock alone holds.

Run by tests/sandbox/test_defences_landlock.py as the harness runs
sandbox_probe_child.py.  seccomp stops most file-system calls before Landlock
is asked (mkdirat, symlinkat kill the process), so the Landlock rights of a
role's own directory are seen only with seccomp out of the way: its kernel
support is reported missing and the role runs without the strict flag (a
missing mechanism is then a warning, and every other one is applied).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # -I leaves the script's directory out

import sandbox_probe_child as base  # noqa: E402

from acme_conf.sandbox import seccomp  # noqa: E402


def without_strict(build: Any) -> Any:
    def build_spec(*args: Any) -> Any:
        return build(*args)._replace(strict_sandbox=False)

    return build_spec


if __name__ == "__main__":
    seccomp.kernel_support = lambda: seccomp.KernelSupport(False, 0, False, "left out to see Landlock alone")
    base.build_spec = without_strict(base.build_spec)
    status = base.main()
    sys.stderr.flush()
    os._exit(status)
