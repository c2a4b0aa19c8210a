"""What a line of mail text is: one definition for quoting, for commands and for display.

A line ends at "\\n" and nowhere else. `str.splitlines()` also breaks at \\v, \\f, \\x1c-\\x1e,
\\x85, U+2028, U+2029 and a lone \\r, and no mail client quotes at those: a customer who
writes "down \\f#solve" gets it back from an engineer as one quoted line, "> down \\f#solve",
and a reader that split it at the \\f would find "#solve" alone on a line, unquoted, and run
it with the engineer's authority. So every reader that decides who wrote a line (the parser's
quote cut, the command reader, the stated severity, the admin page) splits here.

`normalise_breaks` is the parser's half: it makes "\\n" the only line break in a text, and
never turns a character inside a line into one (see there for the lone CR).

Must never do I/O, never import `inbox`, and never raise on any text.
"""

from __future__ import annotations

import unicodedata

BREAK = "\n"
# What may stand before a quote marker and still leave the line quoted: blanks of any kind and
# invisible format characters (U+200B, U+2066, U+FEFF, U+00AD ...). A line is rather taken for
# quoted than for the sender's own: a quoted line can never carry a command.
_INVISIBLE = "Cf"


def split_lines(text: str) -> list[str]:
    """The lines of `text`, without their "\\n"; the last one is "" when the text ends in "\\n"."""
    return text.split(BREAK)


def split_lines_with_ends(text: str) -> list[str]:
    """The lines of `text`, each with its "\\n" (the last one without, and left out when empty)."""
    pieces = text.split(BREAK)
    kept = [piece + BREAK for piece in pieces[:-1]]
    if pieces[-1]:
        kept.append(pieces[-1])
    return kept


def is_quoted(line: str) -> bool:
    """A line of quoted history: its first character other than whitespace and invisible
    format characters is ">"."""
    for char in line:
        if char.isspace() or unicodedata.category(char) == _INVISIBLE:
            continue
        return char == ">"
    return False


def normalise_breaks(text: str) -> str:
    """`text` with "\\n" as its only line break: CRLF becomes LF, and so does a lone CR, but only
    in a text that has no LF at all.

    A text with no LF is CR-only mail (classic Mac OS clients), where every CR ends a line. In
    any other text a lone CR is a character inside a line: RFC 5322 2.3 allows CR only as part
    of CRLF, so one that arrives alone came from the writer's text (quoted-printable "=0D",
    base64), quite possibly a customer's text an engineer then quoted with "> ". Made a line
    break, it would start a new, unquoted line; it becomes a space instead, which keeps the
    words apart and the line whole.
    """
    if "\r" not in text:
        return text
    text = text.replace("\r\n", BREAK)
    return text.replace("\r", " " if BREAK in text else BREAK)
