"""dns-persist-01 (draft-ietf-acme-dns-persist): the TXT record a domain's owner publishes once.

One record at `_validation-persist.NAME` names the CA (one of its issuer
domain names, RFC 8659) and the account (`accounturi`); with
`policy=wildcard` it also covers the names one label below NAME.  Nothing
is written at validation time: the client answers the challenge and the CA
looks the record up.  `acme-client -P` prints the records to publish.
Pure: no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LABEL = "_validation-persist"

# A record as netproc reports it: a host, the CA's issuer name, an https
# account URL without a quote, semicolon, backslash or blank, the policy.
_RECORD = re.compile(
    r'_validation-persist\.([a-z0-9_.-]{1,253})\. IN TXT "([a-z0-9.-]{1,253}); accounturi=(https://[!#-:<-\[\]-~]{1,2000})(; policy=wildcard)?"'
)


def record_name(name: str) -> str:
    """Where the CA looks for `name` (a wildcard's record is its base name's)."""
    return f"{LABEL}.{name.removeprefix('*.')}"


def persist_records(names: tuple[str, ...], issuer: str, account_url: str) -> tuple[str, ...]:
    """The records to publish for `names`, zone-file lines: one per base name, with policy=wildcard if a wildcard needs it."""
    wildcard: dict[str, bool] = {}
    for name in names:
        base = name.removeprefix("*.")
        wildcard[base] = wildcard.get(base, False) or name.startswith("*.")
    return tuple(
        f'{LABEL}.{base}. IN TXT "{issuer}; accounturi={account_url}{"; policy=wildcard" if wild else ""}"'
        for base, wild in wildcard.items()
    )


def is_persist_record(line: object) -> bool:
    return isinstance(line, str) and _RECORD.fullmatch(line) is not None


def expected_record(line: object, names: tuple[str, ...], api_url: str) -> bool:
    """Whether `line` is a record the parent may print for a domain of `names` at the CA of `api_url`.

    A subverted netproc could otherwise have the user publish a record for
    an account of its own: the host must be one of the domain's names (a
    wildcard's base), `policy=wildcard` there exactly when a wildcard needs
    it, and the account URL on the CA's host and port.  What is left to
    trust is the account's path and the issuer name, as the CA gave them.
    """
    found = _RECORD.fullmatch(line) if isinstance(line, str) else None
    if found is None:
        return False
    host, _, account_url, policy = found.groups()
    wildcards = {name.removeprefix("*.") for name in names if name.startswith("*.")}
    bases = {name.removeprefix("*.") for name in names if ":" not in name}
    try:
        ca, asked = urlsplit(api_url), urlsplit(account_url)
        same_port = (ca.port or 443) == (asked.port or 443)
    except ValueError:
        return False
    return host in bases and (policy is not None) == (host in wildcards) and asked.hostname == ca.hostname and same_port
