"""Recovery: resolve every record the platform left unsynced, then resume the
multi-step flows that stopped between two bank steps.

Resolving a record (a direct request resent with its own requestNo, a gateway
request asked about with QUERY_TRANSACTION) settles it and applies its
registered outcome to its object in one transaction, so no object needs to
"catch up" afterwards. What remains are the flows whose *next* step has not
been taken yet: a 流标 under way, a loan not yet REPAYING at the bank, a
queued CONFIRM_REPAYMENT, a fully repaid project not yet FINISHed. A record
still unknown is not resent a second time in the same run. Only the
platform's own errors are caught (and logged); anything else is a bug and
propagates.
"""
from __future__ import annotations

import logging
from typing import Callable

from ..bank_client import OutcomeUnknown
from ..domain.errors import PlatformError
from ..domain.states import ProjectStatus as PS
from ..storage import projects, records, tenders
from ..storage.projects import Project
from . import agent, lending, repayment
from .context import PlatformContext
from .projects import miscarry

log = logging.getLogger("wanxin.platform.recovery")

# the errors a resumed step may end with: the bank refused, or its answer is still unknown
EXPECTED = (PlatformError, OutcomeUnknown)


def recover(ctx: PlatformContext) -> dict:
    """Resolve every unsynced record (its outcome applied as it settles), then resume what
    stopped between two steps; the requestNos resolved and those still unknown."""
    resolved: list[str] = []
    unresolved: list[str] = []
    for rec in records.unsynced(ctx.store.conn()):
        (unresolved if agent.resolve(ctx, rec.request_no) is None else resolved).append(rec.request_no)
    still = set(unresolved)
    for name, p, step in _resumable(ctx, still):
        _attempt(f"{name} {p.project_no}", step, ctx, p.project_no)
    # A CONFIRM_REPAYMENT queued above (by a freeze's outcome) or left pending goes out now;
    # it settles its project once the last plan is paid.
    repayment.process_outbox(ctx)
    for p in projects.with_status(ctx.store.conn(), PS.REPAYING):
        if p.finish_request_no not in still:  # all paid, FINISH unanswered so far
            repayment.settle_project_if_done(ctx, p.project_no)
    return {"resolved": resolved, "unresolved": unresolved}


def _resumable(ctx: PlatformContext, still: set[str]) -> list[tuple[str, Project, Callable]]:
    """Projects between two bank steps whose last step is not still unknown."""
    conn = ctx.store.conn()
    out: list[tuple[str, Project, Callable]] = []
    for p in projects.with_status(conn, PS.COLLECTING, PS.FULLY):
        started = [p.miscarry_request_no, *tenders.cancel_request_nos(conn, p.project_no)]
        if any(started) and not set(started) & still:   # a 流标 under way: finish it with the same requestNos
            out.append(("the miscarry of", p, miscarry))
    for p in projects.with_status(conn, PS.LOANED):
        if p.modify_request_no not in still:             # lent, not yet REPAYING at the bank
            out.append(("the loan of", p, lending.finish_loan))
    return out


def _attempt(what: str, step: Callable, *args) -> None:
    try:
        step(*args)
    except EXPECTED as exc:
        log.info("recovery: %s did not complete: %s %s", what, getattr(exc, "code", type(exc).__name__), exc)
