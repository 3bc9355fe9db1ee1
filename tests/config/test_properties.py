"""Properties: any plan survives dump -> read; no text makes reading fail otherwise."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from acme_conf.config import ConfigErrors, dump, load_plan_text
from acme_conf.config.dump import KEYWORDS
from acme_conf.config.plan import Authority, DomainJob, KeyType, Location, Plan

HERE = Location("generated", 1)
ROOT = "/nonexistent-acme-test"

# Any character the language allows in quotes: no control characters, no surrogates.
quotable = st.characters(blacklist_categories=("Cc", "Cs"))
tricky = st.sampled_from(['"', "'", "\\", "$", "#", "{", "}", ",", "=", " ", "\t", "é", "雪"])
free_text = st.text(st.one_of(quotable, tricky), min_size=1, max_size=12)
no_blanks = free_text.filter(lambda s: not any(c.isspace() for c in s))
file_name = free_text.filter(lambda s: "/" not in s and s not in (".", ".."))

label = st.from_regex(r"[a-z0-9_][a-z0-9_-]{0,10}", fullmatch=True)
host_name = st.lists(label, min_size=1, max_size=4).map(".".join).filter(
    lambda s: not all(c.isdigit() or c == "." for c in s)
)
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
name = st.one_of(host_name, host_name, ipv4, ipv6)
handle = st.one_of(name, name.map(str.upper), st.sampled_from(sorted(KEYWORDS)))
# An https URL netproc can use: a host, maybe a port, a path and query of
# printable ASCII (with characters the dump must escape), no fragment.
url_port = st.none() | st.integers(1, 65535)
url_rest = st.from_regex(r"[A-Za-z0-9._~!$&'()*+,;=:@%/?{}\"\\-]{0,12}", fullmatch=True)
api_url = st.builds(
    lambda host, port, rest: f"https://{host}{'' if port is None else f':{port}'}/{rest}",
    st.one_of(host_name, ipv4, ipv6.map(lambda a: f"[{a}]")), url_port, url_rest,
)


@st.composite
def authorities(draw: st.DrawFn, count: int) -> list[Authority]:
    names = draw(st.lists(st.one_of(free_text, st.sampled_from(sorted(KEYWORDS))),
                          min_size=count, max_size=count, unique=True))
    result = []
    for index, authority_name in enumerate(names):
        trust = draw(st.sampled_from(["system", "insecure", "ca file"]))
        result.append(
            Authority(
                name=authority_name,
                api_url=draw(api_url),
                account_key=Path(f"{ROOT}/a/{index}{draw(file_name)}"),
                account_keytype=draw(st.sampled_from(KeyType)),
                contact=draw(st.none() | no_blanks.map(lambda s: "mailto:" + s)),
                insecure=trust == "insecure",
                ca_file=Path(f"{ROOT}/ca{draw(file_name)}") if trust == "ca file" else None,
                location=HERE,
            )
        )
    return result


@st.composite
def domain_jobs(draw: st.DrawFn, index: int, authorities: list[Authority]) -> DomainJob:
    cert_dir = f"{ROOT}/c{index}"
    kinds = draw(st.sampled_from(["certificate", "fullchain", "both"]))
    files = draw(st.lists(file_name, min_size=3, max_size=3, unique=True))
    return DomainJob(
        handle=draw(handle),
        names=tuple(draw(st.lists(name, min_size=1, max_size=4, unique=True))),
        domain_key=Path(f"{ROOT}/k/{index}{draw(file_name)}"),
        keytype=draw(st.sampled_from(KeyType)),
        cert_dir=Path(cert_dir),
        certificate=Path(f"{cert_dir}/{files[0]}") if kinds != "fullchain" else None,
        chain=draw(st.none() | st.just(Path(f"{cert_dir}/{files[1]}"))),
        fullchain=Path(f"{cert_dir}/{files[2]}") if kinds != "certificate" else None,
        authority=draw(st.sampled_from(authorities)),
        challengedir=Path(f"{ROOT}/www/{draw(file_name)}"),
        profile=draw(st.none() | st.from_regex(r"[a-z][a-z0-9._-]{0,10}", fullmatch=True)),
        location=HERE,
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    authority_list = draw(authorities(draw(st.integers(1, 3))))
    count = draw(st.integers(0, 4))
    jobs = [draw(domain_jobs(index, authority_list)) for index in range(count)]
    assume(len({job.handle for job in jobs}) == len(jobs))
    return Plan(source="generated", authorities=tuple(authority_list), domains=tuple(jobs), warnings=())


def without_locations(plan: Plan) -> tuple:
    """What a plan says, less where it was said."""
    authorities = tuple(replace(a, location=HERE) for a in plan.authorities)
    by_name = {a.name: a for a in authorities}
    domains = tuple(
        replace(job, location=HERE, authority=by_name[job.authority.name]) for job in plan.domains
    )
    return authorities, domains


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_dump_then_read_gives_the_same_plan_and_the_same_dump(plan: Plan) -> None:
    text = dump(plan)
    again = load_plan_text(text, "dumped.conf")
    assert without_locations(again) == without_locations(plan)
    assert dump(again) == text


# ---- no text makes reading fail with anything but ConfigErrors -------------------

WORDS = [
    "authority", "domain", "include", "api url", "account key", "contact", "insecure",
    "ca file", "alternative names", "domain name", "domain key", "domain certificate",
    "domain chain certificate", "domain full chain certificate", "sign with",
    "challengedir", "profile", "rsa", "ecdsa", "{", "}", ",", "=", "\n", "\n", "\n",
    "\\\n", "#c", '"/q/x"', "'s'", '"unterminated', "/abs/path", "rel/path", "a.example",
    "ca", "x", "$m", "$undefined", "m = a.example", "*.w.example", "10.0.0.1", "::1",
    "\t", "!", "\\", "$", "é", "\x00", "\r\n", 'include "nowhere"',
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join))
def test_token_soup_only_ever_gives_config_errors(text: str) -> None:
    _read(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_only_ever_gives_config_errors(text: str) -> None:
    _read(text)


@settings(max_examples=200, deadline=None)
@given(plans(), st.data())
def test_damaged_dumps_only_ever_give_config_errors(plan: Plan, data: st.DataObject) -> None:
    text = dump(plan)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 20)))
    insert = data.draw(st.sampled_from(WORDS))
    _read(text[:start] + insert + text[end:])


def _read(text: str) -> None:
    try:
        plan = load_plan_text(text, "random.conf")
    except ConfigErrors as errors:
        assert errors.errors, "ConfigErrors must hold at least one error"
        for error in errors.errors:
            assert error.line >= 1 and error.message
            assert str(error).isprintable()
    else:
        assert isinstance(plan, Plan)
