"""The template renderer: the shipped templates, overrides, the sandbox, errors that name file and line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from autoresponder.render import (
    KINDS,
    MAX_SUBJECT,
    RenderedEmail,
    Renderer,
    TemplateError,
)
from autoresponder.samples import check, sample_context

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
ACK_TEXT = "acknowledgement/body.txt.j2"


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def render(directory: Path, kind: str = "acknowledgement", **kw: str) -> RenderedEmail:
    return Renderer(directory).render(kind, sample_context(kind), **kw)


# --- the shipped templates ---------------------------------------------------------------------

KEY_WORDS = {
    "acknowledgement": ["critical", "4 business hours", "Tue 3 Mar 2026, 12:30 PST", "subject"],
    "status_update": ["waiting-on-third-party", "Tue 3 Mar 2026, 09:05 PST", "Wed 4 Mar 2026, 08:30 PST"],
    "sla_warning": ["update", "Wed 4 Mar 2026, 08:30 PST", "Acme Corp"],
    "breach_alert": ["breached", "resolution", "Tue 10 Mar 2026, 08:30 PDT", "level 2"],
    "severity_changed": ["high", "critical", "Terry Manager", "#escalate critical"],
    "solved": ["solved", "reopen", "reply"],
    "closed": ["closed", "new ticket"],
    "reminder": ["waiting for your answer", "one reminder", "reply to this email", "solved"],
    "agent_reply": ["We found the cause", "Dana Engineer", "Status: waiting-on-customer"],
    "assigned": ["assigned to you", "the assignment rules", "Acme Corp", "critical", "payments",
                 "Tue 3 Mar 2026, 12:30 PST", "engineer@example.com", "alice@acme.com", "Our customers cannot pay"],
    "escalation_refused": ["tam@example.com", "#escalate critical", "no DKIM signature", "Nothing changed",
                           "authenticated", "trusted mail server"],
    "command_refused": ["oncall@example.com", "#status waiting-on-customer", "no DKIM signature", "internal note"],
    "escalation_request": ["level 2 of 3", "alice@acme.com", "severity critical", "losing orders", "high"],
    "escalation_received": ["escalate", "next level", "critical", "keeps its severity"],
    "not_designated": ["recorded your message", "designated support contacts", "mistake"],
    "closed_by_customer": ["As you asked", "now closed", "alice@acme.com", "opens a new ticket"],
    "no_ticket_named": ["reached no ticket", "Subject: [SUP-000123]", "command lines", "names SUP-000123 in its text"],
    "digest": ["missed an SLA target", "SUP-000131", "Globex", "resolution", "level 2", "1 h 35 min late",
               "due in 5 min", "nobody", "engineer@example.com", "Export to CSV times out"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_from_sample_data(kind: str) -> None:
    """Every shipped kind renders its subject, text and HTML with the tracking number and its key facts."""
    email = render(SHIPPED, kind)
    if kind == "agent_reply":  # a reply's subject is the ticket's; compose() puts the tracking number in front
        assert email.subject == "Re: Checkout fails with error 502 since this morning"
    elif kind == "digest":  # about many tickets: it names none, so a reply to it joins none
        assert email.subject == "[Example Support] SLA breaches on 3 tickets, the first 3 h 05 min late"
    elif kind == "no_ticket_named":  # about a mail that reached no ticket: it names none either
        assert email.subject == "[Example Support] Your email reached no ticket: Printer on fire: customer called"
    else:
        assert email.subject.startswith("[SUP-000123] ")
    assert "\n" not in email.subject
    for part in (email.text, email.html):
        assert "SUP-000123" in part
        for word in KEY_WORDS[kind]:
            assert word in part, f"{kind}: {word!r} missing"
    assert email.html.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_renders_without_optional_values(kind: str) -> None:
    """The shipped templates guard every optional value: no assignee, no due times, no activity yet."""
    email = Renderer(SHIPPED).render(kind, sample_context(kind, minimal=True))
    assert "SUP-000123" in email.text and "None" not in email.text and "None" not in email.html


def test_acknowledgement_asks_to_keep_the_tracking_number_in_the_subject() -> None:
    """The acknowledgement tells the customer how replies find their ticket."""
    text = render(SHIPPED).text
    assert "keep the tracking number [SUP-000123]" in text and "subject" in text


def test_agent_reply_starts_with_the_engineers_words_and_escapes_them_in_html() -> None:
    """The text part opens with the reply as written; the HTML keeps its line breaks and escapes markup."""
    context = sample_context("agent_reply")
    context["reply"]["text"] = "Hello Alice,\n<script>alert(1)</script> & more\n\nDana"
    email = Renderer(SHIPPED).render("agent_reply", context)
    assert email.text.startswith("Hello Alice,\n<script>alert(1)</script> & more\n\nDana\n")
    assert "<script>" not in email.html
    assert "Hello Alice,<br>\n&lt;script&gt;alert(1)&lt;/script&gt; &amp; more<br>\n<br>\nDana<br>" in email.html


def test_agent_reply_that_solves_says_a_reply_reopens() -> None:
    """A reply that solved the ticket shows the status and how to reopen; without a status, neither."""
    context = sample_context("agent_reply")
    context["reply"]["status"] = "solved"
    solved = Renderer(SHIPPED).render("agent_reply", context)
    plain = Renderer(SHIPPED).render("agent_reply", sample_context("agent_reply", minimal=True))
    for part in (solved.text, solved.html):
        assert "Status: solved" in part and "reopens the ticket" in part
    for part in (plain.text, plain.html):
        assert "Status:" not in part and "reopens" not in part


@pytest.mark.parametrize("relayed", [False, True])
def test_command_refused_says_plainly_when_the_customer_did_not_get_the_reply(relayed: bool) -> None:
    """A refused (unauthenticated) reply is named as not received by the customer; a relayed one is not."""
    context = sample_context("command_refused")
    context["refusal"]["relayed"] = relayed
    if relayed:
        context["refusal"]["reason"] = None  # relayed: only some lines failed
    email = Renderer(SHIPPED).render("command_refused", context)
    for part in (email.subject, email.text, email.html):
        assert ("NOT" in part) is not relayed
    for part in (email.text, email.html):
        assert ("did NOT receive your reply" in part) is not relayed
        assert ("was sent to the" in part) is relayed


def test_command_refused_for_an_authenticated_email_without_reply_text_claims_no_refusal() -> None:
    """Some lines failed in a commands-only email: the others were applied, nothing was refused or lost."""
    context = sample_context("command_refused")
    context["refusal"].update(reason=None, relayed=False)
    email = Renderer(SHIPPED).render("command_refused", context)
    assert "Commands not applied" in email.subject and "NOT" not in email.subject
    for part in (email.text, email.html):
        assert "the others were" in part and "refused" not in part and "authenticated email" not in part


def test_escalation_request_names_the_level_of_the_chain() -> None:
    """The person escalated to reads which level of how many they are, and at the last level that it is the last."""
    email = render(SHIPPED, "escalation_request")
    for part in (email.subject, email.text, email.html):
        assert "level 2 of 3" in part
    assert "last level" not in email.text
    context = sample_context("escalation_request")
    context["escalation"]["level"] = 3
    last = Renderer(SHIPPED).render("escalation_request", context)
    assert "level 3 of 3" in last.text and "last level" in last.text and "last level" in last.html


def test_escalation_received_promises_no_severity_change() -> None:
    """The customer learns the request went on, and that the severity stays as it is."""
    email = render(SHIPPED, "escalation_received")
    for part in (email.text, email.html):
        assert "keeps its severity, high" in part and "changed to" not in part


def test_escalation_received_at_the_quiet_top_says_when_the_top_heard() -> None:
    """A repeat inside the top's day: the customer learns it is on the ticket and when the top was told, not that it was passed on."""
    context = sample_context("escalation_received")
    context["escalation"]["told_at"] = "Monday 2 March 2026, 11:00 PST"
    email = Renderer(SHIPPED).render("escalation_received", context)
    for part in (email.text, email.html):
        assert "highest level of our escalation chain, told of it on Monday 2 March 2026, 11:00 PST" in part
        assert "passed it" not in part and "keeps its severity, high" in part


