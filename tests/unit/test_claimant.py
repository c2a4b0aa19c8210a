"""The stamp a process claims work with, and when its writer is provably gone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from inbox.claimant import Claimant


def test_a_stamp_names_host_pid_and_token() -> None:
    me = Claimant("web-1", 1, "abcd1234")
    assert me.owner == "web-1:1:abcd1234"


def test_a_process_of_this_host_that_runs_no_more_is_dead() -> None:
    me = Claimant("web-1", 1, "abcd1234", alive=lambda pid: pid == 7)
    assert me.is_dead("web-1:8:ffff0000")
    assert not me.is_dead("web-1:7:ffff0000")
    assert me.is_dead("web-1:8:ffff0000:solo")  # a queue's marker is read past


def test_an_earlier_life_of_the_same_pid_is_dead_and_this_one_is_not() -> None:
    me = Claimant("web-1", 1, "abcd1234", alive=lambda pid: True)  # PID 1 again, after a restart
    assert me.is_dead("web-1:1:00000000")
    assert me.is_dead("web-1:1:abcd12")  # a prefix of the token is another token
    assert not me.is_dead("web-1:1:abcd1234")
    assert not me.is_dead("web-1:1:abcd1234:solo")


def test_another_hosts_stamp_is_never_judged_dead() -> None:
    me = Claimant("web-1", 1, "abcd1234", alive=lambda pid: False)
    assert not me.is_dead("web-2:8:ffff0000")
    assert not me.is_dead("web-10:8:ffff0000")  # not a prefix match on the host


def test_a_stamp_no_process_of_ours_wrote_is_dead_on_this_host() -> None:
    me = Claimant("web-1", 1, "abcd1234")
    assert me.is_dead("web-1:x:y")
    assert me.is_dead("web-1")


def test_a_process_that_exited_but_is_not_reaped_yet_is_dead() -> None:
    """A zombie still answers a signal; its claims must be taken back all the same (a killed
    `serve`'s children are zombies until whoever reaps orphans gets to them)."""
    me = Claimant.of_this_process()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        end = time.monotonic() + 30  # a bound on a hang: the child exits at once, unreaped
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < end, "the child never exited"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # the signal still finds it
        assert me.is_dead(f"{me.host}:{child.pid}:ffff0000")
    finally:
        child.wait()
    assert me.is_dead(f"{me.host}:{child.pid}:ffff0000")
    assert not me.is_dead(me.owner)
