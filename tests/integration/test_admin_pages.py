"""The admin's template pages over real HTTP: sign-in, the list, previews, errors, headers.

A real `HttpEndpoint` on a free loopback port, in an event loop of its own thread, serving the
`AdminPages` that `inbox.app` builds for a real App, on SQLite and PostgreSQL, with a copy of
the shipped templates that a test may break or override.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from autoresponder import render
from autoresponder.render import KINDS
from inbox.app import App
from inbox.admin_wiring import admin_pages
from inbox.web import AdminPages
from tests.fakes import mail, make_app, make_settings
from tests.web_kit import Client, fetch, running

__all__ = ["running"]  # the browser test starts its endpoint from here

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret token; with, odd=chars"  # must survive the cookie's encoding
TOKEN_ENV = "INBOX_TEST_ADMIN_TOKEN"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'")
SIGN_IN = "/admin/sign-in"
PREVIEW = "/admin/templates/acknowledgement"


@dataclass
class Site:
    """An App on a copy of the templates, and the admin pages the composition root makes of it."""

    app: App
    templates: Path

    def admin(self) -> AdminPages | None:
        return admin_pages(self.app)

    def ingest(self, **kw: Any) -> None:
        ref = self.app.rawstore.put(mail(**kw), "test")
        assert self.app.worker().run_batch([ref.id])


def build_site(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Site:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    extra = f'templates: {{dir: "{templates}"}}\nhttp: {{admin_token_env: {TOKEN_ENV}}}\n'
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return Site(make_app(make_settings(tmp_path, db_url, extra=extra)), templates)


def signed(port: int, path: str) -> Any:
    return fetch(port, path, headers={"Authorization": f"Bearer {TOKEN}"})


class Page(HTMLParser):
    """What a test reads of a page: the <pre> texts, the iframes' attributes, the links (unescaped)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.pres: list[str] = []
        self.frames: list[dict[str, str | None]] = []
        self.links: list[str | None] = []
        self._pre: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self._pre = []
        elif tag == "iframe":
            self.frames.append(dict(attrs))
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_data(self, data: str) -> None:
        if self._pre is not None:
            self._pre.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._pre is not None:
            self.pres.append("".join(self._pre))
            self._pre = None


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    site = build_site(tmp_path, db_url, monkeypatch)
    yield site
    site.app.close()


def test_admin_pages_need_the_token(site: Site) -> None:
    """No token, or a wrong one by header or cookie: 401 with the sign-in form (a POST, never an
    address); a token in the address: 400 pointing at the form; the right Bearer: 200."""
    with running(site.admin()) as port:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "inbox_admin=wrong"},
                        {"Cookie": f"inbox_admin={quote(TOKEN, safe='')}"}, {"Authorization": f"Basic {TOKEN}"}):
            reply = fetch(port, "/admin/templates", headers=headers)
            assert reply.status == 401, headers
            assert reply.headers["WWW-Authenticate"] == "Bearer"
            assert f'<form method="post" action="{SIGN_IN}">' in reply.body and "?token=" not in reply.body
            assert TOKEN not in reply.body
        wrong = fetch(port, "/admin/templates?token=wrong")
        assert wrong.status == 400 and wrong.headers["Set-Cookie"] is None and f'href="{SIGN_IN}"' in wrong.body
        right = fetch(port, f"/admin/templates?token={quote(TOKEN)}")
        assert right.status == 400 and right.headers["Set-Cookie"] is None
        assert fetch(port, PREVIEW).status == 401
        assert signed(port, "/admin/templates").status == 200


