"""The scheduler's thread: a wake runs a turn soon, wakes during a turn coalesce, the tick is a safety net."""

from __future__ import annotations

import threading

import pytest

from autoresponder.schedule import JobScheduler

BOUND = 10.0  # seconds an Event is waited for: a bound on a hang, never a deadline slept through
NEVER = 86_400.0  # an interval no test lives to see: every turn after the first is a wake's


class GatedTurn:
    """A turn that reports each start and, while `gate` is clear, holds there."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.gate = threading.Event()
        self.gate.set()
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        self.started.release()
        assert self.gate.wait(BOUND)


@pytest.fixture
def turn() -> GatedTurn:
    return GatedTurn()


def test_the_first_turn_runs_at_start_and_then_it_waits(turn: GatedTurn) -> None:
    """Started, it turns once at once (what a previous process left goes now), then idles."""
    scheduler = JobScheduler(turn, NEVER)
    scheduler.start()
    try:
        assert turn.started.acquire(timeout=BOUND)
        assert scheduler.idle.wait(BOUND)
        assert (scheduler.turns, turn.count) == (1, 1)
    finally:
        scheduler.stop()


def test_a_wake_runs_one_turn_without_the_tick(turn: GatedTurn) -> None:
    """With an interval of a day, each wake after the first turn leads to one more turn."""
    scheduler = JobScheduler(turn, NEVER)
    scheduler.start()
    try:
        assert scheduler.idle.wait(BOUND)
        for expected in (2, 3):
            scheduler.idle.clear()
            scheduler.wake()
            assert scheduler.idle.wait(BOUND)
            assert scheduler.turns == expected
    finally:
        scheduler.stop()


def test_wakes_during_a_turn_coalesce_into_exactly_one_more_turn(turn: GatedTurn) -> None:
    """Ten wakes while a turn runs: one turn after it, then the scheduler idles; never a pile of ten."""
    turn.gate.clear()
    scheduler = JobScheduler(turn, NEVER)
    scheduler.start()
    try:
        assert turn.started.acquire(timeout=BOUND)  # the first turn is running, held at the gate
        for _ in range(10):
            scheduler.wake()
        assert not scheduler.idle.is_set()
        turn.gate.set()
        assert turn.started.acquire(timeout=BOUND)  # the one more turn
        assert scheduler.idle.wait(BOUND)
        assert (scheduler.turns, turn.count) == (2, 2)
        assert not turn.started.acquire(blocking=False)
    finally:
        scheduler.stop()


def test_the_tick_turns_without_any_wake() -> None:
    """The safety net: with no wake at all, turns keep coming every interval."""
    three = threading.Event()
    turns: list[int] = []

    def count() -> None:
        turns.append(1)
        if len(turns) >= 3:
            three.set()

    scheduler = JobScheduler(count, 0.01)
    scheduler.start()
    try:
        assert three.wait(BOUND)
    finally:
        scheduler.stop()


def test_a_failing_turn_is_counted_and_the_next_one_runs() -> None:
    """A turn that raises is logged and counted; the scheduler goes on turning."""
    calls: list[int] = []

    def fail_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database down")

    scheduler = JobScheduler(fail_once, NEVER)
    scheduler.start()
    try:
        assert scheduler.idle.wait(BOUND)
        scheduler.idle.clear()
        scheduler.wake()
        assert scheduler.idle.wait(BOUND)
        assert (scheduler.turns, scheduler.failures, len(calls)) == (2, 1, 2)
    finally:
        scheduler.stop()


def test_stop_waits_for_the_running_turn_and_starts_no_other(turn: GatedTurn) -> None:
    """stop() returns after the running turn ends; a wake pending at the stop runs nothing."""
    turn.gate.clear()
    scheduler = JobScheduler(turn, NEVER)
    scheduler.start()
    assert turn.started.acquire(timeout=BOUND)
    scheduler.wake()
    stopped = threading.Thread(target=scheduler.stop)
    stopped.start()
    stopped.join(0.05)
    assert stopped.is_alive()  # still waiting for the held turn
    turn.gate.set()
    stopped.join(BOUND)
    assert not stopped.is_alive()
    assert (scheduler.turns, turn.count) == (1, 1)


@pytest.mark.parametrize("interval", [0, -1.0])
def test_an_interval_that_is_not_positive_is_refused(interval: float) -> None:
    """A zero interval would spin the thread; refused at construction (the config says the same)."""
    with pytest.raises(ValueError, match="positive"):
        JobScheduler(lambda: None, interval)
