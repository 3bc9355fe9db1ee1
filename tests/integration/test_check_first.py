"""A certificate that exists is checked before anything else starts (real pebble).

Most runs from cron find nothing due: each such domain then costs a
revokeproc and the keyproc that tells it the domain key, not a chain and
the shared processes.
"""

from __future__ import annotations

from test_issue import EXIT_CHANGED, EXIT_FAILED, EXIT_UNCHANGED, exited

from acme_conf.proc.settings import CHAIN_ROLES, SHARED_ROLES

CHECK = ["keyproc", "revokeproc"]  # the check of a domain with a certificate


def test_a_run_with_nothing_due_starts_only_a_check_per_domain(write_conf, run_client):
    handles = ("first.current.example.test", "second.current.example.test")
    conf = write_conf(*handles)
    assert run_client(conf=conf).returncode == EXIT_CHANGED

    again = run_client("-vv", conf=conf)

    assert again.returncode == EXIT_UNCHANGED, again.stderr
    assert sorted(exited(again.stderr)) == sorted((handle, role) for handle in handles for role in CHECK), again.stderr
    for handle in handles:
        assert f"{handle}: nothing to do" in again.stderr
    assert "chain started" not in again.stderr


def test_only_the_domains_due_get_a_chain(workdir, write_conf, run_client):
    current, missing = "kept.mixed.example.test", "new.mixed.example.test"
    assert run_client(conf=write_conf(current)).returncode == EXIT_CHANGED

    both = run_client("-vv", conf=write_conf(current, missing))

    assert both.returncode == EXIT_CHANGED, both.stderr
    roles = exited(both.stderr)
    assert sorted(role for name, role in roles if name == current) == CHECK  # checked, then done
    # no certificate: no check, and no revokeproc in its chain either (the parent saw the file missing)
    assert sorted(role for name, role in roles if name == missing) == sorted(set(CHAIN_ROLES) - {"revokeproc"})
    assert any(line.startswith(f"acme-client: {missing}: ") and line.endswith(": no certificate yet; no revokeproc")
               for line in both.stderr.splitlines()), both.stderr
    shared = [role for name, role in roles if name.startswith(("authority ", "challengedir "))]
    assert sorted(shared) == sorted(SHARED_ROLES)  # started, for the one domain due
    assert workdir.certificate(missing).exists()


def test_a_due_certificate_is_checked_then_renewed_by_its_chain(workdir, write_conf, run_client):
    handle = "renamed.example.test"
    assert run_client(conf=write_conf(handle)).returncode == EXIT_CHANGED
    before = workdir.certificate(handle).read_bytes()

    renewed = run_client("-vv", conf=write_conf([handle, f"www.{handle}"]))  # a new name: renewal due

    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    revokeprocs = [role for name, role in exited(renewed.stderr) if name == handle and role == "revokeproc"]
    assert len(revokeprocs) == 2  # the check, then the chain's own
    assert workdir.certificate(handle).read_bytes() != before


def test_force_goes_straight_to_the_chain(workdir, write_conf, run_client):
    handle = "forced.example.test"
    conf = write_conf(handle)
    assert run_client(conf=conf).returncode == EXIT_CHANGED

    forced = run_client("-vv", "-F", conf=conf)

    assert forced.returncode == EXIT_CHANGED, forced.stderr
    assert sorted(role for name, role in exited(forced.stderr) if name == handle) == sorted(CHAIN_ROLES)


def test_a_certificate_that_cannot_be_checked_fails_its_domain_alone(workdir, write_conf, run_client):
    broken, fine = "broken.check.example.test", "fine.check.example.test"
    workdir.certificate(broken).write_text("not a certificate\n")
    conf = write_conf(broken, fine)

    result = run_client("-vv", conf=conf)

    assert result.returncode == EXIT_FAILED
    assert f"{workdir.certificate(broken)}: not a PEM certificate; run acme-client -F to replace it" in result.stderr
    assert sorted(role for name, role in exited(result.stderr) if name == broken) == CHECK  # no chain for it
    assert workdir.certificate(fine).exists()
    assert workdir.certificate(broken).read_text() == "not a certificate\n"  # left as it was
    assert "Traceback" not in result.stderr


def test_a_certificate_for_another_key_is_renewed_however_long_it_is_valid(workdir, write_conf, run_client):
    """The key file was replaced (restored from elsewhere, say): the installed certificate is not for it."""
    handle = "rekeyed.example.test"
    conf = write_conf(handle)
    assert run_client(conf=conf).returncode == EXIT_CHANGED
    before = workdir.certificate(handle).read_bytes()
    workdir.domain_key(handle).unlink()  # the next run creates a new key

    renewed = run_client("-v", conf=conf)

    assert renewed.returncode == EXIT_CHANGED, renewed.stderr
    assert "certificate is not for the domain key" in renewed.stderr
    assert workdir.certificate(handle).read_bytes() != before
    assert run_client(conf=conf).returncode == EXIT_UNCHANGED  # now it is for the key: nothing to do
