"""Templates an admin edits while the service runs: the last good version, headers that stay one
line, and the check over every severity and status. (The sandbox's escapes are in test_render.)"""

from __future__ import annotations

import email
import logging
import os
from datetime import datetime, timezone
from email.policy import default as default_policy
from pathlib import Path

import pytest

from autoresponder.compose import compose
from autoresponder.render import Renderer, TemplateError
from autoresponder.samples import TemplateWatch, check, sample_context
from tests.unit.test_render import write

SUBJECT = "acknowledgement/subject.txt.j2"
TEXT = "acknowledgement/body.txt.j2"


def edit(directory: Path, name: str, source: str) -> Path:
    """Write a file and move its mtime on, as an admin's save a second later would."""
    stamp = (directory / name).stat().st_mtime + 2 if (directory / name).exists() else None
    path = write(directory, name, source)
    if stamp is not None:
        os.utime(path, (stamp, stamp))
    return path


def ack(renderer: Renderer, **changes: object):
    context = sample_context("acknowledgement")
    context["ticket"].update(changes)
    return renderer.render("acknowledgement", context)


# --- live reload keeps the last good version ---------------------------------------------------


@pytest.mark.parametrize("broken, line, reason", [
    ("{% if ticket.severity %}\nno end", 2, "endif"),  # no longer compiles
    ("first\n{{ ticket.trackng }}", 2, "'ticket' has no attribute 'trackng'"),  # compiles, does not render
])
def test_a_broken_edit_is_refused_and_the_last_good_version_used(
        templates: Path, caplog: pytest.LogCaptureFixture, broken: str, line: int, reason: str) -> None:
    """The next email uses the version that last rendered; the refusal is logged with file and
    line and listed by problems() until the file is fixed, then the fixed version is used."""
    renderer = Renderer(templates)
    edit(templates, SUBJECT, "Received: {{ ticket.subject }}")
    assert ack(renderer).subject == "Received: Checkout fails with error 502 since this morning"
    edit(templates, SUBJECT, broken)
    with caplog.at_level(logging.ERROR, logger="autoresponder.render"):
        assert ack(renderer).subject == "Received: Checkout fails with error 502 since this morning"
        assert ack(renderer).subject.startswith("Received: ")  # again: still refused, logged once
    [refusal] = renderer.problems()
    assert (refusal.error.path, refusal.error.line, refusal.keeping_last_good) == (
        f"templates/{SUBJECT}", line, True)
    assert reason in refusal.error.reason
    [logged] = [r.getMessage() for r in caplog.records]
    assert f"templates/{SUBJECT}:{line}: " in logged and "last version that rendered is used" in logged
    edit(templates, SUBJECT, "Fixed: {{ ticket.tracking }}")
    assert ack(renderer).subject == "Fixed: SUP-000123"
    assert renderer.problems() == []


def test_without_an_earlier_version_the_email_waits(templates: Path) -> None:
    """Broken since start: nothing rendered yet to fall back on, so render raises (the outbox retries)."""
    edit(templates, TEXT, "Hello\n{{ ticket.nope }}\n")
    renderer = Renderer(templates)
    with pytest.raises(TemplateError, match=r"body\.txt\.j2:2: 'ticket' has no attribute 'nope'"):
        ack(renderer)
    [refusal] = renderer.problems()
    assert refusal.keeping_last_good is False and refusal.as_dict()["line"] == 2


def test_never_half_rendered(templates: Path) -> None:
    """A body that fails halfway is not sent as far as it got: the old body goes, whole."""
    renderer = Renderer(templates)
    whole = ack(renderer).text
    edit(templates, TEXT, "Dear customer,\n" + "line\n" * 50 + "{{ 1 / 0 }}\nend\n")
    assert ack(renderer).text == whole


def test_a_deleted_default_keeps_its_last_version_and_a_deleted_override_falls_back(templates: Path) -> None:
    renderer = Renderer(templates)
    edit(templates, "plans/gold/acknowledgement/subject.txt.j2", "gold")
    assert renderer.render("acknowledgement", sample_context("acknowledgement"), plan="gold").subject == "gold"
    before = ack(renderer).subject
    (templates / SUBJECT).unlink()
    assert ack(renderer).subject == before
    assert [r.error.reason for r in renderer.problems()] == ["template file not found"]
    (templates / "plans/gold/acknowledgement/subject.txt.j2").unlink()
    assert renderer.render("acknowledgement", sample_context("acknowledgement"), plan="gold").subject == before


def test_the_watch_refuses_an_edit_that_fails_on_any_sample_before_an_email_needs_it(templates: Path) -> None:
    """An edit that renders for this email but not for a ticket without an assignee is refused at
    once by the watch: emails keep the old version, and the problem names the sample that failed."""
    renderer = Renderer(templates)
    watch = TemplateWatch(renderer, ["critical", "high", "medium", "low"])
    assert watch.scan() and watch.problems == [] and not watch.scan()  # nothing changed: no work
    old = ack(renderer).text
    edit(templates, TEXT, "Assigned to {{ ticket.assignee.upper() }}\n")
    assert watch.scan()
    [problem] = watch.problems
    assert problem.startswith(f"templates/{TEXT}:1: ") and problem.endswith("(with the optional values empty)")
    assert ack(renderer).text == old  # this email has an assignee, but the file is refused
    edit(templates, TEXT, "Assigned to {{ (ticket.assignee or 'nobody yet').upper() }}\n")
    assert watch.scan() and watch.problems == []
    assert ack(renderer).text == "Assigned to DANA ENGINEER"  # a customer reads the name, not the address


