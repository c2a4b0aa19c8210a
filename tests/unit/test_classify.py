"""The classifiers package: the rule language, its precedence and errors, stated severity, the default rules."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import (
    Classification, CustomerView, RuleError, RuleHit, StatedSeverity, classify, compile_rules, stated_severity,
)
from classifiers.gate import Gate

SEVERITIES = ["critical", "high", "medium", "low"]
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "config" / "rules" / "default.yaml"
NOBODY = CustomerView(id=None, plan=None)
ACME = CustomerView(id="acme", plan="standard")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str


@dataclass(frozen=True)
class Mail:
    subject: str = ""
    visible_text: str = ""
    from_addr: str = "alice@acme.com"
    attachments: tuple[Attachment, ...] = ()


def run(rules: list[dict[str, Any]], mail: Mail, customer: CustomerView = ACME,
        severities: list[str] = SEVERITIES) -> Classification:
    return classify(mail, customer, compile_rules(rules, severities), severities)


def raises_to(when: dict[str, Any], mail: Mail, customer: CustomerView = ACME) -> bool:
    """Whether a rule with these conditions matches the mail (it would make the ticket critical)."""
    return run([{"name": "r", "when": when, "severity": "critical"}], mail, customer).severity == "critical"


def problems(rules: Any, severities: list[str] = SEVERITIES) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(RuleError) as caught:
        compile_rules(rules, severities)
    return caught.value.problems


# --- conditions --------------------------------------------------------------------------------

def test_no_rules_leaves_the_lowest_severity() -> None:
    """Without rules a mail stays at the lowest severity, with no category and no hits."""
    verdict = classify(Mail("Outage!"), ACME, compile_rules(None, SEVERITIES), SEVERITIES)
    assert verdict == Classification(severity="low")


def test_subject_words_look_only_at_the_subject() -> None:
    """`subject` matches words of the subject, not of the body."""
    assert raises_to({"subject": ["outage"]}, Mail("Big outage today"))
    assert not raises_to({"subject": ["outage"]}, Mail("Hello", "an outage"))


def test_body_words_look_only_at_the_body() -> None:
    """`body` matches words of the visible text, not of the subject."""
    assert raises_to({"body": "outage"}, Mail("Hello", "We have an outage."))
    assert not raises_to({"body": "outage"}, Mail("Outage", "Hello"))


def test_text_words_look_at_subject_and_body() -> None:
    """`text` matches in either the subject or the body."""
    assert raises_to({"text": "outage"}, Mail("Outage", ""))
    assert raises_to({"text": "outage"}, Mail("", "outage"))
    assert not raises_to({"text": "outage"}, Mail("Hello", "all fine"))


def test_words_are_whole_words_and_star_makes_a_prefix() -> None:
    """`outage` does not match "outages"; `outage*` does, and a prefix needs the word's start."""
    assert not raises_to({"text": "outage"}, Mail("Outages everywhere"))
    assert raises_to({"text": "outage*"}, Mail("Outages everywhere"))
    assert not raises_to({"text": "tage*"}, Mail("Outages everywhere"))
    assert not raises_to({"text": "down"}, Mail("Please see the dropdown"))


def test_phrases_match_words_in_order_across_line_breaks() -> None:
    """A phrase matches its words in order, separated by any whitespace, line breaks included."""
    assert raises_to({"body": "production down"}, Mail("", "our production\r\n   down since 9"))
    assert not raises_to({"body": "production down"}, Mail("", "down in production"))
    assert not raises_to({"body": "production down"}, Mail("", "production is down"))
    assert raises_to({"body": "disk full*"}, Mail("", "the disk   fully used"))


def test_words_with_punctuation_match_as_written() -> None:
    """Terms such as "can't", "e-mail" and "c++" match themselves, and a typographic apostrophe too."""
    assert raises_to({"text": "can't log in"}, Mail("", "I can\u2019t log in"))
    assert raises_to({"text": "e-mail"}, Mail("", "no e-mail arrives"))
    assert not raises_to({"text": "e-mail"}, Mail("", "no email arrives"))
    assert raises_to({"text": "c++"}, Mail("", "the C++ SDK crashes"))


