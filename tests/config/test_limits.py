"""The caps on reading a configuration (acme_conf/config/limits.py).

Each cap is met with a file that passes it, through `acme-client -n` as a
user runs it: the error is `file:line: message` among the file's other
errors, the exit status 1, and never a traceback.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from acme_conf.config.limits import (
    MAX_CONFIG_SIZE,
    MAX_EXPANDED_LINE,
    MAX_EXPANSION,
    MAX_FILES,
    MAX_INCLUDE_DEPTH,
    MAX_LINE_LENGTH,
)

from config_testing import AUTHORITY, domain, errors_of, plan_of

ACME_CLIENT = Path(sys.executable).with_name("acme-client")
MEMORY_LIMIT = 512 * 2**20


def check(config: Path, memory: int | None = None) -> tuple[int, list[str]]:
    """Exit status and standard error lines of `acme-client -n -f config`."""

    def limit_memory() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    result = subprocess.run(
        [str(ACME_CLIENT), "-n", "-f", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
    )
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    return result.returncode, errors


def doubling_macros(levels: int) -> str:
    """m0 = "x", m1 = $m0 $m0, ...: the value of each is twice the one before."""
    lines = ['m0 = "x"'] + [f"m{level} = $m{level - 1} $m{level - 1}" for level in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def first_level_too_long(levels: int) -> int:
    """The level whose line the doubling makes longer than MAX_EXPANDED_LINE."""
    value = 1  # len("x")
    for level in range(1, levels + 1):
        line = f"m{level} = $m{level - 1} $m{level - 1}"
        if len(line) + 2 * (value - len(f"$m{level - 1}")) > MAX_EXPANDED_LINE:
            return level
        value = 2 * value + 1
    raise AssertionError("the doubling never passes the cap")


# ---- line length --------------------------------------------------------------


def test_a_line_longer_than_the_cap_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "long.conf"
    long_comment = "# " + "x" * (MAX_LINE_LENGTH - 1)
    config.write_text(AUTHORITY + long_comment + "\n" + domain("a.example", "bogus"))
    assert check(config) == (
        1,
        [
            f"{config}:5: line too long (more than {MAX_LINE_LENGTH} characters)",
            f'{config}:9: syntax error: expected a domain option or "}}", found "bogus"',
        ],
    )


def test_a_line_of_the_cap_is_read() -> None:
    comment = "# " + "x" * (MAX_LINE_LENGTH - 2)
    assert plan_of(AUTHORITY + comment + "\n" + domain("a.example")).domains[0].handle == "a.example"


def test_lines_joined_by_a_backslash_count_as_one() -> None:
    # Three lines of half the cap each, a comment continued twice.
    half = "x" * (MAX_LINE_LENGTH // 2)
    text = AUTHORITY + f"domain a.example {{\n\t# {half} \\\n{half} \\\n{half}\n\tbogus\n}}\n"
    assert errors_of(text) == [
        f"test.conf:6: line too long (more than {MAX_LINE_LENGTH} characters)",
        'test.conf:9: syntax error: expected a domain option or "}", found "bogus"',
    ]


def test_every_long_line_is_reported_and_read_as_empty() -> None:
    long = "y" * (MAX_LINE_LENGTH + 1) + "\n"
    errors = errors_of(long + AUTHORITY + long * 3 + domain("a.example"))
    message = f"line too long (more than {MAX_LINE_LENGTH} characters)"
    assert errors == [f"test.conf:{line}: {message}" for line in (1, 6, 7, 8)]


# ---- macro expansion -------------------------------------------------------------


def test_doubling_macros_stop_at_the_line_they_make_too_long(tmp_path: Path) -> None:
    # Each use of a macro whose definition failed fails with it: one error.
    config = tmp_path / "doubling.conf"
    config.write_text(doubling_macros(30) + AUTHORITY + domain("a.example", "profile $m30"))
    level = first_level_too_long(30)
    assert check(config) == (
        1,
        [
            f"{config}:{level + 1}: line too long once its macros are expanded"
            f" (more than {MAX_EXPANDED_LINE} characters)"
        ],
    )


def test_doubling_macros_need_little_memory_and_time(tmp_path: Path) -> None:
    # Without the cap the last line alone is 2 GiB of text (a MemoryError here).
    config = tmp_path / "doubling.conf"
    config.write_text(doubling_macros(30) + "names = $m30\n")
    status, errors = check(config, memory=MEMORY_LIMIT)
    assert status == 1
    assert errors == [
        f"{config}:{first_level_too_long(30) + 1}: line too long once its macros are expanded"
        f" (more than {MAX_EXPANDED_LINE} characters)"
    ]


def test_a_line_too_long_once_expanded_keeps_its_own_words() -> None:
    # The macro that passes the cap expands to nothing; the braces around it
    # stay, so the block reads on and nothing else is reported.
    text = doubling_macros(first_level_too_long(30) - 1)
    text += AUTHORITY + domain("a.example", "alternative names { $m0 $m13 $m13 $m13 $m13 $m13 }")
    text += domain("b.example", "bogus")
    line = text.count("\n", 0, text.index("alternative")) + 1
    assert errors_of(text) == [
        f"test.conf:{line}: line too long once its macros are expanded"
        f" (more than {MAX_EXPANDED_LINE} characters)",
        f'test.conf:{line + 5}: syntax error: expected a domain option or "}}", found "bogus"',
    ]


def test_a_macro_defined_with_an_undefined_one_is_reported_once() -> None:
    text = "a = $nowhere\nb = $a\n" + AUTHORITY + domain("a.example", "profile $b")
    assert errors_of(text) == ["test.conf:1: macro 'nowhere' not defined"]


def test_a_line_that_macros_empty_reads_as_a_blank_line() -> None:
    # As upstream, where an empty value leaves the line's end; and cheap:
    # no syntax error to recover from on each such line.
    text = 'nothing = ""\n$nothing\n' + AUTHORITY + "$nothing $nothing\n" + domain("a.example")
    assert plan_of(text).domains[0].handle == "a.example"


def expansion_past_the_cap() -> tuple[str, int]:
    """A configuration whose macros put in more than MAX_EXPANSION, and the line where they do."""
    word = "x" * (MAX_LINE_LENGTH - 16)
    words = MAX_EXPANDED_LINE // (len(word) + 3) - 1  # `$w ` each, in a line of the cap
    lines = [f'w = "{word}"', "a = " + " ".join(["$w"] * words)]
    expanded = words * len(word)
    value = words * len(word) + words - 1  # the words of `a`, joined by one space
    while expanded <= MAX_EXPANSION:
        lines.append("b = $a")
        expanded += value
    return "\n".join(lines) + "\n", len(lines)


def test_macros_that_expand_past_the_total_cap_stop_the_reading(tmp_path: Path) -> None:
    # The errors before it stand; nothing after it is read.
    config = tmp_path / "expansion.conf"
    text, line = expansion_past_the_cap()
    config.write_text("bogus1\n" + text + "bogus2\n" + AUTHORITY + domain("a.example", "profile $b"))
    assert check(config) == (
        1,
        [
            f'{config}:1: syntax error: expected "=" after "bogus1", found end of line',
            f"{config}:{line + 1}: macros expand to more than {MAX_EXPANSION // 2**20} MiB of text in all",
        ],
    )


# ---- include ---------------------------------------------------------------------


def test_include_depth_is_an_error_at_the_include_line(tmp_path: Path) -> None:
    for level in range(MAX_INCLUDE_DEPTH + 2):
        (tmp_path / f"{level}.conf").write_text(f'# level {level}\ninclude "{tmp_path}/{level + 1}.conf"\n')
    (tmp_path / f"{MAX_INCLUDE_DEPTH + 2}.conf").write_text("")
    deepest = tmp_path / f"{MAX_INCLUDE_DEPTH}.conf"
    assert check(tmp_path / "0.conf") == (
        1,
        [
            f"{deepest}:2: failed to include file {tmp_path}/{MAX_INCLUDE_DEPTH + 1}.conf:"
            " includes nested too deeply"
        ],
    )


def test_including_more_files_than_the_cap_stops_the_reading(tmp_path: Path) -> None:
    # One file included again and again: each time counts.
    empty = tmp_path / "empty.conf"
    empty.write_text("")
    config = tmp_path / "many.conf"
    config.write_text(f'include "{empty}"\n' * (MAX_FILES + 10) + "bogus\n")
    assert check(config) == (
        1,
        [f"{config}:{MAX_FILES}: failed to include file {empty}: more than {MAX_FILES} files to read"],
    )


def test_files_larger_than_the_cap_together_stop_the_reading(tmp_path: Path) -> None:
    # The same large file included again and again: each time counts.
    large = tmp_path / "large.conf"
    line = "# " + "z" * 61 + "\n"
    large.write_text(line * (2**20 // len(line)))
    config = tmp_path / "main.conf"
    config.write_text(f'include "{large}"\n' * 40 + "bogus\n")
    includes_that_fit = (MAX_CONFIG_SIZE - config.stat().st_size) // large.stat().st_size
    size = MAX_CONFIG_SIZE // 2**20
    assert check(config) == (
        1,
        [
            f"{config}:{includes_that_fit + 1}: failed to include file {large}:"
            f" the files of the configuration would be larger than {size} MiB together"
        ],
    )


def test_a_file_larger_than_the_cap_is_not_read(tmp_path: Path) -> None:
    config = tmp_path / "huge.conf"
    with config.open("wb") as file:
        file.truncate(MAX_CONFIG_SIZE + 1)
    assert check(config) == (1, [f"acme-client: {config}: larger than {MAX_CONFIG_SIZE // 2**20} MiB"])


# ---- the manual ---------------------------------------------------------------------


def test_the_manual_states_the_limits_and_their_errors() -> None:
    manual = (Path(__file__).resolve().parents[2] / "man" / "acme-client.conf.5").read_text()
    text = " ".join(manual.split())  # lines joined as mandoc fills them
    for stated in (
        f"A line of more than {MAX_LINE_LENGTH} characters",
        f"A line of more than {MAX_EXPANDED_LINE} characters once its macros are expanded",
        f"Includes nested more than {MAX_INCLUDE_DEPTH} deep",
        f"More than {MAX_EXPANSION // 2**20} MiB of text put in by macros, more than {MAX_FILES} files"
        f" read, or more than {MAX_CONFIG_SIZE // 2**20} MiB of files read",
        f"line too long (more than {MAX_LINE_LENGTH} characters)",
        f"line too long once its macros are expanded (more than {MAX_EXPANDED_LINE} characters)",
        f"macros expand to more than {MAX_EXPANSION // 2**20} MiB of text in all",
        f"is larger than {MAX_CONFIG_SIZE // 2**20} MiB",
        f"nest at most {MAX_INCLUDE_DEPTH} deep",
    ):
        assert stated in text, stated
