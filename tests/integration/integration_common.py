"""What the integration tests share besides fixtures: this run's tag, the proxy variables, the work directory.

Apart from conftest.py so that tests import it by a name of its own: the
suite imports its test directories without packages, and
`from conftest import ...` would find whichever conftest.py was loaded
first (tests/adversarial has one too).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

# This pytest process's own tag: domain names that carry it share no lock
# and no process with another copy of the suite running at the same time.
RUN_TAG = secrets.token_hex(3)

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass(frozen=True)
class Workdir:
    """Where one test keeps its keys, certificates and configuration."""

    root: Path
    account_dir: Path  # 0700
    key_dir: Path  # 0700
    cert_dir: Path  # 0755

    @property
    def state_dir(self) -> Path:
        """What runs keep for each other (acme_conf/state.py): this test's own."""
        return self.root / "state"

    def account_key(self, authority: str = "pebble") -> Path:
        return self.account_dir / f"{authority}.key"

    def domain_key(self, handle: str) -> Path:
        return self.key_dir / f"{handle}.key"

    def certificate(self, handle: str) -> Path:
        return self.cert_dir / f"{handle}.crt"

    def chain(self, handle: str) -> Path:
        return self.cert_dir / f"{handle}.chain.pem"

    def fullchain(self, handle: str) -> Path:
        return self.cert_dir / f"{handle}.fullchain.pem"


def validate_another_way(conf: Path, line: str, *handles: str) -> None:
    """The domain blocks of `conf` named by `handles` validate by `line` (a `challenge ...` option) instead of a challengedir."""
    blocks = conf.read_text().split("\ndomain ")
    for index, block in enumerate(blocks):
        if any(block.startswith(handle + " ") for handle in handles):
            lines = [each for each in block.split("\n") if not each.startswith("\tchallengedir ")]
            lines.insert(-2, f"\t{line}")
            blocks[index] = "\n".join(lines)
    conf.write_text("\ndomain ".join(blocks))
