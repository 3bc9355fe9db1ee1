"""Reading a configuration: files -> blocks of options, with syntax errors.

The syntax is grammar/acme-client.lark, parsed by lark's LALR(1) parser with
the transformer given to the parser itself, so that no parse tree is built:
each option and block becomes a small `statements` object the moment the
parser recognises it; the parser's loop is driver.py's, over lark's
tables.  The lexer (lexer.py) feeds the parser, the
preprocessor (preprocess.py) expands macros and reads included files on the
way, and syntax.py reports syntax errors and lets the parser go on.
"""

from __future__ import annotations

import errno
import os

from lark import Lark, Transformer
from lark.exceptions import UnexpectedInput

from acme_conf.files import read_regular_file

from .cache import load_parser
from .driver import use_fast_loop
from .errors import ConfigError
from .lexer import ConfigLexer
from .limits import MAX_CONFIG_SIZE, MAX_FILES, MAX_INCLUDE_DEPTH
from .source import Reading, ReadingStopped, Source
from .statements import Block, Option
from .syntax import on_syntax_error
from .terminals import SPELLING

GRAMMAR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "grammar", "acme-client.lark")


def read_config(path: str) -> Reading:
    """Read the configuration file at `path` and what it includes."""
    reader = _Reader()
    text = reader.read_file(path, None, 0)
    if text is not None:
        reader.reading.open_files.append(os.path.realpath(path))
        reader.parse_top(text, path)
    return reader.finish()


def read_config_text(text: str, name: str) -> Reading:
    """Read a configuration given as text; `name` stands for its file in messages."""
    reader = _Reader()
    reader.reading.files_read = 1
    reader.reading.bytes_read = len(text)
    reader.parse_top(text, name)
    return reader.finish()


class _Reader:
    def __init__(self) -> None:
        self.parser = load_parser(GRAMMAR, _build_parser)
        use_fast_loop(self.parser)
        self.reading = Reading(include=self.include)

    def finish(self) -> Reading:
        """The reading, done: its include hook no longer leads back to this reader.

        Through that hook reader and reading held each other, so everything
        read (a hundred thousand objects for 10,000 blocks) waited for the
        cyclic collector to walk it; now it goes as soon as it is dropped.
        """
        self.reading.include = _reading_is_over
        return self.reading

    def parse_top(self, text: str, file: str) -> None:
        """Read the configuration's own file, and so all of it."""
        try:
            self.parse(text, file, ())
        except ReadingStopped:
            # What was read is cut off mid-block: checking it would give
            # errors that are not in the file.  The errors found stand.
            self.reading.blocks.clear()

    def parse(self, text: str, file: str, include_lines: tuple[int, ...]) -> None:
        source = Source(text, file, self.reading, include_lines)
        try:
            blocks = self.parser.parse(source, on_error=on_syntax_error)
        except UnexpectedInput as gave_up:
            line = getattr(gave_up, "line", 0)
            line = line if isinstance(line, int) and line > 0 else 1
            if not self.reading.has_error_at(file, line):
                source.error(line, "syntax error")
            return
        for block in blocks:
            block.file = file
            block.order = source.order(block.line)
        self.reading.blocks.extend(blocks)

    def include(self, source: Source, line: int, path: str) -> None:
        """Read `path` (an include at `line` of `source`) right here."""
        reading = self.reading
        if len(reading.open_files) > MAX_INCLUDE_DEPTH:
            source.error(line, f"failed to include file {path}: includes nested too deeply")
            return
        if reading.files_read >= MAX_FILES:
            source.stop(line, f"failed to include file {path}: more than {MAX_FILES} files to read")
        real = os.path.realpath(path)
        if real in reading.open_files:
            source.error(line, f"failed to include file {path}: it is already being read")
            return
        if not os.path.isabs(path):
            source.warning(line, f"include {path}: a relative path is read from the current directory")
        text = self.read_file(path, source, line)
        if text is None:
            return
        reading.open_files.append(real)
        try:
            self.parse(text, path, source.order(line))
        finally:
            reading.open_files.pop()

    def read_file(self, path: str, including: Source | None, line: int) -> str | None:
        """The text of `path`, or None with the error recorded."""
        room = MAX_CONFIG_SIZE - self.reading.bytes_read
        try:
            data = _read_regular_file(path, room)
        except OSError as error:
            reason = error.strerror or str(error)
            if including is None:
                self.reading.add_error((0,), ConfigError(path, 0, reason))
            elif error.errno == errno.EFBIG:
                including.stop(line, f"failed to include file {path}: {reason}")
            else:
                including.error(line, f"failed to include file {path}: {reason}")
            return None
        self.reading.files_read += 1
        self.reading.bytes_read += len(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            bad_line = data.count(b"\n", 0, error.start) + 1
            order = (including.order(line) if including else ()) + (bad_line,)
            message = f"not UTF-8 text (byte 0x{data[error.start]:02x})"
            self.reading.add_error(order, ConfigError(path, bad_line, message))
            return None


def _reading_is_over(source: Source, line: int, path: str) -> None:
    raise RuntimeError(f"include {path} at {source.file}:{line}: the reading is over")


def _read_regular_file(path: str, room: int) -> bytes:
    """A configuration file's bytes, if they fit in `room`; a device or pipe is refused.

    (Reading /dev/zero or a FIFO would never end.)  `room` is what is left of
    MAX_CONFIG_SIZE for all the files of the configuration together.
    """
    data = read_regular_file(path, room)
    if len(data) > room:
        size = f"{MAX_CONFIG_SIZE // 2**20} MiB"
        if room == MAX_CONFIG_SIZE:
            raise OSError(errno.EFBIG, f"larger than {size}")
        together = f"the files of the configuration would be larger than {size} together"
        raise OSError(errno.EFBIG, together)
    return data


def _build_parser(grammar: str) -> Lark:
    return Lark(
        grammar,
        parser="lalr",
        lexer=ConfigLexer,
        transformer=_ToStatements(),
        maybe_placeholders=False,
    )


class _ToStatements(Transformer):
    """Builds `statements` objects as the parser reduces; holds no state."""

    def start(self, children: list) -> list[Block]:
        return [child for child in children if isinstance(child, Block)]

    def include(self, children: list) -> None:
        return None  # the preprocessor has read the file

    def macro(self, children: list) -> None:
        return None  # the preprocessor has defined it

    def authority(self, children: list) -> Block:
        keyword, name, options, *last, end = children
        return Block("authority", str(name), keyword.line, end.line, (*options, *last))

    def domain(self, children: list) -> Block:
        keyword, handle, options, *last, end = children
        return Block("domain", str(handle), keyword.line, end.line, (*options, *last))

    def run_hook(self, children: list) -> Block:
        """`hook changed ...` or `hook failed ...`: a block of one option, so that it is read in order like the others."""
        keyword = children[0]
        option = Option(SPELLING[keyword.type], keyword.line, tuple(map(str, children[1:])))
        return Block("hook", option.keyword, keyword.line, keyword.line, (option,))

    def _lines(self, children: list) -> list[Option]:
        if not children:
            return []
        options, option = children
        options.append(option)
        return options

    def _option(self, children: list) -> Option:
        keyword = children[0]
        return Option(SPELLING[keyword.type], keyword.line, tuple(map(str, children[1:])))

    authority_option = domain_option = _option
    authority_lines = domain_lines = _lines