# --- every severity and status --------------------------------------------------------------------


def test_check_renders_every_severity_and_status(templates: Path) -> None:
    """A branch that only a pending ticket, or only one severity, takes is still rendered."""
    edit(templates, "status_update/body.txt.j2", "{% if ticket.status == 'pending' %}{{ ticket.pendng }}{% endif %}")
    edit(templates, "solved/body.txt.j2", "{% if ticket.severity == 'serious' %}{{ oops }}{% endif %}")
    assert check(templates, ["critical", "low"]) == [
        "templates/status_update/body.txt.j2:1: 'ticket' has no attribute 'pendng' (with severity critical, status pending)",
    ]
    assert check(templates, ["serious", "major", "minor"])[1] == (
        "templates/solved/body.txt.j2:1: 'oops' is undefined (with severity serious, status open)")


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, line, found", [
    ("{{ ticket.subject }}\nBcc: evil@example.com", 2, "U+000A"),  # the template's own text spans lines
    ("{{ ticket.subject ~ '\\r\\nBcc: evil@example.com' }}", 1, "U+000D, U+000A"),  # a value does
    ("{{ ticket.subject }}{{ '\\x00\\x1b' }}", 1, "U+0000, U+001B"),
    ("{{ ticket.subject ~ '\\u2028' ~ 'x' }}", 1, "U+2028"),
])
def test_check_refuses_line_breaks_and_control_characters_in_the_subject(
        templates: Path, source: str, line: int, found: str) -> None:
    edit(templates, SUBJECT, source)
    [problem] = check(templates)
    assert problem.startswith(f"templates/{SUBJECT}:{line}: ") and found in problem


def test_a_trailing_newline_or_a_tab_inside_a_body_is_fine(templates: Path) -> None:
    edit(templates, SUBJECT, "{{ ticket.subject }}\n\n")
    edit(templates, TEXT, "a\tb\r\nc\n")
    assert check(templates) == []


def _sent(renderer: Renderer, subject: str) -> email.message.EmailMessage:
    rendered = ack(renderer, subject=subject)
    raw = compose(rendered, from_address="Support <support@example.com>", to=["alice@acme.com"],
                  message_id="m1@example.com", date=datetime(2026, 3, 3, tzinfo=timezone.utc),
                  tracking="SUP-000123", loop_marker="example.com")
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


@pytest.mark.parametrize("hostile", [
    "Help\r\nBcc: evil@example.com",
    "Help\nBcc: evil@example.com\n\nforged body",
    "Help\rBcc: evil@example.com",
    "Help\x00\x1b[31m\x7f\x85Bcc: evil@example.com",
    "Help\u2028Bcc: evil@example.com",
])
def test_a_subject_from_the_customer_cannot_add_headers_when_sent(templates: Path, hostile: str) -> None:
    """At send time line breaks and control characters become spaces: one Subject, no Bcc."""
    sent = _sent(Renderer(templates), hostile)
    assert sent["Bcc"] is None and len(sent.get_all("Subject")) == 1
    assert sent["Subject"].endswith("Bcc: evil@example.com") or "forged body" in sent["Subject"]
    assert not any(c in sent["Subject"] for c in "\r\n\x00\x1b\x7f\x85\u2028")
    text = sent.get_body(preferencelist=("plain",)).get_content()
    assert "Bcc: evil@example.com" in text and not any(c in text for c in "\x00\x1b\x7f\x85")


def test_non_ascii_subjects_are_encoded_and_read_back_exactly(templates: Path) -> None:
    subject = "Störung: 障害 — ça ne marche pas 🙁"
    sent = _sent(Renderer(templates), subject)
    assert sent["Subject"] == f"[SUP-000123] {subject}"


def test_a_broken_partial_makes_its_includers_wait_and_says_so(templates: Path) -> None:
    """An include resolves at render time, so an includer has no older version to fall back on:
    its emails wait, and the refusal says no earlier version is being used."""
    edit(templates, "partials/sign.txt.j2", "{{ service.name }}")
    edit(templates, TEXT, "Hello\n{% include 'partials/sign.txt.j2' %}\n")
    renderer = Renderer(templates)
    assert ack(renderer).text == "Hello\nExample Support"
    edit(templates, "partials/sign.txt.j2", "{{ service.nmae }}")
    with pytest.raises(TemplateError, match=r"^templates/partials/sign\.txt\.j2:1: "):
        ack(renderer)
    [refusal] = renderer.problems()
    assert refusal.error.path == "templates/partials/sign.txt.j2" and refusal.keeping_last_good is False
