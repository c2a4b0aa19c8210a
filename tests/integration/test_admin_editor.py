"""The template editor over real HTTP, against a `TemplateVersions` (tests/editor_kit.py): the list,
a file's page, the preview of a candidate text, Save refused next to its line, Save, History with
its diffs, Roll back and Reset, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from tests.editor_kit import (
    ACME_SUBJECT,
    BODY,
    ROOT,
    SUBJECT,
    TOKEN,
    EditorSite,
    build_editor_site,
    saved_versions,
)
from tests.web_kit import Client, running

PAGE = f"/admin/templates/files/{BODY}"
HISTORY = f"/admin/templates/history/{BODY}"
SHIPPED = (ROOT / "templates" / BODY).read_text()
GOOD = "Hello {{ ticket.requester }},\nwe have your ticket {{ ticket.tracking }}.\n"
# Line 3 opens a block that never ends: the renderer names that line.
BROKEN = "Hello,\n\n{% if ticket.tracking %}\nyour ticket {{ ticket.tracking }}\n"


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EditorSite]:
    site = build_editor_site(tmp_path, db_url, monkeypatch)
    yield site
    site.app.close()


@pytest.fixture
def browser(site: EditorSite) -> Iterator[Client]:
    with running(site.admin) as port:
        client = Client(port)
        assert client.sign_in(TOKEN).status == 303
        yield client


def textarea(body: str) -> str:
    found = re.search(r'<textarea id="text"[^>]*>\n(.*?)</textarea>', body, re.S)
    assert found, "no editor textarea"
    return unescape(found[1])


def test_the_list_shows_each_file_its_scope_and_who_changed_it(site: EditorSite, browser: Client) -> None:
    """Every template file links to its editor, with kind, scope, customised or not; after a save, by whom."""
    before = browser.get("/admin/templates")
    assert before.status == 200
    for entry in site.versions.entries():
        assert f'href="/admin/templates/files/{entry.path}"' in before.body
    row = re.search(rf'<tr><td><a href="/admin/templates/files/{re.escape(ACME_SUBJECT)}">.*?</tr>', before.body)
    assert row and "<td>customer:acme</td><td>customised</td>" in row[0]
    assert browser.post(PAGE, {"text": GOOD, "message": "m"}).status == 303
    after = browser.get("/admin/templates")
    row = re.search(rf'<tr><td><a href="{re.escape(PAGE)}">.*?</tr>', after.body)
    assert row and "<td>default</td><td>customised</td><td>1</td><td>admin, " in row[0]


def test_a_files_page_holds_its_text_a_preview_and_the_editor_script(site: EditorSite, browser: Client) -> None:
    """The textarea holds the current text exactly; the preview beside it is the email (subject,
    text, sandboxed HTML); only this page may run the package's own script."""
    reply = browser.get(PAGE)
    assert reply.status == 200 and textarea(reply.body) == SHIPPED
    assert '<script src="/admin/static/editor.js"></script>' in reply.body
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    assert re.search(r'<iframe class="html" id="pv-html" sandbox srcdoc="[^"]+"', reply.body)
    assert "<th>Subject</th><td>[SUP-000123] " in reply.body
    assert "script-src" not in browser.get("/admin/templates").headers["Content-Security-Policy"]
    script = browser.get("/admin/static/editor.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "innerHTML" not in script.body and "eval(" not in script.body
    assert browser.get("/admin/templates/files/nope/nothing.j2").status == 404


def test_the_preview_follows_a_candidate_text(site: EditorSite, browser: Client) -> None:
    """POSTed text is previewed as it would be sent, unsaved; a broken one answers its error and line."""
    reply = browser.post(f"/admin/templates/preview/{BODY}", {"text": "Typed: {{ ticket.tracking }}!\n",
                                                                "ticket": "", "customer": ""})
    shown = json.loads(reply.body)
    assert reply.status == 200 and shown["ok"] and shown["text"].startswith("Typed: SUP-000123!")
    broken = json.loads(browser.post(f"/admin/templates/preview/{BODY}", {"text": BROKEN}).body)
    assert not broken["ok"] and f"templates/{BODY}:" in broken["error"]
    subject = json.loads(browser.post(f"/admin/templates/preview/{ACME_SUBJECT}",
                                      {"text": "Acme! {{ ticket.subject }}", "customer": "acme"}).body)
    assert dict(subject["headers"])["Subject"].startswith("[SUP-000123] Acme! ")
    assert saved_versions(site, BODY) == [] and saved_versions(site, ACME_SUBJECT) == []


def test_a_save_that_does_not_render_is_refused_next_to_its_line(site: EditorSite, browser: Client) -> None:
    """Save of a broken text: 422, the text kept in the editor, the line marked in the gutter and
    named in the list of reasons; the current version is unchanged."""
    reply = browser.post(PAGE, {"text": BROKEN.replace("\n", "\r\n"), "message": "oops"})
    assert reply.status == 422 and textarea(reply.body) == BROKEN
    problems = site.versions.check({BODY: BROKEN})
    [line] = {p.line for p in problems}
    assert line is not None
    assert f"<b>&#9654;{line}</b>" in reply.body  # the gutter's marker beside the line
    assert re.search(rf'<li data-line="{line}"><code>templates/{re.escape(BODY)}:{line}</code> line {line}: ', reply.body)
    assert 'value="oops"' in reply.body
    assert saved_versions(site, BODY) == [] and site.versions.current(BODY).text == SHIPPED


def test_save_history_rollback_and_reset(site: EditorSite, browser: Client) -> None:
    """Two saves, then History (newest first, each with its escaped diff), Roll back to the first
    (a new version with its text), and Reset (a new version with the shipped text)."""
    first = browser.post(PAGE, {"text": GOOD, "message": "shorter"})
    assert first.status == 303 and first.headers["Location"] == f"{PAGE}?done=saved"
    assert "Saved: every instance" in browser.get(first.headers["Location"]).body
    assert browser.post(PAGE, {"text": GOOD + "<b>Regards</b>\n", "message": "sign-off"}).status == 303
    history = browser.get(HISTORY)
    assert history.status == 200
    assert history.body.index('id="v2"') < history.body.index('id="v1"')
    assert '<span class="add">+&lt;b&gt;Regards&lt;/b&gt;</span>' in history.body  # escaped, never markup
    assert '<span class="del">-Hello,</span>' not in history.body.split('id="v1"')[0]
    assert "<strong>current</strong>" in history.body.split('id="v1"')[0]

    rolled = browser.post(f"/admin/templates/rollback/{BODY}", {"version": "1"})
    assert rolled.status == 303 and rolled.headers["Location"] == f"{HISTORY}?done=rolled-back"
    newest = saved_versions(site, BODY)[0]
    assert (newest.version, newest.origin, newest.text, newest.author) == (3, "rollback", GOOD, "admin")
    assert browser.post(f"/admin/templates/rollback/{BODY}", {"version": "x"}).status == 400

    reset = browser.post(f"/admin/templates/reset/{BODY}", {})
    assert reset.status == 303 and reset.headers["Location"] == f"{PAGE}?done=reset"
    assert [(v.version, v.origin) for v in saved_versions(site, BODY)] == [
        (4, "reset"), (3, "rollback"), (2, "save"), (1, "save")]
    assert site.versions.current(BODY).text == SHIPPED
    assert textarea(browser.get(PAGE).body) == SHIPPED


def test_other_files_are_untouched_by_one_files_save(site: EditorSite, browser: Client) -> None:
    """A save of the body leaves the subject's history empty; its page still shows the shipped text."""
    assert browser.post(PAGE, {"text": GOOD}).status == 303
    assert saved_versions(site, SUBJECT) == []
    assert textarea(browser.get(f"/admin/templates/files/{SUBJECT}").body) == site.versions.current(SUBJECT).text


def test_without_versions_the_pages_only_preview(site: EditorSite) -> None:
    """With no template store wired (versions=None), there is no editor: the list has no files, a file's page is 404."""
    import dataclasses

    with running(dataclasses.replace(site.admin, versions=None)) as port:
        client = Client(port)
        client.sign_in(TOKEN)
        listing = client.get("/admin/templates")
        assert listing.status == 200 and "/admin/templates/files/" not in listing.body
        assert client.get(PAGE).status == 404
        assert client.post(PAGE, {"text": GOOD}).status in (404, 405)
