"""Every log line about a message names it: a real mail through ingest, the acknowledgement out, the CLI.

On both databases. Lines are captured as the service writes them (the JSON formatter, the
`about` filter) and read back as JSON.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inbox import logs
from inbox.domain.ticket import Outcome
from inbox.ingest.drain import IngestWorker
from inbox.receive.smtp import SmtpListener
from tests.fakes import mail, write_config
from tests.integration.test_smtp import listening, send
from tests.sla_kit import T0, Desk

ROOT = Path(__file__).resolve().parents[2]
TRACKING, MESSAGE_ID = "SUP-000001", "m1@acme.com"


class Lines:
    """The JSON lines logged at INFO and above while the fixture is active."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def mentioning(self, name: str) -> list[dict[str, Any]]:
        return [x for x in self.all() if name in x["msg"]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    captured = Lines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.AboutFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    desk = Desk(tmp_path, db_url)
    yield desk
    desk.close()


def test_every_line_about_a_new_mail_and_its_acknowledgement_names_both(desk: Desk, lines: Lines) -> None:
    """Ingest's lines carry the ticket's tracking number and the mail's Message-ID; the ack's "sent" line its own."""
    assert desk.feed(mail()) == Outcome.OPENED
    assert desk.run(T0)["sent"] == 1
    [ack] = desk.sent()
    ack_id = ack["Message-ID"].strip("<>")
    incoming = [x for x in lines.all() if x.get("message_id") == MESSAGE_ID or MESSAGE_ID in x["msg"]]
    assert incoming, "no line about the incoming mail"
    for line in incoming:
        assert (line.get("tracking"), line.get("message_id")) == (TRACKING, MESSAGE_ID), line
    [result] = [x for x in incoming if x["msg"].endswith(": opened")]
    assert isinstance(result["raw_id"], int)
    outgoing = [x for x in lines.all() if x.get("outbox_id") is not None or ack_id in x["msg"]]
    for line in outgoing:
        assert (line.get("tracking"), line.get("message_id")) == (TRACKING, ack_id), line
    [sent] = [x for x in outgoing if x["msg"].endswith(": sent")]
    assert sent["kind"] == "acknowledgement" and isinstance(sent["outbox_id"], int)
    for line in lines.mentioning(TRACKING):  # nothing else names the ticket without its fields
        assert line.get("tracking") == TRACKING and line.get("message_id") in (MESSAGE_ID, ack_id), line


def test_a_failing_message_is_named_by_message_id_and_raw_row(desk: Desk, lines: Lines) -> None:
    """A message whose processing raises: its failure line carries the Message-ID and raw id (no ticket yet)."""

    def process(session: Any, raw: Any, ctx: Any, parsed: Any = None) -> Any:
        logging.getLogger("some.library").info("about to explode")
        raise RuntimeError("template exploded")

    ref = desk.app.rawstore.put(mail(), "test")
    worker = IngestWorker(desk.app.sessions, desk.app.current_desk(), desk.clock, desk.app.claimant, process=process)
    assert [o for _, o in worker.run_batch([ref.id])] == [Outcome.FAILED]
    about = [x for x in lines.all() if x["logger"] == "some.library"]
    failed = [x for x in lines.mentioning(MESSAGE_ID) if "failed" in x["msg"]]
    assert about and failed
    for line in about + failed:
        assert (line.get("message_id"), line.get("raw_id")) == (MESSAGE_ID, ref.id), line
    assert "template exploded" in failed[-1]["exc"]


async def test_smtp_accepted_line_names_the_raw_row_and_message_id(desk: Desk, lines: Lines) -> None:
    """The listener's "accepted" line carries the raw row and the Message-ID read from the header."""
    async with listening(desk.app) as door:
        code, _ = await send(door.port, mail(), sender="alice@acme.com", rcpts=["support@example.com"])
    assert code == 250
    [accepted] = [x for x in lines.all() if x["msg"].startswith("SMTP accepted")]
    assert accepted["message_id"] == MESSAGE_ID and isinstance(accepted["raw_id"], int)
    assert accepted["logger"] == SmtpListener.__module__


def test_cli_ingest_writes_json_lines_with_the_tracking_number(db_url: str, tmp_path: Path) -> None:
    """`INBOX_LOG_FORMAT=json inbox ingest FILE`: every stderr line is JSON; the result line names the ticket."""
    config = write_config(tmp_path, db_url)
    (tmp_path / "a.eml").write_bytes(mail())
    env = {**os.environ, "INBOX_LOG_FORMAT": "json", "INBOX_LOG_LEVEL": "INFO"}
    proc = subprocess.run([sys.executable, "-m", "inbox", "--config", str(config), "ingest", str(tmp_path / "a.eml")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    [result] = [x for x in records if x["msg"].endswith(": opened")]
    assert (result["tracking"], result["message_id"], result["level"]) == (TRACKING, MESSAGE_ID, "INFO")
