"""Recovery catches the platform's own errors only: a step the bank refuses is logged and
recovery carries on; a bug is not swallowed."""
from __future__ import annotations

import logging

import pytest

from p2p_platform.services import lending, recovery

from .test_recovery import full_project


def loaned_but_refused_repaying(wanxin) -> None:
    full_project(wanxin)
    wanxin.fault(action="reject", service="MODIFY_PROJECT", code="30042")
    status, body = wanxin.loan("p1", "60.00")
    assert (status, body["error"]["code"]) == (409, "BANK_30042")
    assert wanxin.show("p1")["status"] == "LOANED"


def test_a_resumed_step_the_bank_refuses_is_logged_and_the_rest_of_recovery_still_runs(wanxin, caplog):
    loaned_but_refused_repaying(wanxin)
    wanxin.clear_faults()

    with caplog.at_level(logging.INFO, logger="wanxin.platform.recovery"):
        report = wanxin.recover()

    assert report == {"resolved": [], "unresolved": []}
    assert any("the loan of" in r.getMessage() and "30042" in r.getMessage() for r in caplog.records)
    assert wanxin.show("p1")["status"] == "LOANED"   # the refusal stands, as at the bank


def test_a_bug_inside_a_resumed_step_is_not_swallowed_by_recovery(wanxin, monkeypatch):
    loaned_but_refused_repaying(wanxin)

    def broken(ctx, project_no):
        raise KeyError("a bug")

    monkeypatch.setattr(lending, "finish_loan", broken)
    with pytest.raises(KeyError):
        recovery.recover(wanxin.sb.platform_ctx)
