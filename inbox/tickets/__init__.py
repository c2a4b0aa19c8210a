"""The ticket rules: one typed surface that ingest, the outbound side and the CLI call.

Everything that changes a ticket or decides who is told about it lives in this package:
`contracts` (the config's promises as SLA policies), `due_times` (SLA due times as stored columns),
`changes` (status, severity, workaround, assignee, category, a staff note), `notices` (the
outbox rows a change causes), `opening` (a new ticket: classified, dispatched, acknowledged),
`replies` (a reply and its command lines, by who sent it), `entitlement` and `confirming` (a
non-designated contact's ticket, held until `#confirm` or a person's assignment), `closing` (a
customer closes their own ticket, where the plan allows), `staff_mail` (a staff mail that names no ticket), `escalation` (requests and refusals
that change no severity), `assignment` (dispatch by the plan's rules), `sweep` (what the
scheduler finds due) and `delivery` (what became of a mail, inbound and outbound: bounces,
auto-replies, mail kept without a ticket, emails sent or failed, digests included, and the
suppression list). A ticket's history (events, messages, suppressions) is written only here
(`inbox.store.history`, `inbox.store.suppression`). Import from `inbox.tickets`, never from its
modules. It never parses mail, never renders or sends, and never commits: every function takes
the caller's session, so a change and the emails it causes land together or not at all.
"""

from inbox.tickets.arrival import Arrival, expect
from inbox.tickets.changes import add_note, set_assignee, set_severity, set_status, set_workaround
from inbox.tickets.due_times import last_public_activity, view
from inbox.tickets.contracts import Contracts
from inbox.tickets.delivery import (
    keep_auto_reply,
    person_wrote,
    record_attachments_left_out,
    record_bounce,
    record_failure,
    record_sent,
    record_skipped,
    record_unticketed,
    suppressed,
)
from inbox.tickets.desk import CurrentDesk, Desk, TicketFacts
from inbox.tickets.notices import CUSTOMER, CUSTOMER_KINDS, STAFF, context, for_customer, target_context
from inbox.tickets.opening import NOT_DESIGNATED, open_ticket
from inbox.tickets.replies import refuse_outsider, role_of, take_reply
from inbox.tickets.staff_mail import NO_TICKET_NAMED, is_staff, refuse_unaddressed
from inbox.tickets.sweep import sweep

__all__ = [
    "CUSTOMER",
    "CUSTOMER_KINDS",
    "NOT_DESIGNATED",
    "NO_TICKET_NAMED",
    "STAFF",
    "Arrival",
    "Contracts",
    "CurrentDesk",
    "Desk",
    "TicketFacts",
    "add_note",
    "context",
    "expect",
    "for_customer",
    "is_staff",
    "keep_auto_reply",
    "last_public_activity",
    "open_ticket",
    "person_wrote",
    "record_attachments_left_out",
    "record_bounce",
    "record_failure",
    "record_sent",
    "record_skipped",
    "record_unticketed",
    "refuse_outsider",
    "refuse_unaddressed",
    "role_of",
    "set_assignee",
    "set_severity",
    "set_status",
    "set_workaround",
    "suppressed",
    "sweep",
    "take_reply",
    "target_context",
    "view",
]
