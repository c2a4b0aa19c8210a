"""The admin's template pages: the list of templates, and the email one would send, previewed.

`AdminPages` holds what the pages need, handed in by the composition root as plain callables,
the admins who may sign in, the template versions (None: the pages only preview) and the error
type of a template that does not render: this module knows nothing of the renderer, the database
or the config. `install` puts the pages, the sign-in door (`inbox.web.guard`) and, with versions,
the editor (`inbox.web.editor`) on an aiohttp application. The pages never check who is signed in
(the guard does, before them), never send, and never call the synchronous callables on the event
loop: each runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from inbox.domain.template_versions import TemplateVersions
from inbox.web import pages
from inbox.web.editor import Editor
from inbox.web.guard import ADMIN, CSRF, Guard, see_other
from inbox.web.pages import Preview
from inbox.web.sessions import Admins

log = logging.getLogger(__name__)

TEMPLATES = f"{ADMIN}/templates"
# (kind, tracking or None, customer id or None, changes: template path -> candidate text) -> the email;
# LookupError for an unknown kind, ticket or customer; `template_error` when it does not render.
PreviewFn = Callable[[str, str | None, str | None, Mapping[str, str]], Preview]


@dataclass
class AdminPages:
    admins: Admins  # who may sign in; repr names them, never their tokens
    kinds: list[str]
    preview: PreviewFn
    # What preview raises for a template that does not render, its str() "path:line: reason":
    # autoresponder's TemplateError, handed in because this room may not import that one.
    template_error: type[Exception]
    tickets: Callable[[], list[tuple[str, str]]]  # recent (tracking, subject), newest first
    customers: list[tuple[str, str]]  # (id, name)
    problems: Callable[[], list[dict[str, Any]]]  # refused templates: {file, line, reason, keeping_last_good}
    versions: TemplateVersions | None = None  # None: no editor, the pages only preview

    def install(self, app: web.Application, signin_failed: Callable[[], None]) -> None:
        Guard(self.admins, signin_failed, TEMPLATES).install(app)
        app.router.add_get(ADMIN, _home)
        app.router.add_get(f"{ADMIN}/", _home)
        app.router.add_get(TEMPLATES, self._listing)
        app.router.add_get(f"{TEMPLATES}/", self._listing)
        app.router.add_get(TEMPLATES + "/{kind}", self._kind)
        if self.versions is not None:
            Editor(self.versions, self.preview, self.template_error, self.tickets, self.customers,
                   TEMPLATES).install(app)

    async def _listing(self, request: web.Request) -> web.Response:
        refused = await asyncio.to_thread(self.problems)
        entries = await asyncio.to_thread(self.versions.entries) if self.versions is not None else None
        return _html(200, pages.listing(TEMPLATES, self.kinds, refused, request[CSRF], entries))

    async def _kind(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind not in self.kinds:
            return _html(404, pages.message("No such template", f"no template {kind!r}", TEMPLATES))
        tracking, customer = request.query.get("ticket") or None, request.query.get("customer") or None
        recent = await asyncio.to_thread(self.tickets)
        choices = pages.Choices(TEMPLATES, kind, recent, self.customers, tracking, customer, request[CSRF])
        try:
            shown = await asyncio.to_thread(self.preview, kind, tracking, customer, {})
        except LookupError as exc:
            return _html(404, pages.message("Not found", pages.said(exc), choices.address()))
        except self.template_error as exc:
            # An admin's broken template is the page's subject, not a server error.
            return _html(200, pages.broken(choices, str(exc)))
        refused = await asyncio.to_thread(self.problems)
        stale = [p for p in refused if f"/{kind}/" in str(p.get("file", ""))]
        return _html(200, pages.preview(choices, shown, stale))


async def _home(request: web.Request) -> web.Response:
    return see_other(TEMPLATES)


def _html(status: int, document: str) -> web.Response:
    return web.Response(status=status, text=document, content_type="text/html", charset="utf-8")