def test_a_wrong_token_is_logged_and_counted_and_no_log_line_holds_a_token(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """A wrong token is a failed sign-in, logged and counted; each request has an access log line
    (method, path, status, time) that never holds the token offered nor the real one."""
    failures = []
    caplog.set_level(logging.DEBUG)
    with running(admin_pages(site.app), signin_failed=lambda: failures.append(1)) as port:
        wrong = "w" * 20
        assert fetch(port, f"/admin/preview?token={wrong}").status == 400
        assert fetch(port, "/admin/preview", headers={"Authorization": f"Bearer {wrong}"}).status == 401
        assert fetch(port, "/admin/preview").status == 401  # the sign-in page: not a failure
        assert Client(port).sign_in(wrong).status == 401
        browser = Client(port)
        assert browser.sign_in(TOKEN, "/admin/preview").status == 303
        assert browser.get("/admin/templates").status == 200
    assert len(failures) == 3
    assert caplog.text.count("admin sign-in failed on /admin/preview") == 2
    assert caplog.text.count("admin sign-in failed on /admin/sign-in") == 1
    access = [r.getMessage() for r in caplog.records if r.name == "inbox.web.access"]
    assert access[0].startswith("GET /admin/preview 400 ") and access[0].endswith(" ms") and len(access) == 6
    cookie = browser.cookie
    assert cookie and cookie not in caplog.text
    for secret in (wrong, TOKEN, quote(TOKEN), quote(TOKEN, safe="")):
        assert secret not in caplog.text


def test_the_sign_in_form_sets_a_session_cookie(site: Site) -> None:
    """The form's POST answers 303 to the page asked for and sets an HttpOnly, SameSite=Strict
    session cookie for /admin that holds no token; it works, alone, for the pages."""
    with running(site.admin()) as port:
        browser = Client(port)
        reply = browser.sign_in(TOKEN, f"{PREVIEW}?customer=acme")
        assert reply.status == 303 and reply.headers["Location"] == f"{PREVIEW}?customer=acme"
        cookie = reply.headers["Set-Cookie"]
        parts = {part.strip() for part in cookie.split(";")}
        assert cookie.startswith("inbox_admin=") and {"HttpOnly", "SameSite=Strict", "Path=/admin"} <= parts
        assert "Secure" not in parts  # plain HTTP here; see the guard's test of X-Forwarded-Proto
        assert TOKEN not in cookie and quote(TOKEN, safe="") not in cookie
        assert browser.get("/admin/templates").status == 200
        away = Client(port).sign_in(TOKEN, "//evil.example/admin/x")
        assert away.status == 303 and away.headers["Location"] == "/admin/templates"  # never another site


def test_pages_are_off_without_an_admin_token(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the token's variable unset there are no admin pages: 404 saying how to turn them on."""
    monkeypatch.delenv(TOKEN_ENV)
    assert site.admin() is None
    with running(None) as port:
        reply = signed(port, "/admin/templates")
        assert reply.status == 404 and "the admin pages are off: set http.admin_token_env" in reply.body
        assert fetch(port, "/healthz").status == 200


def test_a_short_token_leaves_the_pages_off(site: Site, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A token of fewer than 16 characters protects nothing: the pages stay off, and the log says why."""
    monkeypatch.setenv(TOKEN_ENV, "x" * 15)
    assert site.admin() is None
    assert f"admin admin is off: {TOKEN_ENV} holds 15 characters, fewer than 16" in caplog.text
    monkeypatch.setenv(TOKEN_ENV, "x" * 16)
    assert site.admin() is not None


def test_list_page_links_every_template(site: Site) -> None:
    """The list links each kind of email to its preview, and names no refused template while none is."""
    with running(site.admin()) as port:
        reply = signed(port, "/admin/templates")
    assert reply.status == 200 and reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert set(Page(reply.body).links) == {f"/admin/templates/{kind}" for kind in KINDS}
    assert "Templates refused now" not in reply.body


def test_preview_shows_the_tickets_email_side_by_side(site: Site) -> None:
    """With ticket=, the text part (in a <pre>) and the HTML part (a sandboxed srcdoc) carry the ticket's subject."""
    site.ingest()
    with running(site.admin()) as port:
        reply = signed(port, f"{PREVIEW}?ticket=SUP-000001&customer=")
    assert reply.status == 200
    page = Page(reply.body)
    assert "Subject:         Printer on fire" in page.pres[0]
    [frame] = page.frames
    assert "sandbox" in frame and not frame["sandbox"] and "<td>Printer on fire</td>" in (frame["srcdoc"] or "")
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in reply.body  # the email's markup never reaches the page as markup
    assert '<option value="SUP-000001" selected>SUP-000001 Printer on fire</option>' in reply.body
    assert "<td>alice@acme.com</td>" in reply.body and "Data: ticket SUP-000001" in reply.body
    assert "<code>templates/acknowledgement/subject.txt.j2</code>" in reply.body


def test_a_hostile_subject_is_never_markup(site: Site) -> None:
    """A ticket whose subject is a script shows as text everywhere: list, select, headers, text and srcdoc."""
    site.ingest(subject="<script>alert(1)</script>")
    with running(site.admin()) as port:
        reply = signed(port, f"{PREVIEW}?ticket=SUP-000001")
    assert reply.status == 200 and "<script" not in reply.body.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.body
    page = Page(reply.body)
    assert "<script>alert(1)</script>" in page.pres[0]
    srcdoc = page.frames[0]["srcdoc"] or ""
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in srcdoc and "<script" not in srcdoc


def test_a_customer_override_is_used_and_named(site: Site) -> None:
    """customer=acme previews acme's override of the subject, and the page names that file."""
    override = site.templates / "customers" / "acme" / "acknowledgement"
    override.mkdir(parents=True)
    (override / "subject.txt.j2").write_text("Acme desk: {{ ticket.subject }}\n")
    with running(site.admin()) as port:
        theirs = signed(port, f"{PREVIEW}?customer=acme")
        plain = signed(port, PREVIEW)
    assert theirs.status == 200 and "<th>Subject</th><td>[SUP-000123] Acme desk: " in theirs.body
    assert "<code>templates/customers/acme/acknowledgement/subject.txt.j2</code>" in theirs.body
    assert "Overrides: customer acme" in theirs.body
    assert "Acme desk" not in plain.body and "customers/acme" not in plain.body


def test_a_broken_template_shows_file_line_and_reason(site: Site) -> None:
    """A template that does not render is the page's content (200), as file:line: reason; the list shows it too."""
    (site.templates / "acknowledgement" / "body.txt.j2").write_text("Hello\n{{ ticket.trackng }}\n")
    with running(site.admin()) as port:
        reply = signed(port, PREVIEW)
        listing = signed(port, "/admin/templates")
    assert reply.status == 200 and "This template does not render" in reply.body
    [error] = Page(reply.body).pres
    assert error.startswith("templates/acknowledgement/body.txt.j2:2: ") and "trackng" in error
    assert not Page(reply.body).frames
    assert "<code>templates/acknowledgement/body.txt.j2:2</code>" in listing.body


class TemplateError(Exception):
    """Not autoresponder's, only named like it: the admin pages once recognised the error by its name."""


@pytest.mark.parametrize("error, shown", [
    (render.TemplateError("templates/acknowledgement/body.txt.j2", 3, "'nope' is undefined"), True),
    (RuntimeError("database gone away"), False),
    (TemplateError("templates/acknowledgement/body.txt.j2:3: a namesake"), False),
], ids=["autoresponder-TemplateError", "RuntimeError", "a-namesake"])
def test_only_the_renderers_template_error_is_shown_as_a_broken_template(
    site: Site, error: Exception, shown: bool
) -> None:
    """A preview raising autoresponder's TemplateError is the page's content (200, as file:line: reason);
    any other exception, a namesake class included, is a server error (500) that shows nothing of it."""

    def preview(kind: str, tracking: str | None, customer: str | None, changes: Any) -> Any:
        raise error

    admin = site.admin()
    assert admin is not None and admin.template_error is render.TemplateError
    with running(dataclasses.replace(admin, preview=preview)) as port:
        reply = signed(port, PREVIEW)
    if shown:
        assert reply.status == 200 and "This template does not render" in reply.body
        assert Page(reply.body).pres == [str(error)]
    else:
        assert reply.status == 500 and "does not render" not in reply.body and str(error) not in reply.body


def test_unknown_template_ticket_or_customer_is_404(site: Site) -> None:
    """An unknown kind, ticket or customer answers 404 with the reason."""
    with running(site.admin()) as port:
        kind = signed(port, "/admin/templates/nonsense")
        ticket = signed(port, f"{PREVIEW}?ticket=SUP-999999")
        customer = signed(port, f"{PREVIEW}?customer=nobody")
        other = signed(port, "/admin/elsewhere")
    assert kind.status == 404 and "no template &#x27;nonsense&#x27;" in kind.body
    assert ticket.status == 404 and "no ticket SUP-999999" in ticket.body
    assert customer.status == 404 and "no customer &#x27;nobody&#x27;" in customer.body
    assert other.status == 404


def test_read_only_pages_take_get_and_head(site: Site) -> None:
    """A POST to a read-only page, signed in and with the CSRF token, answers 405 naming GET and HEAD;
    HEAD answers GET's status and headers without a body."""
    with running(site.admin()) as port:
        browser = Client(port)
        browser.sign_in(TOKEN)
        posted = browser.post("/admin/templates", {})
        head = fetch(port, PREVIEW, method="HEAD", headers={"Authorization": f"Bearer {TOKEN}"})
    assert posted.status == 405 and posted.headers["Allow"] == "GET,HEAD"
    assert head.status == 200 and head.body == "" and int(head.headers["Content-Length"]) > 1000


def test_admin_answers_carry_the_security_headers(site: Site) -> None:
    """Every /admin answer, signed in or not, forbids scripts, framing, sniffing, referrers and caching."""
    with running(site.admin()) as port:
        replies = [signed(port, PREVIEW), fetch(port, "/admin/templates"), signed(port, "/admin/templates/x"),
                   fetch(port, f"/admin/templates?token={quote(TOKEN)}")]
        ops = fetch(port, "/healthz")
    for reply in replies:
        assert reply.headers["Content-Security-Policy"] == CSP
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Referrer-Policy"] == "same-origin"  # a form POST then sends its Origin
        assert reply.headers["Cache-Control"] == "no-store"
    assert ops.headers["Content-Security-Policy"] is None and ops.body == '{"ok": true, "database": "ok"}'


def test_an_oversized_or_malformed_request_is_refused() -> None:
    """A request head over the size limit, or a malformed one, answers 400; the server keeps serving."""
    with running(None) as port:
        big = fetch(port, "/healthz", headers={"X-Padding": "a" * 10_000})
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nBroken Header: x\r\n\r\n")
            bad = int(sock.makefile("rb").readline().split()[1])
        assert (big.status, bad) == (400, 400)
        assert fetch(port, "/healthz").status == 200