def _addresses(value: object) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_addresses(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_addresses(v) for v in value))
    return set(re.findall(r"[\w.+-]+@[\w.-]+", value)) if isinstance(value, str) else set()


def test_not_designated_names_no_address() -> None:
    """The sender is not told who the designated contacts are, nor any other address of the sample."""
    context = sample_context("not_designated")
    addresses = _addresses(context)
    assert "dave@acme.com" in addresses and "oncall@example.com" in addresses
    email = Renderer(SHIPPED).render("not_designated", context)
    for part in (email.subject, email.text, email.html):
        assert "@" not in part and not any(address in part for address in addresses)


def test_minimal_digest_sample_empties_every_optional_value() -> None:
    """A digest's minimal sample lists one ticket with no assignee, target, due time, lateness or level."""
    full, minimal = sample_context("digest"), sample_context("digest", minimal=True)
    assert full["digest"]["count"] == 3 and minimal["digest"]["count"] == 1
    [entry] = minimal["digest"]["entries"]
    assert all(full["digest"]["entries"][0][key] for key in ("assignee", "target", "due", "late", "level"))
    assert all(entry[key] is None for key in ("assignee", "target", "due", "late", "level"))


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "digest"])
def test_minimal_sample_empties_what_may_be_empty(kind: str) -> None:
    """`minimal=True` empties the optional extras each kind gets, so `check()` proves every guard."""
    full, minimal = sample_context(kind), sample_context(kind, minimal=True)
    assert full.keys() == minimal.keys()
    if "ticket" in full:  # no_ticket_named is about a mail that reached no ticket
        assert full["ticket"]["category"] == "payments" and minimal["ticket"]["category"] is None
    empties = {
        "closed_by_customer": [("closing", "by")],
        "no_ticket_named": [("mail", "named")],
        "reminder": [("follow_ups",)],
        "agent_reply": [("reply", "author"), ("reply", "status")],
        "assigned": [("assignment", "team")],
        "command_refused": [("refusal", "reason"), ("refusal", "lines")],
        "escalation_request": [("escalation", "text"), ("escalation", "wish")],
        "escalation_received": [("escalation", "text"), ("escalation", "wish")],
    }
    for path in empties.get(kind, []):
        value, empty = full, minimal
        for key in path:
            value, empty = value[key], empty[key]
        assert value and not empty, f"{kind}: {'.'.join(path)}"


