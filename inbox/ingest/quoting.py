"""Where the sender's own words end: the new text of a mail, above its quoted history.

`new_text` gives the newest reply for display (quoted history, signature and disclaimers
cut off) and `fresh_text`, the text command lines are read from, which must hold only
what the sender wrote: no line below a quote header, and no line the cutting itself made.
Quoted lines (">" first) may stay in it, between the sender's answers: no reader counts
them. `html_text` turns an HTML-only mail into text with its <blockquote>s quoted as "> "
lines, so an HTML reply's quoted history is as plain to see as a plain-text one's.

Lines are `classifiers`' lines, ending at "\\n" only, for this module as for the command
reader: a line quoted here is one line there (see `classifiers.lines`). The parser hands
over, for `fresh_text`, only the bodies the sender wrote: never those of a message the mail
encloses whole (`mime.own_bodies`), and nothing of a body it left as raw MIME.

Must never raise out of `new_text` (the caller guards `html_text`), never take seconds
(each scan is bounded), and never touch storage, the network or the clock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from inscriptis import get_annotated_text
from inscriptis.model.config import ParserConfig
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage as ReplyText

from classifiers import is_quoted, split_lines

__all__ = ["first_quote_header", "html_text", "new_text"]

MAX_REPLY_SCAN_CHARS = 100_000
MAX_REPLY_SCAN_LINES = 2_000  # a quote header further down stays in the visible text
# The languages mail-parser-reply knows, but Polish: its pattern takes one line
# starting "Data:" or "Do:" for a quote header and would cut English replies.
REPLY_LANGUAGES = ("en", "de", "fr", "es", "nl", "it", "sv", "da", "cs", "ja", "ko", "zh")

MAX_QUOTE_MARKS = 8  # deeper quotes are marked as deep as this: one ">" makes a line quoted
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTE = "quote"
_QUOTES = ParserConfig(annotation_rules={"blockquote": [_QUOTE]})


def html_text(html: str) -> str:
    """HTML as text (inscriptis), every line inside a <blockquote> written as a quote: ">" once
    per level of quoting, as mail programs write plain-text quotes.

    Mail programs quote an HTML mail by putting it in a <blockquote>; converted as it stands,
    its lines would read as the sender's own ("#solve" on a line of a customer's quoted mail).
    The quote marks are placed after rendering, on the lines the rendering made, so a <br>, a
    block or a <pre> line break inside a quote starts a line that is quoted too."""
    found = get_annotated_text(html, _QUOTES)
    text: str = found["text"]
    spans = [(start, end) for start, end, label in found["label"] if label == _QUOTE and end > start]
    return "\n".join(_quote_marks(split_lines(text), spans)) if spans else text


def _quote_marks(lines: list[str], spans: list[tuple[int, int]]) -> Iterable[str]:
    """Each line with ">" for every quote span that covers any of its characters: one sweep over
    the sorted span bounds, so a thousand quotes cost no more than one."""
    # At one offset an end (-1) sorts before a start (+1): spans are half-open.
    bounds = sorted(bound for start, end in spans for bound in ((start, 1), (end, -1)))
    depth, deepest, at, pos = 0, 0, 0, 0
    for line in lines:
        end = pos + len(line)
        while at < len(bounds) and bounds[at][0] <= pos:
            depth += bounds[at][1]
            at += 1
        deepest = depth
        while at < len(bounds) and bounds[at][0] < end:
            depth += bounds[at][1]
            at += 1
            deepest = max(deepest, depth)
        marks = ">" * min(deepest, MAX_QUOTE_MARKS)
        yield (marks + (" " + line if line else "")) if deepest else line
        pos = end + 1


@functools.cache
def _reply_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """mail-parser-reply's header, signature and disclaimer patterns for every
    language, compiled once (the library builds them per message)."""
    # keep_hyphen_lists: otherwise a "- step one" line in a bug report is
    # taken for a signature and everything below it is lost.
    proto = ReplyText(text="", languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True)
    signature = proto.SIGNATURE_REGEX
    # Every branch of the signature pattern starts at a line start ("^", after optional "\s*") or
    # at a newline: a match can only start there, or on whitespace that runs into a newline. Said
    # first, the engine drops every other offset at once instead of trying each branch there (a
    # third of its search).
    guarded = re.compile(r"(?:(?<=\n)|\A|(?=[^\S\n]*\n))(?:" + signature.pattern + ")", signature.flags)
    return proto.HEADER_REGEX, guarded, proto.DISCLAIMERS_REGEX


@functools.cache
def _attribution() -> re.Pattern[str]:
    """The library's "On <date>, <name> wrote:" lines alone, in every language: what mail programs
    write above a history they mark with ">" (forward separators and Outlook's From:/Sent: blocks
    introduce an unmarked one)."""
    found = [MAIL_LANGUAGES[language]["wrote_header"] for language in REPLY_LANGUAGES
             if MAIL_LANGUAGES.get(language, {}).get("wrote_header")]
    return re.compile("|".join(f"(?:{pattern})" for pattern in found), re.MULTILINE | re.IGNORECASE)


def new_text(text: str, defects: list[str]) -> tuple[str, str]:
    """The newest reply for display, which falls back to the whole text when nothing is left,
    and `fresh_text`: what the sender wrote above the quoted history, "" when that is nothing.

    Does what mail-parser-reply's `EmailMessage.read()` does for its first
    reply only: that method splits and scans the whole quoted history, which
    costs ~2.5 microseconds a character, to throw all but the first part away.
    """
    if not text.strip():
        return text, ""
    headers, signature, disclaimers = _reply_patterns()
    # The library's normalisation, plus blank-line runs squeezed: its
    # signature pattern starts with \s* and is quadratic in a run of them.
    head = "\n".join(line.strip() for line in split_lines(text[:MAX_REPLY_SCAN_CHARS]))
    head = _BLANK_LINES.sub("\n\n", head)
    try:
        first = _first_at_line_start(headers, head)
        if first is not None and first.start() == 0:
            # Nothing above the first quote header (a forward, a reply written below the history):
            # the first quoted mail is shown; the sender's own is what `_below` finds.
            replies = ReplyText(text=head, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).read().replies
            shown = _drop_trailing_quote(replies[0].body if replies else "")
            if not shown.strip():
                return text, ""
            return shown, _below(head, first, headers, signature, disclaimers)
        own = head if first is None else head[: first.start()]
        visible = _drop_trailing_quote(_own_words(own, signature, disclaimers))
    except Exception as exc:  # a regex engine error on hostile text must not lose the mail
        defects.append(f"reply not separated: {type(exc).__name__}: {str(exc)[:120]}".replace("\n", " "))
        return text, ""  # where the new text ends is unknown: nothing counts as written above the quote
    return (visible, visible) if visible.strip() else (text, "")


def first_quote_header(text: str) -> re.Match[str] | None:
    """The first quote header (an attribution line, a separator, an Outlook From:/Sent: block) of
    `text`, a text of stripped lines, within the first lines only; None when there is none."""
    return _first_at_line_start(_reply_patterns()[0], text)


def _below(head: str, first: re.Match[str], headers: re.Pattern[str], signature: re.Pattern[str],
           disclaimers: re.Pattern[str]) -> str:
    """What the sender wrote below the quote header that starts the mail: bottom-posting.

    Only under an attribution line ("On ..., Alice wrote:") whose history starts with a quoted
    line: there the history is marked, so a line without the mark is the sender's. Under a
    forward separator or an Outlook From:/Sent: block the history carries no marks, and a
    customer's mail that itself starts with "> " followed by "#solve" would pass for a bottom-
    posted command: nothing there is the sender's."""
    if _attribution().match(head, first.start()) is None:
        return ""
    after = head[first.end() :]
    following = _first_at_line_start(headers, after)
    under = after if following is None else after[: following.start()]
    opening = next((line for line in split_lines(under) if line.strip()), "")
    return _drop_trailing_quote(_own_words(under, signature, disclaimers)) if is_quoted(opening) else ""


