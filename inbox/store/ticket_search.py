"""Finding tickets: one narrow SQL query per `TicketFilter`, counted, ordered and cut in the database.

`count` and `rows` read only the columns a list shows, as the database stores them (times as UTC
text, flags as JSON text: nothing is decoded per row), through SQLAlchemy Core alone: a list of
100,000 tickets costs what its rows cost, and `tickets list` never imports the ORM. Search uses the index of migration 0010: SQLite's
FTS5 tables (a person's words, each quoted, so nothing typed is read as an operator) and
PostgreSQL's stored tsvector columns and their GIN indexes (plainto_tsquery, which reads any text
as plain words). Reads
only; never writes.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
)

from inbox.domain.ticket import EventKind, Status
from inbox.domain.ticket_filter import MAX_SEARCH_CHARS, Order, Sorting, TicketFilter

__all__ = ["count", "is_search_object", "iso_utc", "json_rows", "known", "rows"]

# Migration 0010's objects, which the models do not describe (FTS5 tables and their shadow tables;
# PostgreSQL's generated tsvector columns and their indexes): the schema test leaves them out.
SEARCH_TABLES = ("tickets_fts", "ticket_messages_fts")
SEARCH_INDEXES = ("ix_tickets_search", "ix_ticket_messages_search")
SEARCH_COLUMN = "search_vector"
DONE = (Status.SOLVED.value, Status.CLOSED.value)

# The columns these queries name (inbox/store/tables.py has the whole tables): no ORM is loaded.
_TICKETS = table("tickets", *(column(name) for name in (
    "id", "number", "tracking", "subject", "customer_id", "plan", "severity", "category", "status", "assignee",
    "created_at", "updated_at", "first_response_due", "first_response_at", "next_update_due", "workaround_due",
    "workaround_at", "resolution_due", "solved_at", "flags")))
_EVENTS = table("events", column("ticket_id"), column("kind"))
_T = _TICKETS.c
_STORED = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy writes a datetime into SQLite, and how `rows` reads one
# 'simple', as migration 0010's columns: a query split otherwise would look for words the index never
# holds. The ticket's own column is tested row by row and its messages' matches are hashed once: a
# word in every subject then costs one pass, and the first 50 by number stop after 50 rows (a UNION
# of ids, hashed and joined back, cost 5 times more on 100,000 tickets); a rare one costs one pass.
# Messages that came in only (migration 0010: SQLite indexes no other), on both databases.
_PG_MATCH = text(
    f"(tickets.{SEARCH_COLUMN} @@ plainto_tsquery('simple'::regconfig, :search) OR tickets.id IN "
    f"(SELECT ticket_id FROM ticket_messages WHERE direction = 'in' AND "
    f"{SEARCH_COLUMN} @@ plainto_tsquery('simple'::regconfig, :search)))")
_SQLITE_MATCH = text(
    "tickets.id IN (SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH :search "
    "UNION SELECT ticket_id FROM ticket_messages WHERE id IN "
    "(SELECT rowid FROM ticket_messages_fts WHERE ticket_messages_fts MATCH :search))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FAR = "9999-12-31 23:59:59.999999"  # later than any due time, as SQLite stores them
JSON_BATCH = 5000  # tickets a time from the database to stdout: a list of 100,000 is never one string


def is_search_object(name: str | None) -> bool:
    """Whether a table, column or index name is migration 0010's (an FTS5 table's shadow tables included)."""
    if not name:
        return False
    return name in (*SEARCH_INDEXES, SEARCH_COLUMN) or any(name == t or name.startswith(t + "_") for t in SEARCH_TABLES)


def count(conn: Connection, wanted: TicketFilter) -> int:
    """How many tickets match, whatever the limit."""
    stmt = select(func.count()).select_from(_TICKETS).where(*_conditions(conn, wanted))
    return int(conn.execute(stmt).scalar_one())


def rows(conn: Connection, wanted: TicketFilter, sorting: Sorting, severities: Sequence[str],
         limit: int | None) -> Iterator[Any]:
    """The matching tickets in `sorting`'s order, at most `limit` (None: all), streamed: tuples of
    tracking, subject, customer_id, severity, status, assignee, created_at (UTC as `iso_utc` reads
    it), flags (JSON text), plan, category."""
    stmt = (select(_T.tracking, _T.subject, _T.customer_id, _T.severity, _T.status, _T.assignee, _created(conn),
                   cast(_T.flags, Text), _T.plan, _T.category)
            .where(*_conditions(conn, wanted)).order_by(*_order(conn, sorting, severities)).limit(limit))
    yield from conn.execution_options(stream_results=True, yield_per=2000).execute(stmt)


def json_rows(conn: Connection, wanted: TicketFilter, sorting: Sorting, severities: Sequence[str],
              limit: int | None) -> Iterator[list[str]]:
    """What `rows` finds, as `tickets list --json` shows it: each ticket one JSON object made by
    the database (SQLite's json_object, PostgreSQL's row_to_json), handed over in lists of up to
    JSON_BATCH. Python then neither builds a tuple nor a dict per ticket (that was two thirds of
    listing 100,000 tickets); the keys, their order and the values are those `iso_utc` and the
    stored flags give."""
    created = _created(conn)
    iso = (func.substr(created, 1, 10) + "T"
           + case((func.substr(created, 20) == ".000000", func.substr(created, 12, 8)), else_=func.substr(created, 12))
           + "+00:00")
    shown = [("tracking", _T.tracking), ("subject", _T.subject), ("customer", _T.customer_id),
             ("severity", _T.severity), ("status", _T.status), ("assignee", _T.assignee), ("created_at", iso)]
    where, order = _conditions(conn, wanted), _order(conn, sorting, severities)
    if conn.dialect.name == "postgresql":
        # row_to_json of a one-row subquery on the ticket: compact, its keys in the select's order
        # (json_build_object pads them); the ordering stays on the outer query, where it holds.
        row = (select(*(value.label(key) for key, value in shown),
                      func.coalesce(_T.flags, cast(literal("[]"), JSON)).label("flags"), _T.category.label("category"))
               .correlate(_TICKETS).subquery("t"))
        one = select(cast(func.row_to_json(literal_column("t")), Text)).select_from(row).scalar_subquery()
        stmt = select(one).select_from(_TICKETS).where(*where).order_by(*order).limit(limit)
    else:
        pairs = [part for key, value in shown for part in (literal(key), value)]
        stmt = (select(func.json_object(*pairs, literal("flags"), func.json(func.coalesce(_T.flags, "[]")),
                                        literal("category"), _T.category))
                .where(*where).order_by(*order).limit(limit))
    result = conn.execution_options(stream_results=True, yield_per=JSON_BATCH).execute(stmt)
    yield from result.scalars().partitions()


def _created(conn: Connection) -> ColumnElement[Any]:
    """created_at as the text `iso_utc` reads: SQLite's stored text, PostgreSQL's UTC written alike."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", _T.created_at), "YYYY-MM-DD HH24:MI:SS.US")
    return _T.created_at


