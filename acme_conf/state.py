"""What a run keeps for the next: per domain, until when the CA asked to be left alone, its renewal advice,
what a jailed revokeproc found in the certificate file (proc/known_certificates.py), and how the last run
ended for it (the status view, acme-client -l, shows it).

One small JSON file per domain handle in one state directory: /var/db/acme
for root, otherwise the user's state directory (platformdirs), or
$ACME_CLIENT_STATE_DIR.  Only the parent reads and writes it, and only
typed values it validated (moments in time, a certificate's ARI identifier),
never text from the CA.  A
file is written whole (a temporary file, flushed, renamed into place); one
that cannot be read or makes no sense is a warning, and is rebuilt by the
next write.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import platformdirs

from acme_conf.acme.polling import MAX_BACKOFF
from acme_conf.acme.renewal_info import MAX_CHECK_INTERVAL, NOT_OFFERED_CHECK_INTERVAL, is_certificate_id
from acme_conf.acme.text import printable
from acme_conf.files import replace_whole

SYSTEM_STATE_DIRECTORY = Path("/var/db/acme")
STATE_DIRECTORY_VARIABLE = "ACME_CLIENT_STATE_DIR"
MAX_STATE_FILE = 64 * 1024
# What netproc may write to the parent in one run: a line of JSON is 60 to 400 bytes, and a -P run
# reports one record (~200 bytes) per name of a domain, up to LIMITS' 100 names and more.
MAX_REPORT = 64 * 1024
# A kept certificate's names: LIMITS allows 100 per domain block; a leaf may hold more, which
# never equal the configured ones (so it is due, and nothing is gained by keeping them).
MAX_KNOWN_NAMES = 1000
MAX_KNOWN_NAME = 255
MAX_KEY_IDENTITY = 8192
# A last run's reason: one line, as the summary printed it (already printable).
MAX_REASON = 600
OUTCOMES = ("changed", "unchanged", "failed")

log = logging.getLogger("acme_conf")

T = TypeVar("T")


@dataclass(frozen=True)
class KeptRenewal:
    """What the CA's renewal information (ARI, RFC 9773) said of one certificate.

    `window` and `moment` are None when the CA offers no renewal information
    or its answer could not be used: then the lifetime rule alone decides
    until `next_check`.  A run that installs a certificate keeps no window,
    and no identifier (only a jailed process could compute it): the next
    runs ask about the new certificate once `next_check` has come.
    """

    certificate: str  # the certificate's ARI identifier (acme_conf/acme/renewal_info.py); "": the one a run just installed
    next_check: datetime  # ask the CA again no sooner than this (its Retry-After)
    window: tuple[datetime, datetime] | None = None  # the suggested window, start and end
    moment: datetime | None = None  # the moment drawn inside it: renewal is due from then


@dataclass(frozen=True)
class KnownCertificate:
    """What a jailed revokeproc found in a certificate file, bound to the file's bytes by their SHA-256.

    `key` is the parent's own note of the domain key file the judgement was
    made against (proc/known_certificates.key_identity: its path, configured
    type, and metadata, never its contents).
    """

    sha256: str  # of the file's bytes, 64 lower-case hex digits
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # the leaf's names, as certnames.certificate_names gives them
    key_matches: bool  # the leaf is for the domain key keyproc told then
    certificate_id: str  # its ARI identifier; "" when it cannot be named
    key: str


@dataclass(frozen=True)
class LastRun:
    """How the last run ended for a domain, as its summary line said it."""

    at: datetime  # when it ended
    outcome: str  # one of OUTCOMES
    reason: str  # why, one printable line ("" when not known)
    last_success: datetime | None  # when a run last ended changed or unchanged; None: never yet


@dataclass(frozen=True)
class DomainState:
    """What is kept for one domain."""

    backoff_until: datetime | None = None  # the CA refused (rate limit, 503): send nothing before this
    renewal: KeptRenewal | None = None  # the CA's renewal advice for the installed certificate
    certificate: KnownCertificate | None = None  # what was found in the certificate file last judged
    last_run: LastRun | None = None  # how the last run ended for it


def last_run_ended(previous: LastRun | None, outcome: str, reason: str, at: datetime) -> LastRun:
    """The record of a run that ended at `at` with `outcome`, keeping the last success from `previous` after a failure."""
    if outcome not in OUTCOMES:
        raise ValueError(f"{outcome!r} is not an outcome")
    succeeded = at if outcome != "failed" else previous.last_success if previous is not None else None
    return LastRun(at, outcome, printable(reason, MAX_REASON), succeeded)


def state_directory() -> Path:
    configured = os.environ.get(STATE_DIRECTORY_VARIABLE)
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return SYSTEM_STATE_DIRECTORY
    return platformdirs.user_state_path("acme-client")


@dataclass(frozen=True)
class AuthorityState:
    """What is kept for one authority's account."""

    # -k moved the account key here, and a new one takes its place: until a run
    # has changed the account's key to the new one, it is the previous account key.
    previous_account_key: str | None = None


