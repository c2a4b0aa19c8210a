"""Hostile and broken input, end to end, on SQLite and PostgreSQL: bytes in, raw stored, then ticket and
message rows or a recorded refusal, and nothing left pending.

Where the case is about SMTP the bytes go through the real aiosmtpd listener on a loopback port;
otherwise they are stored with `app.rawstore.put` and processed by the real ingest worker. The unit
tests of `inbox.ingest.parse` cover the same shapes at the parser; these check what reaches the
database (PostgreSQL refuses NULs and lone surrogates in text, which the parser alone cannot show),
what the listener answers, and what a person sees. No test asserts on time: every size is bounded
so the file runs in seconds per database.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.domain.ticket import Outcome
from inbox.ingest.parse import MAX_TEXT_CHARS
from inbox.receive.smtp import MAX_RECIPIENTS
from inbox.store.tables import OutboxRow, Participant
from tests.fakes import mail
from tests.integration.test_smtp import TIMEOUT, client, crlf, listening, rows, send, transact

SUBJECT_CAP = 998  # RFC 5322 section 2.1.1, and the project's own cap on the subjects it sends (render.MAX_SUBJECT)


from tests.reliability.hostile_kit import ingest, process, raw_row, nothing_pending, the_ticket, stored_text, readable
# --- 1. a 1 MB header --------------------------------------------------------------------------------

MEGA_SUBJECT = ("word " * 200_000).strip()  # 999,999 characters


def folded(value: str) -> bytes:
    """A header value folded as RFC 5322 section 2.2.3 asks, lines under 80 octets (written here:
    the standard library's folding is quadratic and would take seconds)."""
    words = value.split(" ")
    return b"\n ".join(" ".join(words[i : i + 14]).encode() for i in range(0, len(words), 14))


def with_headers(data: bytes, **values: bytes) -> bytes:
    """`data` (from `mail(subject="placeholder")`) with its Subject, and any other header, set to raw bytes."""
    extra = b"".join(b"%s: %s\n" % (name.replace("_", "-").encode(), v) for name, v in values.items() if name != "Subject")
    return data.replace(b"Subject: placeholder\n", b"Subject: " + values.get("Subject", b"placeholder") + b"\n" + extra, 1)


async def test_a_megabyte_header_within_the_size_limit_is_accepted_over_smtp_and_makes_a_ticket(app: App) -> None:
    """A 1 MB Subject, folded as RFC 5322 asks, within smtp.max_message_bytes: 250, stored byte-exact,
    ingested into one open ticket; the body text stays within the parser's cap; nothing pending."""
    data = with_headers(mail(subject="placeholder"), Subject=folded(MEGA_SUBJECT), X_Junk=folded("junk " * 200_000))
    assert len(data) > 2_000_000
    async with listening(app) as door:
        code, text = await send(door.port, data)
    assert (code, text.split()[0]) == (250, "2.0.0")
    [row] = rows(app)
    assert row.data == crlf(data) and row.size == len(crlf(data))
    assert process(app, row.id) == Outcome.OPENED
    ticket, message = the_ticket(app, row.id)
    assert ticket.status == "open" and ticket.requester == "alice@acme.com"
    assert ticket.subject.startswith("word word") and readable(ticket.subject)
    assert len(message.text) <= MAX_TEXT_CHARS and message.text.startswith("Our printer is on fire.")
    assert all(len(v) <= 2 * len(MEGA_SUBJECT) for v in stored_text(app))  # nothing blown up beyond the input
    nothing_pending(app)


async def test_a_megabyte_single_line_is_refused_over_smtp_with_500_and_nothing_stored(app: App) -> None:
    """One physical 1 MB header line breaks RFC 5321's 998-octet line limit: after the final dot the
    listener answers 500 5.5.2 in its own words, counts it as line_too_long, stores nothing, and the
    session goes on."""
    data = with_headers(mail(subject="placeholder"), X_Junk=b"j" * 1_000_000)
    async with listening(app) as door:
        async with client(door.port) as smtp:
            code, text = await transact(smtp, data)
            assert (code, text.split()[0]) == (500, "5.5.2")
            assert (await transact(smtp, mail(message_id="<after@acme.com>")))[0] == 250
        assert door.refused("line_too_long") == 1
    [row] = rows(app)
    assert b"X-Junk" not in row.data


@pytest.mark.parametrize("shape", ["folded", "one line"])
def test_a_megabyte_subject_is_stored_bounded(app: App, shape: str) -> None:
    """A 1 MB Subject (folded, or on one line as a file or IMAP may hand it over) makes a ticket whose
    stored subject is bounded, like every other header-derived column."""
    one_mb = folded(MEGA_SUBJECT) if shape == "folded" else b"S" * 1_000_000
    data = with_headers(mail(subject="placeholder"), Subject=one_mb)
    raw_id, outcome = ingest(app, data)
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    ticket, message = the_ticket(app, raw_id)
    assert len(ticket.subject) <= SUBJECT_CAP
    assert len(message.subject) <= SUBJECT_CAP
    with app.sessions() as session:
        contexts = list(session.scalars(select(OutboxRow.context)))
    assert all(len(c["ticket"]["subject"]) <= SUBJECT_CAP for c in contexts)


# --- 2. 10,000 recipients ---------------------------------------------------------------------------

RECIPIENTS = 10_000


def test_ten_thousand_addressees_are_recorded_once_each_and_only_the_requester_is_mailed(app: App) -> None:
    """10,000 addresses in To and Cc: one ticket. The pipeline has no cap on copied addresses: each
    becomes a participant once (lower-cased, bounded to 320 characters), our own addresses never do,
    and the acknowledgement goes to the requester alone (no mail amplification to the copied)."""
    half = RECIPIENTS // 2
    to = ["support@example.com"] + [f"To.Person{i}@Partner{i % 37}.test" for i in range(half)]
    cc = [f"cc{i}@cc{i % 41}.test" for i in range(half)] + ["help@example.com", "to.person0@partner0.test"]
    data = mail(to=", ".join(to), headers={"Cc": ", ".join(cc)})
    raw_id, outcome = ingest(app, data)
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    ticket, message = the_ticket(app, raw_id)
    copied = {a.lower() for a in to[1:] + cc[:half]}
    assert len(copied) == RECIPIENTS
    assert set(message.to_addrs) == {a.lower() for a in to} and len(message.to_addrs) == half + 1
    assert set(message.cc_addrs) == {a.lower() for a in cc} and len(message.cc_addrs) == half + 2
    with app.sessions() as session:
        roles = dict(session.execute(select(Participant.address, Participant.role)
                                     .where(Participant.ticket_id == ticket.id)).all())
        outbox = session.execute(select(OutboxRow.kind, OutboxRow.recipient)).all()
    assert roles.pop("alice@acme.com") == "requester"
    assert set(roles) == copied and set(roles.values()) == {"copied"}
    assert max(len(a) for a in roles) <= 320
    assert [(k, r) for k, r in outbox if r != "engineer@example.com"] == [("acknowledgement", "alice@acme.com")]


# --- 3. 10,000 RCPT TO ------------------------------------------------------------------------------

RCPTS = 10_000


async def _rcpt_flood(port: int, rcpts: list[str], data: bytes) -> tuple[list[bytes], bytes]:
    """EHLO, MAIL, every RCPT written at once (as a pipelining client would), then DATA: each reply's code
    line, in order, and the reply to the final dot."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            assert line, "the server hung up"
            if line[3:4] != b"-":
                return line

    try:
        assert (await reply()).startswith(b"220")
        writer.write(b"EHLO client.test\r\n")
        assert (await reply()).startswith(b"250")
        writer.write(b"MAIL FROM:<flood@elsewhere.test>\r\n")
        assert (await reply()).startswith(b"250")
        writer.write(b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts))
        answers = [await reply() for _ in rcpts]
        writer.write(b"DATA\r\n")
        assert (await reply()).startswith(b"354")
        writer.write(crlf(data) + b".\r\n")
        final = await reply()
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return answers, final
    finally:
        writer.close()


async def test_ten_thousand_rcpt_to_get_550_for_strangers_452_past_the_cap_and_one_row(app: App) -> None:
    """10,000 RCPT TO in one transaction, half our addresses (plus and case variants) and half
    strangers: strangers get 550 5.1.1 (never a relay), ours 250 up to MAX_RECIPIENTS and 452 4.5.3
    after it (RFC 5321 section 4.5.3.1.10); each refusal is counted; the DATA is stored once, as one
    raw row with the MAX_RECIPIENTS accepted addresses."""
    ours = ["support@example.com", "Support@Example.COM", "help@example.com", "support+{i}@example.com"]
    rcpts = [ours[i % 8 // 2].format(i=i) if i % 2 == 0 else f"stranger{i}@elsewhere.test" for i in range(RCPTS)]
    data = mail(message_id="<flood@elsewhere.test>")
    async with listening(app) as door:
        answers, final = await _rcpt_flood(door.port, rcpts, data)
        assert door.refused("unknown_recipient") == RCPTS // 2
        assert door.refused("too_many_recipients") == RCPTS // 2 - MAX_RECIPIENTS
    codes = [a[:9] for a in answers]
    assert all(c == b"550 5.1.1" for c in codes[1::2])
    ours_codes = codes[0::2]
    assert ours_codes[:MAX_RECIPIENTS] == [b"250 2.1.5"] * MAX_RECIPIENTS
    assert set(ours_codes[MAX_RECIPIENTS:]) == {b"452 4.5.3"}
    assert final.startswith(b"250 2.0.0")
    [row] = rows(app)
    assert row.rcpt_tos == rcpts[0 : 2 * MAX_RECIPIENTS : 2] and row.data == crlf(data)
    assert process(app, row.id) == Outcome.OPENED
    nothing_pending(app)


# --- 4. deeply nested multiparts --------------------------------------------------------------------

DEPTH = 5_000


def _nested_multipart(depth: int) -> bytes:
    raw = b"From: Alice <alice@acme.com>\nTo: support@example.com\nSubject: deep\nMessage-ID: <deep@acme.com>\n"
    raw += b"Content-Type: multipart/mixed; boundary=b0\n\n"
    raw += b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i - 1, i) for i in range(1, depth))
    raw += b"--b%d\nContent-Type: text/plain\n\nhello from the bottom\n" % (depth - 1)
    return raw + b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))


def _nested_messages(depth: int) -> bytes:
    """message/rfc822 inside message/rfc822: no boundary at all, so no multipart count can catch it."""
    inner = b"From: x@acme.com\nSubject: innermost\n\nhello from the bottom\n"
    head = b"From: x@acme.com\nSubject: wrap\nContent-Type: message/rfc822\n\n"
    top = (b"From: Alice <alice@acme.com>\nTo: support@example.com\nSubject: deep\nMessage-ID: <deep@acme.com>\n"
           b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=top\n\n--top\nContent-Type: text/plain\n\n"
           b"see the attached message\n--top\nContent-Type: message/rfc822\n\n")
    return top + head * depth + inner + b"--top--\n"


@pytest.mark.parametrize("shape", ["multipart", "message/rfc822"])
def test_five_thousand_nested_levels_make_a_ticket_without_recursion_error(app: App, shape: str) -> None:
    """5,000 nested levels (multiparts, or attached messages): a ticket with its sender and subject,
    no RecursionError escaping as a failure or quarantine, nothing pending."""
    data = _nested_multipart(DEPTH) if shape == "multipart" else _nested_messages(DEPTH)
    raw_id, outcome = ingest(app, data)
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    ticket, message = the_ticket(app, raw_id)
    assert (ticket.subject, ticket.requester) == ("deep", "alice@acme.com")
    assert readable(message.text) and len(message.text) <= MAX_TEXT_CHARS
    assert raw_row(app, raw_id).data == data


# --- 5. unknown and wrong charsets ------------------------------------------------------------------

CHARSETS = {
    "unknown charset": (b'Content-Type: text/plain; charset="x-klingon"\n\n', b"Qapla'! The export fails \xe9\xff.\n"),
    "utf-8 declared, latin-1 sent": (b"Content-Type: text/plain; charset=utf-8\n\n", b"The export fails caf\xe9 \xff\xfe.\n"),
    "utf-8 declared, truncated sequence": (b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n",
                                           b"VGhlIGV4cG9ydCBmYWlscyDi\n"),
    "iso-2022-jp declared, binary sent": (b"Content-Type: text/plain; charset=iso-2022-jp\n\n",
                                          b"The export fails \x1b$B\xff\xfe\x80\n"),
    "unknown charset in the subject too": (b'Content-Type: text/plain; charset="x-klingon"\n\n', b"The export fails \x81\n"),
}


@pytest.mark.parametrize("case", list(CHARSETS))
def test_a_body_in_an_unknown_or_wrong_charset_makes_a_ticket_with_readable_text(app: App, case: str) -> None:
    """A body whose charset nobody knows, or whose bytes are invalid for the charset it declares: a ticket
    whose text is readable (the ASCII words intact, replacement characters allowed, no lone surrogate
    that PostgreSQL or a terminal would refuse)."""
    head, body = CHARSETS[case]
    subject = b"=?x-klingon?q?caf=E9_broken?=" if "subject" in case else b"export broken"
    data = (b"From: Alice <alice@acme.com>\nTo: support@example.com\nSubject: " + subject
            + b"\nMessage-ID: <cs@acme.com>\nMIME-Version: 1.0\n" + head + body)
    raw_id, outcome = ingest(app, data)
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    ticket, message = the_ticket(app, raw_id)
    assert "The export fails" in message.text and "The export fails" in message.visible_text
    assert all(readable(v) for v in (ticket.subject, message.subject, message.text, message.visible_text))
    assert "broken" in ticket.subject
    assert raw_row(app, raw_id).data == data


# --- 9. the size limit, to the byte -----------------------------------------------------------------

LIMIT = 10_000


def _exactly(size: int, tag: str) -> bytes:
    """A CRLF mail of exactly `size` bytes, ending in CRLF, no line over 998 octets, none starting with a dot:
    on the wire its DATA is these bytes, then ".\\r\\n"."""
    head = (f"From: alice@acme.com\r\nTo: support@example.com\r\nSubject: size {tag}\r\n"
            f"Message-ID: <{tag}@acme.com>\r\n\r\n").encode()
    remaining, lines = size - len(head), []
    while remaining:
        n = min(80, remaining)
        n -= remaining - n == 1  # never leave one byte over: a line needs at least its CRLF
        lines.append(b"y" * (n - 2) + b"\r\n")
        remaining -= n
    data = head + b"".join(lines)
    assert len(data) == size and data.endswith(b"\r\n") and b"\n." not in data
    return data


async def test_a_message_of_exactly_the_limit_is_stored_and_one_byte_more_is_refused_552(app: App) -> None:
    """With smtp.max_message_bytes = 10,000 the listener counts the DATA lines as sent, CRLFs included
    and the final "." line excluded: a 10,000-byte message gets 250 and is stored byte-exact; 10,001
    bytes get 552 5.3.4 after the final dot and nothing is stored; both declared with SIZE= as well."""
    at, over = _exactly(LIMIT, "at"), _exactly(LIMIT + 1, "over")
    assert (len(at), len(over)) == (LIMIT, LIMIT + 1)
    async with listening(app, max_message_bytes=LIMIT) as door:
        async with client(door.port) as smtp:
            assert (await transact(smtp, at))[0] == 250
            code, text = await transact(smtp, over)
            assert (code, text.split()[0]) == (552, "5.3.4") and str(LIMIT) in text
            code, _ = await transact(smtp, over, size=LIMIT + 1)  # declared: refused at MAIL
            assert code == 552
            at2 = _exactly(LIMIT, "at2")
            assert (await transact(smtp, at2, size=LIMIT))[0] == 250
        assert door.refused("too_large") == 2
    assert [r.data for r in rows(app)] == [at, at2]
    assert [r.size for r in rows(app)] == [LIMIT, LIMIT]


async def test_a_message_of_exactly_the_limit_with_a_leading_dot_line_is_stored(app: App) -> None:
    """RFC 1870: the message size excludes the doubled dots of dot-stuffing, so a 10,000-byte message with
    a line starting with "." is within a 10,000-byte limit, as its SIZE=10000 at MAIL was."""
    data = _exactly(LIMIT, "dot")
    data = data.replace(b"\r\nyy", b"\r\n.y", 1)
    assert len(data) == LIMIT and b"\r\n." in data
    async with listening(app, max_message_bytes=LIMIT) as door:
        code, _ = await send(door.port, data, size=LIMIT)
    assert code == 250
    assert [r.data for r in rows(app)] == [data]
