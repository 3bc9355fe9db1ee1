"""The plan a configuration makes: values, defaults, resolution, file checks."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from acme_conf.config import dump, load_plan_text
from acme_conf.config.plan import DEFAULT_CHALLENGEDIR, DomainJob, KeyType, Location, domain_job

from config_testing import AUTHORITY, domain, errors_of, plan_of

TWO_AUTHORITIES = AUTHORITY + """\
authority other {
	api url "https://other.example/dir"
	account key "/nonexistent-acme-test/a/other.pem" ecdsa
	contact "mailto:ops@example.com"
	ca file "/nonexistent-acme-test/ca.pem"
}
"""


def test_authority_fields() -> None:
    plan = plan_of(TWO_AUTHORITIES)
    ca, other = plan.authorities
    assert ca.name == "ca"
    assert ca.api_url == "https://acme.example/dir"
    assert ca.account_key == Path("/nonexistent-acme-test/a/ca.pem")
    assert ca.account_keytype is KeyType.RSA
    assert ca.contact is None and ca.ca_file is None and ca.insecure is False
    assert ca.location == Location("test.conf", 1)
    assert other.account_keytype is KeyType.ECDSA
    assert other.contact == "mailto:ops@example.com"
    assert other.ca_file == Path("/nonexistent-acme-test/ca.pem")


def test_domain_defaults() -> None:
    job = plan_of(TWO_AUTHORITIES + domain("a.example")).domains[0]
    assert job.names == ("a.example",)
    assert job.keytype is KeyType.RSA
    assert job.authority.name == "ca"  # the first authority
    assert job.challengedir == DEFAULT_CHALLENGEDIR
    assert job.profile is None
    assert job.chain is None and job.fullchain is None
    assert job.cert_dir == Path("/nonexistent-acme-test/c")
    assert job.location == Location("test.conf", 11)


def test_default_authority_is_the_first_even_when_defined_after_the_domain() -> None:
    plan = plan_of(domain("a.example") + TWO_AUTHORITIES)
    assert plan.domains[0].authority is plan.authorities[0]


def test_sign_with_an_earlier_authority() -> None:
    plan = plan_of(TWO_AUTHORITIES + domain("a.example", "sign with other"))
    assert plan.domains[0].authority is plan.authorities[1]


def test_domains_keep_file_order_and_plan_finds_them_by_handle() -> None:
    plan = plan_of(AUTHORITY + domain("b.example") + domain("a.example"))
    assert [job.handle for job in plan.domains] == ["b.example", "a.example"]
    assert plan.domain("a.example") is plan.domains[1]
    assert plan.domain("c.example") is None


def test_handle_keeps_its_spelling_and_names_are_lower_case() -> None:
    job = plan_of(AUTHORITY + domain("A.Example")).domains[0]
    assert job.handle == "A.Example"
    assert job.names == ("a.example",)


def test_domain_name_repeated_in_alternative_names_is_dropped() -> None:
    text = AUTHORITY + domain(
        "a.example", "domain name www.a.example", "alternative names { WWW.A.EXAMPLE a.example }"
    )
    assert plan_of(text).domains[0].names == ("www.a.example", "a.example")


def test_alternative_names_may_be_given_several_times() -> None:
    text = AUTHORITY + domain(
        "a.example", "alternative names { b.example }", "alternative names { c.example }"
    )
    assert plan_of(text).domains[0].names == ("a.example", "b.example", "c.example")


def test_ip_address_handle_is_its_name() -> None:
    job = plan_of(AUTHORITY + domain("2001:db8:0::7")).domains[0]
    assert job.names == ("2001:db8::7",)


def test_plan_is_immutable() -> None:
    plan = plan_of(AUTHORITY + domain("a.example"))
    with pytest.raises(AttributeError):
        plan.domains[0].names = ()  # type: ignore[misc]


def test_domain_job_is_made_as_its_init_makes_it() -> None:
    job = plan_of(AUTHORITY + domain("a.example")).domains[0]
    values = {field.name: getattr(job, field.name) for field in dataclasses.fields(DomainJob)}
    made = domain_job(dict(values))
    assert made == DomainJob(**values)  # type: ignore[arg-type]
    assert repr(made) == repr(job) and hash(made) == hash(job)
    with pytest.raises(AttributeError):
        made.names = ()  # type: ignore[misc]
    del values["handle"]
    with pytest.raises(TypeError, match="handle"):
        domain_job(values)
    with pytest.raises(TypeError, match="colour"):
        domain_job({**values, "handle": "a.example", "colour": "blue"})


def test_one_account_key_may_serve_several_authorities() -> None:
    text = AUTHORITY + AUTHORITY.replace("authority ca", "authority staging")
    assert [a.account_key for a in plan_of(text).authorities] == [
        Path("/nonexistent-acme-test/a/ca.pem")
    ] * 2


# ---- what -n says about files and directories ---------------------------------------


def keyed(directory: Path, key_mode: int | None) -> str:
    """A configuration whose directories all exist, with a domain key of `key_mode`."""
    for sub in ("acme", "keys", "certs", "www"):
        (directory / sub).mkdir(exist_ok=True)
    key = directory / "keys" / "a.key"
    if key_mode is not None:
        key.write_text("key")
        key.chmod(key_mode)
    return (
        f'authority ca {{\n\tapi url "https://acme.example/dir"\n'
        f'\taccount key "{directory}/acme/ca.pem"\n}}\n'
        f'domain a.example {{\n\tdomain key "{key}"\n'
        f'\tdomain certificate "{directory}/certs/a.crt"\n'
        f'\tchallengedir "{directory}/www"\n}}\n'
    )


@pytest.mark.parametrize("mode", [None, 0o600, 0o400, 0o700])
def test_private_or_absent_key_is_fine_and_existing_directories_say_nothing(
    tmp_path: Path, mode: int | None
) -> None:
    assert load_plan_text(keyed(tmp_path, mode), "t.conf").warnings == ()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o601, 0o660, 0o644, 0o610, 0o777])
def test_key_that_group_or_others_may_use_is_an_error(tmp_path: Path, mode: int) -> None:
    assert errors_of(keyed(tmp_path, mode), "t.conf") == [
        f"t.conf:6: {tmp_path}/keys/a.key: group read/writable or world read/writable"
    ]


def test_account_key_is_checked_the_same_way(tmp_path: Path) -> None:
    text = keyed(tmp_path, None)
    account = tmp_path / "acme" / "ca.pem"
    account.write_text("key")
    account.chmod(0o644)
    assert errors_of(text, "t.conf") == [
        f"t.conf:3: {account}: group read/writable or world read/writable"
    ]


def test_a_key_directory_others_may_write_is_reported_at_every_key_in_it(tmp_path: Path) -> None:
    # The directory is walked once (FileChecks remembers it), yet each key
    # in it is refused at its own line, as when it was walked for each.
    text = keyed(tmp_path, None) + domain("b.example").replace(
        "/nonexistent-acme-test/k", f"{tmp_path}/keys"
    ).replace("/nonexistent-acme-test/c", f"{tmp_path}/certs")
    (tmp_path / "keys").chmod(0o770)
    problem = f"key directory {tmp_path}/keys: writable by group or others (mode 0770)"
    assert errors_of(text, "t.conf") == [f"t.conf:6: {problem}", f"t.conf:11: {problem}"]


def test_key_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    text = keyed(tmp_path, None)
    (tmp_path / "keys" / "a.key").mkdir()
    assert errors_of(text, "t.conf") == [f"t.conf:6: {tmp_path}/keys/a.key: not a regular file"]


def test_key_under_a_file_is_an_error(tmp_path: Path) -> None:
    text = keyed(tmp_path, None).replace("keys/a.key", "keys/file/a.key")
    (tmp_path / "keys" / "file").write_text("")
    assert errors_of(text, "t.conf") == [
        f"t.conf:6: cannot stat {tmp_path}/keys/file/a.key: Not a directory"
    ]


def test_missing_directories_are_warnings_once_each(tmp_path: Path) -> None:
    text = keyed(tmp_path, None)
    for sub in ("acme", "keys", "certs", "www"):
        (tmp_path / sub).rmdir()
    text += domain("b.example", f'challengedir "{tmp_path}/www"').replace(
        "/nonexistent-acme-test/k", f"{tmp_path}/keys"
    ).replace("/nonexistent-acme-test/c", f"{tmp_path}/certs")
    assert load_plan_text(text, "t.conf").warnings == (
        f"t.conf:3: key directory {tmp_path}/acme does not exist (it must exist at run time)",
        f"t.conf:6: key directory {tmp_path}/keys does not exist (it must exist at run time)",
        f"t.conf:7: certificate directory {tmp_path}/certs does not exist (it must exist at run time)",
        f"t.conf:8: challengedir {tmp_path}/www does not exist (it must exist at run time)",
    )


PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"


def with_ca_file(directory: Path, path: Path) -> str:
    """keyed()'s configuration whose authority trusts `path` (at line 4)."""
    return keyed(directory, None).replace("}\n", f'\tca file "{path}"\n}}\n', 1)


