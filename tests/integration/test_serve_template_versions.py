"""Two `inbox serve` instances on one database: a template saved through one (here `inbox templates
import`, as the editor's save, in a process of its own) is what the other sends next, with no restart.
The services run as subprocesses on the system clock; waiting polls, no deadline is slept."""

from __future__ import annotations

import shutil
import smtplib
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from tests.durability.serve import ROOT, ServeProcess
from tests.fakes import mail
from tests.integration.test_cli_sla import run
from tests.integration.test_serve_outbound import serve_through_a_relay


def test_a_save_through_one_instance_is_sent_by_the_other(db_url: str, tmp_path: Path, capsys) -> None:
    templates = Path(shutil.copytree(ROOT / "templates", tmp_path / "templates"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one, two = serve_through_a_relay(tmp_path / "a", db_url, templates), serve_through_a_relay(tmp_path / "b", db_url,
                                                                                                templates)
    servers = [ServeProcess(s.config, s.smtp_port, tmp_path / f"serve-{n}.log") for n, s in enumerate((one, two))]
    sinks = [one.sink, two.sink]

    def acknowledged(n: int, port: int, subject: str) -> str:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("alice@acme.com", ["support@example.com"], mail(subject=subject, message_id=f"<m{n}@acme.com>"))
        assert servers[0].wait_until(lambda: sum(len(s.received) for s in sinks) >= n, 60), \
            (tmp_path / "serve-1.log").read_text()[-2000:]
        sent = [m for s in sinks for m in s.received]
        [ack] = [m for m in sent if subject in str(message_from_bytes(m[2], policy=default)["Subject"])]
        return str(message_from_bytes(ack[2], policy=default)["Subject"])

    for server in servers:
        server.start()
    try:
        assert "Printer on fire" in acknowledged(1, two.smtp_port, "Printer on fire")
        edits = tmp_path / "edits"
        (edits / "acknowledgement").mkdir(parents=True)
        (edits / "acknowledgement" / "subject.txt.j2").write_text("Saved once, sent by all: {{ ticket.subject }}")
        code, _, err = run(capsys, "--config", str(one.config), "templates", "import", str(edits), "--message", "x")
        assert code == 0, err
        assert acknowledged(2, two.smtp_port, "Scanner on fire") == "[SUP-000002] Saved once, sent by all: Scanner on fire"
        assert acknowledged(3, one.smtp_port, "Fax on fire") == "[SUP-000003] Saved once, sent by all: Fax on fire"
        assert all(server.terminate() == 0 for server in servers)
    finally:
        for server in servers:
            server.kill()
        one.relay.stop()
        two.relay.stop()
