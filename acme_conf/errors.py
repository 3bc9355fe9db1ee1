"""The error every part of acme-client raises for a failure the user must see.

It lives at the bottom of the package, below the executor (acme_conf.proc)
and the pieces it uses (net/, keys.py, files.py, certstatus.py), so that
those pieces never import the executor.
"""

from __future__ import annotations


class ProcessFailure(Exception):
    """A process could not do its job; the message says why, for the user."""
