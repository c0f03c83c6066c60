"""What the platform's use cases share: store, clock, bank client, settings, ids,
and the outcome registry the depository agent applies when a record settles."""
from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

from ..bank_client import BankClient
from ..clock import PlatformClock
from ..storage.db import Store
from .registry import OutcomeRegistry


class IdGenerator:
    """Unique ids: random UUIDs, or a seeded sequence so a scenario reproduces exactly."""

    def __init__(self, seed: Optional[int] = None):
        self._random = random.Random(seed) if seed is not None else None
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        if self._random is None:
            return f"{prefix}_{uuid.uuid4().hex.upper()}"
        with self._lock:
            return f"{prefix}_{self._random.getrandbits(128):032X}"


@dataclass
class Settings:
    platform_no: str = "wanxinp2p"
    borrower_commission_rate: Decimal = Decimal("0.02")
    investor_commission_rate: Decimal = Decimal("0.03")
    min_tender: int = 10000                 # fen
    withdraw_commission: int = 0            # fen per withdrawal
    public_url: str = "http://127.0.0.1"    # how the bank and browsers reach this platform
    retries: int = 2                        # extra same-requestNo attempts when the outcome is unknown
    miscarry_days: int = 15                 # a collecting project expires (流标) after this many days
    daily_job: str = "auto"                 # "auto": a served platform runs its daily job itself; "manual": only
    #                                         POST /api/jobs/daily runs it (what a scenario run sets while it runs)


@dataclass
class PlatformContext:
    store: Store
    clock: PlatformClock
    bank: BankClient
    settings: Settings = field(default_factory=Settings)
    ids: IdGenerator = field(default_factory=IdGenerator)
    outcomes: OutcomeRegistry = field(default_factory=OutcomeRegistry)   # wiring.outcomes() in the app

    def now_iso(self) -> str:
        return self.clock.now().isoformat(timespec="microseconds")

    @property
    def notify_url(self) -> str:
        return self.settings.public_url.rstrip("/") + "/notify"

    def callback_url(self, kind: int) -> str:
        return self.settings.public_url.rstrip("/") + f"/callback?st={kind}"
