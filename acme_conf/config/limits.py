"""How much one configuration may be: the caps that keep reading it small and quick.

acme-client reads its configuration as root, and a few lines can ask for a
great deal: macros that double at each of 30 levels expand to gigabytes, and
a file can include the same large file again and again.  Each cap is far
above any real configuration (10,000 domain blocks like OpenBSD's example are
a 2.7 MB file of lines under 100 characters, read in 60 MB), and reaching
one is a configuration error at the line where it happens, like any other.
"""

from __future__ import annotations

# A line, counting lines joined by a backslash as one.  No statement comes
# near it (a line holds one option); OpenBSD's lexer keeps a word in a fixed
# buffer of about this size.  It also bounds the work of expanding one line.
MAX_LINE_LENGTH = 8 * 1024

# A line once its macros are expanded, and so a macro's value.  Room for a
# list of a thousand names; small enough that the tokens of one line stay a
# few megabytes.
MAX_EXPANDED_LINE = 64 * 1024

# All the text macros put into one configuration.  A macro in every line of
# the 10,000 domain blocks above puts in about 2 MB.
MAX_EXPANSION = 4 * 2**20

# All the files read for one configuration together (the file and every
# include, each time it is read): six times the 10,000 domain blocks above.
# Reading takes up to about 150 times the text in memory (a list of short
# names), so this also bounds the memory.
MAX_CONFIG_SIZE = 16 * 2**20

# Files read for one configuration, each time it is read (an include costs
# about 0.2 ms even when the file is empty).
MAX_FILES = 1000

# Includes within includes: deeper than any sane configuration.
MAX_INCLUDE_DEPTH = 16
