"""The `inbox` command as CONTRACT.md describes it, on both databases."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from inbox.app import build_app
from inbox.cli import main
from inbox.clock import TEST_CLOCK_ENV, FixedClock
from inbox.domain.message import ParsedMessage
from inbox.ingest.drain import IngestWorker
from inbox.settings import load_settings
from inbox.store import history
from inbox.store import tickets as store
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


def test_tickets_set_assign_gives_the_ticket_to_an_engineer_only(config: str, tmp_path: Path, capsys) -> None:
    """`--assign` takes an engineer (recorded, they are told by email); any other address is a usage error."""
    (tmp_path / "a.eml").write_bytes(mail())
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))
    code, _, err = run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--assign", "mallory@evil.test")
    assert code == 2 and "mallory@evil.test" in err
    code, out, _ = run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--assign", "engineer@example.com",
                       "--by", "lead@example.com", "--json")
    assert code == 0 and json.loads(out)["assignee"] == "engineer@example.com"
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    shown = json.loads(out)
    [assigned] = [e for e in shown["events"] if e["kind"] == "assigned"]
    assert (assigned["actor"], assigned["detail"]["to"]) == ("lead@example.com", "engineer@example.com")
    assert [o["kind"] for o in shown["outbox"] if o["to"] == "engineer@example.com"] == ["assigned"]


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

        IngestWorker(app.sessions, app.current_desk(), app.clock, app.claimant, process=broken).run_batch()
    finally:
        app.close()
    code, out, _ = run(capsys, "--config", config, "ingest", "--retry-failed", "--json")
    assert code == 0 and json.loads(out)["opened"] == 1
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json")
    assert len(json.loads(out)) == 1


def add_note(config: str, tracking: str, text: str, *, flag: str | None = None, message_id: str = "note1@example.com",
             ticket_flags: list[str] | None = None) -> None:
    """Store an internal note from an engineer on the ticket, as the pipeline keeps an unauthenticated reply."""
    app = build_app(load_settings(config), FixedClock(T0))
    try:
        with app.sessions() as session, session.begin():
            ticket = store.ticket_by_tracking(session, tracking)
            assert ticket is not None
            note = ParsedMessage(message_id=message_id, subject=f"Re: [{tracking}] Printer on fire",
                                 from_addr="engineer@example.com", text=text, visible_text=text)
            history.add_message(session, ticket_id=ticket.id, message=note, message_id=message_id, direction="in",
                                at=T0, internal=True, flag=flag)
            if ticket_flags is not None:
                history.set_fields(session, ticket.id, flags=ticket_flags)
    finally:
        app.close()


def test_show_prints_each_message_body(config: str, tmp_path: Path, capsys) -> None:
    """`tickets show` prints what the customer wrote under the message's header, indented by six spaces."""
    (tmp_path / "a.eml").write_bytes(mail(body="Our printer is on fire.\nThe second tray smokes too.\n"))
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if '"Alice" <alice@acme.com>: Printer on fire' in line))
    assert code == 0
    assert lines[header + 1:header + 3] == ["      Our printer is on fire.", "      The second tray smokes too."]


