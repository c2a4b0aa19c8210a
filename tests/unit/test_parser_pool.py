"""Parsing in worker processes gives what parsing here gives, and survives a dead worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from inbox.ingest.parser_pool import InProcessParser, PoolParser
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


def test_parser_processes_collect_at_the_services_pace() -> None:
    """A parser process sets its collector as every process of `inbox serve` does (`inbox.heap`),
    not at Python's default of a young collection every 700 allocations."""
    import gc

    from inbox.heap import OLDER, YOUNG

    assert (YOUNG, *OLDER) != (700, 10, 10)  # a spawned process starts at the default

    pool = PoolParser(1)
    try:
        pool.submit(MAILS[:1])()
        assert pool._pool.submit(gc.get_threshold).result(timeout=60) == (YOUNG, *OLDER)  # noqa: SLF001
    finally:
        pool.close()


def _started(pool: PoolParser, bound: float = 60) -> PoolParser:
    deadline = time.monotonic() + bound
    while not pool.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.started, "the parser pool did not start"
    return pool


def test_batches_are_parsed_here_while_the_pool_starts() -> None:
    """A batch submitted before the pool's processes are up is parsed in this process, not queued
    behind their start; once they answer, batches go to them, with the same results."""
    pool = PoolParser(1)
    try:
        assert not pool.started  # spawning and importing takes far longer than this line
        assert pool.submit(MAILS)() == InProcessParser().submit(MAILS)()
        _started(pool)
        assert pool.submit(MAILS)() == InProcessParser().submit(MAILS)()
    finally:
        pool.close()


def test_a_started_pool_that_loses_its_process_parses_here_and_restarts() -> None:
    """After the pool is up, a parser process killed mid-batch loses nothing: the batch is parsed
    here, and the restarted pool takes batches again once it is up."""
    pool = _started(PoolParser(1))
    try:
        for pid in list(pool._pool._processes):  # noqa: SLF001 - the test plays the OOM killer
            os.kill(pid, signal.SIGKILL)
        results = pool.submit(MAILS)()
        assert [r.message_id for r in results] == [r.message_id for r in InProcessParser().submit(MAILS)()]
        assert _started(pool).submit(MAILS[:2])()[1].subject == "s1"
    finally:
        pool.close()


SERVICE = """
import sys
from inbox.ingest.parser_pool import PoolParser
pool = PoolParser(1)
pool.submit([b"Subject: warm up\\r\\n\\r\\nhi"])()
print(" ".join(str(pid) for pid in pool._pool._processes), flush=True)
sys.stdin.read()  # until the test kills this process
"""


def test_parser_processes_leave_when_the_service_is_killed() -> None:
    """SIGKILL (or the OOM killer) on the service cannot stop its pool: the workers notice and exit."""
    service = subprocess.Popen([sys.executable, "-c", SERVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert service.stdout is not None
        workers = [int(pid) for pid in service.stdout.readline().split()]
        assert len(workers) == 1 and all(_alive(pid) for pid in workers)
        service.kill()
        service.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "parser processes outlived the service"
    finally:
        service.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().split(")")[-1].split()[0] != "Z"
