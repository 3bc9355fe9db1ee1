"""A file the configuration now declares otherwise is installed again at once (proc/access_drift.py), and only once."""

from __future__ import annotations

import stat

from test_issue import EXIT_CHANGED, EXIT_UNCHANGED


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_changed_mode_and_a_new_combined_file_are_installed_at_the_next_run_and_then_left_alone(
    workdir, write_conf, run_client
):
    handle = "drift.example.test"
    conf = write_conf(handle)
    first = run_client(conf=conf)
    assert first.returncode == EXIT_CHANGED, first.stderr
    fullchain = workdir.fullchain(handle)
    assert mode(fullchain) == 0o444
    quiet = run_client(conf=conf)
    assert quiet.returncode == EXIT_UNCHANGED, quiet.stderr

    text = conf.read_text()
    line = f'\tdomain full chain certificate "{fullchain}"\n'
    assert line in text
    conf.write_text(text.replace(line, f'\tdomain full chain certificate "{fullchain}" mode 0440\n'))
    narrowed = run_client(conf=conf)

    assert narrowed.returncode == EXIT_CHANGED, narrowed.stderr
    assert f"{handle}: certificate updated ({fullchain}: mode 0444, configured 0440: installed again)" in narrowed.stderr
    assert mode(fullchain) == 0o440
    again = run_client(conf=conf)
    assert again.returncode == EXIT_UNCHANGED, again.stderr  # mended once, not on every run

    combined = workdir.cert_dir / f"{handle}.combined.pem"
    text = conf.read_text()
    conf.write_text(text.replace(f'mode 0440\n', f'mode 0440\n\tdomain combined certificate "{combined}"\n', 1))
    added = run_client(conf=conf)

    assert added.returncode == EXIT_CHANGED, added.stderr
    assert f"{combined}: missing: installed again" in added.stderr
    assert combined.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----") and mode(combined) == 0o400
    assert run_client(conf=conf).returncode == EXIT_UNCHANGED
