"""Repair a broken header block before `inbox.ingest.parse` reads it.

Some gateways fold a long header value without the leading whitespace RFC 5322
2.2.3 asks for (a Symantec `X-Brightmail-Tracker` value broken over lines is
the common case). The stdlib parser then ends the header block at that line
and reads every header below it, From included, as body: a real customer's
mail came out with "no usable headers". Mail clients read on, and so do we: a
line without a colon inside the header block continues the header above it,
and the block ends at the first empty line.

Only lines without a colon are joined (with one space, as an unfolding reader
would), so a repair never makes a header out of a value, never turns a line
like "From: x" into a continuation, and never moves the end of the block. One
pass over the header block, in linear time.

It works on a copy for the parser only: authentication reads the bytes as they
came (`inbox.ingest.authenticate` refuses to vouch for a header block with such
a line, since DKIM verifiers and parsers read it differently). Never raises.
"""

from __future__ import annotations

import re

__all__ = ["JOINED", "repair"]

JOINED = "header line without a colon joined to the previous header"
MAX_HEADER_BYTES = 512 * 1024  # past this there is no header block to repair, only a body without one

# One line and its break: CRLF, LF or a lone CR (CR-only mail is real, RFC 5322 2.2 notwithstanding).
_LINE = re.compile(rb"([^\r\n]*)(\r\n|\n|\r|\Z)")
# The empty line that ends the block: two breaks in a row, each read as `_LINE` reads it (atomic
# groups: a CRLF is one break, never a CR and then an LF).
_BLOCK_END = re.compile(rb"(?>\r\n|\n|\r)(?>\r\n|\n|\r)")
# A line after the first that starts with no whitespace and has no colon: one `repair` may join.
_SUSPECT = re.compile(rb"(?>\r\n|\n|\r)(?![ \t])[^:\r\n]+(?=[\r\n]|\Z)")


def repair(raw: bytes) -> tuple[bytes, list[str]]:
    """`raw` with each colon-less line of its header block joined to the header above it, and
    the defect when any was; `raw` itself (the same object) when there is nothing to repair.

    A block that no empty line ends within MAX_HEADER_BYTES is left as it is: without that end
    a colon-less line is as likely the first line of a body written with no empty line before it."""
    # Most mail has no such line: two searches in C say so before any line is split.
    end = _BLOCK_END.search(raw, 0, min(len(raw), MAX_HEADER_BYTES))
    if end is None or _SUSPECT.search(raw, 0, end.start()) is None:
        return raw, []
    return _joined(raw)


def _joined(raw: bytes) -> tuple[bytes, list[str]]:
    """`repair` line by line (what the two searches in `repair` only rule out)."""
    pieces: list[bytes] = []
    joined = 0
    for match in _LINE.finditer(raw, 0, min(len(raw), MAX_HEADER_BYTES)):
        line, brk = match.group(1), match.group(2)
        if not brk:
            return raw, []  # the end of the mail, or of what we read, before any empty line
        if not line:
            if not joined:
                return raw, []
            return b"".join(pieces) + raw[match.start() :], [JOINED]
        # The first line has no header above it (an mbox "From " line among them): left as it is.
        if pieces and line[:1] not in (b" ", b"\t") and b":" not in line and not line.startswith(b"From "):
            pieces[-1] = pieces[-1].rstrip(b"\r\n") + b" "
            joined += 1
        pieces.append(line + brk)
    return raw, []
