"""`inbox templates export | import | history | rollback | import-from-disk`, and `check`/`preview`
reading the database's versions; the upgrade's import of files edited on disk. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from inbox.store.db import make_engine
from tests.fakes import write_config
from tests.integration.test_cli_sla import ROOT, run

SUBJECT = "acknowledgement/subject.txt.j2"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "templates", tmp_path / "templates"))


@pytest.fixture
def config(db_url: str, tmp_path: Path, templates: Path) -> str:
    return str(write_config(tmp_path, db_url, extra=f"templates: {{dir: \"{templates}\"}}\n"))


def test_export_edit_import_history_rollback(config: str, tmp_path: Path, capsys) -> None:
    """The file workflow over the database: export, edit, import (checked), see it in history and
    in preview, roll it back; the files of the templates folder are never written."""
    out_dir = tmp_path / "exported"
    code, out, _ = run(capsys, "--config", config, "templates", "export", str(out_dir), "--json")
    assert code == 0 and len(json.loads(out)["files"]) == 54
    assert (out_dir / SUBJECT).read_text() == (ROOT / "templates" / SUBJECT).read_text()
    (out_dir / SUBJECT).write_text("Imported: {{ ticket.subject }}")
    (out_dir / "customers" / "acme" / "closed").mkdir(parents=True)
    (out_dir / "customers" / "acme" / "closed" / "body.txt.j2").write_text("Closed for Acme.")
    code, out, err = run(capsys, "--config", config, "templates", "import", str(out_dir), "--message", "tone",
                         "--author", "ada", "--json")
    assert code == 0, err
    assert sorted((v["path"], v["version"], v["origin"]) for v in json.loads(out)["imported"]) == [
        (SUBJECT, 1, "import"), ("customers/acme/closed/body.txt.j2", 1, "import")]
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "acknowledgement")
    assert code == 0 and "Subject: [SUP-000123] Imported: Checkout fails" in out
    code, out, _ = run(capsys, "--config", config, "templates", "history", "acknowledgement", "--json")
    [entry] = json.loads(out)["versions"]
    assert (entry["path"], entry["author"], entry["message"], entry["origin"]) == (SUBJECT, "ada", "tone", "import")
    code, out, _ = run(capsys, "--config", config, "templates", "history")
    assert code == 0 and len(out.splitlines()) == 2 and "customers/acme/closed/body.txt.j2  v1  import  ada  tone" in out
    code, out, err = run(capsys, "--config", config, "templates", "rollback", SUBJECT, "0", "--json")
    assert code == 0 and json.loads(out)["origin"] == "rollback" and json.loads(out)["version"] == 2
    code, out, _ = run(capsys, "--config", config, "templates", "preview", "acknowledgement")
    assert "Imported:" not in out
    assert (ROOT / "templates" / SUBJECT).read_text() == (Path(config).parent / "templates" / SUBJECT).read_text()


def test_import_is_all_or_nothing(config: str, tmp_path: Path, capsys) -> None:
    """One broken file: nothing of the folder is stored, and the problem names file and line."""
    folder = tmp_path / "mine"
    (folder / "acknowledgement").mkdir(parents=True)
    (folder / SUBJECT).write_text("Fine: {{ ticket.subject }}")
    (folder / "closed").mkdir()
    (folder / "closed" / "body.txt.j2").write_text("ok\n{{ ticket.nope }}")
    code, out, err = run(capsys, "--config", config, "templates", "import", str(folder), "--message", "x", "--json")
    assert code == 1
    assert json.loads(out)["error"]["problems"] == ["templates/closed/body.txt.j2:2: 'ticket' has no attribute 'nope'"]
    code, out, _ = run(capsys, "--config", config, "templates", "history", "--json")
    assert json.loads(out)["versions"] == []
    (folder / "plans" / "gold" / "closed").mkdir(parents=True)
    (folder / "plans" / "gold" / "closed" / "body.txt.j2").write_text("no such plan")
    code, out, _ = run(capsys, "--config", config, "templates", "import", str(folder), "--message", "x", "--json")
    assert code == 1 and any("no plan 'gold'" in p for p in json.loads(out)["error"]["problems"])


def test_rollback_of_a_version_that_is_not_there(config: str, capsys) -> None:
    code, out, err = run(capsys, "--config", config, "templates", "rollback", SUBJECT, "7", "--json")
    assert code == 1 and "no version 7" in json.loads(out)["error"]["problems"][0]
    code, _, err = run(capsys, "--config", config, "templates", "rollback", "../../etc/passwd", "1")
    assert code == 1 and "not a template path" in err


def test_check_reads_the_current_versions(config: str, tmp_path: Path, capsys) -> None:
    """A broken file on disk that a saved version replaces is no longer a problem: the version is what is sent."""
    folder = tmp_path / "fix"
    (folder / "closed").mkdir(parents=True)
    (folder / "closed" / "body.txt.j2").write_text("Closed, fixed.")
    (Path(config).parent / "templates" / "closed" / "body.txt.j2").write_text("{{ ticket.nope }}")
    assert run(capsys, "--config", config, "templates", "check")[0] == 1
    code, _, err = run(capsys, "--config", config, "templates", "import", str(folder), "--message", "fix")
    assert code == 0, err
    assert run(capsys, "--config", config, "templates", "check")[0] == 0


def test_the_upgrade_imports_the_files_edited_on_disk_once(db_url: str, config: str, templates: Path, capsys) -> None:
    """Migration 0011 marks an installation that ran before; the first start imports the edited files
    (author "disk"), later starts import nothing again, and `import-from-disk` does it on demand."""
    (templates / SUBJECT).write_text("Edited on disk: {{ ticket.subject }}")
    from inbox.app import build_app
    from inbox.clock import FixedClock
    from inbox.settings import load_settings
    from tests.fakes import T0

    engine = make_engine(db_url)
    with engine.begin() as conn:  # what 0011 leaves on a database that held a service's state
        conn.execute(text("INSERT INTO service_state (key, value) VALUES ('templates_import_from_disk', 'pending')"))
    engine.dispose()
    app = build_app(load_settings(config), FixedClock(T0))
    try:
        app.template_watch()
        [version] = app.template_versions().audit()
        assert (version.path, version.author, version.origin) == (SUBJECT, "disk", "import")
        app.template_watch()  # a second start
        assert len(app.template_versions().audit()) == 1
    finally:
        app.close()
    (templates / "closed" / "body.txt.j2").write_text("Edited later.")
    code, out, err = run(capsys, "--config", config, "templates", "import-from-disk", "--json")
    assert code == 0 and [v["path"] for v in json.loads(out)["imported"]] == ["closed/body.txt.j2"]


def test_a_new_database_imports_nothing_at_first_start(db_url: str, config: str, templates: Path) -> None:
    (templates / SUBJECT).write_text("Edited on disk: {{ ticket.subject }}")
    from inbox.app import build_app
    from inbox.clock import FixedClock
    from inbox.settings import load_settings
    from tests.fakes import T0

    app = build_app(load_settings(config), FixedClock(T0))
    try:
        app.template_watch()
        assert app.template_versions().audit() == []
    finally:
        app.close()


def test_migration_0011_marks_an_installation_that_ran_and_its_downgrade_removes_the_table(db_url: str) -> None:
    """Upgrading a database that held state leaves the import mark; the downgrade drops the versions
    and the mark; upgrading again works."""
    from alembic import command
    from sqlalchemy import inspect

    from inbox.store.migrate import alembic_config, upgrade

    engine = make_engine(db_url)
    config = alembic_config(db_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "-1")
            assert "template_versions" not in inspect(conn).get_table_names()
            conn.execute(text("INSERT INTO service_state (key, value) VALUES ('message_id_secret', 'x')"))
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM service_state WHERE key = 'templates_import_from_disk'")
                                ).scalar_one() == "pending"
            assert "template_versions" in inspect(conn).get_table_names()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "-1")
            assert conn.execute(text("SELECT count(*) FROM service_state WHERE key = 'templates_import_from_disk'")
                                ).scalar_one() == 0
        upgrade(engine)
    finally:
        engine.dispose()
