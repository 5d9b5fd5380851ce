"""The product page as a tester meets it: Debian's headless Chromium on a phone-sized screen, driven
through chromedriver (no browser download at run time); zbar decodes the page's QR code. The screenshot
stays in test-artifacts/ (or $GATEHOUSE_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from tests.browsers import ARTIFACTS, PHONE, chromium
from tests.test_cli_upload import cli  # noqa: F401 - the logged-in CLI fixture


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path)
    yield driver
    driver.quit()


def _publish(stack) -> tuple[str, str]:
    dist = httpx.Client(base_url=str(stack.write.base_url), headers={"X-Auth-Token": stack.token})
    team = stack.write.post("/admin/v1/teams", json={"name": "Browser"}).json()["id"]
    product = {
        "name": "Field Notes",
        "slug": "field-notes",
        "description": "Notes, offline.",
        "team_id": team,
    }
    created = dist.post("/admin/api/products", json=product)
    assert created.status_code == 201, created.text
    pid = created.json()["data"]["product"]["id"]
    vid = dist.post(
        f"/admin/api/products/{pid}/variants",
        json={"platform": "android", "display_name": "Field Notes", "identifier": "com.example.notes"},
    ).json()["data"]["variant"]["id"]
    for version, build in (("1.0.0", "1"), ("1.1.0", "2")):
        res = dist.post(
            "/upload",
            data={
                "variant_id": vid,
                "version": version,
                "build": build,
                "changelog": f"What is new in {version}",
            },
            files={
                "app_file": ("notes.apk", b"PK\x03\x04" + version.encode() * 5000, "application/octet-stream")
            },
        )
        assert res.status_code == 201, res.text
    return pid, res.json()["data"]["release"]["id"]


def test_the_product_page_on_a_phone(stack, browser):
    from selenium.webdriver.common.by import By

    pid, release = _publish(stack)
    dist = httpx.Client(base_url=str(stack.write.base_url), headers={"X-Auth-Token": stack.token})
    url = f"{stack.write.base_url}/products/field-notes"
    browser.get(url)
    assert browser.title == "Field Notes: download"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Field Notes"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    buttons = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "button") if b.is_displayed()]
    assert buttons == ["Download 1.1.0"]  # the older release's button is inside a closed <details>
    assert "Version 1.1.0 · build 2" in browser.page_source
    # Sized for the phone: nothing wider than the screen.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE["width"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "product-page-phone.png"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(PHONE["width"], height + 200)
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    # The QR code decodes to the page's address.
    qr = ARTIFACTS / "product-page-qr.png"
    qr.write_bytes(browser.find_element(By.CSS_SELECTOR, ".qr svg").screenshot_as_png)
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(qr)], capture_output=True, text=True, check=True
    )
    assert decoded.stdout.strip() == url
    # The button downloads the file; pressing it twice is two clicks and one download.
    for _ in range(2):
        browser.find_element(By.XPATH, "//button[text()='Download 1.1.0']").click()
        deadline = time.monotonic() + 20
        while not [p for p in browser.downloads.glob("*.apk")] and time.monotonic() < deadline:
            time.sleep(0.1)
        browser.get(url)
    files = list(browser.downloads.glob("*.apk"))
    assert files and files[0].read_bytes().startswith(b"PK\x03\x04" + b"1.1.0")

    def count(kind: str) -> int:
        return dist.get("/admin/api/events", params={"type": kind, "release_id": release}).json()["data"][
            "total"
        ]

    assert (count("click"), count("download")) == (2, 1)
    # One more view, waited for: Chromium may drop a navigation that starts while a download is still
    # being handed over (the full suite once counted 2 of the 3 views above).
    browser.get(url)
    browser.find_element(By.TAG_NAME, "h1")
    visits = dist.get("/admin/api/events", params={"type": "visit"}).json()["data"]["total"]
    assert visits >= 3


def test_cli_release_upload_streams_a_multipart_form(stack, cli, tmp_path):  # noqa: F811
    dist = httpx.Client(base_url=str(stack.write.base_url), headers={"X-Auth-Token": stack.token})
    team = stack.write.post("/admin/v1/teams", json={"name": "Releases"}).json()["id"]
    pid = dist.post("/admin/api/products", json={"name": "Cli Rel", "team_id": team}).json()["data"][
        "product"
    ]["id"]
    vid = dist.post(
        f"/admin/api/products/{pid}/variants",
        json={"platform": "ios", "display_name": "iPhone", "identifier": "com.example.clirel"},
    ).json()["data"]["variant"]["id"]
    ipa = tmp_path / "Cli Rel.ipa"
    ipa.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    cli("login", "--server", str(stack.write.base_url), "--email", "load@example.com")
    done = cli(
        "release", "upload", "--variant", vid, "--version", "2.0.1", "--build", "41",
        "--changelog", "Line one\nLine two", str(ipa),
    )  # fmt: skip
    assert "uploaded Cli Rel.ipa as release rel_" in done.stdout and "100%" in done.stderr
    release = dist.get(f"/admin/api/products/{pid}").json()["data"]["variants"][0]["releases"][0]
    assert (release["version"], release["build"], release["changelog"]) == ("2.0.1", 41, "Line one\nLine two")
    assert release["file_name"] == "Cli_Rel.ipa" and release["size_bytes"] == ipa.stat().st_size
    got = httpx.get(f"{stack.write.base_url}/d/{release['id']}")
    assert got.content == ipa.read_bytes()
    refused = cli("release", "upload", "--variant", "var_nope", "--version", "1.0.0", str(ipa), check=False)
    assert refused.returncode != 0 and "upload refused (404: variant not found)" in refused.stderr
