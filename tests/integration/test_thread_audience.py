"""Everyone on the thread: who of the customer's people gets an engineer's reply and the status
updates, who never does (strangers, our staff, a forged customer address), and `#unsubscribe`.

Each test feeds mail through the real pipeline on SQLite and PostgreSQL, on the injected clock,
with the `desk` of tests/staff_kit.py: Acme (acme.com, contact alice@acme.com, account manager
TAM) with SUP-000001 opened by Alice at T0, and engineers whose DKIM key the test's DNS publishes.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP

from inbox.domain.ticket import Outcome
from tests.dkim_kit import Key, sign
from tests.fakes import mail
from tests.sla_kit import T0, Desk
from tests.staff_kit import ENGINEER, TAM

ALICE, BOB, CAROL = "alice@acme.com", "bob@acme.com", "carol@eu.acme.com"
STRANGER, VENDOR, MALLORY = "stranger@evil.test", "vendor@vendor.test", "mallory@acme.com"


def customer_reply(sender: str, *, n: int, cc: str = "", body: str = "More details below.\n",
                   tracking: str = "SUP-000001") -> bytes:
    """A reply on a ticket's thread from `sender`, copying `cc`."""
    domain = sender.rpartition("@")[2]
    return mail(sender=sender, message_id=f"<c{n}@{domain}>", in_reply_to="<m1@acme.com>",
                subject=f"Re: [{tracking}] Printer on fire", body=body, headers={"Cc": cc} if cc else None)


def engineer_reply(key: Key, *, n: int, body: str = "We found the cause.\n", tracking: str = "SUP-000001",
                   in_reply_to: str = "<m1@acme.com>") -> bytes:
    """An engineer's DKIM-signed reply on a ticket's thread."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Jane <{ENGINEER}>", "support@example.com", f"Re: [{tracking}] Printer"
    msg["Date"], msg["Message-ID"] = "Mon, 02 Mar 2026 10:00:00 -0800", f"<e{n}@example.com>"
    msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return sign(msg.as_bytes(policy=SMTP), key)


def emails_on(desk: Desk, address: str, tracking: str) -> list[tuple[str, EmailMessage]]:
    """(kind, message) of every email about `tracking` sent to `address`, oldest first."""
    by_id = {m["Message-ID"].strip("<>"): m for m in desk.sent()}
    return [(e.detail["kind"], by_id[e.detail["message_id"]]) for e in desk.events(tracking, kind="notified")
            if e.detail["to"] == address]


def kinds_to(desk: Desk, address: str, tracking: str = "SUP-000001") -> list[str]:
    return [kind for kind, _ in emails_on(desk, address, tracking)]


def test_a_relayed_reply_reaches_the_requester_and_each_of_the_customers_people_copied(desk: Desk, key: Key) -> None:
    """Alice's new mail copies Bob, Carol (a subdomain), a stranger, her TAM and an engineer: the reply
    reaches Alice, Bob and Carol, each in an email of their own, and nobody else."""
    cc = f"{BOB}, Carol <{CAROL}>, {STRANGER}, {TAM}, {ENGINEER}"
    assert desk.feed(mail(message_id="<n1@acme.com>", subject="Scanner jammed", headers={"Cc": cc}),
                     at=T0 + timedelta(minutes=1)) == Outcome.OPENED
    at = T0 + timedelta(hours=1)
    desk.feed(engineer_reply(key, n=1, tracking="SUP-000002", in_reply_to="<n1@acme.com>"), at=at)
    desk.run(at)
    [relayed] = desk.events("SUP-000002", kind="relayed")
    assert relayed.detail["to"] == [ALICE, BOB, CAROL]
    for address in (ALICE, BOB, CAROL):
        [message] = [m for k, m in emails_on(desk, address, "SUP-000002") if k == "agent_reply"]
        assert message["To"] == address and message["Cc"] is None  # one email each: nobody's address shown to another
    copies = [m for address in (ALICE, BOB, CAROL) for k, m in emails_on(desk, address, "SUP-000002")
              if k == "agent_reply"]
    assert len({m["Message-ID"] for m in copies}) == 3
    for outsider in (STRANGER, TAM, ENGINEER):
        assert "agent_reply" not in kinds_to(desk, outsider, "SUP-000002"), outsider
    assert kinds_to(desk, BOB, "SUP-000002") == ["agent_reply"]  # the acknowledgement answered Alice's mail only


def test_a_customers_reply_all_puts_a_colleague_on_the_list_for_replies_and_status_updates(desk: Desk, key: Key) -> None:
    """Alice copies Bob on a reply: the next engineer's reply and the next status update reach him too."""
    desk.feed(customer_reply(ALICE, n=1, cc=BOB), at=T0 + timedelta(minutes=30))
    desk.feed(engineer_reply(key, n=1), at=T0 + timedelta(hours=1))
    desk.run(T0 + timedelta(hours=1))
    assert kinds_to(desk, BOB) == ["agent_reply"]
    desk.run_until(T0 + timedelta(days=3, hours=2))  # low: an update every 2 days after the reply
    assert kinds_to(desk, BOB) == ["agent_reply", "status_update"]
    assert kinds_to(desk, ALICE).count("status_update") == 1


