"""`inbox.ingest.parse`: bytes in, a `ParsedMessage` out, for any bytes at all."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.ingest.parse import MAX_TEXT_CHARS, parse
from tests.unit.ingest_mails import EXIM_BOUNCE, OUR_ID, POSTFIX_DSN, person


def test_plain_mail_fields() -> None:
    """Addresses are bare and lower-case, ids lose their <>, the date is aware UTC."""
    msg = parse(person(headers={"Cc": '"Doe, John" <John@Acme.com>, eve@acme.com', "Return-Path": "<Alice@Acme.COM>"}))
    assert msg.from_addr == "alice@acme.com"
    assert msg.from_name == "Alice Example"
    assert msg.to == ("support@example.com",)
    assert msg.cc == ("john@acme.com", "eve@acme.com")
    assert msg.message_id == "CAF1234@mail.acme.com"
    assert msg.return_path == "alice@acme.com"
    assert msg.date == datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    assert msg.subject == "Printer on fire"
    assert msg.text == "Hello,\n\nthe printer is on fire.\n\nAlice\n"
    assert msg.content_type == "text/plain"
    assert msg.headers["subject"] == ("Printer on fire",)
    assert msg.header("X-Nope") is None
    assert msg.has_usable_headers
    assert msg.defects == ()


def test_headers_keep_every_value_in_order() -> None:
    """Repeated headers keep all values, in order, under a lower-cased name."""
    raw = b"From: a@b.com\nReceived: one\nX-Thing: =?utf-8?q?caf=C3=A9?=\nRECEIVED: two\n\nbody\n"
    msg = parse(raw)
    assert msg.headers["received"] == ("one", "two")
    assert msg.headers["x-thing"] == ("café",)


def test_multipart_alternative_reads_the_plain_part() -> None:
    """With text and HTML, the text is the plain part and the HTML is kept aside."""
    mail = EmailMessage()
    mail["From"] = "a@acme.com"
    mail["Subject"] = "alt"
    mail.set_content("plain words\n")
    mail.add_alternative("<p>html <b>words</b></p>", subtype="html")
    msg = parse(mail.as_bytes())
    assert msg.content_type == "multipart/alternative"
    assert msg.text == "plain words\n"
    assert msg.html is not None and "<b>words</b>" in msg.html
    assert msg.attachments == ()


def test_html_only_mail_is_converted_to_text() -> None:
    """An HTML-only mail gets its text from inscriptis, without tags."""
    mail = EmailMessage()
    mail["From"] = "a@acme.com"
    mail.set_content("<html><body><h1>Broken</h1><p>The <b>export</b> fails.</p><ul><li>step one</li></ul></body></html>", subtype="html")
    msg = parse(mail.as_bytes())
    assert "Broken" in msg.text and "The export fails." in msg.text and "step one" in msg.text
    assert "<" not in msg.text
    assert msg.visible_text.startswith("Broken")


def _with_attachment(filename: str | None, data: bytes = b"%PDF-1.4 data") -> bytes:
    mail = EmailMessage()
    mail["From"] = "a@acme.com"
    mail.set_content("see attached\n")
    mail.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    raw = mail.as_bytes()
    if filename is None:  # EmailMessage always writes a disposition; keep it, drop nothing else
        assert b"filename" not in raw
    return raw


def test_attachment_size_hash_and_type() -> None:
    """An attachment is measured on its decoded bytes and hashed with SHA-256."""
    data = bytes(range(256)) * 40
    (att,) = parse(_with_attachment("report.pdf", data)).attachments
    assert att.filename == "report.pdf"
    assert att.content_type == "application/pdf"
    assert att.size == len(data)
    assert att.sha256 == hashlib.sha256(data).hexdigest()


def test_attachment_type_that_is_no_media_type_is_stored_as_octet_stream() -> None:
    """A NUL or a space in Content-Type (PostgreSQL refuses a NUL in any text
    column, failing the whole mail) is stored as application/octet-stream."""
    for ctype in (b"message\x00/rfc822", b"application/x thing"):
        raw = (b"From: a@b.com\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n\nhi\n"
               b"--X\nContent-Type: " + ctype + b"\nContent-Disposition: attachment; filename=f.dat\n\nxyz\n--X--\n")
        (att,) = parse(raw).attachments
        assert att.content_type == "application/octet-stream", ctype
        assert "\x00" not in att.filename


def test_attachment_path_is_reduced_to_its_base_name() -> None:
    """"../../etc/passwd" and Windows paths lose every directory."""
    assert parse(_with_attachment("../../etc/passwd")).attachments[0].filename == "passwd"
    assert parse(_with_attachment("..\\..\\boot.ini")).attachments[0].filename == "boot.ini"


def test_attachment_name_loses_control_and_bidi_characters() -> None:
    """Control characters and a right-to-left override (exe disguised as gpj) are dropped."""
    name = parse(_with_attachment("inv\x07oice\x1b\u202egpj.exe")).attachments[0].filename
    assert name == "invoicegpj.exe"


def test_long_attachment_name_is_cut_keeping_the_extension() -> None:
    """A 500-character name becomes at most 200, still ending in its extension."""
    name = parse(_with_attachment("a" * 496 + ".pdf")).attachments[0].filename
    assert len(name) == 200 and name.endswith(".pdf")


def test_attachment_without_name_gets_a_default() -> None:
    """No name, or a name that is only dots and slashes, gives a default by type."""
    assert parse(_with_attachment(None)).attachments[0].filename == "attachment.pdf"
    assert parse(_with_attachment("../..")).attachments[0].filename == "attachment.pdf"
    raw = b"From: a@b.com\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n\nhi\n--X\nContent-Type: application/x-thing\nContent-Disposition: attachment\n\nxyz\n--X--\n"
    assert parse(raw).attachments[0].filename == "attachment.bin"


def test_rfc2047_subject_is_decoded_and_unfolded() -> None:
    """Encoded words in several charsets decode to one line of text."""
    raw = (
        b"From: a@b.com\n"
        b"Subject: =?UTF-8?B?SMOpbGzDsg==?= =?ISO-8859-1?Q?caf=E9?=\n"
        b" and more\n\nbody\n"
    )
    assert parse(raw).subject == "Héllòcafé and more"


def test_raw_utf8_and_unknown_charsets_never_break_decoding() -> None:
    """RFC 6532 raw UTF-8 headers, and charsets nobody knows, still give text."""
    raw = (
        "From: Jörg <jörg@example.de>\nSubject: Grüße\n".encode()
        + b"X-Odd: =?x-unknown?q?caf=E9?=\nContent-Type: text/plain; charset=x-unknown\n\ncaf\xe9\n"
    )
    msg = parse(raw)
    assert msg.subject == "Grüße"
    assert msg.from_name == "Jörg"
    assert msg.header("x-odd") == "café"
    assert msg.text.startswith("caf")


def test_cr_only_line_endings() -> None:
    """Old Mac mail (CR only) reads like any other, text with LF line ends."""
    raw = b"From: Alice <alice@acme.com>\rSubject: cr\rMessage-ID: <cr@acme.com>\r\rline one\rline two\r"
    msg = parse(raw)
    assert (msg.from_addr, msg.subject, msg.message_id) == ("alice@acme.com", "cr", "cr@acme.com")
    assert msg.text == "line one\nline two\n"


def test_empty_one_byte_and_garbage_are_unusable_not_errors() -> None:
    """Empty, one-byte and binary input parse to a message with no usable headers."""
    for raw in (b"", b"x", b"\x00\xff\xfe\x80" * 50, bytes(range(256)) * 8, b"just some words\nno headers\n"):
        msg = parse(raw)
        assert not msg.has_usable_headers
        assert msg.from_addr == ""
        assert "\x00" not in msg.text


def test_no_from_is_unusable_and_sender_or_reply_to_never_stand_in() -> None:
    """Without a From naming a mailbox the mail is refused, with the reason; Sender and Reply-To never stand in."""
    assert not parse(b"To: support@example.com\nSubject: hi\n\nbody\n").has_usable_headers
    assert not parse(b'From: "Nobody" <>\nSubject: hi\n\nbody\n').has_usable_headers
    assert not parse(b"From: @@@, ;;\nSubject: hi\n\nbody\n").has_usable_headers
    daemon = parse(b"From: Mail Delivery Subsystem <MAILER-DAEMON>\nSubject: Returned mail\n\nbody\n")
    assert daemon.has_usable_headers and daemon.from_addr == "mailer-daemon"  # sendmail's local form
    for raw in (b"Reply-To: Bob <bob@acme.com>\nSubject: hi\n\nbody\n",
                b"From: undisclosed-recipients:;\nSender: Alice <alice@acme.com>\nSubject: hi\n\nbody\n"):
        msg = parse(raw)
        assert not msg.has_usable_headers and msg.from_addr == "" and msg.from_name == ""
        assert msg.no_sender.startswith("From names no mailbox") and msg.no_sender in msg.defects


def test_a_from_naming_several_mailboxes_names_no_sender() -> None:
    """Several authors, a second From field, or an address as unquoted display name of another: no sender."""
    for head in (b"From: alice@acme.com, bob@acme.com", b"From: Group: alice@acme.com, bob@acme.com;",
                 b"From: alice@acme.com <mallory@evil.test>", b"From: alice@acme.com\nFrom: mallory@evil.test",
                 b"From: alice@acme.com mallory@evil.test"):
        msg = parse(head + b"\nSender: alice@acme.com\nSubject: hi\n\nbody\n")
        assert (msg.has_usable_headers, msg.from_addr) == (False, ""), head
        assert msg.no_sender.startswith("From names 2 mailboxes, not one"), head


def test_a_from_naming_one_mailbox_however_written_is_the_sender() -> None:
    """The same address twice, as display name and address or in a one-member group, is one sender."""
    for head, name in ((b"From: alice@acme.com <alice@acme.com>", ""),
                       (b"From: Team: Alice <alice@acme.com>;", "Alice"),
                       (b"From: Alice <alice@acme.com>\nFrom: alice@acme.com", "Alice")):
        msg = parse(head + b"\nSubject: hi\n\nbody\n")
        assert (msg.has_usable_headers, msg.from_addr, msg.from_name, msg.no_sender) == (True, "alice@acme.com", name, "")


def test_broken_from_still_gives_the_address() -> None:
    """Unquoted words before a bare address still name the sender."""
    assert parse(b"From: Big Bug bb@bug.com\n\nx\n").from_addr == "bb@bug.com"


def test_missing_message_id_is_none() -> None:
    """No Message-ID header: None, not an empty string."""
    assert parse(b"From: a@b.com\n\nbody\n").message_id is None
    assert parse(b"From: a@b.com\nMessage-ID:   <  x@y >  \n\nbody\n").message_id == "x@y"


def test_in_reply_to_and_references_split_into_ids() -> None:
    """Ids come out in order, once each, without brackets, comments or folding."""
    raw = (
        b"From: a@b.com\n"
        b"In-Reply-To: <p@q.com> (Bob's message of Monday)\n"
        b"References: <r@s.com> <t@u.com>\n\t<p@q.com>,<r@s.com>\n\n"
        b"body\n"
    )
    msg = parse(raw)
    assert msg.in_reply_to == ("p@q.com",)
    assert msg.references == ("r@s.com", "t@u.com", "p@q.com")
    assert msg.thread_ids == ("p@q.com", "t@u.com", "r@s.com")
    bare = parse(b"From: a@b.com\nIn-Reply-To: your message of Monday\nReferences: x@y.com z@w.com\n\nb\n")
    assert bare.in_reply_to == ()
    assert bare.references == ("x@y.com", "z@w.com")


def test_return_path_absent_null_or_address() -> None:
    """None when absent, "" for the null reverse-path <> (RFC 5321 4.5.5)."""
    assert parse(b"From: a@b.com\n\nx\n").return_path is None
    assert parse(b"Return-Path: <>\nFrom: a@b.com\n\nx\n").return_path == ""
    assert parse(b"Return-Path: < >\nFrom: a@b.com\n\nx\n").return_path == ""


def test_date_unparseable_or_zoneless() -> None:
    """A bad date is None with a defect; a date without zone is read as UTC."""
    bad = parse(b"From: a@b.com\nDate: someday soon\n\nx\n")
    assert bad.date is None
    assert parse(b"From: a@b.com\nDate: Mon, 3 Mar 2025 10:00:00 -0000\n\nx\n").date == datetime(
        2025, 3, 3, 10, 0, tzinfo=timezone.utc
    )


def test_visible_text_drops_quote_and_signature_but_keeps_lists() -> None:
    """The newest reply only: no "wrote:" history, no "Best regards" block, "- step" lines kept."""
    body = (
        "#severity high\n\nSteps:\n- open the page\n- click export\n\nBest regards,\nAlice\n\n"
        "On Mon, 3 Mar 2025 at 10:00, Support <support@example.com> wrote:\n> Did it work?\n"
    )
    msg = parse(person(body=body))
    assert msg.visible_text == "#severity high\n\nSteps:\n- open the page\n- click export"
    assert "Did it work?" in msg.text


def test_visible_text_drops_german_and_outlook_history_and_bare_quotes() -> None:
    """Other languages' headers, Outlook's Original Message and a trailing "> " block are history."""
    assert parse(person(body="Danke!\n\nAm 03.03.2025 um 10:00 schrieb Support <s@x.com>:\n> alt\n")).visible_text == "Danke!"
    assert parse(person(body="Merci\n\n-----Original Message-----\nFrom: x\nSent: y\n\nold\n")).visible_text == "Merci"
    assert parse(person(body="Works now.\n\n> old question\n> more\n")).visible_text == "Works now."


def test_visible_text_falls_back_to_text() -> None:
    """When nothing is left after stripping, the whole text is shown."""
    msg = parse(person(body="> only a quote\n"))
    assert msg.visible_text == msg.text.strip() or msg.visible_text == msg.text


def test_fresh_text_is_only_what_stands_above_the_quote() -> None:
    """Commands are read from fresh_text: the new lines only, and nothing when the mail is all quote."""
    reply = parse(person(body="#status solved\nDone.\n\nOn Mon, 3 Mar 2025, Bob <b@x.com> wrote:\n> #severity critical\n"))
    assert reply.fresh_text == "#status solved\nDone."
    assert parse(person(body="> #severity critical\n> help\n")).fresh_text == ""
    forwarded = parse(person(body="-----Original Message-----\nFrom: x\nSent: y\n\n#severity critical\n"))
    assert "#severity" not in forwarded.fresh_text


def test_postfix_dsn_names_our_message_and_the_failed_recipient() -> None:
    """RFC 3464: the returned original's Message-ID and Final-Recipient of a failed action."""
    msg = parse(POSTFIX_DSN)
    assert msg.content_type == "multipart/report"
    assert msg.report_original_ids == (OUR_ID,)
    assert msg.report_failed_recipients == ("gone@acme.com",)
    assert msg.return_path == ""
    assert msg.from_addr == "mailer-daemon@mx.acme.com"
    assert "could not\nbe delivered" in msg.text
    assert msg.attachments == ()  # the returned original is a report part, not a file


