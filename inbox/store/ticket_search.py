"""Finding tickets: one narrow SQL query per `TicketFilter`, counted, ordered and cut in the database.

`count` and `rows` read only the columns a list shows, as the database stores them (times as UTC
text, flags as JSON text: nothing is decoded per row), through a `Reader` (the driver itself, no
SQLAlchemy): a list of 100,000 tickets costs what its rows cost. The SQL is written here for both
databases; every value a person gives is a bound parameter, never part of the text. Search uses the
index of migration 0010: SQLite's FTS5 tables (a person's words, each quoted, so nothing typed is
read as an operator) and PostgreSQL's stored tsvector columns and their GIN indexes
(plainto_tsquery, which reads any text as plain words). Reads only; never writes.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from inbox.domain.ticket import EventKind, Status
from inbox.domain.ticket_filter import MAX_SEARCH_CHARS, Order, Sorting, TicketFilter
from inbox.store.reader import Reader

__all__ = ["count", "is_search_object", "iso_utc", "json_rows", "known", "rows"]

# Migration 0010's objects, which the models do not describe (FTS5 tables and their shadow tables;
# PostgreSQL's generated tsvector columns and their indexes): the schema test leaves them out.
SEARCH_TABLES = ("tickets_fts", "ticket_messages_fts")
SEARCH_INDEXES = ("ix_tickets_search", "ix_ticket_messages_search")
SEARCH_COLUMN = "search_vector"
DONE = (Status.SOLVED.value, Status.CLOSED.value)
# The ticket columns a filter may name with `known` (the command line's own names, never a person's).
KNOWN_COLUMNS = frozenset({"customer_id", "assignee", "category"})
_STORED = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy writes a datetime into SQLite, and how `rows` reads one
# 'simple', as migration 0010's columns: a query split otherwise would look for words the index never
# holds. The ticket's own column is tested row by row and its messages' matches are hashed once: a
# word in every subject then costs one pass, and the first 50 by number stop after 50 rows (a UNION
# of ids, hashed and joined back, cost 5 times more on 100,000 tickets); a rare one costs one pass.
# Messages that came in only (migration 0010: SQLite indexes no other), on both databases.
_PG_MATCH = (
    f"(tickets.{SEARCH_COLUMN} @@ plainto_tsquery('simple'::regconfig, %s) OR tickets.id IN "
    f"(SELECT ticket_id FROM ticket_messages WHERE direction = 'in' AND "
    f"{SEARCH_COLUMN} @@ plainto_tsquery('simple'::regconfig, %s)))")
_SQLITE_MATCH = (
    "tickets.id IN (SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH ? "
    "UNION SELECT ticket_id FROM ticket_messages WHERE id IN "
    "(SELECT rowid FROM ticket_messages_fts WHERE ticket_messages_fts MATCH ?))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FAR = "9999-12-31 23:59:59.999999"  # later than any due time, as SQLite stores them
JSON_BATCH = 5000  # tickets a time from the database to stdout: a list of 100,000 is never one string
_PG_CREATED = "to_char(timezone('UTC', tickets.created_at), 'YYYY-MM-DD HH24:MI:SS.US')"


class _Where:
    """A WHERE clause in the making: its conditions' SQL and their parameters, in order."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.parts: list[str] = []
        self.params: list[Any] = []

    def bind(self, *values: Any) -> str:
        """Placeholders for `values`, comma-separated, their values kept in order."""
        self.params.extend(values)
        return ", ".join([self.reader.mark] * len(values))

    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.parts)}" if self.parts else ""


def is_search_object(name: str | None) -> bool:
    """Whether a table, column or index name is migration 0010's (an FTS5 table's shadow tables included)."""
    if not name:
        return False
    return name in (*SEARCH_INDEXES, SEARCH_COLUMN) or any(name == t or name.startswith(t + "_") for t in SEARCH_TABLES)


def count(reader: Reader, wanted: TicketFilter) -> int:
    """How many tickets match, whatever the limit."""
    where = _conditions(reader, wanted)
    return int(reader.scalar(f"SELECT count(*) FROM tickets{where.sql()}", where.params))


