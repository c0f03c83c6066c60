"""The platform's daily job runs once per business date of its own clock."""
from scenarios.harness import Sandbox
from tests.conftest import operator_client


def test_the_daily_job_runs_once_per_business_date_and_again_after_the_clock_moves(tmp_path):
    with Sandbox(tmp_path) as sb:
        scheduler = sb.platform_app.extensions["wanxin.scheduler"]
        first = scheduler.tick()
        assert first is not None and first["repayments"]["date"] == "2026-01-05"
        assert scheduler.tick() is None
        sb.advance(86400)
        second = scheduler.tick()
        assert second["repayments"]["date"] == "2026-01-06"
        assert second["reconciliation"]["date"] == "2026-01-05" and second["reconciliation"]["clean"]
        stored = operator_client(sb.platform_app).get("/api/reconciliations/2026-01-05")
        assert stored.status_code == 200 and stored.json["clean"] is True