def _file(directory: Path, handle: str) -> Path:
    if "/" in handle or handle.startswith(".") or not handle:
        raise ValueError(f"{handle!r} cannot name a state file")
    return directory / f"{handle}.json"


def _authority_file(directory: Path, name: str) -> Path:
    """An authority's file, in a directory of its own (no domain handle holds "/"), its name quoted."""
    return directory / "authorities" / f"{quote(name, safe='')}.json"


def load_state(directory: Path, handle: str) -> DomainState:
    """The kept state of `handle` (empty when there is none, or none that makes sense).

    A back-off is believed up to a week ahead of now whatever the file says
    (a clock that was wrong when it was written holds nothing back for long).
    """
    path = _file(directory, handle)
    try:
        raw = _load_record(path, handle)
        if raw is None:
            return DomainState()
        now = datetime.now(timezone.utc)
        until = _moment(raw.get("backoff_until"))
        latest = now + timedelta(seconds=MAX_BACKOFF)
        return DomainState(
            backoff_until=min(until, latest) if until is not None else None,
            renewal=_renewal(raw.get("renewal"), now),
            certificate=_kept_known(raw.get("certificate")),
            last_run=_last_run_kept(raw.get("last_run"), handle, path),
        )
    except (ValueError, UnicodeDecodeError, OverflowError, RecursionError) as error:
        log.warning("%s: state file %s is corrupt (%s): ignored, and rebuilt", handle, path, printable(error, 80))
        save_state(directory, handle, DomainState())
        return DomainState()


def load_authority_state(directory: Path, name: str) -> AuthorityState:
    """The kept state of authority `name` (empty when there is none, or none that makes sense)."""
    path = _authority_file(directory, name)
    try:
        raw = _load_record(path, f"authority {name}")
        if raw is None:
            return AuthorityState()
        previous = raw.get("previous_account_key")
        if previous is not None and not (isinstance(previous, str) and previous.startswith("/") and "\0" not in previous):
            raise ValueError("previous_account_key: not an absolute path")
        return AuthorityState(previous_account_key=previous)
    except (ValueError, UnicodeDecodeError, OverflowError, RecursionError) as error:
        log.warning("authority %s: state file %s is corrupt (%s): ignored, and rebuilt", name, path, printable(error, 80))
        save_authority_state(directory, name, AuthorityState())
        return AuthorityState()


def _load_record(path: Path, label: str) -> dict[str, object] | None:
    """A state file's JSON object; None when there is none, or it cannot be read (said); ValueError when corrupt."""
    try:
        data = _read_private(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("%s: state file %s cannot be read (%s): ignored", label, path, error.strerror)
        return None
    if len(data) > MAX_STATE_FILE:
        raise ValueError("too large")
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    return raw


def _read_private(path: Path) -> bytes:
    """The file's bytes (one over the cap at most): a regular file, no link followed, never blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return os.read(fd, MAX_STATE_FILE + 1)
    finally:
        os.close(fd)


def save_state(directory: Path, handle: str, state: DomainState) -> None:
    """Write `handle`'s state whole, or say why not (the run's certificates do not depend on it)."""
    record = {
        "backoff_until": _text(state.backoff_until),
        "renewal": _renewal_record(state.renewal),
        "certificate": _known_record(state.certificate),
        "last_run": _last_run_record(state.last_run),
    }
    _write_record(directory, _file(directory, handle), record, handle)


def save_authority_state(directory: Path, name: str, state: AuthorityState) -> bool:
    """Write authority `name`'s state whole; False after saying why not."""
    record = {"previous_account_key": state.previous_account_key}
    return _write_record(directory, _authority_file(directory, name), record, f"authority {name}")


