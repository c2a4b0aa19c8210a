"""Attachments in `inbox tickets show` and `inbox tickets attachment` (issue 23): listed with name,
type, size and SHA-256; written out byte for byte, under a safe name, never over a file that is
there, never outside --out or the current directory. Also the readable times and events of `show`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from inbox.attachment_out import MAX_NAME_BYTES, file_name
from inbox.cli import main
from inbox.clock import FixedClock
from inbox.settings import database_url, load_settings
from inbox.store.db import make_engine
from tests.fakes import T0, write_config

ROOT = Path(__file__).resolve().parents[2]
NOW = T0 + timedelta(days=1)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40
HOSTILE = ["../../etc/passwd", "\x1b[31m.txt", "n" * 250 + ".log", "", "CON", "..", ".bashrc", "a/b\\c.txt",
           "invoice\u202efdp.exe", " . ", "nul.txt", "COM1"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), FixedClock(NOW))
    out, err = capsys.readouterr()
    return code, out, err


def with_files(files: list[tuple[str | None, bytes, str]], *, message_id: str = "<files@acme.com>") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@acme.com>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "Logs attached"
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = message_id
    msg.set_content("The logs and the invoice are attached.\n")
    for name, data, ctype in files:
        maintype, subtype = ctype.split("/")
        if maintype == "message":
            inner = EmailMessage()
            inner["Subject"] = "forwarded"
            inner.set_content(data.decode())
            msg.add_attachment(inner, filename=name)
        elif name is None:
            msg.add_attachment(data, maintype=maintype, subtype=subtype)
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def config(db_url: str, tmp_path: Path, capsys) -> str:
    """SUP-000001: a mail with a PDF, a text file and a forwarded message."""
    path = str(write_config(tmp_path, db_url))
    (tmp_path / "a.eml").write_bytes(with_files([("invoice.pdf", PDF, "application/pdf"),
                                                 ("notes.txt", b"line one\nline two\n", "text/plain"),
                                                 ("fwd.eml", b"the forwarded words\n", "message/rfc822")]))
    assert run(capsys, "--config", path, "ingest", str(tmp_path / "a.eml"), "--received-at", T0.isoformat())[0] == 0
    return path


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "out"
    where.mkdir()
    monkeypatch.chdir(where)
    return where


def test_show_lists_each_attachment(config: str, capsys) -> None:
    """--json gives each message's attachments (number, name, type, size, sha256); text one line each."""
    _, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    [message] = json.loads(out)["messages"]
    files = message["attachments"]
    assert [(a["number"], a["name"], a["type"]) for a in files] == [
        (1, "invoice.pdf", "application/pdf"), (2, "notes.txt", "text/plain"), (3, "fwd.eml", "message/rfc822")]
    assert (files[0]["size"], files[0]["sha256"]) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    _, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    assert f"[1] invoice.pdf  application/pdf  {len(PDF):,} bytes  sha256 {hashlib.sha256(PDF).hexdigest()}" in out
    assert "[2] notes.txt  text/plain  18 bytes" in out


def test_attachment_is_written_byte_for_byte(config: str, cwd: Path, capsys) -> None:
    """Each attachment comes out as the bytes that were listed (its SHA-256), named as listed, in the
    current directory; an attached message comes out whole."""
    _, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    listed = json.loads(out)["messages"][0]["attachments"]
    for a in listed:
        code, out, err = run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", str(a["number"]))
        assert code == 0, err
        written = cwd / a["name"]
        assert hashlib.sha256(written.read_bytes()).hexdigest() == a["sha256"]
        assert err == f"wrote {written} ({a['size']:,} bytes)\n"
    assert (cwd / "invoice.pdf").read_bytes() == PDF
    assert b"the forwarded words" in (cwd / "fwd.eml").read_bytes()
    assert sorted(p.name for p in cwd.iterdir()) == ["fwd.eml", "invoice.pdf", "notes.txt"]


