"""The calendars section: each calendar's time zone, opening hours and holidays.

Never reads a file, the environment or the network; the holidays package is asked only which
countries and subdivisions it knows, and which dates are holidays.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationInfo, field_validator

from inbox.settings.fields import OpeningHoursValue, Section

__all__ = ["HOLIDAY_NAMES", "CalendarSettings", "HolidaySettings"]

# Validation context key: False when the caller never asks for a holiday (`tickets list`, `tickets
# show` read stored due times): the holidays package imports every country's module to answer
# whether one country or subdivision exists, 100-170 ms of such a command's start.
HOLIDAY_NAMES = "holiday_names"


def _names_checked(info: ValidationInfo) -> bool:
    return not isinstance(info.context, dict) or info.context.get(HOLIDAY_NAMES, True) is not False


class HolidaySettings(Section):
    country: str
    subdivision: str | None = None
    extra: list[date] = []

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str, info: ValidationInfo) -> str:
        code = value.strip().upper()
        if not _names_checked(info):
            return code
        # Imported here: a config without holidays never pays the package's 50 ms. One country's
        # calendar is built, not the list of all (the package imports every country's module either way).
        import holidays

        try:
            holidays.country_holidays(code)
        except NotImplementedError:
            raise ValueError(f'"{value}" is not a country the holidays package knows (use a code such as "US")') from None
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is not None and country is not None and _names_checked(info):
            import holidays

            try:
                holidays.country_holidays(country, subdiv=value)
            except NotImplementedError:
                raise ValueError(f'"{value}" is not a subdivision of {country} the holidays package knows') from None
        return value

    def dates(self, years: Iterable[int]) -> frozenset[date]:
        """Every closed date in `years`: the country's public holidays plus the extra dates."""
        import holidays

        years = list(years)
        public = holidays.country_holidays(self.country, subdiv=self.subdivision, years=years)
        return frozenset(public) | {day for day in self.extra if day.year in years}


class CalendarSettings(Section):
    timezone: str
    hours: OpeningHoursValue
    holidays: HolidaySettings | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'"{value}" is not an IANA time zone such as "America/Los_Angeles"') from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def always_open(self) -> bool:
        """True when business time equals elapsed time: open 24x7 and closed on no holiday."""
        return self.hours.always_open and self.holidays is None

    @property
    def weekly(self) -> dict[int, tuple[tuple[time, time], ...]]:
        return self.hours.weekly

    def holiday_dates(self, years: Iterable[int]) -> frozenset[date]:
        """The dates in `years` on which this calendar is closed all day."""
        return self.holidays.dates(years) if self.holidays else frozenset()
