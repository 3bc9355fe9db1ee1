"""Challenge tokens and key authorizations (RFC 8555 section 8.1).

Apart from identifiers.py because chngproc needs only this, and identifiers
imports ipaddress (~1.2 ms of chngproc's start-up).
"""

from __future__ import annotations

import re

from acme_conf.acme.text import printable

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")


def is_valid_token(token: str) -> bool:
    """A challenge token is base64url text (RFC 8555 section 8.1): safe as a file name.

    The CA chooses tokens; one that fails this check never reaches the file system.
    """
    return _TOKEN.fullmatch(token) is not None


def key_authorization(token: str, thumbprint: str) -> str:
    return f"{token}.{thumbprint}"


def key_authorization_refusal(token: str, key_authorization: str, thumbprint: str) -> str:
    """Why a key authorization may not be published for the account whose thumbprint is `thumbprint` ("": it may).

    The thumbprint comes from the authority's acctproc, never from netproc.
    """
    if not is_valid_token(token):
        return f"refusing challenge token {printable(token, 80)!r}: not base64url"
    token_part, _, told = key_authorization.partition(".")
    if token_part != token or not is_valid_token(told):
        return "malformed key authorization: not TOKEN.THUMBPRINT"
    if not thumbprint:
        return "refusing a key authorization: the authority's acctproc told no thumbprint"
    if told != thumbprint:
        return "refusing a key authorization for another account than the configured one"
    return ""
