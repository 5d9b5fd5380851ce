"""The console in Debian's Chromium at a phone's 390 px, against the real services behind the front door:
sign in from the keyboard, run the release manager's flows and check them where clients look, and on every
page: no console error, no failed request, nothing wider than the screen, and no serious or critical axe-core
violation. A screenshot of each page stays in test-artifacts/console-*.png."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from loadtest.stack import ADMIN_EMAIL
from tests.browsers import ARTIFACTS, PHONE, axe_source, axe_violations, chromium

PASSWORD = "load password"  # loadtest/stack.py's super_admin


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def axe():
    return axe_source()


class Visit:
    """Checks each page as it is shown, and keeps its screenshot."""

    def __init__(self, driver, axe: str, base: str):
        self.driver, self.axe, self.base, self.problems = driver, axe, base, []

    def check(self, name: str) -> None:
        d = self.driver
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        failed = d.execute_script(
            "return performance.getEntries().filter(e => (e.responseStatus || 200) >= 400)"
            ".map(e => e.name + ' ' + e.responseStatus)"
        )
        wide = d.execute_script("return document.documentElement.scrollWidth")
        violations = axe_violations(d, self.axe)
        if errors or failed or wide > PHONE["width"] or violations:
            self.problems.append(
                {"page": name, "console": errors, "failed": failed, "width": wide, "axe": violations}
            )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(PHONE["width"], min(height + 100, 6000))
        d.save_screenshot(str(ARTIFACTS / f"console-{name}.png"))
        d.set_window_size(PHONE["width"], PHONE["height"])  # back to the phone: clicks land where they aim

    def open(self, path: str, name: str) -> None:
        self.driver.get(self.base + path)
        self.check(name)


def _tab_to(driver, matches, limit: int = 200):
    """Presses Tab until the focused element satisfies ``matches``: what a keyboard user does."""
    from selenium.webdriver.common.keys import Keys

    for _ in range(limit):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if matches(driver.switch_to.active_element):
            return driver.switch_to.active_element
    raise AssertionError("not reachable from the keyboard")


def _until(check, timeout: float = 15.0):
    """``check()`` once it is true; a page still loading (its elements gone or not there yet) is not yet."""
    from selenium.common.exceptions import WebDriverException  # stale, missing, or detached mid-navigation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except WebDriverException:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_the_console_in_a_phone_browser(stack, browser, axe, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    base = str(stack.front.base_url)
    team = stack.write.post("/admin/v1/teams", json={"name": "Browser Team"}).json()["id"]
    v = Visit(browser, axe, base)

    # Sign in from the keyboard: the login page comes first, and brings the user back where they were going.
    browser.get(base + "/console/apps")
    assert "/console/login" in browser.current_url
    v.check("login")
    email = _tab_to(browser, lambda e: e.get_attribute("name") == "email")
    email.send_keys(ADMIN_EMAIL, Keys.TAB, PASSWORD, Keys.ENTER)
    _until(lambda: browser.current_url.endswith("/console/apps"))
    v.check("apps")

    # Create an app from the apps page.
    Select(browser.find_element(By.ID, "team_id")).select_by_value(str(team))
    browser.find_element(By.ID, "title").send_keys("Phone Notes")
    browser.find_element(By.ID, "package_name").send_keys("com.browser.notes")
    browser.find_element(By.XPATH, "//button[text()='Create app']").click()
    _until(lambda: "/console/apps/app_" in browser.current_url)
    app_path = browser.current_url.removeprefix(base).split("#")[0]
    app_id = app_path.rsplit("/", 1)[-1]
    v.check("app")

    # A client token, shown once.
    browser.find_element(By.ID, "token-name").send_keys("phone", Keys.ENTER)
    token = _until(lambda: browser.find_elements(By.CSS_SELECTOR, "code.token"))[0].text
    assert token.startswith("ghc_")

    # An exact version rule, with a German message: /v1/versions answers it.
    # From the keyboard: open the editor, fill it in field by field, submit with Enter.
    browser.get(base + app_path)
    _tab_to(browser, lambda e: e.text == "Add a version rule").send_keys(Keys.ENTER)
    version = _tab_to(browser, lambda e: e.get_attribute("id") == "r-version")
    version.send_keys("2.0.0", Keys.TAB, Keys.SPACE, Keys.TAB, "Please update", Keys.TAB, "de", Keys.TAB)
    browser.switch_to.active_element.send_keys("Bitte aktualisieren", Keys.ENTER)
    _until(lambda: "Bitte aktualisieren" in browser.page_source)
    query = {"app_id": app_id, "app_version": "2.0.0", "platform": "ios", "environment": "production"}
    client = httpx.Client(base_url=base, headers={"x-api-token": token})
    rule = _until(lambda: (r := client.get("/v1/versions", params=query)).status_code == 200 and r.json())
    assert rule["force_update"] is True and rule["update_message"] == "Please update"

    # Maintenance on, from the keyboard, with its confirmation; /v1/maintenance follows, then off again.
    browser.get(base + app_path)
    link = _tab_to(browser, lambda e: (e.text or "").startswith("Switch on") and "production" in e.text)
    link.send_keys(Keys.ENTER)
    _until(lambda: "/maintenance/production" in browser.current_url)
    v.check("maintenance-confirm")
    browser.find_element(By.ID, "m-title").send_keys("Back soon")
    _tab_to(browser, lambda e: e.text == "Yes, start maintenance").send_keys(Keys.ENTER)
    _until(lambda: browser.current_url.endswith("#maintenance"))
    params = {"app_id": app_id, "environment": "production"}
    assert _until(lambda: client.get("/v1/maintenance", params=params).json()["active"])
    _until(
        lambda: (
            "has served the current state since"
            in browser.find_element(By.CSS_SELECTOR, "[data-serving]").text
        )
    )
    browser.get(base + app_path + "/maintenance/production")
    browser.find_element(By.XPATH, "//button[text()='Yes, end maintenance']").click()
    assert _until(lambda: client.get("/v1/maintenance", params=params).json()["active"] is False)

    # The minimum-version editor previews its impact as the user types.
    browser.get(base + app_path)
    browser.find_element(By.XPATH, "//summary[text()='Add a minimum version']").click()
    browser.find_element(By.ID, "m-minimum_version").send_keys("3.0")
    _until(lambda: browser.find_element(By.CSS_SELECTOR, "[data-impact-out]").text)
    v.check("app-editing")
    v.open(app_path + "/impact?minimum=3.0", "impact")

    # Live updates: a channel, a bundle uploaded with the progress bar, a rollout started and paused.
    v.open(app_path + "/live", "live")
    browser.find_element(By.XPATH, "//summary[text()='Create or change a channel']").click()
    browser.find_element(By.ID, "ch-name").send_keys("production")
    browser.find_element(By.ID, "ch-public").click()
    browser.find_element(By.XPATH, "//button[text()='Save channel']").click()
    _until(lambda: "production" in browser.find_element(By.ID, "channels").text)
    for version in ("1.0.0", "1.1.0"):
        bundle = tmp_path / f"bundle-{version}.zip"
        bundle.write_bytes(b"PK\x05\x06" + b"\0" * 18 + version.encode() * 20_000)
        browser.find_element(By.ID, "b-name").send_keys(version)
        browser.find_element(By.ID, "b-file").send_keys(str(bundle))
        browser.find_element(By.XPATH, "//button[text()='Upload bundle']").click()
        _until(lambda v=version: v in browser.find_element(By.ID, "bundles").text)
    browser.find_element(By.XPATH, "//summary[text()='Create or change a channel']").click()
    browser.find_element(By.ID, "ch-name").send_keys("production")
    Select(browser.find_element(By.ID, "ch-bundle")).select_by_visible_text("1.0.0")
    browser.find_element(By.ID, "ch-public").click()
    browser.find_element(By.XPATH, "//button[text()='Save channel']").click()
    _until(lambda: "1.0.0" in browser.find_element(By.ID, "channels").text)
    v.check("live-with-bundles")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Start a rollout").click()
    v.check("rollout-editor")
    Select(browser.find_element(By.ID, "ro-bundle")).select_by_visible_text("1.1.0")
    browser.find_element(By.XPATH, "//button[text()='Start rollout']").click()
    _until(lambda: "running" in browser.find_element(By.CSS_SELECTOR, ".rollout-state").text)
    v.check("rollout-running")
    _tab_to(browser, lambda e: e.text == "Pause").send_keys(Keys.ENTER)  # from the keyboard too
    _until(lambda: "paused" in browser.find_element(By.CSS_SELECTOR, ".rollout-state").text)
    health = httpx.get(base + app_path + "/rollouts/production/health", cookies=browser_cookies(browser))
    assert health.json()["state"] == "paused"

    # Distribution: a variant, a release uploaded with the progress bar, the page published and opened.
    v.open(app_path + "/distribution", "distribution-empty")
    browser.find_element(By.XPATH, "//summary[text()='Add a variant']").click()
    browser.find_element(By.ID, "v-name").send_keys("Phone Notes for Android")
    Select(browser.find_element(By.ID, "v-platform")).select_by_visible_text("android")
    browser.find_element(By.XPATH, "//button[text()='Add variant']").click()
    apk = tmp_path / "notes.apk"
    apk.write_bytes(b"PK\x03\x04" + b"apk" * 50_000)
    _until(lambda: browser.find_elements(By.ID, "rel-version"))
    browser.find_element(By.ID, "rel-version").send_keys("1.0.0")
    browser.find_element(By.ID, "rel-build").send_keys("7")
    browser.find_element(By.ID, "rel-changelog").send_keys("First release")
    browser.find_element(By.ID, "rel-file").send_keys(str(apk))
    browser.find_element(By.XPATH, "//button[text()='Upload release']").click()
    _until(lambda: "notes.apk" in browser.find_element(By.ID, "releases").text)
    browser.find_element(By.XPATH, "//button[text()='Publish the page']").click()
    public = _until(lambda: browser.find_element(By.PARTIAL_LINK_TEXT, "/products/"))
    v.check("distribution")
    public.click()
    _until(lambda: "/products/" in browser.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Phone Notes"
    assert browser.find_element(By.XPATH, "//button[text()='Download 1.0.0']")

    # A build uploaded from the app page, and the app-config set.
    browser.get(base + app_path)
    browser.find_element(By.XPATH, "//summary[text()='Upload a build']").click()
    browser.find_element(By.ID, "bu-version").send_keys("2.0.0")
    build = tmp_path / "notes-2.0.0.ipa"
    build.write_bytes(b"IPA" * 30_000)
    browser.find_element(By.ID, "bu-file").send_keys(str(build))
    browser.find_element(By.XPATH, "//button[text()='Upload build']").click()
    _until(lambda: "notes-2.0.0.ipa" in browser.find_element(By.ID, "builds").text)
    browser.find_element(By.ID, "ac-min").send_keys("1.0.0")
    browser.find_element(By.ID, "ac-current").send_keys("2.0.0", Keys.ENTER)
    _until(lambda: "Active: minimum 1.0.0" in browser.find_element(By.ID, "app-config").text)
    v.check("app-with-builds")

    # A webhook, and its deliveries page.
    v.open(f"/console/teams/{team}/webhooks", "webhooks")
    browser.find_element(By.ID, "hook-url").send_keys("https://hooks.example.com/console")
    browser.find_element(By.ID, "ev-all").click()
    browser.find_element(By.XPATH, "//button[text()='Create webhook']").click()
    _until(lambda: browser.find_elements(By.CSS_SELECTOR, "code.token"))
    browser.find_element(By.PARTIAL_LINK_TEXT, "hooks.example.com/console").click()
    _until(lambda: "Deliveries to" in browser.find_element(By.TAG_NAME, "h1").text)
    v.check("webhook-deliveries")

    # An API key for CI, made in the console.
    v.open(f"/console/teams/{team}/keys", "keys")
    browser.find_element(By.ID, "k-name").send_keys("github actions")
    Select(browser.find_element(By.ID, "k-mode")).select_by_visible_text("upload")
    browser.find_element(By.XPATH, "//button[text()='Create key']").click()
    assert _until(lambda: browser.find_elements(By.CSS_SELECTOR, "code.token"))[0].text.startswith(
        "gatehouse_key_"
    )
    v.check("keys-created")

    # The other pages.
    v.open("/console/audit", "audit")
    v.open("/console/teams", "teams")
    v.open("/console/users", "users")
    v.open("/console/account", "account")
    browser.get(base + "/console/apps/app_nonexistent")
    assert "Not found" in browser.find_element(By.TAG_NAME, "h1").text
    browser.get_log("browser")  # the 404 is this page's answer, not a failure of it
    browser.execute_script("performance.clearResourceTimings()")
    v.problems += [p for p in _not_found_page(v) if p]

    assert v.problems == [], json.dumps(v.problems, indent=1)[:6000]
    print(f"screenshots: {ARTIFACTS}/console-*.png")


def _not_found_page(v: Visit) -> list[dict]:
    """The 404 page is checked for axe and width only: its own status is the point."""
    violations = axe_violations(v.driver, v.axe)
    wide = v.driver.execute_script("return document.documentElement.scrollWidth")
    v.driver.save_screenshot(str(ARTIFACTS / "console-not-found.png"))
    return (
        [{"page": "not-found", "axe": violations, "width": wide}]
        if violations or wide > PHONE["width"]
        else []
    )


def browser_cookies(driver) -> dict[str, str]:
    return {c["name"]: c["value"] for c in driver.get_cookies()}


def test_the_page_checks_catch_what_they_look_for(browser, axe, tmp_path):
    """The checks above can fail: a page with an unlabelled field, an image without text, grey on grey, a
    script error and a page too wide for the phone is caught on every count."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!doctype html><html lang="en"><head><title>Bad</title><meta name="viewport" content="width=device-width">'
        "</head><body><main><h1>Bad</h1><input><img src='data:,'>"
        '<p style="color:#aaa;background:#bbb">faint</p><div style="width:900px">wide</div>'
        "<script>undefinedFunction()</script></main></body></html>"
    )
    browser.get(bad.as_uri())
    found = {v["id"] for v in axe_violations(browser, axe)}
    assert {"label", "image-alt", "color-contrast"} <= found
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert browser.execute_script("return document.documentElement.scrollWidth") > PHONE["width"]
