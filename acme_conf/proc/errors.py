"""Exit statuses and the error every process raises for a failure the user must see."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNCHANGED = 2  # fileproc: nothing was written; revokeproc alone: the certificate is current
EXIT_PEER_GONE = 3  # a neighbour stopped mid-exchange: not this process's fault


class ProcessFailure(Exception):
    """A process could not do its job; the message says why, for the user."""


class Terminated(ProcessFailure):
    """The parent asked this process to stop (SIGTERM), or the user pressed ^C."""
