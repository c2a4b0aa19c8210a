"""Step 3 of ingest: tell who or what wrote a parsed message, and why we think so.

The verdict keeps mail loops shut: bounces, auto-replies, list mail and our own
mail coming back never get an automatic answer. Rules run in one ordered table
(bounce, own, auto-reply, list; the first hit wins) and every verdict names the
rule that decided it, so "why was this not answered?" always has an answer.

Order matters: a delivery-status report is a bounce even though most Postfix,
Exim, Office 365 and Google bounces also carry `Auto-Submitted: auto-replied`
(RFC 3464, RFC 3834 5), so the bounce rules come before the RFC 3834 ones.

Must never do I/O and never change the message: it reads headers and shape only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache

from inbox.domain.message import Automation, ParsedMessage

__all__ = ["AutomationVerdict", "auto_submitted", "detect_automation", "is_auto_answer"]


@dataclass(frozen=True)
class AutomationVerdict:
    """What wrote the message, and the rule that said so (for the record)."""

    kind: Automation
    reason: str


@dataclass(frozen=True)
class _Ours:
    is_own_message_id: Callable[[str], bool]
    addresses: frozenset[str]


def detect_automation(
    msg: ParsedMessage,
    *,
    is_own_message_id: Callable[[str], bool],
    own_addresses: Collection[str],
) -> AutomationVerdict:
    """Run the rules in order; the first that matches decides. PERSON otherwise."""
    ours = _Ours(is_own_message_id, _bare(tuple(own_addresses)))
    for kind, rule in _RULES:
        reason = rule(msg, ours)
        if reason:
            return AutomationVerdict(kind, reason)
    return AutomationVerdict(Automation.PERSON, "no sign of automation")


@lru_cache(maxsize=8)
def _bare(addresses: tuple[str, ...]) -> frozenset[str]:
    """Our addresses as mail names them (lower case, no display name): read once per config, not per mail."""
    return frozenset(parseaddr(a)[1].strip().lower() for a in addresses)


# --- bounces --------------------------------------------------------------------

_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([\w.-]+)", re.IGNORECASE)
# RFC 8098 read receipts are reports too, but a person's mail client sent them.
_RECEIPT_TYPES = frozenset({"disposition-notification", "global-disposition-notification"})
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailerdaemon", "mailer_daemon", "mail-daemon", "post_master"})
# RFC 5321 4.5.1: postmaster is also a person's mailbox (the customer's mail
# admin may well write to support), so it takes a second sign to be a bounce.
_POSTMASTER_LOCAL_PARTS = frozenset({"postmaster"})
_DAEMON_FROM = re.compile(r"mailer[-_ ]?daemon|\bmail delivery (?:sub)?system\b", re.IGNORECASE)
# The subjects the common MTAs write, whole: nobody types these by hand.
_MTA_SUBJECT = re.compile(
    r"\s*(?:undelivered mail returned to sender"  # Postfix
    r"|delivery status notification \((?:failure|delay)\)"  # Gmail
    r"|mail delivery failed: returning message to sender"  # Exim
    r"|returned mail: "  # Sendmail
    r"|failure notice$)",  # qmail
    re.IGNORECASE,
)
# Bounce-like subjects a person could also write ("Delivery failure of order
# 123"), in the languages Exchange localises its reports into: they need a
# second sign before they count.
_BOUNCE_SUBJECT = re.compile(
    r"\s*(?:undeliver(?:ed|able)|returned mail|mail delivery (?:failed|failure|problem|error)"
    r"|delivery status|delivery (?:failure|failed|has failed|notification|problem|report)"
    r"|non[- ]?deliver|message (?:delivery )?(?:failure|not delivered)|mail system error"
    r"|(?:warning: )?could not send message|mail could not be delivered|e?mail bounce"
    r"|unzustellbar|nicht zustellbar|non remis|non distribuable|onbestelbaar|no se puede entregar"
    r"|non recapitabile|impossibile recapitare|n[ãa]o (?:foi )?entregue|olevererbar|kan ikke leveres"
    r"|nedoru[čc]iteln|メールエラー|配信エラー)",
    re.IGNORECASE,
)


def _report(msg: ParsedMessage) -> str | None:
    """The report-type of a top-level multipart/report (RFC 6522), "" if unnamed."""
    if msg.content_type != "multipart/report":
        return None
    found = _REPORT_TYPE.search(msg.header("content-type") or "")
    return found.group(1).lower() if found else ""


def _is_report(msg: ParsedMessage, _ours: _Ours) -> str | None:
    # delivery-status (RFC 3464) and feedback-report (RFC 5965 ARF abuse
    # reports) alike: a machine wrote them and no one reads an answer.
    kind = _report(msg)
    if kind is None or kind in _RECEIPT_TYPES:
        return None
    return f"multipart/report {kind or 'without report-type'}"


def _has_failed_recipients(msg: ParsedMessage, _ours: _Ours) -> str | None:
    return "X-Failed-Recipients" if msg.header("x-failed-recipients") is not None else None


def _is_from_daemon(msg: ParsedMessage, _ours: _Ours) -> str | None:
    local = msg.from_addr.partition("@")[0]
    if local in _DAEMON_LOCAL_PARTS:
        return f"From {local.upper() if 'daemon' in local else local}"
    if local in _POSTMASTER_LOCAL_PARTS and (_bounce_evidence(msg) or _BOUNCE_SUBJECT.match(msg.subject)):
        return "From postmaster, with a null sender, returned message or bounce subject"
    raw_from = msg.header("from")
    if raw_from is None:
        return None
    if _DAEMON_FROM.search(raw_from):  # "MAILER-DAEMON <>" has a name but no address
        return "From MAILER-DAEMON"
    if not msg.from_addr and "<>" in raw_from:
        return "From is the null address <>"
    return None


def _has_mta_subject(msg: ParsedMessage, _ours: _Ours) -> str | None:
    return f"bounce subject {msg.subject[:60]!r}" if _MTA_SUBJECT.match(msg.subject) else None


def _has_bounce_shape(msg: ParsedMessage, _ours: _Ours) -> str | None:
    if msg.return_path == "" and _has_returned_message(msg):
        return "empty Return-Path and a returned message"
    if _BOUNCE_SUBJECT.match(msg.subject) and _bounce_evidence(msg):
        return f"bounce subject {msg.subject[:60]!r} with a null sender, returned message or Auto-Submitted"
    return None


def _has_returned_message(msg: ParsedMessage) -> bool:
    return bool(msg.report_original_ids or msg.report_failed_recipients)


def _bounce_evidence(msg: ParsedMessage) -> bool:
    """A second sign for an ambiguous one: RFC 5321 4.5.5's null reverse-path
    "<>", the original quoted or attached, or RFC 3834 Auto-Submitted."""
    return msg.return_path == "" or _has_returned_message(msg) or _auto_submitted(msg) is not None


# --- our own mail ---------------------------------------------------------------


def _has_loop_header(msg: ParsedMessage, _ours: _Ours) -> str | None:
    return "X-Inbox-Loop present" if "x-inbox-loop" in msg.headers else None


def _has_own_message_id(msg: ParsedMessage, ours: _Ours) -> str | None:
    if msg.message_id and ours.is_own_message_id(msg.message_id):
        return "Message-ID is ours"
    return None


def _is_from_us(msg: ParsedMessage, ours: _Ours) -> str | None:
    return f"From our address {msg.from_addr}" if msg.from_addr in ours.addresses else None


# --- auto-replies ---------------------------------------------------------------

# Headers that auto-responders set besides RFC 3834's Auto-Submitted. Outlook
# and Exchange put X-Auto-Response-Suppress on their own automatic mail.
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-response-suppress")
_OOF_SUBJECT = re.compile(
    r"\s*[\[(]?\s*(?:(?:out of (?:the )?office(?: autoreply)?|automatic reply|auto[- ]?reply|auto[- ]?response"
    r"|autorespons|automatic response|vacation reply|on vacation|away from (?:the )?office"
    r"|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|absence du bureau|message d'absence"
    r"|respuesta autom[áa]tica|fuera de la oficina|risposta automatica|automatisch antwoord"
    r"|resposta autom[áa]tica|autosvar|automatiskt svar|automaattinen vastaus|automatyczna odpowied[źz]"
    r"|automatick[áa] odpov[ěe][ďd])\s*(?:[:\])\-–]|$)"
    r"|i am (?:currently )?(?:away|out of (?:the )?office)|i'm (?:currently )?(?:away|out of (?:the )?office))",
    re.IGNORECASE,
)


def _auto_submitted(msg: ParsedMessage) -> str | None:
    """The RFC 3834 keyword when it is anything but "no"."""
    value = msg.header("auto-submitted")
    keyword = re.split(r"[;(\s]", value.strip(), maxsplit=1)[0].lower() if value else ""
    return keyword if keyword and keyword != "no" else None


auto_submitted = _auto_submitted


def is_auto_answer(msg: ParsedMessage) -> bool:
    """Whether the mail answers another (an out-of-office, a vacation notice, a read receipt), as
    opposed to a machine's own notification: RFC 3834's auto-replied, or the auto-reply shapes."""
    if _auto_submitted(msg) == "auto-replied" or _report(msg) in _RECEIPT_TYPES:
        return True
    ours = _Ours(lambda _mid: False, frozenset())
    return any(rule(msg, ours) for rule in (_is_precedence_auto_reply, _has_oof_subject)) or any(
        msg.header(name) is not None for name in _AUTO_HEADERS if name != "x-auto-response-suppress")


def _is_read_receipt(msg: ParsedMessage, _ours: _Ours) -> str | None:
    return "multipart/report read receipt (RFC 8098)" if _report(msg) in _RECEIPT_TYPES else None


def _is_auto_submitted(msg: ParsedMessage, _ours: _Ours) -> str | None:
    keyword = _auto_submitted(msg)
    return f"Auto-Submitted: {keyword}" if keyword else None


def _has_auto_header(msg: ParsedMessage, _ours: _Ours) -> str | None:
    for name in _AUTO_HEADERS:
        value = msg.header(name)
        if value is not None:
            return f"{_title(name)}: {value[:40]}".rstrip(": ")
    return None


def _is_precedence_auto_reply(msg: ParsedMessage, _ours: _Ours) -> str | None:
    return "Precedence: auto_reply" if _precedence(msg) == "auto_reply" else None


def _has_oof_subject(msg: ParsedMessage, _ours: _Ours) -> str | None:
    return f"out-of-office subject {msg.subject[:60]!r}" if _OOF_SUBJECT.match(msg.subject) else None


# X-MS-Exchange-Inbox-Rules-Loop is deliberately not a rule: Exchange also sets
# it when a person's inbox rule forwards their mail to us, and that mail is a
# person's and deserves an answer.

# --- lists ----------------------------------------------------------------------

_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post", "mailing-list", "x-mailing-list")


def _is_bulk(msg: ParsedMessage, _ours: _Ours) -> str | None:
    precedence = _precedence(msg)
    return f"Precedence: {precedence}" if precedence in ("bulk", "junk", "list") else None


def _has_list_header(msg: ParsedMessage, _ours: _Ours) -> str | None:
    for name in _LIST_HEADERS:
        if name in msg.headers:
            return f"{_title(name)} present"
    return None


def _precedence(msg: ParsedMessage) -> str:
    return (msg.header("precedence") or "").strip().lower()


def _title(name: str) -> str:
    return "-".join("ID" if word == "id" else word.capitalize() for word in name.split("-"))


_Rule = Callable[[ParsedMessage, _Ours], "str | None"]

_RULES: tuple[tuple[Automation, _Rule], ...] = (
    (Automation.BOUNCE, _is_report),
    (Automation.BOUNCE, _has_failed_recipients),
    (Automation.BOUNCE, _is_from_daemon),
    (Automation.BOUNCE, _has_mta_subject),
    (Automation.BOUNCE, _has_bounce_shape),
    (Automation.OWN, _has_loop_header),
    (Automation.OWN, _has_own_message_id),
    (Automation.OWN, _is_from_us),
    (Automation.AUTO_REPLY, _is_read_receipt),
    (Automation.AUTO_REPLY, _is_auto_submitted),
    (Automation.AUTO_REPLY, _has_auto_header),
    (Automation.AUTO_REPLY, _is_precedence_auto_reply),
    (Automation.AUTO_REPLY, _has_oof_subject),
    (Automation.LIST, _is_bulk),
    (Automation.LIST, _has_list_header),
)