def test_html_escapes_values_and_text_does_not(templates: Path) -> None:
    """A subject carrying <script> is escaped in the HTML part, verbatim in the text part and the subject."""
    context = sample_context("acknowledgement")
    context["ticket"]["subject"] = "<script>alert(1)</script> & more"
    email = Renderer(templates).render("acknowledgement", context)
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in email.html
    assert "<script>alert(1)</script> & more" in email.text
    assert email.subject == "[SUP-000123] <script>alert(1)</script> & more"


def test_subject_is_one_line_and_at_most_998_characters(templates: Path) -> None:
    """Line breaks and runs of spaces in a rendered subject collapse; RFC 5322's line limit is kept."""
    write(templates, "acknowledgement/subject.txt.j2", "[{{ ticket.tracking }}]\n\n  {{ ticket.subject }}\n{{ 'x' * 2000 }}\n")
    subject = render(templates).subject
    assert subject.startswith("[SUP-000123] Checkout fails with error 502 since this morning xxx")
    assert len(subject) == MAX_SUBJECT and "\n" not in subject and "  " not in subject


# --- overrides -----------------------------------------------------------------------------------


def test_plan_and_customer_overrides_win_per_file(templates: Path) -> None:
    """customers/<id>/ beats plans/<plan>/ beats the default, file by file."""
    write(templates, "plans/gold/acknowledgement/subject.txt.j2", "gold {{ ticket.tracking }}")
    write(templates, "plans/gold/acknowledgement/body.txt.j2", "gold body")
    write(templates, "customers/acme/acknowledgement/subject.txt.j2", "acme {{ ticket.tracking }}")
    default = render(templates)
    assert render(templates, plan="gold").subject == "gold SUP-000123"
    assert render(templates, plan="gold").text == "gold body"
    both = render(templates, plan="gold", customer="acme")
    assert both.subject == "acme SUP-000123"  # customer first
    assert both.text == "gold body"  # the customer did not override the body: the plan's applies
    assert both.html == default.html  # nobody overrode the HTML
    assert render(templates, plan="silver", customer="other") == default