def test_words_ignore_case_and_work_beyond_ascii() -> None:
    """Matching is caseless (casefold) and Unicode-aware, whole words included."""
    assert raises_to({"text": "STÖRUNG"}, Mail("Große störung im Rechenzentrum"))
    assert raises_to({"text": "strasse"}, Mail("", "Straße gesperrt"))
    assert raises_to({"text": "сбой"}, Mail("Сбой системы"))
    assert not raises_to({"text": "сбой"}, Mail("Сбои системы"))
    assert raises_to({"text": "café"}, Mail("", "the cafe\u0301 app"))  # decomposed accent


def test_prefixes_in_short_and_long_texts() -> None:
    """A prefix is found the same way in a few words and among thousands (two search strategies)."""
    many = " ".join(f"w{i}" for i in range(3000))
    assert raises_to({"body": ["zzz*", "outage*"]}, Mail("", many + " Outages"))
    assert not raises_to({"body": ["zzz*", "outage*"]}, Mail("", many + " outa"))
    assert raises_to({"body": ["zzz*", "outage*"]}, Mail("", "outages"))
    assert not raises_to({"body": ["zzz*", "outage*"]}, Mail("", "outa ge"))


def test_subject_regex() -> None:
    """`subject_regex` is searched in the subject, case-insensitively."""
    assert raises_to({"subject_regex": r"error\s+5\d\d"}, Mail("ERROR 503 on login"))
    assert not raises_to({"subject_regex": r"error\s+5\d\d"}, Mail("Hello", "error 503"))


def test_body_regex() -> None:
    """`body_regex` is searched in the body only."""
    assert raises_to({"body_regex": r"ticket #\d+"}, Mail("", "see Ticket #42"))
    assert not raises_to({"body_regex": r"ticket #\d+"}, Mail("Ticket #42", ""))


def test_text_regex() -> None:
    """`text_regex` is searched in the subject and in the body."""
    assert raises_to({"text_regex": "^urgent"}, Mail("Urgent: help"))
    assert raises_to({"text_regex": "(?m)^urgent"}, Mail("", "hi\nurgent"))
    assert not raises_to({"text_regex": "^urgent"}, Mail("not urgent", "fine"))


def test_from_address() -> None:
    """`from` with an address matches that sender only, in any case."""
    assert raises_to({"from": "Alice@Acme.com"}, Mail(from_addr="alice@acme.com"))
    assert not raises_to({"from": "alice@acme.com"}, Mail(from_addr="bob@acme.com"))


def test_from_domain_matches_its_subdomains() -> None:
    """`from` with a domain (or "@domain") matches it and its subdomains, not look-alikes."""
    assert raises_to({"from": "acme.com"}, Mail(from_addr="bob@acme.com"))
    assert raises_to({"from": "@acme.com"}, Mail(from_addr="bob@eu.mail.acme.com"))
    assert not raises_to({"from": "acme.com"}, Mail(from_addr="bob@notacme.com"))
    assert not raises_to({"from": "acme.com"}, Mail(from_addr="bob@acme.com.evil.test"))


def test_customer_and_none() -> None:
    """`customer` matches the customer id; the word `none` matches mail from no known customer."""
    assert raises_to({"customer": ["globex", "acme"]}, Mail(), ACME)
    assert not raises_to({"customer": "globex"}, Mail(), ACME)
    assert raises_to({"customer": "none"}, Mail(), NOBODY)
    assert not raises_to({"customer": "none"}, Mail(), ACME)
    assert not raises_to({"customer": "acme"}, Mail(), NOBODY)


def test_plan() -> None:
    """`plan` matches the customer's plan name."""
    assert raises_to({"plan": "standard"}, Mail(), ACME)
    assert not raises_to({"plan": "enterprise"}, Mail(), ACME)
    assert not raises_to({"plan": "standard"}, Mail(), NOBODY)


