"""Both apps served on loopback in this process, and a user-agent for the bank's pages.

``Sandbox`` starts the bank and the platform on free loopback ports with
fresh SQLite files and throw-away keys, both clocks frozen at the same
instant, and the bank's notification dispatcher under explicit control
(``deliver_notifications``), so a run is deterministic.

``Sandbox(profile="legacy")`` wires them with the original Java depository's
wire instead: the platform registered with the legacy profile, keys handed
over as bare Base64 DER and used with SHA1withRSA, ``/service`` and
``/gateway`` under the bank's legacy context path, notifications as
``GET {platform}/notify/gateway/?…``.
"""
from __future__ import annotations

import logging
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from typing import Callable, Optional

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from bank_depository.app import create_app as create_bank
from bank_depository.config import bank_config
from bank_depository.protocol import gateway_user, legacy, private_file, profiles, signing
from p2p_platform.app import create_app as create_platform
from p2p_platform.config import platform_config as make_platform_config

DEFAULT_START = "2026-01-05T09:00:00+08:00"
PROFILES = profiles.NAMES


class _Deferred:
    """A WSGI app set after the socket exists (each side needs the other's URL)."""

    def __init__(self):
        self.app: Optional[Callable] = None

    def __call__(self, environ, start_response):
        if self.app is None:
            raise RuntimeError("the app is not set yet")
        return self.app(environ, start_response)


