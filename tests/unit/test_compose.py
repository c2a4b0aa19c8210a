"""Composing a rendered email into bytes: headers that thread and stay quiet, both parts, CRLF, no injection."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from autoresponder.compose import (
    MAX_REFERENCES,
    compose,
    subject_with_tracking,
    thread_references,
)
from autoresponder.render import RenderedEmail

AT = datetime(2026, 3, 3, 16, 30, tzinfo=UTC)
RENDERED = RenderedEmail(
    subject="[SUP-000123] Checkout fails", text="Hello Alice,\nWe are on it.\n",
    html="<p>Hello Alice,</p><p>We are on it. Caf\u00e9 &amp; co.</p>",
)


def build(rendered: RenderedEmail = RENDERED, **overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "from_address": "Example Support <support@example.com>", "to": ["alice@acme.com"],
        "message_id": "inbox.SUP-000123.abc.sig@example.com", "date": AT, "tracking": "SUP-000123",
        "loop_marker": "example.com",
    }
    args.update(overrides)
    return compose(rendered, **args)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def test_headers_of_an_automatic_reply() -> None:
    """From, To, Date, Message-ID in brackets, RFC 3834 Auto-Submitted, Exchange suppression, loop marker."""
    msg = parse(build())
    assert msg["From"] == "Example Support <support@example.com>"
    assert msg["To"] == "alice@acme.com"
    assert msg["Date"] == "Tue, 03 Mar 2026 16:30:00 +0000"
    assert msg["Message-ID"] == "<inbox.SUP-000123.abc.sig@example.com>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Inbox-Loop"] == "example.com"
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_a_human_reply_is_not_marked_automatic() -> None:
    """automatic=False (a relayed engineer's reply) leaves Auto-Submitted out; the loop marker stays."""
    msg = parse(build(automatic=False))
    assert msg["Auto-Submitted"] is None
    assert msg["X-Inbox-Loop"] == "example.com"


def test_threading_headers() -> None:
    """In-Reply-To names the parent; References is the thread then the parent (RFC 5322 3.6.4)."""
    msg = parse(build(in_reply_to="parent@acme.com", references=["<root@acme.com>", "mid@example.com"]))
    assert msg["In-Reply-To"] == "<parent@acme.com>"
    assert msg["References"].split() == ["<root@acme.com>", "<mid@example.com>", "<parent@acme.com>"]


def test_long_references_keep_the_root_and_the_newest_and_stay_plain() -> None:
    """Past 20 ids the first and the newest are kept; long ids are folded by line, never RFC 2047-encoded."""
    refs = [f"<{i:02d}.{'a' * 60}@mail.example.com>" for i in range(30)]
    data = build(in_reply_to=refs[-1], references=refs[:-1])
    ids = parse(data)["References"].split()
    assert len(ids) == MAX_REFERENCES
    assert ids[0] == refs[0] and ids[1:] == refs[-(MAX_REFERENCES - 1):]
    assert b"=?utf-8?" not in data.split(b"\r\n\r\n", 1)[0].split(b"Subject:")[0]
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_subject_gets_the_tracking_prefix_once() -> None:
    """A subject without the tracking number gets `[SUP-000123] `; one that has it (any case) is left alone."""
    assert parse(build(RenderedEmail("Your request", "t", "h")))["Subject"] == "[SUP-000123] Your request"
    assert parse(build())["Subject"] == "[SUP-000123] Checkout fails"
    assert subject_with_tracking("Re: [sup-000123] x", "SUP-000123") == "Re: [sup-000123] x"
    # SUP-0001234 is another ticket: it does not count as naming SUP-000123.
    assert subject_with_tracking("about SUP-0001234", "SUP-000123") == "[SUP-000123] about SUP-0001234"


def test_non_ascii_subject_round_trips() -> None:
    """A non-ASCII subject is encoded on the wire and reads back unchanged."""
    data = build(RenderedEmail("[SUP-000123] Caf\u00e9 ferm\u00e9 \u2014 \u65e5\u672c", "t", "h"))
    assert data.isascii()
    assert parse(data)["Subject"] == "[SUP-000123] Caf\u00e9 ferm\u00e9 \u2014 \u65e5\u672c"


def test_both_parts_text_first_then_html() -> None:
    """multipart/alternative with text/plain then text/html, each decoding to what was rendered."""
    msg = parse(build())
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    # The parser leaves the wire's CRLF in decoded text: compare lines.
    assert parts[0].get_content().splitlines() == RENDERED.text.splitlines()
    assert parts[1].get_content().splitlines() == RENDERED.html.splitlines()
    assert all(p["MIME-Version"] is None for p in parts) and msg["MIME-Version"] == "1.0"


def test_every_line_ends_in_crlf_and_the_wire_is_seven_bit() -> None:
    """Policy SMTP: CRLF everywhere (bare CR or LF in the text included); bodies need no 8BITMIME."""
    data = build(RenderedEmail("[SUP-000123] x", "one\ntwo\rthree\r\nfour " + "long " * 40, "<p>\u00e9</p>\n"))
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert parse(data).get_body(("plain",)).get_content().splitlines()[:4] == ["one", "two", "three", "four " + "long " * 40]


def test_crlf_in_the_subject_does_not_add_a_header() -> None:
    """An injected CRLF in the subject is folded into the subject text: no Bcc header appears."""
    data = build(RenderedEmail("[SUP-000123] hi\r\nBcc: victim@example.net\r\n\r\nbody", "t", "h"))
    msg = parse(data)
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[SUP-000123] hi Bcc: victim@example.net body"
    assert not any(line.startswith(b"Bcc:") for line in data.split(b"\r\n"))


def test_crlf_in_an_address_does_not_add_a_header() -> None:
    """A CRLF in a display name becomes a space; an address that is not one address is refused."""
    msg = parse(build(to=['"Alice\r\nBcc: victim@example.net" <alice@acme.com>']))
    assert msg["Bcc"] is None and msg["To"].addresses[0].addr_spec == "alice@acme.com"
    with pytest.raises(ValueError):
        build(to=["alice@acme.com\r\nBcc: victim@example.net"])
    with pytest.raises(ValueError):
        build(from_address="support@example.com, other@example.com")


def test_unusable_ids_and_naive_dates_are_refused() -> None:
    """Our own Message-ID with spaces or line breaks, or a naive date, is a ValueError, not a broken header."""
    with pytest.raises(ValueError):
        build(message_id="a b@example.com")
    with pytest.raises(ValueError):
        build(message_id="a@example.com\r\nBcc: v@example.net")
    with pytest.raises(ValueError):
        build(date=datetime(2026, 3, 3, 16, 30))


def test_malformed_parent_ids_are_left_out() -> None:
    """A customer's broken In-Reply-To or References id is dropped; the email still goes, with no injected header."""
    msg = parse(build(in_reply_to="x@y\r\nBcc: v@example.net", references=["<ok@acme.com>", "two words@x", ""]))
    assert msg["In-Reply-To"] is None and msg["Bcc"] is None
    assert msg["References"] == "<ok@acme.com>"


def test_thread_references_drops_repeats_keeping_the_newest_position() -> None:
    """An id named twice appears once, where it was last named."""
    assert thread_references(["<a@x>", "<b@x>", "a@x"], "c@x") == ["<b@x>", "<a@x>", "<c@x>"]
