"""What a child process reports over its pipe reaches the parent's counters: each message of the
protocol in `inbox.processes` is routed to its callback, in order, until the pipe's end."""

from __future__ import annotations

import multiprocessing
import threading

from autoresponder.relay_login import RelayLogin
from inbox.clock import FixedClock
from inbox.domain.ticket import Outcome
from inbox.processes import Children, Link
from tests.fakes import T0

REASON = "127.0.0.1:587: oauth2 generic: no access token: invalid_client"


def test_the_parent_routes_each_report_of_a_child_to_its_callback() -> None:
    heard: list[tuple[object, ...]] = []
    children = Children(settings=lambda: None, clock=FixedClock(T0), groups=[],  # type: ignore[arg-type]
                        processed=lambda source, outcome: heard.append(("processed", source, outcome)),
                        turned=lambda failed, refused, done: heard.append(("turned", failed, done)),
                        ingested=lambda outcome, seconds: heard.append(("ingested", outcome, seconds)),
                        quarantined=lambda source: heard.append(("quarantined", source)),
                        acknowledged=lambda seconds: heard.append(("acknowledged", seconds)),
                        relay_login=lambda reason: heard.append(("relay", reason)))
    ours, theirs = multiprocessing.Pipe(duplex=True)
    reader = threading.Thread(target=children._read, args=(Link(ours), threading.Event()), daemon=True)
    reader.start()
    child = Link(theirs)
    child.send("processed", "smtp", "opened")
    child.send("quarantined", "imap:support")
    child.send("ingested", "opened", 0.25)
    child.send("acknowledged", 1.5)
    child.send("turned", False, [], {"sent:acknowledgement": 1})
    child.send("relay", REASON)
    child.send("relay", None)
    child.close()
    reader.join(10)
    assert not reader.is_alive(), "the reader did not stop at the pipe's end"
    assert heard == [("processed", "smtp", Outcome.OPENED), ("quarantined", "imap:support"),
                     ("ingested", Outcome.OPENED, 0.25), ("acknowledged", 1.5),
                     ("turned", False, {"sent:acknowledgement": 1}), ("relay", REASON), ("relay", None)]


def test_the_relay_login_keeps_the_first_failure_time_until_a_login_works() -> None:
    """What /healthz reads of the sending child's logins to the relay (the parent's `RelayLogin`)."""
    clock = FixedClock(T0)
    relay = RelayLogin(clock)
    assert relay.failing is None
    relay.heard(REASON)
    clock.set(T0.replace(hour=18))
    relay.heard(REASON.replace("invalid_client", "temporarily_unavailable"))
    assert relay.failing == {"reason": REASON.replace("invalid_client", "temporarily_unavailable"),
                             "since": T0.isoformat()}
    relay.heard(None)
    assert relay.failing is None
    relay.heard(REASON)
    assert relay.failing == {"reason": REASON, "since": T0.replace(hour=18).isoformat()}
