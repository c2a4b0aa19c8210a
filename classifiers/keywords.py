"""Command lines in the new text of a reply ("#escalate", "#status solved"), and requests in plain
words to escalate ("please escalate") or to close ("please close this ticket").

The caller passes only the new text, already cut above the quoted history. Lines are
`classifiers.lines`' lines (they end at "\n" only). A command line is blanks (spaces
or tabs), then "#" followed at once by a known verb; a quoted line (">" first) never
counts. This module only reads: who may give a command and what it changes are
decided elsewhere. Must never do I/O, never import `inbox`, and never raise on any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from classifiers.lines import is_quoted, split_lines, split_lines_with_ends

VERBS = ("escalate", "deescalate", "severity", "status", "workaround", "solve", "close", "assign", "internal", "category",
         "unsubscribe", "confirm")
_SPELLINGS = {"de-escalate": "deescalate"}

# Longest spelling first so "de-escalate" is not read as something shorter; the verb must end
# the line or be followed by whitespace, so "#escalated" and "#solve:" are not commands.
# Only spaces and tabs may stand before the "#": Python's \s also matches \f, \x1c-\x1f,
# \x85 and U+2028, which some programs show as line breaks, and a line that looks like two
# must not be read as a command.
_COMMAND = re.compile(
    r"[ \t]*#(?P<verb>" + "|".join(sorted((*VERBS, *_SPELLINGS), key=len, reverse=True)) + r")(?:[ \t]+(?P<arg>.*))?",
    re.IGNORECASE,
)

# "please escalate", "escalate this / the ticket", "I would like to escalate", "requesting escalation".
_ASK = re.compile(
    r"(?:(?<!\w)please\s+(?P<a>escalate)"
    r"|(?<!\w)(?P<b>escalate)\s+(?:this|the\s+(?:issue|ticket|case|matter|problem)|(?:my|our)\s+(?:issue|ticket|case|request))"
    r"|(?:(?<!\w)(?:want|would\s+like|need|wish)|'d\s+like)\s+to\s+(?P<c>escalate)"  # "'d": "I'd like to"
    r"|(?<!\w)request(?:ing|ed)?\s+(?:(?:an|the)\s+)?(?P<d>escalation)|(?<!\w)request\s+to\s+(?P<e>escalate))(?!\w)",
    re.IGNORECASE,
)
# A negation up to three words before the verb: "no need to escalate", "do not escalate",
# "we don't want to escalate". "please" breaks the chain, so "not working please escalate" asks.
_NEGATED = re.compile(
    r"(?<!\w)(?:no|not|never|don't|dont|doesn't|needn't|shouldn't|won't|without)"
    r"(?:\s+(?!please(?!\w))[\w']+){0,3}?\s+(?=escalat)",
    re.IGNORECASE,
)


# "please close this ticket", "you can close the case", "could you close it?", "feel free to close it", "go ahead and close
# this", "Close this ticket." (at a sentence's start), "ok to close" (not asked as a question). Only a request about the ticket itself: "close the
# window" or "we closed the firewall port" names no ticket and asks nothing.
_TICKET = r"(?:this|the|my|our)\s+(?:ticket|case|request|issue|incident)"
_ASK_CLOSE = re.compile(
    r"(?:(?<!\w)please\s+(?:go\s+ahead\s+and\s+)?(?P<a>close)\s+(?:" + _TICKET + r"|it|this)"
    r"|(?<!\w)(?:(?:you|u)\s+(?:can|may|could)|(?:can|could|would|will)\s+you(?:\s+please)?)\s+(?:now\s+)?(?P<b>close)\s+(?:" + _TICKET + r"|it|this)"
    r"|(?<!\w)(?:feel\s+free\s+to|go\s+ahead\s+and)\s+(?P<c>close)\s+(?:" + _TICKET + r"|it|this)"
    r"|(?:^|[.!;]\s)\s*(?P<d>close)\s+" + _TICKET +  # an order, at a sentence's start: not "we will close the case"
    r"|(?<!\w)(?:ok|okay|fine|safe)\s+to\s+(?P<e>close))(?!\w)",
    re.IGNORECASE,
)
# A negation up to three words before "close": "please don't close this ticket", "do not close",
# "not yet ok to close" is caught by "not", "no need to close". "please" does not break this chain:
# "please do not close it" is the commonest way to say the opposite.
_NEGATED_CLOSE = re.compile(
    r"(?<!\w)(?:no|not|never|don't|dont|doesn't|needn't|shouldn't|won't|cannot|can't|without|yet)"
    r"(?:\s+[\w']+){0,3}?\s+(?=(?:ok\s+to\s+|okay\s+to\s+|fine\s+to\s+|safe\s+to\s+)?close)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Command:
    verb: str  # lower case; "de-escalate" is given as "deescalate"
    argument: str  # the rest of the line, stripped; "" when none
    line: str  # the whole line, stripped


def _command(line: str) -> Command | None:
    found = _COMMAND.fullmatch(line.rstrip())
    if found is None:
        return None
    verb = found.group("verb").lower()
    return Command(verb=_SPELLINGS.get(verb, verb), argument=(found.group("arg") or "").strip(), line=line.strip())


def parse_commands(text: str) -> tuple[Command, ...]:
    """Every command line of the text, in order."""
    found = (_command(line) for line in split_lines(text))
    return tuple(command for command in found if command is not None)


def strip_commands(text: str) -> str:
    """The text without its command lines, and without blank lines left at its start or end
    (the result never ends in a line break). Other lines keep their line endings."""
    kept = [line for line in split_lines_with_ends(text) if _command(line) is None]
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return "".join(kept).rstrip("\r\n")


def asks_to_escalate(text: str) -> bool:
    """True for a "#escalate" line or words asking to escalate, unless negated ("no need to escalate")."""
    # Every way of asking names "escalat": most mail does not, and is answered without splitting
    # it into lines. casefold, as IGNORECASE matches the long s of "ſcalate" to an s.
    if "escalat" not in text.casefold():
        return False
    if any(command.verb == "escalate" for command in parse_commands(text)):
        return True
    # Typographic apostrophes are what most mail clients send for "don't".
    own = "\n".join(line for line in split_lines(text.replace("\u2019", "'")) if not is_quoted(line))
    negated = {found.end() for found in _NEGATED.finditer(own)}
    for found in _ASK.finditer(own):
        verb_at = next(found.start(group) for group in "abcde" if found.group(group) is not None)
        if verb_at not in negated:
            return True
    return False


def asks_to_close(text: str) -> str | None:
    """The words that ask to close the ticket ("please close this ticket"), or None: unquoted lines
    only, never a negated request ("please do not close this ticket"). A "#close" line is a command,
    read by `parse_commands`, not here."""
    if "close" not in text.casefold():
        return None
    for line in split_lines(text.replace("\u2019", "'")):
        if is_quoted(line) or _command(line) is not None:
            continue
        negated = {found.end() for found in _NEGATED_CLOSE.finditer(line)}
        for found in _ASK_CLOSE.finditer(line):
            verb_at = next(found.start(group) for group in "abcde" if found.group(group) is not None)
            # "ok to close": the negation ends before "ok", the whole match's start.
            if verb_at in negated or found.start() in negated:
                continue
            if found.group("e") is not None and "?" in re.split(r"[.!]", line[found.end():], maxsplit=1)[0]:
                continue  # "is it ok to close?" asks us, it does not tell us
            return found.group(0).strip(" .!;")
    return None
