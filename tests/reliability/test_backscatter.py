"""Backscatter: mail from forged senders must not turn the desk into a mail cannon aimed at them, on
SQLite and PostgreSQL.

From is free to forge, and the hourly limit counts per address: 200 mails from 200 forged
addresses at one domain got 200 acknowledgements. Every mail still opens its ticket (nothing
accepted is lost); what is held back is our email, and the ticket says why. Senders whose domain
is proven are told apart with real DKIM signatures (the test's DNS publishes the key).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from inbox.domain.ticket import Outcome
from inbox.settings import ConfigError, load_settings
from tests.dkim_kit import Key, dns_for, sign
from tests.fakes import mail
from tests.sla_kit import CONFIG, T0, Desk

AT = T0 + timedelta(minutes=5)
VICTIM = "victim.test"
BUDGET = 20  # outbound.new_sender_acks_per_domain_hour's default


def forged(n: int, domain: str = VICTIM, start: int = 0) -> list[bytes]:
    """`n` mails from `n` different addresses at `domain`, as a spammer forges them."""
    return [mail(sender=f"user{i}@{domain}", subject=f"Invoice {i}", message_id=f"<spam{i}.{domain}@spam.test>",
                 body="Please see the attached invoice.\n") for i in range(start, start + n)]


def acknowledged(desk: Desk) -> Counter[str]:
    """How many acknowledgements each address was sent."""
    return Counter(m["To"].addresses[0].addr_spec for m in desk.sent() if m["Subject"].startswith("[SUP-"))


def with_config(**edits: str) -> str:
    config = CONFIG
    for old, new in edits.items():
        assert old in config, old
        config = config.replace(old, new)
    return config


@pytest.fixture
def desks(tmp_path: Path, db_url: str):
    """Desks on the test's database, each with a config of its own, closed at the end."""
    made: list[Desk] = []

    def build(config: str = CONFIG, dns=None) -> Desk:
        home = tmp_path / f"desk{len(made)}"
        home.mkdir()
        made.append(Desk(home, db_url, config, dns=dns))
        return made[-1]

    yield build
    for desk in made:
        desk.close()


def test_200_forged_senders_at_one_domain_get_at_most_the_budget_of_acknowledgements(desks) -> None:
    """200 forged addresses at one domain in one hour: 200 tickets, 20 acknowledgements, 180 tickets saying why."""
    desk = desks()
    assert desk.feed_many(forged(200), at=AT) == Counter({Outcome.OPENED: 200})
    desk.run(AT)
    sent = acknowledged(desk)
    assert sum(sent.values()) == BUDGET and set(sent.values()) == {1}
    held = [e for n in range(1, 201) for e in desk.events(f"SUP-{n:06d}", kind="notice_skipped")]
    assert len(held) == 200 - BUDGET
    assert {e.detail["rule"] for e in held} == {"new-sender-budget"}
    assert "the 200th sender we have never emailed to write from victim.test" in held[-1].detail["why"]
    # The same 200 forged again an hour later: the 20 we answered are known now, the rest still are not.
    again = AT + timedelta(hours=1)
    assert desk.feed_many([m.replace(b"<spam", b"<again") for m in forged(200)], at=again)[Outcome.OPENED] == 200
    desk.run(again)
    assert sum(acknowledged(desk).values()) == BUDGET + 2 * BUDGET  # this hour: the 20 known, and 20 new


def test_a_sender_we_have_emailed_and_a_customers_people_pass_a_spent_budget(desks) -> None:
    """With a domain's budget spent, a sender we answered before is still acknowledged, and so is every
    new person at a customer's domain (an outage storm is a customer's people writing at once)."""
    desk = desks()
    assert desk.feed(mail(sender=f"newbie@{VICTIM}", message_id="<n1@victim>"), at=T0) == Outcome.OPENED
    desk.run(T0)
    assert desk.feed_many(forged(30), at=AT)[Outcome.OPENED] == 30
    desk.run(AT)
    assert sum(n for a, n in acknowledged(desk).items() if a.startswith("user")) == BUDGET - 1  # newbie took one
    later = AT + timedelta(minutes=10)
    assert desk.feed(mail(sender=f"newbie@{VICTIM}", subject="Another thing", message_id="<n2@victim>"),
                     at=later) == Outcome.OPENED
    storm = [mail(sender=f"staff{i}@acme.com", subject=f"Down {i}", message_id=f"<d{i}@acme.com>") for i in range(30)]
    assert desk.feed_many(storm, at=later)[Outcome.OPENED] == 30
    desk.run(later)
    sent = acknowledged(desk)
    assert sent[f"newbie@{VICTIM}"] == 2
    assert sum(n for a, n in sent.items() if a.endswith("@acme.com")) == 30


