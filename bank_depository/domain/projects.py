"""Project (标的) states at the bank and the transitions MODIFY_PROJECT may make."""
from __future__ import annotations

COLLECTING = "COLLECTING"
FULLY = "FULLY"
REPAYING = "REPAYING"
FINISH = "FINISH"
MISCARRY = "MISCARRY"
STATUSES = (COLLECTING, FULLY, REPAYING, FINISH, MISCARRY)

#: status -> statuses MODIFY_PROJECT may move it to.
TRANSITIONS: dict[str, frozenset[str]] = {
    COLLECTING: frozenset({FULLY, REPAYING, MISCARRY}),
    FULLY: frozenset({COLLECTING, REPAYING, MISCARRY}),
    REPAYING: frozenset({FINISH}),
    FINISH: frozenset(),
    MISCARRY: frozenset(),
}


def transition_problem(current: str, target: str, *, loaned: bool, open_tenders: int) -> str | None:
    """Why ``current -> target`` is not allowed, or None."""
    if target not in STATUSES:
        return f"projectStatus must be one of {', '.join(STATUSES)}"
    if target == current:
        return f"project is already {current}"
    if target not in TRANSITIONS[current]:
        return f"project cannot go from {current} to {target}"
    if target == REPAYING and not loaned:
        return "project cannot be REPAYING before CONFIRM_LOAN"
    if target == MISCARRY and loaned:
        return "a loaned project cannot be MISCARRY"
    if target == COLLECTING and loaned:
        return "a loaned project cannot collect again"
    if target == FINISH and open_tenders:
        return "project still has open holds"
    return None


def accepts_tenders(status: str) -> bool:
    return status == COLLECTING


def repayment_problem(status: str, *, loaned: bool, status_required: bool) -> str | None:
    """Why a project cannot take REPAYMENT freezes (or credit assignments) now, or None.

    With ``status_required`` the project must be REPAYING; without it (the original's
    platforms never get their MODIFY_PROJECT through) a confirmed loan suffices while
    the project is still COLLECTING or FULLY at the bank.
    """
    if status == REPAYING:
        return None
    if not status_required and loaned and status in (COLLECTING, FULLY):
        return None
    needs = "REPAYING" if status_required else "REPAYING or loaned"
    return f"is {status}, not {needs}"
