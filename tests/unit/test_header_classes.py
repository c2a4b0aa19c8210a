"""Issue 22, header-level classes, at the parser (and at authentication, which reads the raw bytes):
a colon-less line inside the header block, two From fields, an address with spaces in it.
Every mail here is written by hand, byte by byte."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.ingest import header_block
from inbox.ingest.authenticate import authenticate
from inbox.ingest.header_block import _joined, repair
from inbox.ingest.parse import parse
from tests.dkim_kit import Key, dns_for, make_key, sign

JOINED = "header line without a colon joined to the previous header"

BRIGHTMAIL = (
    b"Received: from mx.acme.com by mx.example.com; Mon, 02 Mar 2026 10:00:00 -0800\r\n"
    b"X-Brightmail-Tracker: H4sIAAAAAAAAA+NgFmphZGBgYGBgZGBg4ODg5OBg4OBgYGBg\r\n"
    b"YGBgZGBg4ODg5OBg4OBgYGBgYGBgYGBg==\r\n"
    b"From: Ann Customer <ann@acme.com>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Printer down\r\n"
    b"Message-ID: <bm1@acme.com>\r\n"
    b"\r\n"
    b"The printer is down.\r\nNo colon here either\r\n"
)


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key()


# --- a header line without a colon ---------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_a_colon_less_line_continues_the_header_above_and_from_is_read(newline: bytes) -> None:
    """The X-Brightmail-Tracker value broken without a leading space no longer ends the block before From."""
    parsed = parse(BRIGHTMAIL.replace(b"\r\n", newline))
    assert parsed.has_usable_headers and (parsed.from_addr, parsed.from_name) == ("ann@acme.com", "Ann Customer")
    assert parsed.subject == "Printer down" and parsed.message_id == "bm1@acme.com"
    assert parsed.headers["x-brightmail-tracker"] == (
        "H4sIAAAAAAAAA+NgFmphZGBgYGBgZGBg4ODg5OBg4OBgYGBg YGBgZGBg4ODg5OBg4OBgYGBgYGBgYGBg==",)
    assert JOINED in parsed.defects
    assert parsed.text.splitlines() == ["The printer is down.", "No colon here either"]  # the body is not touched


def test_the_repair_joins_only_colon_less_lines_and_never_makes_a_from() -> None:
    """"From: x" below a broken line is a header of its own; "From x" without a colon is not a From;
    a colon inside a value is not a header name either: the joined text stays in the header above."""
    raw = (b"From: alice@acme.com\r\nX-Note: one\r\nFrom mallory@evil.test\r\ntwo three\r\n"
           b"Subject: hello\r\nwith From: mallory@evil.test in it\r\n\r\nbody\r\n")
    repaired, defects = header_block.repair(raw)
    assert defects == [JOINED]
    assert repaired == (b"From: alice@acme.com\r\nX-Note: one\r\nFrom mallory@evil.test two three\r\n"
                        b"Subject: hello\r\nwith From: mallory@evil.test in it\r\n\r\nbody\r\n")
    parsed = parse(raw)
    assert parsed.from_addr == "alice@acme.com" and parsed.headers["from"] == ("alice@acme.com",)


def test_without_an_empty_line_there_is_no_header_block_to_repair() -> None:
    """A body written with no empty line above it stays the body; mail that needs no repair is kept as it came."""
    raw = b"From: alice@acme.com\r\nSubject: hi\r\nthe printer is down\r\n"
    assert header_block.repair(raw) == (raw, [])
    ok = b"From: alice@acme.com\r\nSubject: hi\r\n folded\r\n\r\nno colon\r\n"
    repaired, defects = header_block.repair(ok)
    assert repaired is ok and defects == []
    assert header_block.repair(b"") == (b"", []) and header_block.repair(b"\r\n\r\n") == (b"\r\n\r\n", [])
    assert header_block.repair(b"From alice@acme.com Mon Mar  2 10:00:00 2026\nFrom: a@b.c\n\nx") == (
        b"From alice@acme.com Mon Mar  2 10:00:00 2026\nFrom: a@b.c\n\nx", [])


@pytest.mark.parametrize("shape", ["many short lines", "one long line", "no empty line"])
def test_the_repair_is_linear(shape: str) -> None:
    """500 KB of colon-less header lines (or one line, or no end) repair and parse in well under a second."""
    lines = {"many short lines": b"x\r\n" * 170_000, "one long line": b"x" * 500_000 + b"\r\n",
             "no empty line": b"x\r\n" * 170_000}[shape]
    end = b"" if shape == "no empty line" else b"\r\n"
    raw = b"From: alice@acme.com\r\nX-Tracker: a\r\n" + lines + end + b"body\r\n"
    started = time.perf_counter()
    repaired, _ = header_block.repair(raw)
    parsed = parse(raw)
    assert time.perf_counter() - started < 2.0
    assert len(repaired) <= len(raw) and parsed.from_addr == "alice@acme.com"


def test_authentication_reads_the_bytes_as_they_came_and_refuses_a_colon_less_line(key: Key) -> None:
    """A signed engineer's mail with a colon-less line after Subject: the parser joins it ("Fix SUP-000009"),
    DKIM would verify the original, so the two readers disagree on the Subject: it proves nothing."""
    signed = sign(b"From: engineer@example.com\r\nTo: support@example.com\r\nSubject: Fix\r\n"
                  b"Message-ID: <e1@example.com>\r\nDate: Mon, 02 Mar 2026 10:00:00 -0800\r\n\r\n#solve\r\n", key)
    dns = dns_for(key, "example.com")
    assert authenticate(signed, parse(signed), dns=dns).passed  # the control: as signed, it verifies
    tampered = signed.replace(b"Subject: Fix\r\n", b"Subject: Fix\r\nSUP-000009\r\n")
    parsed = parse(tampered)
    assert parsed.subject == "Fix SUP-000009" and JOINED in parsed.defects
    proof = authenticate(tampered, parsed, dns=dns)
    assert not proof.passed and "a line without a colon" in proof.reason


# --- two From fields -------------------------------------------------------------------------------


@pytest.mark.parametrize("unreadable", [b"", b"<>", b"\xff\xfe\xfd", b"John", b"=?x-unknown?q?=FF?= <<>>"])
def test_two_from_fields_one_unreadable_are_the_readable_ones_never_reply_to(unreadable: bytes) -> None:
    """The readable From is the author (with the defect "two From headers"), on either side; Reply-To never is."""
    for first, second in ((unreadable, b"Ann <ann@acme.com>"), (b"Ann <ann@acme.com>", unreadable)):
        raw = (b"From: " + first + b"\r\nFrom: " + second + b"\r\nReply-To: other@evil.test\r\n"
               b"To: support@example.com\r\nSubject: s\r\nMessage-ID: <t1@acme.com>\r\n\r\nhi\r\n")
        parsed = parse(raw)
        assert (parsed.from_addr, parsed.from_name, parsed.no_sender) == ("ann@acme.com", "Ann", "")
        assert "two From headers" in parsed.defects and parsed.reply_to == ("other@evil.test",)


def test_two_from_fields_naming_two_mailboxes_name_no_sender() -> None:
    """Two readable, different From fields: no single author, and Reply-To does not stand in."""
    raw = (b"From: alice@acme.com\r\nFrom: mallory@evil.test\r\nReply-To: alice@acme.com\r\n"
           b"Subject: s\r\n\r\nhi\r\n")
    parsed = parse(raw)
    assert parsed.from_addr == "" and not parsed.has_usable_headers
    assert parsed.no_sender.startswith("From names 2 mailboxes, not one") and "two From headers" in parsed.defects


def test_two_from_fields_never_authenticate(key: Key) -> None:
    """A signed engineer's mail with an unreadable From added on top (or below) is attributed, never proven."""
    signed = sign(b"From: engineer@example.com\r\nTo: support@example.com\r\nSubject: Re: [SUP-000001] x\r\n"
                  b"Message-ID: <e2@example.com>\r\nDate: Mon, 02 Mar 2026 10:00:00 -0800\r\n\r\n#solve\r\n", key)
    dns = dns_for(key, "example.com")
    for raw in (b"From: <>\r\n" + signed, signed.replace(b"\r\n\r\n", b"\r\nFrom: \xff\xfe\r\n\r\n", 1)):
        parsed = parse(raw)
        assert parsed.from_addr == "engineer@example.com"
        proof = authenticate(raw, parsed, dns=dns)
        assert not proof.passed and "2 From headers" in proof.reason


