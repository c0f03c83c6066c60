"""The outbox dispatcher: delivers due notifications, outside any transaction.

Each due row is first leased (its next attempt pushed forward) in a short
transaction, then sent with no database lock held, then its attempt and new
state recorded in another short transaction. Passes of every dispatcher on
the same database (the background thread of each worker, ``POST
/sim/notifications/dispatch``) run one at a time under a file lock
(``pass_lock``), so a caller that runs until idle sees every row another pass
had leased finished, not merely hidden by its lease. Only the plain body ``OK``
acknowledges. Failures are retried on a schedule measured on the bank's
clock; after the last attempt the row is dead-lettered. Delivery is at least
once: the platform must deduplicate by requestNo.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Optional

import requests

from ..clock import iso
from ..domain.errors import NotFound, param_error
from ..faults import NOTIFICATION_ACTIONS
from ..protocol import envelope, signing
from ..services.context import BankContext
from ..storage import db

log = logging.getLogger("wanxin.bank.notify")

#: Seconds to wait after failed attempt k (1-based): the RocketMQ-style ladder.
DEFAULT_SCHEDULE = (10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600)
LEASE_SECONDS = 60
#: How a fault-rule delay is written in a notification's history (never counted as an attempt).
DELAYED = "delayed by fault rule "


@dataclass
class Attempt:
    notification_id: int
    request_no: str
    ok: bool
    http_status: Optional[int]
    error: str


class Dispatcher:
    def __init__(self, ctx: BankContext, *, session: Optional[requests.Session] = None,
                 schedule: tuple = DEFAULT_SCHEDULE, timeout: float = 5.0, pass_lock: Optional[str] = None):
        self.ctx = ctx
        self.pass_lock = pass_lock
        self.session = session or requests.Session()
        self.schedule = tuple(schedule)
        self.max_attempts = len(self.schedule) + 1
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- one pass ---------------------------------------------------------
    def run_once(self, limit: int = 500) -> list[Attempt]:
        """Deliver every notification due now (by the bank's clock); return the attempts made."""
        batch = self._lease(limit)
        if not batch:
            return []
        faults = self.ctx.faults
        if faults is not None and len(batch) > 1:
            first = batch[0]
            if faults.fire(frozenset({"reorder_notifications"}), service=first["service_name"],
                           user_no=_user_of(first), request_no=first["request_no"],
                           platform_no=first["platform_no"]):
                batch.reverse()
        attempts = []
        for row in batch:
            fired = None
            if faults is not None:
                actions = NOTIFICATION_ACTIONS - {"reorder_notifications"}
                if self._was_delayed(row):  # a delay applies once, or an always-on rule would starve the row
                    actions -= {"delay_notification"}
                fired = faults.fire(actions, service=row["service_name"], user_no=_user_of(row),
                                    request_no=row["request_no"], platform_no=row["platform_no"])
            if fired and fired.action == "drop_notification":
                self._finish(row, None, "dropped by fault rule %d" % fired.rule_id, "", dropped=True)
                continue
            if fired and fired.action == "delay_notification":
                self._postpone(row, fired.rule["seconds"], "%s%d" % (DELAYED, fired.rule_id))
                continue
            attempts.append(self._deliver(row))
            if fired and fired.action == "duplicate_notification":
                attempts.append(self._deliver(row, duplicate=True))
        return attempts

    def run_until_idle(self, max_rounds: int = 100) -> list[Attempt]:
        """Run passes until nothing is due now (what a scenario's `deliver_notifications` does)."""
        done: list[Attempt] = []
        with self._one_pass_at_a_time():
            for _ in range(max_rounds):
                done += self.run_once()
                if not self._due_count():  # asked before another pass: an empty pass was a write transaction
                    break
        return done

    @contextlib.contextmanager
    def _one_pass_at_a_time(self):
        """Hold ``pass_lock`` (blocking: a pass ends, every delivery has a timeout); no-op without one."""
        if not self.pass_lock:
            yield
            return
        import fcntl
        with open(self.pass_lock, "a+") as handle:  # closing releases the lock
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- background -------------------------------------------------------
    def start(self, interval: float = 0.5, lock_path: Optional[str] = None) -> None:
        """Deliver in a background thread. With ``lock_path``, only the one process
        holding that file lock delivers (gunicorn workers share the outbox)."""
        if self._thread:
            return
        self._stop.clear()

        def loop():
            lock_file = None
            while not self._stop.wait(interval):
                if lock_path and lock_file is None:
                    lock_file = _try_lock(lock_path)
                    if lock_file is None:
                        continue
                try:
                    with self._one_pass_at_a_time():
                        self.run_once()
                except Exception:  # keep the dispatcher alive; the row stays due
                    log.exception("notification pass failed")
            if lock_file is not None:
                lock_file.close()

        self._thread = threading.Thread(target=loop, name="wanxin-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    # -- internals --------------------------------------------------------
    def _due_count(self) -> int:
        return self.ctx.conn().execute("SELECT COUNT(*) FROM notifications WHERE state = 'PENDING' AND"
                                       " next_attempt_at <= ?", (self.ctx.now_iso(),)).fetchone()[0]

    def _lease(self, limit: int) -> list:
        conn = self.ctx.conn()
        now = self.ctx.clock.now()
        with db.transaction(conn):
            rows = conn.execute("SELECT * FROM notifications WHERE state = 'PENDING' AND next_attempt_at <= ?"
                                " ORDER BY id LIMIT ?", (iso(now), limit)).fetchall()
            lease = iso(now + dt.timedelta(seconds=LEASE_SECONDS))
            conn.executemany("UPDATE notifications SET next_attempt_at = ? WHERE id = ?",
                             [(lease, r["id"]) for r in rows])
        return rows

    def _postpone(self, row, seconds: float, why: str) -> None:
        conn = self.ctx.conn()
        now = self.ctx.clock.now()
        with db.transaction(conn):
            conn.execute("UPDATE notifications SET next_attempt_at = ? WHERE id = ?",
                         (iso(now + dt.timedelta(seconds=seconds)), row["id"]))
            conn.execute("INSERT INTO notification_attempts (notification_id, attempted_at, error) VALUES (?, ?, ?)",
                         (row["id"], iso(now), why))

    def _was_delayed(self, row) -> bool:
        return self.ctx.conn().execute(
            "SELECT 1 FROM notification_attempts WHERE notification_id = ? AND error LIKE ? LIMIT 1",
            (row["id"], DELAYED + "%")).fetchone() is not None

    def _deliver(self, row, duplicate: bool = False) -> Attempt:
        platform = self.ctx.platform(row["platform_no"])
        status, error, body = None, "", ""
        if platform is None or not platform.notify_url:
            no = row["platform_no"]
            error = (f"platform {no} has no notify URL (give it one: wanxin platforms add "
                     f"no={no},key=PATH,notify=URL)")
        else:
            payload = row["payload"]
            signature = signing.sign(self.ctx.private_key, payload.encode("utf-8"), platform.algorithm)
            fields = envelope.SignedRequest(row["service_name"], row["platform_no"], payload, signature).fields()
            try:
                call = platform.profile.notification_call(platform.notify_url, fields)
                resp = self.session.request(call.method, call.url, data=call.data, timeout=self.timeout)
                status, body = resp.status_code, resp.text[:500]
                # A server error page that happens to say OK is not an acknowledgement.
                if not 200 <= status < 300 or body.strip() != "OK":
                    error = f"not acknowledged (HTTP {status})"
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        ok = not error
        self._finish(row, status, error, body, ok=ok, duplicate=duplicate)
        return Attempt(row["id"], row["request_no"], ok, status, error)

    def _finish(self, row, status, error, body, *, ok: bool = False, dropped: bool = False,
                duplicate: bool = False) -> None:
        conn = self.ctx.conn()
        now = self.ctx.clock.now()
        with db.transaction(conn):
            current = conn.execute("SELECT state, attempts, cycle_start FROM notifications WHERE id = ?",
                                   (row["id"],)).fetchone()
            if current is None:  # a reset removed it while it was in flight: nothing left to record
                return
            if dropped:
                conn.execute("UPDATE notifications SET state = 'DROPPED' WHERE id = ?", (row["id"],))
                conn.execute("INSERT INTO notification_attempts (notification_id, attempted_at, error)"
                             " VALUES (?, ?, ?)", (row["id"], iso(now), error))
                return
            attempts = current["attempts"] + 1
            in_cycle = attempts - current["cycle_start"]  # attempts since the last resend
            conn.execute("INSERT INTO notification_attempts (notification_id, attempted_at, http_status, error, body)"
                         " VALUES (?, ?, ?, ?, ?)", (row["id"], iso(now), status, error, body))
            if current["state"] != "PENDING" and not duplicate:
                return  # resent meanwhile or already settled: keep the settled state
            if ok:
                conn.execute("UPDATE notifications SET state = 'DELIVERED', attempts = ?, delivered_at = ?"
                             " WHERE id = ?", (attempts, iso(now), row["id"]))
            elif current["state"] == "DELIVERED":
                conn.execute("UPDATE notifications SET attempts = ? WHERE id = ?", (attempts, row["id"]))
            elif in_cycle >= self.max_attempts:
                conn.execute("UPDATE notifications SET state = 'DEAD', attempts = ? WHERE id = ?",
                             (attempts, row["id"]))
            else:
                wait = self.schedule[in_cycle - 1]
                conn.execute("UPDATE notifications SET attempts = ?, next_attempt_at = ? WHERE id = ?",
                             (attempts, iso(now + dt.timedelta(seconds=wait)), row["id"]))


def resend(ctx: BankContext, notification_id: int) -> dict:
    """Put a notification (delivered, dead or dropped) back in the queue, due now."""
    conn = ctx.conn()
    with db.transaction(conn):
        row = conn.execute("SELECT id FROM notifications WHERE id = ?", (notification_id,)).fetchone()
        if row is None:
            raise NotFound(f"no notification {notification_id}")
        # attempts keeps counting every attempt; the retry schedule restarts from this one.
        conn.execute("UPDATE notifications SET state = 'PENDING', cycle_start = attempts, next_attempt_at = ?"
                     " WHERE id = ?", (ctx.now_iso(), notification_id))
    return {"id": notification_id, "state": "PENDING"}


def make_due(ctx: BankContext, notification_id: int) -> dict:
    """Make a PENDING notification's next attempt due now, without waiting out its backoff.

    Unlike :func:`resend` the retry ladder goes on where it was: the attempt that follows counts as
    the next on the schedule, so a platform that never acknowledges is still dead-lettered after the
    last one. The bank's clock does not move (what a scenario's ``wait_for_notification`` uses)."""
    conn = ctx.conn()
    with db.transaction(conn):
        row = conn.execute("SELECT state FROM notifications WHERE id = ?", (notification_id,)).fetchone()
        if row is None:
            raise NotFound(f"no notification {notification_id}")
        if row["state"] != "PENDING":
            raise param_error(f"notification {notification_id} is {row['state']}: only a PENDING one can be made"
                              " due (resend puts a settled one back in the queue)")
        now = ctx.now_iso()
        conn.execute("UPDATE notifications SET next_attempt_at = ? WHERE id = ?", (now, notification_id))
    return {"id": notification_id, "state": "PENDING", "nextAttemptAt": now}


def _try_lock(path: str):
    import fcntl
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _user_of(row) -> str:
    try:
        return str(envelope.loads(row["payload"]).get("userNo", ""))
    except ValueError:
        return ""