def test_headers_only_report_and_delayed_recipients() -> None:
    """text/rfc822-headers gives the id; a "delayed" recipient is not a failure (RFC 3464 2.3.3)."""
    raw = (
        b"From: MAILER-DAEMON@mx.acme.com\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nDelayed.\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.com\n\n"
        b"Final-Recipient: rfc822; slow@acme.com\nAction: delayed\nStatus: 4.4.1\n\n"
        b"Final-Recipient: rfc822; <Gone@acme.com>\nAction: failed\nStatus: 5.1.1\n"
        b"--B\nContent-Type: text/rfc822-headers\n\nFrom: support@example.com\nMessage-ID:\n <ours@example.com>\n"
        b"--B--\n"
    )
    msg = parse(raw)
    assert msg.report_original_ids == ("ours@example.com",)
    assert msg.report_failed_recipients == ("gone@acme.com",)


def test_plain_text_bounce_quotes_the_original_id() -> None:
    """Exim-style bounces quote the original inline; its Message-ID is found in the body."""
    msg = parse(EXIM_BOUNCE)
    assert msg.report_original_ids == (OUR_ID,)
    assert msg.report_failed_recipients == ("gone@acme.com",)
    assert msg.message_id == "E1abc-0001@mx.acme.com"


def test_forwarded_mail_as_attachment_is_a_file() -> None:
    """A message/rfc822 attachment is one .eml file, measured whole."""
    inner = b"From: x@y.com\nMessage-ID: <inner@y.com>\n\nold mail\n"
    raw = (
        b"From: a@b.com\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nfyi\n"
        b'--B\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename="old.eml"\n\n' + inner + b"--B--\n"
    )
    msg = parse(raw)
    (att,) = msg.attachments
    assert (att.filename, att.content_type) == ("old.eml", "message/rfc822")
    assert att.size > 0
    assert msg.text.startswith("fyi")


