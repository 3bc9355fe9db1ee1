"""Domain names and IP addresses as certificate identifiers.

A name is a host name (labels of letters, digits, "-" and "_", as upstream
allows, separated by single dots) or an IPv4 or IPv6 address (RFC 8738).
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


def canonical_name(text: str) -> str:
    """The canonical spelling of a domain name or IP address; BadName if it is neither."""
    if "*" in text:
        raise BadName(
            f"{text}: wildcard names need the dns-01 challenge, which is not supported yet"
        )
    if ":" in text:
        return _ipv6(text)
    name = text.lower()
    if _DIGITS_AND_DOTS.fullmatch(name):
        return _ipv4(text)
    if len(name) > MAX_NAME_LENGTH or not _HOST_NAME.fullmatch(name):
        raise BadName(f"{text}: bad domain syntax")
    return name


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