_WERKZEUG_LOG = logging.getLogger("werkzeug")


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, without formatting a request's log line that its logger would drop.

    ``LiveServer`` sets the werkzeug logger to WARNING, so the line of every request (formatted
    before the level was looked at: ~40 µs each) was never shown; it still is at INFO.
    """

    def log_request(self, code: "int | str" = "-", size: "int | str" = "-") -> None:
        if _WERKZEUG_LOG.isEnabledFor(logging.INFO):
            super().log_request(code, size)


class PooledWSGIServer(BaseWSGIServer):
    """Werkzeug's server answering on a fixed pool of threads.

    Werkzeug closes every connection after one response, so its threaded
    server starts one thread per request, and both apps keep one SQLite
    connection per thread: every request paid for opening (and, before the
    bank closed finished threads' connections, leaked) one. A fixed pool
    reuses a bounded set of threads and connections.
    """

    multithread = True

    def __init__(self, host: str, port: int, app, workers: int = 16):
        super().__init__(host, port, app, handler=_RequestHandler)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"wsgi-{self.server_port}")

    def process_request(self, request, client_address) -> None:
        self.pool.submit(self._handle, request, client_address)

    def _handle(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)


class LiveServer:
    def __init__(self, host: str = "127.0.0.1"):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.wsgi = _Deferred()
        self.server = PooledWSGIServer(host, 0, self.wsgi)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self, app) -> "LiveServer":
        self.wsgi.app = app
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _loopback_session() -> requests.Session:
    """Both apps talk over loopback: no proxy settings to read from the environment on every request."""
    session = requests.Session()
    session.trust_env = False
    return session


def write_keys(directory: Path) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for side in ("bank", "platform"):
        private_pem, public_pem = signing.generate_key_pair()
        private_file.write(directory / f"{side}_private.pem", private_pem)  # mode 0600
        (directory / f"{side}_public.pem").write_bytes(public_pem)
        out[side] = (private_pem.decode(), public_pem.decode())
    return out


class Sandbox:
    """A bank and a platform wired together on loopback (or the bank alone)."""

    def __init__(self, workdir: Optional[Path] = None, *, platform_config: Optional[dict] = None,
                 start: str = DEFAULT_START, seed: Optional[int] = None, password_iterations: int = 1000,
                 keys_dir: Optional[Path] = None, profile: str = "modern", with_platform: bool = True,
                 platforms: Optional[list[dict]] = None):
        """``with_platform=False`` starts the bank alone (a scenario with ``platform: external``);
        ``platforms`` replaces the one platform registered at the bank (the built-in's key) with these."""
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}")
        self.profile = profile
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wanxin-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys_dir = keys_dir or self.workdir / "keys"
        if not (keys_dir / "bank_private.pem").exists():
            write_keys(keys_dir)
        wire_profile = profiles.get(profile)
        # Each side holds its keys as a platform of this profile does (legacy: bare Base64 DER, no PEM armour).
        read = lambda name: wire_profile.key_text((keys_dir / name).read_text(), "private" in name)  # noqa: E731
        self.bank_server = LiveServer()
        self.platform_server: Optional[LiveServer] = LiveServer() if with_platform else None
        if platforms is None:
            platforms = [{"platform_no": "wanxinp2p", "public_key": read("platform_public.pem"),
                          "notify_url": self.platform_server.url + wire_profile.notify_path
                          if self.platform_server is not None else "", "profile": profile}]
        wire: dict = {"BANK_PROFILE": profile, "BANK_CONTEXT_PATH": legacy.DEFAULT_CONTEXT_PATH}
        self.bank_app = create_bank(bank_config(
            self.workdir / "bank.sqlite", private_key=read("bank_private.pem"), platforms=list(platforms),
            LEGACY_CONTEXT_PATH=legacy.DEFAULT_CONTEXT_PATH, PASSWORD_ITERATIONS=password_iterations,
            CLOCK_FROZEN=True, CLOCK_START=start))
        self.platform_app = None
        if self.platform_server is not None:
            platform_settings = make_platform_config(
                self.workdir / "platform.sqlite", private_key=read("platform_private.pem"),
                bank_public_key=read("bank_public.pem"), bank_url=self.bank_server.url,
                PUBLIC_URL=self.platform_server.url, CLOCK_FROZEN=True, CLOCK_START=start, ID_SEED=seed,
                SIM_TOKEN=self.bank_app.config["SIM_TOKEN"],  # one credential opens both apps
                **wire)
            platform_settings.update(platform_config or {})
            self.platform_app = create_platform(platform_settings, session=_loopback_session())
        self.bank_server.start(self.bank_app)
        if self.platform_server is not None:
            self.platform_server.start(self.platform_app)
        self.bank_url = self.bank_server.url
        self.platform_url = self.platform_server.url if self.platform_server is not None else ""
        self.sim_token: str = self.bank_app.config["SIM_TOKEN"]
        self.bank_ctx = self.bank_app.extensions["wanxin.bank"]
        self.platform_ctx = self.platform_app.extensions["wanxin.platform"] if self.platform_app is not None else None
        self.dispatcher = self.bank_app.extensions["wanxin.dispatcher"]
        self.dispatcher.session.trust_env = False

    def advance(self, seconds: float) -> None:
        """Move both clocks together."""
        self.bank_ctx.clock.advance(seconds)
        if self.platform_ctx is not None:
            self.platform_ctx.clock.advance(seconds)

    def deliver_notifications(self):
        return self.dispatcher.run_until_idle()

    def close(self) -> None:
        for server in (self.platform_server, self.bank_server):
            if server is not None:
                server.stop()
        self.dispatcher.stop()
        self.bank_ctx.database.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


GatewayError = gateway_user.GatewayError  # the page showed an error (re-exported for the runner)
_TAG = re.compile(r'<input\b[^>]*>', re.I)
_ATTR = re.compile(r'([a-zA-Z-]+)="([^"]*)"')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (the gateway form's, ``pageToken`` included), in any attribute order."""
    fields = {}
    for tag in _TAG.findall(html):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and attrs.get("name"):
            fields[attrs["name"]] = unescape(attrs.get("value", ""))
    return fields


class UserAgent:
    """Follows a platform's gateway request like a browser: open page, fill form, follow redirect.

    The work is :func:`bank_depository.protocol.gateway_user.complete`, shared with
    ``wanxin gateway complete`` and ``POST /sim/gateway/complete``.
    """

    def __init__(self, session: Optional[requests.Session] = None):
        self.session = session or requests.Session()

    def complete(self, gateway_request: dict, password: str, confirm_password: Optional[str] = None,
                 outcome: str = "success") -> dict:
        fields = {k: gateway_request[k] for k in gateway_user.ENVELOPE_FIELDS}
        return gateway_user.complete(gateway_user.RequestsBrowser(self.session), gateway_request["depositoryUrl"],
                                     fields, password, confirm_password, outcome)
