"""One definition of a line (`classifiers.lines`) for quoting, commands and display, and the
parser's new text built on it: a command hidden in a quoted line behind any Unicode line break
or format character is never found."""

from __future__ import annotations

import base64
import binascii
import sys
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import asks_to_escalate, is_quoted, normalise_breaks, parse_commands, split_lines, strip_commands
from classifiers.lines import split_lines_with_ends
from inbox.ingest.parse import parse
from inbox.present import body_lines
from tests.lines_kit import HIDING, SPLITLINES_BREAKS, hiding

COMMANDS = ("#solve", "#close", "#escalate critical", "#severity critical", "#status solved",
            "#assign engineer@example.com", "#de-escalate", "#internal", "#workaround", "#category billing")


def test_the_hiding_set_holds_what_the_attack_used() -> None:
    """The characters drawn from include every splitlines() break and the common invisible ones."""
    drawn = {*HIDING, "\n"}
    assert all(len(f"a{c}b".splitlines()) == 1 for c in map(chr, range(sys.maxunicode + 1)) if c not in drawn)
    assert set(SPLITLINES_BREAKS) == {"\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
    assert {"\u200b", "\u2066", "\ufeff", "\u00ad", "\u200e", "\x00", "\t", "\u3000"} <= set(HIDING)


@pytest.mark.parametrize("char", SPLITLINES_BREAKS)
def test_a_line_ends_at_newline_only(char: str) -> None:
    """None of the characters str.splitlines() also breaks at ends a line."""
    assert split_lines(f"> down {char}#solve\nnext") == [f"> down {char}#solve", "next"]
    assert split_lines_with_ends(f"a{char}b\nc\n") == [f"a{char}b\n", "c\n"]


@given(st.text())
def test_lines_with_their_ends_give_back_the_text(text: str) -> None:
    """Lines and their "\\n" put together are the text; each holds one "\\n" at most, at its end."""
    pieces = split_lines_with_ends(text)
    assert "".join(pieces) == text
    assert all("\n" not in piece[:-1] for piece in pieces)


@pytest.mark.parametrize("line", ["> old", "  > old", ">old", "\t>> old", "\u200b> old", "\ufeff> old",
                                  "\u2066> old", "\u2028> old", "\x0c>"])
def test_quoted_lines(line: str) -> None:
    """">" first, after whitespace and invisible format characters, is a quote."""
    assert is_quoted(line)


@pytest.mark.parametrize("line", ["", "   ", "old > new", "#solve", "a> b", "\u200b"])
def test_lines_that_are_not_quoted(line: str) -> None:
    """Anything else, blank lines included, is not."""
    assert not is_quoted(line)


def test_a_lone_cr_breaks_a_line_only_in_cr_only_text() -> None:
    """CRLF and CR-only text read as LF; a lone CR in a text with LF stays inside its line, as a space."""
    assert normalise_breaks("one\r\ntwo\r\n") == "one\ntwo\n"
    assert normalise_breaks("one\rtwo\r") == "one\ntwo\n"
    assert normalise_breaks("Thanks.\r\n> down \r#solve\r\n") == "Thanks.\n> down  #solve\n"
    assert normalise_breaks("a\n> b\rc") == "a\n> b c"


@given(st.text(alphabet=st.sampled_from("ab>#\r\n\x0c\u2028 ")))
def test_normalising_never_adds_a_line_to_a_text_with_lines(text: str) -> None:
    """A text with a "\\n" keeps exactly its lines' count; "\\r" never survives."""
    done = normalise_breaks(text)
    assert "\r" not in done
    if "\n" in text:
        assert done.count("\n") == text.count("\n")
    else:
        assert done.count("\n") == text.count("\r")


@pytest.mark.parametrize("char", SPLITLINES_BREAKS)
def test_a_hidden_command_in_a_quoted_line_is_no_command(char: str) -> None:
    """The reader finds nothing on a quoted line, keeps it when stripping commands, and reads no request in it."""
    text = f"Thanks, looking.\n> The printer is down {char}#escalate critical\n> please{char}escalate\nBye"
    assert parse_commands(text) == ()
    assert not asks_to_escalate(text)
    assert strip_commands(text) == text


def test_only_spaces_and_tabs_may_stand_before_a_command() -> None:
    """A line that starts with a form feed, NEL or line separator is not a command line."""
    text = " \t#solve\n\x0c#close\n\x85#close\n\u2028#close\n\u00a0#close"
    assert [c.verb for c in parse_commands(text)] == ["solve"]


def test_stated_severity_ignores_a_quoted_line_behind_a_separator() -> None:
    """A "Severity: 1" after a line separator in a quoted line is still quoted."""
    from classifiers import stated_severity
    from inbox.domain.message import ParsedMessage
    message = ParsedMessage(message_id=None, subject="Re: printer", from_addr="a@acme.com",
                            visible_text="Thanks.\n> earlier mail\u2028Severity: 1\n")
    assert stated_severity(message, ["critical", "high", "low"]) is None


def test_the_admin_view_shows_a_quoted_line_as_one_line() -> None:
    """`tickets show` prints the quoted line as the desk read it: one line, starting with ">"."""
    rows = body_lines("Thanks.\n> down \x0c#solve\u2028#close\n")
    assert len(rows) == 2 and rows[1].strip().startswith(">") and "#solve" in rows[1]


# --- the parser's new text ---------------------------------------------------------------------


def _staff_mail(body: str, cte: str, subtype: str = "plain") -> bytes:
    """An engineer's reply with `body` encoded as `cte`, every character as written."""
    data = body.encode("utf-8")
    if cte == "base64":
        encoded = base64.encodebytes(data)
    elif cte == "quoted-printable":
        encoded = binascii.b2a_qp(data, istext=False)
    else:
        encoded = data.replace(b"\n", b"\r\n")
    head = (f"From: Jane <engineer@example.com>\r\nTo: support@example.com\r\nSubject: Re: [SUP-000001] down\r\n"
            f"Message-ID: <r1@example.com>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n")
    return head.encode("ascii") + encoded


def _quoting(form: str, hide: str, command: str) -> str:
    if form == "html":
        return (f"<html><body><p>Thanks Alice, we are on it.</p><blockquote type=\"cite\">"
                f"<p>The printer is down {hide}{command}</p><div>{command}</div>second<br>{command}</blockquote>"
                f"<p>A technician comes this afternoon.</p></body></html>")
    return (f"Thanks Alice, we are on it.\n\n> The printer is down {hide}{command}\n\n"
            "A technician comes this afternoon.\n")


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(hide=hiding(),
       command=st.sampled_from(COMMANDS), cte=st.sampled_from(["8bit", "base64", "quoted-printable"]),
       form=st.sampled_from(["plain", "html"]))
def test_no_command_is_ever_found_in_a_quoted_line(hide: str, command: str, cte: str, form: str) -> None:
    """Whatever line break or format character stands before a command in a line a staff member
    quoted, in plain text or an HTML <blockquote>, the new text has no command and asks nothing."""
    if cte == "8bit" and ("\r" in hide or "\x00" in hide):
        cte = "base64"  # RFC 2045 2.8: 8bit text has no bare CR and no NUL
    parsed = parse(_staff_mail(_quoting(form, hide, command), cte, subtype=form))
    assert parsed.has_usable_headers and "Thanks Alice" in parsed.fresh_text
    assert parse_commands(parsed.fresh_text) == ()
    assert not asks_to_escalate(parsed.fresh_text)


def test_an_html_blockquote_becomes_quoted_lines() -> None:
    """Each line inside a <blockquote> gets ">" per level; the writer's own lines around it do not."""
    html = ("<p>Answer one.</p><blockquote><p>first<br>#solve</p><blockquote>nested<pre>a\rb</pre></blockquote>"
            "last</blockquote><p>Answer two.</p>")
    parsed = parse(_staff_mail(html, "8bit", subtype="html"))
    assert parsed.text.split("\n") == ["Answer one.", "", "> first", "> #solve", ">", ">> nested", ">> a", ">> b",
                                       "> last", "", "Answer two.", ""]
    assert parsed.fresh_text.split("\n") == ["Answer one.", "", "> first", "> #solve", ">", ">> nested", ">> a",
                                             ">> b", "> last", "", "Answer two."]


def test_a_disclaimer_cut_never_turns_a_quoted_line_into_a_command() -> None:
    """mail-parser-reply's disclaimer cut ran into the next, quoted, line and left "#solve" alone on a line."""
    body = "Warning: this mail is external\n> customer wrote: mail me #solve\n\nThanks, on it.\n"
    parsed = parse(_staff_mail(body, "8bit"))
    assert parse_commands(parsed.fresh_text) == ()


@pytest.mark.parametrize("body", [
    "On Mon, 2 Mar 2026 at 09:00, Alice <alice@acme.com> wrote:\n#solve\n",
    "-----Original Message-----\nFrom: Alice <alice@acme.com>\nSent: Monday\nTo: support\n\n> as you said\n#solve\n",
    "---------- Forwarded message ---------\nFrom: Alice <alice@acme.com>\nDate: Mon\nSubject: x\n\n> hi\n#close\n",
], ids=["attribution, unmarked history", "Outlook original starting with >", "forward starting with >"])
def test_a_history_without_marks_under_the_first_header_is_no_new_text(body: str) -> None:
    """A mail that starts with a quote header over an unmarked history (a forward, an Outlook
    original, HTML turned text) keeps its text but has nothing of that history in its fresh text,
    even when the history's own first line is quoted (bottom-posting is read under an
    attribution line over a marked history only)."""
    parsed = parse(_staff_mail(body, "8bit"))
    assert "#" not in parsed.fresh_text and parse_commands(parsed.fresh_text) == ()
    assert "#" in parsed.text  # kept, and shown to the engineers


def test_bottom_posting_under_a_marked_history_is_the_senders() -> None:
    """"On ... wrote:", ">" lines, then the sender's own lines: those are fresh text, their command counts."""
    body = ("On Mon, 2 Mar 2026 at 09:00, Alice <alice@acme.com> wrote:\n> The printer is down.\n> Help!\n\n"
            "We replaced the fuser.\n#solve\n")
    parsed = parse(_staff_mail(body, "8bit"))
    assert parsed.fresh_text == "> The printer is down.\n> Help!\n\nWe replaced the fuser.\n#solve"
    assert [c.verb for c in parse_commands(parsed.fresh_text)] == ["solve"]


def _forwarding(inline: bool) -> bytes:
    """An engineer's reply with its own command, enclosing the customer's mail (which has one too)."""
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "alice@acme.com", "Printer on fire"
    inner.set_content("The printer is down\n#solve\n")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "Jane <engineer@example.com>", "support@example.com", "Re: down"
    outer.set_content("#status pending\nSee Alice's mail, below.\n")
    outer.add_attachment(inner, disposition="inline" if inline else "attachment")
    return outer.as_bytes()


@pytest.mark.parametrize("inline", [False, True], ids=["as a file", "inline"])
def test_a_mail_enclosed_whole_is_not_the_senders_new_text(inline: bool) -> None:
    """A message/rfc822 the sender attached or forwarded is shown, but none of its lines is a command."""
    parsed = parse(_forwarding(inline))
    assert "#solve" in parsed.text
    assert parsed.fresh_text == "#status pending\nSee Alice's mail, below."
    assert [c.verb for c in parse_commands(parsed.fresh_text)] == ["status"]


def test_a_body_left_unparsed_has_no_new_text() -> None:
    """Past the MIME bounds the body stays raw: a quoted-printable soft break there would start a line
    ("#solve") that the sender wrote inside a quoted one, so nothing of it is fresh text."""
    quoted = "> " + "boundary=3D " * 301 + "\r\n> The printer is down " + "x" * 50 + "=\r\n#solve\r\n"
    raw = ("From: Jane <engineer@example.com>\r\nTo: support@example.com\r\nSubject: Re: down\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
           "\r\n\r\nThanks, we are on it.\r\n\r\n" + quoted).encode("ascii")
    parsed = parse(raw)
    assert any(d.startswith("MIME body not parsed") for d in parsed.defects) and "#solve" in parsed.text
    assert parsed.fresh_text == ""
