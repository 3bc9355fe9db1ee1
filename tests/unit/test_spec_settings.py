"""ChildSpec serialisation, and what main tells each child (settings_for, _name_in)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from acme_conf.config.plan import Authority, DnsHook, DomainJob, KeyType, Location, RunHook
from acme_conf.proc import settings, spawner
from acme_conf.errors import ProcessFailure
from acme_conf.proc.run_hook import run_hook_settings
from acme_conf.proc.settings import SHARED_ROLES, RunOptions, settings_for, shared_name, shared_plans, shared_settings
from acme_conf.proc.spec import (
    ROLES,
    SETTINGS_TYPES,
    AccountSettings,
    CertSettings,
    ChildSpec,
    ChngSettings,
    DnsSettings,
    FileSettings,
    HookSettings,
    HttpSettings,
    KeySettings,
    NetSettings,
    RevokeSettings,
    RunHookSettings,
    TlsSettings,
    Settings,
)

AUTHORITY = Authority(
    name="pebble",
    api_url="https://127.0.0.1:14000/dir",
    account_key=Path("/etc/acme/pebble.key"),
    account_keytype=KeyType.RSA,
    contact="mailto:admin@example.com",
    insecure=False,
    ca_file=Path("/etc/acme/pebble-ca.pem"),
    location=Location("/etc/acme-client.conf", 1),
)

JOB = DomainJob(
    handle="example.com",
    names=("example.com", "www.example.com", "2001:db8::1"),
    domain_key=Path("/etc/ssl/private/example.com.key"),
    keytype=KeyType.ECDSA,
    cert_dir=Path("/etc/ssl"),
    certificate=Path("/etc/ssl/example.com.crt"),
    chain=Path("/etc/ssl/example.com.chain.pem"),
    fullchain=Path("/etc/ssl/example.com.fullchain.pem"),
    authority=AUTHORITY,
    challengedir=Path("/var/www/acme"),
    profile="shortlived",
    location=Location("/etc/acme-client.conf", 10),
)

SAMPLE_SETTINGS = {
    "netproc": NetSettings("https://ca/dir", "/ca.pem", False, "mailto:a@b", ("a.example", "192.0.2.1"), "p", True),
    "dnsproc": DnsSettings(),
    "acctproc": AccountSettings(
        "/k/acct.key", "rsa", "https://ca/dir", "", False, (("a.example", "192.0.2.1"), ("b.example",)), ("p", "")
    ),
    "keyproc": KeySettings("/k/dom.key", "ecdsa", ("a.example", "b.example"), public_only=True),
    "chngproc": ChngSettings("/var/www/acme", (2, 1), (0, 1)),
    "certproc": CertSettings(("a.example",)),
    "fileproc": FileSettings("/etc/ssl", "a.crt", "", "a.fullchain.pem", False),
    "revokeproc": RevokeSettings("/etc/ssl/a.crt", ("a.example",), True, False),
    "httpproc": HttpSettings("::", 80, (2, 1), (0, 0), 7),
    "hookproc": HookSettings(
        "/usr/local/libexec/hook", "_acmehook", 30, ("192.0.2.53", 53), 120, (("a.example", "*.a.example"),), (0,),
        ("/etc/ssl/private",), ("/etc/ssl/acme",),
    ),
    "tlsproc": TlsSettings("::", 443, (("a.example", "192.0.2.1"), ("b.example",)), (0, 0), 7),
    "runhookproc": RunHookSettings(
        "changed", "/usr/bin/systemctl", ("reload", "nginx.service"), "_acmehook", 30, 9, ("/etc/ssl/private",), ("/etc/ssl",)
    ),
}


# ChildSpec ------------------------------------------------------------------------------------------


def test_every_role_has_a_settings_type_and_a_sample() -> None:
    assert set(ROLES) == set(SETTINGS_TYPES) == set(SAMPLE_SETTINGS)


@pytest.mark.parametrize("role", ROLES)
def test_spec_json_round_trip(role: str) -> None:
    spec = ChildSpec(
        role=role,
        handle="example.com",
        verbosity=2,
        strict_sandbox=True,
        channels=(("netproc", 5), ("fileproc", 9)),
        settings=SAMPLE_SETTINGS[role],
        startup_fd=11,
    )
    text = spec.to_json()
    json.loads(text)  # plain JSON, nothing executable
    again = ChildSpec.from_json(text)
    assert again == spec
    assert type(again.settings) is SETTINGS_TYPES[role]
    assert again.channel_fd("fileproc") == 9
    assert again.startup_fd == 11


def test_a_spec_has_no_startup_pipe_unless_given_one() -> None:
    spec = ChildSpec("dnsproc", "authority pebble", 0, False, (("netproc", 3),), DnsSettings())
    assert ChildSpec.from_json(spec.to_json()).startup_fd == -1


def real_settings(role: str, options: RunOptions) -> Settings:
    """What main tells `role` about JOB: the shared roles' settings are not the domain's own."""
    if role == "httpproc":  # a chngproc's place, for a domain with the built-in responder
        return shared_settings("chngproc", [replace(JOB, responder=("::1", 8080))], options)
    if role == "hookproc":  # a chngproc's place, for a domain with a dns-01 hook
        return shared_settings("chngproc", [replace(JOB, dns_hook=DnsHook(Path("/usr/local/libexec/hook")))], options)
    if role == "tlsproc":  # a chngproc's place, for a domain with the built-in tls-alpn-01 responder
        return shared_settings("chngproc", [replace(JOB, tls_alpn=("::1", 8443))], options)
    if role == "runhookproc":  # once after the run, for `hook changed`
        return run_hook_settings(RunHook("changed", Path("/usr/bin/systemctl"), ("reload", "nginx")), [JOB], options, 9)
    if role in SHARED_ROLES:
        return shared_settings(role, [JOB], options)
    return settings_for(role, JOB, options)


@pytest.mark.parametrize("role", ROLES)
def test_spec_from_the_real_settings_round_trips(role: str) -> None:
    spec = ChildSpec(role, JOB.handle, 0, False, (), real_settings(role, RunOptions(force=True)))
    assert ChildSpec.from_json(spec.to_json()) == spec


def test_spec_with_awkward_text_round_trips() -> None:
    settings = CertSettings(("é.example", 'quote".example', "back\\slash"))
    spec = ChildSpec("certproc", "hän\ndle", 0, False, (), settings)
    assert ChildSpec.from_json(spec.to_json()) == spec


def test_missing_channel_is_a_key_error() -> None:
    spec = ChildSpec("dnsproc", "h", 0, False, (("netproc", 3),), DnsSettings())
    with pytest.raises(KeyError, match="dnsproc has no channel to certproc"):
        spec.channel_fd("certproc")


def test_unknown_role_in_json_is_refused() -> None:
    text = ChildSpec("dnsproc", "h", 0, False, (), DnsSettings()).to_json().replace('"dnsproc"', '"evilproc"')
    with pytest.raises(KeyError):
        ChildSpec.from_json(text)


# settings_for -----------------------------------------------------------------------------------------


def test_netproc_settings() -> None:
    settings = settings_for("netproc", JOB, RunOptions(revoke=True))
    assert settings == NetSettings(
        api_url="https://127.0.0.1:14000/dir",
        ca_file="/etc/acme/pebble-ca.pem",
        insecure=False,
        contact="mailto:admin@example.com",
        names=JOB.names,
        profile="shortlived",
        revoke=True,
    )


def test_netproc_settings_without_optional_values() -> None:
    authority = replace(AUTHORITY, contact=None, ca_file=None, insecure=True)
    settings = settings_for("netproc", replace(JOB, authority=authority, profile=None), RunOptions())
    assert isinstance(settings, NetSettings)
    assert (settings.ca_file, settings.contact, settings.profile, settings.insecure) == ("", "", "", True)


def test_key_settings_name_only_their_own_key() -> None:
    assert shared_settings("acctproc", [JOB], RunOptions()) == AccountSettings(
        "/etc/acme/pebble.key", "rsa", AUTHORITY.api_url, AUTHORITY.contact, False, (JOB.names,), ("shortlived",),
        replaces=(True,),
    )
    assert settings_for("keyproc", JOB, RunOptions()) == KeySettings(
        "/etc/ssl/private/example.com.key", "ecdsa", JOB.names
    )


def test_acctproc_learns_what_each_domain_may_have_signed_in_the_order_of_its_channels() -> None:
    other = replace(JOB, handle="b.example.com", names=("b.example.com",), profile=None)
    settings = shared_settings("acctproc", [JOB, other], RunOptions(revoke=True))
    assert isinstance(settings, AccountSettings)
    assert settings.names == (JOB.names, ("b.example.com",))
    assert settings.profiles == ("shortlived", "")
    assert settings.revoke


def test_other_settings() -> None:
    two = replace(JOB, handle="b.example.com", names=("b.example.com",))
    assert shared_settings("dnsproc", [JOB], RunOptions()) == DnsSettings()
    assert shared_settings("chngproc", [JOB, two], RunOptions()) == ChngSettings("/var/www/acme", (3, 1), (0, 0))
    elsewhere = replace(JOB, handle="c.example.com", authority=replace(AUTHORITY, name="other"))
    settings = shared_settings("chngproc", [JOB, elsewhere, two], RunOptions())
    assert settings.authorities == (0, 1, 0)  # which acctproc tells each domain's account
    assert settings_for("certproc", JOB, RunOptions()) == CertSettings(JOB.names)


def test_fileproc_gets_file_names_inside_cert_dir() -> None:
    assert settings_for("fileproc", JOB, RunOptions()) == FileSettings(
        cert_dir="/etc/ssl",
        certificate="example.com.crt",
        chain="example.com.chain.pem",
        fullchain="example.com.fullchain.pem",
        revoke=False,
    )
    assert settings_for("fileproc", JOB, RunOptions(revoke=True)).revoke


def test_fileproc_with_only_a_full_chain() -> None:
    job = replace(JOB, certificate=None, chain=None)
    assert settings_for("fileproc", job, RunOptions()) == FileSettings("/etc/ssl", "", "", "example.com.fullchain.pem", False)


@pytest.mark.parametrize(
    "outside",
    [Path("/etc/other/example.com.crt"), Path("/etc/ssl/sub/example.com.crt"), Path("/example.com.crt"), Path("/etc")],
)
@pytest.mark.parametrize("field", ["certificate", "chain", "fullchain"])
def test_fileproc_refuses_a_path_outside_cert_dir(outside: Path, field: str) -> None:
    job = replace(JOB, **{field: outside})
    with pytest.raises(ProcessFailure, match=f"{outside} is not in the certificate directory /etc/ssl"):
        settings_for("fileproc", job, RunOptions())


def test_name_in() -> None:
    assert settings._name_in(Path("/etc/ssl"), Path("/etc/ssl/a.pem")) == "a.pem"
    assert settings._name_in(Path("/etc/ssl"), None) == ""
    with pytest.raises(ProcessFailure):
        settings._name_in(Path("/etc/ssl"), Path("/etc/ssl2/a.pem"))
    with pytest.raises(ProcessFailure):
        settings._name_in(Path("/etc/ssl"), Path("/etc/ssl/x/a.pem"))


def test_revokeproc_inspects_the_certificate_else_the_full_chain() -> None:
    options = RunOptions(force=True, revoke=False)
    assert settings_for("revokeproc", JOB, options) == RevokeSettings("/etc/ssl/example.com.crt", JOB.names, True, False)
    only_fullchain = replace(JOB, certificate=None)
    assert settings_for("revokeproc", only_fullchain, RunOptions(revoke=True)) == RevokeSettings(
        "/etc/ssl/example.com.fullchain.pem", JOB.names, False, True
    )


def test_revokeproc_needs_a_certificate_or_full_chain() -> None:
    with pytest.raises(ProcessFailure, match="neither a certificate nor a full chain"):
        settings_for("revokeproc", replace(JOB, certificate=None, fullchain=None), RunOptions())


def test_the_shared_roles_are_not_a_chain_role() -> None:
    for role in SHARED_ROLES:
        with pytest.raises(ProcessFailure, match="unknown role"):
            settings_for(role, JOB, RunOptions())
    with pytest.raises(ProcessFailure, match="unknown role"):
        shared_settings("keyproc", [JOB], RunOptions())
    with pytest.raises(ProcessFailure, match="keyproc is not shared"):
        shared_name("keyproc", JOB)


def test_shared_processes_are_per_authority_and_per_challenge_directory() -> None:
    other_authority = replace(AUTHORITY, name="other", account_key=Path("/etc/acme/other.key"))
    same_dir = replace(JOB, handle="b.example.com")
    other_dir = replace(JOB, handle="c.example.com", challengedir=Path("/srv/acme"))
    elsewhere = replace(JOB, handle="d.example.com", authority=other_authority)

    plans = {plan.name: plan for plan in shared_plans([JOB, same_dir, other_dir, elsewhere])}

    assert set(plans) == {"authority pebble", "authority other", "challengedir /var/www/acme", "challengedir /srv/acme"}
    assert [job.handle for job in plans["authority pebble"].jobs] == ["example.com", "b.example.com", "c.example.com"]
    assert [job.handle for job in plans["challengedir /var/www/acme"].jobs] == [
        "example.com", "b.example.com", "d.example.com"
    ]
    assert [job.handle for job in plans["challengedir /srv/acme"].jobs] == ["c.example.com"]
    assert plans["authority other"].roles == ("dnsproc", "acctproc")
    assert plans["challengedir /srv/acme"].roles == ("chngproc",)


def test_unknown_role() -> None:
    with pytest.raises(ProcessFailure, match="unknown role"):
        settings_for("evilproc", JOB, RunOptions())


def test_no_child_learns_another_childs_key() -> None:
    for role in ROLES:
        text = ChildSpec(role, JOB.handle, 0, False, (), real_settings(role, RunOptions())).to_json()
        if role != "acctproc":
            assert "pebble.key" not in text, role
        if role != "keyproc":
            assert "private/example.com.key" not in text, role


def test_the_sandbox_has_a_policy_for_every_role_and_no_other() -> None:
    from acme_conf.sandbox import POLICIES

    assert set(POLICIES) == set(ROLES)


def test_each_authority_and_challenge_directory_sharing_a_domain_get_one_channel() -> None:
    """acctproc tells chngproc the thumbprint over it; each side lists its ends in its domains' order."""
    other = replace(AUTHORITY, name="other", account_key=Path("/etc/acme/other.key"))
    jobs = [
        JOB,
        replace(JOB, handle="b.example.com", challengedir=Path("/srv/acme")),
        replace(JOB, handle="c.example.com", authority=other, challengedir=Path("/srv/acme")),
        replace(JOB, handle="d.example.com"),
    ]
    served = {plan.name: plan.jobs for plan in shared_plans(jobs)}
    links = spawner.shared_links(served)
    try:
        def peers(name: str, role: str) -> list[str]:
            return [peer for peer, _ in links.get(name, {}).get(role, [])]

        assert peers("authority pebble", "acctproc") == ["chngproc", "chngproc"]  # /var/www/acme, then /srv/acme
        assert peers("authority other", "acctproc") == ["chngproc"]
        assert peers("challengedir /var/www/acme", "chngproc") == ["acctproc"]
        assert peers("challengedir /srv/acme", "chngproc") == ["acctproc", "acctproc"]  # pebble, then other
        # the same socketpair at both ends: pebble's second link is /srv/acme's first
        pebble_srv = links["authority pebble"]["acctproc"][1][1]
        srv_pebble = links["challengedir /srv/acme"]["chngproc"][0][1]
        pebble_srv.send(b"x")
        assert srv_pebble.recv(1) == b"x"
    finally:
        for roles in links.values():
            for ends in roles.values():
                for _, end in ends:
                    end.close()