def test_missing_ca_file_is_a_warning(tmp_path: Path) -> None:
    text = with_ca_file(tmp_path, tmp_path / "ca.pem")
    assert load_plan_text(text, "t.conf").warnings == (
        f"t.conf:4: ca file {tmp_path}/ca.pem does not exist (it must exist at run time)",
    )
    (tmp_path / "ca.pem").write_text("# the test CA\n" + PEM_CERTIFICATE * 2)
    assert load_plan_text(text, "t.conf").warnings == ()


def test_ca_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ca.d").mkdir()
    assert errors_of(with_ca_file(tmp_path, tmp_path / "ca.d"), "t.conf") == [
        f"t.conf:4: ca file {tmp_path}/ca.d: not a regular file"
    ]


def test_ca_file_without_a_pem_certificate_is_an_error(tmp_path: Path) -> None:
    ca = tmp_path / "hostname"
    ca.write_text("acme.example\n")
    assert errors_of(with_ca_file(tmp_path, ca), "t.conf") == [
        f"t.conf:4: ca file {ca}: contains no PEM certificate"
    ]
    # A key is not a certificate either.
    ca.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    assert errors_of(with_ca_file(tmp_path, ca), "t.conf") == [
        f"t.conf:4: ca file {ca}: contains no PEM certificate"
    ]


