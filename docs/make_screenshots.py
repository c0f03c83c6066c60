"""Screenshots for the README, from a real run: the demo scenario in a Sandbox, then Chromium.

    python docs/make_screenshots.py            # writes docs/gateway-withdraw.png and docs/console-overview.png

The demo's full-lifecycle scenario runs on loopback exactly as ``wanxin demo``
does; while both apps are still up, the platform asks one investor's
withdrawal and Chromium (Debian's, see scenarios/browser.py) opens the bank's
page for it the way a phone would, then signs into the console and
photographs the overview.
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scenarios import browser, runner  # noqa: E402

OUT = ROOT / "docs"


def photograph(r: runner.Runner) -> None:
    from playwright.sync_api import sync_playwright

    sb = r.sandbox
    assert sb is not None
    ask = r.platform("POST", f"/api/users/{r.users['ian']}/withdrawals", json={"amount": "1200.00"})
    with sync_playwright() as p:
        chromium = browser.launch(p)
        phone = chromium.new_context(locale="zh-CN", viewport={"width": 400, "height": 780}, device_scale_factor=2)
        page = phone.new_page()
        page.goto(browser.gateway_url(ask))
        page.fill("#password", "123456")
        page.screenshot(path=str(OUT / "gateway-withdraw.png"), full_page=True)
        phone.close()

        desk = chromium.new_context(locale="zh-CN", viewport={"width": 1240, "height": 900}, device_scale_factor=1)
        page = desk.new_page()
        page.goto(sb.bank_url + "/console")
        page.fill("#token", sb.sim_token)
        page.click("button[type=submit]")
        page.wait_for_url("**/console")
        page.screenshot(path=str(OUT / "console-overview.png"), full_page=True)
        desk.close()
        chromium.close()


def main() -> int:
    if not browser.available():
        print(f"{browser.CHROMIUM} is absent: apt-get install chromium fonts-noto-cjk", file=sys.stderr)
        return 1
    path = resources.files("scenarios").joinpath("full_lifecycle.yaml")
    with resources.as_file(path) as real:
        result = runner.run_file(real, echo=lambda line: None, after=photograph)
    if not result.ok:
        print(f"the demo scenario failed: {result.error}", file=sys.stderr)
        return 1
    for name in ("gateway-withdraw.png", "console-overview.png"):
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