def _own_words(own: str, signature: re.Pattern[str], disclaimers: re.Pattern[str]) -> str:
    """`own` without its signature and disclaimers, as mail-parser-reply's `EmailReply.body`
    cuts them, except that every line left is a line of `own` or the beginning of one.

    The library removes a disclaimer by replacing its text, and its pattern may run over a
    line break into the next line and stop inside it: "Warning: this mail ...\\n> quoted mail
    #solve" came out as "#solve", a quoted line's end turned into a line of its own. Here a
    cut always runs to the end of the line it stops in."""
    found = signature.search(own)
    if found is not None:
        own = own[: found.start()]  # a signature runs to the end of the text
    kept: list[str] = []
    at = 0
    for match in disclaimers.finditer(own):
        start, end = match.span()
        if start < at:
            continue
        line_end = own.find("\n", end)
        kept.append(own[at:start])
        at = len(own) if line_end < 0 else line_end
    kept.append(own[at:])
    return "".join(kept).strip()


def _first_at_line_start(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """`pattern.search(text)` for a pattern whose every branch starts with "^"
    or "\\n", as the library's header patterns do: tried at line starts and
    newlines only it is 4x faster than letting the engine try every offset.
    Every branch also needs a ":" (or "：", or "-----") on its first line, so
    lines without one are skipped without running the regex at all. Each try
    still costs microseconds, so only the first lines are tried."""
    pos = 0
    for _ in range(MAX_REPLY_SCAN_LINES):
        newline = text.find("\n", pos)
        line = text[pos:] if newline < 0 else text[pos:newline]
        if ":" in line or "\uff1a" in line or "-----" in line:
            found = pattern.match(text, pos)
            if found is None and pos:
                found = pattern.match(text, pos - 1)  # branches that begin at the newline
            if found is not None:
                return found
        if newline < 0:
            return None
        pos = newline + 1
    return None


def _drop_trailing_quote(text: str) -> str:
    """Cut a "> " quote block that ends the reply with no "wrote:" line above."""
    lines = split_lines(text.rstrip())
    end = len(lines)
    while end and (is_quoted(lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
    return "\n".join(lines[:end]).rstrip()
