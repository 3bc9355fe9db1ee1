"""One voice: what children write to stderr reaches the user only through the parent.

A child may be taken over (netproc by what the CA sent): written straight to
the terminal, its stderr could carry escape sequences, or a line that looks
like the parent's own ("acme-client: example.com: certificate updated")
into a terminal, syslog or cron mail.  So each child's stderr is a pipe the
parent reads: every line is labelled with the domain (or shared process)
and the role the parent started, its control and non-ASCII characters are
escaped, its length is capped, and so is how much one child may say in all.
"""

from __future__ import annotations

from acme_conf.acme.text import printable

MAX_LINE = 2000  # characters of one line shown; a child's message is one line of a few hundred
MAX_TOTAL = 256 * 1024  # bytes one child may write in a run: -vv of a chain is a few kilobytes
# What a child says at -vv after the line that said why it failed (child.imports_checked): never the reason.
AFTERWORD = "nothing imported after the jail"


class ChildVoice:
    """What one child has written so far: whole lines go out, a partial one waits for its end."""

    def __init__(self, label: str) -> None:
        self.label = label  # "HANDLE: ROLE", from the parent's own knowledge
        self._pending = bytearray()
        self._heard = 0
        self._silenced = False
        self.last_said = ""  # its last line, sanitised and unlabelled: why it failed, for the run's summary

    def hear(self, data: bytes) -> list[str]:
        """The lines `data` completes, labelled and sanitised; b"" (end of file) flushes the rest."""
        if self._silenced:
            return []
        self._heard += len(data)
        if self._heard > MAX_TOTAL:
            self._silenced = True
            self._pending.clear()
            return [f"acme-client: {self.label}: wrote more than {MAX_TOTAL} bytes; the rest is not shown"]
        self._pending += data
        lines = self._pending.split(b"\n")
        self._pending = bytearray(lines.pop()) if data else bytearray()
        if not data and lines and lines[-1] == b"":
            lines.pop()
        return [self.say(line) for line in lines]

    def say(self, raw: bytes) -> str:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if text.strip() and text != AFTERWORD:
            self.last_said = printable(text, MAX_LINE)
        return f"acme-client: {self.label}: {printable(text, MAX_LINE)}"