def test_has_attachment_true_and_false() -> None:
    """`has_attachment: true` needs an attachment, `false` needs none."""
    with_file = Mail(attachments=(Attachment("a.txt", "text/plain"),))
    assert raises_to({"has_attachment": True}, with_file)
    assert not raises_to({"has_attachment": True}, Mail())
    assert raises_to({"has_attachment": False}, Mail())
    assert not raises_to({"has_attachment": False}, with_file)


def test_attachment_globs_by_name_and_by_type() -> None:
    """`attachment` globs match a file name or a content type, case-insensitively."""
    log = Mail(attachments=(Attachment("Server.LOG", "application/octet-stream"),))
    png = Mail(attachments=(Attachment("", "image/png; name=x"),))
    assert raises_to({"attachment": "*.log"}, log)
    assert raises_to({"attachment": ["*.txt", "image/*"]}, png)
    assert not raises_to({"attachment": "*.log"}, png)
    assert not raises_to({"attachment": "image/*"}, log)


def test_all_conditions_must_hold() -> None:
    """Conditions of one `when` are ANDed."""
    when = {"subject": "outage", "customer": "acme"}
    assert raises_to(when, Mail("outage"), ACME)
    assert not raises_to(when, Mail("outage"), NOBODY)
    assert not raises_to(when, Mail("hello"), ACME)


def test_unless_blocks_only_when_all_its_conditions_hold() -> None:
    """`unless` stops the rule when ALL of its conditions hold."""
    rule = {"name": "down", "when": {"text": "down"}, "unless": {"text": "feature request", "plan": "standard"},
            "severity": "critical"}
    assert run([rule], Mail("Feature request", "when the site is down")).severity == "low"
    assert run([rule], Mail("Feature request", "when the site is down"), NOBODY).severity == "critical"
    assert run([rule], Mail("Help", "site is down")).severity == "critical"


def test_list_values_may_be_one_text_and_numbers() -> None:
    """A list may be written as one text, and a number in it is read as its digits."""
    assert raises_to({"subject": 503}, Mail("Got a 503 again"))


# --- actions and precedence ---------------------------------------------------------------------

def test_raise_to_never_lowers_and_a_later_severity_overrides() -> None:
    """`raise_to` only raises; a later `severity` sets, even lower; the last match wins."""
    mail = Mail("outage and a question")
    high_then_raise = [{"name": "a", "when": {"text": "outage"}, "severity": "critical"},
                       {"name": "b", "when": {"text": "question"}, "raise_to": "medium"}]
    assert run(high_then_raise, mail).severity == "critical"
    raise_then_set = [{"name": "a", "when": {"text": "outage"}, "raise_to": "high"},
                      {"name": "b", "when": {"text": "question"}, "severity": "medium"}]
    assert run(raise_then_set, mail).severity == "medium"
    assert run([{"name": "a", "raise_to": "medium"}], mail).severity == "medium"


def test_category_is_set_by_the_last_matching_rule() -> None:
    """A later category overrides an earlier one; a rule that does not match changes nothing."""
    rules = [{"name": "tech", "category": "technical-problem"},
             {"name": "bill", "when": {"text": "invoice"}, "category": "billing"},
             {"name": "never", "when": {"text": "zebra"}, "category": "zoo"}]
    assert run(rules, Mail("my invoice")).category == "billing"
    assert run(rules, Mail("crash")).category == "technical-problem"


def test_stop_ends_the_run() -> None:
    """`stop: true` on a matching rule means no later rule is looked at; a non-matching one does not stop."""
    rules = [{"name": "news", "when": {"from": "news.test"}, "severity": "low", "stop": True},
             {"name": "outage", "when": {"text": "outage"}, "severity": "critical"}]
    assert run(rules, Mail("outage digest", from_addr="x@news.test")).severity == "low"
    assert run(rules, Mail("outage", from_addr="x@acme.com")).severity == "critical"
    assert run([{"name": "end", "stop": True}, {"name": "b", "severity": "high"}], Mail()).severity == "low"


def test_aliases_and_clamping() -> None:
    """highest, highest-N (clamped at the lowest) and lowest resolve against any configured names."""
    viakoo = ["serious", "major", "minor"]
    assert run([{"name": "a", "severity": "highest"}], Mail(), severities=viakoo).severity == "serious"
    assert run([{"name": "a", "severity": "highest-1"}], Mail(), severities=viakoo).severity == "major"
    assert run([{"name": "a", "severity": "Highest - 9"}], Mail(), severities=viakoo).severity == "minor"
    assert run([{"name": "a", "severity": "highest"}, {"name": "b", "severity": "lowest"}], Mail(),
               severities=viakoo).severity == "minor"


def test_configured_names_any_case_ints_and_names_win_over_aliases() -> None:
    """A configured name is read in any case, an int as its digits, and beats an alias spelt the same."""
    assert run([{"name": "a", "severity": "HIGH"}], Mail()).severity == "high"
    assert run([{"name": "a", "severity": 1}], Mail(), severities=["1", "2", "3"]).severity == "1"
    odd = ["top", "highest", "lowest", "bottom"]
    assert run([{"name": "a", "severity": "highest"}], Mail(), severities=odd).severity == "highest"
    assert run([{"name": "a", "raise_to": "lowest"}], Mail(), severities=odd).severity == "lowest"


def test_groups_are_flattened_in_place() -> None:
    """A group's rules run where the group stands, in order."""
    rules = [{"name": "first", "severity": "medium"},
             {"include": "rules/x.yaml", "rules": [{"name": "inner", "severity": "critical"}]},
             {"name": "last", "category": "c"}]
    compiled = compile_rules(rules, SEVERITIES)
    assert compiled.names == ("first", "inner", "last") and len(compiled) == 3
    assert classify(Mail(), ACME, compiled, SEVERITIES).severity == "critical"
    assert len(compile_rules([{"include": "empty.yaml", "rules": None}], SEVERITIES)) == 0


def test_hits_name_each_matching_rule_and_why() -> None:
    """Each matching rule is one hit saying which condition held; rules that did not match are absent."""
    rules = [{"name": "down", "when": {"subject": ["outage", "down"], "customer": "acme"}, "severity": "critical"},
             {"name": "never", "when": {"body": "zebra"}, "category": "zoo"},
             {"name": "all", "category": "c"}]
    verdict = run(rules, Mail("Total outage"))
    assert verdict.hits == (
        RuleHit("down", True, 'customer is acme and subject has "outage"'),
        RuleHit("all", True, "no conditions: every mail"),
    )


def test_rules_must_be_compiled_for_the_same_severities() -> None:
    """Raw rule dicts, or rules compiled for another severity list, are programming errors, said plainly."""
    raw = [{"name": "a", "severity": "highest"}]
    with pytest.raises(ValueError, match="compiled for severities"):
        classify(Mail(), ACME, compile_rules(raw, SEVERITIES), ["serious", "major", "minor"])
    with pytest.raises(TypeError, match="RuleSet from compile_rules"):
        classify(Mail(), ACME, raw, SEVERITIES)  # type: ignore[arg-type]


# --- errors --------------------------------------------------------------------------------------

def test_every_problem_is_reported_with_its_path() -> None:
    """One RuleError lists every problem at once, each at its key path, and str() joins them."""
    found = problems([
        {"name": "billing", "category": "billing"},
        {"name": "b", "when": {"colour": "red"}, "category": "x"},
        {"name": "billing", "category": "y"},
        {"name": "re", "when": {"subject_regex": "[abc"}, "severity": "high"},
        {"name": "noop", "when": {"text": "x"}},
        {"name": "r", "raise_to": "urgent"},
    ])
    assert found == [
        ((1, "when", "colour"), "unknown key (allowed: subject, body, text, subject_regex, body_regex, "
                                "text_regex, from, customer, plan, has_attachment, attachment)"),
        ((2, "name"), '"billing" is already the name of rule 0'),
        ((3, "when", "subject_regex"), "not a valid regular expression: unterminated character set at position 0"),
        ((4,), "a rule needs severity, raise_to or category"),
        ((5, "raise_to"), '"urgent" is not a severity (known: critical, high, medium, low, or highest, highest-N, lowest)'),
    ]
    with pytest.raises(RuleError, match=r"rules\[1\]\.when\.colour: unknown key .*\nrules\[1\]\.raise_to: "):
        compile_rules([{"name": "a", "category": "c"}, {"name": "b", "when": {"colour": 1}, "raise_to": "x"}],
                      SEVERITIES)


def test_wrong_types_and_empty_values() -> None:
    """Wrong types and empty lists are reported at the exact key or list item."""
    found = problems([{
        "name": "t",
        "when": {"subject": {"a": 1}, "body": [], "text": ["ok", 3.5, ""], "has_attachment": "yes",
                 "plan": [True]},
        "category": "two words",
        "stop": "yes",
    }])
    assert found == [
        ((0, "when", "subject"), "must be a list of text"),
        ((0, "when", "body"), "must not be empty"),
        ((0, "when", "text", 1), "must be text"),
        ((0, "when", "text", 2), "must not be empty text"),
        ((0, "when", "has_attachment"), "must be true or false"),
        ((0, "when", "plan", 0), "must be text (write it in quotes: YAML reads yes, no, on and off as true or false)"),
        ((0, "category"), "must be one word: letters, digits, - and _"),
        ((0, "stop"), "must be true or false"),
    ]


def test_rule_shape_problems() -> None:
    """Missing names, non-mapping entries, empty `when`, both severity and raise_to, unknown rule keys."""
    found = problems([
        {"severity": "high"},
        "outage",
        {"name": "w", "when": {}, "severity": "high"},
        {"name": "both", "severity": "high", "raise_to": "critical", "priority": 1},
        {"name": "terms", "when": {"text": ["***"], "from": ["not an address"]}, "severity": "high"},
    ])
    assert found == [
        ((0, "name"), "missing: every rule needs a name, unique in the list"),
        ((1,), "must be a rule (a mapping with name, when, severity ...) or a group (include, rules)"),
        ((2, "when"), "must hold at least one condition (leave `when` out instead)"),
        ((3, "priority"), "unknown key (allowed: name, when, unless, severity, raise_to, category, stop)"),
        ((3,), "a rule sets severity or raise_to, not both"),
        ((4, "when", "text", 0), '"***" has no letters or digits to look for'),
        ((4, "when", "from", 0), '"not an address" is not an address or a domain'),
    ]


def test_regex_limits() -> None:
    """Regexes over 1,000 characters, matching the empty text, or repeating a repetition are refused."""
    found = problems([{"name": "long", "when": {"body_regex": "a" * 1001}, "category": "c"},
                      {"name": "empty", "when": {"text_regex": "error|"}, "category": "c"},
                      {"name": "slow", "when": {"body_regex": [r"(\d+\.)+ok", r"x(\w+\s*)+$"]}, "category": "c"}])
    assert found == [
        ((0, "when", "body_regex"), "too long: 1,001 characters (at most 1,000)"),
        ((1, "when", "text_regex"), "matches an empty text, so every mail (leave the condition out instead)"),
        ((2, "when", "body_regex", 1), "repeats a repetition, such as (a+)+ or (\\w+\\s*)*, which can take minutes "
                                       "on a long mail: leave out the outer repetition"),
    ]


def test_group_paths_and_nested_groups() -> None:
    """Problems inside a group are reported at (group, "rules", index, ...); a group in a group is refused."""
    found = problems([
        {"name": "a", "category": "c"},
        {"include": "x.yaml", "rules": [{"name": "A", "category": "c"}, {"include": "y.yaml", "rules": []},
                                        {"name": "z", "severity": "nope"}]},
        {"include": "z.yaml", "rules": "oops", "extra": 1},
    ])
    assert found == [
        ((1, "rules", 0, "name"), '"A" is already the name of rule 0'),
        ((1, "rules", 1), "a group cannot hold a group (an included file cannot include further)"),
        ((1, "rules", 2, "severity"), '"nope" is not a severity (known: critical, high, medium, low, or highest, highest-N, lowest)'),
        ((2, "extra"), "unknown key in a group (allowed: include, rules)"),
        ((2, "rules"), "must be a list of rules"),
    ]


def test_too_many_rules_and_not_a_list() -> None:
    """More than 5,000 rules in all (groups counted) is refused, and so is a rules value that is no list."""
    many = [{"include": "x.yaml", "rules": [{"name": f"r{i}", "category": "c"} for i in range(3000)]}] * 2
    assert problems(many) == [((), "too many rules: 6,000 (at most 5,000)")]
    assert problems({"name": "a"}) == [((), "must be a list of rules")]
    assert len(compile_rules([{"name": f"r{i}", "category": "c"} for i in range(5000)], SEVERITIES)) == 5000


# --- stated severity -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("subject", "body", "text", "severity"),
    [
        ("Severity: 1 - login broken", "", "Severity: 1", "critical"),
        ("", "Hello,\nSeverity 2\nthanks", "Severity 2", "high"),
        ("[Sev1] outage", "", "Sev1", "critical"),
        ("", "We think this is Sev-3.", "Sev-3", "medium"),
        ("S2: slow reports", "", "S2", "high"),
        ("P1 - everything down", "", "P1", "critical"),
        ("", "Priority: critical", "Priority: critical", "critical"),
        ("", "* **Urgency:** high", "Urgency:** high", "high"),
        ("", "Impact = medium", "Impact = medium", "medium"),
        ("", "Priority: urgent", "Priority: urgent", "critical"),
        ("", "Urgency - emergency", "Urgency - emergency", "critical"),
        ("", "Priority: P2", "Priority: P2", "high"),
        ("", "Severity: 9", "Severity: 9", None),
        ("", "Impact: enormous", "Impact: enormous", None),
    ],
)
def test_stated_severity_forms_and_mapping(subject: str, body: str, text: str, severity: str | None) -> None:
    """Each written form is found and mapped: names, numbers (1 the highest), P/S tags, urgent; else None."""
    assert stated_severity(Mail(subject, body), SEVERITIES) == StatedSeverity(text, severity)


def test_stated_severity_is_not_found_in_prose_quotes_or_late_lines() -> None:
    """P1/S1 count in the subject only; prose, quoted lines, S3 buckets and lines past the 20th are ignored."""
    for mail in (Mail("", "P1 is our codename"), Mail("What is the severity of this?", "the impact is small"),
                 Mail("S3 bucket not accessible"), Mail("", "> Severity: 1"),
                 Mail("", "\n" * 20 + "Severity: 1"), Mail("Priority support plan")):
        assert stated_severity(mail, SEVERITIES) is None, mail


def test_stated_severity_prefers_subject_and_a_readable_statement() -> None:
    """The subject is read first; a statement naming no severity does not hide one that does."""
    assert stated_severity(Mail("Sev2", "Severity: 1"), SEVERITIES) == StatedSeverity("Sev2", "high")
    assert stated_severity(Mail("", "Impact: huge\nSeverity: 1"), SEVERITIES) == StatedSeverity("Severity: 1", "critical")


@settings(max_examples=600)
@given(st.lists(st.sampled_from(["Severity", "SEV", "s\u0130v", "\u017fev", "pr\u0131or\u0131ty", "PRIORITY", "Urgency",
                                 "impact", "IMPACT", "se", "v", "-", ":", " ", "\n", "1", "2", "**", "\u2022", "high",
                                 "\u212a", "x"]), max_size=10))
def test_the_body_word_test_never_hides_a_statement(pieces: list[str]) -> None:
    """Where the body pattern matches, the cheap test before it says so: it may let through text
    with no statement, never skip one (letters IGNORECASE matches outside ASCII included)."""
    from classifiers.stated import _BODY, may_state

    text = "".join(pieces)
    if _BODY.search(text):
        assert may_state(text), text


def test_the_case_twins_are_every_letter_ignorecase_matches_outside_ascii() -> None:
    """The body word test lowers the text; the only characters beyond ASCII that IGNORECASE reads as
    an ASCII letter are the ones it looks for itself (and the Kelvin sign, a k no word holds)."""
    import re
    import sys

    from classifiers.stated import _BODY_WORDS, _CASE_TWINS

    letter = re.compile("[a-z]", re.IGNORECASE)
    twins = {chr(c) for c in range(128, sys.maxunicode + 1) if letter.fullmatch(chr(c))}
    assert twins == {*_CASE_TWINS, "\u212a"}
    assert "k" not in "".join(_BODY_WORDS)


