"""Full-text search over tickets' subjects and their messages' subjects and text (issue 23).

SQLite: two external-content FTS5 tables (the words only; the text stays in `tickets` and
`ticket_messages`), kept up to date by triggers, so no ticket write in inbox/tickets changes and a
held write (inbox/store/deferred.py's executemany) indexes each row it inserts. PostgreSQL: GIN
indexes over `to_tsvector('simple', ...)` expressions, which the database keeps up to date itself.
Both index what is there already. inbox/store/ticket_search.py queries them and must repeat the
PostgreSQL expressions exactly, or the planner will not use the indexes.

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
PG_INDEXES = {
    "ix_tickets_search": "tickets USING gin (to_tsvector('simple'::regconfig, left(subject, 100000)))",
    "ix_ticket_messages_search": ("ticket_messages USING gin (to_tsvector('simple'::regconfig, "
                                  "left(subject, 100000) || ' ' || left(text, 100000)))"),
}

# (FTS5 table, the table it indexes, the columns it indexes)
SQLITE_TABLES = (
    ("tickets_fts", "tickets", ("subject",)),
    ("ticket_messages_fts", "ticket_messages", ("subject", "text")),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, target in PG_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {target}")
        return
    for fts, content, columns in SQLITE_TABLES:
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        # remove_diacritics 2: "cafe" finds "café", as a person typing on any keyboard expects.
        op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{content}', content_rowid='id', "
                   "tokenize='unicode61 remove_diacritics 2')")
        op.execute(f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {content} BEGIN "
                   f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END")
        op.execute(f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {content} BEGIN "
                   f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END")
        # UPDATE OF: a ticket's status, due times and clocks change all day; only its words re-index it.
        op.execute(f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {content} BEGIN "
                   f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
                   f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END")
        op.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")  # what is stored already


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX {name}")
        return
    for fts, _content, _columns in SQLITE_TABLES:
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {fts}_{suffix}")
        op.execute(f"DROP TABLE {fts}")
