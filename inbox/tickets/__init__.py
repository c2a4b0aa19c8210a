"""The ticket rules: one typed surface that ingest, the outbound side and the CLI call.

Everything that changes a ticket or decides who is told about it lives in this package:
`contracts` (the config's promises as SLA policies), `clocks` (due times as stored columns),
`changes` (status, severity, workaround, assignee, category), `notices` (the outbox rows a
change causes), `opening` (a new ticket: classified, dispatched, acknowledged), `replies` (a
reply and its command lines, by who sent it), `escalation` (requests and refusals that change no
severity), `assignment` (dispatch by the plan's rules), `sweep` (what the scheduler finds due)
and `delivery` (what became of the emails sent about a ticket, digests included). Import from
`inbox.tickets`, never from its modules. It never parses mail, never renders or sends, and never
commits: every function takes the caller's session, so a change and the emails it causes land
together or not at all.
"""

from inbox.tickets.arrival import Arrival, keep
from inbox.tickets.changes import set_assignee, set_severity, set_status, set_workaround
from inbox.tickets.clocks import emailed_customer, last_public_activity, view
from inbox.tickets.contracts import Contracts
from inbox.tickets.delivery import record_digest_outcome, record_outcome
from inbox.tickets.desk import CurrentDesk, Desk, TicketFacts
from inbox.tickets.notices import CUSTOMER, CUSTOMER_KINDS, STAFF, context, for_customer, target_context
from inbox.tickets.opening import NOT_DESIGNATED, open_ticket
from inbox.tickets.replies import refuse_outsider, role_of, take_reply
from inbox.tickets.sweep import sweep

__all__ = [
    "CUSTOMER",
    "CUSTOMER_KINDS",
    "NOT_DESIGNATED",
    "STAFF",
    "Arrival",
    "Contracts",
    "CurrentDesk",
    "Desk",
    "TicketFacts",
    "context",
    "emailed_customer",
    "for_customer",
    "keep",
    "last_public_activity",
    "open_ticket",
    "record_digest_outcome",
    "record_outcome",
    "refuse_outsider",
    "role_of",
    "set_assignee",
    "set_severity",
    "set_status",
    "set_workaround",
    "sweep",
    "take_reply",
    "target_context",
    "view",
]
