"""What a child was given at run time: the input of `enter` besides its role."""

# No `from __future__ import annotations`: typing.NamedTuple would compile each
# field's annotation text at start-up.

from typing import NamedTuple


class Grants(NamedTuple):
    """What one child was given at run time; its role's policy says what it may do with it."""

    channels: tuple[int, ...]  # socketpair descriptors the role serves
    files: tuple[int, ...] = ()  # descriptors acquired before the jail (a directory)
    write_dir: str | None = None  # chngproc: challengedir; fileproc: certificate directory
    connect_ports: tuple[int, ...] = ()  # netproc only: TCP ports of the CA's URLs
    strict: bool = False  # a mechanism the role's policy needs but cannot get is fatal
    hidden: tuple[str, ...] = ()  # hookproc: directories its view of the file system shows empty
    read_only: tuple[str, ...] = ()  # hookproc: directories its view shows read-only
    user: str = ""  # hookproc: whom to become when started as root ("": the unprivileged user)
