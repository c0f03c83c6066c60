"""The outcome registry: one handler per (object type, service), applied once as the record settles."""
from __future__ import annotations

import pytest

from bank_depository.protocol import services as svc
from p2p_platform.services import wiring
from p2p_platform.services.registry import OutcomeRegistry


def test_every_service_a_flow_records_for_an_object_has_a_registered_outcome():
    assert wiring.outcomes().keys() == {
        ("USER", svc.PERSONAL_REGISTER), ("RECHARGE", svc.RECHARGE), ("WITHDRAW", svc.WITHDRAW),
        ("PROJECT", svc.CREATE_PROJECT), ("PROJECT", svc.MODIFY_PROJECT),
        ("TENDER", svc.USER_AUTO_PRE_TRANSACTION), ("TENDER", svc.CANCEL_PRE_TRANSACTION),
        ("LOAN", svc.CONFIRM_LOAN),
        ("REPAYMENT", svc.USER_AUTO_PRE_TRANSACTION), ("REPAYMENT", svc.CONFIRM_REPAYMENT),
        ("CLAIM", svc.USER_AUTO_PRE_TRANSACTION), ("CLAIM", svc.CONFIRM_CREDIT_ASSIGNMENT),
        ("CLAIM", svc.CANCEL_PRE_TRANSACTION)}


def test_registering_a_second_outcome_for_the_same_step_is_refused():
    registry = OutcomeRegistry()
    registry.register("LOAN", svc.CONFIRM_LOAN, on_success=lambda *a: None)
    with pytest.raises(ValueError, match="LOAN/CONFIRM_LOAN"):
        registry.register("LOAN", svc.CONFIRM_LOAN, on_refusal=lambda *a: None)
