"""examples/systemd/: the units are valid, and acme-client's sandbox applies fully inside them.

No systemd runs on the test machines (PID 1 is not systemd), so the units
cannot be started with systemd-run. Instead:
- `systemd-analyze verify` (it needs no running systemd) checks all four
  files, and `systemd-analyze security --offline` rates the services;
- systemd_unit_emulation.py applies each service's [Service] settings to a
  process the way systemd does (mounts, capability bounding set,
  no_new_privs, stacked seccomp filters, namespaces) and execs its
  ExecStart: a real `acme-client -S` run against pebble then issues a
  certificate (http-01 with both services, from a CA named localhost that
  dnsproc looks up, and a dns-01 hook, with the template), renews it, and
  every child's /proc/PID/status, read from outside while
  the chain runs, shows it jailed inside the unit's limits (its own seccomp
  filter on top of the unit's, no_new_privs, no capabilities; the hook
  program in a mount namespace of its own). `-S` refuses a partial
  sandbox, so a unit setting that took a mechanism away fails the run: the
  last run test shows one that does;
- systemd_unit_probe.py, run as the unit's command, finds each hardening
  setting in force (tools/mutate.py takes each out in turn).

Only paths in the unit change for the test: the program in ExecStart (this
checkout's interpreter, with -f and the test's configuration), the
directories of ReadWritePaths=, and the state directory
(ACME_CLIENT_STATE_DIR for /var/db/acme). The test's own files, and the
interpreter's directories (which ProtectHome= or PrivateTmp= would hide
where a checkout, a venv or a pyenv build lies under /root or /tmp), are
bound in read-only (BindReadOnlyPaths=), as /etc is under ProtectSystem=strict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration_common import RUN_TAG, Workdir
from systemd_unit_emulation import CAPABILITIES
from test_dns_hook import challtestsrv_hook, with_hook
from test_issue import EXIT_CHANGED, EXIT_FAILED

REPO_ROOT = Path(__file__).resolve().parents[2]
UNITS = REPO_ROOT / "examples" / "systemd"
EMULATION = Path(__file__).with_name("systemd_unit_emulation.py")
PROBE = Path(__file__).with_name("systemd_unit_probe.py")
SERVICES = ("acme-client.service", "acme-client@.service")
INSTALLED_PROGRAM = "/usr/local/sbin/acme-client"
LOOPBACK = "127.0.0.1"
EXAMPLE_WRITABLE = "ReadWritePaths=/etc/acme /etc/ssl /var/www/acme /var/db/acme"
SAMPLE_INTERVAL = 0.002
MORE_RUNS = 4  # forced renewals to look again for a role the sampling missed
RUN_TIMEOUT = 120.0
# Capabilities no process of a run uses: a unit that keeps one gives a taken-over parent more than it needs.
NEVER_NEEDED = "SYS_PTRACE SYS_MODULE SYS_RAWIO SYS_BOOT SYS_TIME NET_ADMIN NET_RAW SETPCAP SETFCAP MKNOD BPF PERFMON SYS_RESOURCE"
# revokeproc judges an existing certificate: it runs in the forced renewals that follow the first issuance.
JAILED_ROLES = {"netproc", "acctproc", "keyproc", "chngproc", "certproc", "fileproc", "revokeproc"}

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (Debian's systemd package)"
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the units run as root: emulating one needs root")


def hardening(text: str) -> list[str]:
    """The [Service] lines from the hardening comment on."""
    return text[text.index("# Hardening"):].splitlines()


def test_both_services_share_one_hardening_and_treat_2_as_success():
    texts = [(UNITS / name).read_text() for name in SERVICES]
    assert hardening(texts[0]) == hardening(texts[1])
    for text in texts:
        assert "\nType=oneshot\n" in text and "\nSuccessExitStatus=2\n" in text
    assert "ExecStart=/usr/local/sbin/acme-client %i\n" in texts[1]


def test_the_timers_run_twice_a_day_with_a_random_delay():
    for name in ("acme-client.timer", "acme-client@.timer"):
        text = (UNITS / name).read_text()
        assert "\nOnCalendar=*-*-* 00,12:00:00\n" in text
        assert "\nRandomizedDelaySec=12h\n" in text and "\nPersistent=yes\n" in text
        assert "\nWantedBy=timers.target\n" in text


@needs_systemd_analyze
def test_systemd_analyze_verifies_the_units(tmp_path):
    """As installed: the program's path replaced by this checkout's entry point, an instance for the template."""
    program = Path(sys.executable).with_name("acme-client")
    assert program.exists()
    names = {"acme-client.service": "acme-client.service", "acme-client.timer": "acme-client.timer",
             "acme-client@.service": "acme-client@example.com.service", "acme-client@.timer": "acme-client@example.com.timer"}
    for source, target in names.items():
        (tmp_path / target).write_text((UNITS / source).read_text().replace(INSTALLED_PROGRAM, str(program)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{name}" for name in names.values())],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", "./acme-client.service"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    exposure = re.search(r"Overall exposure level for acme-client.service: (\d+\.\d+)", security.stdout)
    assert exposure, security.stdout + security.stderr
    assert float(exposure.group(1)) <= 4.0, security.stdout  # 3.x as shipped: root, network, the sandbox's own needs


# -- the sandbox inside the unit ---------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What /proc/PID/status says of one process at one moment."""

    role: str  # acme-client's parent: "parent"
    command: str  # the command line, its words joined by blanks
    started: int  # clock ticks after boot: with the pid, names one process (pids are reused)
    seccomp: int
    filters: int
    no_new_privs: int
    effective: int
    bounding: int
    mount_namespace: str


