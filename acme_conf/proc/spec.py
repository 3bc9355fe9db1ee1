"""What the parent tells a child when it starts it: its role, channels and settings.

The parent serialises a ChildSpec to JSON as the child's last argument; the
child rebuilds it before doing anything else.  Only plain values cross:
paths as strings, names as lists.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

ROLES = (
    "netproc",
    "dnsproc",
    "acctproc",
    "keyproc",
    "chngproc",
    "certproc",
    "fileproc",
    "revokeproc",
)


@dataclass(frozen=True)
class NetSettings:
    api_url: str
    ca_file: str  # "" = the system bundle
    insecure: bool
    contact: str  # "" = none
    names: tuple[str, ...]
    profile: str  # "" = the CA's default
    revoke: bool


@dataclass(frozen=True)
class DnsSettings:
    pass


@dataclass(frozen=True)
class KeySettings:
    """acctproc and keyproc: which key to load, or create when it is missing."""

    key_path: str
    keytype: str  # "rsa" or "ecdsa"
    names: tuple[str, ...]  # keyproc only: the CSR's names


@dataclass(frozen=True)
class ChngSettings:
    challengedir: str


@dataclass(frozen=True)
class CertSettings:
    names: tuple[str, ...]


@dataclass(frozen=True)
class FileSettings:
    cert_dir: str
    certificate: str  # file names inside cert_dir; "" = not configured
    chain: str
    fullchain: str


@dataclass(frozen=True)
class RevokeSettings:
    certificate: str  # absolute path of the certificate (or full chain) to inspect
    names: tuple[str, ...]
    force: bool
    revoke: bool


Settings = NetSettings | DnsSettings | KeySettings | ChngSettings | CertSettings | FileSettings | RevokeSettings

SETTINGS_TYPES: dict[str, type] = {
    "netproc": NetSettings,
    "dnsproc": DnsSettings,
    "acctproc": KeySettings,
    "keyproc": KeySettings,
    "chngproc": ChngSettings,
    "certproc": CertSettings,
    "fileproc": FileSettings,
    "revokeproc": RevokeSettings,
}


@dataclass(frozen=True)
class ChildSpec:
    role: str
    handle: str
    verbosity: int
    strict_sandbox: bool
    channels: tuple[tuple[str, int], ...]  # (peer role, descriptor)
    settings: Settings

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ChildSpec:
        raw = json.loads(text)
        role = raw["role"]
        settings_type = SETTINGS_TYPES[role]
        settings = settings_type(**{f.name: _tuple_if_list(raw["settings"][f.name]) for f in fields(settings_type)})
        channels = tuple((str(peer), int(fd)) for peer, fd in raw["channels"])
        return cls(role, str(raw["handle"]), int(raw["verbosity"]), bool(raw["strict_sandbox"]), channels, settings)

    def channel_fd(self, peer: str) -> int:
        for name, fd in self.channels:
            if name == peer:
                return fd
        raise KeyError(f"{self.role} has no channel to {peer}")


def _tuple_if_list(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value
