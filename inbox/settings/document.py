"""The whole config file as one model: `Settings`, the checks across its sections, and its lookups.

It checks that every name pointing at another section (a plan's calendar, a customer's plan, a
target's severity) exists there, and answers the questions the rest of the service asks of the
config: whose customer is this address, is it ours, is it an agent's. It never reads the file
(that is `inbox.settings.loading`), never holds a secret, and never changes once built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from classifiers import RuleError, RuleSet, compile_rules
from inbox.settings.calendars import HOLIDAY_NAMES, CalendarSettings
from inbox.settings.fields import DisplayName, EmailAddress, Located, Section, SeverityName
from inbox.settings.sections import (AdminSettings, AuthenticationSettings, BackupSettings, CustomerSettings,
                                     DatabaseSettings, HttpSettings, ImapMailbox, OutboundSettings, PlanSettings,
                                     ServiceSettings, SmtpSettings, TemplateSettings, UnknownSenders)

# The key of pydantic's validation context that names the file the data was read from.
_SOURCE_PATH = "source_path"


class Settings(Section):
    """The whole config file. Load it with `load_settings`; cross-references are checked too."""

    service: ServiceSettings
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    imap: list[ImapMailbox] = []
    outbound: OutboundSettings
    authentication: AuthenticationSettings = AuthenticationSettings()
    http: HttpSettings = HttpSettings()
    admins: list[AdminSettings] = []  # named admins of the web pages, beside http.admin_token_env's "admin"
    templates: TemplateSettings = TemplateSettings()
    backup: BackupSettings = BackupSettings()
    addresses: list[EmailAddress] = Field(min_length=1)
    severities: list[SeverityName] = Field(default=["critical", "high", "medium", "low"], min_length=1)
    calendars: dict[str, CalendarSettings] = Field(min_length=1)
    plans: dict[str, PlanSettings] = Field(min_length=1)
    customers: list[CustomerSettings] = []
    unknown_senders: UnknownSenders
    agents: list[EmailAddress] = []
    # The names customers read instead of a staff address (an agent's, an account manager's ...);
    # without one, they read the service's name.
    staff_names: dict[EmailAddress, DisplayName] = {}
    # Kept raw, with included files as {include, rules} groups; the rules engine checks its own keys.
    rules: list[dict[str, Any]] | None = None

    _source_path: Path | None = PrivateAttr(default=None)
    _rule_set: RuleSet | None = PrivateAttr(default=None)

    @classmethod
    def validated(cls, data: Mapping[str, Any], source_path: Path | None = None, holiday_names: bool = True) -> Settings:
        """`data` (a parsed config file, or section values) validated and cross-checked, as the
        settings of the file at `source_path`. The path travels in the validation context, so no
        key of the file can set it. With `holiday_names` False, the holidays package is not asked
        whether a calendar's country and subdivision exist (for a caller that never asks it for a
        holiday; every other key is checked)."""
        return cls.model_validate(data, context={_SOURCE_PATH: source_path, HOLIDAY_NAMES: holiday_names})

    @field_validator("severities")
    @classmethod
    def _unique_severities(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if name in value[:index]:
                raise Located([((index,), f'"{name}" is listed twice')])
        return value

    @model_validator(mode="after")
    def _cross_check(self) -> Settings:
        problems = _cross_references(self)
        try:
            self._rule_set = compile_rules(self.rules, self.severities)
        except RuleError as error:
            problems += [(("rules", *path), message) for path, message in error.problems]
        if problems:
            raise Located(problems)
        return self

    @model_validator(mode="after")
    def _remember_source(self, info: ValidationInfo) -> Settings:
        # Set while the model is being built, as `_rule_set` is: once built, settings never change.
        self._source_path = (info.context or {}).get(_SOURCE_PATH)
        return self

    @property
    def rule_set(self) -> RuleSet:
        """The classification rules, compiled once at load (no `rules:` key: no rules)."""
        assert self._rule_set is not None
        return self._rule_set

    @property
    def source_path(self) -> Path | None:
        """The file these settings were loaded from (None when built in code)."""
        return self._source_path

    @property
    def lowest_severity(self) -> str:
        """Where new mail starts: the last of `severities`."""
        return self.severities[-1]

    @cached_property
    def own_domain(self) -> str:
        """The domain of outbound.from_address, used on our Message-IDs."""
        return self.outbound.from_email.rpartition("@")[2]

    @cached_property
    def _contact_index(self) -> dict[str, CustomerSettings]:
        return {contact: customer for customer in self.customers for contact in customer.contacts}

    @cached_property
    def _domain_index(self) -> dict[str, CustomerSettings]:
        return {domain: customer for customer in self.customers for domain in customer.domains}

    @cached_property
    def _support_addresses(self) -> frozenset[str]:
        return frozenset(self.addresses)

    @cached_property
    def _agents(self) -> frozenset[str]:
        return frozenset(self.agents)

    @cached_property
    def _customers_by_id(self) -> dict[str, CustomerSettings]:
        return {customer.id: customer for customer in self.customers}

    @cached_property
    def _account_managers(self) -> frozenset[str]:
        return frozenset(address for customer in self.customers for address in customer.account_managers)

    def customer_for(self, address: str) -> CustomerSettings | None:
        """The customer an address belongs to: a listed contact first, else its (parent) domain."""
        address = address.strip().lower()
        if address in self._contact_index:
            return self._contact_index[address]
        labels = address.rpartition("@")[2].split(".")
        # The most specific listed domain wins: eu.acme.com before acme.com.
        for start in range(len(labels) - 1):
            customer = self._domain_index.get(".".join(labels[start:]))
            if customer is not None:
                return customer
        return None

    def is_support_address(self, address: str) -> bool:
        """True for a configured address, also with a +tag ("support+acme@example.com")."""
        address = address.strip().lower()
        local, _, domain = address.rpartition("@")
        return address in self._support_addresses or f"{local.partition('+')[0]}@{domain}" in self._support_addresses

    def is_agent(self, address: str) -> bool:
        """True when the address is one of the configured support engineers."""
        return address.strip().lower() in self._agents

    def is_account_manager(self, address: str) -> bool:
        """True when the address is an account manager of any customer."""
        return address.strip().lower() in self._account_managers

    @cached_property
    def _staff(self) -> frozenset[str]:
        plans = self.plans.values()
        return frozenset([*self.agents, *self._account_managers, *self.staff_names,
                          *(a for plan in plans for a in plan.breach_escalation.addresses),
                          *(a for plan in plans for rule in plan.assignment for a in rule.team)])

    def is_staff(self, address: str) -> bool:
        """True for our own people: agents, account managers, assignment teams, escalation contacts,
        anyone given a name in `staff_names`. Their addresses are never shown to customers."""
        return address.strip().lower() in self._staff

    def shown_name(self, address: str) -> str:
        """What a customer reads for one of our people: their name in `staff_names`, else the service's."""
        return self.staff_names.get(address.strip().lower()) or self.service.name

    def knows_by_name(self, address: str) -> bool:
        """True for an address the config lists: a customer's contact, an agent, an account manager."""
        address = address.strip().lower()
        return address in self._contact_index or address in self._agents or address in self._account_managers

    def customer(self, customer_id: str | None) -> CustomerSettings | None:
        """The customer with this id, if there is one."""
        return self._customers_by_id.get(customer_id) if customer_id else None


