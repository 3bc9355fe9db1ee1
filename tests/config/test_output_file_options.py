"""`domain combined certificate` and each output file's `owner`, `group` and `mode`: read, refused, read back."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from acme_conf.config import dump, file_access
from acme_conf.config.plan import FileAccess

from config_testing import AUTHORITY, domain, errors_of, plan_of

C = "/nonexistent-acme-test/c"


def test_the_combined_file_and_each_files_access_read_back() -> None:
    plan = plan_of(
        AUTHORITY
        + domain(
            "a.example",
            "domain chain certificate chain.pem mode 644",
            f'domain full chain certificate "{C}/full.pem" group daemon',
            "domain combined certificate combined.pem mode 0440 group daemon owner root",
        )
    )
    job = plan.domains[0]
    assert job.combined == Path(f"{C}/combined.pem")
    assert job.access("combined") == FileAccess("root", "daemon", 0o440)
    assert job.access("full chain") == FileAccess(None, "daemon", None)
    assert job.access("chain") == FileAccess(None, None, 0o644)
    assert job.access("certificate") == FileAccess()
    text = dump(plan)
    assert f'\tdomain combined certificate "{C}/combined.pem" owner root group daemon mode 0440\n' in text
    assert f'\tdomain chain certificate "{C}/chain.pem" mode 0644\n' in text
    assert f'\tdomain certificate "{C}/a.example.crt"\n' in text
    assert dump(plan_of(text)) == text


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("domain combined certificate x.pem mode 0444", "mode 0444: others may read it, and it holds the private key"),
        ("domain combined certificate x.pem mode 0404", "others may read it"),
        ("domain chain certificate x.pem mode 0664", "mode 0664: the group or others may write it"),
        ("domain full chain certificate x.pem mode 0446", "the group or others may write it"),
        ("domain chain certificate x.pem mode 0744", "mode 0744: executable"),
        ("domain chain certificate x.pem mode 04444", "not an octal mode such as 0640"),
        ("domain chain certificate x.pem mode 0x44", "not an octal mode"),
        ("domain chain certificate x.pem mode 448", "not an octal mode"),
        ("domain chain certificate x.pem mode rw-r--r--", "not an octal mode"),
        ("domain chain certificate x.pem owner no-such-user-acme", "owner no-such-user-acme: no such user"),
        ("domain chain certificate x.pem group no-such-group-acme", "group no-such-group-acme: no such group"),
        ("domain chain certificate x.pem mode", "mode needs a value"),
        ("domain chain certificate x.pem mode 0444 mode 0400", "mode given twice"),
        ("domain chain certificate x.pem colour blue", "unknown option colour (owner, group, mode)"),
        ("domain combined certificate /elsewhere/x.pem", "the combined certificate must be in the certificate directory"),
        ('domain combined certificate "/nonexistent-acme-test/c/a.example.crt"', "already used as domain cert"),
    ],
)
def test_output_file_options_that_cannot_be_used(option: str, why: str) -> None:
    errors = errors_of(AUTHORITY + domain("a.example", option))
    assert len(errors) == 1 and errors[0].startswith("test.conf:8: ") and why in errors[0], errors


def test_a_second_combined_file_is_a_duplicate() -> None:
    errors = errors_of(AUTHORITY + domain("a.example", "domain combined certificate x.pem", "domain combined certificate y.pem"))
    assert errors == ["test.conf:9: duplicate combined"]


def test_without_root_a_file_goes_only_to_the_running_user_and_their_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a user that is not root (uid 65534, in no group but 65534): what chown(2) would refuse, -n refuses.
    monkeypatch.setattr(file_access.os, "geteuid", lambda: 65534)
    monkeypatch.setattr(file_access.os, "getegid", lambda: 65534)
    monkeypatch.setattr(file_access.os, "getgroups", lambda: [])
    errors = errors_of(
        AUTHORITY
        + domain("a.example", "domain chain certificate x.pem owner root", "domain full chain certificate y.pem group root")
    )
    assert errors == [
        "test.conf:8: domain chain certificate: owner root: only root may give a file to another user",
        "test.conf:9: domain full chain certificate: group root: not root, and not one of the running user's groups",
    ]
    plan_of(AUTHORITY + domain("a.example", "domain chain certificate x.pem owner nobody group nogroup mode 0400"))


def test_the_domain_keys_group_and_mode_read_back_after_its_type_and_size() -> None:
    plan = plan_of(
        AUTHORITY.replace('"/nonexistent-acme-test/a/ca.pem"', '"/nonexistent-acme-test/a/ca.pem" ecdsa')
        + domain("a.example").replace('a.example.key"', 'a.example.key" ecdsa p256 group daemon mode 0440')
        + domain("b.example").replace('b.example.key"', 'b.example.key" mode 0600')
    )
    a, b = plan.domains
    assert (a.keytype.value, a.key_size, a.access("domain key")) == ("ecdsa", 256, FileAccess(None, "daemon", 0o440))
    assert (b.keytype.value, b.key_size, b.access("domain key")) == ("rsa", None, FileAccess(None, None, 0o600))
    text = dump(plan)
    assert 'a.example.key" ecdsa p256 group daemon mode 0440\n' in text
    assert 'b.example.key" rsa mode 0600\n' in text
    assert dump(plan_of(text)) == text


@pytest.mark.parametrize(
    ("after", "why"),
    [
        ("owner daemon", "owner daemon: a key belongs to root or the running user"),
        ("mode 0440", "mode 0440: a group may read the private key: name it (group NAME)"),
        ("group daemon mode 0444", "others may read it, and it holds the private key"),
        ("group daemon mode 0460", "the group or others may write it"),
        ("2048", "unknown option 2048 (rsa or ecdsa and a size, then group, mode)"),
        ("rsa 1024", "rsa 1024: not a key size acme-client knows"),
        ("group no-such-group-acme", "group no-such-group-acme: no such group"),
    ],
)
def test_domain_key_access_that_cannot_be_used(after: str, why: str) -> None:
    errors = errors_of(AUTHORITY + domain("a.example").replace('a.example.key"', f'a.example.key" {after}'))
    assert len(errors) == 1 and errors[0].startswith("test.conf:6: ") and why in errors[0], errors


def test_an_existing_key_the_named_group_may_read_passes_the_check_and_another_group_does_not(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key = keys / "a.example.key"
    key.write_text("not checked here")
    key.chmod(0o440)
    daemon = grp.getgrnam("daemon").gr_gid
    os.chown(key, os.geteuid(), daemon)
    text = AUTHORITY + domain("a.example").replace(
        '"/nonexistent-acme-test/k/a.example.key"', f'"{key}" group daemon mode 0640'
    )
    plan_of(text)
    errors = errors_of(text.replace("group daemon", "group nogroup"))
    assert errors == [f"test.conf:6: {key}: group read/writable or world read/writable beyond what the configuration names (mode 0440, group {daemon})"]
    assert "group read/writable" in errors_of(text.replace(" group daemon mode 0640", ""))[0]  # nothing named: private


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        (
            'domain full chain certificate "/nonexistent-acme-test/c/a.pem"',
            'domain chain certificate "/nonexistent-acme-test/c/a.pem.1"',
            "domain chain file /nonexistent-acme-test/c/a.pem.1: the previous version of /nonexistent-acme-test/c/a.pem (at line ",
        ),
        (
            'domain chain certificate "/nonexistent-acme-test/c/b.pem.1"',
            'domain full chain certificate "/nonexistent-acme-test/c/b.pem"',
            "domain full chain file /nonexistent-acme-test/c/b.pem: its previous version would be kept as"
            " /nonexistent-acme-test/c/b.pem.1, which is used at line ",
        ),
    ],
)
def test_a_file_where_another_keeps_its_previous_version_is_refused(first: str, second: str, why: str) -> None:
    text = AUTHORITY + domain("a.example", first) + domain("b.example", second)
    assert any(why in error for error in errors_of(text)), errors_of(text)
