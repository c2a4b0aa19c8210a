"""Hidden command lines: a customer hides "#solve" behind a character some programs read as a line
break; an engineer or account manager answers inline, quoting that line with "> ", and signs it
with a real DKIM key. On SQLite and PostgreSQL.

Acme's SUP-000001 is open at low. Alice writes "... \\f#solve" (or "\\x85#close", "U+2028 #escalate
critical"); the staff reply quoting her line is authenticated, so a command read from it would
run with the staff member's authority. Each must leave the ticket's status and severity as they
were, with no command applied or even refused: the line is a quote, not a command. The same
holds for the other ways a customer's line used to reach a staff member's new text: an HTML
<blockquote>, a customer's mail the staff member encloses whole (message/rfc822), and a body left
unparsed, where a quoted-printable soft line break starts a raw line.
"""

from __future__ import annotations

import base64
import itertools
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.domain.ticket import Outcome
from tests.dkim_kit import Key, sign
from tests.fakes import mail
from tests.lines_kit import hiding
from tests.sla_kit import T0, Desk, text_of
from tests.staff_kit import ENGINEER, TAM, emails_to

AT = T0 + timedelta(minutes=30)
STEERING = ("status_changed", "severity_changed", "command_refused", "escalation_refused", "assigned",
            "workaround", "category_changed")
# (what hides the line break, the command, who quotes it): the attack run's three and the rest of
# str.splitlines()' breaks, a lone CR among them.
ATTACKS = {
    "form feed, #solve, engineer": ("\x0c", "#solve", ENGINEER),
    "NEL, #close, engineer": ("\x85", "#close", ENGINEER),
    "line separator, #escalate critical, account manager": ("\u2028", "#escalate critical", TAM),
    "paragraph separator, #severity critical, engineer": ("\u2029", "#severity critical", ENGINEER),
    "vertical tab, #status solved, engineer": ("\x0b", "#status solved", ENGINEER),
    "file separator, #assign, engineer": ("\x1c", f"#assign {ENGINEER}", ENGINEER),
    "group separator, #severity critical, account manager": ("\x1d", "#severity critical", TAM),
    "record separator, #workaround, engineer": ("\x1e", "#workaround", ENGINEER),
    "lone CR, #close, engineer": ("\r", "#close", ENGINEER),
}
_ids = itertools.count(10)


def _body_mail(sender: str, body: str, *, html: bool = False, n: int) -> bytes:
    """A reply on Alice's thread with `body` in base64, so that every character, a lone CR too,
    arrives as written."""
    domain = sender.rpartition("@")[2].rstrip(">")
    head = (f"From: {sender}\r\nTo: support@example.com\r\nSubject: Re: [SUP-000001] Printer on fire\r\n"
            f"Date: Mon, 02 Mar 2026 10:00:00 -0800\r\nMessage-ID: <r{n}@{domain}>\r\nIn-Reply-To: <m1@acme.com>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/{'html' if html else 'plain'}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n")
    return head.encode("ascii") + base64.encodebytes(body.encode("utf-8"))


def _alice_writes(desk: Desk, line: str) -> None:
    raw = mail(subject="Re: [SUP-000001] Printer on fire", message_id=f"<a{next(_ids)}@acme.com>",
               in_reply_to="<m1@acme.com>", body=f"Still no luck.\n{line}\nAlice\n")
    assert desk.feed(raw, at=AT) == Outcome.APPENDED


def _staff_quotes(desk: Desk, key: Key, who: str, line: str, *, html: bool = False) -> None:
    if html:
        body = (f"<html><body><p>Thanks Alice, we are on it.</p><blockquote type=\"cite\">Still no luck.<br>"
                f"{line}<br>Alice</blockquote><p>A technician comes this afternoon.</p></body></html>")
    else:
        body = (f"Thanks Alice, we are on it.\n\n> Still no luck.\n> {line}\n> Alice\n\n"
                "A technician comes this afternoon.\n")
    sender = f"Jane Doe <{ENGINEER}>" if who == ENGINEER else who
    raw = sign(_body_mail(sender, body, html=html, n=next(_ids)), key)
    assert desk.feed(raw, at=AT + timedelta(minutes=5)) == Outcome.APPENDED


def _nothing_changed(desk: Desk, *, refused_to: tuple[str, ...] = ()) -> None:
    """Status, severity and assignee as Alice opened it; nothing applied or refused, but the
    refusals of `refused_to`'s own command lines."""
    ticket = desk.ticket()
    assert (ticket.status, ticket.severity, ticket.assignee) == ("open", "low", None)
    assert [(e.kind, e.actor) for e in desk.events() if e.kind in STEERING and e.actor not in refused_to] == []


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_command_hidden_in_a_quoted_line_never_runs(desk: Desk, key: Key, attack: str) -> None:
    """The customer's hidden line, quoted inline in a signed staff reply, changes nothing; an
    engineer's reply is still relayed, with the quoted line as it was."""
    hide, command, who = ATTACKS[attack]
    line = f"The printer is still down {hide}{command}"
    if hide != "\r":  # a lone CR cannot travel in the kit's 8-bit mail: the staff reply alone carries it
        _alice_writes(desk, line)
    _staff_quotes(desk, key, who, line)
    desk.run(AT + timedelta(minutes=5))
    _nothing_changed(desk)
    if who == ENGINEER:
        [relayed] = [m for kind, m in emails_to(desk, "alice@acme.com") if kind == "agent_reply"]
        assert text_of(relayed).startswith("Thanks Alice, we are on it.")