def test_override_names_cannot_leave_the_template_folder(templates: Path, tmp_path: Path) -> None:
    """A plan or customer id with a path in it is not a folder name: the default applies."""
    write(tmp_path, "acknowledgement/subject.txt.j2", "outside")
    email = render(templates, plan="..", customer="../..")
    assert email.subject.startswith("[SUP-000123]")


# --- failures: always TemplateError, naming file and line ----------------------------------------

HOSTILE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ 'x'|center(10**9) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{{ ticket.update({'subject': 'changed'}) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    # the classic escapes: Python's internals through attributes, filters, globals and format strings
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__mro__[1].__subclasses__() }}",
    "{{ ticket.__class__.__init__.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ (ticket|attr('__class__')).__subclasses__() }}",
    "{{ namespace.__init__.__globals__['os'] }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ '{0.__class__.__mro__}'.format(ticket) }}",
    "{{ '{0.__init__.__globals__}'.format(namespace) }}",
    "{{ '%s'.__mod__(ticket) }}",
    "{{ ''.format_map({'x': 1}).__class__ }}",
    "{{ ticket.items.__self__.__class__ }}",
    "{{ range.__call__.__self__ }}",
    "{{ ticket.pop('subject') }}",
    "{% set x = ticket.__setitem__('subject', 'changed') %}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_template_is_a_template_error_naming_the_file(templates: Path, source: str) -> None:
    """Sandbox escapes, huge loops and huge strings stop with a TemplateError that names the file."""
    write(templates, ACK_TEXT, "Hello\n" + source + "\n")
    with pytest.raises(TemplateError) as caught:
        render(templates)
    assert str(caught.value).startswith("templates/acknowledgement/body.txt.j2:2: ")


def test_output_over_one_megabyte_is_refused(templates: Path) -> None:
    """A template whose output passes 1 MB stops, naming the file."""
    write(templates, ACK_TEXT, "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}")
    with pytest.raises(TemplateError, match=r"^templates/acknowledgement/body\.txt\.j2: output is larger"):
        render(templates)


def test_syntax_error_names_file_and_line(templates: Path) -> None:
    """A syntax error reads `path:line: reason`."""
    write(templates, ACK_TEXT, "Hello\n\n{% if ticket.assignee %}\nno end\n")
    with pytest.raises(TemplateError) as caught:
        render(templates)
    assert caught.value.path == "templates/acknowledgement/body.txt.j2"
    assert caught.value.line == 4 and "endif" in caught.value.reason


def test_undefined_variable_names_file_line_and_variable(templates: Path) -> None:
    """StrictUndefined: a misspelt variable is an error that says which one, where."""
    write(templates, ACK_TEXT, "a\nb\n{{ ticket.trackng }}\n")
    with pytest.raises(TemplateError) as caught:
        render(templates)
    assert str(caught.value) == "templates/acknowledgement/body.txt.j2:3: 'ticket' has no attribute 'trackng'"
    write(templates, ACK_TEXT, "{{ tiket.tracking }}\n")
    with pytest.raises(TemplateError, match=r"body\.txt\.j2:1: 'tiket' is undefined"):
        render(templates)


