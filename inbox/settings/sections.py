"""The sections of the config file: service, transports, plans, customers, unknown senders
(calendars are in `calendars.py`).

One frozen model per section, each checking only its own keys; names that point into other
sections (a plan's calendar, a customer's plan) are checked by `Settings` once all are read.
It never holds a secret (only the names of the environment variables that do), and never
reads a file, the environment or the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.policy import default as email_policy
from functools import cached_property
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from inbox.settings.escalation import BreachEscalation
from inbox.settings.fields import (AuthservId, DomainName, DurationValue, EmailAddress, EnvName, Located,
                                   MachineSender, Port, Section, SeverityName)
from inbox.settings.oauth import OAuthSettings
from inbox.sla.durations import Duration, Unit

# -- service, storage and transports ------------------------------------------------------------


class ServiceSettings(Section):
    name: str = Field(min_length=1)
    tracking_prefix: str = Field(default="SUP", pattern=r"^[A-Z0-9]{2,10}$")
    secret_env: EnvName | None = None
    # The name the SMTP listener greets with and answers EHLO with (RFC 5321 section 4.1.1.1): this
    # host's public name. Unset: the machine's own fully qualified name, which in a container is
    # often just "localhost".
    hostname: DomainName | None = None


class DatabaseSettings(Section):
    url: str = Field(default="sqlite:///var/inbox.db", pattern=r"^(sqlite|postgresql(\+\w+)?)://")
    # A PostgreSQL URL holds a password: in production it comes from this environment variable,
    # which then wins over `url` (the compose file and the several-instances test set it).
    url_env: EnvName | None = None


class SmtpSettings(Section):
    host: str = "127.0.0.1"
    port: Port = 2525
    max_message_bytes: int = Field(default=26_214_400, ge=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_sessions: int = Field(default=100, ge=1)
    timeout_seconds: int = Field(default=300, ge=1)
    # Anyone who reaches the listener can write an Authentication-Results naming a trusted host.
    # When set, only mail from these networks (the MTA) may carry one that is believed.
    trusted_peers: list[IPv4Network | IPv6Network] = []

    @field_validator("trusted_peers", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value  # pydantic then says it must be a list
        networks: list[Any] = []
        for item in value:
            try:  # strict=False: "10.1.2.3/8" is read as 10.0.0.0/8, a bare address as that one host
                networks.append(ip_network(str(item).strip(), strict=False))
            except ValueError:
                raise ValueError(f'"{item}" is not an IP address or network (such as 10.0.0.0/8 or ::1)') from None
        return networks

    def believes_results_from(self, peer: str | None) -> bool:
        """Whether mail the listener took from `peer` may carry a trusted Authentication-Results.
        Any may while `trusted_peers` is empty (the default); None is mail that came another
        way (IMAP, files), which this setting does not judge."""
        if peer is None or not self.trusted_peers:
            return True
        try:
            address = ip_address(peer.partition("%")[0])  # an IPv6 zone ("fe80::1%eth0") names no network
        except ValueError:
            return False
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack listener sees 10.0.0.5 as ::ffff:10.0.0.5
        return any(address in network for network in self.trusted_peers)

    @model_validator(mode="after")
    def _cert_with_key(self) -> SmtpSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise Located([((missing,), "is required when the other of tls_cert and tls_key is set")])
        return self


class ImapMailbox(Section):
    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: Port = 993
    tls: bool = True
    username: str = Field(min_length=1)
    password_env: EnvName | None = None
    auth: OAuthSettings | None = None  # OAuth 2.0 (XOAUTH2) instead of the password
    folder: str = "INBOX"
    processed_folder: str | None = None
    idle: bool = True
    poll_seconds: int = Field(default=60, ge=1)

    @model_validator(mode="after")
    def _processed_elsewhere(self) -> ImapMailbox:
        # Moving a message into the folder it came from would fetch it again, for ever.
        if self.processed_folder is not None and self.processed_folder == self.folder:
            raise Located([(("processed_folder",), f'must differ from folder "{self.folder}"')])
        return self

    @model_validator(mode="after")
    def _one_way_in(self) -> ImapMailbox:
        if (self.password_env is None) == (self.auth is None):
            raise Located([(("password_env",), "give password_env or auth (method: oauth2), exactly one")])
        return self


class DeskLoopSettings(Section):
    """Once one address has opened `tickets` tickets within `within`, each answering our acknowledgement
    (quoting it, or naming its Message-ID) without joining its ticket, its further such tickets are
    opened without an acknowledgement until a person writes: a mail from it that answers none of
    ours, or an engineer's reply to it."""

    tickets: int = Field(default=3, ge=1)
    within: DurationValue = Duration(24, Unit.HOURS)

    @field_validator("within")
    @classmethod
    def _elapsed(cls, value: Duration) -> Duration:
        if value.is_business:
            raise ValueError(f'"{value}" counts business time; give elapsed time such as "24 hours"')
        return value