def test_a_stranger_on_the_thread_cannot_put_anyone_on_the_list(desk: Desk, key: Key) -> None:
    """A vendor Alice copied may reply, but the customer-domain address it copies gets nothing, nor does it."""
    desk.feed(customer_reply(ALICE, n=1, cc=VENDOR), at=T0 + timedelta(minutes=10))
    assert desk.feed(customer_reply(VENDOR, n=2, cc=MALLORY), at=T0 + timedelta(minutes=20)) == Outcome.APPENDED
    desk.feed(engineer_reply(key, n=1), at=T0 + timedelta(hours=1))
    desk.run(T0 + timedelta(hours=1))
    assert desk.events(kind="relayed")[0].detail["to"] == [ALICE]
    assert kinds_to(desk, MALLORY) == [] and kinds_to(desk, VENDOR) == []


def test_a_forged_customer_address_copied_by_a_stranger_opens_nothing_for_it(desk: Desk, key: Key) -> None:
    """A stranger's new mail copying acme.com addresses: a ticket without a customer, answered to the stranger only."""
    assert desk.feed(mail(sender=STRANGER, message_id="<s1@evil.test>", subject="Hello",
                          headers={"Cc": f"{MALLORY}, {BOB}"}), at=T0 + timedelta(minutes=5)) == Outcome.OPENED
    assert desk.ticket("SUP-000002").customer_id is None
    desk.feed(engineer_reply(key, n=1, tracking="SUP-000002", in_reply_to="<s1@evil.test>"), at=T0 + timedelta(hours=1))
    desk.run(T0 + timedelta(hours=1))
    assert desk.events("SUP-000002", kind="relayed")[0].detail["to"] == [STRANGER]
    assert kinds_to(desk, MALLORY, "SUP-000002") == [] and kinds_to(desk, BOB, "SUP-000002") == []


def test_staff_copied_by_the_customer_on_a_reply_get_no_customer_facing_copy(desk: Desk, key: Key) -> None:
    """Alice copies her TAM and an engineer: neither is on the customer list, so neither gets the status update."""
    desk.feed(customer_reply(ALICE, n=1, cc=f"{TAM}, {ENGINEER}, support@example.com"), at=T0 + timedelta(minutes=5))
    desk.run_until(T0 + timedelta(days=2, hours=1))
    assert kinds_to(desk, ALICE).count("status_update") == 1
    for staff in (TAM, ENGINEER, "support@example.com"):
        assert "status_update" not in kinds_to(desk, staff), staff