@pytest.mark.parametrize("command", ["#solve", "#escalate critical"])
def test_a_command_on_its_own_line_of_an_html_quote_never_runs(desk: Desk, key: Key, command: str) -> None:
    """An HTML-only reply quotes in a <blockquote>: Alice's own command line (refused to her, a
    customer) is a quote there, and runs with nobody's authority."""
    _alice_writes(desk, command)
    _staff_quotes(desk, key, ENGINEER if command == "#solve" else TAM, command, html=True)
    desk.run(AT + timedelta(minutes=5))
    _nothing_changed(desk, refused_to=("alice@acme.com",))


@pytest.mark.parametrize(("who", "command"), [(ENGINEER, "#close"), (TAM, "#escalate critical")])
@pytest.mark.parametrize("inline", [False, True], ids=["as a file", "inline"])
def test_a_command_in_a_customer_mail_the_staff_encloses_never_runs(desk: Desk, key: Key, who: str, command: str,
                                                                      inline: bool) -> None:
    """Alice's mail, enclosed whole (message/rfc822) in a signed staff mail to the ticket: its lines are hers."""
    alice = EmailMessage()
    alice["From"], alice["Subject"] = "Alice <alice@acme.com>", "Re: [SUP-000001] Printer on fire"
    alice.set_content(f"Still no luck.\n{command}\n")
    staff = EmailMessage()
    staff["From"], staff["To"], staff["Subject"] = who, "support@example.com", "Re: [SUP-000001] Printer on fire"
    staff["Date"], staff["In-Reply-To"] = "Mon, 02 Mar 2026 10:00:00 -0800", "<m1@acme.com>"
    staff["Message-ID"] = f"<f{next(_ids)}@example.com>"
    staff.set_content("Colleagues, Alice's mail is below: please have a look.\n")
    staff.add_attachment(alice, disposition="inline" if inline else "attachment")
    assert desk.feed(sign(staff.as_bytes(policy=SMTP), key), at=AT) == Outcome.APPENDED
    _nothing_changed(desk)


def test_a_command_behind_a_soft_line_break_of_an_unparsed_mail_never_runs(desk: Desk, key: Key) -> None:
    """A quoted line past the MIME bounds (301 "boundary=") stays raw quoted-printable, where a soft line
    break before "#solve" starts a line of its own: nothing of an unparsed body is read for commands."""
    quoted = "> " + "boundary=3D " * 301 + "\r\n> The printer is down " + "x" * 50 + "=\r\n#solve\r\n"
    raw = (f"From: Jane Doe <{ENGINEER}>\r\nTo: support@example.com\r\n"
           "Subject: Re: [SUP-000001] Printer on fire\r\n"
           f"Date: Mon, 02 Mar 2026 10:00:00 -0800\r\nMessage-ID: <q{next(_ids)}@example.com>\r\n"
           "In-Reply-To: <m1@acme.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\nThanks, we are on it.\r\n\r\n" + quoted).encode("ascii")
    assert desk.feed(sign(raw, key), at=AT) == Outcome.APPENDED
    _nothing_changed(desk)


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hide=hiding(),
       command=st.sampled_from(["#solve", "#close", "#escalate critical", "#severity critical", "#status solved"]),
       who=st.sampled_from([ENGINEER, TAM]), html=st.booleans())
def test_no_hiding_character_lets_a_quoted_command_run(desk: Desk, key: Key, hide: str, command: str, who: str,
                                                       html: bool) -> None:
    """Any Unicode line break, control, space or format character before a command in a quoted
    line of a signed staff reply: the ticket keeps its status and severity. One desk serves every
    case, each reply a new mail, so a command that ran once would show in every later case too."""
    _staff_quotes(desk, key, who, f"The printer is still down {hide}{command}", html=html)
    _nothing_changed(desk)


@pytest.mark.parametrize("posting", ["above the quote", "below an attributed quote"])
def test_the_same_command_written_by_the_engineer_still_runs(desk: Desk, key: Key, posting: str) -> None:
    """The control: "#solve" on a line of the engineer's own, above the quote or below it (bottom-
    posting, under "On ..., Alice wrote:"), solves the ticket; the hidden "#close" does nothing."""
    own = "#solve\nFixed: the fuser was replaced.\n"
    quote = "> The printer is still down \x0c#close\n"
    attribution = "On Mon, 2 Mar 2026 at 09:00, Alice <alice@acme.com> wrote:\n"
    body = f"{own}\n{quote}" if posting.startswith("above") else f"{attribution}{quote}\n{own}"
    assert desk.feed(sign(_body_mail(f"Jane Doe <{ENGINEER}>", body, n=next(_ids)), key), at=AT) == Outcome.APPENDED
    assert desk.ticket().status == "solved"
    assert [e.detail.get("why") for e in desk.events(kind="status_changed")] == ["#solve"]
