"""dns-persist-01 and wildcard names, against pebble with real validation (pebble-challtestsrv answers DNS).

`acme-client -P` prints the record to publish for a domain block and its
account (the account is looked up, or created, to know its URL); the test
publishes it through challtestsrv's management API, as an administrator
would in the zone, once. Then issuance needs no file, no hook and no DNS
write: the CA looks the record up. A wildcard and its base name share one
record, with policy=wildcard.
"""

from __future__ import annotations

import re

from cryptography import x509

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED, exited

RECORD = re.compile(r'^(_validation-persist\.\S+\.) IN TXT "([^"]+)"$')


def persist_conf(conf) -> None:
    """Every domain block of `conf` validates with dns-persist-01 instead of its challenge directory."""
    text = conf.read_text()
    conf.write_text(re.sub(r"\tchallengedir [^\n]*\n", "\tchallenge dns-persist-01\n", text))


def publish(testbed, stdout: str) -> list[str]:
    """Publish every record -P printed; their names."""
    names = []
    for line in stdout.splitlines():
        found = RECORD.fullmatch(line)
        assert found, line
        testbed.set_txt(found.group(1), found.group(2))
        names.append(found.group(1))
    return names


def test_a_wildcard_and_its_base_name_by_one_published_record(testbed, workdir, write_conf, run_client):
    handle = f"persist.{RUN_TAG}.example.test"
    conf = write_conf([handle, f"*.{handle}"])
    persist_conf(conf)
    assert run_client("-n", conf=conf).returncode == 0

    printed = run_client("-v", "-P", handle, conf=conf)
    assert printed.returncode == EXIT_CHANGED, printed.stderr
    lines = printed.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"_validation-persist.{handle}. IN TXT \"pebble.letsencrypt.org; accounturi=https://")
    assert lines[0].endswith('; policy=wildcard"')
    assert not workdir.certificate(handle).exists()  # nothing ordered
    publish(testbed, printed.stdout)

    issued = run_client("-vv", handle, conf=conf)
    assert issued.returncode == EXIT_CHANGED, issued.stderr
    assert "dns-persist-01 challenge answered" in issued.stderr
    assert "chngproc" not in {role for _, role in exited(issued.stderr)}  # nothing published at validation time
    leaf = x509.load_pem_x509_certificates(workdir.certificate(handle).read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert set(names) == {handle, f"*.{handle}"}
    assert run_client(handle, conf=conf).returncode == 2  # current: nothing to do


def test_without_the_record_the_failure_says_what_to_publish(testbed, workdir, write_conf, run_client):
    handle = f"persist-missing.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    persist_conf(conf)
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f'publish _validation-persist.{handle}. IN TXT "pebble.letsencrypt.org; accounturi=https://' in result.stderr
    assert "acme-client -P prints them" in result.stderr
    assert not workdir.certificate(handle).exists()


def test_a_record_for_another_account_does_not_validate(testbed, workdir, write_conf, run_client):
    handle = f"persist-other.{RUN_TAG}.example.test"
    conf = write_conf(handle)
    persist_conf(conf)
    testbed.set_txt(f"_validation-persist.{handle}.", "pebble.letsencrypt.org; accounturi=https://127.0.0.1/my-account/1")
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED
    assert "accounturi mismatch" in result.stderr


def test_a_wildcard_needs_dns_persist(write_conf, run_client):
    handle = f"wild-http.{RUN_TAG}.example.test"
    conf = write_conf([handle, f"*.{handle}"])
    result = run_client("-n", conf=conf)
    assert result.returncode == EXIT_FAILED
    assert f"*.{handle}: a wildcard name needs `challenge dns-01 hook` or `challenge dns-persist-01` in the domain block" in result.stderr


def test_dns_persist_and_http_01_domains_in_one_run(testbed, workdir, write_conf, run_client):
    by_record = f"mixed-persist.{RUN_TAG}.example.test"
    by_file = f"mixed-http.{RUN_TAG}.example.test"
    conf = write_conf(by_record, by_file)
    text = conf.read_text()
    head, _, rest = text.partition(f"domain {by_file} {{")
    conf.write_text(re.sub(r"\tchallengedir [^\n]*\n", "\tchallenge dns-persist-01\n", head) + f"domain {by_file} {{" + rest)
    publish(testbed, run_client("-P", by_record, conf=conf).stdout)
    result = run_client("-vv", conf=conf)
    assert result.returncode == EXIT_CHANGED, result.stderr
    assert workdir.certificate(by_record).exists() and workdir.certificate(by_file).exists()
    assert f"{by_record}: dns-persist-01 challenge answered" in result.stderr
    assert f"{by_file}: http-01 challenge answered" in result.stderr
    assert "chngproc" in {role for _, role in exited(result.stderr, "0")}  # for the http-01 domain only
