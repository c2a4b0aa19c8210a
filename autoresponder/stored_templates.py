"""The templates as the service sends them: the database's current versions over the files.

A `TemplateSource` (see `autoresponder.template_source`) for the renderer. A path with a stored
version reads that version; a path never saved reads the fallback (the config's templates folder,
whose files are the defaults); an override removed by a reset is no file, so the next more
general one applies. The versions are held in memory: `refresh` asks the database one cheap
question (the newest row's id) and reads only the paths saved since, so every instance that
refreshes once a scheduler turn sends a save made on any instance within that turn.

It never writes (autoresponder.versions does), checks or renders.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from sqlalchemy.orm import Session, sessionmaker

from autoresponder.template_source import Found, TemplateSource
from inbox.store import template_versions as store
from inbox.store.template_versions import StoredVersion


class StoredSource:
    def __init__(self, sessions: sessionmaker[Session], fallback: TemplateSource) -> None:
        self.sessions, self.fallback = sessions, fallback
        self._lock = threading.Lock()
        self._current: dict[str, StoredVersion] = {}
        self._seen: int | None = None  # the newest id read; None: never read

    def refresh(self) -> bool:
        """Read the versions saved since the last refresh (on any instance); True when there were any."""
        with self.sessions() as session:
            latest = store.latest_id(session)
            with self._lock:
                seen = self._seen
            if latest == seen:
                return False
            changed = store.current(session, since=seen or 0)
        with self._lock:
            self._current.update((v.path, v) for v in changed)
            self._seen = max(latest, self._seen or 0)
        return bool(changed) or seen is None

    def version(self, name: str) -> StoredVersion | None:
        """The current stored version of `name` (its text None: removed); None: never saved."""
        if self._seen is None:
            self.refresh()
        # No lock: asked for each file of each email, and a dict's get is atomic; refresh replaces
        # whole entries, so a reader sees the old version or the new one, never half of one.
        return self._current.get(name)

    def newest(self) -> int:
        """`refresh`, then the newest version id read: what a scheduler turn asks (TemplateWatch)."""
        self.refresh()
        return self.seen

    @property
    def seen(self) -> int:
        """The newest version id read (0: none)."""
        return self._seen or 0

    def get(self, name: str) -> Found | None:
        stored = self.version(name)
        if stored is None:
            return self.fallback.get(name)
        return None if stored.text is None else Found(stored.text, ("version", stored.id))

    def stamp(self, name: str) -> Hashable | None:
        """Asked for each file of each email: `version` inlined."""
        if self._seen is None:
            self.refresh()
        stored = self._current.get(name)
        if stored is None:
            return self.fallback.stamp(name)
        return None if stored.text is None else ("version", stored.id)

    def names(self) -> list[str]:
        if self._seen is None:
            self.refresh()
        with self._lock:
            stored = dict(self._current)
        present = {n for n in self.fallback.names() if n not in stored}
        present |= {n for n, v in stored.items() if v.text is not None and n.startswith(("plans/", "customers/"))}
        return sorted(present)
