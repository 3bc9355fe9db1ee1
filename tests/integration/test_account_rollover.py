"""Account key rollover against pebble (RFC 8555 section 7.3.5, real http-01).

An account made with key A; the configuration then names a new key B as
`account key` and A as `previous account key`: the run changes the
account's key to B (pebble then knows the account by B, not A) and issues
with it; the next run finds the account by B and changes nothing.
"""

from __future__ import annotations

import re
import shutil

from integration_common import RUN_TAG
from test_issue import EXIT_CHANGED, EXIT_FAILED


def test_the_account_key_is_changed_from_the_previous_one(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed()
    handle = f"rollover.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    first = run_client("-v", handle, conf=conf)
    assert first.returncode == EXIT_CHANGED, first.stderr
    assert "netproc: created account" in first.stderr
    account_url = re.search(r"netproc: created account (https://\S+)", first.stderr).group(1)

    old_key = workdir.account_key("pebble")
    previous = workdir.account_dir / "pebble.old.key"
    shutil.move(old_key, previous)  # the administrator keeps the old key aside; the new one is created
    text = conf.read_text().replace("\tca file ", f'\tprevious account key "{previous}"\n\tca file ', 1)
    conf.write_text(text)
    rolled = run_client("-v", "-F", handle, conf=conf)
    assert rolled.returncode == EXIT_CHANGED, rolled.stderr
    assert f"account {account_url}: key changed from the previous account key to the account key" in rolled.stderr
    assert "netproc: created account" not in rolled.stderr
    assert old_key.exists() and old_key.read_bytes() != previous.read_bytes()  # B, created by acctproc

    again = run_client("-v", "-F", handle, conf=conf)
    assert again.returncode == EXIT_CHANGED, again.stderr
    assert f"account {account_url}" in again.stderr
    assert "key changed" not in again.stderr
    assert "the previous account key is no longer needed" in again.stderr

    # pebble no longer knows the account by A: A as the account key, alone, makes a new account
    conf.write_text(text.replace(f'\tprevious account key "{previous}"\n', "").replace(str(old_key), str(previous)))
    by_old = run_client("-v", "-F", handle, conf=conf)
    assert by_old.returncode == EXIT_CHANGED, by_old.stderr
    assert "netproc: created account" in by_old.stderr and account_url not in by_old.stderr


def test_a_missing_previous_key_is_an_error_and_nothing_is_created(make_testbed, workdir, write_conf, run_client):
    pebble = make_testbed()
    handle = f"rollover-missing.{RUN_TAG}.example.test"
    conf = write_conf(handle, testbed=pebble)
    missing = workdir.account_dir / "nothing.key"
    conf.write_text(conf.read_text().replace("\tca file ", f'\tprevious account key "{missing}"\n\tca file ', 1))
    result = run_client(handle, conf=conf)
    assert result.returncode == EXIT_FAILED, result.stderr
    assert f"{missing}: the previous account key does not exist" in result.stderr
    assert not missing.exists() and not workdir.certificate(handle).exists()


def test_two_domains_of_one_authority_change_the_key_once(make_testbed, workdir, write_conf, run_client):
    """Chains run side by side (-j 2): one changes the key, the other finds the account by the new key."""
    pebble = make_testbed()
    handles = [f"roll-{n}.{RUN_TAG}.example.test" for n in (1, 2)]
    conf = write_conf(*handles, testbed=pebble)
    assert run_client(*handles, conf=conf).returncode == EXIT_CHANGED
    previous = workdir.account_dir / "pebble.old.key"
    shutil.move(workdir.account_key("pebble"), previous)
    conf.write_text(conf.read_text().replace("\tca file ", f'\tprevious account key "{previous}"\n\tca file ', 1))
    rolled = run_client("-v", "-F", "-j", "2", *handles, conf=conf)
    assert rolled.returncode == EXIT_CHANGED, rolled.stderr
    assert rolled.stderr.count("key changed from the previous account key to the account key") == 1, rolled.stderr
    assert "netproc: created account" not in rolled.stderr
