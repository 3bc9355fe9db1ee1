"""acme-client.conf(5): read a configuration into a validated, immutable plan.

    load_plan(path)   -> Plan, or ConfigErrors listing every error
    dump(plan)        -> the plan as canonical acme-client.conf text (`-nv`)
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

from .build import build_plan
from .dump import dump
from .errors import ConfigError, ConfigErrors
from .parse import read_config, read_config_text
from .plan import Plan

__all__ = ["ConfigError", "ConfigErrors", "dump", "load_plan", "load_plan_text"]


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """The plan of the configuration file at `path` (and the files it includes).

    Raises ConfigErrors, holding every error found, if it cannot be used.
    """
    path = os.fspath(path)
    with _collector_paused():
        return build_plan(read_config(path), path)


def load_plan_text(text: str, name: str = "<text>") -> Plan:
    """The plan of a configuration given as text; `name` stands for the file in messages."""
    with _collector_paused():
        return build_plan(read_config_text(text, name), name)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # Reading makes hundreds of thousands of small objects and keeps most of
    # them until the plan is made, so the cyclic garbage collector would walk
    # them again and again and find little to free (a tenth of the time of a
    # large configuration).  Afterwards all of it goes straight to the oldest
    # generation, which the collector walks rarely (freeze then unfreeze: two
    # list splices): the plan lives as long as the run, and the few cycles
    # reading leaves go at the next full collection.  Left young, all of it
    # would be walked by the very next collection and again on its way up
    # (another tenth, for nothing: `acme-client -n` exits right after).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:  # unfreeze must not thaw what another froze
                gc.freeze()
                gc.unfreeze()
            gc.enable()
