"""Step 3b of ingest: a customer's machine writing (monitoring, ServiceNow) is a notification.

RFC 3834 forbids answering automatic mail, not reading it. `detect_automation` takes a monitoring
alert with `Auto-Submitted: auto-generated` for an auto-reply, which opens nothing; the config can
say that such mail from a customer's own systems is a request:

- `customers[].machine_senders`: addresses ("alerts@monitoring.acme.com") or "*@domain" patterns
  at the customer's domains. Every mail from them is a notification, whatever its shape (an
  auto-generated alert, list-like bulk headers, or none at all): they are machines, so nothing is
  ever sent to them. Only an out-of-office or read receipt (an answer to something, RFC 3834
  `auto-replied`) and bounces keep their kind.
- `accept_notifications: true` (on the customer, or on its plan): mail from any address at the
  customer's domains whose `Auto-Submitted` names a machine's own mail (auto-generated,
  auto-notified: anything but "no" and auto-replied) and which is no auto-answer is a notification.

A stranger's auto-generated mail (no customer, or a customer that accepts none) keeps its verdict
and opens nothing. A notification opens or joins a ticket as the usual threading says; the ticket
rules never answer it and never mail its sender (`inbox.tickets.opening`, `audience`, `notices`).

Decides from the parsed mail and the settings only: no I/O, and the message is never changed.
"""

from __future__ import annotations

from inbox.domain.message import Automation, ParsedMessage
from inbox.ingest.automation import AutomationVerdict, auto_submitted, is_auto_answer
from inbox.settings import CustomerSettings, Settings

__all__ = ["accepts_notifications", "as_notification"]

# What a listed machine's mail may be taken for and still be its notification.
_MACHINE_KINDS = frozenset({Automation.PERSON, Automation.AUTO_REPLY, Automation.LIST})


def accepts_notifications(settings: Settings, customer: CustomerSettings) -> bool:
    """The customer's own accept_notifications, else its plan's."""
    if customer.accept_notifications is not None:
        return customer.accept_notifications
    plan = settings.plans.get(customer.plan)
    return bool(plan and plan.accept_notifications)


def as_notification(msg: ParsedMessage, verdict: AutomationVerdict, settings: Settings) -> AutomationVerdict:
    """`verdict`, or a NOTIFICATION verdict when the config lets this machine mail open tickets."""
    if verdict.kind not in _MACHINE_KINDS or not msg.from_addr or is_auto_answer(msg):
        return verdict
    customer = settings.customer_for(msg.from_addr)
    if customer is None:
        return verdict
    if customer.is_machine_sender(msg.from_addr):
        return AutomationVerdict(Automation.NOTIFICATION, f"machine sender of {customer.id} ({verdict.reason})")
    keyword = auto_submitted(msg)
    if verdict.kind is Automation.AUTO_REPLY and keyword and accepts_notifications(settings, customer):
        return AutomationVerdict(Automation.NOTIFICATION, f"Auto-Submitted: {keyword} at {customer.id}'s domain, "
                                                          "which accepts notifications")
    return verdict
