"""The bank depository's application factory: wiring only, nothing at import time."""
from __future__ import annotations

import logging
import secrets
from typing import Optional

from flask import Flask

from . import faults as faults_mod
from .clock import Clock, PersistentClock, iso, parse_instant
from .http import checkfile_view, errors, gateway_view, legacy_view, service_view, sim_view
from .notify.dispatcher import DEFAULT_SCHEDULE, Dispatcher
from .protocol import hygiene, legacy as legacy_wire, operator, signing
from .services.context import BankContext, Platform, register_platform
from .storage import db

log = logging.getLogger("wanxin.bank")

DEFAULTS = {
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
}
PROFILES = ("modern", legacy_wire.PROFILE)


def _hygiene(response):
    hygiene.apply(response.headers)
    return response


def create_app(config: Optional[dict] = None, *, clock: Optional[Clock] = None,
               faults: Optional[faults_mod.FaultBook] = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    cfg = app.config
    if not cfg["PRIVATE_KEY"]:
        raise ValueError("the bank needs PRIVATE_KEY (its signing key)")
    for spec in cfg["PLATFORMS"]:
        if (spec.get("profile") or "modern") not in PROFILES:
            raise ValueError(f"platform {spec.get('platform_no')}: profile must be one of {', '.join(PROFILES)}")
    legacy = any(p.get("profile") == "legacy" for p in cfg["PLATFORMS"])
    private_key = signing.load_private_key(signing.key_text(cfg["PRIVATE_KEY"]), allow_weak=legacy)
    if private_key.key_size < signing.MIN_BITS:
        log.warning("the bank signs with a %d-bit key: accepted only because a platform uses the legacy profile",
                    private_key.key_size)
    context_path = legacy_wire.context_path(cfg["LEGACY_CONTEXT_PATH"])

    if not cfg["SIM_TOKEN"]:
        if cfg["DATABASE"] == ":memory:":
            cfg["SIM_TOKEN"] = secrets.token_urlsafe(24)
        else:
            cfg["SIM_TOKEN"] = operator.ensure_file(cfg["DATABASE"])

    database = db.Database(cfg["DATABASE"])
    conn = database.conn()
    db.init_schema(conn)
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
                      password_iterations=int(cfg["PASSWORD_ITERATIONS"]))
    ctx.faults = faults or faults_mod.FaultBook(database.conn, ctx.now_iso)
    for spec in cfg["PLATFORMS"]:
        profile = spec.get("profile") or "modern"
        text = signing.key_text(spec["public_key"])
        platform = Platform(platform_no=spec["platform_no"],
                            public_key=signing.load_public_key(text, allow_weak=profile == "legacy"),
                            algorithm=spec.get("algorithm") or (signing.SHA1 if profile == "legacy" else signing.SHA256),
                            notify_url=spec.get("notify_url", ""), profile=profile, name=spec.get("name", ""))
        if platform.public_key.key_size < signing.MIN_BITS:
            log.warning("platform %s uses a %d-bit key: accepted only because its profile is legacy",
                        platform.platform_no, platform.public_key.key_size)
        if profile == "legacy" and platform.notify_url and not platform.notify_url.endswith("/"):
            log.warning("platform %s is legacy: notifications go to %sgateway/ (the original appends without '/')",
                        platform.platform_no, platform.notify_url)
        register_platform(ctx, platform, text)

    dispatcher = Dispatcher(ctx, schedule=tuple(cfg["NOTIFY_SCHEDULE"]), timeout=float(cfg["NOTIFY_TIMEOUT"]))
    app.extensions["wanxin.bank"] = ctx
    app.extensions["wanxin.dispatcher"] = dispatcher
    errors.install(app)
    app.after_request(_hygiene)
    app.register_blueprint(service_view.bp)
    app.register_blueprint(checkfile_view.bp)
    app.register_blueprint(gateway_view.bp)
    app.register_blueprint(sim_view.bp)
    if legacy:  # the original's routes, local endpoints included, exist only for a legacy platform
        app.register_blueprint(legacy_view.bp, url_prefix=context_path)
    if cfg["DISPATCHER_THREAD"]:
        lock = None if cfg["DATABASE"] == ":memory:" else str(cfg["DATABASE"]) + ".dispatch.lock"
        dispatcher.start(lock_path=lock)
    return app
