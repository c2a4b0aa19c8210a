"""HTML documents for the admin pages: the template list, the preview, sign-in and error pages.

Pure functions from values to one UTF-8 HTML document each. Every value from outside (a ticket's
subject, a header, a template's output, an error message, a path) passes through `html.escape`;
the email's HTML is shown only as the escaped srcdoc of an iframe sandboxed with no permissions.
No scripts, no external resources: the page works under the server's Content-Security-Policy.
Never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Protocol
from urllib.parse import quote

from inbox.domain.template_versions import TemplateEntry, TemplateProblem

SIGN_OUT = "/admin/sign-out"
SCRIPT = "/admin/static/editor.js"  # the editor's preview, the one script of these pages

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.25rem 1.5rem; color: #1d1d1f; background: #f6f6f4; }
h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; } h2 { font-size: 1.05rem; margin: 0 0 .3rem; }
a { color: #0b57d0; } code, pre { font: 13px/1.45 ui-monospace, Menlo, Consolas, monospace; }
nav { margin-bottom: .5rem; }
.signout { float: right; margin: 0; }
form { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: end; margin: .5rem 0 1rem; }
label { display: flex; flex-direction: column; font-weight: 600; gap: .2rem; }
select, button { font: inherit; padding: .25rem .4rem; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d6d6d2; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #ecece8; font-weight: 600; white-space: nowrap; }
td { overflow-wrap: anywhere; }
.bad { color: #b3261e; }
.facts { color: #444; margin: 0 0 .6rem; }
.headers { width: 100%; margin-bottom: .4rem; } .headers th { width: 11rem; }
.parts { display: grid; grid-template-columns: 1fr 1fr; gap: .4rem 1rem; }
.parts > * { min-width: 0; }
.file { margin: 0; color: #555; font-size: 13px; }
pre.text, iframe.html { box-sizing: border-box; width: 100%; height: 34rem; margin: 0;
  border: 1px solid #c9c9c4; background: #fff; }
pre.text { padding: .75rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.problem { border: 2px solid #b3261e; background: #fdecea; padding: .6rem .9rem; margin: .8rem 0; }
.problem h2 { color: #b3261e; } .problem pre { white-space: pre-wrap; margin: .3rem 0; }
"""


class Preview(Protocol):
    """What the pages read of `autoresponder.preview.Preview`: described here, not imported,
    because inbox.web and autoresponder are rooms of one layer that must not import each other."""

    @property
    def ticket(self) -> str | None: ...  # the tracking number whose data was used; None: sample data
    @property
    def customer(self) -> str | None: ...  # whose overrides were looked for
    @property
    def headers(self) -> list[tuple[str, str]]: ...  # decoded
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def files(self) -> dict[str, str]: ...  # part -> the template file used




@dataclass(frozen=True)
class Choices:
    """What the preview form offers, and what was chosen."""

    root: str  # the template list's path
    kind: str
    tickets: Sequence[tuple[str, str]]  # recent (tracking, subject)
    customers: Sequence[tuple[str, str]]  # (id, name)
    ticket: str | None  # None: sample data
    customer: str | None  # None: no customer's overrides
    csrf: str = ""  # the session's, for the sign-out button; "" (a script's Bearer read): no button

    def address(self) -> str:
        return f"{self.root}/{quote(self.kind, safe='')}"


def document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def message(title: str, text: str, back: str | None = None) -> str:
    link = f'<p><a href="{escape(back)}">Back</a></p>' if back else ""
    return document(title, f"<h1>{escape(title)}</h1>\n<p>{escape(text)}</p>\n{link}")


def sign_in(action: str, wanted: str, *, wrong: bool = False) -> str:
    """The sign-in form: the token goes in a POST body, never in an address."""
    said = '<p class="problem" role="alert">That token is not an admin\'s.</p>\n' if wrong else ""
    return document("Sign in", (
        "<h1>Sign in</h1>\n" + said +
        "<p>These pages need an admin token: the value of the environment variable that the "
        "config's <code>http.admin_token_env</code> or an <code>admins:</code> entry names.</p>\n"
        f'<form method="post" action="{escape(action)}">\n'
        f'<input type="hidden" name="next" value="{escape(wanted)}">\n'
        '<label>Admin token <input type="password" name="token" autocomplete="current-password" '
        'required autofocus></label>\n<button type="submit">Sign in</button>\n</form>\n'
        "<p>You stay signed in for 12 hours on this browser, or until you sign out.</p>\n"
        "<p>From a script, read a page with <code>Authorization: Bearer YOUR-ADMIN-TOKEN</code>.</p>"))


def token_in_address(action: str) -> str:
    return document("Token refused", (
        "<h1>A token in an address is refused</h1>\n"
        "<p>An address is kept in the browser's history and in proxies' logs, so a token in one "
        "is not taken. If it was a real token, consider changing it.</p>\n"
        f'<p><a href="{escape(action)}">Sign in with the form</a>.</p>'))


def sign_out(action: str, csrf: str) -> str:
    """The sign-out button, for a page's navigation: a POST, so it carries the CSRF token."""
    return (f'<form class="signout" method="post" action="{escape(action)}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<button type="submit">Sign out</button></form>')


def listing(root: str, kinds: Sequence[str], refused: Sequence[Mapping[str, Any]], csrf: str = "",
            entries: Sequence[TemplateEntry] | None = None) -> str:
    items = "\n".join(f'<li><a href="{escape(root)}/{escape(quote(kind, safe=""))}">{escape(kind)}</a></li>'
                      for kind in kinds)
    body = (signed_in(csrf) + "<h1>Email templates</h1>\n<p>Preview the email each template sends, with a ticket's "
            f"data or with sample data, and with a customer's overrides.</p>\n<ul>\n{items}\n</ul>\n")
    if entries is not None:
        body += _files(root, entries)
    return document("Email templates", body + _refusals(refused, "Templates refused now"))


