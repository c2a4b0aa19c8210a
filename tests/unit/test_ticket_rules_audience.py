"""Who of a ticket's thread is on its customer list, on plain objects (no database): the customer's
people copied by a mail its own person wrote, never our staff, support addresses or strangers,
and `#unsubscribe`, a customer's own command line. inbox.tickets.audience and replies use these.
"""

from __future__ import annotations

from classifiers import parse_commands
from inbox.domain.message import ParsedMessage
from inbox.domain.people import Role, refusal
from inbox.tickets.audience import copied_people, is_customers, opened_with
from inbox.tickets.replies import agent_line, customer_asks
from tests.unit.desk_kit import ENGINEER, OTHER_TAM, TAM, settings


def copying(sender: str, *, to: tuple[str, ...] = ("support@example.com",), cc: tuple[str, ...] = ()) -> ParsedMessage:
    return ParsedMessage(message_id=None, subject="Printer", from_addr=sender, to=to, cc=cc)


def test_the_customers_people_are_its_domains_and_contacts_never_ours() -> None:
    """bob@acme.com is Acme's; tam@example.com, support@, a Globex address and a stranger are not."""
    config = settings()
    acme = config.customer("acme")
    assert is_customers(config, acme, "bob@acme.com") and is_customers(config, acme, "alice@acme.com")
    for address in (TAM, OTHER_TAM, ENGINEER, "support@example.com", "support+acme@example.com", "x@globex.test",
                    "mallory@evil.test", ""):
        assert not is_customers(config, acme, address), address
    assert not is_customers(config, None, "bob@acme.com")  # a ticket without a customer has no list


def test_only_a_mail_from_the_customers_own_person_copies_anyone_onto_the_list() -> None:
    """Alice's To and Cc give Bob and Carol (never the TAM, a stranger, Alice herself); a stranger's give nobody."""
    config = settings()
    acme = config.customer("acme")
    alice = copying("alice@acme.com", to=("support@example.com", "carol@acme.com"),
                    cc=("bob@acme.com", TAM, "mallory@evil.test", "alice@acme.com", "bob@acme.com"))
    assert copied_people(config, acme, alice) == ["carol@acme.com", "bob@acme.com"]
    assert opened_with(config, acme, alice) == {"carol@acme.com": "customer", "bob@acme.com": "customer"}
    assert copied_people(config, acme, copying("vendor@vendor.test", cc=("mallory@acme.com",))) == []
    assert copied_people(config, acme, copying(TAM, cc=("bob@acme.com",))) == []  # ours: copies go where the customer put them
    assert copied_people(config, None, copying("bob@acme.com", cc=("carol@acme.com",))) == []


def test_unsubscribe_is_a_customers_own_line() -> None:
    """A customer's `#unsubscribe` is not refused; an engineer's or an account manager's is, with the reason."""
    assert refusal(Role.CUSTOMER, "unsubscribe") is None
    reason = "#unsubscribe is for a customer to take themselves off the ticket's mail"
    assert refusal(Role.ACCOUNT_MANAGER, "unsubscribe") == reason
    [line] = parse_commands("#unsubscribe\n")
    assert agent_line(settings(), "low", line) == (None, reason)


def test_a_customers_unsubscribe_alone_is_leaving_not_a_reply() -> None:
    """"#unsubscribe" alone only leaves; with words besides it, the mail is a reply too; nothing is refused."""
    text = "#unsubscribe\n"
    asks = customer_asks(parse_commands(text), text)
    assert (asks.unsubscribing, asks.only_leaving, asks.refused) == (True, True, [])
    text = "#unsubscribe\nBob will take it from here.\n"
    asks = customer_asks(parse_commands(text), text)
    assert (asks.unsubscribing, asks.only_leaving) == (True, False)
    assert customer_asks((), "Thanks").unsubscribing is False
