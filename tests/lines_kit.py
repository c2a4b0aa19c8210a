"""Test kit for hidden line breaks: every character that may hide where a line starts."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import strategies as st

# Every line or paragraph separator, control character, space and invisible format character
# (U+200B, U+2066, U+FEFF, U+00AD ...), "\n" alone excepted (a real line break starts a line the
# sender wrote). Every character str.splitlines() breaks at is one of them.
HIDING = tuple(c for c in map(chr, range(sys.maxunicode + 1))
               if c != "\n" and (unicodedata.category(c) in ("Zl", "Zp", "Zs", "Cc", "Cf") or c.isspace()))
# Those some program may show as a line break although no mail client quotes at them.
SPLITLINES_BREAKS = tuple(c for c in HIDING if len(f"a{c}b".splitlines()) > 1)


def hiding() -> st.SearchStrategy[str]:
    """One to three hiding characters, half of them drawn from the nine line breaks alone (of
    the 250-odd), so that a short run meets them often."""
    char = st.one_of(st.sampled_from(SPLITLINES_BREAKS), st.sampled_from(HIDING))
    return st.lists(char, min_size=1, max_size=3).map("".join)