# --- an address with spaces ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"<power quadrant system@example.com>",
                                   b"Power Quadrant <power quadrant system@example.com>",
                                   b'"Power Quadrant" <power  quadrant\tsystem@example.com>',
                                   b"<power quadrant system@example.com>, system@example.com"])
def test_an_address_with_spaces_is_invalid_never_shortened(value: bytes) -> None:
    """The sender is refused with the raw address named; system@example.com is nowhere taken for it."""
    raw = b"From: " + value + b"\r\nTo: support@example.com\r\nSubject: s\r\nMessage-ID: <s1@x.test>\r\n\r\nhi\r\n"
    parsed = parse(raw)
    assert parsed.from_addr == "" and not parsed.has_usable_headers
    assert parsed.no_sender == "From has an address that is not valid: 'power quadrant system@example.com'"
    assert parsed.no_sender in parsed.defects


def test_an_address_with_spaces_among_recipients_is_dropped_not_shortened() -> None:
    """In To and Cc the invalid address is left out; the valid ones stay, and nobody is made a participant by a cut."""
    raw = (b"From: alice@acme.com\r\nTo: support@example.com, <power quadrant system@example.com>\r\n"
           b"Cc: <mallory alice@acme.com>\r\nSubject: s\r\n\r\nhi\r\n")
    parsed = parse(raw)
    assert parsed.to == ("support@example.com",) and parsed.cc == ()