def test_ca_file_certificate_found_past_the_first_piece_read(tmp_path: Path) -> None:
    # The marker straddles the 64 KiB pieces the check reads.
    ca = tmp_path / "bundle.pem"
    ca.write_text("#" * (2**16 - 10) + "\n" + PEM_CERTIFICATE)
    assert load_plan_text(with_ca_file(tmp_path, ca), "t.conf").warnings == ()


def test_ca_file_link_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "real.pem"
    target.write_text(PEM_CERTIFICATE)
    link = tmp_path / "ca.pem"
    link.symlink_to(target)
    assert load_plan_text(with_ca_file(tmp_path, link), "t.conf").warnings == ()
    target.write_text("nothing\n")
    assert errors_of(with_ca_file(tmp_path, link), "t.conf") == [
        f"t.conf:4: ca file {link} (a link to {target}): contains no PEM certificate"
    ]
    target.unlink()
    assert load_plan_text(with_ca_file(tmp_path, link), "t.conf").warnings == (
        f"t.conf:4: ca file {link} does not exist (it must exist at run time)",
    )


def test_ca_file_under_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert errors_of(with_ca_file(tmp_path, tmp_path / "file" / "ca.pem"), "t.conf") == [
        f"t.conf:4: cannot stat ca file {tmp_path}/file/ca.pem: Not a directory"
    ]


# ---- symbolic links to keys: followed, so the file they point to is checked ---------


def linked_key(directory: Path, mode: int) -> tuple[str, Path, Path]:
    """keyed()'s configuration whose domain key is a link to a key of `mode`."""
    text = keyed(directory, None)
    (directory / "vault").mkdir()
    target = directory / "vault" / "a.key"
    target.write_text("key")
    target.chmod(mode)
    link = directory / "keys" / "a.key"
    link.symlink_to(target)
    return text, link, target


