"""The stored versions of the admins' email templates: append-only rows, one path's history each.

Protocol: a version is appended, never updated or deleted (a rollback or a reset appends too, so
history is never rewritten). A path's current version is its highest `version`; the caller
checks a text before it appends it, so a refused text is never stored. `latest_id` is the cheap
question every instance asks once a scheduler turn ("anything new since id N?"); `current` with
`since` then reads only the paths that changed. Appends are serialised (see `append`), so two
saves of one path at once get versions n and n+1, and ids commit in order.

It never: checks or renders a template (autoresponder.versions does), commits (the caller's
session does), or reads the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from inbox.store.tables import TemplateVersionRow

T = TemplateVersionRow.__table__


@dataclass(frozen=True)
class StoredVersion:
    id: int  # grows with every row: the change stamp
    path: str
    version: int
    text: str | None  # None: an override removed (the more general file applies)
    author: str
    message: str
    at: datetime
    origin: str


def latest_id(session: Session) -> int:
    """The newest row's id, 0 when none: equal ids mean nothing was saved in between."""
    return int(session.execute(select(func.coalesce(func.max(T.c.id), 0))).scalar_one())


def current(session: Session, since: int = 0) -> list[StoredVersion]:
    """The current version of every path with a version newer than id `since`, by path."""
    newest = select(T.c.path, func.max(T.c.version).label("version")).group_by(T.c.path)
    if since:
        newest = newest.having(func.max(T.c.id) > since)
    sub = newest.subquery()
    rows = session.execute(select(T).join(sub, (T.c.path == sub.c.path) & (T.c.version == sub.c.version))
                           .order_by(T.c.path))
    return [_version(row) for row in rows]


def history(session: Session, path: str) -> list[StoredVersion]:
    """Every version of `path`, the newest first."""
    return [_version(r) for r in session.execute(select(T).where(T.c.path == path).order_by(T.c.version.desc()))]


def every(session: Session) -> list[StoredVersion]:
    """Every version of every path, the newest first: the audit record."""
    return [_version(r) for r in session.execute(select(T).order_by(T.c.id.desc()))]


def one(session: Session, path: str, version: int) -> StoredVersion | None:
    row = session.execute(select(T).where(T.c.path == path, T.c.version == version)).first()
    return _version(row) if row is not None else None


def append(session: Session, path: str, body: str | None, *, author: str, message: str, at: datetime,
           origin: str) -> StoredVersion:
    """Store `text` as the next version of `path` (flushed; the caller's transaction commits).

    On PostgreSQL the table is locked against other writers (readers go on) until the commit: ids
    are then committed in the order they were given, so an instance that has read up to id N has
    missed nothing below it (a sequence hands out 10 and 11, and 11 could commit first).
    SQLite has one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE template_versions IN EXCLUSIVE MODE"))
    number = (session.execute(select(func.max(T.c.version)).where(T.c.path == path)).scalar_one() or 0) + 1
    values = dict(path=path, version=number, text=body, author=author, message=message, at=at, origin=origin)
    new_id = session.execute(insert(TemplateVersionRow).values(**values).returning(T.c.id)).scalar_one()
    return StoredVersion(id=int(new_id), **values)  # type: ignore[arg-type]


def _version(row: object) -> StoredVersion:
    m = row._mapping  # type: ignore[attr-defined]
    return StoredVersion(id=int(m["id"]), path=m["path"], version=int(m["version"]), text=m["text"],
                         author=m["author"], message=m["message"], at=m["at"], origin=m["origin"])