@pytest.mark.parametrize(("value", "address"), [
    (b"Big Bug bb@bug.com", "bb@bug.com"),  # no brackets: the address is still plain to see
    (b'"Power <quadrant system@x>" <ann@acme.com>', "ann@acme.com"),  # brackets inside a quoted name are the name's
    (b"Ann < ann@acme.com >", "ann@acme.com"),
])
def test_broken_but_plain_addresses_are_still_read(value: bytes, address: str) -> None:
    raw = b"From: " + value + b"\r\nSubject: s\r\n\r\nhi\r\n"
    assert parse(raw).from_addr == address


@settings(max_examples=500)
@given(st.lists(st.sampled_from([b"From: a@b.c", b"Subject: x", b"X-Tracker", b" folded", b"\tfolded", b"From bob",
                                 b"noColonHere", b"", b"a:b", b"\xff\xfe", b"Date"]), max_size=12),
       st.lists(st.sampled_from([b"\r\n", b"\n", b"\r"]), min_size=12, max_size=12), st.booleans())
def test_the_quick_check_rules_out_only_what_the_line_by_line_repair_leaves(lines: list[bytes], breaks: list[bytes],
                                                                           body: bool) -> None:
    """`repair` first asks two regular expressions whether the block has a line to join; whatever the
    lines and breaks (CRLF, LF, a lone CR, mixed), it answers as the line-by-line repair does."""
    raw = b"".join(line + brk for line, brk in zip(lines, breaks)) + (b"\r\nbody without colon\r\n" if body else b"")
    assert repair(raw) == _joined(raw)


def test_a_remembered_header_value_reads_the_same_every_time_and_a_long_one_is_not_kept() -> None:
    """Address values are read once per process (a storm's mails all name the desk in To): the
    second mail with a value gets what the first got, the invalid address in it still refused, and
    a value over the limit is read afresh each time, never held."""
    from inbox.ingest import mailboxes

    value = "Ann <ann@acme.com>, <power quadrant system@example.com>"
    first = mailboxes._read(value)
    assert mailboxes._read(value) is first  # remembered
    assert first == ((("Ann", "ann@acme.com"),), ("power quadrant system@example.com",))
    raw = (b"From: " + value.encode() + b"\r\nTo: support@example.com\r\nSubject: s\r\n\r\nhi\r\n")
    assert parse(raw).from_addr == "" and parse(raw).from_addr == ""  # refused both times
    long_value = ", ".join(f"p{i}@acme.com" for i in range(100))
    assert len(long_value) > mailboxes._REMEMBERED_CHARS
    assert mailboxes._read(long_value) is not mailboxes._read(long_value)
    assert len(mailboxes._read(long_value)[0]) == 100
