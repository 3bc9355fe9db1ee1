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

LABEL = "_validation-persist"

# What the parent prints of what netproc reports: a record for a host name,
# the CA's issuer name and an https account URL, printable ASCII only.
_RECORD = re.compile(
    r'_validation-persist\.[a-z0-9_.-]{1,253}\. IN TXT "[a-z0-9.-]{1,253}; accounturi=https://[!-~]{1,2000}(; policy=wildcard)?"'
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
