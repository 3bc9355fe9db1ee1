"""Benchmark: `acme-client -n` on a large configuration and on the example.

    .venv/bin/python bench/config_check.py [--runs N] [--domains N] [--detail]
                                           [--heavy] [--lark-parser lalr|earley]

Generates a configuration of 10,000 domain blocks shaped like the one of
OpenBSD's example (three names each: the handle and two alternative names;
a domain key, a full chain certificate, `sign with`) in a temporary directory
whose directories exist, and times the installed `acme-client -n -f FILE` as
a subprocess: the median wall time of N runs (after one run that warms the
parser cache).  --heavy adds a key type and a challengedir to every block
(seven lines instead of five).  Then the same for
examples/acme-client.conf (start-up), with the parser cache and without it.

Side by side with those N runs, alternating with them so that the machine's
moods fall on both alike, it times a plain lark parse of the same file: a
fresh interpreter of the same venv that imports lark, builds the parser from
the same grammar file (acme_conf/grammar/acme-client.lark, no cache: plain
`Lark(grammar, parser=...)`) and parses the file into a tree
(`.parse(text)`, no transformer), reading both files itself.  So both sides
are a whole fresh process, interpreter start-up and imports included; what
acme-client does more (every check, the plan, its own parser cache) is its
business.  The ratio printed is acme-client's median over lark's.

Which lark parser: `Lark(grammar)` with no options picks Earley (with its
dynamic lexer), which this grammar is not written for (it is LALR(1)) and
which takes over a second for 200 blocks.  The default compared against is
therefore lark's fastest, `parser="lalr"` with the lexer lark picks for it
(contextual): the stricter baseline.  --lark-parser earley times lark's
literal default instead (minutes at 10,000 blocks).

Targets on a 2-core machine: 10,000 domains < 1.0 s and at most 0.5 times
the plain lark parse; the example < 0.15 s.

--detail also prints where the time goes in one process (import, read,
build) and the slowest imports (-X importtime).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "acme-client.conf"
ACME_CLIENT = Path(sys.executable).with_name("acme-client")
GRAMMAR = REPO / "acme_conf" / "grammar" / "acme-client.lark"
TARGET_LARGE = 1.0
TARGET_LARK_RATIO = 0.5
TARGET_EXAMPLE = 0.15

# The plain lark parse: a fresh interpreter, as `acme-client -n` is one.
LARK_PROBE = """\
import sys
from lark import Lark
grammar_path, config_path, parser = sys.argv[1:]
with open(grammar_path, encoding="utf-8") as file:
    grammar = file.read()
with open(config_path, encoding="utf-8") as file:
    text = file.read()
tree = Lark(grammar, parser=parser).parse(text)
assert tree.data == "start"
"""


def write_configuration(directory: Path, domains: int, heavy: bool = False) -> Path:
    """A configuration of `domains` blocks whose directories exist."""
    directory.mkdir()
    for sub in ("acme", "private", "certs", "www"):
        (directory / sub).mkdir(mode=0o700)
    parts = [
        "authority letsencrypt {\n"
        '\tapi url "https://acme-v02.api.letsencrypt.org/directory"\n'
        f'\taccount key "{directory}/acme/letsencrypt.pem"\n'
        "}\n\n"
    ]
    for index in range(domains):
        name = f"host{index}.example.com"
        keytype = " ecdsa" if heavy else ""
        challengedir = f'\tchallengedir "{directory}/www"\n' if heavy else ""
        parts.append(
            f"domain {name} {{\n"
            f"\talternative names {{ www.{name}, mail.{name} }}\n"
            f'\tdomain key "{directory}/private/{name}.key"{keytype}\n'
            f'\tdomain full chain certificate "{directory}/certs/{name}.pem"\n'
            f"{challengedir}"
            "\tsign with letsencrypt\n"
            "}\n\n"
        )
    path = directory / "acme-client.conf"
    path.write_text("".join(parts))
    return path


def timed(command: list[str], env: dict[str, str]) -> float:
    """The wall time of one run of `command`; exits if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return elapsed


def check_command(config: Path) -> list[str]:
    return [str(ACME_CLIENT), "-n", "-f", str(config)]


def lark_command(config: Path, parser: str) -> list[str]:
    return [sys.executable, "-c", LARK_PROBE, str(GRAMMAR), str(config), parser]


def median_run(config: Path, runs: int, env: dict[str, str]) -> tuple[float, list[float]]:
    """Median wall time of `acme-client -n -f config`; checks it succeeds."""
    times = [timed(check_command(config), env) for _ in range(runs)]
    return statistics.median(times), times


