"""A guided first run (proc/preflight.py): a domain missing a directory says so, one line each, and starts nothing."""

from __future__ import annotations

from test_issue import EXIT_CHANGED, EXIT_FAILED, EXIT_UNCHANGED


def test_a_domain_missing_its_directories_starts_nothing_while_another_is_issued(testbed, workdir, write_conf, run_client):
    ready, unready = "ready.preflight.example.test", "unready.preflight.example.test"
    missing = workdir.root / "not-made-yet"
    extra = f"""
domain {unready} {{
	domain key "{missing}/keys/{unready}.key" ecdsa
	domain full chain certificate "{missing}/certs/{unready}.pem"
	sign with pebble
	challengedir "{missing}/challenges"
}}
"""
    conf = write_conf(ready, extra=extra)

    result = run_client("-vv", conf=conf)

    assert result.returncode == EXIT_FAILED, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith(f"acme-client: {unready}: ")]
    assert said[:3] == [
        f"acme-client: {unready}: key directory {missing}/keys does not exist: create it, then run again",
        f"acme-client: {unready}: certificate directory {missing}/certs does not exist: create it, then run again",
        f"acme-client: {unready}: challengedir {missing}/challenges does not exist: create it, then run again",
    ], result.stderr
    # no process of its own was started: none of its roles said anything
    assert not [line for line in said if any(f": {role}: " in line for role in ("netproc", "keyproc", "certproc", "fileproc"))]
    assert not missing.exists()
    assert workdir.fullchain(ready).exists()  # the other domain is issued in the same run


def test_a_missing_account_key_directory_stops_every_domain_of_that_authority_before_an_account_is_made(
    testbed, workdir, run_client
):
    handle = "no-account-dir.preflight.example.test"
    account_key = workdir.root / "no-such-dir" / "account.key"
    conf = workdir.root / "acme-client.conf"
    conf.write_text(
        testbed.authority_block("pebble", account_key, "ecdsa")
        + f"""
domain {handle} {{
	domain key "{workdir.domain_key(handle)}" ecdsa
	domain full chain certificate "{workdir.fullchain(handle)}"
	sign with pebble
	challengedir "{testbed.challenge_dir}"
}}
"""
    )

    result = run_client(conf=conf)

    assert result.returncode == EXIT_FAILED, result.stderr
    assert f"acme-client: {handle}: account key directory {account_key.parent} does not exist: create it, then run again" in result.stderr
    assert "acctproc" not in result.stderr and "netproc" not in result.stderr
    assert not workdir.domain_key(handle).exists()  # keyproc never ran


def test_a_current_certificate_needs_none_of_its_directories_to_be_left_alone(testbed, workdir, write_conf, run_client):
    handle = "current.preflight.example.test"
    conf = write_conf(handle)
    assert run_client(conf=conf).returncode == EXIT_CHANGED
    gone = workdir.root / "webroot-moved-away"
    conf.write_text(conf.read_text().replace(f'challengedir "{testbed.challenge_dir}"', f'challengedir "{gone}"'))

    for _ in range(2):  # judged by a check, then recognised from what the check kept
        result = run_client(conf=conf)
        assert result.returncode == EXIT_UNCHANGED, result.stderr  # nothing to do: no directory is needed
        assert "does not exist: create it" not in result.stderr
