"""Nothing is imported once the jail begins: an attempt ends the role, naming the module.

A jailed role can open no file of the Python installation, so a module that a
library imports lazily (cryptography loads its OpenSSL backend on the first
ECDSA signature it verifies) would fail deep inside that library with a
PermissionError, and only on the input that takes that path.  Each role
therefore runs its real operations on built-in samples before its jail (its
warm-up), and this guard makes anything a warm-up missed impossible to miss:

- a finder placed first on `sys.meta_path` is asked about every module that
  is not loaded yet, whichever way the import was made (an `import`
  statement, `importlib`, a codec look-up, C code), and raises
  ImportAfterJail, naming the module and the role;
- ImportAfterJail is a BaseException, so no `except Exception` or
  `except ImportError` in a library can swallow it, and every attempt is
  also kept, so a role that swallowed one anyway still fails at its end;
- `sys.modules` at the jail is compared with `sys.modules` at the end, which
  also sees a module that arrived by some other way than a finder.

It is on in production as in tests: the cost is one list insertion.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any


class ImportAfterJail(BaseException):
    """A module was to be imported after the jail: a warm-up missed it (a bug, never the input's fault).

    A BaseException, like KeyboardInterrupt, so that a library's broad
    `except Exception` cannot hide it.
    """

    def __init__(self, role: str, module: str) -> None:
        self.role = role
        self.module = module
        super().__init__(f"{role} tried to import {module} after its jail")


class ImportGuard:
    """The finder that refuses every import after the jail, and the record of what was tried."""

    def __init__(self, role: str, loaded: Sequence[str]) -> None:
        self.role = role
        self.at_jail = frozenset(loaded)
        self.attempts: list[str] = []

    # The importlib meta path finder protocol.
    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> Any:
        del path, target
        self.attempts.append(fullname)
        raise ImportAfterJail(self.role, fullname)

    def invalidate_caches(self) -> None:
        """importlib.invalidate_caches() calls this on every finder: nothing to do."""

    def loaded_since_jail(self) -> tuple[str, ...]:
        return tuple(sorted(set(sys.modules) - self.at_jail))

    def violations(self) -> tuple[str, ...]:
        """Every module tried or loaded after the jail, in the order first seen."""
        return tuple(dict.fromkeys([*self.attempts, *self.loaded_since_jail()]))


def forbid_imports(role: str) -> ImportGuard:
    """From now on, no module may be imported in this process."""
    guard = ImportGuard(role, list(sys.modules))
    sys.meta_path.insert(0, guard)
    return guard
