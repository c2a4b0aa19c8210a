"""Everyone on the thread (issue 21), as a timeline on config/examples/viakoo.yaml, to the minute.

The Viakoo policy promises updates "Every 24 hour" on a Serious error to the customer; the
customer here is the hospital's IT desk, who copies its security officer (a listed contact of
the customer) and an outside integrator. The same instants as
test_seed_viakoo.test_viakoo_serious_updates_every_24_hours..., worked out there from the seed.
"""

from __future__ import annotations

from sqlalchemy import func, select

from inbox.store.tables import Ticket
from tests.fakes import mail
from tests.sla_kit import text_of
from tests.seed_kit import Outcome, breaches, log, mails, utc

IT = "facilities-it@pinecrest-hospital.example"
SECURITY = "security@pinecrest-hospital.example"  # a listed contact of the customer
INTEGRATOR = "tech@integrator.example"  # copied by the customer, but nobody of the customer
SENIOR = "senior-support@viakoo.com"
TR = "VKO-000001"


def test_viakoo_updates_reach_the_customers_people_on_the_thread_until_they_unsubscribe(seed) -> None:
    """The requester and the customer's copied security officer get the severity notice, the relayed
    reply and each 24-hour update, each in an email of their own; the integrator the customer copied
    gets none; the officer's #unsubscribe (Tue 3 Nov 14:00 PST) takes only them off the next update
    (Wed 4 Nov 13:00 PST), and does not restart the cadence (no email went to the customer)."""
    desk = seed("viakoo")
    # Mon 2 Nov 07:00 PST, with Cc: the officer and the integrator.
    first = mail(sender=IT, to=desk.support, subject="Camera fleet offline", message_id="<m1@pinecrest-hospital.example>",
                 headers={"Cc": f"{SECURITY}, {INTEGRATOR}"}, date=utc(2026, 11, 2, 15), vouched=True)
    assert desk.feed(first, at=utc(2026, 11, 2, 15)) == Outcome.OPENED
    desk.first_domain = "pinecrest-hospital.example"
    desk.run(utc(2026, 11, 2, 15))
    desk.change(utc(2026, 11, 2, 17), TR, SENIOR, severity="serious")  # Mon 09:00 PST: next update Tue 09:00
    desk.write(utc(2026, 11, 2, 21), SENIOR, f"Re: [{TR}] Camera fleet offline", 2, reply_to=1)  # Mon 13:00: Tue 13:00
    assert desk.ticket(TR).next_update_due == utc(2026, 11, 3, 21)
    desk.run_until(utc(2026, 11, 3, 21), TR)  # the Tue 13:00 PST update
    # Tue 14:00 PST: the officer takes themselves off.
    desk.write(utc(2026, 11, 3, 22), SECURITY, f"Re: [{TR}] Camera fleet offline", 3, reply_to=1, body="#unsubscribe\n")
    assert desk.ticket(TR).next_update_due == utc(2026, 11, 4, 21)  # still Wed 13:00 PST: only mail to them restarts it
    desk.run_until(utc(2026, 11, 4, 21), TR)

    customer_mail = [(at, to, kind) for at, to, kind in log(desk, TR) if to in (IT, SECURITY, INTEGRATOR)]
    assert customer_mail == [
        (utc(2026, 11, 2, 15), IT, "acknowledgement"),  # the acknowledgement answers the sender alone
        (utc(2026, 11, 2, 17), IT, "severity_changed"),
        (utc(2026, 11, 2, 17), SECURITY, "severity_changed"),
        (utc(2026, 11, 2, 21), IT, "agent_reply"),
        (utc(2026, 11, 2, 21), SECURITY, "agent_reply"),
        (utc(2026, 11, 3, 21), IT, "status_update"),  # Tue 3 Nov 13:00 PST
        (utc(2026, 11, 3, 21), SECURITY, "status_update"),
        (utc(2026, 11, 4, 21), IT, "status_update"),  # Wed 4 Nov 13:00 PST: the officer is off
    ]
    assert not mails(desk, TR, to=INTEGRATOR)
    assert [e.actor for e in desk.events(TR, kind="unsubscribed")] == [SECURITY]


def test_viakoo_engineers_new_mail_naming_the_ticket_gives_the_workaround_in_time(seed) -> None:
    """An engineer's brand-new mail (no In-Reply-To) with [VKO-000001] in its subject and `#workaround`
    at the top acts as a reply: Tue 3 Nov 10:00 PST is inside the 48 hours to Wed 4 Nov 08:00 PST
    ("Within forty-eight (48) hours", from the 08:00 opening of Mon 2 Nov), so the temporary
    resolution is not missed and its words reach the customer. The same engineer's new mail that names
    no ticket opens nothing and is answered with how to name one."""
    desk = seed("viakoo")
    assert desk.write(utc(2026, 11, 2, 15), IT, "Camera fleet offline", 1) == Outcome.OPENED  # Mon 07:00 PST
    desk.change(utc(2026, 11, 2, 17), TR, SENIOR, severity="serious")  # Mon 09:00 PST
    assert desk.ticket(TR).workaround_due == utc(2026, 11, 4, 16)  # Wed 4 Nov 08:00 PST
    desk.run_until(utc(2026, 11, 2, 20), TR)  # Mon 12:00 PST: the 4-hour response is missed
    fix = "#workaround\nRestart the recorder service on each site; a firmware fix follows.\n"
    assert desk.write(utc(2026, 11, 3, 18), SENIOR, f"[{TR}] Camera fleet: temporary fix", 2, body=fix) != Outcome.OPENED
    assert desk.ticket(TR).workaround_at == utc(2026, 11, 3, 18)  # Tue 10:00 PST
    [relayed] = mails(desk, TR, to=IT, kind="agent_reply")
    assert relayed.at == utc(2026, 11, 3, 18) and "Restart the recorder service" in relayed.text
    assert "#workaround" not in relayed.text

    assert desk.write(utc(2026, 11, 3, 19), SENIOR, "Camera fleet: one more thing", 3) == Outcome.REFUSED
    with desk.app.sessions() as session:  # nothing opened in the engineer's name
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    told = [m for m in desk.sent() if m["To"] == SENIOR and "one more thing" in text_of(m)]
    assert len(told) == 1 and TR not in str(told[0]["Subject"])  # how to name a ticket, about no ticket
    desk.run_until(utc(2026, 11, 4, 17), TR)  # past Wed 08:00 PST
    assert [b[1] for b in breaches(desk, TR)] == ["response"]  # Mon 12:00 PST was missed; the workaround was not