def _write_record(root: Path, path: Path, record: dict[str, object], label: str) -> bool:
    """Write a state file under `root` whole (a temporary file, flushed, renamed); False after saying why not.

    The state directory, and the one for authorities in it, are made private (0700).
    """
    directory = path.parent
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.mkdir(mode=0o700, exist_ok=True)
        replace_whole(path, json.dumps(record).encode("ascii") + b"\n", 0o600)
    except OSError as error:
        log.warning("%s: cannot keep state in %s: %s", label, directory, error.strerror)
        return False
    return True


def report_records(report: bytes) -> Iterator[dict[str, object]]:
    """Each JSON object on a line of netproc's report (its first MAX_REPORT bytes); what netproc wrote: anything."""
    for line in report[:MAX_REPORT].splitlines():
        try:
            raw = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(raw, dict):
            yield raw


def backoff_reported(report: bytes, now: datetime) -> datetime | None:
    """The back-off netproc reported, checked: a moment from now to at most MAX_BACKOFF ahead; else None."""
    until = _first_reported(report, lambda raw: _moment(raw.get("backoff_until")))
    if until is None:
        return None
    return min(max(until, now), now + timedelta(seconds=MAX_BACKOFF))


def account_current_reported(report: bytes) -> bool:
    """Whether netproc reported that the account key names the account (so a kept previous key is done with)."""
    return any(raw.get("account") == "current" for raw in report_records(report))


def renewal_reported(report: bytes, now: datetime) -> KeptRenewal | None:
    """The renewal advice netproc reported, checked as a state file is; None when there is none that makes sense."""
    return _first_reported(report, lambda raw: _renewal(raw.get("renewal"), now))


def known_reported(report: bytes, key: str) -> KnownCertificate | None:
    """What revokeproc reported of the certificate file, checked as a state file is, with the parent's note
    of the domain `key` it was judged against; None when it reported nothing that makes sense."""
    return _first_reported(report, lambda raw: _known(raw.get("certificate"), key))


def _first_reported(report: bytes, read: Callable[[dict[str, object]], T | None]) -> T | None:
    """The first value `read` makes of a line of the report; a line it refuses (ValueError) is passed over."""
    for raw in report_records(report):
        try:
            value = read(raw)
        except (ValueError, OverflowError):
            continue
        if value is not None:
            return value
    return None