def rows(reader: Reader, wanted: TicketFilter, sorting: Sorting, severities: Sequence[str],
         limit: int | None) -> Iterator[tuple[Any, ...]]:
    """The matching tickets in `sorting`'s order, at most `limit` (None: all), streamed: tuples of
    tracking, subject, customer_id, severity, status, assignee, created_at (UTC as `iso_utc` reads
    it), flags (JSON text), plan, category."""
    where = _conditions(reader, wanted)
    tail = _order(where, sorting, severities) + _limit(where, limit)  # bound after the conditions, as written
    flags = "CAST(tickets.flags AS TEXT)" if reader.dialect == "postgresql" else "tickets.flags"
    sql = (f"SELECT tickets.tracking, tickets.subject, tickets.customer_id, tickets.severity, tickets.status, "
           f'tickets.assignee, {_created(reader)}, {flags}, tickets."plan", tickets.category FROM tickets'
           f"{where.sql()}{tail}")
    for batch in reader.batches(sql, where.params, 2000):
        yield from batch


def json_rows(reader: Reader, wanted: TicketFilter, sorting: Sorting, severities: Sequence[str],
              limit: int | None) -> Iterator[list[bytes]]:
    """What `rows` finds, as `tickets list --json` shows it: each ticket one JSON object made by
    the database (SQLite's json_object, PostgreSQL's row_to_json) as UTF-8 bytes, handed over in
    lists of up to JSON_BATCH. Python then neither builds a tuple nor a dict per ticket (that was
    two thirds of listing 100,000 tickets) nor decodes the text it writes out; the keys, their order
    and the values are those `iso_utc` and the stored flags give."""
    created = _created(reader)
    # "2026-12-07 09:14:00.000000" -> "2026-12-07T09:14:00+00:00", as `iso_utc` (two replaces cost
    # less than taking the text apart: 10 % of the query on 100,000 tickets).
    iso = f"replace(replace({created} || '+00:00', ' ', 'T'), '.000000+', '+')"
    shown = [("tracking", "tickets.tracking"), ("subject", "tickets.subject"), ("customer", "tickets.customer_id"),
             ("severity", "tickets.severity"), ("status", "tickets.status"), ("assignee", "tickets.assignee"),
             ("created_at", iso)]
    where = _conditions(reader, wanted)
    tail = _order(where, sorting, severities) + _limit(where, limit)  # bound after the conditions, as written
    if reader.dialect == "postgresql":
        # row_to_json of a one-row subquery on the ticket: compact, its keys in the select's order
        # (json_build_object pads them); the ordering stays on the outer query, where it holds.
        columns = ", ".join(f"{value} AS {key}" for key, value in shown)
        one = (f"(SELECT CAST(row_to_json(t) AS TEXT) FROM (SELECT {columns}, "
               f"coalesce(tickets.flags, CAST('[]' AS JSON)) AS flags, tickets.category AS category) AS t)")
    else:
        pairs = ", ".join(f"'{key}', {value}" for key, value in shown)
        one = f"json_object({pairs}, 'flags', json(coalesce(tickets.flags, '[]')), 'category', tickets.category)"
    sql = f"SELECT {one} FROM tickets{where.sql()}{tail}"
    yield from reader.utf8_batches(sql, where.params, JSON_BATCH)


def _created(reader: Reader) -> str:
    """created_at as the text `iso_utc` reads: SQLite's stored text, PostgreSQL's UTC written alike."""
    return _PG_CREATED if reader.dialect == "postgresql" else "tickets.created_at"


def iso_utc(stored: str) -> str:
    """A `rows` time as ISO 8601 with its offset, as datetime.isoformat() writes it: "2026-12-07
    09:14:00.000000" -> "2026-12-07T09:14:00+00:00"."""
    return f"{stored[:10]}T{stored[11:19] if stored.endswith('.000000') else stored[11:]}+00:00"


def known(reader: Reader, name: str) -> set[str]:
    """The values of ticket column `name` (one of KNOWN_COLUMNS) that some ticket holds (a category
    a person typed, a customer since removed from the config), so that a filter may name them."""
    if name not in KNOWN_COLUMNS:
        raise ValueError(f"not a column a filter reads: {name!r}")
    found = reader.all(f"SELECT DISTINCT {name} FROM tickets WHERE {name} IS NOT NULL")
    return {str(value) for value, in found}


