"""SQLite writers queue on `<database>.lock` (inbox.store.write_lock), across threads and processes.

A real file database, real processes holding the lock. Waits are bounded Event waits; the one
short wait (`HELD`) checks that a writer did NOT get in while another held the lock.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from sqlalchemy import text

from inbox.store.db import make_engine

BOUND = 30.0  # a bound on a hang, not a deadline
HELD = 0.3  # how long a writer is watched not getting in


def _hold_flock(path: str, conn: Connection) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    conn.send("holding")
    conn.recv()  # until told to let go (or killed)
    fcntl.flock(fd, fcntl.LOCK_UN)


def _try_flock(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.fixture
def db(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path}/inbox.db", durable=False)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE n (v INTEGER)"))
    yield engine, f"{tmp_path}/inbox.db.lock"
    engine.dispose()


def _writer(engine) -> threading.Event:
    entered = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            entered.set()
            conn.execute(text("INSERT INTO n VALUES (1)"))

    threading.Thread(target=write, daemon=True).start()
    return entered


@pytest.mark.parametrize("ending", ["commit", "let go"])
def test_a_writer_waits_while_another_process_holds_the_lock_and_goes_when_it_is_let_go(db, ending: str) -> None:
    engine, lock = db
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    holder = context.Process(target=_hold_flock, args=(lock, theirs))
    holder.start()
    try:
        assert ours.poll(BOUND) and ours.recv() == "holding"
        entered = _writer(engine)
        assert not entered.wait(HELD), "a writer began while another process held the lock"
        if ending == "commit":
            ours.send("go")
        else:
            os.kill(holder.pid, signal.SIGKILL)  # a holder that dies lets go with its file descriptor
        assert entered.wait(BOUND)
    finally:
        holder.kill()
        holder.join(BOUND)


def test_the_lock_is_let_go_after_commit_rollback_and_an_abandoned_session(db) -> None:
    engine, lock = db
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO n VALUES (1)"))
    assert _try_flock(lock)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(text("INSERT INTO n VALUES (2)"))
        raise RuntimeError("a failed batch")
    assert _try_flock(lock)
    conn = engine.connect()
    conn.begin()
    conn.execute(text("INSERT INTO n VALUES (3)"))
    conn.close()  # returned to the pool without a commit: the pool rolls it back
    assert _try_flock(lock)
    with engine.connect() as check:
        assert check.execute(text("SELECT v FROM n")).scalars().all() == [1]


def test_threads_of_one_process_take_turns(db) -> None:
    """Two threads of one process: the second waits for the first's commit (one thread lock, one flock)."""
    engine, _ = db
    first_in, release = threading.Event(), threading.Event()

    def first() -> None:
        with engine.begin() as conn:
            first_in.set()
            conn.execute(text("INSERT INTO n VALUES (1)"))
            release.wait(BOUND)

    thread = threading.Thread(target=first, daemon=True)
    thread.start()
    assert first_in.wait(BOUND)
    entered = _writer(engine)
    assert not entered.wait(HELD)
    release.set()
    assert entered.wait(BOUND)
    thread.join(BOUND)