def iso_utc(stored: str) -> str:
    """A `rows` time as ISO 8601 with its offset, as datetime.isoformat() writes it: "2026-12-07
    09:14:00.000000" -> "2026-12-07T09:14:00+00:00"."""
    return f"{stored[:10]}T{stored[11:19] if stored.endswith('.000000') else stored[11:]}+00:00"


def known(conn: Connection, name: str) -> set[str]:
    """The values of ticket column `name` that some ticket holds (a category a person typed, a
    customer since removed from the config), so that a filter may name them."""
    found = conn.execute(select(_T[name]).where(_T[name].is_not(None)).distinct()).scalars()
    return {str(value) for value in found}


def _conditions(conn: Connection, wanted: TicketFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for field, values in ((_T.customer_id, wanted.customers), (_T.assignee, wanted.assignees),
                           (_T.category, wanted.categories), (_T.status, wanted.statuses),
                           (_T.severity, wanted.severities)):
        if values:
            named = [v for v in values if v is not None]
            either = [field.in_(named)] if named else []
            conds.append(or_(*either, field.is_(None)) if None in values else either[0])
    if wanted.open_only:
        conds.append(_T.status.not_in(DONE))
    if wanted.breached:
        conds.append(exists().where(_EVENTS.c.ticket_id == _T.id, _EVENTS.c.kind == EventKind.BREACH.value))
    if wanted.due_before is not None:
        conds.append(and_(_T.status.not_in(DONE), _next_due(conn) < _instant(conn, wanted.due_before)))
    if wanted.since is not None:
        conds.append(_T.created_at >= _instant(conn, wanted.since))
    if wanted.until is not None:
        conds.append(_T.created_at < _instant(conn, wanted.until))
    if wanted.search is not None:
        conds.append(_matches(conn, wanted))
    return conds


def _matches(conn: Connection, wanted: TicketFilter) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        # plainto_tsquery splits the text as the index did (an address stays one word) and reads no operator.
        # PostgreSQL text holds no NUL, and no control character is part of a word.
        plain = _CONTROL.sub(" ", (wanted.search or "")[:MAX_SEARCH_CHARS])
        return _PG_MATCH.bindparams(bindparam("search", plain))  # type: ignore[return-value]
    words = wanted.words
    if not words:
        return false()
    # FTS5's query language reads a double-quoted string as one plain word; the words have no quote.
    return _SQLITE_MATCH.bindparams(bindparam("search", " ".join(f'"{w}"' for w in words)))  # type: ignore[return-value]


def _next_due(conn: Connection) -> ColumnElement[Any]:
    """The earliest due time of a target not yet met; NULL when none is pending."""
    pending = [case((_T.first_response_at.is_(None), _T.first_response_due)), _T.next_update_due,
               case((_T.workaround_at.is_(None), _T.workaround_due)),
               case((_T.solved_at.is_(None), _T.resolution_due))]
    if conn.dialect.name == "postgresql":
        return func.least(*pending)  # LEAST skips NULLs
    # SQLite's min() of several values is NULL if any is: stand "never" in for them, then take it out.
    far = literal_column(f"'{_FAR}'")
    return func.nullif(func.min(*[func.coalesce(p, far) for p in pending]), far)


def _instant(conn: Connection, at: datetime) -> Any:
    """`at` as the database compares it with a stored time: SQLite stores UTC text (_STORED)."""
    utc = at.astimezone(timezone.utc)
    return utc if conn.dialect.name == "postgresql" else utc.strftime(_STORED)


def _order(conn: Connection, sorting: Sorting, severities: Sequence[str]) -> list[ColumnElement[Any]]:
    def way(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column.desc() if sorting.descending else column.asc()

    tie = way(_T.number)
    if sorting.order is Order.UPDATED:
        return [way(_T.updated_at), tie]
    if sorting.order is Order.SEVERITY:
        rank = case({name: i for i, name in enumerate(severities)}, value=_T.severity, else_=len(severities))
        return [way(rank), tie]
    if sorting.order is Order.DUE:
        return [way(_next_due(conn)).nulls_last(), tie]
    return [tie]