def _cross_references(settings: Settings) -> list[tuple[tuple[str | int, ...], str]]:
    """Names that point at other parts of the file and must exist there."""
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def unknown(kind: str, name: str, known: Iterable[str]) -> str:
        names = known if isinstance(known, list) else sorted(known)  # severities keep their order
        return f'unknown {kind} "{name}" (known: {", ".join(names) or "none"})'

    customer_ids = {customer.id for customer in settings.customers}
    # History and the audit log name the admin: one name, one person.
    named: set[str] = {"admin"} if settings.http.admin_token_env else set()
    for index, admin in enumerate(settings.admins):
        if admin.name in named:
            problems.append((("admins", index, "name"), f'admin name "{admin.name}" is taken '
                                                        '(by another admin, or by http.admin_token_env\'s "admin")'))
        named.add(admin.name)
    for plan_name, plan in settings.plans.items():
        where = ("plans", plan_name)
        if plan.calendar not in settings.calendars:
            problems.append((where + ("calendar",), unknown("calendar", plan.calendar, settings.calendars)))
        for severity, target in plan.targets.items():
            if severity not in settings.severities:
                problems.append((where + ("targets", severity), unknown("severity", severity, settings.severities)))
            if target.calendar is not None and target.calendar not in settings.calendars:
                path = where + ("targets", severity, "calendar")
                problems.append((path, unknown("calendar", target.calendar, settings.calendars)))
        for index, rule in enumerate(plan.breach_escalation.rules):
            path = where + ("breach_escalation", "rules", index, "when", "severity")
            for position, name in enumerate(rule.when.severity or []):
                if name not in settings.severities:
                    problems.append((path + (position,), unknown("severity", name, settings.severities)))
        up_to = plan.stated_severity.up_to
        if up_to is not None and up_to not in settings.severities:
            problems.append((where + ("stated_severity", "up_to"), unknown("severity", up_to, settings.severities)))
        for index, rule in enumerate(plan.assignment):
            path = where + ("assignment", index, "when")
            if rule.when and rule.when.severity and rule.when.severity not in settings.severities:
                problems.append((path + ("severity",), unknown("severity", rule.when.severity, settings.severities)))
            if rule.when and rule.when.customer and rule.when.customer not in customer_ids:
                problems.append((path + ("customer",), unknown("customer", rule.when.customer, customer_ids)))

    owners: dict[tuple[str, str], str] = {}
    for index, customer in enumerate(settings.customers):
        if customer.plan not in settings.plans:
            problems.append((("customers", index, "plan"), unknown("plan", customer.plan, settings.plans)))
        limit = settings.plans[customer.plan].designated_contacts if customer.plan in settings.plans else None
        if limit is not None and not 1 <= len(customer.contacts) <= limit:
            problems.append((("customers", index, "contacts"),
                             f"plan {customer.plan} allows 1 to {limit} designated contacts, not {len(customer.contacts)}"))
        if customer.id in [other.id for other in settings.customers[:index]]:
            problems.append((("customers", index, "id"), f'"{customer.id}" is already the id of another customer'))
        # One address, one customer: otherwise which contract a mail falls under is a coin toss.
        for field, values in (("contacts", customer.contacts), ("domains", customer.domains)):
            for position, value in enumerate(values):
                owner = owners.setdefault((field, value), customer.id)
                if owner != customer.id:
                    problems.append((("customers", index, field, position), f'{value} already belongs to customer "{owner}"'))

    if not settings.unknown_senders.reject and settings.unknown_senders.plan not in settings.plans:
        plan = settings.unknown_senders.plan or ""
        problems.append((("unknown_senders", "plan"), unknown("plan", plan, settings.plans)))
    names = [mailbox.name for mailbox in settings.imap]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append((("imap", index, "name"), f'"{name}" is already the name of another mailbox'))
    return problems