def read_status(pid: int, parent: int) -> Status | None:
    try:
        fields = dict(
            line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line
        )
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        started = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        mount_namespace = os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None  # gone already
    role = "parent" if pid == parent else ""
    if b"-c" in arguments and len(arguments) > arguments.index(b"-c") + 2:
        role = arguments[arguments.index(b"-c") + 2].decode()
    return Status(
        role=role, command=b" ".join(arguments).decode(errors="replace"), started=started,
        seccomp=int(fields["Seccomp"]), filters=int(fields.get("Seccomp_filters", "0")),
        no_new_privs=int(fields["NoNewPrivs"]), effective=int(fields["CapEff"], 16),
        bounding=int(fields["CapBnd"], 16), mount_namespace=mount_namespace,
    )


def family(root: int) -> list[int]:
    """`root` and every process below it, from the kernel's lists of each thread's children."""
    members, pending = [], [root]
    while pending:
        pid = pending.pop()
        members.append(pid)
        try:
            threads = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue  # gone
        for thread in threads:
            try:
                pending += [int(child) for child in (thread / "children").read_text().split()]
            except OSError:
                continue
    return members


@dataclass(frozen=True)
class UnitRun:
    returncode: int
    stderr: str
    samples: dict[tuple[int, int], list[Status]]  # (pid, start time) -> what was seen of it, in order


def run_in_unit(unit_text: str, instance: str, tmp_path: Path) -> UnitRun:
    """Run the unit's command under the emulated unit; sample every process below it until it exits."""
    unit = tmp_path / "under-test.service"
    unit.write_text(unit_text)
    stderr_path = tmp_path / "unit.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(EMULATION), str(unit), instance], stdin=subprocess.DEVNULL,
            stdout=stderr, stderr=stderr,
        )
    samples: dict[tuple[int, int], list[Status]] = {}
    deadline = time.monotonic() + RUN_TIMEOUT
    while process.poll() is None:
        for pid in family(process.pid):
            status = read_status(pid, process.pid)
            if status is not None:
                samples.setdefault((pid, status.started), []).append(status)
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(SAMPLE_INTERVAL)
    return UnitRun(process.wait(), stderr_path.read_text(errors="replace"), samples)


def unit_for_test(name: str, workdir: Workdir, conf: Path, challenge_dir: Path, testbed_dir: Path) -> str:
    """The example unit with the test's paths; everything else as shipped."""
    text = (UNITS / name).read_text()
    assert text.count(f"ExecStart={INSTALLED_PROGRAM}") == 1 and text.count(EXAMPLE_WRITABLE) == 1
    text = text.replace(f"ExecStart={INSTALLED_PROGRAM}", f"ExecStart={sys.executable} -m acme_conf -f {conf} -S -v")
    writable = (workdir.account_dir, workdir.key_dir, workdir.cert_dir, challenge_dir, workdir.state_dir)
    text = text.replace(EXAMPLE_WRITABLE, "ReadWritePaths=" + " ".join(map(str, writable)))
    # What the test's run needs to see, bound in read-only: its files, the CA's TLS root,
    # this checkout and its interpreter (where a person's install would be in /usr or /opt).
    visible = {workdir.root, testbed_dir, *interpreter_paths()}
    return text + (
        f"BindReadOnlyPaths={' '.join(sorted(map(str, visible)))}\n"
        f"Environment=ACME_CLIENT_STATE_DIR={workdir.state_dir}\n"
    )


