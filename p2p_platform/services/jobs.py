"""Recovery and the daily job, both runnable on demand.

``recover`` settles every record the platform left unsynced: direct requests
are resent with their own requestNo, gateway requests are asked about with
QUERY_TRANSACTION, and the outcome is applied to the object it belongs to.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from . import agent, claims, consumer, repayment, transactions
from .context import PlatformContext


def recover(ctx: PlatformContext) -> dict:
    resolved, still = [], []
    for row in ctx.store.all("SELECT * FROM depository_records WHERE status = 0 ORDER BY created_at, request_no"):
        reply = agent.resolve(ctx, row["request_no"])
        if reply is None:
            still.append(row["request_no"])
            continue
        resolved.append(row["request_no"])
        service = row["service_name"]
        if service in ("PERSONAL_REGISTER", "RECHARGE", "WITHDRAW"):
            with ctx.store.write() as conn:
                consumer.apply_outcome(conn, ctx, service, row["request_no"], reply.data)
    # Objects whose record is settled but whose own state has not caught up yet
    # (a record still unknown is not resent a second time in the same run).
    for p in ctx.store.all("SELECT project_no, create_request_no FROM projects WHERE status = 'DRAFT'"
                           " AND create_request_no IS NOT NULL"):
        if p["create_request_no"] not in still:
            try:
                transactions.approve_project(ctx, p["project_no"])
            except Exception:  # refused: the project stays a draft, as at the bank
                pass
    for t in ctx.store.all("SELECT request_no FROM tenders WHERE status = 'PENDING'"):
        if t["request_no"] not in still:
            transactions.settle_tender(ctx, t["request_no"])
    for p in ctx.store.all("SELECT project_no, miscarry_request_no FROM projects"
                           " WHERE status IN ('COLLECTING', 'FULLY') AND (miscarry_request_no IS NOT NULL"
                           " OR EXISTS (SELECT 1 FROM tenders t WHERE"
                           " t.project_no = projects.project_no AND t.cancel_request_no IS NOT NULL))"):
        started = [p["miscarry_request_no"]] + [t["cancel_request_no"] for t in ctx.store.all(
            "SELECT cancel_request_no FROM tenders WHERE project_no = ?", (p["project_no"],))]
        if not set(started) & set(still):
            try:  # a 流标 under way: finish it with the same requestNos
                transactions.miscarry(ctx, p["project_no"])
            except Exception:
                pass
    for p in ctx.store.all("SELECT project_no, loan_request_no FROM projects WHERE status IN ('FULLY', 'LOANED')"
                           " AND loan_request_no IS NOT NULL"):
        if p["loan_request_no"] in still:
            continue
        try:
            transactions.approve_loan(ctx, p["project_no"])
        except Exception:  # still unknown or refused: reported by the project's own state
            pass
    for c in ctx.store.all("SELECT claim_no FROM claims WHERE status = 'RESERVED' AND confirm_request_no IS NOT NULL"):
        try:
            claims.confirm(ctx, c["claim_no"])
        except Exception:  # still unknown: stays reserved with its hold
            pass
    for plan in ctx.store.all("SELECT * FROM repayment_plans"
                              " WHERE status = 'UNPAID' AND freeze_request_no IS NOT NULL"):
        rec = ctx.store.one("SELECT * FROM depository_records WHERE request_no = ?", (plan["freeze_request_no"],))
        if rec and rec["status"] == agent.SYNCED:
            repayment._enqueue_confirm(ctx, plan["id"], plan["freeze_request_no"])
    # A CONFIRM_REPAYMENT settled above marks its plan paid only through the outbox.
    repayment.process_outbox(ctx)
    for p in ctx.store.all("SELECT project_no, finish_request_no FROM projects WHERE status = 'REPAYING'"):
        if p["finish_request_no"] not in still:  # all paid, FINISH unanswered so far
            repayment._settle_project_if_done(ctx, p["project_no"])
    return {"resolved": resolved, "unresolved": still}


def daily(ctx: PlatformContext, today: dt.date | None = None) -> dict:
    """What runs once a business day: recovery, expiry (流标), repayments, outbox, and
    yesterday's reconciliation (stored)."""
    today = today or ctx.clock.today()
    out: dict[str, Any] = {"recovery": recover(ctx)}
    expired = []
    limit = (today - dt.timedelta(days=ctx.settings.miscarry_days)).isoformat()
    for p in ctx.store.all("SELECT project_no FROM projects WHERE status = 'COLLECTING' AND approved_at < ?", (limit,)):
        try:
            transactions.miscarry(ctx, p["project_no"])
            expired.append(p["project_no"])
        except Exception:
            pass
    out["expired"] = expired
    out["repayments"] = repayment.run_repayments(ctx, today)
    from . import reconcile
    try:
        report = reconcile.reconcile(ctx, today - dt.timedelta(days=1))
        out["reconciliation"] = {"date": report["date"], "clean": report["clean"], "breaks": len(report["breaks"])}
    except Exception as exc:  # the bank may be away: reported, retried tomorrow
        out["reconciliation"] = {"error": str(exc)}
    return out


class DailyScheduler:
    """Runs :func:`daily` once per business date of the platform's clock, in a
    background thread; with ``lock_path`` only the worker process holding that
    file lock runs it. A moved clock is noticed within ``interval`` seconds."""

    def __init__(self, ctx: PlatformContext, interval: float = 1.0):
        import threading
        self.ctx = ctx
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> bool:
        row = self.ctx.store.one("SELECT value FROM meta WHERE key = 'daily.last'")
        return row is None or row["value"] < self.ctx.clock.today().isoformat()

    def tick(self) -> dict | None:
        """Run the daily job if today's has not run yet."""
        if not self.due():
            return None
        today = self.ctx.clock.today()
        with self.ctx.store.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('daily.last', ?)", (today.isoformat(),))
        return daily(self.ctx, today)

    def start(self, lock_path: str | None = None) -> None:
        import fcntl
        import logging
        import threading

        def loop():
            lock = None
            while not self._stop.wait(self.interval):
                if lock_path and lock is None:
                    handle = open(lock_path, "a+")
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        lock = handle
                    except OSError:
                        handle.close()
                        continue
                try:
                    self.tick()
                except Exception:  # keep the scheduler alive; tomorrow's run retries
                    logging.getLogger("wanxin.platform.jobs").exception("daily job failed")

        self._thread = threading.Thread(target=loop, name="wanxin-daily", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
