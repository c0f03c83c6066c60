"""The dates both apps' simulated clocks accept: 2000-01-01 00:00:00 to 2099-12-31 23:59:59 (UTC+8).

Every business computation (retry schedules, page expiry, due dates, check
files) adds days or seconds to "now"; a clock near the end of the calendar
overflows them. Inside this range there is always room for centuries of
schedules, so a clock move either lands here or is refused. Stdlib only.
"""
from __future__ import annotations

import datetime as dt

CST = dt.timezone(dt.timedelta(hours=8), "CST")
EARLIEST = dt.datetime(2000, 1, 1, 0, 0, 0, tzinfo=CST)
LATEST = dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=CST)
DESCRIPTION = "2000-01-01T00:00:00+08:00 .. 2099-12-31T23:59:59+08:00"


def problem(instant: dt.datetime) -> str | None:
    """Why ``instant`` is not a clock value the apps can live with (None when it is)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=CST)
    if not EARLIEST <= instant <= LATEST:
        return f"{instant.isoformat()} is outside the clock's range {DESCRIPTION}"
    return None


def clamp(instant: dt.datetime) -> dt.datetime:
    """The nearest instant inside the range (recovering a clock persisted by an older version)."""
    return min(max(instant, EARLIEST), LATEST).astimezone(CST)
