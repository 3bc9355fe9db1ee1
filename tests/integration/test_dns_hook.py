"""dns-01 through a hook program, against pebble with real validation (pebble-challtestsrv answers DNS).

The hook is examples/hooks/challtestsrv, the one shipped, run by a wrapper
that gives it the management URL (hooks get a clean environment). pebble
looks the records up at challtestsrv's DNS, and so does hookproc before it
tells the CA to look (`resolver`). Each test checks what is left in DNS
afterwards: nothing.
"""

from __future__ import annotations

import os
import re
import stat
import signal
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED, child_processes, exited
import nameserver
from testbed import dns_query

EXAMPLE_HOOK = Path(__file__).resolve().parents[2] / "examples" / "hooks" / "challtestsrv"


def write_hook(directory: Path, name: str, body: str) -> Path:
    """An executable shell script `name` in `directory`, root's (or the user's) alone, as acme-client requires."""
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def challtestsrv_hook(testbed, directory: Path, before: str = "", after: str = "") -> Path:
    """A wrapper running the shipped example hook for `testbed`'s challtestsrv, with `before` and `after` shell lines."""
    body = (
        f"{before}\n"
        f"CHALLTESTSRV_URL={testbed.challtestsrv_url} /usr/bin/python3 {EXAMPLE_HOOK} \"$@\" || exit $?\n"
        f"{after}\n"
        "exit 0\n"
    )
    return write_hook(directory, "hook", body)


def with_hook(conf: Path, testbed, hook: Path, options: str = "") -> None:
    """Every domain block of `conf` validates with dns-01 through `hook`, looking for records at challtestsrv."""
    address, port = testbed.dns_address
    line = f'\tchallenge dns-01 hook "{hook}" resolver {address} port {port} {options}\n'
    conf.write_text(re.sub(r"\tchallengedir [^\n]*\n", line, conf.read_text()))


