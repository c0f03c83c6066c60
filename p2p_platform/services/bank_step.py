"""Taking one bank step from a use case, and what the caller is told.

The step's intent is recorded by the use case (its checks and
:func:`agent.record` in one transaction); :func:`deliver` calls the bank
outside any transaction, and the agent settles the record and applies its
registered outcome (``registry``) in one transaction. The caller then hears
one of three things: done (a reply with ok), the bank said no (409 with the
bank's code), or the outcome is unknown (202: recorded, recovered later with
the same requestNo).
"""
from __future__ import annotations

from ..bank_client import BankReply, OutcomeUnknown
from ..domain.errors import PlatformError
from . import agent
from .context import PlatformContext


def unknown(exc: OutcomeUnknown) -> PlatformError:
    return PlatformError("OUTCOME_UNKNOWN", f"the bank's answer was lost ({exc}); it will be recovered", 202)


def refused(reply: BankReply) -> PlatformError:
    return PlatformError(f"BANK_{reply.code}", reply.message, 409)


def deliver(ctx: PlatformContext, request_no: str) -> BankReply:
    """Send a recorded request, its outcome applied; an unknown outcome is raised as a 202 PlatformError."""
    try:
        return agent.send(ctx, request_no)
    except OutcomeUnknown as exc:
        raise unknown(exc) from None


def take(ctx: PlatformContext, request_no: str) -> BankReply:
    """:func:`deliver`, and a refusal raised as the bank's 409."""
    reply = deliver(ctx, request_no)
    if not reply.ok:
        raise refused(reply)
    return reply