def test_unsubscribe_takes_a_copied_person_off_and_a_reply_all_does_not_put_them_back(desk: Desk, key: Key) -> None:
    """Bob's `#unsubscribe` is recorded and answered with nothing; Alice's reply-all keeps him off; his own
    next mail puts him back."""
    desk.feed(customer_reply(ALICE, n=1, cc=BOB), at=T0 + timedelta(minutes=5))
    desk.feed(customer_reply(BOB, n=2, cc=ALICE, body="#unsubscribe\n"), at=T0 + timedelta(minutes=10))
    desk.run(T0 + timedelta(minutes=10))
    [left] = desk.events(kind="unsubscribed")
    assert (left.actor, left.detail["stops"]) == (BOB, "every email about the ticket")
    assert desk.events(kind="command_refused") == [] and kinds_to(desk, BOB) == []
    desk.feed(customer_reply(ALICE, n=3, cc=BOB), at=T0 + timedelta(minutes=20))
    desk.feed(engineer_reply(key, n=1), at=T0 + timedelta(hours=1))
    desk.run(T0 + timedelta(hours=1))
    assert kinds_to(desk, BOB) == [] and desk.events(kind="relayed")[0].detail["to"] == [ALICE]
    desk.feed(customer_reply(BOB, n=4, body="Actually, keep me posted.\n"), at=T0 + timedelta(hours=2))
    desk.feed(engineer_reply(key, n=2), at=T0 + timedelta(hours=3))
    desk.run(T0 + timedelta(hours=3))
    assert [e.actor for e in desk.events(kind="resubscribed")] == [BOB]
    assert kinds_to(desk, BOB) == ["agent_reply"]


def test_a_requester_who_unsubscribes_still_gets_replies_but_no_status_updates(desk: Desk, key: Key) -> None:
    """Alice's `#unsubscribe` stops automatic email (status updates) but an engineer's reply still reaches her."""
    desk.feed(customer_reply(ALICE, n=1, body="#unsubscribe\n"), at=T0 + timedelta(minutes=5))
    [left] = desk.events(kind="unsubscribed")
    assert left.detail["stops"] == "automatic email"
    desk.feed(engineer_reply(key, n=1), at=T0 + timedelta(hours=1))
    desk.run_until(T0 + timedelta(days=5))
    kinds = kinds_to(desk, ALICE)
    assert "agent_reply" in kinds and "status_update" not in kinds
    assert desk.events(kind="status_changed") == []  # a mail that only unsubscribes is not a reply that reopens


def test_the_requester_of_a_ticket_without_a_customer_can_unsubscribe_too(desk: Desk, key: Key) -> None:
    """A stranger's ticket: their `#unsubscribe` stops its status updates; the engineer's reply still reaches them."""
    desk.feed(mail(sender=STRANGER, message_id="<s1@evil.test>", subject="Hello"), at=T0 + timedelta(minutes=5))
    desk.feed(customer_reply(STRANGER, n=1, body="#unsubscribe\n", tracking="SUP-000002"), at=T0 + timedelta(minutes=6))
    assert [e.actor for e in desk.events("SUP-000002", kind="unsubscribed")] == [STRANGER]
    desk.feed(engineer_reply(key, n=1, tracking="SUP-000002", in_reply_to="<s1@evil.test>"), at=T0 + timedelta(hours=1))
    desk.run_until(T0 + timedelta(days=5), tracking="SUP-000002")
    kinds = kinds_to(desk, STRANGER, "SUP-000002")
    assert "agent_reply" in kinds and "status_update" not in kinds


def test_an_unsubscribe_only_mail_does_not_reopen_a_solved_ticket(desk: Desk, key: Key) -> None:
    """A solved ticket stays solved when the requester only writes `#unsubscribe`."""
    desk.feed(engineer_reply(key, n=1, body="#solve\nFixed by the new firmware.\n"), at=T0 + timedelta(hours=1))
    assert desk.ticket().status == "solved"
    desk.feed(customer_reply(ALICE, n=1, body="#unsubscribe\n"), at=T0 + timedelta(hours=2))
    assert desk.ticket().status == "solved" and len(desk.events(kind="unsubscribed")) == 1


def test_an_engineers_unsubscribe_line_is_refused_and_changes_nobody(desk: Desk, key: Key) -> None:
    """`#unsubscribe` is a customer's own: from an engineer it is refused with the reason, Alice stays on."""
    desk.feed(engineer_reply(key, n=1, body="#unsubscribe\nLooking into it.\n"), at=T0 + timedelta(hours=1))
    [refused] = desk.events(kind="command_refused")
    assert refused.detail["lines"][0]["reason"].startswith("#unsubscribe is for a customer")
    assert desk.events(kind="unsubscribed") == []