def test_stated_severity_maps_onto_other_names() -> None:
    """Numbers follow the configured order, names match as configured, others name nothing."""
    assert stated_severity(Mail("Severity: 2"), ["serious", "major", "minor"]).severity == "major"  # type: ignore[union-attr]
    assert stated_severity(Mail("Severity: one"), ["one", "two", "three"]).severity == "one"  # type: ignore[union-attr]
    assert stated_severity(Mail("Priority: critical"), ["serious", "major", "minor"]) == StatedSeverity(
        "Priority: critical", None)


def test_stated_severity_raises_only_when_the_plan_allows() -> None:
    """Recorded always; raises only with stated_may_raise, with a hit saying so either way."""
    mail = Mail("Severity: 1", "site slow")
    denied = run([], mail, ACME)
    assert denied.severity == "low" and denied.stated == StatedSeverity("Severity: 1", "critical")
    assert denied.hits == (RuleHit("stated-severity", False, 'the customer wrote "Severity: 1"; the plan does not '
                                   "let a stated severity raise the ticket"),)
    allowed = run([], mail, CustomerView("acme", "enterprise", stated_may_raise=True))
    assert allowed.severity == "critical"
    assert allowed.hits == (RuleHit("stated-severity", True, 'the customer wrote "Severity: 1"'),)


def test_stated_severity_is_capped_and_never_lowers() -> None:
    """stated_up_to caps the raise; a stated severity below the rules' result changes nothing."""
    capped = CustomerView("acme", "standard", stated_may_raise=True, stated_up_to="high")
    assert run([], Mail("Sev1"), capped).severity == "high"
    assert run([], Mail("Sev3"), capped).severity == "medium"
    rules = [{"name": "down", "when": {"text": "outage"}, "severity": "critical"}]
    verdict = run(rules, Mail("outage", "Severity: 4"), CustomerView("acme", "x", stated_may_raise=True))
    assert verdict.severity == "critical" and verdict.hits[-1].matched is False


def test_stated_severity_applies_after_stop() -> None:
    """`stop` ends the rules, not the customer's statement, which always comes last."""
    rules = [{"name": "end", "stop": True}, {"name": "later", "severity": "low"}]
    verdict = run(rules, Mail("P2 help"), CustomerView("acme", "x", stated_may_raise=True))
    assert verdict.severity == "high" and [h.rule for h in verdict.hits] == ["end", "stated-severity"]


# --- the shipped default rules --------------------------------------------------------------------

def default_rules() -> Any:
    return yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))


@pytest.mark.parametrize("severities", [SEVERITIES, ["serious", "major", "minor"], ["one", "two", "three"]])
def test_default_rules_compile_for_any_severity_names(severities: list[str]) -> None:
    """config/rules/default.yaml compiles against each example's severity names."""
    compiled = compile_rules(default_rules(), severities)
    assert compiled.names[:4] == ("technical-problem", "general-enquiry", "billing", "feature-request")
    assert {"security-breach", "production-down", "no-workaround", "data-loss"} <= set(compiled.names)


@pytest.mark.parametrize(
    ("mail", "severity", "category"),
    [
        (Mail("Production outage", "Our site is down since 9:00, nobody can work."), "critical", "technical-problem"),
        (Mail("URGENT", "Nobody can log in to the portal since this morning."), "critical", "technical-problem"),
        (Mail("Question about my invoice", "How do I download last month's invoice?"), "low", "billing"),
        (Mail("Feature request: status banner", "It would be nice to show a banner when the site is down."),
         "low", "feature-request"),
        (Mail("Report export", "Exports lose rows: data loss since the upgrade, no workaround."), "high",
         "technical-problem"),
        (Mail("Possible security breach", "We think an admin account was compromised."), "critical",
         "technical-problem"),
        (Mail("Password", "I can't log in, I forgot my password."), "low", "technical-problem"),
        (Mail("Documentation", "Where can I find the API documentation?"), "low", "general-enquiry"),
        (Mail("SLA breach on ticket SUP-000042", "You breached the response time."), "low", "technical-problem"),
    ],
)
def test_default_rules_on_realistic_mail(mail: Mail, severity: str, category: str) -> None:
    """The shipped rules give realistic mails the severity and category a triager would."""
    verdict = classify(mail, NOBODY, compile_rules(default_rules(), SEVERITIES), SEVERITIES)
    assert (verdict.severity, verdict.category) == (severity, category)


