"""The template preview pages in headless Chromium: sign in, choose, see the email, run no script.

Runs on SQLite only: the browser part is about the page (sign-in cookie, form, layout, the
sandboxed iframe under the Content-Security-Policy); the database part is covered on SQLite and
PostgreSQL by test_admin_pages.py. Chromium and chromedriver are the system's (/usr/bin), named
explicitly so that Selenium Manager never looks for a driver on the network. Without them: a
skip on a laptop, a failure under CI=true. Leaves a screenshot in build/artefacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_service
from tests.integration.test_admin_pages import TOKEN, Site, build_site, running

pytestmark = pytest.mark.servers  # `make quick` leaves it out: it starts a real server or tool

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / "build" / "artefacts" / "templates-preview.png"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-extensions", "--window-size=1400,1000")
WAIT = 15
HOSTILE = "<script>document.title='pwned'</script>"
# The shipped templates escape a subject, so the hostile ticket alone puts no script in the
# email: this override writes real ones, to show the sandbox (not the escaping) stops them.
SCRIPTED_HTML = """<!DOCTYPE html>
<html><head><title>email</title></head>
<body style="color: #222;"><p id="canary">untouched</p><p>{{ ticket.subject }}</p>
<script>document.title = 'pwned'; document.getElementById('canary').textContent = 'pwned';</script>
<script>parent.document.title = 'pwned';</script>
</body></html>
"""


@pytest.fixture
def driver() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing_service(f"Chromium ({CHROMIUM}) and chromedriver ({CHROMEDRIVER})")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing_service("selenium (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def sign_in(driver: Any, page: str, token: str = TOKEN) -> None:
    """Open `page`, meet the sign-in form, type the token and land on `page`, the token in no address."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(shown.url_to_be(page))
    assert token not in driver.current_url


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    site = build_site(tmp_path, db_url, monkeypatch)
    site.ingest()  # SUP-000001 "Printer on fire", from acme
    site.ingest(sender="Mallory <mallory@unknown.test>", subject=HOSTILE, message_id="<m2@unknown.test>")
    override = site.templates / "customers" / "globex" / "acknowledgement"
    override.mkdir(parents=True)
    (override / "body.html.j2").write_text(SCRIPTED_HTML)
    yield site
    site.app.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_admin_previews_a_ticket_side_by_side_in_chromium(site: Site, driver: Any) -> None:
    """Sign in by the form, pick a ticket: text and HTML side by side, a script in the email never runs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(driver, WAIT)
    with running(site.admin()) as port:
        base = f"http://127.0.0.1:{port}"
        sign_in(driver, f"{base}/admin/templates")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Email templates"
        driver.find_element(By.LINK_TEXT, "acknowledgement").click()
        wait.until(shown.url_to_be(f"{base}/admin/templates/acknowledgement"))

        Select(wait.until(shown.presence_of_element_located((By.NAME, "ticket")))).select_by_value("SUP-000001")
        driver.find_element(By.CSS_SELECTOR, "form[method=get] button[type=submit]").click()
        wait.until(shown.url_contains("ticket=SUP-000001"))
        frame = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "iframe.html")))
        text = driver.find_element(By.CSS_SELECTOR, "pre.text")
        assert "Printer on fire" in text.text and "SUP-000001" in text.text
        assert text.rect["x"] + text.rect["width"] <= frame.rect["x"]  # two columns, text on the left
        assert abs(text.rect["y"] - frame.rect["y"]) <= 2 and frame.rect["height"] > 300
        title = driver.title
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))

        driver.switch_to.frame(frame)
        email = driver.find_element(By.TAG_NAME, "body")
        assert "Printer on fire" in email.text and "SUP-000001" in email.text
        # The email's inline style applies: the policy the srcdoc inherits allows inline styles.
        assert email.value_of_css_property("color") == "rgba(34, 34, 34, 1)"
        driver.switch_to.default_content()

        Select(driver.find_element(By.NAME, "ticket")).select_by_value("SUP-000002")
        Select(driver.find_element(By.NAME, "customer")).select_by_value("globex")
        driver.find_element(By.CSS_SELECTOR, "form[method=get] button[type=submit]").click()
        wait.until(shown.url_contains("customer=globex"))
        frame = wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "iframe.html")))
        assert HOSTILE in driver.find_element(By.CSS_SELECTOR, "pre.text").text  # shown as text
        driver.switch_to.frame(frame)
        assert driver.find_element(By.ID, "canary").text == "untouched"
        assert HOSTILE in driver.find_element(By.TAG_NAME, "body").text
        driver.switch_to.default_content()
        assert driver.title == title and "pwned" not in driver.title
        # The page's own style, form and frame work under its policy: no directive refused them.
        refused = [e["message"] for e in driver.get_log("browser")
                   if any(d in e["message"] for d in ("style-src", "form-action", "frame-src"))]
        assert not refused

    assert SCREENSHOT.stat().st_size > 10_000
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
