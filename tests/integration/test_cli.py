"""The `inbox` command as CONTRACT.md describes it, on both databases."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from pathlib import Path

import pytest

from inbox.app import build_app
from inbox.cli import main
from inbox.clock import FixedClock
from inbox.ingest.worker import IngestWorker
from inbox.settings import load_settings
from tests.fakes import T0, mail, write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> str:
    return str(write_config(tmp_path, db_url))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_json_counts_every_outcome(config: str, tmp_path: Path, capsys) -> None:
    """`ingest --json` prints one object with every outcome's count, and exits 0."""
    files = []
    for name, data in {
        "a.eml": mail(),
        "b.eml": mail(message_id="<m2@acme.com>", subject="Re: SUP-000001"),
        "c.eml": mail(message_id="<m3@acme.com>", subject="Out of Office", headers={"Auto-Submitted": "auto-replied"}),
        "empty.eml": b"",
    }.items():
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    code, out, _ = run(capsys, "ingest", "--json", *files, "--config", config)
    assert code == 0
    assert json.loads(out) == {"opened": 1, "appended": 1, "duplicate": 0, "auto_reply": 1, "bounce": 0,
                               "refused": 1, "failed": 0}
    code, out, _ = run(capsys, "--config", config, "ingest", "--json", files[0], files[0])
    assert json.loads(out)["duplicate"] == 2


def test_same_file_twice_in_one_run_counts_once(config: str, tmp_path: Path, capsys) -> None:
    """The same bytes twice in one run make one ticket and one duplicate."""
    (tmp_path / "a.eml").write_bytes(mail())
    code, out, _ = run(capsys, "--config", config, "ingest", "--json", str(tmp_path / "a.eml"), str(tmp_path / "a.eml"))
    assert (json.loads(out)["opened"], json.loads(out)["duplicate"]) == (1, 1)


def test_ingest_reads_mbox_and_maildir(config: str, tmp_path: Path, capsys) -> None:
    """An mbox file and a maildir folder are split into their messages."""
    box = mailbox.mbox(str(tmp_path / "archive"))
    for i in range(3):
        box.add(mail(message_id=f"<mb{i}@acme.com>", subject=f"mbox {i}"))
    box.close()
    md = mailbox.Maildir(str(tmp_path / "Maildir"))
    md.add(mail(message_id="<md@acme.com>", subject="maildir"))
    md.close()
    code, out, _ = run(capsys, "--config", config, "ingest", "--json", str(tmp_path / "archive"), str(tmp_path / "Maildir"))
    assert code == 0 and json.loads(out)["opened"] == 4


def test_received_at_starts_the_clock_then(config: str, tmp_path: Path, capsys) -> None:
    """`--received-at` makes that instant the ticket's creation time."""
    (tmp_path / "a.eml").write_bytes(mail())
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"), "--received-at", "2026-01-05T08:30:00-08:00")
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    assert code == 0 and json.loads(out)["created_at"] == "2026-01-05T16:30:00+00:00"


def test_tickets_list_show_set(config: str, tmp_path: Path, capsys) -> None:
    """list, show and set agree with each other; set records events with actor and note."""
    (tmp_path / "a.eml").write_bytes(mail())
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json")
    [row] = json.loads(out)
    assert {k: row[k] for k in ("tracking", "subject", "customer", "severity", "status")} == {
        "tracking": "SUP-000001", "subject": "Printer on fire", "customer": "acme", "severity": "low", "status": "open"}
    code, _, _ = run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--severity", "high",
                     "--status", "pending", "--by", "lead@example.com", "--note", "customer called")
    assert code == 0
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "sup-000001", "--json")
    shown = json.loads(out)
    assert (shown["severity"], shown["status"]) == ("high", "pending")
    last = shown["events"][-2:]
    assert [e["kind"] for e in last] == ["severity_changed", "status_changed"]
    assert last[0]["actor"] == "lead@example.com" and last[0]["detail"]["why"] == "customer called"
    assert shown["messages"][0]["direction"] == "in" and shown["messages"][0]["message_id"] == "m1@acme.com"
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json", "--severity", "low")
    assert json.loads(out) == []


def test_tickets_set_refuses_unknown_severity(config: str, tmp_path: Path, capsys) -> None:
    """An unknown severity is a usage error (exit 2) naming the allowed ones."""
    (tmp_path / "a.eml").write_bytes(mail())
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))
    code, _, err = run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--severity", "urgent")
    assert code == 2 and "critical, high, medium, low" in err


def test_show_unknown_ticket_fails(config: str, capsys) -> None:
    """Showing a ticket that does not exist exits non-zero with a reason."""
    code, _, err = run(capsys, "--config", config, "tickets", "show", "SUP-999999")
    assert code == 1 and "SUP-999999" in err


def test_bad_config_exits_2_with_file_and_key(tmp_path: Path) -> None:
    """A bad config stops the real console script with exit 2 and one line naming file and key."""
    path = write_config(tmp_path, f"sqlite:///{tmp_path}/x.db")
    path.write_text(path.read_text().replace("response: 4 business hours", "response: 4 bizness hours"))
    proc = subprocess.run([sys.executable, "-m", "inbox", "--config", str(path), "tickets", "list"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert f"{path}: plans.standard.targets.critical.response: \"4 bizness hours\" is not a duration" in proc.stderr
    assert proc.stdout == ""


def test_unmigrated_database_is_refused(tmp_path: Path, capsys) -> None:
    """Commands other than `db upgrade` refuse an old schema with exit 2; `db upgrade` fixes it."""
    config = str(write_config(tmp_path, f"sqlite:///{tmp_path}/fresh.db"))
    code, _, err = run(capsys, "--config", config, "tickets", "list")
    assert code == 2 and "inbox db upgrade" in err
    assert run(capsys, "--config", config, "db", "upgrade")[0] == 0
    assert run(capsys, "--config", config, "tickets", "list", "--json")[:2] == (0, "[]\n")


def test_retry_failed_processes_failed_messages_again(config: str, capsys) -> None:
    """A message that failed is kept; `ingest --retry-failed` runs it through the pipeline again."""
    app = build_app(load_settings(config), FixedClock(T0))
    try:
        app.rawstore.put(mail(), "test")

        def broken(session, raw, ctx, parsed=None):
            raise RuntimeError("a bug that is fixed later")

        IngestWorker(app.sessions, app.worker()._ctx, app.clock, process=broken).run_batch()
    finally:
        app.close()
    code, out, _ = run(capsys, "--config", config, "ingest", "--retry-failed", "--json")
    assert code == 0 and json.loads(out)["opened"] == 1
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json")
    assert len(json.loads(out)) == 1
