"""HTML documents for the template editor: one template file's editor with its preview, and its history.

Pure functions from values to one UTF-8 HTML document each, in the style of `inbox.web.pages`:
every value from outside passes through `html.escape`, the email's HTML is only the escaped
srcdoc of an iframe sandboxed with no permissions. The one script is the package's own
/admin/static/editor.js (the preview that follows the typing); without it the page still saves,
and shows the preview of the text as saved. Every form POST carries the session's CSRF token.
Never does I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from inbox.domain.template_versions import TemplateEntry, TemplateProblem, TemplateVersion
from inbox.web.pages import SCRIPT, Choices, Preview, document, file_address, signed_in

SHOWN_HEADERS = ("From", "To", "Subject")  # beside the editor; the kind's preview page shows them all
STYLE = """
.editor { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
.editor form { display: block; margin: 0; }
.code { display: flex; border: 1px solid #c9c9c4; background: #fff; height: 30rem; }
.code pre, .code textarea { font: 13px/18px ui-monospace, Menlo, Consolas, monospace; margin: 0;
  padding: .5rem; border: 0; }
.code pre.gutter { color: #888; text-align: right; min-width: 2.5rem; overflow: hidden; background: #f0f0ec;
  user-select: none; white-space: pre; }
.code pre.gutter b { color: #b3261e; }
.code textarea { flex: 1; resize: none; outline: none; white-space: pre; overflow: auto; }
.row { display: flex; gap: .5rem; align-items: center; margin: .5rem 0; flex-wrap: wrap; }
.row input[type=text] { flex: 1; font: inherit; padding: .25rem .4rem; }
ol.refusals { color: #b3261e; margin: .4rem 0; } ol.refusals code { color: #1d1d1f; }
.saved { border: 2px solid #1e7d32; background: #e8f5e9; padding: .4rem .8rem; margin: .5rem 0; }
#pv-text { height: 12rem; } #pv-html { height: 16rem; }
.diff { background: #fff; border: 1px solid #c9c9c4; padding: .5rem; white-space: pre-wrap; }
.diff .add { color: #1e7d32; } .diff .del { color: #b3261e; } .diff .hunk { color: #6a1b9a; }
.version { background: #fff; border: 1px solid #d6d6d2; padding: .6rem .9rem; margin: .6rem 0; }
.version form { display: inline; margin: 0 0 0 1rem; } .version strong { margin-left: 1rem; color: #1e7d32; }
"""
# The editor's page runs the package's own script; everything else stays as the server's policy.
EDITOR_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
              "img-src data:; frame-src 'self'; frame-ancestors 'none'; form-action 'self'")


@dataclass(frozen=True)
class EditorView:
    root: str  # the template list's path
    entry: TemplateEntry
    current: TemplateVersion
    text: str  # what the textarea holds: the current text, or the refused candidate
    csrf: str
    choices: Choices  # the preview's ticket and customer
    preview: Preview | None
    preview_error: str | None
    problems: Sequence[TemplateProblem] = ()  # why the text was refused
    notice: str | None = None  # "saved as version 4" ...


def editor(view: EditorView, message: str = "") -> str:
    path = view.entry.path
    marks = sorted({p.line for p in view.problems if p.line and _is_this(p, path)})
    address = file_address(view.root, path)
    body = (
        signed_in(view.csrf)
        + f'<nav><a href="{escape(view.root)}">All templates</a> · '
          f'<a href="{escape(history_address(view.root, path))}">History</a></nav>\n'
        + f"<h1>{escape(path)}</h1>\n"
        + f'<p class="facts">{_facts(view.entry, view.current)}</p>\n'
        + (f'<p class="saved" role="status">{escape(view.notice)}</p>\n' if view.notice else "")
        + '<div class="editor">\n<div>\n'
        + f'<form id="editor" method="post" action="{escape(address)}" '
          f'data-preview="{escape(preview_address(view.root, path))}">\n'
        + _csrf(view.csrf)
        + _refusals(view.problems, path)
        + '<div class="code">'
          f'<pre class="gutter" id="gutter" aria-hidden="true" data-marks="{",".join(map(str, marks))}">'
          f"{gutter(view.text, marks)}</pre>"
          f'<textarea id="text" name="text" spellcheck="false" aria-label="Template text">\n{escape(view.text)}'
          "</textarea></div>\n"
        + '<div class="row"><label for="message">Message</label>'
          f'<input type="text" id="message" name="message" maxlength="200" value="{escape(message)}" '
          'placeholder="what changed, and why">'
          '<button type="submit" id="save">Save</button></div>\n</form>\n'
        + f'<form method="post" action="{escape(reset_address(view.root, path))}" class="row">{_csrf(view.csrf)}'
          '<button type="submit" id="reset">Reset to default</button> '
          '<span class="file">back to the shipped file, as a new version</span></form>\n'
        + "</div>\n<div>\n"
        + _preview_pane(view)
        + "</div>\n</div>\n"
        + f'<script src="{SCRIPT}"></script>\n'
    )
    return document(f"{path}: edit", f"<style>{STYLE}</style>\n{body}")


def history(root: str, entry: TemplateEntry, versions: Sequence[TemplateVersion], current: int | None, csrf: str,
            problems: Sequence[TemplateProblem] = (), notice: str | None = None) -> str:
    """Versions newest first, each with its unified diff to the one before and a Roll back button."""
    path = entry.path
    items = []
    for index, version in enumerate(versions):
        before = versions[index + 1] if index + 1 < len(versions) else None
        action = ("<strong>current</strong>" if version.version == current else
                  f'<form method="post" action="{escape(rollback_address(root, path))}">{_csrf(csrf)}'
                  f'<input type="hidden" name="version" value="{version.version}">'
                  f'<button type="submit" class="rollback" data-version="{version.version}">Roll back to '
                  f"version {version.version}</button></form>")
        items.append(
            f'<div class="version" id="v{version.version}"><h2>Version {version.version}{action}</h2>\n'
            f'<p class="facts">{escape(version.origin)} by {escape(version.author)}, '
            f"{escape(_when(version))}: {escape(version.message or '(no message)')}</p>\n"
            + (diff(before, version) if before is not None else '<p class="file">the first version</p>\n')
            + "</div>")
    body = (
        signed_in(csrf)
        + f'<nav><a href="{escape(root)}">All templates</a> · <a href="{escape(file_address(root, path))}">Edit</a></nav>\n'
        + f"<h1>History of {escape(path)}</h1>\n"
        + (f'<p class="saved" role="status">{escape(notice)}</p>\n' if notice else "")
        + _refusals(problems, path)
        + ("\n".join(items) if items else "<p>Never changed: the shipped file is sent.</p>")
    )
    return document(f"{path}: history", f"<style>{STYLE}</style>\n{body}")


def diff(before: TemplateVersion, after: TemplateVersion) -> str:
    lines = difflib.unified_diff(before.text.splitlines(), after.text.splitlines(),
                                 f"version {before.version}", f"version {after.version}", lineterm="")
    shown = []
    for line in lines:
        kind = ("hunk" if line.startswith("@@") else "add" if line.startswith("+") and not line.startswith("+++")
                else "del" if line.startswith("-") and not line.startswith("---") else "")
        shown.append(f'<span class="{kind}">{escape(line)}</span>' if kind else escape(line))
    return f'<pre class="diff">{chr(10).join(shown) or "(the same text)"}</pre>\n'


def gutter(text: str, marks: Sequence[int]) -> str:
    """Line numbers beside the textarea; a refused line is marked."""
    count = text.count("\n") + 1
    return "\n".join(f"<b>&#9654;{n}</b>" if n in marks else str(n) for n in range(1, count + 1))


def history_address(root: str, path: str) -> str:
    return file_address(root, path).replace("/files/", "/history/", 1)


def preview_address(root: str, path: str) -> str:
    return file_address(root, path).replace("/files/", "/preview/", 1)


def rollback_address(root: str, path: str) -> str:
    return file_address(root, path).replace("/files/", "/rollback/", 1)


def reset_address(root: str, path: str) -> str:
    return file_address(root, path).replace("/files/", "/reset/", 1)


def _preview_pane(view: EditorView) -> str:
    choices = view.choices
    tickets = "".join(_option(t, f"{t} {s}".strip(), choices.ticket) for t, s in choices.tickets)
    customers = "".join(_option(i, f"{n} ({i})" if n != i else i, choices.customer) for i, n in choices.customers)
    shown = view.preview
    rows = "".join(f"<tr><th>{escape(n)}</th><td>{escape(v)}</td></tr>" for n, v in (shown.headers if shown else [])
                   if n in SHOWN_HEADERS)
    return (
        '<h2>Preview</h2>\n<div class="row">'
        f'<label>Ticket <select id="pv-ticket">{_option("", "sample data", choices.ticket)}{tickets}</select></label>'
        f'<label>Customer <select id="pv-customer">{_option("", "none", choices.customer)}{customers}</select></label>'
        '<span id="pv-state" class="file"></span></div>\n'
        f'<div class="problem" id="pv-error" role="alert"{"" if view.preview_error else " hidden"}>'
        f"<pre>{escape(view.preview_error or '')}</pre></div>\n"
        f'<table class="headers" id="pv-headers">{rows}</table>\n'
        f'<pre class="text" id="pv-text">{escape(shown.text if shown else "")}</pre>\n'
        f'<iframe class="html" id="pv-html" sandbox srcdoc="{escape(shown.html if shown else "")}" '
        'title="The HTML part"></iframe>\n')


def _facts(entry: TemplateEntry, current: TemplateVersion) -> str:
    state = "customised" if entry.customised else "as shipped"
    version = (f"version {current.version} by {escape(current.author)}, {escape(_when(current))}"
               if entry.current is not None else "never saved: the shipped file is sent")
    return f"Kind {escape(entry.kind)}, scope {escape(entry.scope)}, {state}; {version}."


def _refusals(problems: Sequence[TemplateProblem], path: str) -> str:
    if not problems:
        return ""
    items = "".join(
        f'<li data-line="{p.line or ""}"><code>{escape(p.file)}{f":{p.line}" if p.line else ""}</code> '
        f"{'line ' + str(p.line) + ': ' if p.line and _is_this(p, path) else ''}{escape(p.reason)}</li>"
        for p in problems)
    return ('<div class="problem" role="alert" id="refused"><h2>Not saved: this text does not render</h2>\n'
            f'<ol class="refusals">{items}</ol><p>The version in use is unchanged.</p></div>\n')


def _is_this(problem: TemplateProblem, path: str) -> bool:
    return problem.file == path or problem.file.endswith("/" + path)


def _csrf(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(csrf)}">'


def _option(value: str, label: str, chosen: str | None) -> str:
    selected = " selected" if value == (chosen or "") else ""
    return f'<option value="{escape(value)}"{selected}>{escape(label)}</option>'


def _when(version: TemplateVersion) -> str:
    return version.at.strftime("%Y-%m-%d %H:%M:%S UTC")
