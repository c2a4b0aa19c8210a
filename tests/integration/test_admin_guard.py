"""The admin pages' door over real HTTP: sessions, CSRF tokens, origins, named admins, and logs
that never hold a token. Each test tries to get round one rule; the template store is the one
of tests/editor_kit.py, so a refused POST is seen not to have changed a template."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from inbox.web.sessions import LIFETIME
from tests.editor_kit import (
    ANNA,
    BODY,
    TOKEN,
    EditorSite,
    build_editor_site,
    saved_versions,
)
from tests.web_kit import Client, fetch, form, running

SAVE = f"/admin/templates/files/{BODY}"
GOOD = "Hello {{ ticket.requester }},\nwe have your ticket {{ ticket.tracking }}.\n"


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EditorSite]:
    site = build_editor_site(tmp_path, db_url, monkeypatch)
    yield site
    site.app.close()


def saved(site: EditorSite) -> list[int]:
    return [v.version for v in saved_versions(site, BODY)]


def test_a_post_without_the_sessions_csrf_token_is_refused(site: EditorSite) -> None:
    """No CSRF token, a made-up one, another session's of the same admin, the token itself: 403, nothing saved."""
    with running(site.admin) as port:
        browser, other = Client(port), Client(port)
        browser.sign_in(TOKEN)
        other.sign_in(TOKEN)
        theirs = other.get("/admin/templates").csrf()
        for csrf in (False, "", "x" * 43, theirs, TOKEN):
            reply = browser.post(SAVE, {"text": GOOD, "message": "m"}, csrf=csrf)
            assert reply.status == 403 and "CSRF" in reply.body, csrf
        assert saved(site) == []
        assert browser.post(SAVE, {"text": GOOD, "message": "m"}).status == 303
    assert saved(site) == [1]


def test_a_post_from_another_origin_is_refused(site: EditorSite) -> None:
    """An Origin or a Referer naming another site, or "Origin: null", refuses a POST that holds a
    right session and CSRF token; so does a sign-in posted from another site."""
    with running(site.admin) as port:
        browser = Client(port)
        browser.sign_in(TOKEN)
        csrf = browser.get("/admin/templates").csrf()
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{port + 1}", "https://127.0.0.1.evil.example"):
            browser.origin = origin
            assert browser.post(SAVE, {"text": GOOD}, csrf=csrf).status == 403, origin
        browser.origin = None
        body, headers = form({"text": GOOD, "csrf": csrf})
        cookie = {"Cookie": f"inbox_admin={browser.cookie}"}
        referred = fetch(port, SAVE, method="POST", body=body,
                         headers={**headers, **cookie, "Referer": "http://evil.example/page"})
        assert referred.status == 403 and "Referer names another site" in referred.body
        assert saved(site) == []
        signin, headers = form({"token": TOKEN})
        away = fetch(port, "/admin/sign-in", method="POST", body=signin,
                     headers={**headers, "Origin": "http://evil.example"})
        assert away.status == 403 and away.headers["Set-Cookie"] is None
        # Our own page, named by Origin or Referer (or by neither, as an old client sends): accepted.
        own = fetch(port, SAVE, method="POST", body=body,
                    headers={**headers, **cookie, "Referer": f"http://127.0.0.1:{port}{SAVE}"})
        assert own.status == 303
    assert saved(site) == [1]


