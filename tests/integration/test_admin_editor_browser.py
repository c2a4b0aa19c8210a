"""The template editor in headless Chromium, as an admin uses it: sign in, open the acknowledgement's
body, type and watch the preview follow, save a broken text and see the refusal beside its line
(the version in use unchanged), save good ones, read History with its diff, roll back, sign out.

The site comes from tests/editor_kit.py (`build_editor_site`): today the in-memory twin of the
template store, at merge the real one. SQLite only: the browser part is about the page; the
store's flows run on SQLite and PostgreSQL in test_admin_editor.py. Keeps two screenshots
(build/artefacts/template-editor.png, template-history.png) and prints where they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.editor_kit import BODY, TOKEN, EditorSite, build_editor_site, saved_versions
from tests.integration.test_admin_browser import WAIT, driver, sign_in
from tests.web_kit import running

pytestmark = pytest.mark.servers  # `make quick` leaves it out: it starts a real server or tool

__all__ = ["driver"]  # the fixture, shared with the preview pages' browser test

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "build" / "artefacts"
TYPED = "Typed in the browser for {{ ticket.tracking }}."
BROKEN = "Hello,\n{% if ticket.tracking %}\nyour ticket {{ ticket.tracking }}\n"
GOOD = "Hello {{ ticket.requester }},\nwe have opened {{ ticket.tracking }} for you.\n"
BETTER = GOOD + "Regards,\n{{ service.name }}\n"
HTML_FILE = "acknowledgement/body.html.j2"
SCRIPTED = ('<p id="canary">untouched</p>{{ ticket.tracking }}'
            "<script>document.getElementById('canary').textContent = 'pwned'; parent.document.title = 'pwned';</script>")


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EditorSite]:
    site = build_editor_site(tmp_path, db_url, monkeypatch)
    yield site
    site.app.close()


def replace_text(driver: Any, text: str) -> None:
    """Select all in the textarea and type `text` over it, key by key, as an admin would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    area = driver.find_element(By.ID, "text")
    area.click()
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys(Keys.DELETE)
    area.send_keys(text)


def shot(driver: Any, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / name
    assert driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_admin_edits_a_template_in_chromium(site: EditorSite, driver: Any) -> None:
    """Type, preview, refused save beside its line, saves, history diff, roll back, sign out."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT)
    shipped = site.versions.current(BODY).text
    with running(site.admin) as port:
        base = f"http://127.0.0.1:{port}"
        page = f"{base}/admin/templates/files/{BODY}"
        sign_in(driver, f"{base}/admin/templates")
        driver.find_element(By.LINK_TEXT, BODY).click()
        wait.until(shown.url_to_be(page))
        preview = driver.find_element(By.ID, "pv-text")
        assert "SUP-000123" in preview.text and "Typed" not in preview.text

        # Typing: the preview follows, without a save.
        replace_text(driver, TYPED)
        wait.until(shown.text_to_be_present_in_element((By.ID, "pv-text"), "Typed in the browser for SUP-000123."))
        assert saved_versions(site, BODY) == []
        editor_png = shot(driver, "template-editor.png")

        # A broken text: refused, shown beside its line, kept in the editor; the version in use unchanged.
        replace_text(driver, BROKEN)
        wait.until(shown.visibility_of_element_located((By.ID, "pv-error")))
        driver.find_element(By.ID, "message").send_keys("broken on purpose")
        driver.find_element(By.ID, "save").click()
        refused = wait.until(shown.presence_of_element_located((By.ID, "refused")))
        [item] = refused.find_elements(By.CSS_SELECTOR, "li[data-line]")
        line = int(item.get_attribute("data-line"))
        assert f"line {line}:" in item.text and f"templates/{BODY}:{line}" in item.text
        marked = driver.find_elements(By.CSS_SELECTOR, "#gutter b")
        assert [m.text for m in marked] == [f"\u25B6{line}"]
        area = driver.find_element(By.ID, "text")
        assert area.get_attribute("value") == BROKEN
        # The marker sits on the same row as the refused line of the textarea (one line height each).
        assert abs(marked[0].rect["y"] - (area.rect["y"] + 8 + 18 * (line - 1))) <= 4
        assert saved_versions(site, BODY) == [] and site.versions.current(BODY).text == shipped

        # Two good saves.
        for text, message in ((GOOD, "shorter"), (BETTER, "sign-off")):
            replace_text(driver, text)
            driver.find_element(By.ID, "message").clear()  # a refused save keeps its message
            driver.find_element(By.ID, "message").send_keys(message)
            save = driver.find_element(By.ID, "save")
            save.click()
            # The second save starts on the first's "?done=saved" page: the URL alone says nothing
            # until the page that button was on has gone.
            wait.until(shown.staleness_of(save))
            wait.until(shown.url_to_be(f"{page}?done=saved"))
            assert "Saved" in driver.find_element(By.CSS_SELECTOR, ".saved").text
        assert [v.version for v in saved_versions(site, BODY)] == [2, 1]

        # History: newest first, the diff of version 2 against version 1.
        driver.find_element(By.LINK_TEXT, "History").click()
        wait.until(shown.url_contains("/admin/templates/history/"))
        newest = driver.find_element(By.ID, "v2")
        added = [e.text for e in newest.find_elements(By.CSS_SELECTOR, ".diff .add")]
        assert "+Regards," in added and "+{{ service.name }}" in added
        assert "admin" in newest.text and newest.text.count("sign-off") == 1
        assert "shorter" in driver.find_element(By.ID, "v1").text
        history_png = shot(driver, "template-history.png")

        # Roll back to version 1: a new version, 3, with version 1's text.
        driver.find_element(By.CSS_SELECTOR, "button.rollback[data-version='1']").click()
        wait.until(shown.url_contains("?done=rolled-back"))
        assert "current" in driver.find_element(By.ID, "v3").text
        assert site.versions.current(BODY).text == GOOD and site.versions.current(BODY).origin == "rollback"

        # The email's HTML never runs a script in the preview, even one typed into the editor.
        driver.get(f"{base}/admin/templates/files/{HTML_FILE}")
        title = driver.title
        replace_text(driver, SCRIPTED)
        frame = driver.find_element(By.ID, "pv-html")
        wait.until(lambda d: "canary" in (frame.get_attribute("srcdoc") or ""))
        driver.switch_to.frame(frame)
        assert driver.find_element(By.ID, "canary").text == "untouched"
        driver.switch_to.default_content()
        assert driver.title == title
        refused_by_policy = [e["message"] for e in driver.get_log("browser")
                             if "Content Security Policy" in e["message"] and "editor.js" in e["message"]]
        assert not refused_by_policy

        # Sign out: the pages ask to sign in again.
        driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
        wait.until(shown.url_to_be(f"{base}/admin/sign-in"))
        driver.get(page)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
        assert TOKEN not in driver.page_source

    for png in (editor_png, history_png):
        assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