def interpreter_paths() -> set[Path]:
    """What this interpreter and its imports need to see, outermost directories only (ProtectHome and
    PrivateTmp would hide a checkout, a venv or a pyenv build under /root or /tmp)."""
    wanted = {REPO_ROOT, Path(sys.prefix).resolve(), Path(os.path.realpath(sys.base_prefix))}
    wanted |= {Path(entry).resolve() for entry in sys.path if entry and Path(entry).is_dir()}
    wanted.discard(Path("/"))  # bound over itself, it would bring back all that is hidden
    return {path for path in wanted if not any(other != path and other in path.parents for other in wanted)}


def mask(names: str) -> int:
    return sum(1 << CAPABILITIES.index(word.removeprefix("CAP_")) for word in names.split())


@pytest.fixture
def unit_workdir(workdir: Workdir) -> Workdir:
    workdir.state_dir.mkdir(mode=0o700)  # ReadWritePaths= names it, so it must exist (as /var/db/acme must)
    return workdir


def jailed_inside(run: UnitRun, allowed: int, hook: Path | None) -> set[str]:
    """The roles seen jailed in `run`; every sample of every process is checked against the unit on the way.

    A role counts once a sample shows its own seccomp filter on top of the unit's (the jail's last
    step): by then it must have no capabilities and no_new_privs. The hook program counts when
    seen in a mount namespace of its own with no capabilities (hookproc has no filter: it would
    bind the program).
    """
    parent = [status for statuses in run.samples.values() for status in statuses if status.role == "parent" and status.seccomp == 2]
    assert parent, run.stderr
    # The parent, once exec'd: inside the unit (its filters, no_new_privs, its bounding set), not jailed itself.
    unit_filters, unit_mounts = parent[-1].filters, parent[-1].mount_namespace
    assert unit_filters >= 1 and parent[-1].no_new_privs == 1 and parent[-1].bounding == allowed, parent[-1]
    jailed: set[str] = set()
    for statuses in run.samples.values():
        for status in statuses:
            if not status.role or (status.role == "parent" and status.seccomp != 2):
                continue  # the emulation itself (and its systemd-analyze), before the unit's settings took hold
            assert status.bounding & ~allowed == 0, status  # every process stays inside the unit
            if status.role not in ("parent", "hookproc") and status.filters > unit_filters:
                assert status.effective == 0 and status.no_new_privs == 1 and status.seccomp == 2, status
                jailed.add(status.role)
        last = statuses[-1]
        if hook is not None and str(hook) in last.command:
            assert last.mount_namespace != unit_mounts and last.effective == 0, last
            assert last.no_new_privs == 1 and last.bounding & ~allowed == 0, last
            jailed.add("hook program")
    return jailed


@needs_root
@needs_systemd_analyze
@pytest.mark.parametrize(
    ("name", "challenge"),
    [
        ("acme-client.service", "http-01"),
        ("acme-client@.service", "http-01"),
        ("acme-client@.service", "http-01 from a CA named localhost"),
        ("acme-client@.service", "dns-01 hook"),
    ],
)
def test_the_sandbox_applies_fully_inside_the_unit(name, challenge, testbed, challenge_dir, unit_workdir, write_conf, tmp_path):
    """A real strict run issues inside the unit, and the kernel shows every child jailed within the unit's limits."""
    workdir = unit_workdir
    case = re.sub(r"[^a-z0-9]+", "-", f"{name.split('.')[0]} {challenge}").strip("-")
    handle = f"{case}.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    expected = set(JAILED_ROLES)
    hook = None
    if challenge == "dns-01 hook":  # hookproc: a mount namespace of its own, which the unit must allow
        hook = challtestsrv_hook(testbed, workdir.root)
        with_hook(conf, testbed, hook)
        expected = expected - {"chngproc"} | {"hook program"}
    if challenge.endswith("named localhost"):  # dnsproc looks the CA up (getaddrinfo) inside the unit
        text = conf.read_text()
        assert f"https://{LOOPBACK}:" in text
        conf.write_text(text.replace(f"https://{LOOPBACK}:", "https://localhost:"))
        expected.add("dnsproc")
    unit_capabilities = re.search(r"^CapabilityBoundingSet=(.*)$", (UNITS / name).read_text(), re.M)
    assert unit_capabilities and testbed.state_dir is not None
    allowed = mask(unit_capabilities.group(1))
    unit_text = unit_for_test(name, workdir, conf, challenge_dir, testbed.state_dir)

    run = run_in_unit(unit_text, handle, tmp_path)
    assert run.returncode == EXIT_CHANGED, run.stderr
    assert "runs with less than its policy" not in run.stderr
    testbed.verify_chain(workdir.fullchain(handle).read_bytes(), handle)
    # UMask=0077 changes no mode acme-client sets: the key private, the certificates readable by all
    assert stat.S_IMODE(workdir.domain_key(handle).stat().st_mode) == 0o400
    assert stat.S_IMODE(workdir.fullchain(handle).stat().st_mode) == 0o444
    jailed = jailed_inside(run, allowed, hook)
    # Forced renewals under the same unit: revokeproc's turn, and another look for a child that
    # finished within a few milliseconds of its jail (keyproc, on a loaded machine).
    for _ in range(MORE_RUNS):
        if expected <= jailed:
            break
        again = run_in_unit(unit_text.replace(" -S -v", " -S -v -F", 1), handle, tmp_path)
        assert again.returncode == EXIT_CHANGED, again.stderr
        jailed |= jailed_inside(again, allowed, hook)
    assert expected <= jailed, (jailed, run.stderr)