def test_linked_private_key_is_fine(tmp_path: Path) -> None:
    text, link, _ = linked_key(tmp_path, 0o600)
    assert link.lstat().st_mode & 0o777 == 0o777  # the link's own mode says nothing
    assert load_plan_text(text, "t.conf").warnings == ()


def test_linked_key_that_others_may_read_is_an_error(tmp_path: Path) -> None:
    text, link, target = linked_key(tmp_path, 0o644)
    assert errors_of(text, "t.conf") == [
        f"t.conf:6: {link} (a link to {target}): group read/writable or world read/writable"
    ]


def test_linked_key_that_points_to_nothing_is_a_warning(tmp_path: Path) -> None:
    # The run reads keys through links but does not create one through a link.
    text, link, target = linked_key(tmp_path, 0o600)
    target.unlink()
    assert load_plan_text(text, "t.conf").warnings == (
        (
            f"t.conf:6: {link} (a link to {target}), which does not exist"
            " (a key is not created through a link)"
        ),
    )


def test_linked_key_that_points_to_a_directory_is_an_error(tmp_path: Path) -> None:
    text = keyed(tmp_path, None)
    (tmp_path / "keys" / "a.key").symlink_to(tmp_path / "www")
    assert errors_of(text, "t.conf") == [
        f"t.conf:6: {tmp_path}/keys/a.key (a link to {tmp_path}/www): not a regular file"
    ]


# ---- api url: what netproc could not use is refused here ---------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1:99999/dir", "port 99999: not a number from 1 to 65535"),
        ("https://127.0.0.1:abc/dir", "port abc: not a number from 1 to 65535"),
        ("https://127.0.0.1:0/dir", "port 0: not a number from 1 to 65535"),
        ("https://[::1]:65536/dir", "port 65536: not a number from 1 to 65535"),
        ("https://[::1/dir", "bad host (an IPv6 address is written in brackets: https://[2001:db8::1]/dir)"),
        ("https://[acme.example]/dir", "bad host (an IPv6 address is written in brackets: https://[2001:db8::1]/dir)"),
        ("https://user:secret@acme.example/dir", "a user name or password does not belong in the URL"),
        ("https://acme.example/dir#part", 'a fragment ("#...") does not belong in the URL'),
        ("https://acme.example/dir#", 'a fragment ("#...") does not belong in the URL'),
        ("https:///dir", "no host"),
        ("https:acme.example/dir", "no host"),
        ("https://acme!.example/dir", "host acme!.example: not a host name or an IP address"),
        ("https://10.0.0/dir", "host 10.0.0: not a host name or an IP address"),
        (f"https://{'a' * 64}.example/dir", f"host {'a' * 64}.example: not a host name or an IP address"),
        ("https://acme.example/a dir", "not a URL (it holds a blank or a control character)"),
        ("https://acme.example/\tdir", "not a URL (it holds a blank or a control character)"),
        ("https://bücher.example/dir", "not ASCII (%-encode other characters; write an international host name in its xn-- form)"),
        ("http://acme.example/dir", "not an https URL"),
        ("acme.example/dir", "not an https URL"),
    ],
)
def test_api_url_that_netproc_could_not_use_is_an_error(url: str, why: str) -> None:
    text = AUTHORITY.replace("https://acme.example/dir", url)
    shown = url.replace("\t", "\\t")  # messages show control characters escaped
    assert errors_of(text) == [f"test.conf:2: api url {shown}: {why}"]


@pytest.mark.parametrize(
    "url",
    [
        "https://acme-v02.api.letsencrypt.org/directory",
        "https://localhost:14000/dir",
        "https://127.0.0.1:14000/dir",
        "https://[::1]:14000/dir",
        "https://[2001:db8::7]/dir",
        "HTTPS://ACME.Example/dir",
        "https://acme.example",
        "https://acme.example.:443/dir?a=1&b=%20",
        "https://acme.example:/dir",
        "https://under_score.example/dir",
    ],
)
def test_api_url_netproc_can_use_is_kept_as_written(url: str) -> None:
    text = AUTHORITY.replace("https://acme.example/dir", url)
    assert plan_of(text).authorities[0].api_url == url


