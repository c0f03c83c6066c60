"""How the use cases turn the agent's three outcomes into answers for the caller:
done (a reply with ok), the bank said no (409 with the bank's code), or the
outcome is unknown (202: recorded, will be recovered with the same requestNo)."""
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
    """Send a recorded request; an unknown outcome is raised as a 202 PlatformError."""
    try:
        return agent.send(ctx, request_no)
    except OutcomeUnknown as exc:
        raise unknown(exc) from None
