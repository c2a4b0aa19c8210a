"""The validated configuration: `config/inbox.yaml` read once into frozen, typed settings.

Every key is checked at load, and every problem becomes one line naming the file, the key
path and what is wrong, so a typo stops the service at start instead of at the first email.
It never holds a secret (only the names of the environment variables and files that do), never
writes anything, and never reaches into a database, a mailbox or the network.

This package's public surface: import from `inbox.settings`, never from its modules, which
are free to move. `fields` holds the value types, `sections` one model per section,
`document` the whole file, `loading` the YAML and the problem lines, `secrets` read_secret,
`oauth` the `auth:` of a mailbox or the relay;
the opening-hours grammar lives in `inbox.sla.hours`.
"""

from inbox.settings.calendars import CalendarSettings, HolidaySettings
from inbox.settings.document import Settings
from inbox.settings.escalation import BreachEscalation, EscalationLevel, EscalationRule, EscalationWhen
from inbox.settings.fields import DisplayName, DomainName, DurationValue, EmailAddress, EnvName, Port, SeverityName
from inbox.settings.loading import ConfigError, database_url, load_settings
from inbox.settings.oauth import OAuthSettings
from inbox.settings.secrets import read_secret
from inbox.settings.sections import (AssignmentRule, AssignmentWhen, AuthenticationSettings, CustomerSettings,
                                     DatabaseSettings, HttpSettings, ImapMailbox,
                                     LifecycleSettings, OutboundSettings, PlanSettings, ServiceSettings, SmtpSettings,
                                     StatedSeverity, TargetSettings, TemplateSettings, UnknownSenders)
from inbox.sla.hours import END_OF_DAY, OpeningHours

__all__ = [
    "END_OF_DAY",
    "AssignmentRule",
    "AssignmentWhen",
    "AuthenticationSettings",
    "BreachEscalation",
    "CalendarSettings",
    "ConfigError",
    "CustomerSettings",
    "DatabaseSettings",
    "DisplayName",
    "DomainName",
    "DurationValue",
    "EmailAddress",
    "EnvName",
    "EscalationLevel",
    "EscalationRule",
    "EscalationWhen",
    "HolidaySettings",
    "HttpSettings",
    "ImapMailbox",
    "LifecycleSettings",
    "OAuthSettings",
    "OpeningHours",
    "OutboundSettings",
    "PlanSettings",
    "Port",
    "ServiceSettings",
    "Settings",
    "SeverityName",
    "StatedSeverity",
    "SmtpSettings",
    "TargetSettings",
    "TemplateSettings",
    "UnknownSenders",
    "database_url",
    "load_settings",
    "read_secret",
]
