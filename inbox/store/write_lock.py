"""One queue for SQLite's one writer, across the threads and processes of one database file.

Why: SQLite lets one transaction write at a time; a writer that finds the file locked sleeps
and polls (its busy handler waits 1, 2, 5, 10 ... up to 100 ms between tries), so under load
writers in different processes spend most of a storm asleep while the lock is free. Here a
writer first takes a thread lock (threads of one process queue in order) and then an exclusive
`flock` on `<database>.lock` (processes queue in the kernel, and the next one wakes the moment
the holder lets go), and only then issues BEGIN IMMEDIATE.

Protocol: `acquire(conn)` before BEGIN, `release(conn)` after COMMIT or ROLLBACK has returned,
from any thread; a release by a connection that does not hold it does nothing (a pool's reset
rolls back connections that never began).
SQLite's own lock stays the authority: another program that ignores this file (the sqlite3
shell, a restore) is still kept out by SQLite, and after `WAIT_SECONDS` without the thread lock
a writer goes on to BEGIN and lets SQLite's busy timeout decide, so a stuck thread turns into
SQLite's "database is locked" error rather than a hang. A process that dies holding the lock
loses it with its file descriptor.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

WAIT_SECONDS = 30.0
# How long any connection to a SQLite file, writer or reader, waits on SQLite's own lock before
# "database is locked" (its busy timeout): the wait this queue falls back to.
BUSY_TIMEOUT_MS = 30_000


class WriteLock:
    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".lock")
        self._thread_lock = threading.Lock()  # a plain Lock: any thread may release it (a pool's reset)
        self._fd: int | None = None  # opened at first use: the database's folder may not exist yet
        self._holder: object | None = None  # the connection whose transaction holds it

    def acquire(self, holder: object) -> None:
        if self._holder is holder:
            return
        if not self._thread_lock.acquire(timeout=WAIT_SECONDS):
            return  # SQLite's busy timeout decides from here
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except OSError:
            self._thread_lock.release()
            return  # an unwritable folder: SQLite's own lock still serialises the writers
        self._holder = holder

    def release(self, holder: object) -> None:
        if self._holder is not holder:
            return
        self._holder = None
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd
