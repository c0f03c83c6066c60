"""The bank depository's application factory: wiring only, nothing at import time."""
from __future__ import annotations

import logging
import secrets
from typing import Any, Optional

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from . import faults as faults_mod
from .clock import Clock, PersistentClock, iso, parse_instant
from .http import (checkfile_view, console_view, edge, errors, filters, gateway_view, legacy_view, openapi,
                   service_view, sim_view)
from .notify.dispatcher import DEFAULT_SCHEDULE, Dispatcher
from .protocol import hygiene, legacy as legacy_wire, operator, profiles, signing
from .services import platforms
from .services.context import BankContext, register_platform
from .storage import db

log = logging.getLogger("wanxin.bank")

#: 1 MiB: twice the form-field limit the 1,000-investor scenario already ran within.
DEFAULT_MAX_BODY = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "DATABASE": "bank.sqlite",
    "PRIVATE_KEY": None,        # PEM/Base64 text or a path to it
    "PLATFORMS": [],            # [{platform_no, public_key, algorithm?, notify_url?, profile?, name?}]
    "PASSWORD_ITERATIONS": 120_000,
    "CLOCK_FROZEN": False,      # freeze the persisted clock (deterministic runs)
    "CLOCK_START": None,        # ISO instant to start a fresh clock at
    "DISPATCHER_THREAD": False, # deliver notifications in a background thread
    "NOTIFY_SCHEDULE": DEFAULT_SCHEDULE,
    "NOTIFY_TIMEOUT": 5.0,
    "LEGACY_CONTEXT_PATH": legacy_wire.DEFAULT_CONTEXT_PATH,  # where the original's routes live (legacy profile)
    "SIM_TOKEN": None,          # the operator credential; None: read or generate <db>.sim-token
    "SECRET_KEY": None,         # signs the console's session cookie; None: derived from SIM_TOKEN (HMAC)
    "SESSION_COOKIE_NAME": "wanxin_console",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "ACCESS_LOG": False,        # one line per protocol request on stderr (`wanxin bank serve` turns it on)
    # The request-size limit in bytes (Flask's own key): a larger body is answered 413 unread.
    "MAX_CONTENT_LENGTH": DEFAULT_MAX_BODY,
}
PROFILES = profiles.NAMES


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions (the console's), with the signing serializer built once per
    secret instead of on every request (each /service call opens an empty session)."""

    _built: Optional[tuple[Any, Any]] = None

    def get_signing_serializer(self, app):
        secrets_now = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != secrets_now:
            built = self._built = (secrets_now, super().get_signing_serializer(app))
        return built[1]

    def save_session(self, app, session, response) -> None:
        # An empty session nobody touched sets, deletes and varies nothing (Flask's own outcome),
        # without first reading seven cookie settings from the config.
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


def _hygiene(response):
    hygiene.apply(response.headers)
    return response


def create_app(config: Optional[dict] = None, *, clock: Optional[Clock] = None,
               faults: Optional[faults_mod.FaultBook] = None) -> Flask:
    app = Flask(__name__)
    app.session_interface = _Sessions()
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    cfg = app.config
    if "MAX_FORM_MEMORY_SIZE" not in (config or {}):  # one form field may use the whole body limit
        cfg["MAX_FORM_MEMORY_SIZE"] = cfg["MAX_CONTENT_LENGTH"]
    if not cfg["PRIVATE_KEY"]:
        raise ValueError("the bank needs PRIVATE_KEY (its signing key)")
    wires = []
    for spec in cfg["PLATFORMS"]:
        try:
            wires.append(profiles.get(spec.get("profile")))
        except ValueError as exc:
            raise ValueError(f"platform {spec.get('platform_no')}: {exc}") from None
    weak = any(wire.allow_weak_keys for wire in wires)
    private_key = signing.load_private_key(signing.key_text(cfg["PRIVATE_KEY"]), allow_weak=weak)
    if private_key.key_size < signing.MIN_BITS:
        log.warning("the bank signs with a %d-bit key: accepted only because a platform uses the legacy profile",
                    private_key.key_size)
    context_path = legacy_wire.context_path(cfg["LEGACY_CONTEXT_PATH"])

    if not cfg["SIM_TOKEN"]:
        if cfg["DATABASE"] == ":memory:":
            cfg["SIM_TOKEN"] = secrets.token_urlsafe(24)
        else:
            cfg["SIM_TOKEN"] = operator.ensure_file(cfg["DATABASE"])
    # The console's session cookie: signed with a key every worker derives from the same token.
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = console_view.session_secret(cfg["SIM_TOKEN"])

    database = db.Database(cfg["DATABASE"])
    conn = database.conn()
    db.init_schema(conn)
    db.ensure_column(conn, "notifications", "cycle_start", "INTEGER NOT NULL DEFAULT 0")
    if clock is None:
        persistent = PersistentClock(database.conn)
        found = persistent.recover()
        if found:
            log.warning("the persisted clock (%s) was outside %s: clamped to %s; set it with POST /sim/clock"
                        " (one move back is allowed)", found, "2000-01-01..2099-12-31", iso(persistent.now()))
        if cfg["CLOCK_START"] and conn.execute("SELECT 1 FROM meta WHERE key LIKE 'clock.%'").fetchone() is None:
            start = parse_instant(cfg["CLOCK_START"])
            if cfg["CLOCK_FROZEN"]:
                persistent.freeze(start)
            else:
                persistent.set(start)
        elif cfg["CLOCK_FROZEN"] and conn.execute("SELECT 1 FROM meta WHERE key = 'clock.frozen'").fetchone() is None:
            persistent.freeze()
        clock = persistent
    ctx = BankContext(database=database, clock=clock, private_key=private_key,
                      password_iterations=int(cfg["PASSWORD_ITERATIONS"]),
                      clock_start=(cfg["CLOCK_START"], bool(cfg["CLOCK_FROZEN"])))
    ctx.faults = faults or faults_mod.FaultBook(database.conn, ctx.now_iso)
    for spec in cfg["PLATFORMS"]:
        platform, text = platforms.build({**spec, "public_key": signing.key_text(spec["public_key"])})
        wire = platform.profile
        if platform.public_key.key_size < signing.MIN_BITS:
            log.warning("platform %s uses a %d-bit key: accepted only because its profile is %s",
                        platform.platform_no, platform.public_key.key_size, wire.name)
        warning = wire.notify_url_warning(platform.notify_url)
        if warning:
            log.warning("platform %s is %s: %s", platform.platform_no, wire.name, warning)
        register_platform(ctx, platform, text)
    ctx.refresh_platforms()  # the configured ones and any registered at run time before a restart

    dispatcher = Dispatcher(ctx, schedule=tuple(cfg["NOTIFY_SCHEDULE"]), timeout=float(cfg["NOTIFY_TIMEOUT"]),
                            pass_lock=None if cfg["DATABASE"] == ":memory:" else str(cfg["DATABASE"]) + ".pass.lock")
    app.extensions["wanxin.bank"] = ctx
    app.extensions["wanxin.dispatcher"] = dispatcher
    errors.install(app)
    filters.install(app)
    edge.install(app)
    app.after_request(_hygiene)
    app.register_blueprint(service_view.bp)
    app.register_blueprint(checkfile_view.bp)
    app.register_blueprint(gateway_view.bp)
    app.register_blueprint(sim_view.bp)
    app.register_blueprint(console_view.bp)
    app.register_blueprint(openapi.bp)
    if any(p.profile.serves_context_routes for p in ctx.platforms.values()):
        # the original's routes, local endpoints included, exist only for a legacy platform
        app.register_blueprint(legacy_view.bp, url_prefix=context_path)
    if cfg["DISPATCHER_THREAD"]:
        lock = None if cfg["DATABASE"] == ":memory:" else str(cfg["DATABASE"]) + ".dispatch.lock"
        dispatcher.start(lock_path=lock)
    return app
