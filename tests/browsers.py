"""Debian's headless Chromium through chromedriver (no browser download at run time), phone-sized, with its
console log kept; axe-core from the npm registry for accessibility checks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("GATEHOUSE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
AXE_VERSION = "4.14.1"
AXE_DIR = ROOT / ".cache" / "npm"


def chromium(downloads: Path):
    """A phone-sized headless Chromium that downloads into ``downloads`` and keeps the page's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE, "userAgent": PHONE_UA})
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    )
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    return driver


def axe_source() -> str:
    """axe-core's script, installed from the npm registry into .cache/npm on first use (pinned)."""
    script = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(AXE_DIR),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
        )
    return script.read_text()


def axe_violations(driver, source: str) -> list[dict]:
    """axe-core's serious and critical violations on the current page (WCAG 2.x A and AA, best practices)."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical', description: String(e), nodes: []}]));"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v.get("help", v.get("description")),
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