def _files(root: str, entries: Sequence[TemplateEntry]) -> str:
    rows = []
    for entry in entries:
        problem = f"{_where_problem(entry.problem)}" if entry.problem else ""
        changed = (f"{escape(entry.author or '')}, {escape(entry.at.strftime('%Y-%m-%d %H:%M UTC'))}"
                   if entry.at else "never (the shipped file)")
        rows.append(
            f'<tr><td><a href="{escape(file_address(root, entry.path))}">{escape(entry.path)}</a></td>'
            f"<td>{escape(entry.kind)}</td><td>{escape(entry.scope)}</td>"
            f"<td>{'customised' if entry.customised else 'default'}</td>"
            f"<td>{entry.current if entry.current is not None else ''}</td><td>{changed}</td>"
            f'<td class="{"bad" if entry.problem else ""}">{escape(problem)}</td></tr>')
    return ("<h2>Edit a template file</h2>\n<table class=\"files\"><tr><th>File</th><th>Kind</th><th>Scope</th>"
            "<th>Text</th><th>Version</th><th>Last changed</th><th>Problem</th></tr>\n"
            + "\n".join(rows) + "\n</table>\n")


def file_address(root: str, path: str) -> str:
    return f"{root}/files/{quote(path)}"


def _where_problem(problem: TemplateProblem) -> str:
    line = f":{problem.line}" if problem.line else ""
    return f"{problem.file}{line}: {problem.reason}"


def signed_in(csrf: str) -> str:
    return sign_out(SIGN_OUT, csrf) if csrf else ""


def said(exc: LookupError) -> str:
    # str(KeyError("x")) is "'x'": the message itself reads better.
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)


def preview(choices: Choices, shown: Preview, stale: Sequence[Mapping[str, Any]] = ()) -> str:
    files = shown.files
    data = f"ticket {shown.ticket}" if shown.ticket else "sample data"
    overrides = f"customer {shown.customer}" if shown.customer else "none"
    rows = "\n".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in shown.headers)
    html = (f'<iframe class="html" sandbox srcdoc="{escape(shown.html)}" title="The HTML part"></iframe>'
            if shown.html else '<pre class="text">(no HTML part)</pre>')
    body = (
        _form(choices)
        + _refusals(stale, "Refused files of this template")
        + f'<p class="facts">Data: {escape(data)}. Overrides: {escape(overrides)}.</p>\n'
        + f'<table class="headers">\n{rows}\n</table>\n'
        + f'<p class="file">Subject from {_file(files, "subject")}</p>\n'
        + '<div class="parts">\n'
        + f'<div><h2>Text</h2><p class="file">from {_file(files, "text")}</p></div>\n'
        + f'<div><h2>HTML</h2><p class="file">from {_file(files, "html")}</p></div>\n'
        + f'<pre class="text">{escape(shown.text)}</pre>\n{html}\n</div>\n'
    )
    return document(f"{choices.kind}: template preview", body)


def broken(choices: Choices, error: str) -> str:
    """The page of a template that does not render: the error where the email would be."""
    body = _form(choices) + (
        '<div class="problem" role="alert"><h2>This template does not render</h2>\n'
        f"<pre>{escape(error)}</pre>\n"
        "<p>Fix the file: this page shows the email again once it renders.</p>"
        "</div>\n")
    return document(f"{choices.kind}: template error", body)


def _form(choices: Choices) -> str:
    known = {tracking for tracking, _ in choices.tickets}
    tickets = list(choices.tickets)
    if choices.ticket and choices.ticket not in known:  # an older ticket, asked for by address
        tickets.append((choices.ticket, ""))
    ticket_options = _option("", "sample data", choices.ticket) + "".join(
        _option(tracking, f"{tracking} {subject}".strip(), choices.ticket) for tracking, subject in tickets)
    customer_options = _option("", "none", choices.customer) + "".join(
        _option(id_, f"{name} ({id_})" if name != id_ else id_, choices.customer) for id_, name in choices.customers)
    return (
        signed_in(choices.csrf) +
        f'<nav><a href="{escape(choices.root)}">All templates</a></nav>\n'
        f"<h1>{escape(choices.kind)}</h1>\n"
        f'<form method="get" action="{escape(choices.address())}">\n'
        f'<label>Ticket <select name="ticket">{ticket_options}</select></label>\n'
        f'<label>Customer <select name="customer">{customer_options}</select></label>\n'
        '<button type="submit">Preview</button>\n</form>\n')


def _option(value: str, label: str, chosen: str | None) -> str:
    selected = " selected" if value == (chosen or "") else ""
    return f'<option value="{escape(value)}"{selected}>{escape(label)}</option>'


def _file(files: Mapping[str, str], part: str) -> str:
    name = files.get(part)
    return f"<code>{escape(name)}</code>" if name else "(not reported)"


def _refusals(refused: Sequence[Mapping[str, Any]], heading: str) -> str:
    if not refused:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(_where(r))}</code></td><td>{escape(str(r.get('reason', '')))}</td>"
        f"<td>{'last good version used' if r.get('keeping_last_good') else 'emails that need it wait'}</td></tr>"
        for r in refused)
    return (f'<div class="problem"><h2>{escape(heading)}</h2>\n'
            f"<table><tr><th>File</th><th>Reason</th><th>Meanwhile</th></tr>{rows}</table></div>\n")


def _where(refusal: Mapping[str, Any]) -> str:
    line = refusal.get("line")
    return f"{refusal.get('file', '')}:{line}" if line else str(refusal.get("file", ""))
