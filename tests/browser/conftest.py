"""Fixtures for the browser tests: both apps on loopback (port 0) and Debian's Chromium."""
from __future__ import annotations

import pytest

from scenarios import browser

NO_BROWSER = f"{browser.CHROMIUM} is absent: install Debian's chromium package (.ci/run does it with apt-get)"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            if not browser.available():
                item.add_marker(pytest.mark.skip(reason=NO_BROWSER))


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def sandbox():
    from scenarios.harness import Sandbox

    with Sandbox(seed=1) as sb:
        yield sb
