"""Wiring: the outcome registry every platform context uses, built in one place."""
from __future__ import annotations

from . import claims, consumer, lending, projects, repayment
from .registry import OutcomeRegistry


def outcomes() -> OutcomeRegistry:
    """Every (object type, service) whose settled record changes a platform object."""
    registry = OutcomeRegistry()
    for module in (consumer, projects, lending, repayment, claims):
        module.register_outcomes(registry)
    return registry
