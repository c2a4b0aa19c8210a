"""The support contracts of the config as the SLA arithmetic needs them.

Turns the settings' calendars into `BusinessCalendar`s (holidays looked up per year, once) and a
plan's targets for one severity into an SLA `Policy`. Built once per settings object and shared;
it never reads the database or the clock.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo

from inbox.settings import Settings
from inbox.sla.agenda import TARGETS, Policy, TargetRule
from inbox.sla.calendar import BusinessCalendar


class Contracts:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._calendars: dict[str, BusinessCalendar] = {}
        self._policies: dict[tuple[str | None, str], Policy] = {}

    def calendar(self, name: str) -> BusinessCalendar:
        found = self._calendars.get(name)
        if found is None:
            config = self.settings.calendars[name]
            holidays = cache(lambda year, c=config: c.holiday_dates([year])) if config.holidays else None
            found = self._calendars[name] = BusinessCalendar(ZoneInfo(config.timezone), config.hours, holidays)
        return found

    def zone(self, plan: str | None) -> ZoneInfo:
        """The time zone a plan's customers read their times in."""
        if plan is None or plan not in self.settings.plans:
            return ZoneInfo("UTC")
        return ZoneInfo(self.settings.calendars[self.settings.plans[plan].calendar].timezone)

    def policy(self, plan: str | None, severity: str) -> Policy:
        """The promises of `plan` at `severity`; a plan or severity without targets promises nothing."""
        key = (plan, severity)
        found = self._policies.get(key)
        if found is not None:
            return found
        config = self.settings.plans.get(plan) if plan else None
        if config is None:
            found = Policy(targets={}, calendar=self.calendar(next(iter(self.settings.calendars))), warn_share=None)
        else:
            target = config.targets.get(severity)
            calendar = self.calendar(config.calendar)
            rules: dict[str, TargetRule] = {}
            if target is not None:
                own = self.calendar(target.calendar) if target.calendar else calendar
                for name in TARGETS:
                    duration = getattr(target, name)
                    if duration is not None:
                        rules[name] = TargetRule(duration, own)
            life = config.lifecycle
            found = Policy(
                targets=rules,
                calendar=calendar,
                warn_share=config.warn_at,
                escalation_levels=len(config.breach_escalation.chain),
                escalation_after={name: tuple(level.after for level in config.breach_escalation.levels(name, severity))
                                  for name in rules},
                auto_solve_after=life.auto_solve_after,
                auto_solve_follow_ups=life.auto_solve_follow_ups,
                close_after_solved=life.close_after_solved,
                remind_every=life.remind_every,
            )
        self._policies[key] = found
        return found

    def escalation(self, plan: str | None, level: int, target: str | None = None,
                   severity: str | None = None) -> str | None:
        """Who is told at escalation `level` (1-based) of `plan`, if anyone: of a missed `target` at
        `severity` when both are given (the plan's rules may name their own chain), else of the chain."""
        config = self.settings.plans.get(plan) if plan else None
        if config is None:
            return None
        escalation = config.breach_escalation
        levels = escalation.levels(target, severity) if target and severity else escalation.chain
        return levels[level - 1].to if 1 <= level <= len(levels) else None
