"""The `inbox` command starts at once (issue 23): what a command loads, `--version`, and the
errors a command gives before it touches any data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from inbox.clock import TEST_CLOCK_ENV
from tests.fakes import write_config

ROOT = Path(__file__).resolve().parents[2]
# What `import inbox.cli` must not load: each is a command's own work, not the command line's.
HEAVY = ("alembic", "dkim", "jinja2", "mailparser", "inbox.ingest.pipeline", "inbox.store.backup",
         "autoresponder", "sqlalchemy", "msal", "google.auth", "authlib", "inbox.oauth")


def inbox(*argv: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: no test clock (whose warning would be a line of stderr)."""
    env = {k: v for k, v in os.environ.items() if k != TEST_CLOCK_ENV}
    return subprocess.run([sys.executable, "-m", "inbox", *argv], capture_output=True, text=True, cwd=ROOT, env=env)


def test_importing_the_cli_loads_no_heavy_module() -> None:
    """`import inbox.cli` (all `inbox --help` needs) loads no Alembic, DKIM, Jinja2, mail parser,
    ingest pipeline, backup code, templates or SQLAlchemy: each command imports its own."""
    proc = subprocess.run([sys.executable, "-c", "import inbox.cli, sys; print('\\n'.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = proc.stdout.split()
    assert [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)] == []


def test_help_needs_no_config() -> None:
    """`inbox --help` prints the commands and exits 0 without reading a config."""
    proc = inbox("--config", "/nonexistent/inbox.yaml", "--help")
    assert proc.returncode == 0 and "tickets" in proc.stdout


def test_version_is_the_installed_packages() -> None:
    """`inbox --version` prints the version in the installed package's metadata and exits 0."""
    proc = inbox("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"inbox {version('inbox')}\n", "")


@pytest.mark.parametrize("argv", [("tickets", "list"), ("tickets", "show", "SUP-000001"), ("report", "sla")])
def test_read_only_command_never_creates_the_database(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """A read-only command on a SQLite file that is not there says so in one line, exits 2 and
    creates neither the file nor its folder."""
    db = tmp_path / "var" / "inbox.db"
    config = write_config(tmp_path, f"sqlite:///{db}")
    proc = inbox("--config", str(config), *argv)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{config}: database.url: no database at {db}: run `inbox db upgrade` to create it"]
    assert not db.parent.exists()


def test_missing_database_with_json_is_one_document(tmp_path: Path) -> None:
    """With --json the same refusal is one error document of kind `database`."""
    db = tmp_path / "inbox.db"
    config = write_config(tmp_path, f"sqlite:///{db}")
    proc = inbox("--config", str(config), "tickets", "list", "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["kind"] == "database"
    assert not db.exists()


def test_db_upgrade_still_creates_the_database(tmp_path: Path) -> None:
    """`db upgrade` is the command that creates the file; after it, `tickets list` reads it."""
    db = tmp_path / "var" / "inbox.db"
    config = str(write_config(tmp_path, f"sqlite:///{db}"))
    assert inbox("--config", config, "db", "upgrade").returncode == 0
    proc = inbox("--config", config, "tickets", "list", "--json")
    assert (proc.returncode, proc.stdout) == (0, "[]\n")


@pytest.mark.parametrize("value", ["yesterday", "2026-03-04T17:00:00", ""])
def test_bad_as_of_is_one_clear_line(value: str) -> None:
    """A bad --as-of exits 2 with argparse's usage line and one error line that names the option
    and shows a good value: no Python exception text."""
    proc = inbox("jobs", "run-once", "--as-of", value)
    assert proc.returncode == 2 and proc.stdout == ""
    usage, error = proc.stderr.splitlines()
    assert usage.startswith("usage: inbox jobs run-once")
    assert error == (f"inbox jobs run-once: error: argument --as-of: {value!r} is not an ISO 8601 instant "
                     "with an offset, such as 2026-03-04T17:00:00Z")


def test_bad_as_of_with_json_is_one_usage_document() -> None:
    """With --json a bad --as-of is a `usage` error document carrying the same line."""
    proc = inbox("jobs", "run-once", "--json", "--as-of", "yesterday")
    error = json.loads(proc.stdout)["error"]
    assert proc.returncode == 2 and error["kind"] == "usage"
    assert "isoformat" not in error["message"] and "'yesterday' is not an ISO 8601 instant" in error["message"]


@pytest.mark.parametrize("argv", [("tickets", "list", "--json"), ("tickets", "list", "--search", "printer"),
                                  ("tickets", "show", "SUP-000001", "--json")])
def test_listing_and_showing_load_no_sqlalchemy(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """`tickets list` and `tickets show` read through the driver itself (inbox/store/reader.py):
    run in full on a real database, they load no SQLAlchemy, ORM or Core (a third of their start),
    no Alembic and no app; and they found the ticket."""
    from tests.fakes import mail

    config = write_config(tmp_path, f"sqlite:///{tmp_path}/inbox.db")
    assert inbox("--config", str(config), "db", "upgrade").returncode == 0
    (tmp_path / "one.eml").write_bytes(mail())
    assert inbox("--config", str(config), "ingest", str(tmp_path / "one.eml")).returncode == 0
    code = ("import sys; from inbox.cli import main; status = main(sys.argv[1:]); "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic') or m == 'inbox.app']; "
            "print(status, sorted(loaded), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k != TEST_CLOCK_ENV}
    proc = subprocess.run([sys.executable, "-c", code, "--config", str(config), *argv], capture_output=True,
                          text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0 and proc.stderr.splitlines()[-1] == "0 []", proc.stderr
    assert "SUP-000001" in proc.stdout


def test_a_reader_that_stops_reading_gets_no_traceback(tmp_path: Path) -> None:
    """`inbox tickets show T --json | head -c 100`: the command's stdout closes while it writes
    (its 100 KB are more than a pipe holds); it stops quietly with 141 (as SIGPIPE would), no
    traceback, no JSON error document."""
    from tests.fakes import mail

    config = write_config(tmp_path, f"sqlite:///{tmp_path}/inbox.db")
    assert inbox("--config", str(config), "db", "upgrade").returncode == 0
    (tmp_path / "long.eml").write_bytes(mail(body="A long report line.\n" * 20_000))
    assert inbox("--config", str(config), "ingest", str(tmp_path / "long.eml")).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != TEST_CLOCK_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "inbox", "--config", str(config), "tickets", "show", "SUP-000001",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env, bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(100)
    proc.stdout.close()  # the reader goes away with most of the ticket unread
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert first.startswith(b'{"tracking": "SUP-000001"') and err == ""
