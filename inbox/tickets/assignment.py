"""Dispatch: which engineer a new ticket goes to, by its plan's `assignment` rules.

The first rule whose `when` matches (severity, category, customer; a rule without `when`
matches every ticket) picks a team, and the team takes turns: a counter per plan and rule,
incremented under its row lock, so two instances never hand out the same turn. Takes the
caller's session; never commits.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from inbox.settings import AssignmentRule
from inbox.store import history
from inbox.tickets.desk import Desk, TicketFacts


def matching_rule(desk: Desk, plan: str | None, severity: str, category: str | None,
                  customer_id: str | None) -> tuple[int, AssignmentRule] | None:
    """The first assignment rule of `plan` that matches, with its position."""
    config = desk.settings.plans.get(plan) if plan else None
    for index, rule in enumerate(config.assignment if config else ()):
        when = rule.when
        if when is None or (when.severity in (None, severity) and when.customer in (None, customer_id)
                            and when.category in (None, category)):
            return index, rule
    return None


def engineers(desk: Desk, ticket: TicketFacts) -> list[str]:
    """Who works the ticket: its assignee, else the team its plan's rules pick, else all agents."""
    if ticket.assignee:
        return [ticket.assignee]
    found = matching_rule(desk, ticket.plan, ticket.severity, ticket.category, ticket.customer_id)
    return list(found[1].team) if found else list(desk.settings.agents)


def next_assignee(session: Session, desk: Desk, plan: str | None, severity: str, category: str | None,
                  customer_id: str | None) -> tuple[str, list[str]] | None:
    """The engineer whose turn it is in the matching team, and the team; None when no rule matches."""
    found = matching_rule(desk, plan, severity, category, customer_id)
    if found is None:
        return None
    index, rule = found
    team = list(rule.team)
    if len(team) == 1:
        return team[0], team
    # Counter names are short and fixed in length whatever the plan is called.
    digest = hashlib.sha1(f"{plan}".encode()).hexdigest()[:16]
    turn = history.next_in_rotation(session, f"assign:{digest}:{index}")
    return team[(turn - 1) % len(team)], team
