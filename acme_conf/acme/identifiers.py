"""Identifiers (RFC 8555 section 7.1.3, RFC 8738); tokens are in tokens.py."""

from __future__ import annotations

import ipaddress


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


def configured_names(names: tuple[str, ...]) -> frozenset[str]:
    """Configured names in the form a certificate's names are compared in (certnames.certificate_names)."""
    return frozenset(canonical_ip(name) if is_ip(name) else name.lower() for name in names)

