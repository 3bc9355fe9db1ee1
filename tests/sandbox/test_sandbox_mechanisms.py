"""Each mechanism on its own, in a fresh child process: what it applies, what it reports.

Every enter() runs in a child: it closes descriptors, drops privileges and
loads seccomp, which must never happen to the test process itself.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from acme_conf.sandbox import policy, seccomp
from acme_conf.sandbox.errors import PolicyError

ROOT = os.getuid() == 0


def run_child(code: str, *, pass_fds: tuple[int, ...] = (), timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code)],
        pass_fds=pass_fds,
        env={},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# pyseccomp without ldconfig


def test_importing_the_sandbox_forks_nothing_and_leaves_ctypes_util_untouched() -> None:
    result = run_child(
        """
        import json, sys
        spawned = []
        sys.addaudithook(lambda event, args: spawned.append(event)
                         if event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork") else None)
        import ctypes
        import acme_conf.sandbox
        import pyseccomp
        print(json.dumps({
            "spawned": spawned,
            "ctypes.util loaded": "ctypes.util" in sys.modules,
            "ctypes has util": hasattr(ctypes, "util"),
            "subprocess loaded": "subprocess" in sys.modules,
            "read is": pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, "read"),
            "libseccomp": pyseccomp._libseccomp._name,
        }))
        """
    )
    facts = last_json(result)
    assert facts == {
        "spawned": [],
        "ctypes.util loaded": False,
        "ctypes has util": False,
        "subprocess loaded": False,
        "read is": 0,
        "libseccomp": "libseccomp.so.2",
    }


def test_a_real_ctypes_util_imported_earlier_is_restored() -> None:
    result = run_child(
        """
        import json, sys
        import ctypes.util
        before = sys.modules["ctypes.util"]
        import acme_conf.sandbox
        print(json.dumps({"same": sys.modules["ctypes.util"] is before and ctypes.util is before}))
        """
    )
    assert last_json(result) == {"same": True}


def test_unknown_system_call_names_fail_loudly() -> None:
    support = seccomp.kernel_support()
    if not support.available:
        pytest.skip(support.why_not)
    with pytest.raises(PolicyError, match="no_such_call"):
        seccomp.build((policy.Syscall("no_such_call", "a typo"),), support)
    with pytest.raises(PolicyError, match="socketcall"):  # exists, but not on x86_64 / aarch64
        seccomp.build((policy.Syscall("socketcall", "not here"),), support)


def test_every_policy_builds_on_this_machine() -> None:
    support = seccomp.kernel_support()
    if not support.available:
        pytest.skip(support.why_not)
    for role, entry in policy.POLICIES.items():
        if entry.runs_programs:  # no filter at all: hookproc (tests/unit/test_defences_policy.py)
            continue
        built = seccomp.build(entry.syscalls, support)
        assert built.rules > 30, role  # the Python runtime list at least
        assert built.rules + len(built.skipped) == len(entry.syscalls), role  # every rule is in, or a named alias
        assert built.default_kills == "process"


def test_every_named_exception_says_why() -> None:
    for entry in policy.POLICIES.values():
        for syscall in entry.syscalls:
            assert syscall.why.strip(), syscall
            if syscall.action is policy.Action.EPERM:
                assert len(syscall.why) > 30, syscall


# ---------------------------------------------------------------------------
# enter(): order, descriptors, reports, strictness

_ENTER_PRELUDE = """
    import json, logging, os, socket, sys
    from acme_conf.sandbox import Grants, enter, errors
    import acme_conf.sandbox.apply as apply
    a, b = socket.socketpair()