def test_broken_structure_uses_the_fallback_parser() -> None:
    """When mail-parser raises (an unterminated multipart nested in another), the stdlib reads it."""
    raw = (
        b"From: a@b.com\nSubject: s\nContent-Type: multipart/mixed; boundary=OUT\n\n"
        b"--OUT\nContent-Type: text/plain\n\nhello there\n"
        b"--OUT\nContent-Type: multipart/alternative; boundary=IN\n\nthe inner boundary never comes\n"
    )
    msg = parse(raw)
    assert any(d.startswith("fallback parser used") for d in msg.defects)
    assert (msg.from_addr, msg.subject) == ("a@b.com", "s")
    assert msg.text.startswith("hello there")


def test_thousands_of_nested_parts_are_fast_and_safe() -> None:
    """3,000 nested multiparts: no RecursionError, no seconds spent, the headers still read."""
    depth = 3000
    raw = b"From: a@b.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
    raw += b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i - 1, i) for i in range(1, depth))
    raw += b"--b%d\nContent-Type: text/plain\n\nhello\n" % (depth - 1)
    raw += b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    started = time.perf_counter()
    msg = parse(raw)
    assert time.perf_counter() - started < 2
    assert msg.subject == "deep" and msg.has_usable_headers
    assert msg.defects


def test_huge_mail_is_capped_and_quick() -> None:
    """A 3 MB HTML-only mail: text capped at 1,000,000 characters, HTML at 2,000,000, under 2 s."""
    html = "<p>" + "word " * 600_000 + "</p>"
    raw = b"From: a@b.com\nContent-Type: text/html; charset=utf-8\n\n" + html.encode()
    started = time.perf_counter()
    msg = parse(raw)
    assert time.perf_counter() - started < 2
    assert msg.html is not None and len(msg.html) == 2_000_000
    assert 0 < len(msg.text) <= MAX_TEXT_CHARS
    assert any("truncated" in d for d in msg.defects)


