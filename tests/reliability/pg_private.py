"""A private PostgreSQL server for one test: started from Debian's binaries on a free port, in a
temporary directory, so a test may stop it (even crash-like) without touching the shared server.

As root, the binaries run as the `postgres` OS user (PostgreSQL refuses to run as root). The
server is always stopped and its directory removed by the fixture's teardown, even on failure.
Missing binaries are a skip on a laptop and a failure under CI=true (`missing_service`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text

from inbox.store.db import make_engine
from inbox.store.migrate import upgrade
from tests.conftest import missing_service
from tests.durability.serve import free_port

DATABASE = "inbox"


def _bin_dir() -> Path | None:
    """The newest installed /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")
             if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists()]
    if not found:
        return None
    return max(found, key=lambda d: [int(p) if p.isdigit() else 0 for p in d.parent.name.split(".")])


class PrivatePostgres:
    """One throwaway cluster: `start()`, `stop(mode)`, `start()` again, `destroy()`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # A short path under /tmp: the Unix socket lives here, and socket paths are limited to ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pgp-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as_postgres, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n"
                               f"{self.log.read_text() if self.log.exists() else ''}")

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash-like stop (no checkpoint, clients cut off); `fast` is a clean one."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        finally:
            admin.dispose()
        engine = make_engine(self.url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def destroy(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL with database `inbox` migrated; stopped and removed afterwards.
    Use it in a fixture (`with private_postgres() as pg: yield pg`)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        missing_service("PostgreSQL binaries (/usr/lib/postgresql/*/bin: initdb, pg_ctl)")
        return
    server = PrivatePostgres(bin_dir)
    try:
        server.init()
        server.start()
        server.create_database()
        yield server
    finally:
        server.destroy()
