"""The sandbox: pledge and unveil, done with what Linux has.

A child process calls `enter(role, grants)` once, after it has acquired
everything it will ever need (files, descriptors, imported modules) and
before it reads its first message.  Nothing is gained back afterwards.

INTERIM: `enter` applies nothing yet; the sandbox issue fills it in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grants:
    """What one child was given at run time; its role's policy says what it may do with it."""

    channels: tuple[int, ...]  # socketpair descriptors the role serves
    files: tuple[int, ...] = ()  # descriptors acquired before the jail (a certificate, a directory)
    write_dir: str | None = None  # chngproc: challengedir; fileproc: certificate directory
    connect_ports: tuple[int, ...] = ()  # netproc only: TCP ports of the CA's URLs
    strict: bool = False  # a mechanism this kernel or user cannot apply is fatal


def enter(role: str, grants: Grants) -> None:
    """Jail the calling process for `role`."""
    del role, grants
