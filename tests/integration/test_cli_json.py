"""`--json` on every `inbox` command: one JSON document on stdout, failures included (CONTRACT.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from alembic.script import ScriptDirectory

from inbox.cli import main
from inbox.store.migrate import alembic_config
from tests.fakes import T0, mail, write_config

ROOT = Path(__file__).resolve().parents[2]
T0_ISO = T0.isoformat()
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()  # the newest migration


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> str:
    return str(write_config(tmp_path, db_url, extra=f"templates: {{dir: \"{ROOT / 'templates'}\"}}\n"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run the command; stdout must parse as exactly one JSON document (json.loads refuses anything after it)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def with_json(where: str, config: str, *command: str) -> list[str]:
    return ["--json", "--config", config, *command] if where == "before" else ["--config", config, *command, "--json"]


# Every subcommand but `serve` (which runs until stopped: see test_serve_json_reports_an_old_schema).
COMMANDS: list[tuple[list[str], Callable[[Any], bool]]] = [
    (["db", "upgrade"], lambda d: d["schema"] == "up to date" and d["revision"] == HEAD),
    (["ingest", "{eml}"], lambda d: d["duplicate"] == 1),  # the setup ingested it already
    (["tickets", "list"], lambda d: d[0]["tracking"] == "SUP-000001" and d[0]["flags"] == []),
    (["tickets", "show", "SUP-000001"], lambda d: d["messages"][0]["text"].startswith("Our printer is on fire")),
    (["tickets", "set", "SUP-000001", "--note", "called"], lambda d: d["events"] == ["note"]),
    (["jobs", "run-once", "--as-of", T0_ISO], lambda d: d["sent"] == 1 and (d["waiting"], d["left"]) == (0, 0)),
    (["report", "sla", "--month", "2026-03", "--as-of", T0_ISO], lambda d: d["rows"][0]["customer"] == "acme"),
    (["templates", "check"], lambda d: d == {"ok": True, "problems": []}),
    (["templates", "preview", "acknowledgement", "--ticket", "SUP-000001"],
     lambda d: (d["name"], d["ticket"]) == ("acknowledgement", "SUP-000001") and "To: alice@acme.com" in d["email"]),
]


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize(("command", "check"), COMMANDS, ids=[" ".join(c[:2]) for c, _ in COMMANDS])
def test_every_command_prints_one_json_document(config: str, tmp_path: Path, capsys, where: str,
                                                command: list[str], check: Callable[[Any], bool]) -> None:
    """`--json` before or after any command makes stdout one JSON document holding the command's answer."""
    eml = tmp_path / "a.eml"
    eml.write_bytes(mail())
    assert main(["--config", config, "ingest", str(eml), "--received-at", T0_ISO]) == 0
    capsys.readouterr()
    code, document, _ = run(capsys, *with_json(where, config, *[str(eml) if a == "{eml}" else a for a in command]))
    assert code == 0 and check(document)


def test_json_between_command_and_action(config: str, capsys) -> None:
    """`--json` is also taken between a command and its action, like --config."""
    code, document, _ = run(capsys, "tickets", "--json", "list", "--config", config)
    assert (code, document) == (0, [])


@pytest.mark.parametrize("where", ["before", "after"])
def test_serve_json_reports_an_old_schema(tmp_path: Path, capsys, where: str) -> None:
    """`serve --json` refuses an unmigrated database: exit 2, a `database` error on stdout, the line on stderr."""
    config = str(write_config(tmp_path, f"sqlite:///{tmp_path}/fresh.db"))
    code, document, err = run(capsys, *with_json(where, config, "serve"))
    assert code == 2 and document["error"]["kind"] == "database"
    assert "inbox db upgrade" in document["error"]["message"] and "inbox db upgrade" in err


