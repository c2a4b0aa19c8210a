"""The template editor's test site: a real App on a copy of the templates, its admin pages with a
`TemplateVersions`, two admins ("admin" by http.admin_token_env, and "anna" by admins:).

`versions_for` and `preview_for` are the two seams to the template store: the real store in
autoresponder (`App.template_versions`) and the App's preview that takes candidate texts, as
`inbox serve` wires them. Every editor test, the browser's among them, builds its site here.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from inbox.app import App
from inbox.domain.template_versions import TemplateVersions
from inbox.admin_wiring import admin_pages
from inbox.web import AdminPages
from tests.fakes import mail, make_app, make_settings

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret token; with, odd=chars"  # "admin", the holder of http.admin_token_env
TOKEN_ENV = "INBOX_TEST_ADMIN_TOKEN"
ANNA = "anna's own token, 0123456789"
ANNA_ENV = "INBOX_TEST_TOKEN_ANNA"
BODY = "acknowledgement/body.txt.j2"
SUBJECT = "acknowledgement/subject.txt.j2"
ACME_SUBJECT = "customers/acme/acknowledgement/subject.txt.j2"


def versions_for(app: App, templates: Path) -> TemplateVersions:
    """The template store under test: the real one, on `app`'s database."""
    return app.template_versions()


def preview_for(app: App, versions: TemplateVersions) -> Callable[..., Any]:
    """The preview that takes candidate texts: the App's own, as `inbox serve` wires it."""
    return app.preview


@dataclass
class EditorSite:
    app: App
    templates: Path
    versions: TemplateVersions
    admin: AdminPages

    def ingest(self, **kw: Any) -> None:
        ref = self.app.rawstore.put(mail(**kw), "test")
        assert self.app.worker().run_batch([ref.id])


def build_editor_site(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> EditorSite:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    override = templates / "customers" / "acme" / "acknowledgement"
    override.mkdir(parents=True)
    (override / "subject.txt.j2").write_text("Acme desk: {{ ticket.subject }}\n")
    extra = (f'templates: {{dir: "{templates}"}}\nhttp: {{admin_token_env: {TOKEN_ENV}}}\n'
             f"admins:\n  - {{name: anna, token_env: {ANNA_ENV}}}\n")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(ANNA_ENV, ANNA)
    app = make_app(make_settings(tmp_path, db_url, extra=extra))
    versions = versions_for(app, templates)
    pages = admin_pages(app, versions=versions)
    assert pages is not None and pages.admins.names == ["admin", "anna"]
    return EditorSite(app, templates, versions, dataclasses.replace(pages, preview=preview_for(app, versions)))


def saved_versions(site: EditorSite, path: str) -> list[Any]:
    """A file's saved versions, newest first: its history without version 0, the shipped file."""
    return [v for v in site.versions.history(path) if v.version]
