"""Issue 22's body classes at the parser: forwards keep what they forward, a stub plain part gives
way to its HTML. Built from mails written here and one of the shared corpus (read, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import parse_commands
from inbox.ingest.automation import detect_automation
from inbox.ingest.forwards import is_forward_subject, split
from inbox.ingest.notifications import as_notification
from inbox.ingest.parse import parse
from inbox.ingest.quoting import html_text
from inbox.ingest.stubs import USED_HTML_DEFECT, stub_reason
from inbox.settings import load_settings

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def _mail(subject: str, body: str, *, headers: str = "") -> bytes:
    return (f"From: Alice <alice@acme.com>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject + body))}@acme.com>\r\n{headers}\r\n{body}").encode()


NACHRICHT = ("-----Original Nachricht-----\r\nVon: billing@vendor.example\r\nGesendet: Montag, 1. Dezember 2026 10:00\r\n"
             "An: alice@acme.com\r\nBetreff: Invoice\r\n\r\nInvoice 4711 is wrong: the amount is doubled.\r\n#solve\r\n")
GMAIL = ("---------- Forwarded message ---------\r\nFrom: Bob <bob@acme.com>\r\nDate: Mon, 1 Dec 2026 at 10:00\r\n"
         "Subject: crash\r\nTo: <alice@acme.com>\r\n\r\nThe server crashes at boot.\r\n#solve\r\n\r\n"
         "On Sun, 30 Nov 2026 at 09:00, Carol <carol@acme.com> wrote:\r\n> old history\r\n")


def test_forward_by_subject_keeps_the_forwarded_content() -> None:
    """'W.: Invoice' with nothing above '-----Original Nachricht-----' shows the forwarded mail; no command counts."""
    parsed = parse(_mail("W.: Invoice", NACHRICHT))
    assert "Invoice 4711 is wrong: the amount is doubled." in parsed.visible_text
    assert parsed.visible_text.startswith("-----Original Nachricht-----")
    assert parsed.fresh_text == ""
    assert not parse_commands(parsed.fresh_text)


def test_forward_with_own_words_shows_them_first_and_reads_commands_from_them_only() -> None:
    """The sender's words come first, then the forwarded mail (without its own history); a forwarded '#solve' never acts."""
    parsed = parse(_mail("Fwd: crash", "Please look at this.\r\n#severity high\r\n\r\n" + GMAIL))
    assert parsed.visible_text.startswith("Please look at this.")
    assert "The server crashes at boot." in parsed.visible_text
    assert "old history" not in parsed.visible_text
    assert [c.verb for c in parse_commands(parsed.fresh_text)] == ["severity"]
    assert "#solve" not in parsed.fresh_text


def test_forward_marker_with_nothing_above_is_a_forward_whatever_the_subject() -> None:
    """A separator with no reply text above it starts a forward even without Fwd: in the subject."""
    parsed = parse(_mail("Invoice", NACHRICHT))
    assert "Invoice 4711 is wrong" in parsed.visible_text
    assert parsed.fresh_text == ""


@pytest.mark.parametrize("subject", ["Fwd: x", "FW: x", "WG: x", "W.: x", "TR: x", "RV: x", "[ext] Fwd: x"])
def test_forward_prefixes(subject: str) -> None:
    """The forward prefixes of the common languages and mail programs."""
    assert is_forward_subject(subject)


@pytest.mark.parametrize("subject", ["Re: x", "AW: WG: x", "Forward planning", "TRAC: x", "Wrong invoice"])
def test_not_forward_prefixes(subject: str) -> None:
    """Replies (even to a forward) and words that merely start like a prefix are no forward."""
    assert not is_forward_subject(subject)


def test_reply_with_history_is_still_cut() -> None:
    """A reply ('Re:') above an Outlook original keeps only the new text, as before."""
    parsed = parse(_mail("RE: Invoice", "Still wrong.\r\n\r\n" + NACHRICHT))
    assert parsed.visible_text == "Still wrong."
    assert parsed.fresh_text == "Still wrong."


def test_forward_of_an_outlook_block_without_separator() -> None:
    """Fwd: above an Outlook From:/Sent: block (no separator line) keeps the block's body."""
    body = ("FYI, see below.\r\n\r\nFrom: Vendor <v@vendor.example>\r\nSent: Monday\r\nTo: alice@acme.com\r\n"
            "Subject: licence\r\n\r\nYour licence expires tomorrow.\r\n#close\r\n")
    visible, fresh = split("FW: licence", body.replace("\r\n", "\n"), [])
    assert visible.startswith("FYI, see below.") and "Your licence expires tomorrow." in visible
    assert fresh == "FYI, see below."