def side_by_side(
    config: Path, runs: int, env: dict[str, str], parser: str
) -> tuple[list[float], list[float]]:
    """Wall times of `acme-client -n` and of the plain lark parse, run in turns.

    Each round runs both, the first of them changing from round to round,
    so that a slow minute of this shared machine slows both alike.
    """
    check = check_command(config)
    plain = lark_command(config, parser)
    ours, lark = [], []
    for round_ in range(runs):
        if round_ % 2 == 0:
            ours.append(timed(check, env))
            lark.append(timed(plain, env))
        else:
            lark.append(timed(plain, env))
            ours.append(timed(check, env))
    return ours, lark


def detail(config: Path, env: dict[str, str]) -> None:
    """Where the time goes in one process, and the slowest imports."""
    probe = (
        "import gc, time, sys\n"
        "t0 = time.perf_counter()\n"
        "import acme_conf.cli\n"
        "from acme_conf.config.parse import read_config\n"
        "from acme_conf.config.build import build_plan\n"
        "t1 = time.perf_counter()\n"
        "gc.disable()  # as load_plan does\n"
        "reading = read_config(sys.argv[1])\n"
        "t2 = time.perf_counter()\n"
        "build_plan(reading, sys.argv[1])\n"
        "t3 = time.perf_counter()\n"
        "print(f'    import {t1 - t0:.3f} s   read (lex + parse) {t2 - t1:.3f} s'"
        "      f'   build plan {t3 - t2:.3f} s')\n"
    )
    subprocess.run([sys.executable, "-c", probe, str(config)], env=env, check=True)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import acme_conf.cli"],
        capture_output=True, text=True, env=env, check=True,
    )
    rows = []
    for line in result.stderr.splitlines()[1:]:  # "import time: self | cumulative | name"
        _, cumulative, name = line.split("|")
        rows.append((int(cumulative), name.strip()))
    print("    slowest imports (cumulative, ms):")
    for cumulative, name in sorted(rows, reverse=True)[:8]:
        print(f"      {cumulative / 1000:7.1f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--detail", action="store_true")
    parser.add_argument("--heavy", action="store_true")
    parser.add_argument("--lark-parser", choices=("lalr", "earley"), default="lalr")
    arguments = parser.parse_args()
    if not ACME_CLIENT.exists():
        sys.exit(f"{ACME_CLIENT} not found: install the package in this interpreter's venv")

    with tempfile.TemporaryDirectory(prefix="acme-bench-") as top:
        top_path = Path(top)
        cache_home = top_path / "cache"
        env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
        config = write_configuration(top_path / "large", arguments.domains, arguments.heavy)
        size = config.stat().st_size

        median_run(EXAMPLE, 1, env)  # builds the parser cache
        large_times, lark_times = side_by_side(config, arguments.runs, env, arguments.lark_parser)
        large, lark = statistics.median(large_times), statistics.median(lark_times)
        ratio = large / lark
        example, example_times = median_run(EXAMPLE, max(arguments.runs, 10), env)
        no_cache_env = dict(env, XDG_CACHE_HOME="/dev/null/none")
        example_cold, _ = median_run(EXAMPLE, max(arguments.runs, 10), no_cache_env)

        print(f"acme-client -n, median of {arguments.runs}+ runs, {os.cpu_count()} CPUs")
        shape = "heavy blocks" if arguments.heavy else "blocks as OpenBSD's example"
        print(
            f"  {arguments.domains} domains, {shape} ({size / 2**20:.1f} MiB): {large:.3f} s"
            f"  (target < {TARGET_LARGE} s)  runs: {_times(large_times)}"
        )
        print(
            f"  plain lark parse of the same file (parser={arguments.lark_parser}, a tree),"
            f" in turns with it: {lark:.3f} s  runs: {_times(lark_times)}"
        )
        print(f"  ratio acme-client -n / plain lark parse: {ratio:.2f}  (target <= {TARGET_LARK_RATIO})")
        print(
            f"  example, parser cache:     {example:.3f} s  (target < {TARGET_EXAMPLE} s)"
            f"  runs: {_times(example_times)}"
        )
        print(f"  example, no parser cache:  {example_cold:.3f} s")
        if arguments.detail:
            print(f"  one process on the {arguments.domains} domains:")
            detail(config, env)
        met = large < TARGET_LARGE and ratio <= TARGET_LARK_RATIO and example < TARGET_EXAMPLE
        print("  targets met" if met else "  TARGETS NOT MET")
    return 0


def _times(times: list[float]) -> str:
    return " ".join(f"{each:.3f}" for each in times)


if __name__ == "__main__":
    sys.exit(main())
