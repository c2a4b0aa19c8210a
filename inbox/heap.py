"""The cyclic garbage collector's pace in the service's long-running processes.

CPython collects its youngest generation after every 700 net allocations of container objects.
Ingesting a batch allocates hundreds of thousands (parsed mails, rows, events), nearly all freed
by reference counting within the batch; at the default pace the collector scanned the batch's
live objects again and again, every tenth pass the middle generation as well, and about every
hundredth the whole heap, the started service (settings, compiled statements, templates: over
100,000 objects) with it. That was 3-7 % of an ingest's time (`bench/ingest.py`, timed with
gc.callbacks). A young generation of 10,000 makes those passes rare, and each older generation
is collected after 20 collections of the one below it (the default is 10). Garbage in cycles is
still found, only later: what it holds meanwhile stays small beside a batch.

`gc.freeze()` would skip the started objects too, but they would then never be freed, even
when a config reload replaces them: not used.

Standard library only. Called where a process starts its work: the command line's `main` (every
command, `serve` and `ingest` among them), each role child of `serve`, each parser process.
"""

from __future__ import annotations

import gc

YOUNG = 10_000  # the default is 700
OLDER = (20, 20)  # collections of the younger generation between collections of the next (default 10, 10)


def pace_collector() -> None:
    """Set this process's collector to the service's pace (idempotent)."""
    gc.set_threshold(YOUNG, *OLDER)