def test_error_in_an_included_file_names_that_file(templates: Path) -> None:
    """An error inside an included partial points at the partial, not at the includer."""
    write(templates, "partials/footer.txt.j2", "ok\n{{ service.nmae }}\n")
    write(templates, ACK_TEXT, "{% include 'partials/footer.txt.j2' %}\n")
    with pytest.raises(TemplateError) as caught:
        render(templates)
    assert str(caught.value) == "templates/partials/footer.txt.j2:2: 'service' has no attribute 'nmae'"


def test_missing_file_and_python_errors_are_template_errors(templates: Path) -> None:
    """No template file, an unknown kind, or a plain Python error all surface as TemplateError."""
    (templates / "closed" / "body.html.j2").unlink()
    with pytest.raises(TemplateError, match=r"^templates/closed/body\.html\.j2: template file not found"):
        render(templates, "closed")
    with pytest.raises(TemplateError):
        Renderer(templates).render("../etc", sample_context("closed"))
    write(templates, ACK_TEXT, "{{ 1 / 0 }}")
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render(templates)


def test_edits_apply_to_the_next_render_without_restart(templates: Path) -> None:
    """auto_reload: one Renderer sees an admin's edit (and a new override) on its next render."""
    renderer = Renderer(templates)
    context = sample_context("solved")
    path = write(templates, "solved/subject.txt.j2", "first {{ ticket.tracking }}")
    assert renderer.render("solved", context).subject == "first SUP-000123"
    path.write_text("second {{ ticket.tracking }}", encoding="utf-8")
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    assert renderer.render("solved", context).subject == "second SUP-000123"
    write(templates, "plans/gold/solved/subject.txt.j2", "gold")
    assert renderer.render("solved", context, plan="gold").subject == "gold"


# --- check() ----------------------------------------------------------------------------------


def test_check_passes_the_shipped_templates() -> None:
    """`inbox templates check` has nothing to say about what we ship."""
    assert check(SHIPPED) == []


def test_check_reports_one_line_per_broken_file(templates: Path) -> None:
    """Each failing file is one `path:line: problem` line; the others still get checked."""
    write(templates, ACK_TEXT, "Hello\n\n{{ ticket.trackng }}\n")
    write(templates, "closed/subject.txt.j2", "{% if %}")
    assert check(templates) == [
        "templates/acknowledgement/body.txt.j2:3: 'ticket' has no attribute 'trackng'",
        "templates/closed/subject.txt.j2:1: Expected an expression, got 'end of statement block'",
    ]


def test_check_renders_overrides_and_the_empty_optional_values(templates: Path) -> None:
    """Overrides are checked too, unguarded optional values are caught, and a misnamed folder is named."""
    write(templates, "customers/acme/status_update/body.txt.j2", "Next: {{ ticket.next_update_due.upper() }}")
    write(templates, "plans/gold/acknowledgment/body.txt.j2", "typo in the folder name")
    write(templates, "plans/gold/solved/body.text.j2", "typo in the file name")
    write(templates, "plans/gold/solved/.body.txt.j2.swp", "editor file: ignored")
    problems = check(templates)
    assert problems[0].startswith("templates/plans/gold/acknowledgment: not a kind of email")
    assert problems[1].startswith("templates/plans/gold/solved/body.text.j2: not a file this service reads")
    assert problems[2].startswith("templates/customers/acme/status_update/body.txt.j2:1: ")
    assert problems[2].endswith("(with the optional values empty)")
    assert len(problems) == 3


def test_check_names_a_digest_override_that_would_never_be_used(templates: Path) -> None:
    """A digest lists tickets of every customer and plan, so an override of it is named, not silently ignored."""
    write(templates, "plans/gold/digest/subject.txt.j2", "Gold digest")
    assert check(templates) == ["templates/plans/gold/digest: a digest lists tickets of many customers and plans, "
                                "so only templates/digest/ is used"]