def test_unreadable_key_directory_is_a_warning_not_an_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can look into any directory")
    text = keyed(tmp_path, 0o600)
    (tmp_path / "keys").chmod(0o100)
    try:
        assert load_plan_text(text, "t.conf").warnings == ()
    finally:
        (tmp_path / "keys").chmod(0o700)


# key sizes ------------------------------------------------------------------------------


def _sized(account: str, domain_key: str) -> str:
    return (
        "authority ca {\n"
        '\tapi url "https://acme.example/dir"\n'
        f'\taccount key "/nonexistent-acme-test/a/ca.pem" {account}\n'
        "}\n"
        "domain a.example {\n"
        f'\tdomain key "/nonexistent-acme-test/k/a.key" {domain_key}\n'
        '\tdomain certificate "/nonexistent-acme-test/c/a.crt"\n'
        "}\n"
    )


@pytest.mark.parametrize(
    ("spelled", "keytype", "size"),
    [
        ("rsa", KeyType.RSA, None),
        ("rsa 2048", KeyType.RSA, 2048),
        ("rsa 3072", KeyType.RSA, 3072),
        ("rsa 4096", KeyType.RSA, 4096),
        ("ecdsa", KeyType.ECDSA, None),
        ("ecdsa p256", KeyType.ECDSA, 256),
        ("ecdsa p384", KeyType.ECDSA, 384),
        ('ecdsa "p256"', KeyType.ECDSA, 256),
    ],
)
def test_a_key_size_may_follow_the_key_type(spelled: str, keytype: KeyType, size: int | None) -> None:
    plan = plan_of(_sized(spelled, spelled))
    authority, job = plan.authorities[0], plan.domains[0]
    assert (authority.account_keytype, authority.account_key_size) == (keytype, size)
    assert (job.keytype, job.key_size) == (keytype, size)
    # -nv writes it back as it was given (quotes aside), and that reads the same
    again = plan_of(dump(plan))
    assert (again.domains[0].keytype, again.domains[0].key_size) == (keytype, size)
    assert (again.authorities[0].account_keytype, again.authorities[0].account_key_size) == (keytype, size)


@pytest.mark.parametrize(
    ("spelled", "offered"),
    [
        ("rsa 1024", "rsa 2048, rsa 3072, rsa 4096"),
        ("rsa p256", "rsa 2048, rsa 3072, rsa 4096"),
        ("ecdsa 384", "ecdsa p256, ecdsa p384"),
        ("ecdsa p521", "ecdsa p256, ecdsa p384"),
    ],
)
def test_a_key_size_not_offered_is_an_error_at_its_line(spelled: str, offered: str) -> None:
    errors = errors_of(_sized("ecdsa", spelled))
    kind, size = spelled.split()
    assert errors == [f"test.conf:6: {kind} {size}: not a key size acme-client knows ({offered})"]
    errors = errors_of(_sized(spelled, "rsa"))
    assert errors == [f"test.conf:3: {kind} {size}: not a key size acme-client knows ({offered})"]


def test_a_second_size_is_a_syntax_error() -> None:
    assert errors_of(_sized("rsa 2048 4096", "rsa"))[0].startswith("test.conf:3: syntax error")


# external account binding ------------------------------------------------------------------


def _bound(binding: str) -> str:
    return (
        "authority ca {\n"
        '\tapi url "https://acme.example/dir"\n'
        '\taccount key "/nonexistent-acme-test/a/ca.pem"\n'
        f"\t{binding}\n"
        "}\n"
    ) + domain("a.example")


