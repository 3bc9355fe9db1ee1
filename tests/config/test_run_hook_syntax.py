"""`hook changed` and `hook failed`: the run hooks' statements, checked at -n with file:line, and read back by -nv."""

from __future__ import annotations

from pathlib import Path

import pytest

from acme_conf.config import dump
from acme_conf.config.plan import RunHook

from config_testing import AUTHORITY, domain, errors_of, plan_of

HOOK = "/bin/true"  # a program that exists, root's alone, on every test machine


def test_both_hooks_with_arguments_and_options_read_back() -> None:
    plan = plan_of(
        f'hook failed "{HOOK}" mail "ops team"\n'
        + AUTHORITY
        + f"hook changed {HOOK} reload nginx.service user _acmehook timeout 30\n"
        + domain("a.example")
        + domain("b.example")
    )
    changed = RunHook("changed", Path(HOOK), ("reload", "nginx.service"), "_acmehook", 30)
    failed = RunHook("failed", Path(HOOK), ("mail", "ops team"), None, 60)
    assert plan.run_hooks == (changed, failed)  # `changed` first: the order they run in
    text = dump(plan)
    assert text.startswith(
        f'hook changed "{HOOK}" "reload" "nginx.service" user _acmehook timeout 30\n'
        f'hook failed "{HOOK}" "mail" "ops team" timeout 60\n'
    )
    assert dump(plan_of(text)) == text


def test_a_plan_without_hooks_has_none() -> None:
    plan = plan_of(AUTHORITY + domain("a.example"))
    assert plan.run_hooks == ()
    assert "hook" not in dump(plan)


def test_a_hook_line_may_come_from_an_included_file(tmp_path: Path) -> None:
    included = tmp_path / "hooks.conf"
    included.write_text(f"hook changed {HOOK} user nobody\n")
    plan = plan_of(f'include "{included}"\n' + AUTHORITY + domain("a.example"))
    assert plan.run_hooks == (RunHook("changed", Path(HOOK), (), "nobody"),)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("hook changed bin/true", "bin/true: not an absolute path"),
        (f"hook changed {HOOK} reload user", "hook changed: user needs a value"),
        (f"hook failed {HOOK} timeout 5 timeout 6", "hook failed: timeout given twice"),
        (f"hook changed {HOOK} user nobody colour blue", "hook changed: unknown option colour after the arguments (user, timeout)"),
        (f"hook changed {HOOK} user root", "hook changed: user root: not an unprivileged user's name"),
        (f"hook changed {HOOK} user Bad-User", "hook changed: user Bad-User: not an unprivileged user's name"),
        (f"hook failed {HOOK} timeout 0", "hook failed: timeout 0: not a number from 1 to 3600"),
        (f"hook failed {HOOK} timeout 3601", "hook failed: timeout 3601: not a number from 1 to 3600"),
        (f"hook failed {HOOK} timeout soon", "hook failed: timeout soon: not a number from 1 to 3600"),
        ("hook changed /nonexistent/hook", "/nonexistent/hook: No such file or directory"),
        ("hook changed /etc/passwd", "/etc/passwd: not executable"),
        ("hook changed /usr/bin", "/usr/bin: not a file"),
    ],
)
def test_a_hook_that_cannot_be_used_is_an_error_at_its_line(line: str, why: str) -> None:
    assert errors_of(AUTHORITY + domain("a.example") + line + "\n") == [f"test.conf:9: {why}"]


def test_each_hook_is_given_once() -> None:
    text = f"hook changed {HOOK}\nhook failed {HOOK}\nhook changed {HOOK} x\n" + AUTHORITY + domain("a.example")
    assert errors_of(text) == ["test.conf:3: hook changed already defined at line 1"]


def test_a_hook_others_may_change_is_refused(tmp_path: Path) -> None:
    program = tmp_path / "reload"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o775)
    assert errors_of(f'hook changed "{program}"\n' + AUTHORITY + domain("a.example")) == [
        f"test.conf:1: {program}: group or others may write it, and so run code as the hook"
    ]


def test_a_hook_without_a_program_is_a_syntax_error() -> None:
    assert errors_of("hook failed\n" + AUTHORITY + domain("a.example")) == [
        'test.conf:1: syntax error: expected a value after "hook failed", found end of line'
    ]


def test_a_hook_inside_a_block_is_a_syntax_error() -> None:
    errors = errors_of(AUTHORITY + domain("a.example", f"hook changed {HOOK}"))
    assert len(errors) == 1 and "syntax error" in errors[0] and "hook changed" in errors[0], errors


def test_hook_is_still_a_word_elsewhere() -> None:
    """Only `hook changed` and `hook failed` are keywords: a handle or value spelled `hook` is a word."""
    plan = plan_of(AUTHORITY + domain("hook", "alternative names { hook.example }"))
    assert plan.domains[0].handle == "hook" and plan.run_hooks == ()
