"""The template editor's answers: a file's editor page, its live preview, Save, History, Roll back, Reset.

Works against the `TemplateVersions` protocol (inbox.domain.template_versions) and a preview
callable that takes candidate texts, both handed in: it never reads a template file, renders or
checks one itself; `save` decides (it checks the whole set, every severity, status, plan and
customer) and this module shows what it said, next to the lines it names. The guard has checked
the session, the CSRF token and the origin before any POST reaches here; the author of each change
is the signed-in admin's name. Every call to the versions or the preview runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from typing import Any, Callable

from aiohttp import web

from inbox.domain.template_versions import SaveOutcome, TemplateEntry, TemplateVersions
from inbox.web import editor_pages, pages
from inbox.web.guard import ADMIN_NAME, CSRF, see_other
from inbox.web.pages import Choices, Preview

log = logging.getLogger(__name__)

SCRIPT_FILE = "editor.js"


class Editor:
    def __init__(self, versions: TemplateVersions, preview: Callable[..., Preview], template_error: type[Exception],
                 tickets: Callable[[], list[tuple[str, str]]], customers: list[tuple[str, str]], root: str) -> None:
        self._versions = versions
        self._preview = preview  # (kind, tracking, customer, changes) -> Preview
        self._template_error = template_error
        self._tickets = tickets
        self._customers = customers
        self._root = root

    def install(self, app: web.Application) -> None:
        root = self._root
        app.router.add_get(pages.SCRIPT, _script)
        app.router.add_get(root + "/files/{path:.+}", self._page)
        app.router.add_post(root + "/files/{path:.+}", self._save)
        app.router.add_post(root + "/preview/{path:.+}", self._candidate)
        app.router.add_get(root + "/history/{path:.+}", self._history)
        app.router.add_post(root + "/rollback/{path:.+}", self._rollback)
        app.router.add_post(root + "/reset/{path:.+}", self._reset)

    async def _page(self, request: web.Request) -> web.Response:
        entry = await self._entry(request)
        notice = request.query.get("done")
        return await self._editor(request, entry, None, (), _NOTICES.get(notice or "", None), 200)

    async def _save(self, request: web.Request) -> web.Response:
        entry = await self._entry(request)
        form = await request.post()
        text, message = _text(form.get("text")), str(form.get("message") or "").strip()[:200]
        outcome = await asyncio.to_thread(self._versions.save, entry.path, text, author=request[ADMIN_NAME],
                                          message=message or "edited in the browser")
        if not outcome.saved:
            log.info("template %s: a save by %s refused (%d problems)", entry.path, request[ADMIN_NAME],
                     len(outcome.problems))
            return await self._editor(request, entry, text, outcome.problems, None, 422, message)
        log.info("template %s: version %s saved by %s", entry.path, _number(outcome), request[ADMIN_NAME])
        return see_other(pages.file_address(self._root, entry.path) + "?done=saved")

    async def _candidate(self, request: web.Request) -> web.Response:
        """The preview of the text being typed: JSON, for editor.js."""
        entry = await self._entry(request)
        form = await request.post()
        tracking, customer = _chosen(form.get("ticket")), _chosen(form.get("customer"))
        shown: dict[str, Any]
        try:
            email = await asyncio.to_thread(self._preview, entry.kind, tracking, customer,
                                            {entry.path: _text(form.get("text"))})
            shown = {"ok": True, "headers": email.headers, "text": email.text, "html": email.html}
            status = 200
        except LookupError as exc:
            shown, status = {"ok": False, "error": pages.said(exc)}, 404
        except self._template_error as exc:
            shown, status = {"ok": False, "error": str(exc)}, 200
        return web.Response(status=status, text=json.dumps(shown), content_type="application/json")

    async def _history(self, request: web.Request) -> web.Response:
        entry = await self._entry(request)
        notice = _NOTICES.get(request.query.get("done") or "", None)
        return await self._history_page(request, entry, (), notice, 200)

    async def _rollback(self, request: web.Request) -> web.Response:
        entry = await self._entry(request)
        form = await request.post()
        version = str(form.get("version") or "")
        if not version.isdigit():
            raise web.HTTPBadRequest(text="version: a version number\n")
        outcome = await asyncio.to_thread(self._versions.rollback, entry.path, int(version), author=request[ADMIN_NAME])
        if not outcome.saved:
            return await self._history_page(request, entry, outcome.problems, None, 422)
        log.info("template %s: rolled back to version %s by %s, now version %s", entry.path, version,
                 request[ADMIN_NAME], _number(outcome))
        return see_other(editor_pages.history_address(self._root, entry.path) + "?done=rolled-back")

    async def _reset(self, request: web.Request) -> web.Response:
        entry = await self._entry(request)
        outcome = await asyncio.to_thread(self._versions.reset, entry.path, author=request[ADMIN_NAME])
        if not outcome.saved:
            return await self._editor(request, entry, None, outcome.problems, None, 422)
        log.info("template %s: reset to default by %s, now version %s", entry.path, request[ADMIN_NAME], _number(outcome))
        return see_other(pages.file_address(self._root, entry.path) + "?done=reset")

    async def _entry(self, request: web.Request) -> TemplateEntry:
        path = request.match_info["path"]
        entries = await asyncio.to_thread(self._versions.entries)
        found = next((e for e in entries if e.path == path), None)
        if found is None:
            raise web.HTTPNotFound(text=pages.message("No such template file", f"no template file {path!r}", self._root),
                                   content_type="text/html")
        return found

    async def _editor(self, request: web.Request, entry: TemplateEntry, text: str | None, problems: Any,
                      notice: str | None, status: int, message: str = "") -> web.Response:
        current = await asyncio.to_thread(self._versions.current, entry.path)
        tracking, customer = request.query.get("ticket") or None, request.query.get("customer") or _owner(entry)
        recent = await asyncio.to_thread(self._tickets)
        choices = Choices(self._root, entry.kind, recent, self._customers, tracking, customer, request[CSRF])
        shown, error = None, None
        try:
            shown = await asyncio.to_thread(self._preview, entry.kind, tracking, customer, {})
        except LookupError as exc:
            error = pages.said(exc)
        except self._template_error as exc:
            error = str(exc)
        view = editor_pages.EditorView(self._root, entry, current, current.text if text is None else text,
                                       request[CSRF], choices, shown, error, tuple(problems), notice)
        response = web.Response(status=status, text=editor_pages.editor(view, message), content_type="text/html",
                                charset="utf-8")
        response.headers["Content-Security-Policy"] = editor_pages.EDITOR_CSP
        return response

    async def _history_page(self, request: web.Request, entry: TemplateEntry, problems: Any, notice: str | None,
                            status: int) -> web.Response:
        versions = await asyncio.to_thread(self._versions.history, entry.path)
        current = await asyncio.to_thread(self._versions.current, entry.path)
        document = editor_pages.history(self._root, entry, versions, current.version if versions else None,
                                        request[CSRF], tuple(problems), notice)
        return web.Response(status=status, text=document, content_type="text/html", charset="utf-8")


_NOTICES = {"saved": "Saved: every instance sends this version from its next turn.",
            "rolled-back": "Rolled back: the old text is the current version again, as a new version.",
            "reset": "Reset: the shipped file's text is the current version again, as a new version."}


async def _script(request: web.Request) -> web.Response:
    body = resources.files("inbox.web").joinpath("static", SCRIPT_FILE).read_bytes()
    return web.Response(body=body, content_type="text/javascript", charset="utf-8")


def _text(value: Any) -> str:
    # A browser sends a textarea's line breaks as CRLF (HTML, "form submission"); templates are LF.
    return str(value or "").replace("\r\n", "\n")


def _chosen(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _owner(entry: TemplateEntry) -> str | None:
    # A customer's override is previewed as that customer's email.
    return entry.scope.removeprefix("customer:") if entry.scope.startswith("customer:") else None


def _number(outcome: SaveOutcome) -> int | None:
    return outcome.version.version if outcome.version is not None else None
