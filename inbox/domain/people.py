"""Who wrote a mail, as a ticket sees them, and what they may change by email. Pure.

An engineer (agent) may use every command line; an account manager of the ticket's customer
only the severity keywords; a customer none: a customer's `#escalate` is a request that tells the
escalation chain, never a change of severity. Rights hold only for a proven sender: whether the
From domain is proven (`Authentication`) is found at the edge (`inbox.ingest.authenticate`);
deciding what it allows is here. No I/O, no settings, no storage.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from inbox.domain.ticket import Status


class Role(enum.StrEnum):
    AGENT = "agent"
    ACCOUNT_MANAGER = "account manager"  # of the ticket's own customer
    CUSTOMER = "customer"  # anyone else the ticket admits: its requester, contacts, copied addresses


@dataclass(frozen=True)
class Authentication:
    """Whether a mail's From domain is proven, and how or why not (one line for people).

    A pass names its once-keys: the signature that verified, or the Message-ID a trusted host
    vouched for. A proof changes a ticket only when the ticket rules can spend every one of them
    for the first time, so a copy of a genuine mail (a replay) never acts twice.
    """

    passed: bool
    method: str | None  # "dkim" or "authentication-results"; None when nothing passed
    reason: str
    once: tuple[str, ...] = ()  # "dkim:<sha256>", "message-id:<sha256>"; empty when nothing passed


SEVERITY_VERBS = frozenset({"escalate", "deescalate", "severity"})
AGENT_VERBS = SEVERITY_VERBS | {"status", "workaround", "solve", "close", "assign", "internal", "category"}


# "#confirm": a designated contact or an account manager vouches for a ticket a colleague of the
# customer who is not a designated contact opened; checked by the ticket rules (`confirming`).
CONFIRM = "confirm"


def refusal(role: Role, verb: str) -> str | None:
    """Why `role` may not use command `verb` (None: it may, as far as its role goes)."""
    if verb == "unsubscribe":  # a customer's own: it takes its sender off the ticket's mail
        return None if role is Role.CUSTOMER else "#unsubscribe is for a customer to take themselves off the ticket's mail"
    if role is Role.AGENT and verb in AGENT_VERBS:
        return None
    if role is Role.AGENT and verb == CONFIRM:
        return "#confirm is for a designated contact or an account manager; an engineer releases the ticket with #assign"
    if role is Role.ACCOUNT_MANAGER and verb in (*SEVERITY_VERBS, CONFIRM):
        return None
    if role is Role.ACCOUNT_MANAGER:
        return (f"#{verb} is an engineer's command; an account manager may use #escalate, #severity, #deescalate "
                "and #confirm")
    if verb == CONFIRM:
        return None  # a customer's: whether they are a designated contact is the ticket rules' to check
    if verb in SEVERITY_VERBS:
        return "only an account manager of the ticket's customer may change its severity"
    return f"#{verb} is an engineer's command"


def severity_target(verb: str, argument: str, current: str, severities: Sequence[str]) -> tuple[str | None, str]:
    """The severity a keyword asks for, or None and why not. `severities` run highest first."""
    names = list(severities)
    now = names.index(current) if current in names else len(names) - 1
    wanted = argument.strip().lower()
    if wanted and verb in ("escalate", "severity"):
        if wanted not in names:
            return None, f'"{argument.strip()}" is not a severity (known: {", ".join(names)})'
        if verb == "escalate" and names.index(wanted) > now:
            return None, f"#escalate {wanted} would lower the severity from {current}; use #severity {wanted}"
        target = wanted
    elif verb == "severity":
        return None, f"#severity needs a severity (one of {', '.join(names)})"
    elif verb == "escalate":
        if now == 0:
            return None, f"already at the highest severity, {current}"
        target = names[now - 1]
    else:  # deescalate
        if now == len(names) - 1:
            return None, f"already at the lowest severity, {current}"
        target = names[now + 1]
    if target == current:
        return None, f"the severity is already {current}"
    return target, ""


def status_named(argument: str) -> Status | None:
    """The status `#status` names: "waiting-on-customer", "waiting on customer", "Solved" ..."""
    wanted = "-".join(argument.strip().lower().replace("_", " ").split())
    try:
        return Status(wanted)
    except ValueError:
        return None
