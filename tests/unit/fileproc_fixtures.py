"""Fixtures shared by the unit tests of fileproc (its installs and its defences).

Imported by name, not a conftest.py: the suite imports its test directories
without packages, and a second module named conftest would hide the one
tests/integration imports from.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from acme_conf.ipc import Channel
from acme_conf.proc.fileproc import Held


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    directory.mkdir(mode=0o755)
    return directory


@pytest.fixture
def held(cert_dir: Path) -> Iterator[Held]:
    """What fileproc holds once it has acquired: its channel to certproc and its directory's descriptor."""
    ours, theirs = socket.socketpair()
    fd = os.open(cert_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    yield Held(Channel(ours, "certproc"), fd, str(cert_dir))
    os.close(fd)
    ours.close()
    theirs.close()
