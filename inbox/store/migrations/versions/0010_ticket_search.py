"""Full-text search over tickets' subjects and their incoming messages' subjects and text (issue 23).

SQLite: two external-content FTS5 tables (the words only; the text stays in `tickets` and
`ticket_messages`), kept up to date by triggers, so no ticket write in inbox/tickets changes and a
held write (inbox/store/deferred.py's executemany) indexes each row it inserts. PostgreSQL: a
stored generated tsvector column on each table with a GIN index on it, which the database keeps
up to date itself; stored rather than an index on the expression, so that a common word, for
which the planner reads the whole table, costs a comparison a row and not a to_tsvector. Both
index what is there already. inbox/store/ticket_search.py queries them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# 'simple': no stemming and no stop words, as FTS5's unicode61 tokenizer; mail comes in every
# language. left(): a tsvector holds at most 1 MB, and a longer one would make the INSERT of a
# very long mail fail; 100,000 characters of text stay well below it whatever the words.
# (table, its tsvector's expression, the GIN index on it)
PG_COLUMNS = (
    ("tickets", "left(subject, 100000)", "ix_tickets_search"),
    ("ticket_messages", "left(subject, 100000) || ' ' || left(text, 100000)", "ix_ticket_messages_search"),
)
PG_COLUMN = "search_vector"

# Which rows are indexed: of the messages, those that came in (customers', staff's mail to the desk).
# Our own emails are left out on SQLite: the sender writes each in a transaction of its own, and
# indexing them (a new FTS5 segment each, merged as they pile up) kept SQLite's one write lock so long
# that acknowledgements fell 9 s behind a storm of 100 mails a second (bench/storm.py; 0.9 s without).
_INDEXED = {"ticket_messages": "%s.direction = 'in'"}
# (FTS5 table, the table it indexes, the columns it indexes)
SQLITE_TABLES = (
    ("tickets_fts", "tickets", ("subject",)),
    ("ticket_messages_fts", "ticket_messages", ("subject", "text")),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, words, index in PG_COLUMNS:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {PG_COLUMN} tsvector "
                       f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, {words})) STORED")
            op.execute(f"CREATE INDEX {index} ON {table} USING gin ({PG_COLUMN})")
        return
    for fts, content, columns in SQLITE_TABLES:
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        # remove_diacritics 2: "cafe" finds "café", as a person typing on any keyboard expects.
        op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{content}', content_rowid='id', "
                   "tokenize='unicode61 remove_diacritics 2')")
        indexed = _INDEXED.get(content, "")
        when_new, when_old = (f" WHEN {indexed % 'new'}", f" WHEN {indexed % 'old'}") if indexed else ("", "")
        op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {content}{when_new} BEGIN "
                   f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END")
        # An external-content index must be told only of rows it holds: a 'delete' of another corrupts it.
        op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {content}{when_old} BEGIN "
                   f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END")
        # UPDATE OF: a ticket's status, due times and clocks change all day; only its words re-index it.
        # (A message's direction never changes: the row indexed stays the row indexed.)
        op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {content}{when_old} BEGIN "
                   f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
                   f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END")
        where = f" WHERE {indexed % content}" if indexed else ""
        op.execute(f"INSERT INTO {fts} (rowid, {names}) SELECT id, {names} FROM {content}{where}")  # stored already


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _words, index in PG_COLUMNS:
            op.execute(f"DROP INDEX {index}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN {PG_COLUMN}")
        return
    for fts, _content, _columns in SQLITE_TABLES:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {fts}_{suffix}")
        op.execute(f"DROP TABLE {fts}")
