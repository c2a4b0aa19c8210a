"""The admin's template pages: the list of templates, and the email one would send, previewed.

`AdminPages` holds what the pages need, handed in by the composition root as plain callables
and the error type of a template that does not render: this module knows nothing of the
renderer, the database or the config. `page()` answers a path under /admin with a status and
an HTML document (built by `inbox.web.pages`). It never checks the token (the server does,
before calling), never changes a ticket or a template, never sends, and never calls the
synchronous callables on the event loop: each runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from inbox.web import pages
from inbox.web.pages import Preview

log = logging.getLogger(__name__)

ADMIN = "/admin"
TEMPLATES = f"{ADMIN}/templates"


@dataclass
class AdminPages:
    token: str = field(repr=False)  # never in a log line that prints this object
    kinds: list[str]
    # (kind, tracking or None, customer id or None) -> the email; LookupError for an unknown kind,
    # ticket or customer; `template_error` when it does not render.
    preview: Callable[[str, str | None, str | None], Preview]
    # What preview raises for a template that does not render, its str() "path:line: reason":
    # autoresponder's TemplateError, handed in because this room may not import that one.
    template_error: type[Exception]
    tickets: Callable[[], list[tuple[str, str]]]  # recent (tracking, subject), newest first
    customers: list[tuple[str, str]]  # (id, name)
    problems: Callable[[], list[dict[str, Any]]]  # refused templates: {file, line, reason, keeping_last_good}

    async def page(self, path: str, query: Mapping[str, str]) -> tuple[int, str]:
        """(status, HTML document) for an admin path; the token was checked by the caller."""
        if path in (TEMPLATES, f"{TEMPLATES}/"):
            refused = await asyncio.to_thread(self.problems)
            return 200, pages.listing(TEMPLATES, self.kinds, refused)
        kind = path[len(TEMPLATES) + 1:] if path.startswith(f"{TEMPLATES}/") else None
        if kind is None:
            return 404, pages.message("Not found", f"no admin page {path}", TEMPLATES)
        if kind not in self.kinds:
            return 404, pages.message("No such template", f"no template {kind!r}", TEMPLATES)
        return await self._preview(kind, query.get("ticket") or None, query.get("customer") or None)

    async def _preview(self, kind: str, tracking: str | None, customer: str | None) -> tuple[int, str]:
        recent = await asyncio.to_thread(self.tickets)
        choices = pages.Choices(TEMPLATES, kind, recent, self.customers, tracking, customer)
        try:
            shown = await asyncio.to_thread(self.preview, kind, tracking, customer)
        except LookupError as exc:
            return 404, pages.message("Not found", _said(exc), choices.address())
        except self.template_error as exc:
            # An admin's broken template is the page's subject, not a server error.
            return 200, pages.broken(choices, str(exc))
        refused = await asyncio.to_thread(self.problems)
        stale = [p for p in refused if f"/{kind}/" in str(p.get("file", ""))]
        return 200, pages.preview(choices, shown, stale)


def _said(exc: LookupError) -> str:
    # str(KeyError("x")) is "'x'": the message itself reads better.
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)
