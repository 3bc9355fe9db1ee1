"""What the publishers share (chngproc, and httpproc, tlsproc, hookproc in its place): their channels,
the account's thumbprint, learnt from acctproc, and one answer per request.

Each publishes key authorizations for the netprocs of several domains, and
checks them against the thumbprint its domain's acctproc told it
(acme/tokens.py), never against one a netproc names.
"""

from __future__ import annotations

from collections.abc import Callable

from acme_conf.errors import ProcessFailure
from acme_conf.ipc import Channel, ChannelClosed
from acme_conf.messages import Failure, Message
from acme_conf.messages.account import Thumbprint
from acme_conf.messages.challenge import ChallengeWritten
from acme_conf.proc.spec import ChildSpec


def account_channels(spec: ChildSpec, nets: tuple[Channel, ...], authorities: tuple[int, ...]) -> dict[int, Channel]:
    """Each netproc channel's fd -> the acctproc channel of its domain's authority (`authorities`: its index)."""
    acctprocs = tuple(Channel.from_fd(fd, "acctproc") for peer, fd in spec.channels if peer == "acctproc")
    return {net.fileno(): acctprocs[index] for net, index in zip(nets, authorities, strict=True)}


def served_channels(nets: tuple[Channel, ...], accounts: dict[int, Channel]) -> tuple[int, ...]:
    """The channels a publisher keeps through its jail: one to each netproc, one to each acctproc."""
    return (*(net.fileno() for net in nets), *sorted({account.fileno() for account in accounts.values()}))


def account_thumbprint(accounts: dict[int, Channel], told: dict[int, str], net_fd: int) -> str:
    """The thumbprint of the account of the domain on `net_fd`, as its acctproc told it ("": it did not).

    `accounts` maps each netproc channel to its authority's acctproc; `told`
    keeps what each acctproc said, which it says once.
    """
    account = accounts.get(net_fd)
    if account is None:
        return ""
    if account.fileno() not in told:
        try:
            told[account.fileno()] = account.recv(Thumbprint).value
        except ChannelClosed:
            told[account.fileno()] = ""
    return told[account.fileno()]


def answer(publish: Callable[[], None]) -> Message:
    """Publish, answering ChallengeWritten; a refusal goes back to the netproc that asked, the others are still served."""
    try:
        publish()
    except ProcessFailure as error:
        return Failure(str(error))
    return ChallengeWritten()
