"""Account managers' keywords and engineers' replies, proven by real DKIM signatures, end to end.

Mails are signed with an RSA key made at test time; the service's DNS lookup is the test's own,
publishing that key for example.com only. Each test feeds mail through the real pipeline on
SQLite and PostgreSQL and checks what changed, what was recorded and who was emailed. The `desk`
(SUP-000001 open at low) and the `key` are tests/staff_kit.py's fixtures.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from tests.dkim_kit import Key, sign
from tests.fakes import mail
from tests.sla_kit import T0, Desk, text_of
from tests.staff_kit import ENGINEER, OTHER_TAM, QUOTE, TAM, emails_to, reply


def test_account_manager_keyword_with_a_valid_dkim_signature_raises_the_severity(desk: Desk, key: Key) -> None:
    """`#severity critical` from the customer's TAM, DKIM-signed: critical, due times from creation, both told."""
    at = T0 + timedelta(hours=1)
    raw = sign(reply(TAM, "#severity critical\n\nThe customer called: production is down." + QUOTE), key)
    assert desk.feed(raw, at=at) == Outcome.APPENDED
    desk.run(at)
    ticket = desk.ticket()
    # Recomputed from the ticket's start under the new target: 4 business hours from 09:00 PST is 13:00 PST.
    assert (ticket.severity, ticket.first_response_due) == ("critical", T0 + timedelta(hours=4))
    [change] = desk.events(kind="severity_changed")
    assert (change.actor, change.detail["from"], change.detail["to"], change.detail["why"]) == (
        TAM, "low", "critical", "#severity critical")
    assert [k for k, _ in emails_to(desk, "alice@acme.com")][-1] == "severity_changed"
    assert [k for k, _ in emails_to(desk, TAM)] == ["severity_changed"]
    assert "assigned" in [k for k, _ in emails_to(desk, "oncall@example.com")]  # critical goes to on-call
    with desk.app.sessions() as session:
        messages = store.messages_of(session, ticket.id)
    assert [m.internal for m in messages if m.from_addr == TAM] == [True]  # never quoted to the customer
    assert desk.events(kind="escalation_refused") == []


def test_escalate_and_deescalate_move_one_level(desk: Desk, key: Key) -> None:
    """`#escalate` goes one level up, `#escalate critical` straight there, `#deescalate` one level down."""
    steps = [("#escalate", "medium"), ("#escalate critical", "critical"), ("#deescalate", "high")]
    for n, (line, expected) in enumerate(steps, start=2):
        desk.feed(sign(reply(TAM, f"{line}\n\nPer the call.", n=n), key), at=T0 + timedelta(minutes=n))
        assert desk.ticket().severity == expected, line
    assert [e.detail["to"] for e in desk.events(kind="severity_changed")] == ["medium", "critical", "high"]


def test_a_keyword_the_severity_cannot_follow_is_refused_and_the_manager_told(desk: Desk, key: Key) -> None:
    """`#severity urgent` names no severity: nothing changes, the refusal says why, the TAM is emailed."""
    desk.feed(sign(reply(TAM, "#severity urgent"), key), at=T0 + timedelta(minutes=5))
    desk.run(T0 + timedelta(minutes=5))
    assert desk.ticket().severity == "low"
    [refused] = desk.events(kind="escalation_refused")
    assert refused.detail["lines"] == [{"line": "#severity urgent",
                                        "reason": '"urgent" is not a severity (known: critical, high, medium, low)'}]
    [(kind, message)] = emails_to(desk, TAM)
    assert kind == "escalation_refused" and "#severity urgent" in text_of(message)


def test_the_account_manager_of_another_customer_cannot_change_it(desk: Desk, key: Key) -> None:
    """Globex's TAM, even DKIM-signed, is no participant: a new linked ticket, Acme's unchanged, Acme's TAM told."""
    raw = sign(reply(OTHER_TAM, "#severity critical\n\nPlease treat this as urgent."), key)
    assert desk.feed(raw, at=T0 + timedelta(minutes=10)) == Outcome.OPENED
    desk.run(T0 + timedelta(minutes=10))
    assert desk.ticket().severity == "low" and desk.ticket("SUP-000002").severity == "low"
    [refused] = desk.events(kind="escalation_refused")
    assert refused.actor == OTHER_TAM and "not an account manager of Acme Corp" in refused.detail["lines"][0]["reason"]
    assert [k for k, _ in emails_to(desk, TAM)] == ["escalation_refused"]
    assert "escalation_refused" not in [k for k, _ in emails_to(desk, OTHER_TAM)]  # never the sender
    with desk.app.sessions() as session:
        assert store.linked_trackings(session, desk.ticket("SUP-000002").id) == ["SUP-000001"]