def test_an_external_account_binding_names_its_kid_file_and_algorithm() -> None:
    plan = plan_of(_bound('external account binding "kid-1" "/nonexistent-acme-test/a/ca.mac"'))
    binding = plan.authorities[0].binding
    assert binding is not None
    assert (binding.kid, binding.mac_key_file, binding.algorithm) == ("kid-1", Path("/nonexistent-acme-test/a/ca.mac"), "hs256")
    plan = plan_of(_bound("external account binding kid-2 /nonexistent-acme-test/a/ca.mac hs512"))
    assert plan.authorities[0].binding.algorithm == "hs512"
    assert plan_of(AUTHORITY + domain("a.example")).authorities[0].binding is None
    again = plan_of(dump(plan))
    assert again.authorities[0].binding == plan.authorities[0].binding


@pytest.mark.parametrize(
    ("binding", "error"),
    [
        ('external account binding "kid 1" "/nonexistent-acme-test/a/ca.mac"',
         'external account binding "kid 1": not a key identifier (printable ASCII, no blanks)'),
        ('external account binding "kid-1" "/nonexistent-acme-test/a/ca.mac" md5',
         "external account binding: md5: not a MAC algorithm (hs256, hs384, hs512)"),
        ('external account binding "kid-1" "ca.mac"', "ca.mac: not an absolute path"),
    ],
)
def test_a_binding_that_cannot_be_used_is_an_error_at_its_line(binding: str, error: str) -> None:
    errors = errors_of(_bound(binding))
    assert len(errors) == 1 and errors[0].startswith("test.conf:4: ") and error in errors[0], errors


def test_a_binding_without_its_file_is_a_syntax_error() -> None:
    assert errors_of(_bound('external account binding "kid-1"'))[0].startswith("test.conf:4: syntax error")


def test_the_mac_key_file_is_checked_like_a_key(tmp_path: Path) -> None:
    directory = tmp_path / "a"
    directory.mkdir(mode=0o700)
    mac = directory / "ca.mac"
    plan = load_plan_text(_bound(f'external account binding "kid-1" "{mac}"'), "test.conf")
    assert any("MAC key file" in warning and "does not exist" in warning for warning in plan.warnings), plan.warnings
    mac.write_text("c2VjcmV0LXNlY3JldC1zZWNyZXQ")
    mac.chmod(0o644)
    errors = errors_of(_bound(f'external account binding "kid-1" "{mac}"'))
    assert any(str(mac) in error for error in errors), errors


# preferred chain ---------------------------------------------------------------------------


def test_a_preferred_chain_names_an_issuer() -> None:
    plan = plan_of(AUTHORITY + domain("a.example", 'preferred chain "ISRG Root X1"'))
    assert plan.domains[0].preferred_chain == "ISRG Root X1"
    assert plan_of(dump(plan)).domains[0].preferred_chain == "ISRG Root X1"
    assert plan_of(AUTHORITY + domain("a.example")).domains[0].preferred_chain is None


def test_a_preferred_chain_that_cannot_be_a_common_name_is_an_error() -> None:
    errors = errors_of(AUTHORITY + domain("a.example", f'preferred chain "{"x" * 65}"'))
    assert len(errors) == 1 and "not an issuer name (printable ASCII, at most 64 characters)" in errors[0], errors


# previous account key ----------------------------------------------------------------------


def test_a_previous_account_key_is_a_key_file_of_its_own(tmp_path: Path) -> None:
    text = _bound('previous account key "/nonexistent-acme-test/a/old.pem"')
    plan = plan_of(text)
    assert plan.authorities[0].previous_account_key == Path("/nonexistent-acme-test/a/old.pem")
    assert plan_of(dump(plan)).authorities[0].previous_account_key == Path("/nonexistent-acme-test/a/old.pem")
    errors = errors_of(_bound('previous account key "/nonexistent-acme-test/a/ca.pem"'))
    assert errors == ["test.conf:4: previous account key file /nonexistent-acme-test/a/ca.pem already used as account key at line 3"]
    directory = tmp_path / "a"
    directory.mkdir(mode=0o700)
    plan = plan_of(_bound(f'previous account key "{directory / "old.pem"}"'))
    assert any("previous account key" in warning and "does not exist" in warning for warning in plan.warnings)
