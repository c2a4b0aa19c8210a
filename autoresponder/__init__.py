"""Everything outbound: policy, rendering, composing, transport, dispatch, jobs, schedule.

Only `inbox.app` imports it. `Outbound.run_once(now)` is one turn of the scheduled work: the SLA
sweep first (it queues emails), then the outbox, so everything due by `now` is sent or tried.
Each turn reads the desk in effect from the `CurrentDesk` as it starts: a config reload reaches
the next turn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from inbox.tickets import CurrentDesk, sweep

if TYPE_CHECKING:  # a process that does not send (ingest only imports `relay_login`) loads no Jinja2
    from autoresponder.dispatch import Dispatcher


@dataclass
class Outbound:
    sessions: sessionmaker[Session]
    current: CurrentDesk
    dispatcher: Dispatcher

    def run_once(self, now: datetime) -> Counter[str]:
        """Every job once on the clock reading `now`, the outbox sender last, with what is still due
        and why (`waiting` behind an earlier email, `left` unexplained): nothing else is."""
        done = sweep(self.sessions, self.current.get(), now)
        done.update(self.dispatcher.run(now))
        return done
