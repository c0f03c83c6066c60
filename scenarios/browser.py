"""A real browser for the bank's pages: Playwright driving Debian's Chromium (never a downloaded one).

The project installs the browser with the system's package manager (``.ci/run``
runs ``apt-get install chromium fonts-noto-cjk`` when it is missing);
Playwright only drives it through ``executable_path``.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlencode

CHROMIUM = Path(os.environ.get("WANXIN_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def launch(playwright):
    """Chromium from the system, headless, with nothing that reaches beyond loopback."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)


def gateway_url(gateway_request: dict) -> str:
    """Where a browser lands when a platform sends it to the bank (the platform's form, as a GET)."""
    fields = {k: gateway_request[k] for k in ("serviceName", "platformNo", "reqData", "signature")}
    return gateway_request["depositoryUrl"] + "?" + urlencode(fields)
