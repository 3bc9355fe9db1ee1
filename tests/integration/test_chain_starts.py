"""Chains start one after another: the next once the last has started up (real pebble).

A chain's start-up (imports, keys, jail) is nearly all CPU, and the
protocol after it mostly waits for the CA; starting chains in step would
leave the CPUs idle while they all wait at once.
"""

from __future__ import annotations

import re

from test_issue import EXIT_CHANGED

from acme_conf.proc.scheduler import STARTUP_WAIT_SECONDS

EVENT = re.compile(r"acme-client: (\S+): (chain started \((\d+) running\)|chain started up in (\d+) ms|fileproc: wrote \S+)")


def test_the_next_chain_starts_once_the_last_has_started_up(write_conf, run_client):
    handles = [f"s{i}.staggered.example.test" for i in range(4)]
    conf = write_conf(*handles)

    result = run_client("-vv", "-j", "4", conf=conf)

    assert result.returncode == EXIT_CHANGED, result.stderr
    events = [(m.group(1), m.group(2), m.group(3), m.group(4)) for m in EVENT.finditer(result.stderr)]
    startup_ms = {handle: int(ms) for handle, _, _, ms in events if ms is not None}
    assert set(startup_ms) == set(handles), result.stderr
    starting: set[str] = set()
    most_running = 0
    for handle, what, running, ms in events:
        if running is not None:
            # a chain still starting up holds the next back, unless it takes longer than the wait
            assert all(startup_ms[other] >= STARTUP_WAIT_SECONDS * 1000 for other in starting), (handle, starting)
            starting.add(handle)
            most_running = max(most_running, int(running))
        elif ms is not None:
            starting.discard(handle)
        else:  # fileproc wrote the certificate: every child had long started up and closed its end
            assert handle not in starting, result.stderr
    assert most_running >= 2  # one after another, yet not one at a time
    # each child closed its end of the start-up pipe itself, before the jail: none was left for the sandbox
    closed = re.findall(r"staggered\.example\.test: \w+: sandbox \w+ \(.*?closed (\d+) others", result.stderr)
    assert closed == ["0"] * 4 * len(handles), result.stderr  # four children: no certificate yet, so no revokeproc
