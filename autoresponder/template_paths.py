"""Which template paths exist: `KIND/FILE`, `plans/P/KIND/FILE`, `customers/C/KIND/FILE`.

A path names one file the service reads: a known kind and file, a plan and a customer the config
knows. Everything else (a `..`, a slash too many, an unknown kind, a digest override) is refused
with a sentence saying why, before any text is checked or stored: a path is never joined to a
folder from outside this rule.

It never reads or writes a file or the database.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from autoresponder import digest
from autoresponder.render import FILES, KINDS
from inbox.tickets import NO_TICKET_NAMED

NO_OVERRIDES = (digest.TEMPLATE, NO_TICKET_NAMED)  # about many customers, or none: one text for all
MAX_PATH = 300  # the column's width


@dataclass(frozen=True)
class TemplatePath:
    path: str
    kind: str
    file: str
    plan: str | None = None
    customer: str | None = None

    @property
    def scope(self) -> str:
        """"default", "plan:P" or "customer:C" (inbox.domain.template_versions.TemplateEntry.scope)."""
        return f"plan:{self.plan}" if self.plan else f"customer:{self.customer}" if self.customer else "default"

    @property
    def is_override(self) -> bool:
        return self.plan is not None or self.customer is not None


def parse_path(path: str, plans: Collection[str], customers: Collection[str]) -> TemplatePath:
    """The path's parts; ValueError with the reason when it names no file the service reads."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH or path != path.strip():
        raise ValueError(f"{path!r}: not a template path (expected KIND/FILE, plans/PLAN/KIND/FILE or "
                         "customers/CUSTOMER/KIND/FILE)")
    parts = path.split("/")
    if len(parts) == 2:
        owner, group = None, None
    elif len(parts) == 4 and parts[0] in ("plans", "customers"):
        group, owner = parts[0], parts[1]
        parts = parts[2:]
    else:
        raise ValueError(f"{path}: not a template path (expected KIND/FILE, plans/PLAN/KIND/FILE or "
                         "customers/CUSTOMER/KIND/FILE)")
    kind, file = parts
    if kind not in KINDS:
        raise ValueError(f"{path}: {kind!r} is not a kind of email (expected one of {', '.join(KINDS)})")
    if file not in FILES:
        raise ValueError(f"{path}: {file!r} is not a file this service reads (expected {', '.join(FILES)})")
    if group is None:
        return TemplatePath(path, kind, file)
    if kind in NO_OVERRIDES:
        raise ValueError(f"{path}: {kind} has no plan or customer overrides (only {kind}/{file} is used)")
    if group == "plans":
        if owner not in plans:
            raise ValueError(f"{path}: no plan {owner!r} in the config (known: {', '.join(sorted(plans)) or 'none'})")
        return TemplatePath(path, kind, file, plan=owner)
    if owner not in customers:
        raise ValueError(f"{path}: no customer {owner!r} in the config (known: {', '.join(sorted(customers)) or 'none'})")
    return TemplatePath(path, kind, file, customer=owner)


def general(path: TemplatePath, customer_plan: str | None) -> list[str]:
    """The paths that apply to `path`'s emails when it has no text, the most specific first."""
    found = []
    if path.customer is not None and customer_plan:
        found.append(f"plans/{customer_plan}/{path.kind}/{path.file}")
    if path.is_override:
        found.append(f"{path.kind}/{path.file}")
    return found