def processes_with(text: str) -> list[int]:
    """Live processes whose command line (its words joined by blanks) contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def txt(testbed, name: str) -> list[str]:
    return dns_query(testbed.dns_address, f"_acme-challenge.{name}", "TXT")


def sans(certificate: Path) -> set[str]:
    leaf = x509.load_pem_x509_certificates(certificate.read_bytes())[0]
    return set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))


def test_a_wildcard_and_its_base_name_through_the_hook(testbed, workdir, write_conf, run_client):
    handle = f"hook.{RUN_TAG}.example.test"
    conf = write_conf([handle, f"*.{handle}"])
    with_hook(conf, testbed, challtestsrv_hook(testbed, workdir.root))
    assert run_client("-n", conf=conf).returncode == 0

    issued = run_client("-vv", handle, conf=conf)
    assert issued.returncode == EXIT_CHANGED, issued.stderr
    assert "hookproc: nothing imported after the jail" in issued.stderr
    assert issued.stderr.count("dns-01 challenge answered") == 2
    assert f"_acme-challenge.{handle}.: TXT record visible" in issued.stderr
    assert "hookproc" in {role for _, role in exited(issued.stderr, "0")}
    assert "chngproc" not in {role for _, role in exited(issued.stderr)}
    assert sans(workdir.certificate(handle)) == {handle, f"*.{handle}"}
    assert txt(testbed, handle) == []  # removed once the domain was done
    assert run_client(handle, conf=conf).returncode == 2  # current: nothing to do


def test_a_hook_that_fails_leaves_nothing_behind(testbed, workdir, write_conf, run_client):
    """The hook adds the record, then fails: the run fails saying so, and the record is removed."""
    handle = f"hook-fails.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    hook = challtestsrv_hook(testbed, workdir.root, after='[ "$1" = add ] && { echo "zone example.test: update refused" >&2; exit 3; }')
    with_hook(conf, testbed, hook)
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f"hook add _acme-challenge.{handle}.: {hook} failed (exit status 3): zone example.test: update refused" in result.stderr
    assert "dns-01 challenge answered" not in result.stderr  # the CA was never told to look
    assert txt(testbed, handle) == []
    assert not workdir.certificate(handle).exists()


def test_a_hook_that_hangs_is_killed_with_all_it_started(testbed, workdir, write_conf, run_client):
    handle = f"hook-hangs.{RUN_TAG}.example.test"
    marker = f"hook-hangs-{RUN_TAG}"
    conf = write_conf(handle)
    hook = write_hook(workdir.root, "hook", f'[ "$1" = add ] && {{ sh -c "sleep 600; : {marker}" & wait; }}\nexit 0\n')
    with_hook(conf, testbed, hook, "timeout 2")
    started = time.monotonic()
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert time.monotonic() - started < 60
    assert f"hook add _acme-challenge.{handle}.: {hook} did not finish within 2 s: killed" in result.stderr
    assert processes_with(marker) == [], "the hook's children outlived it"
    assert not workdir.certificate(handle).exists()


def test_a_record_never_seen_fails_before_the_ca_looks(testbed, workdir, write_conf, run_client):
    handle = f"hook-unseen.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    with_hook(conf, testbed, write_hook(workdir.root, "hook", "exit 0\n"), "wait 3")
    result = run_client("-vv", handle, conf=conf)
    address, port = testbed.dns_address
    assert result.returncode == EXIT_FAILED
    assert f"_acme-challenge.{handle}.: the TXT record is not visible at {address} port {port} after 3 s" in result.stderr
    assert "dns-01 challenge answered" not in result.stderr


def test_the_hook_sees_no_key_and_changes_no_certificate(testbed, workdir, write_conf, run_client):
    """What the program sees: the keys' directories empty, the certificate directory read-only, as root another user."""
    handle = f"hook-view.{RUN_TAG}.example.test"
    before = f"hook-view-before.{RUN_TAG}.example.test"
    assert run_client(before, conf=write_conf(before)).returncode == EXIT_CHANGED  # by http-01: keys and a certificate exist
    conf = write_conf(handle)
    seen = workdir.root / "seen"
    seen.mkdir()
    seen.chmod(0o1777)
    looks = (
        f'[ "$1" = add ] && {{ id -u > {seen}/uid; ls -A {workdir.key_dir} > {seen}/keys 2>&1;'
        f' ls -A {workdir.account_dir} > {seen}/accounts 2>&1;'
        f' ( : > {workdir.cert_dir}/planted ) 2> {seen}/write; env > {seen}/env; }}'
    )
    with_hook(conf, testbed, challtestsrv_hook(testbed, workdir.root, before=looks))
    result = run_client("-vv", handle, conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert (seen / "keys").read_text() == "" and (seen / "accounts").read_text() == ""
    assert os.listdir(workdir.key_dir) and os.listdir(workdir.account_dir)  # there all the same
    assert "Read-only file system" in (seen / "write").read_text()
    assert not (workdir.cert_dir / "planted").exists()
    if os.geteuid() == 0:
        assert (seen / "uid").read_text().strip() != "0"
    names = {line.split("=", 1)[0] for line in (seen / "env").read_text().splitlines()}
    assert names <= {"PATH", "ACME_ACTION", "ACME_NAME", "ACME_RECORD", "ACME_VALUE", "PWD", "SHLVL", "_", "OLDPWD"}


def test_a_hook_others_may_change_is_refused_at_the_check(testbed, workdir, write_conf, run_client):
    handle = f"hook-writable.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    hook = write_hook(workdir.root, "hook", "exit 0\n")
    hook.chmod(0o757)
    with_hook(conf, testbed, hook)
    result = run_client("-n", conf=conf)
    assert result.returncode == 1
    assert f"{hook}: group or others may write it, and so run code as the hook" in result.stderr
    hook.chmod(0o755)
    os.chmod(workdir.root, stat.S_IMODE(os.stat(workdir.root).st_mode) | 0o002)
    try:
        result = run_client(handle, conf=conf)
    finally:
        os.chmod(workdir.root, 0o755)
    assert result.returncode == EXIT_FAILED
    assert "decides what runs as the hook" in result.stderr


def test_dns_01_and_http_01_domains_in_one_run(testbed, workdir, write_conf, run_client):
    by_directory = f"mixed-http.{RUN_TAG}.example.test"
    by_hook = f"mixed-dns.{RUN_TAG}.example.test"
    first = write_conf(by_directory, filename="http.conf").read_text()
    second = write_conf([by_hook, f"*.{by_hook}"], filename="dns.conf")
    with_hook(second, testbed, challtestsrv_hook(testbed, workdir.root))
    conf = workdir.root / "acme-client.conf"
    second_blocks = second.read_text().split("\ndomain ", 1)[1]
    conf.write_text(first + "\ndomain " + second_blocks)
    result = run_client("-vv", conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert sans(workdir.certificate(by_hook)) == {by_hook, f"*.{by_hook}"}
    assert workdir.certificate(by_directory).exists()
    assert {"chngproc", "hookproc"} <= {role for _, role in exited(result.stderr, "0")}


def test_a_hook_beside_the_keys_is_refused_before_anything_is_ordered(testbed, workdir, write_conf, run_client):
    """The keys' directory is empty in the hook's view: a program kept there could not run."""
    handle = f"hook-hidden.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    hook = write_hook(workdir.key_dir, "hook", "exit 0\n")
    with_hook(conf, testbed, hook)
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f"hook {hook} is in {workdir.key_dir}, which holds a key: the hook cannot see it there" in result.stderr
    assert not workdir.certificate(handle).exists()


def test_a_hookproc_killed_mid_run_has_its_records_removed_by_a_sweeper(testbed, workdir, write_conf, run_client):
    """SIGKILL leaves no clean-up to hookproc: its journal tells the parent which record to remove, and a sweeper does."""
    handle = f"hook-killed.{RUN_TAG}.example.test"
    shared = workdir.root / "shared"  # where the hook, as another user when run by root, may write
    shared.mkdir()
    shared.chmod(0o1777)
    marker = shared / "added"
    conf = write_conf(handle)
    hook = challtestsrv_hook(testbed, workdir.root, after=f'[ "$1" = add ] && {{ touch {marker}; sleep 30; }}')
    with_hook(conf, testbed, hook)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(run_client("-vv", handle, conf=conf)))
    thread.start()
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert txt(testbed, handle) != []  # added, and the program still runs
    assert processes_with(f"{hook} add") != []  # the program, still running
    hookprocs = child_processes(f'"program":"{hook}"')
    assert len(hookprocs) == 1
    os.kill(hookprocs[0], signal.SIGKILL)
    thread.join(timeout=90)
    stderr = result[0].stderr
    assert result[0].returncode == EXIT_FAILED
    assert "hookproc ended with 1 DNS record(s) in place; removing them" in stderr, stderr
    assert f"removed _acme-challenge.{handle}., left by a hookproc that died" in stderr, stderr
    assert txt(testbed, handle) == []
    assert processes_with(f"{hook} add") == []  # the program died with hookproc


@pytest.mark.skipif(not nameserver.available(), reason="BIND's named and nsupdate are not installed (tools/test-deps.sh installs them)")
def test_the_nsupdate_example_against_a_real_name_server(make_testbed, workdir, write_conf, run_client):
    """examples/hooks/nsupdate, unchanged, updates a zone BIND serves with a TSIG key; pebble validates there."""
    zone = f"nsupdate-{RUN_TAG}.test"
    handle = f"www.{zone}"
    with nameserver.NameServer(workdir.root / "named", zone) as server:
        pebble = make_testbed(dns_server=server.address, serve_challenges=False)
        address, port = server.address
        wrapper = write_hook(
            workdir.root, "hook",
            f'NSUPDATE_SERVER="{address} {port}" NSUPDATE_KEY={server.key_file} exec {EXAMPLE_HOOK.parent / "nsupdate"} "$@"\n',
        )
        conf = write_conf([handle, f"*.{zone}", zone], testbed=pebble)
        conf.write_text(re.sub(r"\tchallengedir [^\n]*\n", f'\tchallenge dns-01 hook "{wrapper}" resolver {address} port {port}\n', conf.read_text()))
        result = run_client("-vv", handle, conf=conf)
        assert result.returncode == EXIT_CHANGED, result.stderr + server.log()[-3000:]
        assert sans(workdir.certificate(handle)) == {handle, f"*.{zone}", zone}
        assert result.stderr.count("dns-01 challenge answered") == 3
        for name in (handle, zone):
            assert dns_query(server.address, f"_acme-challenge.{name}", "TXT") == []  # each record deleted
