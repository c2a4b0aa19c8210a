"""A Desk built in code for the unit tests of the ticket rules: settings from a YAML text (no file,
no database, no clock), and plain TicketFacts to hand the rules.

Acme (contacts alice@, account manager TAM) and Globex (account manager OTHER_TAM) are on plan
standard: a chain of three for escalations, an on-call team for critical tickets, a billing team
for Globex's billing tickets, and a team of three taking turns for everything else. Initech is on
plan basic, which only its two designated contacts may use. Jane Doe is the engineer's name.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

import yaml

from inbox.settings import Settings
from inbox.sla.agenda import Dues
from inbox.tickets import Contracts, Desk, TicketFacts

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)  # Monday 2 March 2026, 09:00 PST
TAM, OTHER_TAM, ENGINEER = "tam@example.com", "tam2@example.com", "engineer@example.com"
CHAIN = ["lead@example.com", "manager@example.com", "cto@example.com"]
TEAM = ["a@example.com", "b@example.com", "c@example.com"]

CONFIG = f"""
service: {{name: Example Support, tracking_prefix: SUP}}
database: {{url: "sqlite:///never-opened.db"}}
outbound: {{transport: maildir, from_address: "Example Support <support@example.com>"}}
addresses: [support@example.com]
severities: [critical, high, medium, low]
calendars:
  pacific: {{timezone: America/Los_Angeles, hours: {{mon-fri: "08:00-17:00"}}}}
plans:
  standard:
    calendar: pacific
    targets:
      critical: {{response: 4 business hours, update: 24 hours}}
      low: {{response: 2 business days}}
    breach_escalation: {CHAIN}
    stated_severity: {{may_raise: true, up_to: high}}
    assignment:
      - {{when: {{severity: critical}}, team: [oncall@example.com]}}
      - {{when: {{customer: globex, category: billing}}, team: [billing@example.com]}}
      - {{team: {TEAM}}}
  basic:
    calendar: pacific
    targets: {{low: {{response: 2 business days}}}}
    designated_contacts: 2
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com],
     account_managers: [{TAM}]}}
  - {{id: globex, name: Globex, plan: standard, domains: [globex.test], account_managers: [{OTHER_TAM}]}}
  - {{id: initech, name: Initech, plan: basic, domains: [initech.test], contacts: [peter@initech.test, bill@initech.test]}}
unknown_senders: {{plan: basic}}
agents: [{ENGINEER}, oncall@example.com, billing@example.com, {", ".join(TEAM)}]
staff_names: {{{ENGINEER}: Jane Doe}}
rules:
  - {{name: outage, when: {{text: outage}}, severity: critical}}
"""


def settings(**changes: Any) -> Settings:
    """The kit's settings; `changes` replace top-level sections (as parsed YAML values)."""
    return Settings.model_validate({**yaml.safe_load(CONFIG), **changes})


def desk(config: Settings | None = None) -> Desk:
    config = config or settings()
    return Desk(settings=config, contracts=Contracts(config), secret="kit-secret")


def facts(**changes: Any) -> TicketFacts:
    """SUP-000001, Alice's low ticket at Acme opened at T0, unassigned; `changes` replace fields."""
    ticket = TicketFacts(id=1, tracking="SUP-000001", subject="Printer on fire", severity="low", status="open",
                         customer_id="acme", plan="standard", requester="alice@acme.com", assignee=None,
                         created_at=T0, dues=Dues(), last_public_activity=T0)
    return dataclasses.replace(ticket, **changes)
