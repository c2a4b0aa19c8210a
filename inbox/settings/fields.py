"""The value types config sections are built from: addresses, domains, severities, durations, hours.

Each type normalises what people write (case, "@", a bare number) and refuses the rest with a
message that can stand after "file: key.path:". It also holds `Section`, the frozen base every
section model extends, and `Located`, the way a validator reports a problem below its own key.
It never reads a file, the environment or the clock.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, PlainValidator

from inbox.sla.durations import Duration, parse_duration
from inbox.sla.hours import OpeningHours, OpeningHoursError, format_opening_hours, parse_opening_hours


class Located(ValueError):
    """A validation failure below the key pydantic reports it at: (sub-path, message) pairs."""

    def __init__(self, items: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in items))
        self.items = items


class Section(BaseModel):
    # A typo'd key is an error, and nothing may change settings once loaded.
    model_config = ConfigDict(extra="forbid", frozen=True)


_ADDRESS = re.compile(r'[^@\s<>(),;:"\[\]]+@[^@\s<>(),;:"\[\]]+')
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def _bare_address(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # pydantic then reports "must be text"
    address = value.strip().lower()
    if not _ADDRESS.fullmatch(address) or address.endswith(".") or ".@" in address:
        raise ValueError(f'"{value}" is not an email address (write it bare: name@example.com)')
    return address


# Public for the checks that read addresses before a model does (the short form of breach_escalation).
bare_address = _bare_address


def _domain(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    domain = value.strip().lower().lstrip("@").rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f'"{value}" is not a domain name')
    return domain


def _machine_sender(value: Any) -> Any:
    """A customer's machine sender: a bare address, or "*@domain" for every address at that domain
    and its subdomains."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text.startswith("*@"):
        try:
            return "*@" + _domain(text[2:])
        except ValueError:
            raise ValueError(f'"{value}" is not "*@" and a domain name (such as "*@alerts.acme.com")') from None
    try:
        return _bare_address(text)
    except ValueError:
        raise ValueError(f'"{value}" is neither an email address nor "*@" and a domain name') from None


def _display_name(value: Any) -> Any:
    # What customers read instead of a staff address: so it must not be an address itself.
    if not isinstance(value, str):
        return value
    name = " ".join(value.split())
    if not name or len(name) > 100:
        raise ValueError("must be a name of 1 to 100 characters")
    if "@" in name or "<" in name or ">" in name or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise ValueError(f'"{value}" is not a display name (a name such as "Dana Engineer", no address)')
    return name


def _env_name(value: Any) -> Any:
    # Catches the commonest leak: pasting the secret itself where its variable's name belongs.
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("must be the name of an environment variable that holds the secret, not the secret")
    return value


def _severity(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # severities: [1, 2, 3] reads naturally and needs no quotes
    if not isinstance(value, str):
        return value
    name = value.strip().lower()
    # Agents and account managers type it after "#severity", so it has to be one word.
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(f'"{value}" is not a severity name (one word, such as "critical" or "sev1")')
    return name


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f'"{value}" is not a duration')
    return parse_duration(str(value))


def _opening_hours(value: Any) -> OpeningHours:
    if isinstance(value, OpeningHours):
        return value
    try:
        return parse_opening_hours(value)
    except OpeningHoursError as error:
        # The grammar names the day key at fault; the problem line then points at that key.
        if error.key is None:
            raise ValueError(str(error)) from None
        raise Located([((error.key,), str(error))]) from None


EmailAddress = Annotated[str, BeforeValidator(_bare_address)]
DisplayName = Annotated[str, BeforeValidator(_display_name)]
DomainName = Annotated[str, BeforeValidator(_domain)]
MachineSender = Annotated[str, BeforeValidator(_machine_sender)]
EnvName = Annotated[str, BeforeValidator(_env_name)]
SeverityName = Annotated[str, BeforeValidator(_severity)]
# RFC 8601 authserv-ids are domain names, compared without regard to case.
AuthservId = Annotated[str, BeforeValidator(_lower)]
# Both dumped as config text, so model_dump() gives back a file that loads to equal settings.
DurationValue = Annotated[Duration, PlainValidator(_duration), PlainSerializer(str, return_type=str)]
OpeningHoursValue = Annotated[OpeningHours, PlainValidator(_opening_hours), PlainSerializer(format_opening_hours)]
Port = Annotated[int, Field(ge=1, le=65535)]
