"""`inbox.ingest.automation`: who wrote a mail, in rule order, with the reason recorded."""

from __future__ import annotations

import dataclasses

import pytest

from inbox.domain.message import Automation
from inbox.ingest.automation import AutomationVerdict, detect_automation
from inbox.ingest.parse import parse
from tests.unit.ingest_mails import EXCHANGE_OOF, EXIM_BOUNCE, OUR_ID, POSTFIX_DSN, VACATION, person

SUPPORT = "support@example.com"


def verdict(raw: bytes, *, own_ids: tuple[str, ...] = ()) -> AutomationVerdict:
    return detect_automation(parse(raw), is_own_message_id=lambda mid: mid in own_ids, own_addresses=[SUPPORT.upper()])


def test_person_mail_is_person() -> None:
    """An ordinary customer mail shows no sign of automation."""
    assert verdict(person()) == AutomationVerdict(Automation.PERSON, "no sign of automation")


def test_verdict_is_frozen() -> None:
    """The verdict is plain immutable data the pipeline can record."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict(person()).kind = Automation.BOUNCE  # type: ignore[misc]


def test_postfix_dsn_with_auto_submitted_is_a_bounce() -> None:
    """A DSN is a bounce even though it carries Auto-Submitted: auto-replied (and quotes our X-Inbox-Loop)."""
    result = verdict(POSTFIX_DSN, own_ids=(OUR_ID,))
    assert result == AutomationVerdict(Automation.BOUNCE, "multipart/report delivery-status")


def test_exim_plain_text_bounce() -> None:
    """Exim's bounce has no report parts; X-Failed-Recipients says it all."""
    assert verdict(EXIM_BOUNCE) == AutomationVerdict(Automation.BOUNCE, "X-Failed-Recipients")


def test_mailer_daemon_with_null_from_address() -> None:
    """DragonFly-style "From: MAILER-DAEMON <>" has no address but is a bounce."""
    raw = b"From: MAILER-DAEMON <>\nTo: support@example.com\nSubject: Mail delivery failed\n\nThere was an error.\n"
    assert verdict(raw) == AutomationVerdict(Automation.BOUNCE, "From MAILER-DAEMON")


def test_feedback_report_is_a_bounce() -> None:
    """RFC 5965 ARF abuse reports count with the bounces: a machine wrote them."""
    raw = (
        b"From: abuse@isp.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nabuse report\n--B\nContent-Type: message/feedback-report\n\n"
        b"Feedback-Type: abuse\n--B--\n"
    )
    assert verdict(raw) == AutomationVerdict(Automation.BOUNCE, "multipart/report feedback-report")


def test_read_receipt_is_an_auto_reply() -> None:
    """An RFC 8098 read receipt is a report, but a person's client sent it: auto-reply, not bounce."""
    raw = (
        b"From: bob@acme.com\nSubject: Read: hello\n"
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nread\n--B\nContent-Type: message/disposition-notification\n\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\n--B--\n"
    )
    assert verdict(raw).kind is Automation.AUTO_REPLY


def test_bounce_subjects_need_no_help_when_only_mtas_write_them() -> None:
    """Postfix's exact subject decides alone; a generic one needs a null sender or returned mail."""
    assert verdict(person(subject="Undelivered Mail Returned to Sender")).kind is Automation.BOUNCE
    assert verdict(person(subject="Delivery failure of order 1234")).kind is Automation.PERSON
    with_null_sender = person(subject="Delivery failure", headers={"Return-Path": "<>"})
    assert verdict(with_null_sender).kind is Automation.BOUNCE


def test_forwarded_bounce_is_a_person_asking_for_help() -> None:
    """A customer forwarding a bounce ("Fwd: ...") wants an answer."""
    body = "Why did this bounce?\n\n> Subject: Undelivered Mail Returned to Sender\n> Message-ID: <x@y.com>\n"
    assert verdict(person(subject="Fwd: Undelivered Mail Returned to Sender", body=body)).kind is Automation.PERSON


def test_postmaster_needs_a_second_sign() -> None:
    """postmaster@ is also a person's mailbox (RFC 5321 4.5.1); with <> it is a bounce."""
    assert verdict(person(sender="postmaster@acme.com", subject="Your mails land in spam")).kind is Automation.PERSON
    bounce = person(sender="postmaster@acme.com", subject="email bounce notification", headers={"Return-Path": "<>"})
    assert verdict(bounce).kind is Automation.BOUNCE


