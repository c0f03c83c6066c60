"""What runs once a business day, and the scheduler that runs it on the
platform's clock: recovery, expiry (流标), repayments, the outbox and
yesterday's reconciliation (stored)."""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import sqlite3
import threading
from typing import IO, Optional

from ..bank_client import OutcomeUnknown
from ..domain.errors import PlatformError
from ..storage import meta, projects
from . import reconcile, recovery, repayment, tunables
from .context import PlatformContext
from .projects import miscarry

log = logging.getLogger("wanxin.platform.jobs")
LAST_RUN = "daily.last"   # the meta key holding the business date of the last run


def daily(ctx: PlatformContext, today: dt.date | None = None) -> dict:
    today = today or ctx.clock.today()
    out: dict = {"recovery": recovery.recover(ctx)}
    expired = []
    limit = (today - dt.timedelta(days=ctx.settings.miscarry_days)).isoformat()
    for project_no in projects.collecting_since_before(ctx.store.conn(), limit):
        try:
            miscarry(ctx, project_no)
            expired.append(project_no)
        except (PlatformError, OutcomeUnknown) as exc:   # still unknown or refused: tomorrow's run retries
            log.info("daily: the expiry of %s did not complete: %s %s", project_no,
                     getattr(exc, "code", type(exc).__name__), exc)
    out["expired"] = expired
    out["repayments"] = repayment.run_repayments(ctx, today)
    try:
        report = reconcile.reconcile(ctx, today - dt.timedelta(days=1))
        out["reconciliation"] = {"date": report["date"], "clean": report["clean"], "breaks": len(report["breaks"])}
    except PlatformError as exc:  # the bank may be away: reported, retried tomorrow
        out["reconciliation"] = {"error": str(exc)}
    return out


class DailyScheduler:
    """Runs :func:`daily` once per business date of the platform's clock, in a
    background thread; with ``lock_path`` only the worker process holding that
    file lock runs it. A moved clock is noticed within ``interval`` seconds."""

    def __init__(self, ctx: PlatformContext, interval: float = 1.0):
        self.ctx = ctx
        self.interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def due(self) -> bool:
        last = meta.get(self.ctx.store.conn(), LAST_RUN)
        return last is None or last < self.ctx.clock.today().isoformat()

    def tick(self) -> dict | None:
        """Run the daily job if today's has not run yet. With ``dailyJob: manual`` (``/sim/config``) the
        dates that pass are left to ``POST /api/jobs/daily``: they are marked run without running, so
        switching back to ``auto`` resumes with the next business date rather than catching up."""
        if not self.due():
            return None
        today = self.ctx.clock.today()
        with self.ctx.store.write() as conn:
            meta.put(conn, LAST_RUN, today.isoformat())
            manual = tunables.current(self.ctx, conn).daily_job == "manual"
        return None if manual else daily(self.ctx, today)

    def _lock(self, lock_path: str) -> Optional[IO]:
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except OSError:
            handle.close()
            return None

    def start(self, lock_path: str | None = None) -> None:
        def loop() -> None:
            lock = None
            while not self._stop.wait(self.interval):
                if lock_path and lock is None:
                    lock = self._lock(lock_path)
                    if lock is None:
                        continue
                try:
                    self.tick()
                except (PlatformError, OutcomeUnknown, sqlite3.Error):  # keep the scheduler alive; tomorrow retries
                    log.exception("daily job failed")

        self._thread = threading.Thread(target=loop, name="wanxin-daily", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
