"""Domain names and IP addresses as certificate identifiers.

A name is a host name (labels of letters, digits, "-" and "_", as upstream
allows, separated by single dots) or an IPv4 or IPv6 address (RFC 8738); in
a domain block that validates through DNS (dns-01 or dns-persist-01), also a wildcard: "*."
followed by a host name.
Names are compared and stored lower-case; addresses in canonical form
(IPv6 compressed), so that the same identifier is always spelled the same.
"""

from __future__ import annotations

import ipaddress
import re

_HOST_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_DIGITS_AND_DOTS = re.compile(r"[0-9.]+")
MAX_NAME_LENGTH = 253


class BadName(ValueError):
    """Why a string is not a usable identifier; the message names it."""


def canonical_name(text: str, wildcard: bool = False) -> str:
    """The canonical spelling of a domain name or IP address (or, if `wildcard`, a wildcard name); BadName if it is neither."""
    if "*" in text:
        return _wildcard(text, wildcard)
    if ":" in text:
        return _ipv6(text)
    name = text.lower()
    if _DIGITS_AND_DOTS.fullmatch(name):
        return _ipv4(text)
    if len(name) > MAX_NAME_LENGTH or not _HOST_NAME.fullmatch(name):
        raise BadName(f"{text}: bad domain syntax")
    return name


def _wildcard(text: str, allowed: bool) -> str:
    """`*.` and a host name: the name of every host one label below it (RFC 8555 section 7.1.3)."""
    if not text.startswith("*.") or "*" in text[2:]:
        raise BadName(f"{text}: bad wildcard: only a leftmost label of * alone")
    if not allowed:
        raise BadName(f"{text}: a wildcard name needs `challenge dns-01 hook` or `challenge dns-persist-01` in the domain block (http-01 cannot validate one)")
    base = text[2:].lower()
    if len(text) > MAX_NAME_LENGTH or not _HOST_NAME.fullmatch(base) or _DIGITS_AND_DOTS.fullmatch(base):
        raise BadName(f"{text}: bad domain syntax")
    return f"*.{base}"


def _ipv6(text: str) -> str:
    if "%" in text:  # a zone index only means something on this host
        raise BadName(f"{text}: bad domain syntax")
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise BadName(f"{text}: bad domain syntax") from None


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise BadName(f"{text}: bad domain syntax") from None
