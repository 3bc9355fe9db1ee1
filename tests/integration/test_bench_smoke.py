"""Each benchmark under bench/ still runs: the tiny smoke CI gives them.

The figures come from full-size runs by hand (README "Performance"); these
runs are too small and too noisy to judge, so nothing here looks at a time.
What they catch is a benchmark that no longer runs at all: a child
bootstrap, an option or a report that moved under it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_bench(*argv: str) -> str:
    result = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_issue_benchmark_issues_one_certificate() -> None:
    out = run_bench("bench/issue.py", "--runs", "1", "--scenario", "a")
    assert "(a) 1 certificate, 1 name" in out


def test_sandbox_cost_benchmark_runs_a_chain_with_and_without_the_sandbox() -> None:
    out = run_bench("bench/sandbox_cost.py", "--runs", "1")
    assert "sum of medians (8 roles)" in out
    assert "sandbox.enter a no-op" in out  # the chain ran both ways


def test_config_check_benchmark_checks_a_generated_configuration() -> None:
    out = run_bench("bench/config_check.py", "--runs", "1", "--domains", "200")
    assert "200 domains" in out
    assert "plain lark parse of the same file" in out  # run side by side with it
    assert "ratio acme-client -n / plain lark parse:" in out


def test_noop_benchmark_runs_first_and_steady_state() -> None:
    out = run_bench("bench/noop.py", "--domains", "4", "--runs", "1", "--jobs", "2")
    assert "first run (a check per domain" in out and "steady state" in out  # both ended with exit 2


def test_start_floor_benchmark_prints_the_bound_for_both_scenarios() -> None:
    out = run_bench("bench/start_floor.py", "--runs", "1", "--floor-a", "0.2", "--floor-c", "0.4")
    assert "| certproc | " in out and "| the parent " in out
    assert "(a) 1 certificate: starting the processes costs at least" in out
    assert "(c) 10 certificates: " in out and "times the floor's whole run" in out


def test_peers_benchmark_runs_ours_and_the_floor() -> None:
    # --peers none: CI never installs the other clients from the internet
    out = run_bench("bench/peers.py", "--runs", "1", "--scenario", "a", "--peers", "none")
    assert "| acme-client (ours) | " in out
    assert "| floor (bench/floor.py) | " in out
    assert "failed" not in out  # both issued a certificate that chains to pebble's root
    assert "Ours over the floor: (a) " in out
