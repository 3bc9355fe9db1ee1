"""The parent's record of the challenge files a chngproc has created and not yet removed (and of a hookproc's records).

chngproc removes its files when each domain is done and when it exits; one
killed (SIGKILL) cannot.  So the parent gives each chngproc a journal, an
anonymous memory file, in which chngproc writes "+TOKEN" once a file exists
and "-TOKEN" once it is gone.  After chngproc has ended the parent reads it
and, if files are left, starts a sweeper chngproc with their tokens.

chngproc may have been taken over, so what it wrote is read with a cap and
only base64url tokens are kept, no more than the files it may hold at once:
the sweeper, which has chngproc's rights and no more, removes those names in
the challenge directory and nothing else.

hookproc keeps one the same way, of the dns-01 records whose `add` it ran
("+NAME VALUE") and whose `remove` it ran ("-NAME VALUE"); its sweeper runs
`remove` for what is left, for names of its domains only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable

from acme_conf.acme.text import printable
from acme_conf.acme.tokens import is_valid_token

# A line is at most 258 bytes ("+", a token of at most 256, "\n"), and a domain
# makes at most REQUESTS_PER_NAME requests per name: a journal past this is not
# one chngproc could have written honestly.
MAX_JOURNAL_BYTES = 1 << 20

log = logging.getLogger("acme_conf")
_RECORD_ENTRY = re.compile(r"(\*\.)?[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63}){0,126} [A-Za-z0-9_-]{43}")


def is_record_entry(entry: str) -> bool:
    """A hookproc's entry: a name as configured (lower case, perhaps a wildcard) and a record value."""
    return len(entry) <= 300 and _RECORD_ENTRY.fullmatch(entry) is not None


def open_journal() -> int:
    """A new, empty journal: the parent keeps this descriptor and passes it to chngproc."""
    return os.memfd_create("acme-client-challenge-journal", os.MFD_CLOEXEC)


def left_behind(journal_fd: int, most: int, name: str, valid: Callable[[str], bool] = is_valid_token) -> tuple[str, ...]:
    """The entries (tokens; for a hookproc, records) noted as created and never as removed, in order (at most `most`)."""
    data = os.pread(journal_fd, MAX_JOURNAL_BYTES + 1, 0)
    if len(data) > MAX_JOURNAL_BYTES:
        log.warning("%s: the challenge journal is over %d bytes; reading its start only", name, MAX_JOURNAL_BYTES)
        data = data[:MAX_JOURNAL_BYTES]
    present: dict[str, None] = {}
    for line in data.decode("ascii", "replace").splitlines():
        change, token = line[:1], line[1:]
        if change not in ("+", "-") or not valid(token):
            log.warning("%s: ignoring a line of the challenge journal: %r", name, printable(line, 80))
        elif change == "+":
            present[token] = None
        else:
            present.pop(token, None)
    if len(present) > most:
        log.warning("%s: %d challenges noted, more than the %d its process may hold", name, len(present), most)
    return tuple(present)[:most]
