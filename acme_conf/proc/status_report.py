"""The status view printed: a table for people, JSON for monitoring (its schema is in acme-client(1)),
and a Prometheus textfile written whole.

Everything shown is the parent's own (the configuration, its clock) or a
typed value a jailed process produced and the parent checked
(state.KnownCertificate, state.LastRun); reasons are already printable
lines.  The names column is the configured one; a certificate's names
appear only inside a renewal reason (the ones it lacks or has too many),
sanitised as every reason is.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from acme_conf.files import replace_whole, sync_directory
from acme_conf.proc.renewal_outlook import MISSING, UNJUDGED
from acme_conf.proc.status_view import DomainStatus
from acme_conf.state import LastRun

JSON_VERSION = 1
COLUMNS = ("HANDLE", "NAMES", "AUTHORITY", "KEY", "EXPIRES", "DAYS", "RENEWAL", "WHY", "LAST RUN")
EXIT_CURRENT = 0  # every certificate is current
EXIT_ERROR = 1  # a certificate could not be judged, or the view could not be written
EXIT_ATTENTION = 3  # a certificate is missing or due for renewal, and every one could be judged


def exit_status(statuses: Sequence[DomainStatus]) -> int:
    if any(status.outlook.rule == UNJUDGED for status in statuses):
        return EXIT_ERROR
    return EXIT_ATTENTION if any(status.outlook.due for status in statuses) else EXIT_CURRENT


def condition(status: DomainStatus) -> str:
    """"current", "due", "missing" or "unjudged": what the view says of it in one word."""
    if status.outlook.rule in (MISSING, UNJUDGED):
        return status.outlook.rule
    return "due" if status.outlook.due else "current"


def days_left(status: DomainStatus, now: datetime) -> int | None:
    """Whole days until it expires, counted towards zero (-1: a day or more ago); None without a certificate judged."""
    if status.known is None:
        return None
    return math.trunc((status.known.not_after - now).total_seconds() / 86400)


def key_description(status: DomainStatus) -> str:
    job = status.job
    return f"{job.keytype.value} {job.key_size}" if job.key_size else job.keytype.value


def table(statuses: Sequence[DomainStatus], now: datetime) -> str:
    """One line per domain under a header, columns aligned, the last one free."""
    rows = [COLUMNS] + [_row(status, now) for status in statuses]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS) - 1)]
    lines = ["  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def _row(status: DomainStatus, now: datetime) -> tuple[str, ...]:
    known, outlook = status.known, status.outlook
    days = days_left(status, now)
    if outlook.due:
        renewal = "now"
    else:
        renewal = _minute(outlook.due_at) if outlook.due_at is not None else "-"
    return (
        status.job.handle,
        ",".join(status.job.names),
        status.job.authority.name,
        key_description(status),
        _minute(known.not_after) if known is not None else "-",
        str(days) if days is not None else "-",
        renewal,
        outlook.rule if not outlook.due or outlook.rule in (MISSING, UNJUDGED) else f"{outlook.rule} (due)",
        _last_run_cell(status.kept.last_run),
    )


def _last_run_cell(last: LastRun | None) -> str:
    if last is None:
        return "-"
    cell = f"{_minute(last.at)} {last.outcome}"
    return f"{cell}: {last.reason}" if last.outcome == "failed" and last.reason else cell


def document(statuses: Sequence[DomainStatus], now: datetime) -> str:
    """The JSON document (acme-client(1), STATUS, has its schema), one line."""
    return json.dumps({"version": JSON_VERSION, "generated": _moment(now), "domains": [_entry(s, now) for s in statuses]}) + "\n"


def _entry(status: DomainStatus, now: datetime) -> dict[str, object]:
    job, known, outlook, kept = status.job, status.known, status.outlook, status.kept
    renewal = kept.renewal
    last = kept.last_run
    return {
        "handle": job.handle,
        "names": list(job.names),
        "authority": job.authority.name,
        "key_type": job.keytype.value,
        "key_size": job.key_size,
        "certificate": status.certificate or None,
        "condition": condition(status),
        "not_before": _moment(known.not_before) if known else None,
        "not_after": _moment(known.not_after) if known else None,
        "days_left": days_left(status, now),
        "key_matches": known.key_matches if known else None,
        "renewal": {"due": outlook.due, "due_at": _moment(outlook.due_at), "rule": outlook.rule, "reason": outlook.reason},
        "ari": None if renewal is None else {
            "moment": _moment(renewal.moment),
            "window": [_moment(renewal.window[0]), _moment(renewal.window[1])] if renewal.window else None,
            "next_check": _moment(renewal.next_check),
        },
        "backoff_until": _moment(kept.backoff_until),
        "last_run": None if last is None else {
            "at": _moment(last.at), "outcome": last.outcome, "reason": last.reason, "last_success": _moment(last.last_success),
        },
    }


def prometheus(statuses: Sequence[DomainStatus]) -> str:
    """The Prometheus text exposition: per domain, when its certificate expires, whether renewal is due,
    when a run last succeeded for it, and whether the last run failed."""
    metrics = (
        ("acme_client_certificate_expiry_timestamp_seconds", "When the certificate expires (its notAfter).",
         lambda s: s.known.not_after.timestamp() if s.known else None),
        ("acme_client_certificate_renewal_due", "1 when renewal is due (or the certificate is missing or cannot be judged).",
         lambda s: 1 if s.outlook.due else 0),
        ("acme_client_last_success_timestamp_seconds", "When a run last ended for the domain without failing.",
         lambda s: s.kept.last_run.last_success.timestamp() if s.kept.last_run and s.kept.last_run.last_success else None),
        ("acme_client_last_run_failed", "1 when the last run failed for the domain.",
         lambda s: 1 if s.kept.last_run and s.kept.last_run.outcome == "failed" else 0),
    )
    lines = []
    for name, help_text, value_of in metrics:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for status in statuses:
            value = value_of(status)
            if value is not None:
                lines.append(f'{name}{{handle="{_label(status.job.handle)}"}} {value:g}' if isinstance(value, int)
                             else f'{name}{{handle="{_label(status.job.handle)}"}} {value:.0f}')
    return "\n".join(lines) + "\n"


def write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` whole (a temporary file beside it, flushed, renamed): a reader sees the old or the new. OSError.

    Mode 0644 whatever the umask (the units' UMask=0077 among them): the
    collector that reads it is another user, and it holds nothing secret.
    """
    replace_whole(path, text.encode("utf-8"), 0o644)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sync_directory(directory)  # the rename too survives a crash
    finally:
        os.close(directory)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _moment(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
