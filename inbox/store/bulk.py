"""A batch's held rows of one INSERT as one statement on PostgreSQL: the rows as one JSON array,
read back into rows by `json_to_recordset`, in the order they came.

An executemany costs PostgreSQL a Bind and an Execute per row, and psycopg a Python round of its
own per row (an ingest batch of a hundred mails holds about 900 rows). (Arrays per column,
unnest()ed, cost more than the executemany: psycopg quotes each item of a text array with a regular
expression. On SQLite, where plain values written the same way saved nothing measurable, rows go
as before.) `ORDER BY` the records' place: a serial id is taken in the order the rows were added
(a ticket's events read in that order), and under ON CONFLICT DO NOTHING the first of two rows
wins, as in the executemany.

The values are what the columns' types would send: a time must be aware, as `UTCDateTime` asks,
and goes in UTC; a JSON column's value goes as its own text, made by the serialiser SQLAlchemy's
engines use (`json_text`), so a json column keeps the text it would have kept (None too: JSON
null); a column a row leaves out gets its Python-side default, as SQLAlchemy gives it. What this
cannot write the same way, `write` leaves to the caller (it writes as before): a default that is an
SQL expression or a sequence, an INSERT with values of its own, a column type it does not know,
bytes (JSON has none: an empty binary column is written), and rows holding more than MAX_TEXT
characters of text (a batch of long mails would be one document of their size, held twice over).
Never commits.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Insert,
    Integer,
    LargeBinary,
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

__all__ = ["MAX_TEXT", "write"]

MAX_TEXT = 4 * 1024 * 1024  # characters of text in one statement's rows; past it, rows go one by one
_PLACE = "n"  # each record's place in the batch; never a column of ours (`_shape` checks)
_PLAIN = (BigInteger, Integer, Boolean, String, Text)  # sent as they are (String covers Text)


class _Shape:
    """One INSERT over one set of columns: its columns, which are times, JSON and bytes, the
    defaults to fill, and the statement the rows are written with (built once)."""

    def __init__(self, stmt: Insert, names: list[str], types: dict[str, Any], defaults: dict[str, Any]) -> None:
        self.stmt, self.names, self.defaults = stmt, names, defaults
        self.times = [n for n in names if isinstance(types[n], UTCDateTime)]
        self.json_columns = [n for n in names if isinstance(types[n], JSON)]
        self.binary = [n for n in names if isinstance(types[n], LargeBinary)]
        self.types = types
        self.recordset: Insert | None = None

    def values(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Each row as the columns' types would send it: its defaults filled, its times as text
        (after the aware check `UTCDateTime` makes), its JSON as the text it is to keep; None when
        a binary column holds bytes (JSON has no bytes: only an empty one is written here)."""
        out = []
        for row in rows:
            value = dict(row)
            for name, default in self.defaults.items():
                value[name] = default.arg(None) if default.is_callable else default.arg
            if any(value[name] is not None for name in self.binary):
                return None
            for name in self.times:
                value[name] = _aware(value[name])
            for name in self.json_columns:
                value[name] = dump_json(value[name])  # its own text, as SQLAlchemy's serialiser writes it
            out.append(value)
        return out


_SHAPES: dict[tuple[Insert, tuple[str, ...]], _Shape | None] = {}


def write(connection: Connection, stmt: Insert, rows: list[dict[str, Any]]) -> bool:
    """Write `rows` (each setting the same columns) with `stmt` in one statement on PostgreSQL;
    False (nothing written) on SQLite, and when they cannot be written alike (see the module's
    docstring): the caller writes them as before."""
    if connection.dialect.name != "postgresql":
        return False  # SQLite's executemany costs it little beside its own work: nothing to gain
    key = (stmt, tuple(rows[0]))
    if key not in _SHAPES:
        _SHAPES[key] = _shape(stmt, key[1])
    shape = _SHAPES[key]
    if shape is None or sum(len(v) for row in rows for v in row.values() if isinstance(v, str)) > MAX_TEXT:
        return False  # a batch of long mails: row by row, not a document of their size held twice over
    records = shape.values(rows)
    if records is None:
        return False
    for place, record in enumerate(records):
        record[_PLACE] = place
    connection.execute(_recordset(shape), {"records": dump_json(records)})
    return True


def _aware(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")  # as UTCDateTime refuses it
    return value.astimezone(timezone.utc).isoformat()


def _shape(stmt: Insert, columns: tuple[str, ...]) -> _Shape | None:
    table = stmt.table
    if _PLACE in table.c:
        return None
    defaults = {c.name: c.default for c in table.c if c.name not in columns and c.default is not None}
    if any(not (d.is_scalar or d.is_callable) for d in defaults.values()):
        return None  # an SQL expression or a sequence: the database's to compute per row
    names = [*columns, *defaults]
    types = {name: table.c[name].type for name in names}
    if not all(isinstance(t, (UTCDateTime, JSON, LargeBinary, *_PLAIN)) for t in types.values()):
        return None
    try:
        stmt.from_select([table.c[name] for name in names], select(*(table.c[name] for name in names)))
    except InvalidRequestError:  # values of its own: rows cannot be given to it as well
        return None
    return _Shape(stmt, names, types, defaults)


def _recordset(shape: _Shape) -> Insert:
    """INSERT ... SELECT FROM json_to_recordset(:records) ORDER BY each record's place."""
    if shape.recordset is None:
        table, names, types = shape.stmt.table, shape.names, shape.types
        # A JSON column's value arrives as the text it is to keep (a json column keeps its text as given).
        read_as = {name: Text() if isinstance(t, JSON) else t for name, t in types.items()}
        records = func.json_to_recordset(cast(bindparam("records", type_=Text), JSON)).table_valued(
            column(_PLACE, Integer), *(column(name, read_as[name]) for name in names)).render_derived(with_types=True)
        source = select(*(cast(records.c[name], types[name]) if isinstance(types[name], JSON) else records.c[name]
                          for name in names)).order_by(records.c[_PLACE])
        shape.recordset = shape.stmt.from_select([table.c[name] for name in names], source)
    return shape.recordset
