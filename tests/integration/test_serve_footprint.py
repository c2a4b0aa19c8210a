"""What each child process of `inbox serve` loads (issue 20: memory under 300 MB for every process
together during an outage storm). Each module a process imports stays resident for its whole
life, so a role's process loads only what that role runs: the listener's web server and metrics
registry, the other role's libraries and the other database's dialect stay out.

Each child is built as `inbox.child` builds it (`child_service`), and the listener's process as
`inbox serve` wires it (`build_service` for receive, with the HTTP endpoint), in a fresh interpreter
on SQLite and on PostgreSQL; the config names no holidays, no IMAP mailbox and no admin.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
service: {{name: Example Support, tracking_prefix: SUP}}
database: {{url: "{url}"}}
outbound: {{transport: smtp, host: 127.0.0.1, port: 2525, from_address: "Example Support <support@example.com>"}}
addresses: [support@example.com]
calendars: {{always: {{timezone: UTC, hours: 24x7}}}}
plans: {{standard: {{calendar: always, targets: {{low: {{response: 1 hour}}}}}}}}
unknown_senders: {{plan: standard}}
"""

# The child's side of its pipe is a real Link whose parent end is kept open and never read.
CHILD = """\
import multiprocessing, sys
from inbox.clock import SystemClock
from inbox.processes import Link, _portable, child_service
from inbox.roles import Role
from inbox.settings import load_settings

ours, theirs = multiprocessing.Pipe(duplex=True)
app, service = child_service(Link(theirs), _portable(load_settings(sys.argv[1])), frozenset({Role(sys.argv[2])}),
                             SystemClock(), 0)
app.close()
print("\\n".join(sorted(sys.modules)))
"""

LISTENER = """\
import sys
from inbox.app import build_app
from inbox.clock import SystemClock
from inbox.roles import Role
from inbox.serving import build_service
from inbox.settings import load_settings

app = build_app(load_settings(sys.argv[1]), SystemClock())
service, _ = build_service(app, roles=frozenset({Role.RECEIVE}))
assert service.http is not None and service.listener is not None
app.close()
print("\\n".join(sorted(sys.modules)))
"""

# Loaded by no child: the listener's (web server, metrics, IMAP) and what this config does not use.
NO_CHILD = ("aiohttp", "prometheus_client", "inbox.web", "imapclient", "inbox.receive", "holidays")
NOT_IN = {
    "ingest": ("jinja2", "autoresponder.dispatch", "autoresponder.render", "smtplib"),
    "send": ("mailparser", "dkim", "dns", "inscriptis", "lxml", "inbox.ingest.pipeline"),
}
OTHER_DIALECT = {"sqlite": "sqlalchemy.dialects.postgresql", "postgresql": "sqlalchemy.dialects.sqlite"}


def loaded(config: Path, *argv: str, code: str = CHILD) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", code, str(config), *argv], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("role", ["ingest", "send"])
def test_a_child_process_loads_only_what_its_role_runs(tmp_path: Path, db_url: str, role: str) -> None:
    """The ingest and the send child load no web server, metrics registry or IMAP client, none of
    the other role's libraries (Jinja2 and the sender in ingest; the mail parser, DKIM and HTML
    reader in send), no holidays package for a config without holidays, and one SQL dialect."""
    config = tmp_path / "inbox.yaml"
    config.write_text(CONFIG.format(url=db_url))
    dialect = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    forbidden = (*NO_CHILD, *NOT_IN[role], OTHER_DIALECT[dialect])
    modules = loaded(config, role)
    assert f"sqlalchemy.dialects.{dialect}" in modules  # the probe sees what the child loads
    assert [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)] == []


def test_the_listeners_process_loads_no_template_engine_without_admin_pages(tmp_path: Path, db_url: str) -> None:
    """With the admin pages off and no IMAP mailbox, the process that listens (and serves /healthz
    and /metrics) loads no Jinja2, template renderer or versions, no IMAP client and no ingest pipeline."""
    config = tmp_path / "inbox.yaml"
    config.write_text(CONFIG.format(url=db_url))
    forbidden = ("jinja2", "autoresponder.render", "autoresponder.versions", "imapclient", "inbox.receive.imap",
                 "mailparser", "inbox.ingest.pipeline", "holidays")
    modules = loaded(config, code=LISTENER)
    assert "aiohttp" in modules and "prometheus_client" in modules  # the probe sees what the process loads
    assert [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)] == []
