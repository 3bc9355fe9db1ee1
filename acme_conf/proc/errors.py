"""Exit statuses of the processes, and the failure that a stop request raises in a child."""

from __future__ import annotations

from acme_conf.errors import ProcessFailure

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNCHANGED = 2  # fileproc: nothing was written; revokeproc alone: the certificate is current
EXIT_PEER_GONE = 3  # a neighbour stopped mid-exchange: not this process's fault


class Terminated(ProcessFailure):
    """The parent asked this process to stop (SIGTERM), or the user pressed ^C."""
