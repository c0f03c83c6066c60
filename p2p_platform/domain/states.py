"""The platform's state machines: every status an object can have, and the
moves between them.

Each enum is ``str``-valued, so a member is stored in SQLite and written to the
API's JSON exactly as the bare string was before. The transition tables are the
only place that says which move is legal; :func:`check` refuses any other, so a
flow cannot, for instance, settle a project that never repaid. Pure: no I/O.
"""
from __future__ import annotations

from enum import Enum, IntEnum
from typing import Iterable, Mapping, TypeVar


class ProjectStatus(str, Enum):
    DRAFT = "DRAFT"
    COLLECTING = "COLLECTING"
    FULLY = "FULLY"
    LOANED = "LOANED"
    REPAYING = "REPAYING"
    SETTLED = "SETTLED"
    MISCARRY = "MISCARRY"
    REJECTED = "REJECTED"

    def __str__(self) -> str:
        return self.value


class TenderStatus(str, Enum):
    PENDING = "PENDING"
    FROZEN = "FROZEN"
    FAILED = "FAILED"
    LOANED = "LOANED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value


class PlanStatus(str, Enum):
    """A borrower's repayment plan; receivables use UNPAID and PAID only."""
    UNPAID = "UNPAID"
    FROZEN = "FROZEN"
    PAID = "PAID"

    def __str__(self) -> str:
        return self.value


class ClaimStatus(str, Enum):
    LISTED = "LISTED"
    RESERVED = "RESERVED"
    SOLD = "SOLD"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value


class UserStatus(str, Enum):
    NEW = "NEW"
    OPENING = "OPENING"
    OPEN = "OPEN"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


class PaymentStatus(str, Enum):
    """A recharge or a withdrawal."""
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"

    def __str__(self) -> str:
        return self.value


class OutboxState(str, Enum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


class RecordStatus(IntEnum):
    """A depository record (one outbound requestNo); stored as 0/1/2."""
    UNSYNCED = 0
    SYNCED = 1
    FAILED = 2


P, T, PL, C, U, PA, OB, R = (ProjectStatus, TenderStatus, PlanStatus, ClaimStatus, UserStatus, PaymentStatus,
                             OutboxState, RecordStatus)

PROJECT_MOVES: Mapping[ProjectStatus, frozenset[ProjectStatus]] = {
    P.DRAFT: frozenset({P.COLLECTING, P.REJECTED}),
    P.COLLECTING: frozenset({P.FULLY, P.MISCARRY}),
    P.FULLY: frozenset({P.LOANED, P.MISCARRY}),
    P.LOANED: frozenset({P.REPAYING}),
    P.REPAYING: frozenset({P.SETTLED}),
    P.SETTLED: frozenset(), P.MISCARRY: frozenset(), P.REJECTED: frozenset(),
}
TENDER_MOVES: Mapping[TenderStatus, frozenset[TenderStatus]] = {
    T.PENDING: frozenset({T.FROZEN, T.FAILED}),
    T.FROZEN: frozenset({T.LOANED, T.CANCELLED}),
    T.FAILED: frozenset(), T.LOANED: frozenset(), T.CANCELLED: frozenset(),
}
PLAN_MOVES: Mapping[PlanStatus, frozenset[PlanStatus]] = {
    PL.UNPAID: frozenset({PL.FROZEN, PL.PAID}),
    PL.FROZEN: frozenset({PL.PAID}),
    PL.PAID: frozenset(),
}
CLAIM_MOVES: Mapping[ClaimStatus, frozenset[ClaimStatus]] = {
    C.LISTED: frozenset({C.RESERVED, C.CANCELLED}),
    C.RESERVED: frozenset({C.LISTED, C.SOLD, C.CANCELLED}),   # back to LISTED when the bank refuses the freeze
    C.SOLD: frozenset(), C.CANCELLED: frozenset(),
}
USER_MOVES: Mapping[UserStatus, frozenset[UserStatus]] = {
    U.NEW: frozenset({U.OPENING}),
    U.OPENING: frozenset({U.OPEN, U.FAILED, U.OPENING}),     # a new attempt after an abandoned page
    U.FAILED: frozenset({U.OPENING}),
    U.OPEN: frozenset(),
}
PAYMENT_MOVES: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PA.PENDING: frozenset({PA.SUCCESS, PA.FAIL}), PA.SUCCESS: frozenset(), PA.FAIL: frozenset(),
}
OUTBOX_MOVES: Mapping[OutboxState, frozenset[OutboxState]] = {
    OB.PENDING: frozenset({OB.DONE, OB.FAILED}), OB.DONE: frozenset(), OB.FAILED: frozenset(),
}
RECORD_MOVES: Mapping[RecordStatus, frozenset[RecordStatus]] = {
    R.UNSYNCED: frozenset({R.SYNCED, R.FAILED}), R.SYNCED: frozenset(), R.FAILED: frozenset(),
}

S = TypeVar("S", bound=Enum)


class IllegalTransition(ValueError):
    """A move the state machine does not allow: a bug in a flow, never the user's input."""


def check(table: Mapping[S, frozenset[S]], current: S, target: S) -> S:
    """``target`` if ``current -> target`` is in ``table``; otherwise :class:`IllegalTransition`."""
    if target not in table.get(current, frozenset()):
        raise IllegalTransition(f"{type(current).__name__} {current.value} -> {target.value} is not allowed")
    return target


def sources(table: Mapping[S, frozenset[S]], target: S) -> tuple[S, ...]:
    """Every state from which ``target`` may be reached (for guarded SQL updates)."""
    return tuple(s for s, moves in table.items() if target in moves)


def guard(table: Mapping[S, frozenset[S]], target: S, only_from: Iterable[S] | None = None) -> tuple[S, ...]:
    """The states a guarded update to ``target`` may start from: ``only_from`` (each one
    checked against the table) or every legal source."""
    if only_from is None:
        return sources(table, target)
    allowed = tuple(only_from)
    for state in allowed:
        check(table, state, target)
    return allowed
