"""Parsing in worker processes gives what parsing here gives, and survives a dead worker."""

from __future__ import annotations

import os
import signal

from inbox.ingest.parsers import InProcessParser, PoolParser
from tests.fakes import dsn, mail

MAILS = [mail(message_id=f"<p{i}@acme.com>", subject=f"s{i}") for i in range(40)] + [dsn(mail()), b"", b"\xff\xfe"]


def test_pool_parses_like_this_process() -> None:
    """The pool returns the same ParsedMessages, in order, as parsing in this process."""
    pool = PoolParser(1)
    try:
        assert pool.submit(MAILS)() == InProcessParser().submit(MAILS)()
    finally:
        pool.close()


def test_dead_parser_process_falls_back_to_this_process() -> None:
    """A parser process killed mid-batch loses nothing: the batch is parsed here, the pool restarts."""
    pool = PoolParser(1)
    try:
        pool.submit(MAILS[:1])()  # the worker process is up
        for pid in list(pool._pool._processes):  # noqa: SLF001 - the test plays the OOM killer
            os.kill(pid, signal.SIGKILL)
        results = pool.submit(MAILS)()
        assert [r.message_id for r in results] == [r.message_id for r in InProcessParser().submit(MAILS)()]
        assert pool.submit(MAILS[:2])()[1].subject == "s1"  # and the restarted pool works
    finally:
        pool.close()