def test_our_own_mail_coming_back() -> None:
    """X-Inbox-Loop, our signed Message-ID, or our own From address: OWN, even with Auto-Submitted."""
    ours = person(sender=SUPPORT, headers={"X-Inbox-Loop": SUPPORT, "Auto-Submitted": "auto-replied"})
    assert verdict(ours) == AutomationVerdict(Automation.OWN, "X-Inbox-Loop present")
    assert verdict(person(), own_ids=("CAF1234@mail.acme.com",)) == AutomationVerdict(Automation.OWN, "Message-ID is ours")
    assert verdict(person(sender="Support <Support@Example.com>")).reason == f"From our address {SUPPORT}"


def test_exchange_out_of_office() -> None:
    """Exchange's automatic reply is an auto-reply (RFC 3834 Auto-Submitted first)."""
    assert verdict(EXCHANGE_OOF) == AutomationVerdict(Automation.AUTO_REPLY, "Auto-Submitted: auto-generated")


def test_rfc3834_vacation_reply_beats_precedence_bulk() -> None:
    """vacation(1) sets Auto-Submitted: auto-replied; that wins over its Precedence: bulk."""
    assert verdict(VACATION) == AutomationVerdict(Automation.AUTO_REPLY, "Auto-Submitted: auto-replied")


def test_auto_submitted_no_is_a_person() -> None:
    """RFC 3834 5: "no" means a person wrote it."""
    assert verdict(person(headers={"Auto-Submitted": "no"})).kind is Automation.PERSON


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Autoreply", "yes"), ("X-Autorespond", "x"), ("X-Auto-Response-Suppress", "OOF"), ("Precedence", "auto_reply")],
)
def test_vendor_auto_reply_headers(name: str, value: str) -> None:
    """The headers auto-responders set besides Auto-Submitted."""
    assert verdict(person(headers={name: value})).kind is Automation.AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Printer on fire",
        "Automatic reply: [SUP-000123] Printer",
        "Auto-Reply: hello",
        "AutoReply",
        "Abwesenheitsnotiz: Drucker",
        "Réponse automatique : imprimante",
        "Respuesta automática: impresora",
        "Risposta automatica: stampante",
        "Automatisch antwoord: printer",
        "I am away until Monday",
        "[Auto-Reply] hello",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    """Out-of-office subjects in the common languages, with no header to say so."""
    assert verdict(person(subject=subject)).kind is Automation.AUTO_REPLY


def test_subjects_that_only_mention_absence_are_people() -> None:
    """A person writing about out-of-office settings is not an auto-reply."""
    assert verdict(person(subject="Out of office scheduling is broken")).kind is Automation.PERSON
    assert verdict(person(subject="Re: Automatic replies stopped working")).kind is Automation.PERSON


def test_exchange_inbox_rule_forward_alone_is_a_person() -> None:
    """X-MS-Exchange-Inbox-Rules-Loop alone marks a rule-forwarded person's mail, not an auto-reply."""
    assert verdict(person(headers={"X-MS-Exchange-Inbox-Rules-Loop": "bob@acme.com"})).kind is Automation.PERSON


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("List-Id", "<users.lists.example.org>", "List-ID present"),
        ("List-Unsubscribe", "<mailto:leave@lists.example.org>", "List-Unsubscribe present"),
        ("Precedence", "bulk", "Precedence: bulk"),
        ("Precedence", "list", "Precedence: list"),
        ("Mailing-List", "contact users-help@example.org", "Mailing-List present"),
    ],
)
def test_list_mail(name: str, value: str, reason: str) -> None:
    """Mailing-list and bulk mail is LIST, with the header that said so."""
    assert verdict(person(headers={name: value})) == AutomationVerdict(Automation.LIST, reason)


def test_auto_reply_from_a_list_member_is_an_auto_reply() -> None:
    """Auto-reply rules run before the list rules."""
    raw = person(headers={"List-Id": "<users.lists.example.org>", "Auto-Submitted": "auto-replied"})
    assert verdict(raw).kind is Automation.AUTO_REPLY
