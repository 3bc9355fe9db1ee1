"""Identifiers (RFC 8555 section 7.1.3, RFC 8738), tokens and key authorizations."""

from __future__ import annotations

import ipaddress
import re

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")


def identifier(name: str) -> dict[str, str]:
    """The ACME identifier object for a configured name: `ip` for address literals, else `dns`."""
    if is_ip(name):
        return {"type": "ip", "value": name}
    return {"type": "dns", "value": name}


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def canonical_ip(text: str) -> str:
    """The RFC 5952 spelling of an address literal; ValueError when it is none."""
    return str(ipaddress.ip_address(text))


def is_valid_token(token: str) -> bool:
    """A challenge token is base64url text (RFC 8555 section 8.1): safe as a file name.

    The CA chooses tokens; one that fails this check never reaches the file system.
    """
    return _TOKEN.fullmatch(token) is not None


def key_authorization(token: str, thumbprint: str) -> str:
    return f"{token}.{thumbprint}"