"""


def test_enter_imports_nothing_and_returns_its_report() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + """
    imported = []
    sys.addaudithook(lambda event, args: imported.append(args[0]) if event == "import" else None)
    report = enter("certproc", Grants(channels=(a.fileno(),), strict=True))
    print(json.dumps({"imported": imported, "steps": [s.mechanism for s in report.steps]}))
    sys.stdout.flush()
    os._exit(0)
    """
    )
    facts = last_json(result)
    assert facts["imported"] == []
    assert facts["steps"] == [
        "imports", "descriptors", "network namespace", "identity", "no_new_privs", "landlock", "limits", "seccomp",
    ]


def test_descriptors_are_closed_and_stdin_is_devnull() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + """
    stray = os.open("/etc/hostname", os.O_RDONLY)
    devnull = os.stat("/dev/null").st_rdev
    enter("certproc", Grants(channels=(a.fileno(),), strict=True))
    def state(fd):
        try:
            os.fstat(fd)
            return "open"
        except OSError as error:
            return error.strerror
    print(json.dumps({"stray": state(stray), "other end": state(b.fileno()), "channel": state(a.fileno()),
                      "stdin is /dev/null": os.fstat(0).st_rdev == devnull}))
    sys.stdout.flush()
    os._exit(0)
    """
    )
    assert last_json(result) == {
        "stray": "Bad file descriptor",
        "other end": "Bad file descriptor",
        "channel": "open",
        "stdin is /dev/null": True,
    }


def test_a_process_with_threads_is_refused() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + """
    import threading
    stop = threading.Event()
    threading.Thread(target=stop.wait).start()
    try:
        enter("certproc", Grants(channels=(a.fileno(),)))
    except errors.SetupError as error:
        print(json.dumps({"refused": str(error)}))
    stop.set()
    """
    )
    assert "2 threads" in last_json(result)["refused"]


def test_unknown_roles_and_misplaced_grants_are_errors() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + """
    outcomes = {}
    for name, role, grants in [
        ("unknown role", "rootproc", Grants(channels=())),
        ("write_dir for certproc", "certproc", Grants(channels=(), write_dir="/tmp")),
        ("ports for keyproc", "keyproc", Grants(channels=(), connect_ports=(443,))),
        ("closed channel", "certproc", Grants(channels=(999,))),
    ]:
        try:
            enter(role, grants)
            outcomes[name] = "entered"
        except errors.PolicyError as error:
            outcomes[name] = type(error).__name__
    print(json.dumps(outcomes))
    """
    )
    assert set(last_json(result).values()) == {"PolicyError"}


def test_a_replaced_write_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "other").mkdir()
    result = run_child(
        _ENTER_PRELUDE
        + f"""
    held = os.open("{tmp_path}/real", os.O_RDONLY | os.O_DIRECTORY)
    try:
        enter("chngproc", Grants(channels=(a.fileno(),), files=(held,), write_dir="{tmp_path}/other"))
        print(json.dumps({{"outcome": "entered"}}))
    except errors.PolicyError as error:
        print(json.dumps({{"outcome": str(error)}}))
    """
    )
    assert "is not the directory whose descriptor it holds" in last_json(result)["outcome"]


_WITHOUT_LANDLOCK = """
    import acme_conf.sandbox.landlock as landlock
    landlock.abi_version = lambda: 0
