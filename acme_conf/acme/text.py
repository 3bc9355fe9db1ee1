"""Making untrusted text safe to print."""

from __future__ import annotations

MAX_SHOWN = 300


def printable(text: object, limit: int = MAX_SHOWN) -> str:
    """`text` with control and non-ASCII characters escaped, cut at `limit` characters.

    Whatever a CA or a file says passes through here before it reaches a
    terminal or a log, so it can neither forge lines nor send escape codes.
    """
    escaped = str(text).encode("ascii", "backslashreplace").decode("ascii")
    visible = "".join(ch if " " <= ch <= "~" else f"\\x{ord(ch):02x}" for ch in escaped)
    if len(visible) > limit:
        return visible[:limit] + "..."
    return visible