@needs_root
@needs_systemd_analyze
def test_a_unit_that_takes_landlock_and_seccomp_away_fails_the_strict_run(
    testbed, challenge_dir, unit_workdir, write_conf, tmp_path
):
    """The run above could fail: the same unit without Landlock and seccomp in its SystemCallFilter."""
    workdir = unit_workdir
    handle = f"unit-no-landlock.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    assert testbed.state_dir is not None
    text = unit_for_test("acme-client@.service", workdir, conf, challenge_dir, testbed.state_dir)
    sandbox_calls = " landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp"
    assert text.count(sandbox_calls) == 1
    run = run_in_unit(text.replace(sandbox_calls, ""), handle, tmp_path)
    assert run.returncode == EXIT_FAILED, run.stderr
    assert "landlock" in run.stderr.lower()
    assert not workdir.certificate(handle).exists()


@needs_root
@needs_systemd_analyze
def test_inside_the_unit_each_hardening_setting_holds(unit_workdir, tmp_path):
    """A probe run as the unit's command: what each setting forbids is refused, what the run needs is allowed."""
    workdir = unit_workdir
    marker = Path(tempfile.mkdtemp(prefix="acme-unit-marker.")) / "on-the-host"
    marker.touch()
    try:
        text = (UNITS / "acme-client@.service").read_text()
        text = text.replace(f"ExecStart={INSTALLED_PROGRAM} %i", f"ExecStart={sys.executable} {PROBE} {workdir.cert_dir} {marker}")
        writable = (workdir.account_dir, workdir.key_dir, workdir.cert_dir, workdir.state_dir)
        text = text.replace(EXAMPLE_WRITABLE, "ReadWritePaths=" + " ".join(map(str, writable)))
        visible = {workdir.root, *interpreter_paths()}
        text += f"BindReadOnlyPaths={' '.join(sorted(map(str, visible)))}\n"
        unit = tmp_path / "probe.service"
        unit.write_text(text)
        done = subprocess.run([sys.executable, str(EMULATION), str(unit), "probe"], capture_output=True, text=True,
                              timeout=60, check=False, stdin=subprocess.DEVNULL)
    finally:
        marker.unlink()
        marker.parent.rmdir()
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["write in /var/lib"] == "refused: EROFS"  # ProtectSystem=strict
    assert found["write in the writable directory"] == "allowed"  # ReadWritePaths=
    assert found["mode of a new 0666 file"] == "0o600"  # UMask=0077
    assert found["/root"] == "tmpfs"  # ProtectHome=yes: an empty file system over it
    assert found["/tmp holds the host's marker"] is False  # PrivateTmp=yes
    assert set(found["/dev"]) <= {"null", "zero", "full", "random", "urandom", "tty", "shm", "log"}  # PrivateDevices=yes
    assert found["new user namespace"] == "refused: EPERM"  # RestrictNamespaces=net mnt
    assert found["netlink socket"] == "refused: EAFNOSUPPORT"  # RestrictAddressFamilies=
    assert found["writable and executable memory"] == "refused: EPERM"  # MemoryDenyWriteExecute=yes
    assert found["swapon"] == "refused: EPERM"  # SystemCallFilter=, outside @system-service (else ENOENT)
    assert found["NoNewPrivs"] == "1"  # NoNewPrivileges=yes
    allowed = mask(re.search(r"^CapabilityBoundingSet=(.*)$", text, re.M).group(1))
    assert int(found["CapBnd"], 16) == allowed  # CapabilityBoundingSet=
    assert allowed & mask(NEVER_NEEDED) == 0, "the unit keeps a capability no part of a run uses"
    assert found["/proc/sys exists"] is False  # ProcSubset=pid