class OutboundSettings(Section):
    transport: Literal["smtp", "maildir"] = "smtp"
    host: str = "127.0.0.1"
    port: Port = 25
    starttls: bool = False
    username: str | None = None
    password_env: EnvName | None = None
    auth: OAuthSettings | None = None  # OAuth 2.0 (XOAUTH2) to the relay instead of the password
    maildir: Path = Path("var/sent")
    from_address: str
    max_auto_per_hour: int = Field(default=5, ge=1)
    # The sender runs as soon as ingest queues an email; this tick is the safety net for what no
    # wake announces (retries falling due, SLA clocks, emails another process queued).
    interval_seconds: int = Field(default=5, ge=1)
    # More than this many staff alerts of one kind (breach_alert, sla_warning, assigned) due to one
    # person in one turn go as one digest email; None sends each alone.
    digest_over: int | None = Field(default=3, ge=1)
    # Backscatter: From is easy to forge, and the limit above is per address, so 200 forged senders
    # at one domain would get 200 acknowledgements. Senders we have never emailed, per sender domain
    # and clock hour (UTC), get at most this many; the rest have their tickets opened silently. None: no budget.
    new_sender_acks_per_domain_hour: int | None = Field(default=20, ge=1)
    # A help desk that answers each acknowledgement with a new ticket of its own: None turns it off.
    desk_loop: DeskLoopSettings | None = DeskLoopSettings()

    @field_validator("from_address")
    @classmethod
    def _rfc5322_mailbox(cls, value: str) -> str:
        header = email_policy.header_factory("from", value)
        if header.defects or len(header.addresses) != 1 or not header.addresses[0].domain:
            raise ValueError(f'"{value}" is not one RFC 5322 address such as "Example Support <support@example.com>"')
        return value

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> OutboundSettings:
        if self.auth is not None and self.password_env is not None:
            raise Located([(("auth",), "give password_env or auth (method: oauth2), not both")])
        if self.auth is not None and self.username is None:
            raise Located([(("username",), "is required with auth: the XOAUTH2 login names the mailbox")])
        return self

    @cached_property
    def from_email(self) -> str:
        """The bare, lower-cased address of from_address (parsed once: every email asks for it)."""
        return email_policy.header_factory("from", self.from_address).addresses[0].addr_spec.lower()


class AuthenticationSettings(Section):
    trusted_authserv_ids: list[AuthservId] = []
    verify_dkim: bool = True


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: Port = 8025
    admin_token_env: EnvName | None = None  # the shared admin token, whose holder is named "admin"


class AdminSettings(Section):
    """A named admin of the web pages: the history and audit log name this person. The token is in
    the environment variable `token_env`, never in the file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")
    token_env: EnvName


class TemplateSettings(Section):
    dir: Path = Path("templates")


class BackupSettings(Section):
    """Retention of `inbox backup` files (grandfather-father-son, see inbox.store.retention):
    one backup kept per UTC calendar day, month and year for this many of each; 0 turns one off."""

    keep_daily_days: int = Field(default=30, ge=0)
    keep_monthly_months: int = Field(default=3, ge=0)
    keep_yearly_years: int = Field(default=6, ge=0)


# -- plans and customers ------------------------------------------------------------------------


class TargetSettings(Section):
    response: DurationValue
    update: DurationValue | None = None
    workaround: DurationValue | None = None
    resolution: DurationValue | None = None
    calendar: str | None = None


class LifecycleSettings(Section):
    auto_solve_after: DurationValue | None = None
    auto_solve_follow_ups: int | None = Field(default=None, ge=1)
    close_after_solved: DurationValue | None = None
    # While waiting on the customer, a reminder this long after the last email to them; each one
    # counts as a follow-up (so auto_solve_follow_ups works on a plan without an update cadence).
    remind_every: DurationValue | None = None


class StatedSeverity(Section):
    """What a customer's own "Severity: 1" may do: it is always recorded; may it raise the ticket?"""

    may_raise: bool = False
    up_to: SeverityName | None = None  # never above this, when set


class AssignmentWhen(Section):
    severity: SeverityName | None = None
    category: str | None = None
    customer: str | None = None


class AssignmentRule(Section):
    when: AssignmentWhen | None = None
    team: list[EmailAddress] = Field(min_length=1)


