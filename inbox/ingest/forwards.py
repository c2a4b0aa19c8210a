"""A forwarded mail's text: the customer's own words, then what they forwarded, which is the request.

`new_text` cuts everything below the first quote header, as it should for a reply: the history is
known to us. A forward is the other way round: "W.: Invoice" with "-----Original Nachricht-----"
carries the vendor's mail the customer wants us to read, and cut as history the ticket showed one
separator line. `split` tells a forward and keeps its content in the visible text.

A mail is a forward when its subject starts with a forward prefix (Fwd:, Fw:, WG:, W.:, TR:, RV:,
Enc:, VS:, Doorst:), or when its text starts, with nothing of the sender's above it, with a forward
separator ("---------- Forwarded message ---------", "-----Original Nachricht-----", Apple's "Begin
forwarded message:"). A reply ("Re: ...", "AW: WG: ...") that quotes below its words stays a reply.

The visible text of a forward is the sender's own words above the forwarded part, if any, first,
then the forwarded part (its separator and header block, then its body without the body's own
quoted history). `fresh_text`, which commands are read from, is only what the sender wrote above
the forwarded part: a "#solve" in the forwarded mail is somebody else's line and never acts.

Must never raise (a failure falls back to `new_text`'s reading, with a defect), never take seconds
(the scans are `quoting`'s, bounded) and never touch storage, the network or the clock.
"""

from __future__ import annotations

import re

from classifiers import split_lines
from inbox.ingest.quoting import MAX_REPLY_SCAN_CHARS, first_quote_header, new_text

__all__ = ["FORWARD_SUBJECT", "is_forward_subject", "split"]

# Forward prefixes mail programs write, by language: Fwd/Fw (en), WG (de), W. (de, older Outlook),
# TR (fr), RV (es), Enc (pt), VS (fi), Doorst (nl). Only the first prefix counts: "AW: WG: x" is
# a reply to a forward, and its quote is history.
FORWARD_SUBJECT = re.compile(r"\s*(?:\[[^\]\n]{0,40}\]\s*)?(?:fwd?|wg|w\.|tr|rv|enc|vs|doorst)\s*:", re.IGNORECASE)
# Separator lines that begin a forwarded or original mail, in the languages the quote headers know.
_SEPARATOR = re.compile(
    r"^[ \t>]*(?:-{2,}|_{2,})?[ \t]*(?:original(?:e)?[ -]?(?:message|nachricht|mail)|urspr[üu]ngliche nachricht"
    r"|forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]|message d'origine"
    r"|mensaje (?:reenviado|original)|messaggio (?:inoltrato|originale)|doorgestuurd bericht"
    r"|oorspronkelijk bericht|videresendt (?:meddelelse|besked)|vidarebefordrat meddelande"
    r"|mensagem (?:encaminhada|original)|begin forwarded message)[ \t]*:?[ \t]*(?:-{2,}|_{2,})?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
MAX_FORWARD_HEADER_LINES = 12  # the forwarded mail's From:/Date:/Subject:/To: block, with room for folds


def is_forward_subject(subject: str) -> bool:
    return FORWARD_SUBJECT.match(subject or "") is not None


def split(subject: str, text: str, defects: list[str]) -> tuple[str, str]:
    """(visible text, fresh text) of a mail, as `new_text` gives them, but for a forward with the
    forwarded part kept in the visible text (the fresh text is still only the sender's own)."""
    try:
        found = _forward(subject, text)
    except Exception as exc:  # hostile text: the reply reading, which never raises, takes over
        defects.append(f"forward not separated: {type(exc).__name__}: {str(exc)[:120]}".replace("\n", " "))
        found = None
    if found is not None:
        return found
    visible, fresh = new_text(text, defects)
    # A reply above a separator the quote headers do not know ("-----Original Nachricht-----" over an
    # Outlook "Von:" block) kept the separator as its last line: it is the history's, not the reply's.
    return _without_trailing_separator(visible), _without_trailing_separator(fresh)


def _without_trailing_separator(text: str) -> str:
    lines = split_lines(text.rstrip())
    if len(lines) > 1 and _SEPARATOR.fullmatch(lines[-1].strip()):
        return "\n".join(lines[:-1]).rstrip()
    return text


def _forward(subject: str, text: str) -> tuple[str, str] | None:
    if not text.strip():
        return None
    lines = split_lines(text[:MAX_REPLY_SCAN_CHARS])
    start = _forward_start(lines, by_subject=is_forward_subject(subject))
    if start is None:
        return None
    above = "\n".join(lines[:start])
    own = new_text(above, [])[1] if above.strip() else ""  # the sender's words, signature cut
    forwarded = _forwarded_part(lines[start:])
    if not forwarded.strip():
        return None
    visible = f"{own}\n\n{forwarded}" if own else forwarded
    return visible, own


def _forward_start(lines: list[str], *, by_subject: bool) -> int | None:
    """The line the forwarded part starts on, or None when this mail is no forward.

    A separator line starts it in a forward by subject, and in any mail when nothing but blank lines
    stands above it. In a forward by subject, a quote header (an Outlook From:/Sent: block, "On ...,
    Bob wrote:") starts it too, where no separator stands above."""
    if not by_subject:  # most mail: only a separator as its first line that is not blank counts
        first = next((at for at, line in enumerate(lines) if line.strip()), None)
        return first if first is not None and _SEPARATOR.match(lines[first].strip()) else None
    head = "\n".join(line.strip() for line in lines)
    separator = _SEPARATOR.search(head)
    at_separator = head.count("\n", 0, separator.start()) if separator else None
    if at_separator is not None and not any(line.strip() for line in lines[:at_separator]):
        return at_separator
    if not by_subject:
        return None
    header = first_quote_header(head)
    at_header = head.count("\n", 0, header.start()) + (1 if head[header.start()] == "\n" else 0) if header else None
    found = [at for at in (at_separator, at_header) if at is not None]
    return min(found) if found else None


def _forwarded_part(lines: list[str]) -> str:
    """The separator and header block as they stand, then the forwarded body without its own history
    (a forwarded reply quotes its thread: the newest mail of it is the request)."""
    end = 0
    # The separator line (if any), then header lines up to the first blank line.
    while end < len(lines) and end < MAX_FORWARD_HEADER_LINES and lines[end].strip():
        end += 1
    while end < len(lines) and not lines[end].strip():
        end += 1
    header = "\n".join(line.rstrip() for line in lines[:end]).strip()
    body = "\n".join(lines[end:])  # of the scanned head: a longer forward keeps its first 100,000 characters
    shown = new_text(body, [])[0].strip() if body.strip() else ""
    return f"{header}\n\n{shown}" if shown else header
