"""Challenge tokens and key authorizations (RFC 8555 section 8.1).

Apart from identifiers.py because chngproc needs only this, and identifiers
imports ipaddress (~1.2 ms of chngproc's start-up).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")


def is_valid_token(token: str) -> bool:
    """A challenge token is base64url text (RFC 8555 section 8.1): safe as a file name.

    The CA chooses tokens; one that fails this check never reaches the file system.
    """
    return _TOKEN.fullmatch(token) is not None


def key_authorization(token: str, thumbprint: str) -> str:
    return f"{token}.{thumbprint}"