class PlanSettings(Section):
    calendar: str
    targets: dict[SeverityName, TargetSettings] = Field(min_length=1)
    lifecycle: LifecycleSettings = LifecycleSettings()
    # A list (the chain, for every target and severity) or {chain, rules}: see inbox.settings.escalation.
    breach_escalation: BreachEscalation = BreachEscalation()
    assignment: list[AssignmentRule] = []
    warn_at: float | None = Field(default=0.8, gt=0, lt=1)
    stated_severity: StatedSeverity = StatedSeverity()
    # Only a customer's listed contacts may open tickets, and it may list at most this many
    # (Akemona: "Up to three (3) designated customer contacts"). None: anyone at its domains.
    designated_contacts: int | None = Field(default=None, ge=1)
    # The ticket's own customer may close it by email (Apporetum: "The ticket is not resolved but
    # is closed by the customer"). Off by default: most contracts leave closing to the engineers.
    customers_may_close: bool = False

    # The SLA clocks of a ticket opened by someone else at the customer, which waits for a designated
    # contact or an account manager to `#confirm` it (or a person to assign it): from_arrival, as
    # any ticket; from_confirmation, none until then, then as if it arrived at that instant; none,
    # never any (worked outside the contract). Clocks promised to people the contract does not
    # entitle would breach on mail nobody may yet work, hence from_confirmation by default.
    undesignated_clocks: Literal["from_arrival", "from_confirmation", "none"] = "from_confirmation"
    # Machine notifications from the customers' own systems (monitoring, ServiceNow) that say
    # `Auto-Submitted: auto-generated` open or join a ticket silently instead of being dropped
    # (RFC 3834 forbids answering them, not reading them). A customer's own setting wins.
    accept_notifications: bool = False

    @model_validator(mode="after")
    def _undesignated_needs_designated(self) -> PlanSettings:
        # Only a choice away from the default is a mistake (a dumped config repeats the default).
        if self.undesignated_clocks != "from_confirmation" and self.designated_contacts is None:
            raise Located([(("undesignated_clocks",),
                            "has no effect without designated_contacts (every contact may open tickets)")])
        return self


class CustomerSettings(Section):
    id: str = Field(min_length=1)
    name: str
    plan: str
    domains: list[DomainName] = []
    contacts: list[EmailAddress] = []
    account_managers: list[EmailAddress] = []
    # Addresses of the customer's machines ("alerts@monitoring.acme.com", "*@service-now.acme.com"):
    # all their mail is a notification (see inbox.ingest.notifications), never answered, never
    # mailed. Each must lie at one of the customer's domains.
    machine_senders: list[MachineSender] = []
    # Notifications (Auto-Submitted: auto-generated) from any address at the customer's domains
    # open or join tickets silently; None: as its plan says.
    accept_notifications: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and "id" in data:
            return {**data, "name": data["id"]}
        return data

    @model_validator(mode="after")
    def _reachable(self) -> CustomerSettings:
        if not self.domains and not self.contacts:
            raise ValueError("needs domains or contacts, or no mail can be matched to it")
        for index, pattern in enumerate(self.machine_senders):
            if not _at_domains(pattern.rpartition("@")[2], self.domains) and pattern not in self.contacts:
                domains = ", ".join(self.domains) or "none"
                raise Located([(("machine_senders", index), f'"{pattern}" is not at one of the customer\'s domains '
                                f"({domains}): its mail would not be known as the customer's")])
        return self

    def is_machine_sender(self, address: str) -> bool:
        """Whether `address` is one of the customer's listed machines."""
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        return any(address == pattern or (pattern.startswith("*@") and _at_domains(domain, [pattern[2:]]))
                   for pattern in self.machine_senders)


def _at_domains(domain: str, domains: Iterable[str]) -> bool:
    """`domain` is one of `domains` or a subdomain of one."""
    return any(domain == d or domain.endswith("." + d) for d in domains)


class UnknownSenders(Section):
    plan: str | None = None
    reject: bool = False
    # Who of them is acknowledged: everyone, only those whose From domain is proven (a trusted
    # Authentication-Results pass for SPF, DKIM or DMARC, or a DKIM signature that verifies), or
    # no one. Their tickets are opened either way; a customer's senders are not unknown.
    acknowledge: Literal["all", "authenticated", "none"] = "all"

    @model_validator(mode="after")
    def _one_choice(self) -> UnknownSenders:
        if (self.plan is None) != self.reject:
            raise ValueError("give either plan: NAME or reject: true, not both and not neither")
        if self.reject and self.acknowledge != "all":
            raise Located([(("acknowledge",), "has no effect with reject: true (their mail opens no ticket)")])
        return self
