"""proc/hook_view.py: what the parent hides from a dns-01 hook and what it shows read-only, from the configuration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from acme_conf.config.plan import AccountBinding, DnsHook
from acme_conf.errors import ProcessFailure
from acme_conf.proc.settings import RunOptions, shared_settings
from acme_conf.proc.hook_view import hidden_paths, read_only_paths
from acme_conf.proc.spec import HookSettings
from test_spec_settings import AUTHORITY, JOB


def test_every_key_directory_is_hidden_as_named_and_where_its_links_lead(tmp_path: Path) -> None:
    real = tmp_path / "real-keys"
    real.mkdir()
    (tmp_path / "keys").symlink_to(real)
    binding = AccountBinding("kid", tmp_path / "mac" / "mac.key", "HS256")
    authority = replace(AUTHORITY, account_key=tmp_path / "account" / "a.key", previous_account_key=tmp_path / "old" / "b.key", binding=binding)
    job = replace(JOB, domain_key=tmp_path / "keys" / "d.key", authority=authority)
    hidden = hidden_paths((job,))
    assert set(hidden) == {str(tmp_path / d) for d in ("account", "old", "mac", "keys", "real-keys")}


@pytest.mark.parametrize("key", ["/etc/domain.key", "/root/account.key"])
def test_a_key_directly_in_a_directory_the_program_needs_is_refused(key: str) -> None:
    with pytest.raises(ProcessFailure, match="which a dns-01 hook must see: give the key a directory of its own"):
        hidden_paths((replace(JOB, domain_key=Path(key)),))


def test_the_whole_configuration_is_hidden_not_only_the_domains_of_the_run(tmp_path: Path) -> None:
    """`acme-client a.example` with a hook: b.example's key, and an authority no domain of the run uses, hidden too."""
    other_authority = replace(AUTHORITY, name="other", account_key=tmp_path / "other-account" / "o.key")
    ran = replace(JOB, domain_key=tmp_path / "a" / "a.key", dns_hook=DnsHook(Path("/usr/local/libexec/hook")))
    not_run = replace(JOB, handle="b.example", domain_key=tmp_path / "b" / "b.key")
    options = RunOptions(every_domain=(ran, not_run), every_authority=(AUTHORITY, other_authority))
    settings = shared_settings("chngproc", (ran,), options)
    assert isinstance(settings, HookSettings)
    assert {str(tmp_path / d) for d in ("a", "b", "other-account")} <= set(settings.hidden)
    assert "/etc/ssl" in settings.read_only or "/etc/ssl" in [str(Path(p)) for p in settings.read_only]


def test_read_only_directories_are_bound_where_their_links_lead(tmp_path: Path) -> None:
    real = tmp_path / "real-certs"
    real.mkdir()
    (tmp_path / "certs").symlink_to(real)
    job = replace(JOB, cert_dir=tmp_path / "certs", dns_hook=DnsHook(Path("/bin/true")))
    assert str(real) in read_only_paths((job,), tmp_path / "state")


def test_a_challenge_directory_only_another_way_to_validate_would_use_is_not_bound(tmp_path: Path) -> None:
    """A tls-alpn-01 domain keeps the default challengedir in its plan, and uses none: nothing to show read-only."""
    served = tmp_path / "www"
    served.mkdir()
    by_tls = replace(JOB, challengedir=served, tls_alpn=("::", 443))
    by_files = replace(JOB, challengedir=served)
    assert str(served) not in read_only_paths((by_tls,), tmp_path / "state")
    assert str(served) in read_only_paths((by_files,), tmp_path / "state")
