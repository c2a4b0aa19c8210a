"""What a child process reports over its pipe reaches the parent's counters: each message of the
protocol in `inbox.processes` is routed to its callback, in order, until the pipe's end."""

from __future__ import annotations

import multiprocessing
import threading

from inbox.clock import FixedClock
from inbox.domain.ticket import Outcome
from inbox.processes import Children, Link
from tests.fakes import T0


def test_the_parent_routes_each_report_of_a_child_to_its_callback() -> None:
    heard: list[tuple[object, ...]] = []
    children = Children(settings=lambda: None, clock=FixedClock(T0), groups=[],  # type: ignore[arg-type]
                        processed=lambda source, outcome: heard.append(("processed", source, outcome)),
                        turned=lambda failed, refused, done: heard.append(("turned", failed, done)),
                        ingested=lambda outcome, seconds: heard.append(("ingested", outcome, seconds)),
                        quarantined=lambda source: heard.append(("quarantined", source)),
                        acknowledged=lambda seconds: heard.append(("acknowledged", seconds)))
    ours, theirs = multiprocessing.Pipe(duplex=True)
    reader = threading.Thread(target=children._read, args=(Link(ours), threading.Event()), daemon=True)
    reader.start()
    child = Link(theirs)
    child.send("processed", "smtp", "opened")
    child.send("quarantined", "imap:support")
    child.send("ingested", "opened", 0.25)
    child.send("acknowledged", 1.5)
    child.send("turned", False, [], {"sent:acknowledgement": 1})
    child.close()
    reader.join(10)
    assert not reader.is_alive(), "the reader did not stop at the pipe's end"
    assert heard == [("processed", "smtp", Outcome.OPENED), ("quarantined", "imap:support"),
                     ("ingested", Outcome.OPENED, 0.25), ("acknowledged", 1.5),
                     ("turned", False, {"sent:acknowledgement": 1})]
