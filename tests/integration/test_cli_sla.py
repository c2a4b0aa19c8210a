"""The SLA side of the `inbox` command: jobs run-once, tickets set/show, report sla, templates."""

from __future__ import annotations

import json
import mailbox
import shutil
from pathlib import Path

import pytest

from inbox.cli import main
from tests.fakes import T0, mail, write_config

ROOT = Path(__file__).resolve().parents[2]
T0_ISO = T0.isoformat()  # Monday 2 March 2026, 09:00 in Los Angeles


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> str:
    return str(write_config(tmp_path, db_url, extra=f"templates: {{dir: \"{ROOT / 'templates'}\"}}\n"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ingest(capsys, config: str, tmp_path: Path, data: bytes, name: str = "a.eml", at: str = T0_ISO) -> None:
    (tmp_path / name).write_bytes(data)
    assert run(capsys, "--config", config, "ingest", str(tmp_path / name), "--received-at", at)[0] == 0


def test_run_once_sends_the_ack_once_into_the_maildir(config: str, tmp_path: Path, capsys) -> None:
    """`jobs run-once --as-of` sends what is due by then; a second run sends nothing more."""
    ingest(capsys, config, tmp_path, mail())
    code, out, _ = run(capsys, "--config", config, "jobs", "run-once", "--as-of", T0_ISO, "--json")
    assert code == 0 and json.loads(out)["sent"] == 1
    code, out, _ = run(capsys, "--config", config, "jobs", "run-once", "--as-of", T0_ISO, "--json")
    assert json.loads(out)["sent"] == 0
    [message] = list(mailbox.Maildir(tmp_path / "sent"))
    assert "[SUP-000001]" in message["Subject"] and message["Auto-Submitted"] == "auto-replied"
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    detail = json.loads(out)
    assert detail["first_response_due"] == "2026-03-04T17:00:00+00:00"  # 2 business days: Wednesday 09:00 PST
    assert [m["direction"] for m in detail["messages"]] == ["in", "out"]
    assert detail["messages"][1]["message_id"] == message["Message-ID"].strip("<>")
    assert [o["state"] for o in detail["outbox"]] == ["sent"]
    assert "notified" in [e["kind"] for e in detail["events"]]


def test_severity_set_by_hand_recomputes_due_and_tells_the_customer(config: str, tmp_path: Path, capsys) -> None:
    """`tickets set --severity critical` moves the response due to 4 business hours after arrival."""
    ingest(capsys, config, tmp_path, mail())
    code, _, _ = run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--severity", "critical", "--by", "tam@example.com")
    assert code == 0
    detail = json.loads(run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")[1])
    assert detail["severity"] == "critical"
    assert detail["first_response_due"] == "2026-03-02T21:00:00+00:00"  # Monday 13:00 PST
    assert sorted(o["kind"] for o in detail["outbox"]) == ["acknowledgement", "severity_changed"]
    code, _, _ = run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--workaround")
    detail = json.loads(run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")[1])
    assert detail["workaround_at"] is not None and "workaround" in [e["kind"] for e in detail["events"]]


def test_report_counts_met_and_breached_targets(config: str, tmp_path: Path, capsys) -> None:
    """One response met (an engineer replied in time), one breached (nobody did), in the month's report."""
    ingest(capsys, config, tmp_path, mail())
    ingest(capsys, config, tmp_path, mail(message_id="<m2@acme.com>", subject="second"), name="b.eml")
    reply = mail(sender="engineer@example.com", subject="Re: [SUP-000001] Printer on fire",
                 message_id="<e1@example.com>", in_reply_to="<m1@acme.com>", vouched=True)
    ingest(capsys, config, tmp_path, reply, name="c.eml", at="2026-03-03T17:00:00+00:00")
    run(capsys, "--config", config, "jobs", "run-once", "--as-of", "2026-03-05T17:00:00+00:00")
    code, out, _ = run(capsys, "--config", config, "report", "sla", "--month", "2026-03", "--json",
                       "--as-of", "2026-03-05T17:00:00+00:00")
    assert code == 0
    [row] = json.loads(out)["rows"]
    assert (row["customer"], row["severity"], row["tickets"]) == ("acme", "low", 2)
    assert row["response"] == {"met": 1, "breached": 1, "pending": 0}
    code, out, _ = run(capsys, "--config", config, "report", "sla", "--month", "2026-03", "--as-of", "2026-03-05T17:00:00+00:00")
    assert "acme" in out and "1/1/0" in out
    assert run(capsys, "--config", config, "report", "sla", "--month", "2026-13")[0] == 2


def test_templates_check_names_the_broken_file_and_line(db_url: str, tmp_path: Path, capsys) -> None:
    """`templates check` passes on the shipped templates and names file and line of a broken one."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    config = str(write_config(tmp_path, db_url, extra=f"templates: {{dir: \"{tmp_path / 'templates'}\"}}\n"))
    assert run(capsys, "--config", config, "templates", "check")[0] == 0
    (tmp_path / "templates" / "status_update" / "body.txt.j2").write_text("Hello\n{{ ticket.trackng }}\n")
    code, _, err = run(capsys, "--config", config, "templates", "check")
    assert code == 1 and "status_update/body.txt.j2:2" in err


def test_templates_preview_prints_the_email(config: str, tmp_path: Path, capsys) -> None:
    """`templates preview` prints headers and parts, from sample data or from a ticket."""
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "acknowledgement")
    assert code == 0 and "Auto-Submitted: auto-replied" in out and "Content-Type: text/html" in out
    ingest(capsys, config, tmp_path, mail())
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "acknowledgement", "--ticket", "SUP-000001")
    assert code == 0 and "To: alice@acme.com" in out and "Printer on fire" in out
    assert run(capsys, "--config", config, "templates", "preview", "nonsense")[0] == 2
