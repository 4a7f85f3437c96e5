"""The browser the Chromium tests share: Debian's chromium, driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Running as root needs --no-sandbox; the rest keep Chromium from reaching out to Google's
# services (no network here: the refusals only slow it down).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser(request) -> Iterator[Browser]:
    """One headless Chromium per test module; a module adds flags of its own in CHROMIUM_EXTRA_ARGS."""
    # A failure, never a skip: these tests are the only ones where a browser judges Hoard's answers.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium (apt-get install chromium; .ci/run installs it)")
    extra = getattr(request.module, "CHROMIUM_EXTRA_ARGS", [])
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra])
        yield chromium
        chromium.close()