"""


def test_strict_makes_a_missing_mechanism_fatal() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + _WITHOUT_LANDLOCK
        + """
    try:
        enter("certproc", Grants(channels=(a.fileno(),), strict=True))
        print(json.dumps({"outcome": "entered"}))
    except errors.MechanismUnavailable as error:
        print(json.dumps({"outcome": str(error)}))
    sys.stdout.flush()
    os._exit(0)
    """
    )
    assert last_json(result) == {"outcome": "certproc: strict sandbox, but landlock: unavailable on this kernel"}


def test_without_strict_a_missing_mechanism_is_a_warning_and_the_rest_applies() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + _WITHOUT_LANDLOCK
        + """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report = enter("certproc", Grants(channels=(a.fileno(),)))
    print(json.dumps({"steps": [s.mechanism for s in report.steps]}))
    sys.stdout.flush()
    os._exit(0)
    """
    )
    assert "WARNING sandbox certproc runs with less than its policy: landlock: unavailable on this kernel" in (
        result.stderr
    )
    assert "seccomp" in last_json(result)["steps"]


def test_logging_with_timestamps_works_after_the_jail() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + """
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(levelname)s %(message)s")
    enter("keyproc", Grants(channels=(a.fileno(),), strict=True))
    logging.getLogger("after").warning("still here")
    sys.stderr.flush()
    os._exit(0)
    """
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"\d\d:\d\d:\d\d,\d+ WARNING still here", result.stderr)
    assert "DEBUG sandbox keyproc (" in result.stderr  # the report, at -vv


# ---------------------------------------------------------------------------
# What the kernel says about a jailed child


def _proc_fields(pid: int, name: str) -> dict[str, str]:
    text = Path(f"/proc/{pid}/{name}").read_text()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def test_the_kernel_confirms_the_jail() -> None:
    parent_end, child_end = socket.socketpair()
    child = subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-c",
            "import os, sys\n"
            "from acme_conf.sandbox import Grants, enter\n"
            f"enter('acctproc', Grants(channels=({child_end.fileno()},), strict=True))\n"
            f"os.write({child_end.fileno()}, b'ready')\n"
            f"os.read({child_end.fileno()}, 1)\n"
            "os._exit(0)\n",
        ],
        pass_fds=[child_end.fileno()],
        env={},
        stdin=subprocess.DEVNULL,
    )
    child_end.close()
    try:
        parent_end.settimeout(30)
        assert parent_end.recv(5) == b"ready"
        status = {key: value.strip() for key, value in _proc_fields(child.pid, "status").items()}
        limits = Path(f"/proc/{child.pid}/limits").read_text()
        net_namespace = os.readlink(f"/proc/{child.pid}/ns/net") if ROOT else None
    finally:
        parent_end.close()
        child.wait(timeout=30)
    assert child.returncode == 0
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    assert status["CapEff"] == status["CapPrm"] == status["CapInh"] == status["CapAmb"] == "0000000000000000"
    assert re.search(r"Max core file size\s+0\s+0", limits)
    assert re.search(r"Max processes\s+0\s+0", limits)
    assert re.search(r"Max open files\s+(\d+)\s+\1", limits)
    if ROOT:
        assert status["Uid"].split()[0] != "0"
        assert net_namespace != os.readlink("/proc/self/ns/net")


def test_a_forbidden_call_kills_the_whole_process_with_sigsys() -> None:
    started = time.monotonic()
    result = run_child(
        _ENTER_PRELUDE
        + """
    enter("certproc", Grants(channels=(a.fileno(),), strict=True))
    os.getuid()
    print("survived")
    """
    )
    assert result.returncode == -31, result.stderr
    assert "survived" not in result.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("abi", "role", "expected"),
    [
        (3, "netproc", "WARNING sandbox netproc runs with less than its policy: landlock: ABI 3 cannot restrict TCP"),
        (3, "certproc", "INFO sandbox certproc: landlock: ABI 3 cannot restrict TCP (needs 4)"),
        (5, "keyproc", "INFO sandbox keyproc: landlock: ABI 5 cannot scope signals and abstract sockets (needs 6)"),
        (1, "keyproc", "INFO sandbox keyproc: landlock: ABI 1 cannot restrict"),
    ],
)
def test_an_older_landlock_abi_degrades_and_says_so(abi: int, role: str, expected: str) -> None:
    # The kernel here has ABI 7; asking for an older one really uses the older ruleset layout.
    result = run_child(
        _ENTER_PRELUDE
        + f"""
    import acme_conf.sandbox.landlock as landlock
    landlock.abi_version = lambda: {abi}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    ports = (443,) if "{role}" == "netproc" else ()
    report = enter("{role}", Grants(channels=(a.fileno(),), connect_ports=ports))
    print(json.dumps({{"landlock": [s.detail for s in report.steps if s.mechanism == "landlock"][0]}}))
    sys.stdout.flush()
    os._exit(0)
    """
    )
    assert expected in result.stderr
    assert last_json(result)["landlock"].startswith(f"ABI {abi};")


def test_no_network_namespace_is_a_warning() -> None:
    result = run_child(
        _ENTER_PRELUDE
        + """
    import errno
    import acme_conf.sandbox.process as process
    def refuse(flags):
        raise OSError(errno.EPERM, "Operation not permitted")
    process.unshare = refuse
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    enter("acctproc", Grants(channels=(a.fileno(),)))
    sys.stderr.flush()
    os._exit(0)
    """
    )
    assert result.returncode == 0, result.stderr
    assert (
        "WARNING sandbox acctproc runs with less than its policy: network namespace: unavailable "
        "(Operation not permitted)" in result.stderr
    )