def test_huge_header_block() -> None:
    """210 KB of headers and 5,000 References parse, references trimmed around the middle."""
    refs = " ".join(f"<r{i}@x.com>" for i in range(5000))
    raw = b"From: a@b.com\nReferences: " + refs.encode() + b"\n" + b"X-Pad: " + b"p" * 150_000 + b"\n\nbody\n"
    msg = parse(raw)
    assert len(msg.references) == 100
    assert msg.references[0] == "r0@x.com" and msg.references[-1] == "r4999@x.com"


def test_nul_characters_never_reach_the_text() -> None:
    """NULs (PostgreSQL text refuses them) are dropped from subject and text."""
    msg = parse(b"From: a@b.com\nSubject: a\x00b\n\nc\x00d\n")
    assert msg.subject == "ab" and msg.text == "cd\n"


_FRAGMENTS = st.sampled_from(
    [
        b"From: a@b.com\n", b"Subject: =?utf-8?b?w6k=?=\n", b"Content-Type: multipart/mixed; boundary=B\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n", b"--B\n", b"--B--\n",
        b"Content-Type: message/rfc822\n", b"Content-Type: message/delivery-status\n", b"Content-Type: text/html\n",
        b"Content-Transfer-Encoding: base64\n", b"Content-Transfer-Encoding: quoted-printable\n",
        b"Content-Disposition: attachment; filename*=x-unknown''%FF%FE\n", b"Content-Type: text/plain; charset=x-unknown\n",
        b"\n", b"\r", b"\r\n", b"=?", b"?=", b"<", b">", b"\x00", b"\xff", b"Final-Recipient: rfc822; a@b\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    """Any bytes at all give a ParsedMessage."""
    assert parse(raw) is not None


@settings(max_examples=200, deadline=None)
@given(st.lists(_FRAGMENTS | st.binary(max_size=40), max_size=60))
def test_parse_never_raises_on_mail_shaped_bytes(pieces: list[bytes]) -> None:
    """Bytes built from mail-like fragments (boundaries, reports, bad charsets) give a ParsedMessage."""
    msg = parse(b"".join(pieces))
    assert isinstance(msg.text, str) and "\x00" not in msg.text


def test_an_address_longer_than_rfc_5321_allows_is_no_address() -> None:
    """A 400-character From is not a sender (PostgreSQL's columns hold 320): the mail is unusable,
    stored and refused, on both databases alike; a Cc of one is left out."""
    parsed = parse(b"From: " + b"a" * 400 + b"@example.org\r\nTo: support@example.com\r\nCc: b@x.com, "
                   + b"c" * 300 + b"@x.com\r\nSubject: hi\r\n\r\nbody\r\n")
    assert parsed.from_addr == "" and not parsed.has_usable_headers
    assert parsed.cc == ("b@x.com",)


def test_addresses_in_broken_headers_are_found_word_by_word() -> None:
    """The fallback search still finds plain addresses, and ignores words too long to be one."""
    parsed = parse(b"From: Big Bug bb@bug.com\r\nTo: a@x.com b@x.com " + b"-" * 100_000
                   + b" " + b"d" * 300 + b"@x.com\r\nSubject: hi\r\n\r\nbody\r\n")
    assert parsed.from_addr == "bb@bug.com" and parsed.to == ("a@x.com", "b@x.com")
