"""A platform that dies after the bank answered but before it wrote the answer down.

One bank step settles its depository record and applies the record's outcome
to the object in one transaction, so there is no moment at which the record
is synced and the object has not caught up. These tests kill the platform in
the one window left — the bank has committed and answered, the settling
transaction has run its updates but not committed — then start a new platform
process on the same database file and show that recovery completes the step
exactly once: the record synced, the object moved once, the bank holding one
request and one movement, the ledger sound.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from p2p_platform.app import DEFAULTS, create_app
from p2p_platform.services import lending, projects, repayment

from .test_recovery import bank_requests, full_project


class Crash(BaseException):
    """The process dying: not an error any code path may catch and handle."""


@contextmanager
def dies_in_the_next_settle(ctx, death=Crash):
    """The running platform dies inside the next settling transaction, after the record and
    the object were updated and before COMMIT."""
    outcomes = ctx.outcomes
    real_apply = outcomes.apply

    def apply_then_die(conn, ctx, record, data, ok):
        real_apply(conn, ctx, record, data, ok)
        raise death(f"the platform died settling {record.request_no}")

    outcomes.apply = apply_then_die
    try:
        yield
    finally:
        del outcomes.apply


def restarted(wanxin):
    """A new platform app on the same database file (and the same bank)."""
    config = {k: wanxin.sb.platform_app.config[k] for k in DEFAULTS}
    client = create_app(config).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {config['SIM_TOKEN']}"
    return client


def count(wanxin, sql: str, args=()) -> int:
    return wanxin.rows(sql, args)[0][0]


def test_a_loan_whose_platform_dies_before_the_settle_commits_is_completed_once_by_the_restarted_platform(
        wanxin):
    full_project(wanxin)
    ctx = wanxin.sb.platform_ctx

    with dies_in_the_next_settle(ctx), pytest.raises(Crash):
        lending.approve_loan(ctx, "p1", "60.00")

    (record,) = wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")
    assert record["status"] == 0                                     # the answer was never written down
    assert wanxin.show("p1")["status"] == "FULLY"                    # nor applied: one transaction, rolled back
    assert count(wanxin, "SELECT COUNT(*) FROM repayment_plans") == 0
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1           # the bank did it
    assert len(wanxin.entries_for(record["request_no"])) == 1

    platform = restarted(wanxin)
    report = platform.post("/api/jobs/recover").json

    assert record["request_no"] in report["resolved"]
    assert wanxin.record(record["request_no"])["status"] == 1
    assert platform.get("/api/projects/p1").json["status"] == "REPAYING"
    assert count(wanxin, "SELECT COUNT(*) FROM repayment_plans") == 3      # plans written once
    assert count(wanxin, "SELECT COUNT(*) FROM receivable_plans") == 6
    assert {t["status"] for t in wanxin.rows("SELECT status FROM tenders")} == {"LOANED"}
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1           # same requestNo: the stored answer
    assert len(wanxin.entries_for(record["request_no"])) == 1
    wanxin.assert_bank_agrees()

    again = platform.post("/api/jobs/recover").json
    assert again == {"resolved": [], "unresolved": []}
    assert count(wanxin, "SELECT COUNT(*) FROM repayment_plans") == 3
    wanxin.assert_bank_agrees()


def test_a_tender_whose_platform_dies_before_the_settle_commits_freezes_the_money_once(wanxin):
    from .test_flows import funded
    funded(wanxin)
    wanxin.project("p1", "bob", "6000.00")
    ctx = wanxin.sb.platform_ctx
    ivy = wanxin.users["ivy"]

    with dies_in_the_next_settle(ctx), pytest.raises(Crash):
        projects.tender(ctx, "p1", ivy, "4000.00")

    (tender,) = wanxin.rows("SELECT * FROM tenders")
    assert tender["status"] == "PENDING" and wanxin.record(tender["request_no"])["status"] == 0
    assert len(wanxin.holds(userNo=ivy)) == 1

    restarted(wanxin).post("/api/jobs/recover")

    assert wanxin.rows("SELECT status FROM tenders")[0]["status"] == "FROZEN"
    assert wanxin.record(tender["request_no"])["status"] == 1
    (hold,) = wanxin.holds(userNo=ivy)
    assert (hold["state"], wanxin.account("ivy")["frozen"]) == ("FROZEN", 400000)
    wanxin.assert_bank_agrees()


def test_a_repayment_freeze_whose_platform_dies_queues_its_confirmation_once_after_restart(wanxin):
    full_project(wanxin)
    wanxin.loan("p1", "60.00")
    wanxin.recharge("bob", "1000.00")
    wanxin.sb.advance(31 * 86400)
    ctx = wanxin.sb.platform_ctx

    with dies_in_the_next_settle(ctx), pytest.raises(Crash):
        repayment.run_repayments(ctx)

    assert count(wanxin, "SELECT COUNT(*) FROM outbox") == 0         # the confirmation died with the freeze's settle
    assert wanxin.show("p1")["plans"][0]["status"] == "UNPAID"

    restarted(wanxin).post("/api/jobs/recover")

    assert [p["status"] for p in wanxin.show("p1")["plans"]] == ["PAID", "UNPAID", "UNPAID"]
    assert count(wanxin, "SELECT COUNT(*) FROM outbox") == 1
    assert len(bank_requests(wanxin, "USER_AUTO_PRE_TRANSACTION")) == 3   # two tenders, one repayment freeze
    assert len(bank_requests(wanxin, "CONFIRM_REPAYMENT")) == 1
    wanxin.assert_bank_agrees()


def test_a_notification_whose_platform_dies_while_applying_it_is_applied_once_on_the_banks_retry(wanxin):
    wanxin.user("ivy")
    done = wanxin.recharge("ivy", "300.00", deliver=False)

    with dies_in_the_next_settle(wanxin.sb.platform_ctx, RuntimeError):
        assert [a.ok for a in wanxin.deliver()] == [False]            # no "OK": the bank will retry
    assert wanxin.rows("SELECT status FROM recharges")[0]["status"] == "PENDING"
    assert wanxin.rows("SELECT * FROM notifications_seen WHERE request_no = ?", (done["requestNo"],)) == []

    wanxin.sb.advance(10)
    assert [a.ok for a in wanxin.deliver()] == [True]

    assert wanxin.rows("SELECT status FROM recharges")[0]["status"] == "SUCCESS"
    (seen,) = wanxin.rows("SELECT * FROM notifications_seen WHERE request_no = ?", (done["requestNo"],))
    assert seen["times"] == 1
    wanxin.assert_bank_agrees()


KILLER = textwrap.dedent("""
    import json, os, sys
    import requests
    from p2p_platform.app import create_app
    from p2p_platform.services import lending

    config = json.loads(open(sys.argv[1]).read())
    session = requests.Session()
    session.trust_env = False
    ctx = create_app(config, session=session).extensions["wanxin.platform"]
    real_apply = ctx.outcomes.apply

    def apply_then_exit(conn, ctx, record, data, ok):
        real_apply(conn, ctx, record, data, ok)
        os._exit(9)   # killed: no rollback, no cleanup, the transaction left open in the WAL

    ctx.outcomes.apply = apply_then_exit
    lending.approve_loan(ctx, "p1", "60.00")
    sys.exit("the loan returned: the kill did not happen")
