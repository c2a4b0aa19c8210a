"""Command lines in the new text of a reply, and requests to escalate or to close."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers import Command, asks_to_close, asks_to_escalate, parse_commands, strip_commands


@pytest.mark.parametrize(
    ("line", "verb", "argument"),
    [
        ("#escalate", "escalate", ""),
        ("#escalate critical", "escalate", "critical"),
        ("#deescalate", "deescalate", ""),
        ("#de-escalate", "deescalate", ""),
        ("#severity high", "severity", "high"),
        ("#status waiting-on-customer", "status", "waiting-on-customer"),
        ("#workaround restart the agent nightly", "workaround", "restart the agent nightly"),
        ("#solve", "solve", ""),
        ("#close", "close", ""),
        ("#assign bob@example.com", "assign", "bob@example.com"),
        ("#internal customer is on the old version", "internal", "customer is on the old version"),
        ("#category billing", "category", "billing"),
    ],
)
def test_every_verb_is_a_command(line: str, verb: str, argument: str) -> None:
    """Each known verb after "#" is a command, with the rest of the line as its argument."""
    assert parse_commands(f"Thanks.\n{line}\n") == (Command(verb, argument, line),)


def test_verb_any_case_argument_kept_and_line_stripped() -> None:
    """The verb is lower-cased; the argument keeps its case and loses surrounding blanks; indentation is allowed."""
    assert parse_commands("   #Status  Waiting-On-Customer  \r\n") == (
        Command("status", "Waiting-On-Customer", "#Status  Waiting-On-Customer"),)


def test_commands_in_order_and_anywhere_in_the_new_text() -> None:
    """Every command line is found, in the order written."""
    text = "#severity high\nWe found the cause.\n#workaround\n#assign carol@example.com"
    assert [c.verb for c in parse_commands(text)] == ["severity", "workaround", "assign"]


@pytest.mark.parametrize(
    "text",
    ["> #escalate", "  > #solve", "# heading", "#escalated", "#solved", "#solve: now", "##close", "#unknown thing",
     "please #escalate", "#", "text #close"],
)
def test_non_commands(text: str) -> None:
    """Quotes, "# heading", unknown or longer words, and "#" not first on the line are not commands."""
    assert parse_commands(text) == ()


def test_strip_commands_removes_command_lines_and_blank_edges() -> None:
    """Command lines go; blank lines left at the start or end go; other lines keep their endings."""
    text = "#severity high\n\nThe fix is deployed.\r\nPlease retry.\n#solve\n\n"
    assert strip_commands(text) == "The fix is deployed.\r\nPlease retry."
    assert strip_commands("Hello\n\n#internal note\nBye") == "Hello\n\nBye"
    assert strip_commands("#close") == ""
    assert strip_commands("> #solve\n# heading") == "> #solve\n# heading"


@pytest.mark.parametrize(
    "text",
    [
        "#escalate",
        "Please escalate.",
        "PLEASE   ESCALATE this",
        "Can you escalate this to your manager?",
        "Kindly escalate the ticket.",
        "We need to escalate the issue.",
        "I want to escalate",
        "I would like to escalate the case.",
        "I'd like to escalate",
        "We request an escalation.",
        "Requesting escalation, this has taken a week.",
        "It is not working please escalate",
        "Not solved yet, please escalate",
        "Please don\u2019t close this; we want to escalate",
    ],
)
def test_asks_to_escalate(text: str) -> None:
    """A "#escalate" line or a phrase asking to escalate is a request."""
    assert asks_to_escalate(text)


@pytest.mark.parametrize(
    "text",
    [
        "No need to escalate, thanks.",
        "Please don't escalate this yet.",
        "Please don\u2019t escalate this yet.",
        "Do not escalate the ticket.",
        "We would not escalate this.",
        "I don't want to escalate the case.",
        "There is no reason to escalate this.",
        "The issue escalated quickly.",
        "Escalation paths are in the contract.",
        "> Please escalate",
        "  > #escalate",
        "# escalate",
        "",
    ],
)
def test_does_not_ask_to_escalate(text: str) -> None:
    """Negations, other uses of the word, quoted lines and headings are not requests."""
    assert not asks_to_escalate(text)


@given(st.text(max_size=500))
def test_keyword_functions_never_raise(text: str) -> None:
    """Any text is read without error, and stripping leaves no command line behind."""
    asks_to_escalate(text)
    asks_to_close(text)
    assert parse_commands(strip_commands(text)) == ()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("It works again, thank you. Please close this ticket.", "Please close this ticket"),
        ("please close the case", "please close the case"),
        ("You can close it now.", "You can close it"),
        ("Could you close this ticket?", "Could you close this ticket"),
        ("Feel free to close this, all good.", "Feel free to close this"),
        ("Fixed on our side. Close this ticket.", "Close this ticket"),
        ("Resolved, ok to close.", "ok to close"),
        ("Thanks!\nPlease go ahead and close the ticket\n", "Please go ahead and close the ticket"),
    ],
)
def test_asks_to_close(text: str, words: str) -> None:
    """A plain request to close the ticket is found, and the words that ask are given back."""
    assert asks_to_close(text) == words


@pytest.mark.parametrize(
    "text",
    [
        "Please do not close this ticket yet.",
        "Please don\u2019t close it, it came back.",
        "No need to close the ticket.",
        "Not ok to close.",
        "Is it ok to close?",
        "We will close the ticket once we have tested.",
        "Please close the window before rebooting.",
        "I closed the firewall port.",
        "> Please close this ticket",
        "#close",
        "",
    ],
)
def test_does_not_ask_to_close(text: str) -> None:
    """Negations, questions, other things closed, quoted lines and the "#close" command are not requests in words."""
    assert asks_to_close(text) is None
