"""The bank's clock: system time until it is moved, then simulated and persisted.

Business dates (check files, retry schedules, hold timestamps) come only from
here; nothing else in the bank calls ``datetime.now()``. Business time is
China Standard Time (UTC+8), as a Chinese depository's would be.

Two kinds:

* :class:`PersistentClock` keeps an offset (or a frozen instant) in the
  database ``meta`` table, so every worker process and a restart see the same
  time. It never goes backwards.
* :class:`FixedClock` is a frozen in-memory clock for unit tests.

Both accept only instants in :mod:`bank_depository.protocol.clockrange`
(2000-01-01 .. 2099-12-31, UTC+8). A database holding a clock outside it
(written by an older version) is clamped at start (:meth:`PersistentClock.recover`)
and may then be set back once, so the bank can always be brought back by its own
commands.
"""
from __future__ import annotations

import datetime as dt
import math
import sqlite3
from typing import Callable, Optional, Protocol

from .protocol import clockrange

CST = dt.timezone(dt.timedelta(hours=8), "CST")


class ClockError(ValueError):
    """A clock move that is not allowed (backwards, malformed)."""


def parse_instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"{text!r} is not an ISO-8601 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=CST)
    try:
        return value.astimezone(CST)
    except OverflowError:
        raise ClockError(f"{text!r} is outside the calendar") from None


def iso(value: dt.datetime) -> str:
    return value.astimezone(CST).isoformat(timespec="microseconds")


def _plus(now: dt.datetime, seconds: float) -> dt.datetime:
    """A forward move; NaN, infinity and moves past the calendar are refused, not crashed on."""
    if not math.isfinite(seconds):
        raise ClockError("advance_seconds must be a finite number")
    if seconds < 0:
        raise ClockError("the clock never goes backwards")
    try:
        return now + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ClockError(f"advance_seconds {seconds} moves the clock past the calendar") from None


def in_range(instant: dt.datetime) -> dt.datetime:
    """``instant`` when the clock may show it; ClockError naming the range otherwise."""
    problem = clockrange.problem(instant)
    if problem:
        raise ClockError(problem)
    return instant


def system_now() -> dt.datetime:
    return dt.datetime.now(CST)


class Clock(Protocol):
    def now(self) -> dt.datetime: ...
    def advance(self, seconds: float) -> dt.datetime: ...
    def set(self, instant: dt.datetime) -> dt.datetime: ...


class FixedClock:
    """A frozen clock for tests: moves only when told."""

    def __init__(self, start: Optional[dt.datetime] = None):
        self._now = (start or dt.datetime(2026, 1, 5, 9, 0, tzinfo=CST)).astimezone(CST)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, seconds: float) -> dt.datetime:
        self._now = _plus(self._now, seconds)
        return self._now

    def set(self, instant: dt.datetime) -> dt.datetime:
        instant = in_range(instant.astimezone(CST))
        if instant < self._now:
            raise ClockError(f"cannot set the clock back to {iso(instant)} (now {iso(self._now)})")
        self._now = instant
        return self._now


class PersistentClock:
    """Clock state in the ``meta`` table: ``clock.offset`` seconds, or ``clock.frozen`` instant."""

    def __init__(self, connect: Callable[[], sqlite3.Connection],
                 system: Callable[[], dt.datetime] = system_now):
        self._connect = connect
        self._system = system

    def _read(self, conn: sqlite3.Connection) -> tuple[float, Optional[str]]:
        rows = dict(conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('clock.offset', 'clock.frozen')").fetchall())
        return float(rows.get("clock.offset", 0.0)), rows.get("clock.frozen")

    def _current(self, offset: float, frozen: Optional[str]) -> dt.datetime:
        """The clock's instant, clamped into range (a damaged value never raises here)."""
        try:
            value = parse_instant(frozen) if frozen else self._system() + dt.timedelta(seconds=offset)
        except (ClockError, OverflowError, ValueError):
            return clockrange.LATEST
        return clockrange.clamp(value)

    def now(self) -> dt.datetime:
        return self._current(*self._read(self._connect()))

    def recover(self) -> Optional[str]:
        """At start: clamp a persisted clock outside the range and allow one move back; what was found."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            offset, frozen = self._read(conn)
            try:
                value = parse_instant(frozen) if frozen else self._system() + dt.timedelta(seconds=offset)
                bad = clockrange.problem(value) is not None
            except (ClockError, OverflowError, ValueError):
                bad = True
            if not bad:
                conn.execute("COMMIT")
                return None
            found = frozen or f"offset {offset}"
            target = self._current(offset, frozen)
            if frozen:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'clock.frozen'", (iso(target),))
            else:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock.offset', ?)",
                             (repr((target - self._system()).total_seconds()),))
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock.recovered', ?)", (str(found),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return str(found)

    def freeze(self, instant: Optional[dt.datetime] = None) -> dt.datetime:
        """Stop the clock (at ``instant`` or now): deterministic runs."""
        conn = self._connect()
        target = in_range(instant or self.now())
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock.frozen', ?)", (iso(target),))
        return target

    def unfreeze(self) -> dt.datetime:
        """Let a frozen clock run again from where it stands (never backwards)."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            offset, frozen = self._read(conn)
            now = parse_instant(frozen) if frozen else self._system() + dt.timedelta(seconds=offset)
            conn.execute("DELETE FROM meta WHERE key = 'clock.frozen'")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock.offset', ?)",
                         (repr((now - self._system()).total_seconds()),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return now

    def frozen(self) -> bool:
        return self._read(self._connect())[1] is not None

    def restart(self, conn: sqlite3.Connection, start: Optional[dt.datetime], frozen: bool) -> None:
        """Inside the caller's transaction: the clock as a fresh bank starts it (a full reset; the one
        move that may go backwards). ``start`` None: system time."""
        conn.execute("DELETE FROM meta WHERE key LIKE 'clock.%'")
        if frozen:
            conn.execute("INSERT INTO meta (key, value) VALUES ('clock.frozen', ?)", (iso(start or self._system()),))
        elif start is not None:
            conn.execute("INSERT INTO meta (key, value) VALUES ('clock.offset', ?)",
                         (repr((start.astimezone(CST) - self._system()).total_seconds()),))

    def advance(self, seconds: float) -> dt.datetime:
        return self.set(_plus(self.now(), seconds))

    def set(self, instant: dt.datetime) -> dt.datetime:
        instant = in_range(instant.astimezone(CST))
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            offset, frozen = self._read(conn)
            current = self._current(offset, frozen)
            recovered = conn.execute("SELECT 1 FROM meta WHERE key = 'clock.recovered'").fetchone() is not None
            if instant < current and not recovered:
                raise ClockError(f"cannot set the clock back to {iso(instant)} (now {iso(current)})")
            conn.execute("DELETE FROM meta WHERE key = 'clock.recovered'")
            if frozen:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'clock.frozen'", (iso(instant),))
            else:
                new_offset = (instant - self._system()).total_seconds()
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock.offset', ?)",
                             (repr(new_offset),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return instant
