"""The platform's clock: business time (CST) for due dates and daily jobs.

It follows system time until moved; moves are persisted in ``meta`` so a
restart keeps the business date, and it never goes backwards. The same range
as the bank's (:mod:`bank_depository.protocol.clockrange`): a move outside it is
refused; a stored clock outside it (an older database) is clamped at start and
may then be set back once.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Callable

from bank_depository.protocol import clockrange

CST = dt.timezone(dt.timedelta(hours=8), "CST")


class ClockError(ValueError):
    pass


def parse(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"{text!r} is not an ISO-8601 date-time") from None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=CST)).astimezone(CST)
    except OverflowError:
        raise ClockError(f"{text!r} is outside the calendar") from None


def in_range(at: dt.datetime) -> dt.datetime:
    problem = clockrange.problem(at)
    if problem:
        raise ClockError(problem)
    return at


class PlatformClock:
    """``meta['clock']`` holds either ``frozen:<iso>`` or ``offset:<seconds>``."""

    def __init__(self, store, system: Callable[[], dt.datetime] = lambda: dt.datetime.now(CST)):
        self._store = store
        self._system = system

    def _state(self) -> tuple[str, str]:
        row = self._store.one("SELECT value FROM meta WHERE key = 'clock'")
        kind, _, value = (row["value"] if row else "offset:0").partition(":")
        return kind, value

    def _raw(self) -> dt.datetime:
        kind, value = self._state()
        if kind == "frozen":
            return parse(value)
        return self._system() + dt.timedelta(seconds=float(value))

    def now(self) -> dt.datetime:
        try:
            return clockrange.clamp(self._raw())
        except (ClockError, OverflowError, ValueError):
            return clockrange.LATEST

    def recover(self) -> str | None:
        """At start: clamp a stored clock outside the range, allowing one move back; what was found."""
        try:
            if clockrange.problem(self._raw()) is None:
                return None
        except (ClockError, OverflowError, ValueError):
            pass
        kind, value = self._state()
        target = self.now()
        self._save("frozen:" + target.isoformat() if kind == "frozen"
                   else f"offset:{(target - self._system()).total_seconds()!r}")
        with self._store.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock.recovered', ?)", (value,))
        return value

    def today(self) -> dt.date:
        return self.now().date()

    def _save(self, text: str) -> None:
        with self._store.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock', ?)", (text,))

    def freeze(self, at: dt.datetime | None = None) -> dt.datetime:
        at = in_range((at or self.now()).astimezone(CST))
        self._save("frozen:" + at.isoformat())
        return at

    def set(self, at: dt.datetime) -> dt.datetime:
        at, current = in_range(at.astimezone(CST)), self.now()
        recovered = self._store.one("SELECT 1 FROM meta WHERE key = 'clock.recovered'") is not None
        if at < current and not recovered:
            raise ClockError(f"cannot set the clock back to {at.isoformat()} (now {current.isoformat()})")
        if recovered:
            with self._store.write() as conn:
                conn.execute("DELETE FROM meta WHERE key = 'clock.recovered'")
        kind, _ = self._state()
        if kind == "frozen":
            self._save("frozen:" + at.isoformat())
        else:
            self._save(f"offset:{(at - self._system()).total_seconds()!r}")
        return at

    def advance(self, seconds: float) -> dt.datetime:
        """A forward move; NaN, infinity and moves past the calendar are refused (as the bank's clock does)."""
        if not math.isfinite(seconds):
            raise ClockError("advance_seconds must be a finite number")
        if seconds < 0:
            raise ClockError("the clock never goes backwards")
        try:
            target = self.now() + dt.timedelta(seconds=seconds)
        except OverflowError:
            raise ClockError(f"advance_seconds {seconds} moves the clock past the calendar") from None
        return self.set(target)
