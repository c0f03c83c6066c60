"""The outcome registry: what a settled depository record does to its object.

One bank step on the platform is: record the intent (one transaction), call
the bank (no transaction), then — in ONE transaction — settle the record and
apply its registered outcome to the object it belongs to. Handlers are keyed
by the record's ``(object_type, service_name)``; the agent calls
:meth:`OutcomeRegistry.apply` only when the record moves from unsynced, so an
outcome is applied exactly once however many times the answer arrives (a
reply, a resend, QUERY_TRANSACTION, a notification). A record whose key has no
handler changes nothing but the record itself.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..storage.records import Record

# (conn, ctx, the record as settled, the bank's answer) -> None; runs inside the settling transaction.
# ctx is the PlatformContext (typed Any here: the context holds the registry, so naming it would be a cycle)
Handler = Callable[[sqlite3.Connection, Any, Record, dict[str, Any]], None]


@dataclass(frozen=True)
class Outcome:
    on_success: Optional[Handler] = None
    on_refusal: Optional[Handler] = None   # a definite refusal: typically resets the object for a new attempt


class OutcomeRegistry:
    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str], Outcome] = {}

    def register(self, object_type: str, service: str, *, on_success: Optional[Handler] = None,
                 on_refusal: Optional[Handler] = None) -> None:
        key = (object_type, service)
        if key in self._outcomes:
            raise ValueError(f"an outcome for {object_type}/{service} is registered already")
        self._outcomes[key] = Outcome(on_success, on_refusal)

    def keys(self) -> set[tuple[str, str]]:
        return set(self._outcomes)

    def apply(self, conn: sqlite3.Connection, ctx: Any, record: Record, data: dict[str, Any],
              ok: bool) -> None:
        outcome = self._outcomes.get((record.object_type, record.service_name))
        if outcome is None:
            return
        handler = outcome.on_success if ok else outcome.on_refusal
        if handler is not None:
            handler(conn, ctx, record, data)
