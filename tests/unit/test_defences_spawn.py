"""How the parent starts a child: `python -I -S`, an empty environment, only its own channels, stderr a pipe.

docs/SECURITY.md, "The processes and their rights": every child is a fresh
interpreter (`python -I -S`: no site.py, so no .pth file of site-packages
runs in it), started with an empty environment, stdout to /dev/null, from
"/", holding only its own socket-pair ends.  A role is not dumpable once
jailed, so /proc/PID/environ tells nothing from outside; instead the child
is asked from inside.  The real acme_conf/proc/spawner.py `spawn` starts it
with the real CHILD_BOOTSTRAP; the first directory of its import path holds
a stand-in `acme_conf.proc.__main__` whose start() reports what it finds
(the bootstrap imports exactly that module and calls start()).
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
from pathlib import Path

import pytest

from acme_conf.proc import spawner
from acme_conf.proc.spec import CertSettings, ChildSpec

MARKER = "ACME_DEFENCES_SPAWN_MARKER"

REPORTER = """
import json, os, sys

def open_descriptor(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False  # the listing's own, closed by now
    return True

def start():
    descriptors = sorted(fd for fd in map(int, os.listdir("/proc/self/fd")) if open_descriptor(fd))
    facts = {
        "no_site_flag": sys.flags.no_site,
        "isolated_flag": sys.flags.isolated,
        "site_imported": "site" in sys.modules,
        "environment": dict(os.environ),
        "cwd": os.getcwd(),
        "stdout": os.readlink("/proc/self/fd/1"),
        "stderr": os.readlink("/proc/self/fd/2"),
        "descriptors": descriptors,
        "role": sys.argv[1],
        "spec": json.loads(sys.argv[2]),
        "path_head": sys.path[0],
    }
    os.write(2, json.dumps(facts).encode())
    os._exit(0)
"""


@pytest.fixture
def reporter(tmp_path: Path) -> Path:
    """A directory holding the stand-in package, put first on the child's import path."""
    package = tmp_path / "stand-in" / "acme_conf" / "proc"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(textwrap.dedent(REPORTER))
    return tmp_path / "stand-in"


def spawned_facts(reporter: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, list[int]]:
    """What a child started by the real spawn finds inside itself; and the channel descriptors it was given."""
    monkeypatch.setenv(MARKER, "the parent's environment")  # must not reach the child
    mine, theirs = socket.socketpair()
    stray = os.open("/dev/null", os.O_RDONLY)  # a descriptor of the parent that is no channel
    os.set_inheritable(stray, True)  # even inheritable, it must stay behind
    try:
        channels = (("netproc", theirs.fileno()),)
        spec = ChildSpec("certproc", "spawn.example.test", 0, True, channels, CertSettings(("spawn.example.test",)))
        child = spawner.spawn(spec, (str(reporter), *spawner.child_import_path()))
        _, err = child.communicate(timeout=60)
    finally:
        os.close(stray)
        mine.close()
        theirs.close()
    assert err is not None, "the child's stderr is not the parent's to read"
    assert child.returncode == 0, err.decode(errors="replace")
    return json.loads(err), [theirs_fd for _, theirs_fd in spec.channels]


def test_a_child_runs_without_site_py(reporter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts, _ = spawned_facts(reporter, monkeypatch)
    assert facts["path_head"] == str(reporter)  # the stand-in answered: the bootstrap ran as it does for a role
    assert facts["no_site_flag"] == 1 and not facts["site_imported"]  # -S: no .pth file of site-packages ran
    assert facts["isolated_flag"] == 1  # -I: no PYTHON* variable, no user site, no script directory


def test_a_child_gets_nothing_of_the_parents_environment(reporter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    facts, _ = spawned_facts(reporter, monkeypatch)
    assert MARKER not in facts["environment"]
    # Python's own C-locale coercion (PEP 538) may add LC_CTYPE in the child; nothing else may be there.
    assert set(facts["environment"]) <= {"LC_CTYPE"}, facts["environment"]


def test_a_child_holds_only_its_channels_stdout_to_dev_null_from_the_root(
    reporter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts, channels = spawned_facts(reporter, monkeypatch)
    assert facts["role"] == "certproc" and facts["spec"]["role"] == "certproc"
    assert facts["descriptors"] == sorted({0, 1, 2, *channels})
    assert facts["stdout"] == "/dev/null"
    assert facts["stderr"].startswith("pipe:")  # the parent's to read, label and sanitise (proc/voice.py)
    assert facts["cwd"] == "/"
