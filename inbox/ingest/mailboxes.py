"""Who a mail is from, and whom it names: the mailboxes of its address headers, for `inbox.ingest.parse`.

An address is taken as written or not at all. Mail in the wild breaks the syntax in ways whose
meaning is still plain ("Big Bug bb@bug.com", no quotes, no angle brackets), and those are read;
but an address between angle brackets that does not hold one ("<power quadrant
system@example.com>") is invalid, and never shortened to the word before its "@": that would be
another, valid-looking address, one a spammer or an attacker picks.

The author is the one mailbox the From field names. Must never raise on header text the
parsers produced, never take time more than linear in it, and decides nothing about what the
mail may do: that is `inbox.ingest.authenticate`'s and the ticket rules' job.
"""

from __future__ import annotations

import re
from email.utils import getaddresses
from functools import lru_cache

from inbox.ingest.mime import clean, decode_words

__all__ = ["MAX_ADDRESS_CHARS", "addresses", "author", "mailboxes", "return_path"]

MAX_ADDRESS_CHARS = 254  # RFC 5321 4.5.3.1.3: a path is 256 octets with its angle brackets
MAX_SHOWN_CHARS = 100  # of a header value quoted in a reason

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+|[a-z0-9][a-z0-9._+-]*")
_ADDRESS_TOKEN = re.compile(r"[^\s<>\"(),;:@]+@[^\s<>\"(),;:@]+\.[^\s<>\"(),;:@]+")
_TOKEN_BREAKS = re.compile(r"[\s<>\"(),;:]+")
# What stands between angle brackets (each search stops at the next bracket: linear).
_BRACKETED = re.compile(r"<([^<>]*)>")
_QUOTED = re.compile(r'"[^"]*"')  # a display name may hold anything, brackets too
_SPACE = re.compile(r"\s")


def mailboxes(values: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(display name, bare lower-case address) of every valid mailbox."""
    result: list[tuple[str, str]] = []
    for value in values:
        result.extend(_read(value)[0])
    return result


def _read(value: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The valid mailboxes of one header value, and the invalid addresses it writes between angle
    brackets. A short value is read once per process: in a storm every mail's To names the desk,
    and many come from the same people."""
    return _read_short(value) if len(value) <= _REMEMBERED_CHARS else _read_now(value)


_REMEMBERED_CHARS = 1000  # a value longer than this is read each time: the cache never holds much


@lru_cache(maxsize=4096)
def _read_short(value: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    return _read_now(value)


def _read_now(value: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    boxes = [(name, clean(addr).strip().strip("<>").lower()) for name, addr in getaddresses([value])]
    valid = [(decode_words(name), addr) for name, addr in boxes
             if len(addr) <= MAX_ADDRESS_CHARS and _ADDRESS.fullmatch(addr)]
    # "<a b@x.com>": the brackets say where the address is, and it is not one. The words in
    # them are not searched for a shorter address below ("b@x.com" is someone else's).
    invalid = [" ".join(inner.split())[:MAX_SHOWN_CHARS] for inner in _BRACKETED.findall(_QUOTED.sub(" ", value))
               if "@" in inner and _SPACE.search(inner.strip())]
    if valid:
        return tuple(valid), tuple(invalid)
    # Broken but common: "Big Bug bb@bug.com", "a@x.com b@x.com" (no quotes, no commas). The
    # addresses are still plain to see. Searched word by word, and only in words short enough to
    # be an address: one search over a long header is quadratic.
    outside = _BRACKETED.sub(" ", value) if invalid else value
    found = [("", token.lower()) for word in _TOKEN_BREAKS.split(outside)
             if "@" in word and len(word) <= MAX_ADDRESS_CHARS for token in _ADDRESS_TOKEN.findall(word)]
    return tuple(found), tuple(invalid)


def author(values: list[str] | tuple[str, ...]) -> tuple[str, str, str, list[str]]:
    """(display name, address, "", defects) of the one mailbox the From fields name, or ("", "", why not, defects).

    The mail is someone's only when From names one mailbox. Its group syntax ("undisclosed-
    recipients:;", RFC 6854), an empty or missing From, an invalid address and several authors
    (RFC 5322 3.6.2) name none, and Sender: or Reply-To: never stand in for it: anyone can write
    them, and taken for the author they let a mail join a ticket as someone its From does not
    name. Such a mail is refused as a sender; bounces, which often come From "<>", are told
    apart and routed before that refusal.

    Two From fields break RFC 5322 3.6, but mail programs and broken gateways write them: when
    one names a mailbox and the others name none (an unreadable value), the mail is that
    mailbox's, as a mail client would show it, and "two From headers" is a defect. It is never
    *authenticated* (`inbox.ingest.authenticate`: a duplicated From proves nothing), so it gains
    no one's authority. Two fields naming two different mailboxes name no single sender."""
    if not values:
        return "", "", "From names no mailbox: there is no From field", []
    defects = [f"{_count(len(values))} From headers"] if len(values) > 1 else []
    boxes: list[tuple[str, str]] = []
    invalid: list[str] = []
    for value in values:  # a second author settles it: the fields after it need no reading
        found, bad = _read(value)
        invalid.extend(bad)
        if len(values) > 1:
            # Among several fields a bare word ("From: John") is what is left of an unreadable value.
            found = [(name, address) for name, address in found if "@" in address]
        boxes.extend(found)
        if len(_unique([address for _name, address in boxes])) > 1:
            break
    addresses = _unique([address for _name, address in boxes])
    if invalid and len(values) == 1:
        # One field that writes an invalid address beside a valid one still names a mailbox that is not one.
        return "", "", f"From has an address that is not valid: {invalid[0]!r}", defects
    if len(addresses) == 1:
        return boxes[0][0], addresses[0], "", defects
    shown = " ".join(" ".join(value[:200] for value in values[:2]).split())[:MAX_SHOWN_CHARS]
    if invalid and not addresses:
        return "", "", f"From has an address that is not valid: {invalid[0]!r}", defects
    if not addresses:
        return "", "", f"From names no mailbox: {shown!r}", defects
    return "", "", f"From names {len(addresses)} mailboxes, not one: {shown!r}", defects


def _count(n: int) -> str:
    return {2: "two", 3: "three"}.get(n, str(n))


def addresses(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_unique([addr for _name, addr in mailboxes(values)]))


def return_path(values: list[str] | tuple[str, ...]) -> str | None:
    if not values:
        return None
    boxes = mailboxes(values[:1])
    # RFC 5321 4.5.5: "<>" is the null reverse-path of bounces and auto-replies.
    return boxes[0][1] if boxes else ""


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