def test_two_instances_on_one_database_share_one_budget(desks) -> None:
    """Two instances taking turns on one database's forged mail acknowledge 20 in all, not 20 each."""
    one, two = desks(), desks()
    for i, raw in enumerate(forged(60)):
        assert (one if i % 2 else two).feed(raw, at=AT) == Outcome.OPENED
    one.run(AT)
    two.run(AT)
    assert sum(acknowledged(one).values()) + sum(acknowledged(two).values()) == BUDGET


@pytest.mark.parametrize("budget, expected", [("5", 5), ("null", 30)])
def test_the_budget_is_configurable_and_null_turns_it_off(desks, budget: str, expected: int) -> None:
    """outbound.new_sender_acks_per_domain_hour: 5 acknowledges 5 forged senders of 30; null all 30."""
    desk = desks(with_config(**{"max_auto_per_hour: 3}}": "max_auto_per_hour: 3, new_sender_acks_per_domain_hour: "
                                                          + budget + "}}"}))
    assert desk.feed_many(forged(30), at=AT)[Outcome.OPENED] == 30
    desk.run(AT)
    assert sum(acknowledged(desk).values()) == expected


def test_under_authenticated_only_proven_strangers_and_customers_are_acknowledged(desks, key: Key) -> None:
    """acknowledge: authenticated: an unsigned stranger gets nothing (the ticket says why); a DKIM-signed one,
    one a trusted host vouches for, and a customer's contact who signs nothing are acknowledged."""
    desk = desks(with_config(**{"unknown_senders: {{plan: standard}}":
                                "unknown_senders: {{plan: standard, acknowledge: authenticated}}"}),
                 dns=dns_for(key, "signed.test"))
    unsigned = mail(sender="eve@stranger.test", message_id="<e1@stranger.test>")
    signed = sign(mail(sender="sam@signed.test", message_id="<s1@signed.test>"), key, domain="signed.test")
    forged_signature = sign(mail(sender="mallory@signed.test", message_id="<f1@signed.test>"), key,
                            domain="signed.test").replace(b"Our printer is on fire.", b"Our printer is on ice.")
    vouched = mail(sender="val@vouched.test", message_id="<v1@vouched.test>", vouched=True)
    contact = mail(sender="alice@acme.com", message_id="<a1@acme.com>")
    for raw in (unsigned, signed, forged_signature, vouched, contact):
        assert desk.feed(raw, at=AT) == Outcome.OPENED
    desk.run(AT)
    assert set(acknowledged(desk)) == {"sam@signed.test", "val@vouched.test", "alice@acme.com"}
    [held] = desk.events("SUP-000001", kind="notice_skipped")
    assert held.detail["rule"] == "unknown-senders" and "stranger.test is not proven" in held.detail["why"]
    [held] = desk.events("SUP-000003", kind="notice_skipped")
    assert "not proven" in held.detail["why"]


def test_under_none_only_customers_are_acknowledged(desks) -> None:
    """acknowledge: none: a sender that matches no customer gets nothing; anyone at a customer's domain does."""
    desk = desks(with_config(**{"unknown_senders: {{plan: standard}}":
                                "unknown_senders: {{plan: standard, acknowledge: none}}"}))
    assert desk.feed(mail(sender="eve@stranger.test", message_id="<e1@stranger.test>"), at=AT) == Outcome.OPENED
    assert desk.feed(mail(sender="bob@acme.com", message_id="<b1@acme.com>"), at=AT) == Outcome.OPENED
    desk.run(AT)
    assert set(acknowledged(desk)) == {"bob@acme.com"}
    assert desk.ticket("SUP-000001").requester == "eve@stranger.test"  # opened all the same
    [held] = desk.events("SUP-000001", kind="notice_skipped")
    assert held.detail["rule"] == "unknown-senders" and held.detail["to"] == "eve@stranger.test"


@pytest.mark.parametrize("unknown, problem", [
    ("{{plan: standard, acknowledge: maybe}}",
     'unknown_senders.acknowledge: must be "all", "authenticated" or "none", not "maybe"'),
    ("{{reject: true, acknowledge: none}}", "unknown_senders.acknowledge: has no effect with reject: true"),
])
def test_a_wrong_acknowledge_option_is_refused_at_load(tmp_path: Path, unknown: str, problem: str) -> None:
    """unknown_senders.acknowledge takes all, authenticated or none, and only with a plan."""
    path = tmp_path / "inbox.yaml"
    path.write_text(with_config(**{"unknown_senders: {{plan: standard}}": f"unknown_senders: {unknown}"}).format(
        db_url=f"sqlite:///{tmp_path}/x.db", tmp=tmp_path, templates=tmp_path))
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert problem in str(raised.value)
