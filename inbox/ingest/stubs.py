"""Tell a stub plain part: the text/plain beside a rich HTML part that says only "read it in HTML".

Newsletters, ticketing systems and some mail programs put the content in the HTML part and a
placeholder in the plain one ("HTML newsletter could be read here: http://..."); read as it stands
the ticket showed none of the content. A plain part is a stub, and the HTML's text is read
instead, when the HTML has text and either

- the plain part (spaces squeezed) is under `STUB_MAX_CHARS` characters and under
  `STUB_SHARE` (20 %) of the HTML's text, or
- it is under `STUB_MAX_CHARS` and says one of the "view in your browser" phrases below, whatever
  the HTML's length (but the HTML says more than it).

Cheap by design: the HTML is converted only when the plain part is short and under a fifth of
the HTML's markup, or says a view-in-browser line (the common mail, a plain part as long as its
HTML's text, never converts anything), and `html_text` is bounded by the
caller's `MAX_HTML_CHARS`. Never raises out of `stub_reason`: a conversion error means "not a stub".
Never touches storage, the network or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["STUB_MAX_CHARS", "STUB_SHARE", "USED_HTML_DEFECT", "stub_reason"]

STUB_MAX_CHARS = 300  # a plain part longer than this is someone's text, however short beside its HTML
STUB_SHARE = 0.2
USED_HTML_DEFECT = "plain part is a stub: text read from the HTML part"
_SPACES = re.compile(r"\s+")
# "View in browser" lines, in the languages the quote headers know; matched anywhere in a short part.
_VIEW_IN_BROWSER = re.compile(
    r"view (?:this|it|the (?:e-?mail|message|newsletter))?\s*(?:online|in (?:your |a |the )?(?:web )?browser)"
    r"|(?:could|can) be (?:read|viewed|seen) (?:here|online|in (?:your |a )?browser)"
    r"|(?:your|this) (?:e-?mail|mail) (?:client|program|reader) (?:does not|doesn't|cannot|can't) (?:display|show|support) html"
    r"|requires? an html[- ]capable|html (?:version|e-?mail|mail|newsletter|message)"
    r"|im browser (?:an|ansehen|lesen|öffnen)|online (?:ansehen|lesen)|webversion|web-version"
    r"|voir (?:la version en ligne|dans (?:votre|le) navigateur)|version en ligne"
    r"|ver (?:en (?:el|tu|su) navegador|versi[óo]n web|online)|visualizza (?:nel browser|online)"
    r"|bekijk (?:in (?:je|uw) browser|online)",
    re.IGNORECASE,
)


def stub_reason(plain: str, html: str, to_text: Callable[[str], str]) -> str | None:
    """Why `plain` is a stub of `html` (for the record), or None when it is the mail's text."""
    words = _SPACES.sub(" ", plain).strip()
    if len(words) >= STUB_MAX_CHARS or len(html) <= len(words):
        return None
    # The HTML's text, spaces squeezed, is never longer than its markup: a plain part that is not
    # under 20 % of the markup, and says no view-in-browser line, is the text without converting.
    browser_line = _VIEW_IN_BROWSER.search(words)
    if browser_line is None and len(words) >= STUB_SHARE * len(html):
        return None
    try:
        rich = _SPACES.sub(" ", to_text(html)).strip()
    except Exception:  # lxml refuses some byte soups: the plain part is all there is
        return None
    if len(rich) <= len(words):
        return None
    if browser_line is not None:
        return f"a view-in-browser line of {len(words)} characters"
    if len(words) < STUB_SHARE * len(rich):
        return f"{len(words)} characters beside {len(rich)} in the HTML"
    return None
