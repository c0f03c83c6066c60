"""Trade-password lockout: five wrong attempts lock a depository account's trade password.

Invariants guarded: the attempt counter only moves inside the caller's write
transaction (so concurrent wrong guesses each count once); the fifth wrong
attempt locks the password and writes the platform's ``TRADE_PASSWORD_LOCKED``
notification in that same transaction; a locked password is never checked
again (no more guessing) until the operator unlocks it; a right password
resets the counter. The slow hash itself is never computed here: callers
verify before they take the write lock and pass the verdict in.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Optional

from ..domain.errors import BankError
from ..protocol import codes, envelope, services as svc
from ..storage import db
from .context import BankContext

MAX_FAILURES = 5


@dataclass(frozen=True)
class Guard:
    failures: int = 0
    locked_at: Optional[str] = None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


def state(conn: sqlite3.Connection, platform_no: str, user_no: str) -> Guard:
    row = conn.execute("SELECT failures, locked_at FROM password_guards WHERE platform_no = ? AND user_no = ?",
                       (platform_no, user_no)).fetchone()
    return Guard() if row is None else Guard(row["failures"], row["locked_at"])


def locked_error() -> BankError:
    return BankError(codes.PASSWORD_LOCKED, f"PASSWORD_LOCKED {codes.PASSWORD_LOCKED} after {MAX_FAILURES} wrong"
                                            " attempts; the bank's operator must unlock it")


def locked_message() -> str:
    """``交易密码已锁定: PASSWORD_LOCKED 60303 after 5 wrong attempts; …``"""
    return locked_error().message


def wrong_message(failures: int) -> str:
    left = MAX_FAILURES - failures
    return f"{codes.message(codes.PASSWORD_WRONG)}: {left} attempt{'s' if left != 1 else ''} left before it locks"


def record_failure(conn: sqlite3.Connection, platform_no: str, user_no: str, now_iso: str,
                   trigger_request_no: str = "") -> Guard:
    """Count one wrong attempt (inside the caller's transaction); the fifth locks and notifies."""
    conn.execute(
        "INSERT INTO password_guards (platform_no, user_no, failures, updated_at) VALUES (?, ?, 1, ?)"
        " ON CONFLICT (platform_no, user_no) DO UPDATE SET failures = failures + 1, updated_at = excluded.updated_at",
        (platform_no, user_no, now_iso))
    guard = state(conn, platform_no, user_no)
    if guard.failures >= MAX_FAILURES and not guard.locked:
        conn.execute("UPDATE password_guards SET locked_at = ? WHERE platform_no = ? AND user_no = ?",
                     (now_iso, platform_no, user_no))
        guard = Guard(guard.failures, now_iso)
        _notify_locked(conn, platform_no, user_no, guard, trigger_request_no)
    return guard


def reset(conn: sqlite3.Connection, platform_no: str, user_no: str) -> None:
    """A right password: the count starts again (inside the caller's transaction)."""
    conn.execute("DELETE FROM password_guards WHERE platform_no = ? AND user_no = ? AND locked_at IS NULL",
                 (platform_no, user_no))


def _notify_locked(conn: sqlite3.Connection, platform_no: str, user_no: str, guard: Guard, trigger: str) -> None:
    """The signed notice to the platform, in the outbox with the lock (modern payload conventions)."""
    stamp = "".join(ch for ch in str(guard.locked_at) if ch.isdigit())[:20]
    lock_no = f"LOCK_{user_no}_{stamp}"[:64]
    payload = {"failedAttempts": guard.failures, "lockedAt": guard.locked_at, "requestNo": lock_no,
               "respCode": codes.PASSWORD_LOCKED, "respMsg": locked_message(), "status": codes.STATUS_FAILURE,
               "triggerRequestNo": trigger, "userNo": user_no}
    conn.execute(
        "INSERT INTO notifications (platform_no, service_name, request_no, payload, state, next_attempt_at,"
        " created_at) VALUES (?, ?, ?, ?, 'PENDING', ?, ?)",
        (platform_no, svc.TRADE_PASSWORD_LOCKED, lock_no, envelope.dumps(payload), guard.locked_at,
         guard.locked_at))


def unlock(ctx: BankContext, user_no: str, platform_no: str = "") -> dict:
    """The operator lifts a lock (and clears the count) for one depository account."""
    conn = ctx.conn()
    if platform_no:
        if ctx.platform(platform_no) is None:
            raise BankError(codes.UNKNOWN_PLATFORM, f"no platform {platform_no}")
        owners = [platform_no] if conn.execute("SELECT 1 FROM users WHERE platform_no = ? AND user_no = ?",
                                               (platform_no, user_no)).fetchone() else []
    else:
        owners = [r[0] for r in conn.execute("SELECT platform_no FROM users WHERE user_no = ? ORDER BY platform_no",
                                             (user_no,))]
    if not owners:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no}"
                        + (f" on platform {platform_no}" if platform_no else ""))
    if len(owners) > 1:
        raise BankError(codes.PARAM_FAIL, f"{user_no} has accounts on {', '.join(owners)}: give platformNo")
    owner = owners[0]
    with db.transaction(conn):
        before = state(conn, owner, user_no)
        conn.execute("DELETE FROM password_guards WHERE platform_no = ? AND user_no = ?", (owner, user_no))
    return {"platformNo": owner, "userNo": user_no, "wasLocked": before.locked, "failures": before.failures,
            "locked": False}
