"""A mail loop: two instances of the service, each a customer of the other, and a naive
autoresponder that answers everything, to everyone, with none of the headers that mark automatic
mail. Three simulated days of their mail, routed between them: the number of emails exchanged
stays bounded and small, and the exchange dies out.

Instance A (support@a.test, tickets AAA-) runs on the test's database, SQLite or PostgreSQL;
instance B (support@b.test, tickets BBB-) on a SQLite file of its own. Both run their jobs every
15 minutes of a frozen clock; every email either sends is delivered at once to its recipients.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from inbox.store.migrate import upgrade
from inbox.store.db import make_engine
from tests.fakes import mail
from tests.sla_kit import CONFIG, T0, Desk

STEP, DAYS = timedelta(minutes=15), 3
BOT = "bot@bot.test"


def _config(me: str, prefix: str, other: str) -> str:
    """The kit's config as instance `me` (a.test or b.test): the other instance and the bot are customers."""
    return (CONFIG.replace("support@example.com", f"support@{me}")
            .replace("tracking_prefix: SUP", f"tracking_prefix: {prefix}")
            .replace("  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com]}}",
                     f"  - {{{{id: peer, name: Peer, plan: standard, domains: [{other}]}}}}\n"
                     "  - {{id: bots, name: Bot Corp, plan: standard, domains: [bot.test]}}"))


class World:
    """Routes each email to its recipients: an instance ingests it, the bot answers it."""

    def __init__(self, a: Desk, b: Desk) -> None:
        self.desks = {"a.test": a, "b.test": b}
        self.seen = {"a.test": 0, "b.test": 0}
        self.delivered: Counter[str] = Counter()  # by sender -> recipient domain
        self.ids = itertools.count(1)

    def deliver(self, raw: bytes, rcpts: list[str]) -> None:
        sender = str(message_from_bytes(raw, policy=default)["From"])
        for rcpt in rcpts:
            domain = rcpt.rpartition("@")[2]
            self.delivered[f"{sender.rpartition('@')[2].rstrip('>')}->{domain}"] += 1
            if domain in self.desks:
                self.desks[domain].feed(raw)
            elif rcpt == BOT:
                self._bot_answers(raw)

    def _bot_answers(self, raw: bytes) -> None:
        """Reply-all, as a careless vacation responder does: no Auto-Submitted, no Precedence."""
        message = message_from_bytes(raw, policy=default)
        everyone = {a.addr_spec for h in ("From", "To", "Cc") for a in getattr(message[h], "addresses", ())} - {BOT}
        reply = mail(sender=f"Bot <{BOT}>", to=", ".join(sorted(everyone)), subject=f"Re: {message['Subject']}",
                     message_id=f"<bot{next(self.ids)}@bot.test>", in_reply_to=str(message["Message-ID"]),
                     body="Thank you for your email. I will answer it as soon as possible.\n")
        self.deliver(reply, sorted(everyone))

    def among_them(self) -> int:
        """Deliveries between the instances and the bot (the staff's own SLA alerts left out)."""
        return sum(n for route, n in self.delivered.items() if not route.endswith("example.com"))

    def turn(self, now) -> int:
        """Both instances run their jobs at `now`; what they send is delivered. Emails sent."""
        sent = 0
        for domain, desk in self.desks.items():
            desk.run(now)
            fresh = desk.transport.sent[self.seen[domain]:]
            self.seen[domain] += len(fresh)
            for out in fresh:
                sent += 1
                self.deliver(out.message, list(out.rcpt_tos))
        return sent


def test_two_instances_and_a_naive_autoresponder_do_not_loop(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    b_url = f"sqlite:///{tmp_path}/b/inbox.db"
    engine = make_engine(b_url)
    upgrade(engine)
    engine.dispose()
    a = Desk(tmp_path / "a", db_url, _config("a.test", "AAA", "b.test"))
    b = Desk(tmp_path / "b", b_url, _config("b.test", "BBB", "a.test"))
    world = World(a, b)
    try:
        for desk in (a, b):
            desk.clock.set(T0)
        # The bot writes to both; and each instance's address writes to the other (a forwarding rule).
        world.deliver(mail(sender=f"Bot <{BOT}>", to="support@a.test, support@b.test", subject="Hello",
                           message_id="<seed1@bot.test>"), ["support@a.test", "support@b.test"])
        world.deliver(mail(sender="support@b.test", to="support@a.test", subject="Fwd: a customer's problem",
                           message_id="<seed2@b.test>"), ["support@a.test"])
        world.deliver(mail(sender="support@a.test", to="support@b.test", subject="Fwd: another problem",
                           message_id="<seed3@a.test>"), ["support@b.test"])
        per_day, before = [], 0
        now = T0
        for _ in range(DAYS):
            for _ in range(int(timedelta(days=1) / STEP)):
                now += STEP
                for desk in (a, b):
                    desk.clock.set(now)
                world.turn(now)
            per_day.append(world.among_them() - before)
            before = world.among_them()
    finally:
        a.close()
        b.close()
    print(f"\nmail loop: emails among the two instances and the bot per day {per_day}, total {sum(per_day)}"
          f" (3 seeds); every delivery by route {dict(world.delivered)}")
    # Bounded and small: the acknowledgements of the three seeds and the bot's one answer to each on
    # day 1; on day 3 the plan's two-day status updates (low: "update: 2 days") and one answer each.
    # No email answers an automatic one, so nothing grows from one day to the next.
    assert sum(per_day) <= 20 and max(per_day) <= 10, per_day
    assert per_day[1] == 0, per_day  # between the cadences, silence: the chain ended
    assert world.delivered["a.test->b.test"] <= DAYS and world.delivered["b.test->a.test"] <= DAYS
