"""Two `inbox serve` instances on one database: a template saved in instance one's own web editor
(signed in by the form, the save POSTed with the editor page's CSRF token, over HTTP) is what
instance two sends next, with no restart (one has stopped by then: the email can only be two's).
The services run as subprocesses on the system clock; waiting polls, no deadline is slept."""

from __future__ import annotations

import os
import shutil
import smtplib
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from urllib.parse import quote, quote_plus

from tests.durability.serve import ROOT, ServeProcess
from tests.editor_kit import SUBJECT, TOKEN, TOKEN_ENV
from tests.fakes import mail
from tests.integration.test_serve_outbound import Setup, serve_through_a_relay
from tests.web_kit import Client

NEW_SUBJECT = "Saved once, sent by all: {{ ticket.subject }}"


def with_admin_token(setup: Setup) -> Setup:
    """The setup's config with the admin token's variable named under `http:`."""
    text = setup.config.read_text()
    http = f"http: {{host: 127.0.0.1, port: {setup.http_port}}}"
    assert http in text
    setup.config.write_text(text.replace(http, f"http: {{host: 127.0.0.1, port: {setup.http_port}, "
                                              f"admin_token_env: {TOKEN_ENV}}}"))
    return setup


def test_a_save_in_one_instances_editor_is_sent_by_the_other(db_url: str, tmp_path: Path) -> None:
    templates = Path(shutil.copytree(ROOT / "templates", tmp_path / "templates"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = with_admin_token(serve_through_a_relay(tmp_path / "a", db_url, templates))
    two = with_admin_token(serve_through_a_relay(tmp_path / "b", db_url, templates))
    # INFO: instance one's access log lines are written, and searched for the token below.
    env = {**os.environ, "INBOX_LOG_LEVEL": "INFO", TOKEN_ENV: TOKEN}
    logs = [tmp_path / "serve-0.log", tmp_path / "serve-1.log"]
    servers = [ServeProcess(s.config, s.smtp_port, log, env=env) for s, log in zip((one, two), logs)]
    sinks = [one.sink, two.sink]

    def acknowledged(n: int, port: int, subject: str) -> str:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("alice@acme.com", ["support@example.com"], mail(subject=subject, message_id=f"<m{n}@acme.com>"))
        assert servers[0].wait_until(lambda: sum(len(s.received) for s in sinks) >= n, 60), \
            logs[1].read_text()[-2000:]
        sent = [m for s in sinks for m in s.received]
        [ack] = [m for m in sent if subject in str(message_from_bytes(m[2], policy=default)["Subject"])]
        return str(message_from_bytes(ack[2], policy=default)["Subject"])

    for server in servers:
        server.start()
    try:
        assert acknowledged(1, two.smtp_port, "Printer on fire") == "[SUP-000001] Printer on fire"

        # Instance one's editor, over HTTP as a browser: the sign-in form, then the save with the
        # CSRF token its editor page carries.
        browser = Client(one.http_port)
        signed_in = browser.sign_in(TOKEN)
        assert signed_in.status == 303 and browser.cookie, signed_in.body
        page = f"/admin/templates/files/{quote(SUBJECT)}"
        editor = browser.get(page)
        assert editor.status == 200 and "Saved once" not in editor.body
        saved = browser.post(page, {"text": NEW_SUBJECT, "message": "one text for every instance"},
                             csrf=editor.csrf())
        assert saved.status == 303 and saved.headers["Location"].endswith("?done=saved"), saved.body
        assert "Saved once, sent by all" in browser.get(page).body

        # Instance one stops (nothing of it can send now); two, never restarted, sends the new text.
        assert servers[0].terminate() == 0
        assert acknowledged(2, two.smtp_port, "Scanner on fire") == "[SUP-000002] Saved once, sent by all: Scanner on fire"
        assert any(b"Scanner on fire" in m[2] for m in two.sink.received)
        assert servers[1].terminate() == 0
    finally:
        for server in servers:
            server.kill()
        one.relay.stop()
        two.relay.stop()

    # Instance one's access log has the requests, never the token (nor the session or CSRF token).
    written = logs[0].read_text()
    assert f"POST {page} 303" in written and "POST /admin/sign-in 303" in written, written[-2000:]
    for secret in (TOKEN, quote(TOKEN), quote_plus(TOKEN), browser.cookie, editor.csrf()):
        assert secret and secret not in written