# --- properties --------------------------------------------------------------------------------------

_RULES = compile_rules(default_rules(), SEVERITIES)
_EXTRA = compile_rules(default_rules() + [
    {"name": "rx", "when": {"text_regex": r"(\w+)\s+\1", "attachment": ["*.log"]}, "raise_to": "highest-1"},
    {"name": "pre", "when": {"body": ["ü*", "a b*"], "from": "acme.com"}, "severity": "medium", "stop": True},
], SEVERITIES)


@settings(max_examples=300, deadline=None)
@given(subject=st.text(max_size=200), body=st.text(max_size=2000), sender=st.text(max_size=40),
       filename=st.text(max_size=20), may_raise=st.booleans())
def test_classify_never_raises_and_returns_a_configured_severity(
    subject: str, body: str, sender: str, filename: str, may_raise: bool
) -> None:
    """For any text, sender and attachment, classify returns a configured severity, the same each time."""
    mail = Mail(subject, body, sender, (Attachment(filename, "application/x-" + filename),))
    customer = CustomerView("acme", "standard", stated_may_raise=may_raise, stated_up_to="high")
    for rules in (_RULES, _EXTRA):
        verdict = classify(mail, customer, rules, SEVERITIES)
        assert verdict.severity in SEVERITIES
        assert verdict == classify(mail, customer, rules, SEVERITIES)


_VOCABULARY = ["outage", "outages", "down", "disk", "full", "e-mail", "c++", "störung", "login", "db"]
_TERMS = st.sampled_from(_VOCABULARY + ["disk full", "out*", "dis*", "disk ful*", "e-*", "login down", "c++*"])
_RULE = st.fixed_dictionaries(
    {"field": st.sampled_from(["subject", "body", "text"]), "terms": st.lists(_TERMS, min_size=1, max_size=3),
     "also": st.sampled_from([None, "customer", "unless"]), "action": st.sampled_from(["severity", "raise_to"]),
     "level": st.sampled_from(["highest", "highest-1", "highest-2", "lowest"]), "stop": st.booleans()})


@settings(max_examples=300, deadline=None)
@given(shapes=st.lists(_RULE, max_size=12),
       subject=st.lists(st.sampled_from(_VOCABULARY + ["x", "Disk\nFull", "OUTAGE"]), max_size=6),
       body=st.lists(st.sampled_from(_VOCABULARY + ["y", "login\n down", "DISKS"]), max_size=12))
def test_the_word_gate_skips_only_rules_that_cannot_match(
    shapes: list[dict[str, Any]], subject: list[str], body: list[str]
) -> None:
    """Looking only at the rules the mail's words open gives the same result as looking at every rule."""
    rules = []
    for index, shape in enumerate(shapes):
        rule: dict[str, Any] = {"name": f"r{index}", "when": {shape["field"]: shape["terms"]},
                                shape["action"]: shape["level"], "category": f"c{index}", "stop": shape["stop"]}
        if shape["also"] == "customer":
            rule["when"]["customer"] = "acme"
        elif shape["also"] == "unless":
            rule["unless"] = {"text": shape["terms"][:1]}
        rules.append(rule)
    gated = compile_rules(rules, SEVERITIES)
    everything = replace(gated, gate=Gate(size=len(gated), always=frozenset(range(len(gated))),
                                          prefixes=gated.gate.prefixes))
    mail = Mail(" ".join(subject), " ".join(body))
    assert classify(mail, ACME, gated, SEVERITIES) == classify(mail, ACME, everything, SEVERITIES)
