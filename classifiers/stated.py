"""A customer's stated severity: "Severity: 1", "Sev-2", "P1", "Priority: high" in a new mail.

Looks at the subject, then the first 20 lines of the new text, and maps what it finds
to a configured severity name. It only reads: whether the statement may change the
ticket is the plan's call, made in `classifiers.engine`. Must never do I/O, never
import `inbox`, and never raise on any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from classifiers import levels
from classifiers.lines import is_quoted, split_lines
from classifiers.inputs import MessageView
from classifiers.verdict import StatedSeverity

BODY_LINES = 20
_BODY_SCAN_CHARS = 8_000  # 20 lines of ordinary mail; a pasted log line does not need reading whole

# "Severity: 1", "Priority = high", "Impact - critical", "**Urgency:** urgent". Without a
# ':', '=' or '-' the value must name a severity, so prose ("the impact is small",
# "Priority Support plan") is not read as a statement.
_LABELLED = r"(?P<label>severity|priority|urgency|impact)[*_]*[ \t]*(?P<sep>[:=-])?[*_]*[ \t]*(?P<value>[\w-]+)"
_SEV = r"(?P<sev>sev[- ]?\d{1,3})(?!\w)"
# "S1" and "P1" are read in the subject only: in a body they are too often something else.
# Amazon's "S3" is by far the commonest S-digit word in support mail, so S3 followed by "://"
# or a storage word is left alone.
_TAG = r"(?P<tag>[ps]\d{1,3})(?!\w)(?!://|\s+(?:buckets?|objects?|storage|api|console|access|upload)\b)"
_SUBJECT = re.compile(rf"(?<!\w)(?:{_LABELLED}|{_SEV}|{_TAG})", re.IGNORECASE)
_BODY = re.compile(rf"^[ \t*•-]*(?:{_LABELLED})|(?<!\w){_SEV}", re.IGNORECASE | re.MULTILINE)

# Every body statement holds one of these words, in some case: "sev" (of "Sev-2" and "Severity")
# or a label. Mail seldom does, and a plain substring test of its lowered text is far cheaper than
# _BODY, which tries a match at every position. The only letters outside ASCII that IGNORECASE
# matches to theirs are the dotted and dotless i and the long s (and the Kelvin sign, for a k):
# with one of those in the text, _BODY decides alone.
_BODY_WORDS = ("sev", "priorit", "urgenc", "impact")
_CASE_TWINS = ("\u0130", "\u0131", "\u017f")

_NUMBERED = re.compile(r"(?:p|s|sev|severity)?[- ]?(\d{1,3})")
_HEAD = re.compile(r"\w+")
_HIGHEST_WORDS = frozenset({"urgent", "emergency"})


def stated_severity(message: MessageView, severities: Sequence[str]) -> StatedSeverity | None:
    """The customer's statement that names a configured severity, subject first; failing that,
    the first statement found (with severity None); None when the mail states none.

    A statement naming no severity ("Impact: big") does not hide a later one that does
    ("Severity: 1"): the customer meant the one we can read."""
    unread: StatedSeverity | None = None
    for found in _statements(message, severities):
        if found.severity is not None:
            return found
        unread = unread or found
    return unread


def meaning(value: str, severities: Sequence[str]) -> str | None:
    """The configured name a written value means: a name as written, a number N (or P1, S1,
    Sev-1) the N-th from the highest, urgent or emergency the highest; else None."""
    folded = value.strip().casefold()
    if (name := levels.named(folded, severities)) is not None:
        return name
    if numbered := _NUMBERED.fullmatch(folded):
        return levels.nth(int(numbered.group(1)), severities)
    if folded in _HIGHEST_WORDS:
        return severities[0] if severities else None
    head = _HEAD.match(folded)  # "1-critical", "high-priority": the first word decides
    if head and head.group(0) != folded:
        return meaning(head.group(0), severities)
    return None


def _statements(message: MessageView, severities: Sequence[str]) -> Iterator[StatedSeverity]:
    subject = getattr(message, "subject", "") or ""
    yield from _read(_SUBJECT, subject, severities)
    text = (getattr(message, "visible_text", "") or "")[:_BODY_SCAN_CHARS]
    # Quoted lines are someone else's words (an earlier mail), never this customer's statement.
    own = "\n".join([line for line in split_lines(text)[:BODY_LINES] if not is_quoted(line)])
    if may_state(own):
        yield from _read(_BODY, own, severities)


def may_state(text: str) -> bool:
    """False only where _BODY cannot match: no statement word in any case."""
    lowered = text.lower()
    return any(word in lowered for word in _BODY_WORDS) or any(twin in text for twin in _CASE_TWINS)


def _read(pattern: re.Pattern[str], text: str, severities: Sequence[str]) -> Iterator[StatedSeverity]:
    for found in pattern.finditer(text):
        if found.group("label"):
            written = text[found.start("label") : found.end()]
            severity = meaning(found.group("value"), severities)
            if severity is None and not found.group("sep"):
                continue
        else:
            written = found.group("sev") or found.groupdict().get("tag") or ""
            severity = meaning(written, severities)
        yield StatedSeverity(text=" ".join(written.split()), severity=severity)