def _conditions(reader: Reader, wanted: TicketFilter) -> _Where:
    where = _Where(reader)
    for name, values in (("customer_id", wanted.customers), ("assignee", wanted.assignees),
                         ("category", wanted.categories), ("status", wanted.statuses),
                         ("severity", wanted.severities)):
        if values:
            named = [v for v in values if v is not None]
            either = [f"tickets.{name} IN ({where.bind(*named)})"] if named else []
            if None in values:
                either.append(f"tickets.{name} IS NULL")
            where.parts.append(f"({' OR '.join(either)})")
    if wanted.open_only:
        where.parts.append(f"tickets.status NOT IN ({where.bind(*DONE)})")
    if wanted.breached:
        where.parts.append(f"EXISTS (SELECT 1 FROM events WHERE events.ticket_id = tickets.id "
                           f"AND events.kind = {where.bind(EventKind.BREACH.value)})")
    if wanted.due_before is not None:
        where.parts.append(f"tickets.status NOT IN ({where.bind(*DONE)}) AND {_next_due(reader)} < "
                           f"{where.bind(_instant(reader, wanted.due_before))}")
    if wanted.since is not None:
        where.parts.append(f"tickets.created_at >= {where.bind(_instant(reader, wanted.since))}")
    if wanted.until is not None:
        where.parts.append(f"tickets.created_at < {where.bind(_instant(reader, wanted.until))}")
    if wanted.search is not None:
        where.parts.append(_matches(where, wanted))
    return where


def _matches(where: _Where, wanted: TicketFilter) -> str:
    if where.reader.dialect == "postgresql":
        # plainto_tsquery splits the text as the index did (an address stays one word) and reads no operator.
        # PostgreSQL text holds no NUL, and no control character is part of a word.
        plain = _CONTROL.sub(" ", (wanted.search or "")[:MAX_SEARCH_CHARS])
        where.params.extend([plain, plain])
        return _PG_MATCH
    words = wanted.words
    if not words:
        return "0 = 1"
    # FTS5's query language reads a double-quoted string as one plain word; the words have no quote.
    phrase = " ".join(f'"{w}"' for w in words)
    where.params.extend([phrase, phrase])
    return _SQLITE_MATCH


def _next_due(reader: Reader) -> str:
    """The earliest due time of a target not yet met; NULL when none is pending."""
    pending = ["CASE WHEN tickets.first_response_at IS NULL THEN tickets.first_response_due END",
               "tickets.next_update_due",
               "CASE WHEN tickets.workaround_at IS NULL THEN tickets.workaround_due END",
               "CASE WHEN tickets.solved_at IS NULL THEN tickets.resolution_due END"]
    if reader.dialect == "postgresql":
        return f"LEAST({', '.join(pending)})"  # LEAST skips NULLs
    # SQLite's min() of several values is NULL if any is: stand "never" in for them, then take it out.
    return f"nullif(min({', '.join(f'coalesce({p}, {_FAR!r})' for p in pending)}), {_FAR!r})"


def _instant(reader: Reader, at: datetime) -> Any:
    """`at` as the database compares it with a stored time: SQLite stores UTC text (_STORED)."""
    utc = at.astimezone(timezone.utc)
    return utc if reader.dialect == "postgresql" else utc.strftime(_STORED)


def _order(where: _Where, sorting: Sorting, severities: Sequence[str]) -> str:
    way = " DESC" if sorting.descending else " ASC"
    tie = f"tickets.number{way}"
    if sorting.order is Order.UPDATED:
        return f" ORDER BY tickets.updated_at{way}, {tie}"
    if sorting.order is Order.SEVERITY:
        ranks = " ".join(f"WHEN {where.bind(name)} THEN {i}" for i, name in enumerate(severities))
        rank = f"CASE tickets.severity {ranks} ELSE {len(severities)} END" if severities else "0"
        return f" ORDER BY {rank}{way}, {tie}"
    if sorting.order is Order.DUE:
        return f" ORDER BY {_next_due(where.reader)}{way} NULLS LAST, {tie}"
    return f" ORDER BY {tie}"


def _limit(where: _Where, limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {where.bind(int(limit))}"