def test_corpus_gmail_forward_keeps_its_content() -> None:
    """mikel-mail raw_email8: 'Fwd:' with words above a Gmail separator shows both."""
    path = CORPUS / "mikel-mail/spec/fixtures/emails/plain_emails/raw_email8.eml"
    if not path.exists():
        pytest.skip("shared corpus not present")
    parsed = parse(path.read_bytes())
    assert parsed.visible_text.startswith("We should not include these files or vcards as attachments.")
    assert "Test attachments oddly encoded with japanese charset." in parsed.visible_text
    assert "japanese" not in parsed.fresh_text


STUB_HTML = ("<html><body><h1>Outage report</h1><p>" + "The database cluster stopped accepting writes at 10:02 UTC. " * 4
             + "</p></body></html>")


def _alternative(plain: str, html: str) -> bytes:
    return _mail("report", "--b\r\nContent-Type: text/plain\r\n\r\n" + plain + "\r\n--b\r\nContent-Type: text/html\r\n\r\n"
                 + html + "\r\n--b--\r\n", headers="MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n")


def test_view_in_browser_stub_reads_the_html() -> None:
    """'HTML newsletter could be read here: http://...' gives way to the HTML's text, recorded as a defect."""
    parsed = parse(_alternative("HTML newsletter could be read here: http://acme.example/n/1", STUB_HTML))
    assert "The database cluster stopped accepting writes" in parsed.visible_text
    assert any(d.startswith(USED_HTML_DEFECT) for d in parsed.defects)


def test_short_plain_part_beside_long_html_reads_the_html() -> None:
    """A plain part under 20 % of the HTML's text (and under 300 characters) is a stub."""
    parsed = parse(_alternative("See attached.", STUB_HTML))
    assert "Outage report" in parsed.visible_text
    assert any("characters beside" in d for d in parsed.defects)


def test_full_plain_part_is_kept() -> None:
    """A plain part that carries the text stays the text; the HTML is not even converted."""
    plain = "The database cluster stopped accepting writes at 10:02 UTC. Please help."
    parsed = parse(_alternative(plain, STUB_HTML.replace("Outage report", "Outage")))
    assert parsed.visible_text == plain
    assert not any(d.startswith(USED_HTML_DEFECT) for d in parsed.defects)


def test_stub_rules() -> None:
    """Long plain parts are never stubs, nor ones as long as the HTML; a failing conversion is no stub."""
    assert stub_reason("x" * 400, "<p>" + "y" * 5000 + "</p>", html_text) is None
    assert stub_reason("Thanks, Alice", "<p>Thanks, Alice</p>", html_text) is None

    def broken(_html: str) -> str:
        raise ValueError("soup")

    assert stub_reason("view in browser", "<p>x</p>", broken) is None


# -- machine notifications: the verdict ---------------------------------------------------------

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def _verdict(sender: str, headers: str, subject: str = "CRITICAL: db1 down") -> str:
    settings = load_settings(CONFIG_DIR / "inbox.example.yaml")  # acme lists alerts@monitoring and *@service-now
    msg = parse(f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <n@x>\r\n"
                f"{headers}\r\nbody\r\n".encode())
    verdict = detect_automation(msg, is_own_message_id=lambda _mid: False, own_addresses=settings.addresses)
    return as_notification(msg, verdict, settings).kind.value


def test_listed_machine_mail_is_a_notification_whatever_its_shape() -> None:
    """A listed machine's auto-generated, bulk or plain mail is a notification; its out-of-office is not."""
    assert _verdict("alerts@monitoring.acme.com", "Auto-Submitted: auto-generated\r\n") == "notification"
    assert _verdict("x@eu.service-now.acme.com", "Precedence: bulk\r\n") == "notification"
    assert _verdict("alerts@monitoring.acme.com", "") == "notification"
    assert _verdict("alerts@monitoring.acme.com", "Auto-Submitted: auto-replied\r\n") == "auto_reply"
    assert _verdict("alerts@monitoring.acme.com", "", subject="Out of office: back Monday") == "auto_reply"


def test_unlisted_and_stranger_machines_keep_their_verdict() -> None:
    """Auto-generated mail from a customer that accepts no notifications, or from a stranger, stays an auto-reply;
    a bounce stays a bounce; a person at the customer stays a person."""
    assert _verdict("cron@acme.com", "Auto-Submitted: auto-generated\r\n") == "auto_reply"
    assert _verdict("alerts@evil.test", "Auto-Submitted: auto-generated\r\n") == "auto_reply"
    assert _verdict("MAILER-DAEMON@eu.service-now.acme.com", "") == "bounce"  # matches *@service-now.acme.com
    assert _verdict("alice@acme.com", "") == "person"