def test_out_and_force(config: str, cwd: Path, tmp_path: Path, capsys) -> None:
    """--out writes there; an existing file is refused (exit 2, one line, untouched) unless --force,
    which replaces it whole; `--out -` writes the bytes to stdout."""
    target = tmp_path / "elsewhere.pdf"
    target.write_bytes(b"mine")
    code, out, err = run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "1", "--out", str(target))
    assert (code, out, err) == (2, "", f"inbox: {target} exists: give --force to replace it, or --out another file\n")
    assert target.read_bytes() == b"mine"
    code, out, _ = run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "1", "--out", str(target),
                       "--force", "--json")
    assert code == 0 and target.read_bytes() == PDF
    assert json.loads(out) == {"file": str(target), "name": "invoice.pdf", "type": "application/pdf",
                               "size": len(PDF), "sha256": hashlib.sha256(PDF).hexdigest()}
    assert run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "2")[0] == 0
    code, _, err = run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "2")
    assert code == 2 and "notes.txt exists: give --force" in err
    assert list(cwd.iterdir()) == [cwd / "notes.txt"]  # nothing written into the current directory but it


def test_stdout(config: str, tmp_path: Path) -> None:
    """`--out -` writes the attachment's bytes, and nothing else, to stdout."""
    proc = subprocess.run([sys.executable, "-m", "inbox", "--config", config, "tickets", "attachment", "SUP-000001",
                           "1", "--out", "-"], capture_output=True, check=False, cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert (proc.returncode, proc.stdout) == (0, PDF)


def test_a_link_in_the_way_is_never_followed(config: str, cwd: Path, tmp_path: Path, capsys) -> None:
    """A symbolic link where the file would go (dangling or not) is refused, and with --force replaced
    itself: the file it points to is never written."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (cwd / "invoice.pdf").symlink_to(victim)
    (cwd / "notes.txt").symlink_to(tmp_path / "nowhere")
    assert run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "1")[0] == 2
    assert run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "2")[0] == 2
    assert not (tmp_path / "nowhere").exists()
    assert run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "1", "--force")[0] == 0
    assert victim.read_bytes() == b"precious"
    assert not (cwd / "invoice.pdf").is_symlink() and (cwd / "invoice.pdf").read_bytes() == PDF


def test_no_such_attachment_or_ticket(config: str, cwd: Path, capsys) -> None:
    """A number past the last, a ticket that does not exist, or a number that is not one: a clear line."""
    assert run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "4") == (
        1, "", "inbox: SUP-000001 has no attachment 4 (it has 3)\n")
    assert run(capsys, "--config", config, "tickets", "attachment", "SUP-000009", "1") == (
        1, "", "inbox: no ticket SUP-000009\n")
    code, _, err = run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", "0")
    assert code == 2 and err.splitlines()[-1].endswith("argument N: '0' is not a number of 1 or more")
    assert list(cwd.iterdir()) == []


def test_hostile_names_stay_in_the_current_directory(db_url: str, tmp_path: Path, cwd: Path, capsys) -> None:
    """Whatever a sender named a file, and whatever name is stored (an older version's row included),
    it is written into the current directory under a plain, visible, bounded name."""
    config = str(write_config(tmp_path, db_url))
    files = [(name, f"file {i}\n".encode(), "application/octet-stream") for i, name in enumerate(HOSTILE)]
    (tmp_path / "h.eml").write_bytes(with_files(files, message_id="<hostile@acme.com>"))
    assert run(capsys, "--config", config, "ingest", str(tmp_path / "h.eml"), "--received-at", T0.isoformat())[0] == 0
    # The stored names are ingest's (already cleaned); put the raw hostile ones back, as a row
    # written before that cleaning might hold them, to try the command's own.
    engine = make_engine(database_url(load_settings(config)))
    with engine.begin() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM attachments ORDER BY id")]
        for row_id, name in zip(ids, HOSTILE):
            conn.exec_driver_sql("UPDATE attachments SET filename = %s WHERE id = %s" if engine.dialect.name ==
                                 "postgresql" else "UPDATE attachments SET filename = ? WHERE id = ?",
                                 (name[:255], row_id))
    engine.dispose()
    for number in range(1, len(HOSTILE) + 1):
        code, _, err = run(capsys, "--config", config, "tickets", "attachment", "SUP-000001", str(number))
        assert code == 0, (number, err)
    written = sorted(cwd.iterdir())
    assert len(written) == len(HOSTILE) and all(p.parent == cwd and p.is_file() for p in written)
    names = {p.name for p in written}
    for name in names:
        assert not name.startswith(".") and "/" not in name and "\\" not in name and ".." not in name
        assert all(ch.isprintable() and ch != "\u202e" for ch in name)
        assert len(name) <= 150 and len(name.encode()) <= MAX_NAME_BYTES
    assert {"passwd", "[31m.txt", "attachment-4", "_CON", "bashrc", "c.txt", "_nul.txt", "_COM1"} <= names
    assert next(n for n in names if n.endswith(".log")) == "n" * 146 + ".log"
    assert not (tmp_path / "etc").exists()
    code, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    assert "\x1b" not in out and "\u202e" not in out  # the listing shows no control character either


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd"), ("..\\..\\boot.ini", "boot.ini"), ("\x1b[31m.txt", "[31m.txt"), ("", "attachment-7"),
    (None, "attachment-7"), ("CON", "_CON"), ("con.txt", "_con.txt"), ("LPT9", "_LPT9"), ("console.txt", "console.txt"),
    ("..", "attachment-7"), (".bashrc", "bashrc"), ("...hidden", "hidden"), ("a\x00b.pdf", "ab.pdf"),
    ("report.pdf.", "report.pdf"), ('x<y>:"z"|?*.txt', "x_y___z____.txt"), ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"), ("/", "attachment-7"), ("dir/", "attachment-7"),
])
def test_file_name(name: str | None, safe: str) -> None:
    """Names made safe: no path, no "..", no control or format character, no leading dot, no Windows
    device name, never empty."""
    assert file_name(name, 7) == safe


def test_file_name_is_bounded_in_characters_and_bytes() -> None:
    """A long name keeps its extension and fits in 150 characters and 240 bytes of UTF-8."""
    assert file_name("n" * 300 + ".log", 1) == "n" * 146 + ".log"
    wide = file_name("\u6f22" * 200 + ".txt", 1)
    assert wide.endswith(".txt") and len(wide.encode()) <= MAX_NAME_BYTES
    assert file_name("x" * 300, 1) == "x" * 150


def test_show_reads_in_the_tickets_time_zone(config: str, capsys) -> None:
    """`show` gives times in the ticket's calendar zone with its abbreviation and events one readable
    line each (no Python reprs); --json keeps UTC ISO 8601."""
    assert run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--severity", "critical",
               "--note", "customer called")[0] == 0
    _, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001")
    lines = out.splitlines()
    assert "  created_at          2026-03-02 09:00 PST" in lines
    assert "  first_response_due  2026-03-02 13:00 PST" in lines  # 4 business hours, recomputed from the start
    events = lines[lines.index("events:") + 1:]
    [changed] = [line for line in events if "severity_changed" in line]
    assert changed == "  2026-03-03 09:00 PST  severity_changed cli  low -> critical; why: customer called"
    assert events and not any("{" in line or "'" in line for line in events)
    _, out, _ = run(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    shown = json.loads(out)
    assert shown["created_at"] == "2026-03-02T17:00:00+00:00"
    assert shown["events"][-1]["at"] == "2026-03-03T17:00:00+00:00"


def test_every_tickets_option_has_help() -> None:
    """Each `tickets` subcommand, and each of its arguments, says what it is for in --help (read from
    argparse's parser objects: the stdlib's, so pinned by the Python version)."""
    from inbox.cli_args import grammar

    commands = next(a for a in grammar()._actions if a.dest == "command")
    tickets = commands.choices["tickets"]
    actions = next(a for a in tickets._actions if a.dest == "action")
    helps = {choice.dest: choice.help for choice in actions._choices_actions}
    assert set(helps) == {"list", "show", "attachment", "set"} and all(helps.values())
    for name, parser in actions.choices.items():
        for action in parser._actions:
            assert action.help, (name, action.dest)
