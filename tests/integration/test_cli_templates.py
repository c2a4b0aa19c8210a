"""`inbox templates check` and `inbox templates preview` as an admin uses them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fakes import mail, write_config
from tests.integration.test_cli_sla import ROOT, ingest, run


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "templates", tmp_path / "templates"))


@pytest.fixture
def config(db_url: str, tmp_path: Path, templates: Path) -> str:
    return str(write_config(tmp_path, db_url, extra=f"templates: {{dir: \"{templates}\"}}\n"))


def test_check_names_file_and_line_of_each_problem_and_the_sample_that_failed(config: str, templates: Path,
                                                                              capsys) -> None:
    (templates / "closed" / "subject.txt.j2").write_text("Closed: {{ ticket.subject }}\nBcc: x@example.com\n")
    (templates / "plans" / "standard" / "reminder").mkdir(parents=True)
    (templates / "plans" / "standard" / "reminder" / "body.txt.j2").write_text(
        "{% if ticket.severity == 'low' and ticket.status == 'pending' %}\n{{ follow_up }}\n{% endif %}\n")
    code, out, err = run(capsys, "--config", config, "templates", "check", "--json")
    assert code == 1
    problems = json.loads(out)["error"]["problems"]
    assert problems == [
        "templates/closed/subject.txt.j2:2: the subject is not one line (U+000A): a line break or control"
        " character in a header could start a new header",
        "templates/plans/standard/reminder/body.txt.j2:2: 'follow_up' is undefined"
        " (with severity low, status pending)",
    ]
    assert err.splitlines()[-2:] == problems


def test_preview_prints_headers_and_readable_parts(config: str, tmp_path: Path, capsys) -> None:
    """Headers as a mail program shows them, then the text and HTML parts decoded (not quoted-printable)."""
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "status_update")
    head, _, parts = out.partition("\n\n")
    assert code == 0 and "Subject: [SUP-000123] " in head and "Auto-Submitted: auto-replied" in head
    text, _, html = parts.partition("--- Content-Type: text/html; charset=utf-8 ---\n")
    assert text.startswith("--- Content-Type: text/plain; charset=utf-8 ---\n")
    assert "=\n" not in text and "=3D" not in html and html.lstrip().startswith("<!DOCTYPE html>")


def test_preview_of_a_ticket_with_a_customers_override(config: str, templates: Path, tmp_path: Path, capsys) -> None:
    """--ticket takes the ticket's data; --customer the customer's (and its plan's) overrides,
    over the sample data where there is no ticket; both are named in --json."""
    ingest(capsys, config, tmp_path, mail(subject="Ünïcode printer on fire"))
    override = templates / "customers" / "acme" / "agent_reply"
    override.mkdir(parents=True)
    (override / "subject.txt.j2").write_text("For Acme: {{ ticket.subject }} ({{ reply.author or 'us' }})")
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "agent_reply",
                       "--ticket", "SUP-000001", "--json")
    document = json.loads(out)
    assert code == 0 and document["files"]["subject"] == "templates/customers/acme/agent_reply/subject.txt.j2"
    assert ["Subject", "[SUP-000001] For Acme: Ünïcode printer on fire (Dana Engineer)"] in document["headers"]
    assert ["To", "alice@acme.com"] in document["headers"]
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "agent_reply", "--customer", "acme")
    assert code == 0 and "Subject: [SUP-000123] For Acme: Checkout fails" in out and "To: alice@acme.com" in out
    code, _, err = run(capsys, "--config", config, "templates", "preview", "agent_reply", "--customer", "nobody")
    assert code == 2 and "no customer 'nobody' (known: acme, globex)" in err
    assert run(capsys, "--config", config, "templates", "preview", "closed", "--ticket", "SUP-000404")[0] == 2


def test_preview_of_a_broken_template_names_file_and_line(config: str, templates: Path, capsys) -> None:
    (templates / "solved" / "body.html.j2").write_text("<p>\n{{ ticket.subjct }}</p>")
    code, out, err = run(capsys, "--config", config, "templates", "preview", "solved", "--json")
    assert code == 1
    assert json.loads(out)["error"]["problems"] == ["templates/solved/body.html.j2:2: 'ticket' has no attribute 'subjct'"]