def test_a_stale_forged_or_signed_out_session_is_refused(site: EditorSite) -> None:
    """A session past its 12 hours, one with an altered signature, and one signed out: a GET asks to
    sign in again (401), a POST is refused (403), and nothing is saved."""
    with running(site.admin) as port:
        browser = Client(port)
        browser.sign_in(TOKEN)
        csrf = browser.get("/admin/templates").csrf()
        cookie = browser.cookie
        assert cookie is not None
        forged = Client(port, cookie=cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB"))
        assert forged.get("/admin/templates").status == 401
        assert forged.post(SAVE, {"text": GOOD}, csrf=csrf).status == 403

        start = site.app.clock.now()
        site.app.clock.set(start + LIFETIME)
        assert browser.get("/admin/templates").status == 401
        assert browser.post(SAVE, {"text": GOOD}, csrf=csrf).status == 403
        site.app.clock.set(start + LIFETIME - timedelta(seconds=1))
        assert browser.get("/admin/templates").status == 200

        out = browser.post("/admin/sign-out", {})
        assert out.status == 303 and out.headers["Location"] == "/admin/sign-in"
        assert "inbox_admin=" in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
        assert browser.get("/admin/templates").status == 401  # the same cookie, replayed
        assert browser.post(SAVE, {"text": GOOD}, csrf=csrf).status == 403
    assert saved(site) == []


def test_a_bearer_token_reads_but_never_posts(site: EditorSite) -> None:
    """A script's Authorization header reads a page; it cannot save (no session, no CSRF token)."""
    with running(site.admin) as port:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert fetch(port, f"/admin/templates/files/{BODY}", headers=bearer).status == 200
        body, headers = form({"text": GOOD, "csrf": ""})
        assert fetch(port, SAVE, method="POST", body=body, headers={**headers, **bearer}).status == 403
    assert saved(site) == []


def test_named_admins_are_the_authors(site: EditorSite) -> None:
    """Anna signs in with her own token and her save is hers; the shared token's is "admin"'s."""
    with running(site.admin) as port:
        anna, shared = Client(port), Client(port)
        assert anna.sign_in(ANNA).status == 303 and shared.sign_in(TOKEN).status == 303
        assert anna.post(SAVE, {"text": GOOD, "message": "friendlier"}).status == 303
        assert shared.post(SAVE, {"text": GOOD + "Regards\n", "message": "sign-off"}).status == 303
        listing = anna.get("/admin/templates")
    newest, first = saved_versions(site, BODY)
    assert (first.author, first.message, newest.author) == ("anna", "friendlier", "admin")
    assert "admin, 20" in listing.body  # the list names who changed it last


def test_the_session_cookie_is_secure_behind_an_https_proxy(site: EditorSite) -> None:
    """Signed in through a proxy that says the browser used https, the cookie is Secure."""
    with running(site.admin) as port:
        browser = Client(port, extra={"X-Forwarded-Proto": "https"})
        reply = browser.sign_in(TOKEN)
    assert reply.status == 303 and "Secure" in {p.strip() for p in reply.headers["Set-Cookie"].split(";")}


def test_a_body_over_the_limit_is_refused(site: EditorSite) -> None:
    """A POST body over 256 KiB answers 413 and saves nothing."""
    with running(site.admin) as port:
        browser = Client(port)
        browser.sign_in(TOKEN)
        assert browser.post(SAVE, {"text": "x" * 300_000}).status == 413
    assert saved(site) == []


def test_no_token_cookie_or_csrf_token_in_any_log_line_of_a_run(
        site: EditorSite, caplog: pytest.LogCaptureFixture) -> None:
    """Every way a token reaches the server (form, header, address, an oversized header, a refused
    save), all logged at DEBUG: no log line holds a token, a session cookie or a CSRF token."""
    caplog.set_level(logging.DEBUG)
    with running(site.admin) as port:
        browser = Client(port)
        browser.sign_in("not-" + TOKEN)
        browser.sign_in(TOKEN)
        csrf = browser.get("/admin/templates").csrf()
        anna = Client(port)
        anna.sign_in(ANNA)
        fetch(port, f"/admin/templates?token={quote(TOKEN)}")
        fetch(port, "/admin/templates", headers={"Authorization": f"Bearer {ANNA}"})
        fetch(port, "/admin/templates", headers={"Authorization": f"Bearer {TOKEN}x" + "p" * 9000})
        browser.post(SAVE, {"text": "{% if %}", "message": "broken"})
        browser.post(SAVE, {"text": GOOD, "message": "good"})
        browser.post("/admin/sign-out", {})
        browser.post(SAVE, {"text": GOOD}, csrf=csrf)
    lines = [f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    assert any("admin sign-in failed" in line for line in lines) and any("refused" in line for line in lines)
    secrets = [TOKEN, ANNA, quote(TOKEN), quote(TOKEN, safe=""), quote(ANNA, safe=""), csrf,
               browser.cookie or "?", anna.cookie or "?", TOKEN[:12], ANNA[:12]]
    for line in lines:
        for secret in secrets:
            assert secret not in line, line


@pytest.mark.parametrize("path, fields", [
    (SAVE, {"text": GOOD}),
    (f"/admin/templates/preview/{BODY}", {"text": GOOD}),
    (f"/admin/templates/rollback/{BODY}", {"version": "1"}),
    (f"/admin/templates/reset/{BODY}", {}),
    ("/admin/sign-out", {}),
], ids=["save", "preview", "rollback", "reset", "sign-out"])
def test_every_post_needs_the_csrf_token_and_our_origin(site: EditorSite, path: str, fields: dict[str, str]) -> None:
    """Each POST of the admin pages, with a good session: refused without the CSRF token and from
    another origin; with both, it does its work."""
    with running(site.admin) as port:
        browser = Client(port)
        browser.sign_in(TOKEN)
        assert browser.post(SAVE, {"text": GOOD + "1\n"}).status == 303  # a version 1 to roll back to
        assert browser.post(SAVE, {"text": GOOD + "2\n"}).status == 303
        assert browser.post(path, fields, csrf=False).status == 403
        browser.origin = "http://evil.example"
        assert browser.post(path, fields).status == 403
        assert saved(site) == [2, 1] and browser.get("/admin/templates").status == 200  # still signed in
        browser.origin = None
        assert browser.post(path, fields).status in (200, 303)


def test_only_the_sign_in_form_and_the_editors_script_are_open(site: EditorSite) -> None:
    """Without a session: the form and the script answer; every other /admin path, one dressed up
    as a static file among them, asks to sign in and shows nothing."""
    with running(site.admin) as port:
        assert fetch(port, "/admin/sign-in").status == 200
        assert fetch(port, "/admin/static/editor.js").status == 200
        for path in ("/admin", "/admin/templates", SAVE, f"/admin/templates/history/{BODY}", "/admin/static/other.js",
                     "/admin/static/%2e%2e/templates", "/admin/static/editor.js/../../templates",
                     "/admin/sign-in/../templates"):
            reply = fetch(port, path)
            assert reply.status in (401, 404), path
            assert "Thank you for contacting" not in reply.body and "textarea" not in reply.body, path


def test_a_session_opened_on_one_instance_works_on_another(site: EditorSite) -> None:
    """Two endpoints built apart from the same config (two instances behind one proxy): the cookie
    and CSRF token that one hands out are taken by the other."""
    import dataclasses

    from inbox.admin_wiring import admin_pages

    second = admin_pages(site.app, versions=site.versions)
    assert second is not None and second.admins is not site.admin.admins
    second = dataclasses.replace(second, preview=site.admin.preview)
    with running(site.admin) as one, running(second) as two:
        first = Client(one)
        first.sign_in(ANNA)
        csrf = first.get("/admin/templates").csrf()
        other = Client(two, cookie=first.cookie)
        assert other.get("/admin/templates").status == 200
        assert other.post(SAVE, {"text": GOOD, "message": "from two"}, csrf=csrf).status == 303
    assert saved_versions(site, BODY)[0].author == "anna"
