"""The fast demo's report in a real browser: Debian's Chromium, headless, driven by Playwright, with every
network request refused. `make test` installs Chromium where it is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from ..conftest import FastDemo


def test_the_demo_report_loads_in_chromium_offline_without_errors(fast_demo: FastDemo, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    folder, _, done = fast_demo
    assert done.returncode == 0, done.stderr[-2000:]
    report = folder / "run-fast" / "report.html"
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Chromium not found: `make test` installs Debian's chromium package")
    errors: list[str] = []
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                      else (requested.append(route.request.url), route.abort())[1])
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri(), wait_until="load")
        widths = page.evaluate("Array.from(document.images, i => i.complete ? i.naturalWidth : 0)")
        sections = page.evaluate("Array.from(document.querySelectorAll('section'), s => s.id)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == [] and requested == []
    assert len(widths) >= 10 and all(w > 0 for w in widths), widths
    assert sections == ["verdict", "data", "training", "evaluation", "deployment"]
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width == 1280 and shot.height > 3 * 900  # the whole page, not the first screen
