"""Live reload inside `inbox serve`: an admin edits a template while mail flows.

A broken edit is refused before an email needs it: /healthz lists it (file and line) and stays
200, the acknowledgements keep the last good text; the fix is used by the next email, with no
restart. The service runs as a subprocess on the system clock; waiting polls, no deadline is slept.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import urllib.request
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from tests.durability.serve import ROOT, ServeProcess
from tests.fakes import mail
from tests.integration.test_serve_outbound import serve_through_a_relay


def _edit(path: Path, source: str) -> None:
    stamp = path.stat().st_mtime + 2
    path.write_text(source, encoding="utf-8")
    os.utime(path, (stamp, stamp))


def test_a_broken_edit_is_refused_and_shown_and_the_fix_applies_without_restart(db_url: str, tmp_path: Path) -> None:
    templates = Path(shutil.copytree(ROOT / "templates", tmp_path / "templates"))
    subject = templates / "acknowledgement" / "subject.txt.j2"
    _edit(subject, "Received: {{ ticket.subject }}")
    setup = serve_through_a_relay(tmp_path, db_url, templates)
    config, smtp_port, http_port, sink, relay = (setup.config, setup.smtp_port, setup.http_port, setup.sink,
                                                 setup.relay)
    server = ServeProcess(config, smtp_port, tmp_path / "serve.log")

    def health() -> tuple[int, dict]:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10) as page:
            return page.status, json.loads(page.read())

    def acknowledged(n: int, subject_text: str) -> str:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.sendmail("alice@acme.com", ["support@example.com"],
                            mail(subject=subject_text, message_id=f"<m{n}@acme.com>"))
        assert server.wait_until(lambda: len(sink.received) >= n, 60), (tmp_path / "serve.log").read_text()[-2000:]
        return str(message_from_bytes(sink.received[n - 1][2], policy=default)["Subject"])

    server.start()
    try:
        assert acknowledged(1, "Printer on fire") == "[SUP-000001] Received: Printer on fire"
        _edit(subject, "Received: {% if ticket.subject %}{{ ticket.subject }}\n")  # no endif
        assert server.wait_until(lambda: health()[1]["templates"]["problems"] != [], 60)
        status, detail = health()
        assert status == 200 and detail["ok"] is True and detail["status"] == "degraded"
        assert "templates/acknowledgement/subject.txt.j2 line 1 refused" in detail["reason"]
        [problem] = detail["templates"]["problems"]
        assert detail["templates"]["ok"] is False and "'endif'" in problem.pop("reason")
        assert problem == {"file": "templates/acknowledgement/subject.txt.j2", "line": 1, "keeping_last_good": True}
        assert acknowledged(2, "Scanner on fire") == "[SUP-000002] Received: Scanner on fire"
        _edit(subject, "We have it: {{ ticket.subject }}")
        assert server.wait_until(lambda: health()[1]["templates"] == {"ok": True, "problems": []}, 60)
        assert health()[1]["status"] == "ok" and "reason" not in health()[1]
        assert acknowledged(3, "Fax on fire") == "[SUP-000003] We have it: Fax on fire"
        assert server.terminate() == 0
    finally:
        server.kill()
        relay.stop()
    log = (tmp_path / "serve.log").read_text()
    assert "templates/acknowledgement/subject.txt.j2:1:" in log
    assert "template templates/acknowledgement/subject.txt.j2 recovered" in log
