"""The platform's state machines: stored values unchanged, illegal moves refused."""
from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from p2p_platform.domain import states
from p2p_platform.domain.states import (CLAIM_MOVES, PLAN_MOVES, PROJECT_MOVES, TENDER_MOVES, ClaimStatus,
                                        IllegalTransition, PlanStatus, ProjectStatus, RecordStatus, TenderStatus,
                                        check, guard, sources)

TABLES = [(ProjectStatus, PROJECT_MOVES), (TenderStatus, TENDER_MOVES), (PlanStatus, PLAN_MOVES),
          (ClaimStatus, CLAIM_MOVES), (states.UserStatus, states.USER_MOVES),
          (states.PaymentStatus, states.PAYMENT_MOVES), (states.OutboxState, states.OUTBOX_MOVES),
          (RecordStatus, states.RECORD_MOVES)]


def test_a_status_member_is_stored_and_serialised_as_the_bare_string_it_replaced():
    assert json.dumps({"status": ProjectStatus.REPAYING}) == '{"status": "REPAYING"}'
    assert f"{TenderStatus.FROZEN}" == "FROZEN" and str(ClaimStatus.SOLD) == "SOLD"
    assert ProjectStatus.DRAFT == "DRAFT" and RecordStatus.SYNCED == 1


@pytest.mark.parametrize("enum, table", TABLES, ids=lambda x: getattr(x, "__name__", ""))
def test_every_state_has_a_row_in_its_transition_table(enum, table):
    assert set(table) == set(enum)
    assert all(target in set(enum) for moves in table.values() for target in moves)


def test_the_statuses_the_schema_names_are_exactly_the_enums_members():
    schema = resources.files("p2p_platform.storage").joinpath("schema.sql").read_text(encoding="utf-8")
    for table, enum in (("projects", ProjectStatus), ("tenders", TenderStatus), ("claims", ClaimStatus)):
        block = schema[schema.index(f"CREATE TABLE IF NOT EXISTS {table} ("):]
        comment = re.search(r"status\s+TEXT NOT NULL,\s+-- ([A-Z, ]+)", block)
        assert comment is not None
        assert set(comment.group(1).replace(" ", "").split(",")) == {m.value for m in enum}


def test_a_legal_move_is_allowed_and_an_illegal_one_is_refused_with_both_states_named():
    assert check(PROJECT_MOVES, ProjectStatus.FULLY, ProjectStatus.LOANED) is ProjectStatus.LOANED
    with pytest.raises(IllegalTransition, match="ProjectStatus SETTLED -> COLLECTING"):
        check(PROJECT_MOVES, ProjectStatus.SETTLED, ProjectStatus.COLLECTING)
    with pytest.raises(IllegalTransition):
        check(TENDER_MOVES, TenderStatus.FAILED, TenderStatus.FROZEN)


def test_a_project_cannot_be_settled_or_lent_from_anywhere_but_its_previous_state():
    assert sources(PROJECT_MOVES, ProjectStatus.SETTLED) == (ProjectStatus.REPAYING,)
    assert sources(PROJECT_MOVES, ProjectStatus.LOANED) == (ProjectStatus.FULLY,)
    assert set(sources(PROJECT_MOVES, ProjectStatus.MISCARRY)) == {ProjectStatus.COLLECTING, ProjectStatus.FULLY}


def test_a_guarded_update_from_a_state_the_table_does_not_allow_is_refused_before_any_sql():
    assert guard(PLAN_MOVES, PlanStatus.PAID, [PlanStatus.FROZEN]) == (PlanStatus.FROZEN,)
    with pytest.raises(IllegalTransition):
        guard(PLAN_MOVES, PlanStatus.UNPAID, [PlanStatus.PAID])
