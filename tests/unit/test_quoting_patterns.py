"""Where a signature starts decides what a reply shows and which lines count as the sender's own
(its command lines among them): the signature pattern `inbox.ingest.quoting` searches with must
start every match where mail-parser-reply's own pattern does."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from mailparser_reply.parser import EmailMessage as ReplyText

from inbox.ingest.quoting import REPLY_LANGUAGES, _reply_patterns

# Pieces a hostile or odd mail may put together: every kind of whitespace Python's \s takes (line
# breaks a reader never sees among them), quote marks, rules, and the words the branches look for.
PIECES = ["\n", "\n\n", " ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\xa0", "\u2028", "\u3000",
          "> ", ">", "--", "--\n", "__\n", "-" * 32, "_" * 33, "Thanks,", "thanks,", "Best regards", "Sent from my",
          "Sent from my iPhone", "Gesendet von", "Mvh", "Tak", "Take", "/x", "/", "#close", "word", "Ärger", "ſent",
          "Mit freundlichen Grüßen", "감사합니다,", "谢谢，", "a", "."]


def _library_signature() -> re.Pattern[str]:  # the compiled pattern, as the library builds it
    return ReplyText(text="", languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).SIGNATURE_REGEX


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
@example(["word", "\x0b", "\n", "--\n", "Ann"])  # a match that starts on whitespace only \s knows
@example(["word", "\x85", "\n\n", "Thanks,"])
@example(["word", "\u3000", "\n", "Sent from my iPhone"])
@example(["word", " ", "\t", "\xa0", "\n", "--\n", "Ann"])  # a run of whitespace before the line break
def test_the_guarded_signature_pattern_starts_where_the_librarys_does(pieces: list[str]) -> None:
    text = "".join(pieces)
    ours, theirs = _reply_patterns()[1].search(text), _library_signature().search(text)
    assert (ours.start() if ours else None) == (theirs.start() if theirs else None)


def test_the_guard_keeps_the_librarys_groups_and_flags() -> None:
    """The guard adds no group and keeps the flags: only offsets where no branch can start are skipped."""
    ours, theirs = _reply_patterns()[1], _library_signature()
    assert (ours.groups, ours.flags) == (theirs.groups, theirs.flags)
    assert ours.pattern.endswith(theirs.pattern + ")")
