"""Pure decisions about mail: severity and category from rules, a customer's stated
severity, the command lines of a reply, and what a line of mail text is (for the
parser's quote cut as for the commands). This file is the one public surface.

Imports nothing from `inbox` or `autoresponder` and only the standard library; does
no I/O (the config loader reads rule files and hands them here as lists and dicts).
The precedence of rules is written in `classifiers.engine` and `config/rules/README.md`.
"""

from __future__ import annotations

from classifiers.engine import classify
from classifiers.inputs import AttachmentView, CustomerView, MessageView
from classifiers.keywords import Command, asks_to_close, asks_to_escalate, parse_commands, strip_commands
from classifiers.lines import is_quoted, normalise_breaks, split_lines
from classifiers.rules import RuleError, RuleSet, compile_rules
from classifiers.stated import stated_severity
from classifiers.verdict import Classification, RuleHit, StatedSeverity

__all__ = [
    "AttachmentView",
    "Classification",
    "Command",
    "CustomerView",
    "MessageView",
    "RuleError",
    "RuleHit",
    "RuleSet",
    "StatedSeverity",
    "asks_to_close",
    "asks_to_escalate",
    "classify",
    "compile_rules",
    "is_quoted",
    "normalise_breaks",
    "parse_commands",
    "split_lines",
    "stated_severity",
    "strip_commands",
]
