"""JSON columns are written by orjson (inbox.store.json_text.dump_json) and fall back to the stdlib's
encoder for what orjson refuses: every value reads back as the stdlib would have stored it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select

from inbox.store.db import make_engine
from inbox.store.json_text import dump_json
from inbox.store.tables import Event, Ticket
from tests.fakes import T0

VALUES = [
    {"why": "naïve café ✓", "n": 1, "x": 0.1, "ok": True, "none": None, "list": [1, "two", [3]]},
    {"big": 2**70, "neg": -(2**65)},  # past 64 bits: orjson refuses, the stdlib writes it
    {"broken": "half a pair \udcff of surrogates"},  # from a mail whose bytes were not its charset
    {1: "an integer key", "2": "a text key"},
]


@pytest.mark.parametrize("value", VALUES)
def test_dump_json_reads_back_as_the_stdlib_wrote_it(value: object) -> None:
    assert json.loads(dump_json(value)) == json.loads(json.dumps(value))


def test_json_columns_round_trip(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            ticket_id = conn.execute(insert(Ticket.__table__).values(
                number=1, tracking="SUP-000001", subject="s", requester="a@acme.com", severity="low", status="open",
                created_at=T0, updated_at=T0).returning(Ticket.__table__.c.id)).scalar_one()
            detail = {"why": "naïve café ✓", "big": 2**70, "keys": {1: "one"}}
            conn.execute(insert(Event.__table__), [{"ticket_id": ticket_id, "kind": "note", "at": T0, "actor": "x",
                                                    "detail": detail}])
        with engine.connect() as conn:
            stored = conn.execute(select(Event.__table__.c.detail)).scalar_one()
            flags = conn.execute(select(Ticket.__table__.c.flags, Ticket.__table__.c.sla_state)).one()
    finally:
        engine.dispose()
    assert stored == {"why": "naïve café ✓", "big": 2**70, "keys": {"1": "one"}}
    assert tuple(flags) == ([], {})  # the columns' Python defaults, encoded too