def _known(value: object, key: object) -> KnownCertificate | None:
    """A KnownCertificate from its JSON record; ValueError for one that makes no sense."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(key, str) or not key or len(key) > MAX_KEY_IDENTITY:
        raise ValueError("certificate: not a record of a certificate file")
    digest, names, matches, identifier = value.get("sha256"), value.get("names"), value.get("key_matches"), value.get("id")
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise ValueError("certificate: no SHA-256")
    if not isinstance(names, list) or len(names) > MAX_KNOWN_NAMES or not all(_known_name(name) for name in names):
        raise ValueError("certificate: names are not a list of names")
    if not isinstance(matches, bool) or not (identifier == "" or is_certificate_id(identifier)):
        raise ValueError("certificate: no key match or identifier")
    not_before, not_after = _moment(value.get("not_before")), _moment(value.get("not_after"))
    if not_before is None or not_after is None or not not_before < not_after:
        raise ValueError("certificate: no lifetime")
    return KnownCertificate(digest, not_before, not_after, tuple(names), matches, str(identifier), key)


def _kept_known(value: object) -> KnownCertificate | None:
    """A KnownCertificate from a state file, which keeps the key note inside its record."""
    return _known(value, value.get("key") if isinstance(value, dict) else None)


def _known_name(name: object) -> bool:
    """A name as certnames gives it: printable ASCII without spaces (anything else from the file is never a configured name)."""
    return isinstance(name, str) and 0 < len(name) <= MAX_KNOWN_NAME and name.isascii() and name.isprintable() and " " not in name


def _known_record(known: KnownCertificate | None) -> dict[str, object] | None:
    if known is None:
        return None
    return {
        "sha256": known.sha256,
        "not_before": _text(known.not_before),
        "not_after": _text(known.not_after),
        "names": list(known.names),
        "key_matches": known.key_matches,
        "id": known.certificate_id,
        "key": known.key,
    }


def _last_run(value: object) -> LastRun | None:
    """A LastRun from its JSON record (a state file without one is from before it was kept); ValueError for one that makes no sense."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("last_run: not a record of a run")
    try:
        at, succeeded = _moment(value.get("at")), _moment(value.get("last_success"))
    except ValueError as error:
        raise ValueError(f"last_run: {error}") from None
    outcome, reason = value.get("outcome"), value.get("reason")
    if at is None or outcome not in OUTCOMES:
        raise ValueError("last_run: no moment or outcome")
    if not isinstance(reason, str) or printable(reason, MAX_REASON + 3) != reason:  # + 3: a cut line ends in ...
        raise ValueError("last_run: the reason is not one printable line")
    return LastRun(at, str(outcome), reason, succeeded)


def _last_run_kept(value: object, handle: str, path: Path) -> LastRun | None:
    """The last run's record, or None after saying it makes no sense: it only informs -l, so a bad one
    costs only itself, never the back-off or the renewal advice kept beside it."""
    try:
        return _last_run(value)
    except ValueError as error:
        log.warning("%s: state file %s: its last run is ignored (%s)", handle, path, printable(error, 80))
        return None


def _last_run_record(last: LastRun | None) -> dict[str, object] | None:
    if last is None:
        return None
    return {"at": _text(last.at), "outcome": last.outcome, "reason": last.reason, "last_success": _text(last.last_success)}


def _renewal(value: object, now: datetime) -> KeptRenewal | None:
    """A KeptRenewal from its JSON record; ValueError for one that makes no sense.

    The next check is believed at most a week ahead (a CA without renewal
    information is looked at again weekly, one with it at least daily); a
    moment outside its window, or a window that ends before it starts,
    keeps nothing of the window.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or not (value.get("certificate") == "" or is_certificate_id(value.get("certificate"))):
        raise ValueError("renewal: not a record of a certificate")
    check = _moment(value.get("next_check"))
    if check is None:
        raise ValueError("renewal: no next check")
    latest = now + (MAX_CHECK_INTERVAL if value.get("window") is not None else NOT_OFFERED_CHECK_INTERVAL)
    kept = KeptRenewal(str(value["certificate"]), min(check, latest))
    window, moment = value.get("window"), _moment(value.get("moment"))
    if not isinstance(window, list) or len(window) != 2 or moment is None or not kept.certificate:
        return kept
    start, end = _moment(window[0]), _moment(window[1])
    if start is None or end is None or not start <= moment <= end or not start < end:
        return kept
    return KeptRenewal(kept.certificate, kept.next_check, (start, end), moment)


def _renewal_record(renewal: KeptRenewal | None) -> dict[str, object] | None:
    if renewal is None:
        return None
    return {
        "certificate": renewal.certificate,
        "next_check": _text(renewal.next_check),
        "window": [_text(moment) for moment in renewal.window] if renewal.window else None,
        "moment": _text(renewal.moment),
    }


def _text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(value: object) -> datetime | None:
    """An ISO 8601 moment with its offset, in UTC; None for null; ValueError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("not a moment")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a moment without its offset")
    return moment.astimezone(timezone.utc)
