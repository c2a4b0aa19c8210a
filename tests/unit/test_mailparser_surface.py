"""What `inbox.ingest.charsets.CharsetParser` relies on from mail-parser still holds in the installed release.

It overrides `MailParser._decode_body_payload`, `_make_mail` and `_build_header_index`, which are
outside mail-parser's documented surface,
so pyproject.toml pins mail-parser to the tested range. When that pin moves, these tests fail
first and say what to re-check.
"""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import mailparser
from packaging.requirements import Requirement

from inbox.ingest.charsets import CharsetParser

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pin() -> Requirement:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return next(Requirement(d) for d in dependencies if Requirement(d).name == "mail-parser")


def test_the_installed_mail_parser_is_in_the_pinned_range() -> None:
    """The pin has an upper bound, and the installed release is inside it: an upgrade is a decision."""
    pin = _pin()
    assert any(spec.operator == "<" for spec in pin.specifier), f"{pin} has no upper bound"
    assert pin.specifier.contains(version("mail-parser")), f"mail-parser {version('mail-parser')} is outside {pin}"


def test_the_overridden_method_is_still_mail_parsers_per_part_body_decoder() -> None:
    """`_decode_body_payload(part, charset, part_index)` exists and is what parsing calls for each
    body part: if it were renamed, CharsetParser's override would be dead code and ISO-2022-JP bodies
    would stay escape sequences again (tests/unit/test_charsets.py shows that too)."""
    base = mailparser.MailParser._decode_body_payload
    assert list(inspect.signature(base).parameters) == ["self", "part", "charset", "part_index"]
    assert list(inspect.signature(CharsetParser._decode_body_payload).parameters) == list(
        inspect.signature(base).parameters)
    assert "_decode_body_payload(" in inspect.getsource(mailparser.MailParser.parse)


def test_the_override_is_called_for_a_single_part_body() -> None:
    """A single-part ISO-2022-JP body goes through the override (mail-parser alone keeps its escape bytes)."""
    raw = (b"From: a@example.jp\r\nTo: b@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
           + "日本語".encode("iso2022_jp") + b"\r\n")
    assert "\x1b" in "".join(mailparser.parse_from_bytes(raw).text_plain)
    assert [t.strip() for t in CharsetParser.from_bytes(raw).text_plain] == ["日本語"]


def test_the_mail_dict_is_not_built_and_nothing_read_here_is_lost() -> None:
    """`_make_mail(complete)` is what parse() calls, twice, to build the `mail` dict: skipped here
    (8 % of a parse), while the bodies, the date and the defects read as mail-parser alone gives them."""
    assert list(inspect.signature(mailparser.MailParser._make_mail).parameters) == ["self", "complete"]
    assert "self._make_mail()" in inspect.getsource(mailparser.MailParser.parse)
    raw = (b"From: Ann <ann@example.com>\r\nTo: b@example.com\r\nSubject: hello\r\n"
           b"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
           b"plain words\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html words</p>\r\n--b\r\n")
    alone, ours = mailparser.parse_from_bytes(raw), CharsetParser.from_bytes(raw)
    assert alone.mail["subject"] == "hello" and ours.mail == {}
    assert (ours.text_plain, ours.text_html, ours.date) == (alone.text_plain, alone.text_html, alone.date)
    assert ours.defects_categories == alone.defects_categories == {"CloseBoundaryNotFoundDefect"}


def test_the_header_index_is_not_built_and_the_address_headers_are_not_read_twice() -> None:
    """`_build_header_index()` is what `_reset` builds the index from, and mail-parser's reading of
    every address header walks that index: with it empty, a To that mail-parser's reader finds
    defective costs nothing, and the bodies, the date and every other defect read as before."""
    assert list(inspect.signature(mailparser.MailParser._build_header_index).parameters) == ["self"]
    reset = inspect.getsource(mailparser.MailParser._reset)
    assert "self._header_index = self._build_header_index()" in reset
    assert "self._header_index.get(header" in reset  # the address headers are read from the index
    raw = (b"From: Ann <ann@example.com>\r\nTo: <<broken@@example.com\r\nSubject: hello\r\n"
           b"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n\r\nplain words\r\n")
    alone, ours = mailparser.parse_from_bytes(raw), CharsetParser.from_bytes(raw)
    assert "AddressHeaderDefect" in alone.defects_categories
    assert "AddressHeaderDefect" not in ours.defects_categories
    assert (ours.text_plain, ours.date) == (alone.text_plain, alone.date)
    assert ours.defects_categories == alone.defects_categories - {"AddressHeaderDefect"}
