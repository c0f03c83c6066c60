"""The platform's clock: business time (CST) for due dates and daily jobs.

It follows system time until moved; moves are persisted in ``meta`` so a
restart keeps the business date, and it never goes backwards.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Callable

CST = dt.timezone(dt.timedelta(hours=8), "CST")


class ClockError(ValueError):
    pass


def parse(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"{text!r} is not an ISO-8601 date-time") from None
    return (value if value.tzinfo else value.replace(tzinfo=CST)).astimezone(CST)


class PlatformClock:
    """``meta['clock']`` holds either ``frozen:<iso>`` or ``offset:<seconds>``."""

    def __init__(self, store, system: Callable[[], dt.datetime] = lambda: dt.datetime.now(CST)):
        self._store = store
        self._system = system

    def _state(self) -> tuple[str, str]:
        row = self._store.one("SELECT value FROM meta WHERE key = 'clock'")
        kind, _, value = (row["value"] if row else "offset:0").partition(":")
        return kind, value

    def now(self) -> dt.datetime:
        kind, value = self._state()
        if kind == "frozen":
            return parse(value)
        return self._system() + dt.timedelta(seconds=float(value))

    def today(self) -> dt.date:
        return self.now().date()

    def _save(self, text: str) -> None:
        with self._store.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('clock', ?)", (text,))

    def freeze(self, at: dt.datetime | None = None) -> dt.datetime:
        at = (at or self.now()).astimezone(CST)
        self._save("frozen:" + at.isoformat())
        return at

    def set(self, at: dt.datetime) -> dt.datetime:
        at, current = at.astimezone(CST), self.now()
        if at < current:
            raise ClockError(f"cannot set the clock back to {at.isoformat()} (now {current.isoformat()})")
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