""")


def test_a_platform_process_killed_mid_settle_leaves_nothing_half_done_and_a_new_process_finishes_once(
        wanxin, tmp_path):
    full_project(wanxin)
    config = {k: wanxin.sb.platform_app.config[k] for k in DEFAULTS}
    config_file = tmp_path / "platform-config.json"
    config_file.write_text(json.dumps(config, default=str))
    root = Path(__file__).resolve().parents[2]

    killed = subprocess.run([sys.executable, "-c", KILLER, str(config_file)], cwd=root, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})

    assert killed.returncode == 9, killed.stderr
    (record,) = wanxin.rows("SELECT * FROM depository_records WHERE service_name = 'CONFIRM_LOAN'")
    assert record["status"] == 0
    assert wanxin.show("p1")["status"] == "FULLY"
    assert len(wanxin.entries_for(record["request_no"])) == 1

    platform = restarted(wanxin)
    assert record["request_no"] in platform.post("/api/jobs/recover").json["resolved"]

    assert platform.get("/api/projects/p1").json["status"] == "REPAYING"
    assert count(wanxin, "SELECT COUNT(*) FROM repayment_plans") == 3
    assert len(bank_requests(wanxin, "CONFIRM_LOAN")) == 1
    assert len(wanxin.entries_for(record["request_no"])) == 1
    wanxin.assert_bank_agrees()