def test_show_gives_each_sender_display_name(config: str, tmp_path: Path, capsys) -> None:
    """`tickets show` names the sender as the mail did ("Alice Liddell" <alice@acme.com>); --json has it as
    `from_name` beside `from`, "" for a mail without one, and a control character never reaches the terminal."""
    (tmp_path / "a.eml").write_bytes(mail(sender="Alice Liddell <alice@acme.com>"))
    (tmp_path / "b.eml").write_bytes(b"From: bob@acme.com\r\nTo: support@example.com\r\nSubject: Re: [SUP-000001] x\r\n"
                                     b"Message-ID: <b2@acme.com>\r\n\r\nMe too.\r\n")
    (tmp_path / "c.eml").write_bytes(b"From: =?utf-8?q?Carol=1B=5B31m?= <carol@acme.com>\r\nTo: support@example.com\r\n"
                                     b"Subject: Re: [SUP-000001] x\r\nMessage-ID: <c3@acme.com>\r\n\r\nAnd me.\r\n")
    run(capsys, "--config", config, "ingest", *(str(tmp_path / n) for n in ("a.eml", "b.eml", "c.eml")))
    shown = json.loads(run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")[1])
    inbound = [(m["from"], m["from_name"]) for m in shown["messages"] if m["direction"] == "in"]
    assert inbound == [("alice@acme.com", "Alice Liddell"), ("bob@acme.com", ""), ("carol@acme.com", "Carol\x1b[31m")]
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    assert code == 0 and ' in  "Alice Liddell" <alice@acme.com>: Printer on fire' in out
    assert " in  bob@acme.com: Re: [SUP-000001] x" in out and "\x1b" not in out
    assert ' in  "Carol\N{REPLACEMENT CHARACTER}[31m" <carol@acme.com>' in out


def test_show_marks_internal_and_flagged_messages(config: str, tmp_path: Path, capsys) -> None:
    """An internal note is marked [internal], its flag [flagged: ...]; flag, flags and escalation_level reach --json."""
    (tmp_path / "a.eml").write_bytes(mail())
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))
    reason = "not relayed: not authenticated (no DKIM signature of example.com)"
    add_note(config, "SUP-000001", "Looks like the fuser.\n", flag=reason, ticket_flags=["not a designated contact"])
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    [header] = [line for line in out.splitlines() if "engineer@example.com" in line]
    assert code == 0 and f"[internal] [flagged: {reason}]" in header and "      Looks like the fuser." in out
    assert "  flags               not a designated contact" in out
    [customer] = [line for line in out.splitlines() if ' in  "Alice" <alice@acme.com>' in line]
    assert "[internal]" not in customer and "[flagged" not in customer
    shown = json.loads(run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")[1])
    assert [(m["internal"], m["flag"]) for m in shown["messages"]] == [(False, None), (True, reason)]
    assert (shown["flags"], shown["escalation_level"]) == (["not a designated contact"], 0)
    [row] = json.loads(run(capsys, "--config", config, "tickets", "list", "--json")[1])
    assert row["flags"] == ["not a designated contact"]


def test_show_keeps_long_bodies_readable(config: str, tmp_path: Path, capsys) -> None:
    """A body is cut after 4,000 characters with a count of the rest, blank runs shrink to two, controls are dropped."""
    (tmp_path / "a.eml").write_bytes(mail())
    run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))
    body = "\x1b[31mLog follows:" + "\n" * 9 + "x" * 5000 + "\n"
    add_note(config, "SUP-000001", body)
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    assert code == 0 and "\x1b" not in out
    assert "      \ufffd[31mLog follows:\n\n\n      xxx" in out
    assert "      [... 1020 more characters]" in out  # 17 + 3 newlines + 5,000 characters, less the 4,000 shown
    shown = json.loads(run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")[1])
    assert shown["messages"][1]["text"] == body


def test_a_clock_handed_to_main_is_the_commands_time(config: str, tmp_path: Path, capsys) -> None:
    """main(argv, clock): a mail ingested without --received-at is received at the clock's instant,
    though $INBOX_TEST_CLOCK is set (the suite sets it), with no warning; --received-at still wins."""
    (tmp_path / "a.eml").write_bytes(mail())
    (tmp_path / "b.eml").write_bytes(mail(message_id="<m2@acme.com>", subject="Another"))
    given = FixedClock(datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc))
    assert main(["--config", config, "ingest", str(tmp_path / "a.eml")], given) == 0
    assert TEST_CLOCK_ENV not in capsys.readouterr().err
    assert main(["--config", config, "ingest", "--received-at", T0.isoformat(), str(tmp_path / "b.eml")], given) == 0
    capsys.readouterr()
    _, out, _ = run(capsys, "--config", config, "tickets", "list", "--json")
    created = {row["tracking"]: datetime.fromisoformat(row["created_at"]) for row in json.loads(out)}
    assert created == {"SUP-000001": given.now(), "SUP-000002": T0}


def test_a_test_clock_starts_the_commands_clock_at_its_instant(config: str, tmp_path: Path, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """$INBOX_TEST_CLOCK (tests only) starts the process's clock at its instant, whatever the day:
    a mail ingested without --received-at is received then; --received-at still wins; a bad value exits 2."""
    (tmp_path / "a.eml").write_bytes(mail())
    (tmp_path / "b.eml").write_bytes(mail(message_id="<m2@acme.com>", subject="Another"))
    monkeypatch.setenv(TEST_CLOCK_ENV, "2026-12-06T23:00:00Z")
    assert run(capsys, "--config", config, "ingest", str(tmp_path / "a.eml"))[0] == 0
    assert run(capsys, "--config", config, "ingest", "--received-at", T0.isoformat(), str(tmp_path / "b.eml"))[0] == 0
    _, out, err = run(capsys, "--config", config, "tickets", "list", "--json")
    created = {row["tracking"]: datetime.fromisoformat(row["created_at"]) for row in json.loads(out)}
    start = datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc)
    assert start <= created["SUP-000001"] < start + timedelta(minutes=1)
    assert created["SUP-000002"] == T0
    assert f"${TEST_CLOCK_ENV} is set" in err  # never silent: production must not run on it
    monkeypatch.setenv(TEST_CLOCK_ENV, "Sunday night")
    code, _, err = run(capsys, "--config", config, "tickets", "list")
    assert code == 2 and f"${TEST_CLOCK_ENV}: 'Sunday night' is not an ISO 8601 instant" in err