def test_bad_config_json_names_every_problem(tmp_path: Path) -> None:
    """A bad config with --json exits 2 with a `config` error listing every problem line, which stderr still carries."""
    path = write_config(tmp_path, f"sqlite:///{tmp_path}/x.db")
    path.write_text(path.read_text().replace("response: 4 business hours", "response: 4 bizness hours")
                    .replace("response: 2 business days", "response: 2 bizness days"))
    proc = subprocess.run([sys.executable, "-m", "inbox", "--config", str(path), "tickets", "list", "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    error = json.loads(proc.stdout)["error"]
    first = f"{path}: plans.standard.targets.critical.response: \"4 bizness hours\" is not a duration"
    assert proc.returncode == 2 and error["kind"] == "config"
    assert first in error["problems"] and len(error["problems"]) == 2
    assert error["message"] == f"{error['problems'][0]} (and 1 more)" and "\n" not in error["message"]
    assert all(problem in proc.stderr for problem in error["problems"])


def test_unknown_ticket_json_is_not_found(config: str, capsys) -> None:
    """Showing or setting a ticket that does not exist, with --json, exits 1 with a `not_found` error."""
    for command in (["tickets", "show", "SUP-999999"], ["tickets", "set", "SUP-999999", "--note", "x"]):
        code, document, err = run(capsys, "--json", "--config", config, *command)
        assert code == 1
        assert document["error"] == {"kind": "not_found", "message": "no ticket SUP-999999", "problems": []}
        assert "inbox: no ticket SUP-999999" in err


def test_unknown_template_preview_json_is_not_found(config: str, capsys) -> None:
    """Previewing an unknown template with --json exits 2, as without it, with a `not_found` error naming it."""
    code, document, err = run(capsys, "--config", config, "templates", "preview", "nonsense", "--json")
    assert code == 2 and document["error"]["kind"] == "not_found" and "nonsense" in document["error"]["message"]
    assert "nonsense" in err


@pytest.mark.parametrize("argv", [
    ["tickets", "list", "--status"],
    ["tickets", "list", "--bogus"],
    ["ingest", "--received-at", "yesterday"],
    ["tickets", "frobnicate"],
    [],
], ids=["missing value", "unknown option", "bad instant", "unknown action", "no command"])
def test_argument_errors_json_are_usage_errors(argv: list[str], capsys) -> None:
    """What argparse rejects, with --json anywhere, exits 2 with a `usage` error; its usage text stays on stderr."""
    for where in (["--json", *argv], [*argv, "--json"]):
        code, document, err = run(capsys, *where)
        assert code == 2 and document["error"]["kind"] == "usage" and document["error"]["message"]
        assert err.startswith("usage: inbox") and f"error: {document['error']['message']}" in err


def test_argument_errors_without_json_print_nothing_on_stdout(capsys) -> None:
    """Without --json an argument error is as before: exit 2, usage and reason on stderr, stdout empty."""
    code = main(["tickets", "list", "--status"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and "inbox tickets list: error: argument --status: expected one argument" in err


def test_database_error_json(tmp_path: Path, capsys) -> None:
    """A database that cannot be reached, with --json, exits 1 with a `database` error."""
    config = str(write_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/inbox"))
    code, document, err = run(capsys, "--json", "--config", config, "tickets", "list")
    assert code == 1 and document["error"]["kind"] == "database" and "inbox: database error" in err


def test_templates_check_json_names_the_broken_file_and_line(db_url: str, tmp_path: Path, capsys) -> None:
    """`templates check --json` on a broken template gives ok false and a `templates` error naming file and line."""
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    config = str(write_config(tmp_path, db_url, extra=f"templates: {{dir: \"{tmp_path / 'templates'}\"}}\n"))
    (tmp_path / "templates" / "status_update" / "body.txt.j2").write_text("Hello\n{{ ticket.trackng }}\n")
    code, document, err = run(capsys, "--config", config, "templates", "check", "--json")
    [problem] = document["problems"]
    assert code == 1 and document["ok"] is False and "status_update/body.txt.j2:2" in problem
    message = f"{tmp_path / 'templates'}: 1 problem in the templates"
    assert document["error"] == {"kind": "templates", "message": message, "problems": [problem]}
    assert problem in err
