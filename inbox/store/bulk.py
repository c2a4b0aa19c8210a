"""Many rows of one INSERT as one statement on PostgreSQL: the rows as one JSON array, read back
into rows by `json_to_recordset`, in the order they came.

An executemany costs PostgreSQL a Bind and an Execute per row, and psycopg a Python round of its
own per row (an ingest batch of a hundred mails holds about 900 rows): here one kind of row of a
batch is one statement and one parameter. (Arrays per column, unnest()ed, cost more than the
executemany: psycopg quotes each item of a text array with a regular expression.) `ORDER BY` the
rows' place: a serial id is taken in the order the rows were added (a ticket's events read in that
order), and under ON CONFLICT DO NOTHING the first of two rows wins, as in the executemany.

The values are what the columns' types would send: a time must be aware, as `UTCDateTime` asks,
and is sent in UTC; a JSON column's value goes as its own text, made by the serialiser SQLAlchemy's
engines use (`json_text`), so a json column keeps the text it would have kept (None too: JSON
null); a column a row leaves out gets its Python-side default, as SQLAlchemy gives it. What this
cannot write the same way, `statement` answers None for and the caller writes as before: a default
that is an SQL expression or a sequence, an INSERT with values of its own, a column type it does
not know, and rows holding more than MAX_TEXT characters of text (a batch of long mails would be
one document of their size, held twice over). Builds statements and parameters only; never
executes one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Insert,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    column,
    func,
    select,
)
from sqlalchemy.exc import InvalidRequestError

from inbox.store.json_text import dump_json
from inbox.store.types import UTCDateTime

__all__ = ["statement"]

MAX_TEXT = 4 * 1024 * 1024  # characters of text in one statement's rows; past it, rows go one by one
_PLACE = "n"  # each record's place in the batch; never a column of ours (`_build` checks)
_PLAIN = (BigInteger, Integer, Boolean, String, Text)  # sent as JSON gives them (String covers Text)


class _Built:
    def __init__(self, stmt: Insert, names: list[str], times: list[str], json_columns: list[str],
                 defaults: dict[str, Any]) -> None:
        self.stmt, self.names, self.times, self.json_columns, self.defaults = stmt, names, times, json_columns, defaults


_BUILT: dict[tuple[Insert, tuple[str, ...]], _Built | None] = {}


def statement(stmt: Insert, columns: tuple[str, ...],
              rows: list[dict[str, Any]]) -> tuple[Insert, dict[str, Any]] | None:
    """`stmt` over `rows` (each setting exactly `columns`) as one INSERT ... SELECT FROM
    json_to_recordset, with its parameters; None when it cannot be (see the module's docstring)."""
    key = (stmt, columns)
    if key not in _BUILT:
        _BUILT[key] = _build(stmt, columns)
    built = _BUILT[key]
    if built is None:
        return None
    if sum(len(v) for row in rows for v in row.values() if isinstance(v, str)) > MAX_TEXT:
        return None  # a batch of long mails: row by row, not a document of their size held twice over
    records = []
    for place, row in enumerate(rows):
        record = {**row, _PLACE: place}
        for name, default in built.defaults.items():
            record[name] = default.arg(None) if default.is_callable else default.arg
        for name in built.times:
            record[name] = _utc(record[name])
        for name in built.json_columns:
            record[name] = dump_json(record[name])  # its own text, as SQLAlchemy's serialiser writes it
        records.append(record)
    return built.stmt, {"records": dump_json(records)}


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")  # as UTCDateTime refuses it
    return value.astimezone(timezone.utc).isoformat()


def _build(stmt: Insert, columns: tuple[str, ...]) -> _Built | None:
    table = stmt.table
    if _PLACE in table.c:
        return None
    defaults = {c.name: c.default for c in table.c if c.name not in columns and c.default is not None}
    if any(not (d.is_scalar or d.is_callable) for d in defaults.values()):
        return None  # an SQL expression or a sequence: the database's to compute per row
    names = [*columns, *defaults]
    types = {name: table.c[name].type for name in names}
    if not all(isinstance(t, (UTCDateTime, JSON, *_PLAIN)) for t in types.values()):
        return None
    # A JSON column's value arrives as the text it is to keep (a json column keeps its text as given).
    read_as = {name: Text() if isinstance(t, JSON) else t for name, t in types.items()}
    records = func.json_to_recordset(cast(bindparam("records", type_=Text), JSON)).table_valued(
        column(_PLACE, Integer), *(column(name, read_as[name]) for name in names)).render_derived(with_types=True)
    source = select(*(cast(records.c[name], types[name]) if isinstance(types[name], JSON) else records.c[name]
                      for name in names)).order_by(records.c[_PLACE])
    try:
        bulk = stmt.from_select([table.c[name] for name in names], source)
    except InvalidRequestError:  # values of its own: rows cannot be given to it as well
        return None
    return _Built(bulk, names, [n for n in names if isinstance(types[n], UTCDateTime)],
                  [n for n in names if isinstance(types[n], JSON)], defaults)
