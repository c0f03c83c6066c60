"""Both apps served on loopback in this process, and a user-agent for the bank's pages.

``Sandbox`` starts the bank and the platform on free loopback ports with
fresh SQLite files and throw-away keys, both clocks frozen at the same
instant, and the bank's notification dispatcher under explicit control
(``deliver_notifications``), so a run is deterministic.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import tempfile
import threading
from html import unescape
from pathlib import Path
from typing import Optional
from urllib.parse import urljoin

import requests
from werkzeug.serving import make_server

from bank_depository.app import create_app as create_bank
from bank_depository.protocol import signing
from p2p_platform.app import create_app as create_platform

DEFAULT_START = "2026-01-05T09:00:00+08:00"


class _Deferred:
    """A WSGI app set after the socket exists (each side needs the other's URL)."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class LiveServer:
    def __init__(self, host: str = "127.0.0.1"):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.wsgi = _Deferred()
        self.server = make_server(host, 0, self.wsgi, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self, app) -> "LiveServer":
        self.wsgi.app = app
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_keys(directory: Path) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for side in ("bank", "platform"):
        private_pem, public_pem = signing.generate_key_pair()
        (directory / f"{side}_private.pem").write_bytes(private_pem)
        (directory / f"{side}_public.pem").write_bytes(public_pem)
        out[side] = (private_pem.decode(), public_pem.decode())
    return out


class Sandbox:
    """A bank and a platform wired together on loopback."""

    def __init__(self, workdir: Optional[Path] = None, *, platform_config: Optional[dict] = None,
                 start: str = DEFAULT_START, seed: Optional[int] = None, password_iterations: int = 1000,
                 keys_dir: Optional[Path] = None):
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wanxin-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys_dir = keys_dir or self.workdir / "keys"
        if not (keys_dir / "bank_private.pem").exists():
            write_keys(keys_dir)
        read = lambda name: (keys_dir / name).read_text()  # noqa: E731
        self.bank_server, self.platform_server = LiveServer(), LiveServer()
        self.bank_app = create_bank({
            "DATABASE": str(self.workdir / "bank.sqlite"), "PRIVATE_KEY": read("bank_private.pem"),
            "PLATFORMS": [{"platform_no": "wanxinp2p", "public_key": read("platform_public.pem"),
                           "notify_url": self.platform_server.url + "/notify"}],
            "PASSWORD_ITERATIONS": password_iterations, "CLOCK_FROZEN": True, "CLOCK_START": start})
        self.platform_app = create_platform({
            "DATABASE": str(self.workdir / "platform.sqlite"), "PRIVATE_KEY": read("platform_private.pem"),
            "BANK_PUBLIC_KEY": read("bank_public.pem"), "BANK_URL": self.bank_server.url,
            "PUBLIC_URL": self.platform_server.url, "CLOCK_FROZEN": True, "CLOCK_START": start, "ID_SEED": seed,
            **(platform_config or {})})
        self.bank_server.start(self.bank_app)
        self.platform_server.start(self.platform_app)
        self.bank_url, self.platform_url = self.bank_server.url, self.platform_server.url
        self.bank_ctx = self.bank_app.extensions["wanxin.bank"]
        self.platform_ctx = self.platform_app.extensions["wanxin.platform"]
        self.dispatcher = self.bank_app.extensions["wanxin.dispatcher"]

    def advance(self, seconds: float) -> None:
        """Move both clocks together."""
        self.bank_ctx.clock.advance(seconds)
        self.platform_ctx.clock.advance(seconds)

    def deliver_notifications(self):
        return self.dispatcher.run_until_idle()

    def close(self) -> None:
        for server in (self.platform_server, self.bank_server):
            server.stop()
        self.dispatcher.stop()
        self.bank_ctx.database.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_INPUT = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', re.I)
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*id="confirm"', re.I)
_ERROR = re.compile(r'id="error">([^<]*)<', re.I)


class GatewayError(Exception):
    """The bank's page showed an error instead of a form."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class UserAgent:
    """Follows a platform's gateway request like a browser: open page, fill form, follow redirect."""

    def __init__(self, session: Optional[requests.Session] = None):
        self.session = session or requests.Session()

    def complete(self, gateway_request: dict, password: str, confirm_password: Optional[str] = None) -> dict:
        fields = {k: gateway_request[k] for k in ("serviceName", "platformNo", "reqData", "signature")}
        page = self.session.get(gateway_request["depositoryUrl"], params=fields, timeout=30)
        form = _FORM.search(page.text)
        if form is None:
            error = _ERROR.search(page.text)
            raise GatewayError(unescape(error.group(1)) if error else f"HTTP {page.status_code}", page.status_code)
        data = {name: unescape(value) for name, value in _INPUT.findall(page.text)}
        data["password"] = password
        if 'name="confirmPassword"' in page.text:
            data["confirmPassword"] = password if confirm_password is None else confirm_password
        done = self.session.post(urljoin(page.url, unescape(form.group(1))), data=data, allow_redirects=False,
                                 timeout=30)
        if done.status_code != 302:
            error = _ERROR.search(done.text)
            raise GatewayError(unescape(error.group(1)) if error else f"HTTP {done.status_code}", done.status_code)
        location = done.headers["Location"]
        from urllib.parse import parse_qs, urlsplit
        query = parse_qs(urlsplit(location).query)
        return {"code": int(query["code"][0]), "msg": query.get("msg", [""])[0], "location": location}


def today(sandbox: Sandbox) -> dt.date:
    return sandbox.platform_ctx.clock.today()
