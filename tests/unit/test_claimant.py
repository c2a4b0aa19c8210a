"""The stamp a process claims work with, and when its writer is provably gone."""

from __future__ import annotations

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
