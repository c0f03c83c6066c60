"""The platform's application factory: wiring only, nothing at import time."""
from __future__ import annotations

import logging
import secrets
from decimal import Decimal
from typing import Optional

import requests
from flask import Flask

from bank_depository.protocol import hygiene, legacy, operator, profiles, signing
from bank_depository.protocol.money import parse_yuan

from .bank_client import BankClient
from .clock import PlatformClock, parse
from .http import api
from .services import daily, wiring
from .services.context import IdGenerator, PlatformContext, Settings
from .storage.db import Store

log = logging.getLogger("wanxin.platform")

#: 1 MiB: twice the form-field limit the 1,000-investor scenario already ran within.
DEFAULT_MAX_BODY = 1024 * 1024

DEFAULTS = {
    "DATABASE": "platform.sqlite",
    "PLATFORM_NO": "wanxinp2p",
    "BANK_URL": "http://127.0.0.1:55010",
    "PRIVATE_KEY": None,         # the platform's signing key (PEM/Base64 text or path)
    "BANK_PUBLIC_KEY": None,     # the bank's public key
    "ALGORITHM": None,           # default: SHA256withRSA, or SHA1withRSA when BANK_PROFILE is legacy
    "BANK_PROFILE": "modern",    # "legacy": speak the original Java depository's wire (GET, SHA1, HashMap order)
    "BANK_CONTEXT_PATH": legacy.DEFAULT_CONTEXT_PATH,  # where a legacy bank's /service and /gateway live
    "PUBLIC_URL": "http://127.0.0.1:53070",
    "BORROWER_COMMISSION_RATE": "0.02",
    "INVESTOR_COMMISSION_RATE": "0.03",
    "MIN_TENDER": "100.00",
    "WITHDRAW_COMMISSION": "0.00",
    "RETRIES": 2,
    "BANK_TIMEOUT": 10.0,
    "ID_SEED": None,
    "CLOCK_FROZEN": False,
    "CLOCK_START": None,
    "DAILY_JOB_THREAD": False,   # run the daily job in the background on the platform's clock
    # The request-size limit in bytes (Flask's own key): a larger body is answered 413 unread.
    "MAX_CONTENT_LENGTH": DEFAULT_MAX_BODY,
    "SIM_TOKEN": None,           # the operator credential for /api and /sim; None: read or generate <db>.sim-token
}


def _hygiene(response):
    hygiene.apply(response.headers)
    return response


def create_app(config: Optional[dict] = None, *, clock: Optional[PlatformClock] = None,
               session: Optional[requests.Session] = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    cfg = app.config
    if "MAX_FORM_MEMORY_SIZE" not in (config or {}):  # one form field may use the whole body limit
        cfg["MAX_FORM_MEMORY_SIZE"] = cfg["MAX_CONTENT_LENGTH"]
    if not cfg["PRIVATE_KEY"] or not cfg["BANK_PUBLIC_KEY"]:
        raise ValueError("the platform needs PRIVATE_KEY and BANK_PUBLIC_KEY")
    if not cfg["SIM_TOKEN"]:
        cfg["SIM_TOKEN"] = secrets.token_urlsafe(24) if cfg["DATABASE"] == ":memory:" else \
            operator.ensure_file(cfg["DATABASE"])
    store = Store(str(cfg["DATABASE"]))
    store.init()
    if clock is None:
        clock = PlatformClock(store)
        found = clock.recover()
        if found:
            log.warning("the stored clock (%s) was outside the range: clamped to %s; set it with POST /sim/clock"
                        " (one move back is allowed)", found, clock.now().isoformat())
        fresh = store.one("SELECT 1 FROM meta WHERE key = 'clock'") is None
        if fresh and cfg["CLOCK_START"]:
            start = parse(cfg["CLOCK_START"])
            clock.freeze(start) if cfg["CLOCK_FROZEN"] else clock.set(start)
        elif fresh and cfg["CLOCK_FROZEN"]:
            clock.freeze()
    profile = cfg["BANK_PROFILE"] or profiles.MODERN.name
    try:
        wire = profiles.get(profile)
    except ValueError:
        raise ValueError(f"unknown bank profile {profile!r}; use {' or '.join(profiles.NAMES)}") from None
    weak = wire.allow_weak_keys  # the original's 512-bit demo keys: accepted for the legacy wire only
    private_key = signing.load_private_key(signing.key_text(cfg["PRIVATE_KEY"]), allow_weak=weak)
    bank_key = signing.load_public_key(signing.key_text(cfg["BANK_PUBLIC_KEY"]), allow_weak=weak)
    for what, key in (("platform", private_key), ("bank", bank_key)):
        if key.key_size < signing.MIN_BITS:
            log.warning("the %s key has %d bits: accepted only because BANK_PROFILE is legacy", what, key.key_size)
    algorithm = cfg["ALGORITHM"] or wire.default_algorithm
    bank = BankClient(cfg["BANK_URL"], cfg["PLATFORM_NO"], private_key, bank_key, algorithm,
                      session=session, timeout=float(cfg["BANK_TIMEOUT"]), profile=profile,
                      context_path=cfg["BANK_CONTEXT_PATH"])
    settings = Settings(platform_no=cfg["PLATFORM_NO"],
                        borrower_commission_rate=Decimal(str(cfg["BORROWER_COMMISSION_RATE"])),
                        investor_commission_rate=Decimal(str(cfg["INVESTOR_COMMISSION_RATE"])),
                        min_tender=parse_yuan(cfg["MIN_TENDER"], "MIN_TENDER"),
                        withdraw_commission=parse_yuan(cfg["WITHDRAW_COMMISSION"], "WITHDRAW_COMMISSION",
                                                       allow_zero=True),
                        public_url=cfg["PUBLIC_URL"], retries=int(cfg["RETRIES"]))
    ids = IdGenerator(int(cfg["ID_SEED"]) if cfg["ID_SEED"] is not None else None)
    ctx = PlatformContext(store=store, clock=clock, bank=bank, settings=settings, ids=ids, outcomes=wiring.outcomes())
    app.extensions["wanxin.platform"] = ctx
    scheduler = daily.DailyScheduler(ctx)
    app.extensions["wanxin.scheduler"] = scheduler
    api.install_errors(app)
    app.after_request(_hygiene)
    app.register_blueprint(api.bp)
    if cfg["DAILY_JOB_THREAD"]:
        scheduler.start(lock_path=None if cfg["DATABASE"] == ":memory:" else str(cfg["DATABASE"]) + ".daily.lock")
    return app