def test_a_customer_cannot_change_the_severity(desk: Desk, key: Key) -> None:
    """Alice's own `#severity critical` changes nothing; it is recorded and her TAM, not Alice, is told why."""
    desk.feed(mail(message_id="<m2@acme.com>", in_reply_to="<m1@acme.com>", subject="Re: [SUP-000001] Printer on fire",
                   body="#severity critical\nIt is getting worse.\n"), at=T0 + timedelta(minutes=15))
    desk.run(T0 + timedelta(minutes=15))
    assert desk.ticket().severity == "low"
    [refused] = desk.events(kind="escalation_refused")
    assert refused.detail["lines"][0]["reason"] == "only an account manager of the ticket's customer may change its severity"
    assert [k for k, _ in emails_to(desk, TAM)] == ["escalation_refused"]
    assert "escalation_refused" not in [k for k, _ in emails_to(desk, "alice@acme.com")]


@pytest.mark.parametrize("forgery", ["unsigned", "signed by another domain", "body changed after signing"])
def test_a_forged_or_broken_signature_changes_nothing(desk: Desk, key: Key, forgery: str) -> None:
    """A From of the TAM that DKIM does not prove is refused as "not authenticated"; the real TAM hears of it."""
    raw = reply(TAM, "#severity critical\n\nEscalating.")
    if forgery == "signed by another domain":
        raw = sign(raw, key, domain="evil.test")  # the key is not published for evil.test, nor is it example.com
    elif forgery == "body changed after signing":
        raw = sign(raw, key).replace(b"Escalating.", b"Escalating!")
    desk.feed(raw, at=T0 + timedelta(minutes=20))
    desk.run(T0 + timedelta(minutes=20))
    assert desk.ticket().severity == "low" and desk.events(kind="severity_changed") == []
    [refused] = desk.events(kind="escalation_refused")
    assert refused.detail["lines"][0]["reason"].startswith("not authenticated")
    assert [k for k, _ in emails_to(desk, TAM)] == ["escalation_refused"]


def test_a_keyword_quoted_below_the_new_reply_never_counts(desk: Desk, key: Key) -> None:
    """`#severity critical` in the quoted history of a signed reply is not a command: no change, no refusal."""
    body = "Thanks, looking into it." + "\n\nOn Mon, 2 Mar 2026 at 09:30, Bob <bob@acme.com> wrote:\n> #severity critical\n"
    assert desk.feed(sign(reply(TAM, body), key), at=T0 + timedelta(minutes=25)) == Outcome.APPENDED
    assert desk.ticket().severity == "low"
    assert desk.events(kind="severity_changed") == [] and desk.events(kind="escalation_refused") == []


def test_an_engineers_signed_reply_is_relayed_from_the_support_address_with_its_file(desk: Desk, key: Key) -> None:
    """The reply reaches Alice from support@, without the command line or the engineer's address, with the file."""
    at = T0 + timedelta(hours=2)
    body = "#status pending\nWe found the cause and are testing a fix.\n\nJane" + QUOTE
    raw = sign(reply(f"Jane Doe <{ENGINEER}>", body, attachment=("../../fix notes.txt", b"step 1\nstep 2\n")), key)
    assert desk.feed(raw, at=at) == Outcome.APPENDED
    desk.run(at)
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_at) == ("pending", at)
    relayed = [m for k, m in emails_to(desk, "alice@acme.com") if k == "agent_reply"]
    assert len(relayed) == 1
    message = relayed[0]
    assert message["From"] == "Example Support <support@example.com>" and message["Auto-Submitted"] is None
    assert ENGINEER not in message.as_string() and "#status" not in text_of(message)
    assert text_of(message).startswith("We found the cause and are testing a fix.")
    assert message["In-Reply-To"] == "<m1@acme.com>"  # threaded under Alice's mail, not the engineer's
    [file] = list(message.iter_attachments())
    assert (file.get_filename(), file.get_content()) == ("fix notes.txt", b"step 1\nstep 2\n")
    assert [e.detail["to"] for e in desk.events(kind="relayed")] == [["alice@acme.com"]]


def test_an_engineers_reply_signed_by_another_domain_is_kept_as_a_flagged_note(desk: Desk, key: Key) -> None:
    """A reply claiming to be the engineer, signed for evil.test, reaches no customer and steers nothing."""
    raw = sign(reply(ENGINEER, "#solve\nAll fixed, closing.", n=3), key, domain="evil.test")
    desk.feed(raw, at=T0 + timedelta(hours=3))
    desk.run(T0 + timedelta(hours=3))
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_at) == ("open", None)
    assert [k for k, _ in emails_to(desk, "alice@acme.com")] == ["acknowledgement"]
    with desk.app.sessions() as session:
        [note] = [m for m in store.messages_of(session, ticket.id) if m.from_addr == ENGINEER]
    assert note.internal and note.flag.startswith("not relayed: not authenticated")
    [(kind, message)] = emails_to(desk, ENGINEER)
    assert kind == "command_refused" and "NOT" in text_of(message)
