"""`kill -HUP` on `inbox serve`: read the config file again and use it without a restart.

The desk's rules take effect at once: customers, contacts and account managers, plans,
calendars and holidays, rules, agents, addresses, unknown senders, severities. The reload only
sets the new desk in the process's one `CurrentDesk`; every part reads the desk there at the
start of each batch, turn or request, so it needs no list of parts to tell. What binds
sockets or opens connections (`service`, `database`, `smtp`, `imap`, `outbound`, `http`,
`templates`) keeps its running value, and the log says that a restart applies it. A file that
does not load is refused whole, each problem logged, and the service goes on with what it had:
a typo in a reload never takes the desk down.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from inbox.settings import ConfigError, Settings, load_settings
from inbox.tickets import Contracts, CurrentDesk, Desk

log = logging.getLogger(__name__)

# Sections bound to sockets, connections or files opened at start.
AT_RESTART = ("service", "database", "smtp", "imap", "outbound", "http", "templates")


@dataclass(frozen=True)
class Reloaded:
    applied: list[str]  # sections now in effect
    at_restart: list[str]  # sections that changed but wait for a restart
    refused: list[str] = field(default_factory=list)  # the problems, when the file was refused


def changed_sections(old: Settings, new: Settings) -> list[str]:
    return [name for name in type(old).model_fields if getattr(old, name) != getattr(new, name)]


def merge(old: Settings, new: Settings) -> Settings:
    """`new`, except the sections that only a restart applies, which keep their running values.
    Validated as a whole again, so what settings derive from their sections (lookups, the
    compiled rules) is derived from the merge."""
    values = {name: getattr(new, name) for name in type(new).model_fields}
    values.update({name: getattr(old, name) for name in AT_RESTART})
    return Settings.validated(values, source_path=old.source_path)


@dataclass
class ConfigReload:
    """Called on SIGHUP: load the file, keep what needs a restart, set the new desk as the current one."""

    path: Path
    current: CurrentDesk
    _one_at_a_time: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self) -> Reloaded:
        with self._one_at_a_time:  # two quick HUPs: the second reads the file after the first is in
            return self._reload()

    def _reload(self) -> Reloaded:
        desk = self.current.get()
        try:
            new = load_settings(self.path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("config reload refused, still running the config loaded before: %s", problem)
            return Reloaded([], [], refused=list(exc.problems))
        changed = changed_sections(desk.settings, new)
        later = [name for name in changed if name in AT_RESTART]
        now = [name for name in changed if name not in AT_RESTART]
        if later:
            log.warning("config reload: %s changed; that takes effect at the next restart", ", ".join(later))
        if not now:
            log.warning("config reload: %s read; nothing the desk uses changed", self.path)
            return Reloaded([], later)
        settings = merge(desk.settings, new)
        fresh = Desk(settings, Contracts(settings), desk.secret)
        self.current.set(fresh)
        log.warning("config reload: %s now in effect", ", ".join(now))
        return Reloaded(now, later)


def adopt(current: CurrentDesk, settings: Settings) -> bool:
    """Make `settings` (another process's desk in effect, already merged and checked there) the
    desk here; True when it changed anything."""
    desk = current.get()
    if settings == desk.settings:
        return False
    current.set(Desk(settings, Contracts(settings), desk.secret))
    return True
