"""Reconciliation (对账): the platform's records against the bank's streamed check file.

A clean day has zero breaks; every break kind is provoked on purpose — by the
bank's fault rules, by a request the platform never recorded, by tampering
with the platform's own rows, or by a synthetic (but properly signed) check
file — and the report names exactly those breaks. Auto-resolution settles
what it safely can, the daily job stores yesterday's report, and a check
file stream that is cut or altered is refused without storing anything.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import responses
from click.testing import CliRunner

import cli
from bank_depository.protocol import envelope, signing, trailer
from p2p_platform.bank_client import CheckfileDownload, CheckfileUnverified
from scenarios import runner

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


# -- helpers ------------------------------------------------------------------------------------------
def reconcile(wanxin, **body) -> tuple[int, dict]:
    return wanxin.api("POST", "/api/reconciliations", body)


def clean_report(wanxin, **body) -> dict:
    status, report = reconcile(wanxin, **body)
    assert status == 200, report
    return report


def found(report: dict) -> list[tuple[str, str, str]]:
    """Each break as (kind, requestNo, userNo), sorted: what a test asserts exactly."""
    return sorted((b["kind"], b.get("requestNo", ""), b.get("userNo", "")) for b in report["breaks"])


def today(wanxin) -> str:
    return wanxin.sb.platform_ctx.clock.today().isoformat()


def basic_day(wanxin) -> dict:
    """A borrower and an investor with money and a project that collects: a few movements, all synced."""
    wanxin.user("bob", "borrower")
    wanxin.user("ivy")
    recharge = wanxin.recharge("ivy", "5000.00")["requestNo"]
    project_no = wanxin.project("p1", "bob", "3000.00")
    status, tender = wanxin.tender("p1", "ivy", "1000.00")
    assert status == 201, tender
    return {"recharge": recharge, "project": project_no, "bob": wanxin.users["bob"], "ivy": wanxin.users["ivy"]}


def keys(keys_dir: Path) -> dict:
    return {"platform": signing.load_private_key((keys_dir / "platform_private.pem").read_text()),
            "bank": signing.load_private_key((keys_dir / "bank_private.pem").read_text()),
            "bank_public": signing.load_public_key((keys_dir / "bank_public.pem").read_text())}


def content_of(wanxin, day: str) -> str:
    """The day's file as the bank hands it over in respData (DOWNLOAD_CHECKFILE on /service)."""
    ctx = wanxin.sb.platform_ctx
    reply = ctx.bank.call("DOWNLOAD_CHECKFILE", {"requestNo": ctx.ids.new("T"), "fileDate": day})
    assert reply.ok, reply.data
    return reply.data["content"]


def signed_file(content: str, bank_key, day: str, closed: bool = False) -> bytes:
    """A check file body as the bank streams it: content, then the signed trailer."""
    signer = trailer.Signer(signing.SHA256)
    data = signer.feed(content.encode("utf-8"))
    return data + signer.trailer(bank_key, day, closed)


def streamed_body(wanxin, day: str) -> bytes:
    ctx = wanxin.sb.platform_ctx
    fields = envelope.sign_request("DOWNLOAD_CHECKFILE", "wanxinp2p", {"requestNo": ctx.ids.new("T"), "fileDate": day},
                                   ctx.bank.private_key).fields()
    resp = requests.post(wanxin.sb.bank_url + "/checkfile", data=fields, timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv"), resp.text
    return resp.content


@contextmanager
def bank_streams(wanxin, body: bytes):
    """The bank's /checkfile answers ``body``; every other call goes through to the real servers."""
    with responses.RequestsMock() as mock:
        mock.add_passthru(wanxin.sb.platform_url)
        mock.add_passthru(wanxin.sb.bank_url + "/service")
        mock.add(responses.POST, wanxin.sb.bank_url + "/checkfile", body=body,
                 content_type="text/csv; charset=utf-8")
        yield mock


def stored(wanxin, day: str) -> tuple[int, dict]:
    return wanxin.api("GET", f"/api/reconciliations/{day}")


def with_lines(content: str, change) -> str:
    rows = content.splitlines(keepends=True)
    return "".join(change(rows))


# -- a clean day --------------------------------------------------------------------------------------
def test_every_day_of_the_full_lifecycle_reconciles_with_zero_breaks_and_equal_totals():
    lines: list[str] = []
    reports = []

    def check(run: runner.Runner) -> None:
        for day in sorted(run.touched_days):
            reports.append(run.platform("POST", "/api/reconciliations", json={"date": day}))

    result = runner.run_file(SCENARIOS / "full_lifecycle.yaml", echo=lines.append, after=check)

    assert result.ok, "\n".join(lines)
    assert len(reports) >= 10
    for report in reports:
        assert (report["clean"], report["breaks"], report["resolved"]) == (True, [], []), report
        assert report["bank"]["count"] == report["platform"]["count"]
        assert report["bank"]["totalAmount"] == report["platform"]["totalAmount"]
        assert set(report["summary"].values()) == {0}
    assert sum(r["bank"]["count"] for r in reports) > 40  # recharges, tenders, loans, 15 repayments, withdrawals
    assert all(r["bank"]["closed"] for r in reports[:-1])


def test_a_clean_day_reconciles_with_zero_breaks_and_is_stored(wanxin):
    basic_day(wanxin)

    report = clean_report(wanxin)

    assert (report["date"], report["clean"], report["breaks"]) == (today(wanxin), True, [])
    assert report["bank"] == {"count": 2, "totalAmount": "6000.00", "totalCommission": "0.00", "closed": False}
    assert report["platform"] == {"count": 2, "totalAmount": "6000.00"}
    assert stored(wanxin, today(wanxin)) == (200, report)


# -- each break kind on purpose -----------------------------------------------------------------------
def test_a_movement_the_platform_never_recorded_is_missing_at_platform(wanxin, keys_dir):
    day = basic_day(wanxin)
    payload = {"requestNo": "ROGUE_1", "userNo": day["ivy"], "bizType": "TENDER", "projectNo": day["project"],
               "amount": "250.00"}
    platform_key = keys(keys_dir)["platform"]  # the platform's own key, but no platform record
    fields = envelope.sign_request("USER_AUTO_PRE_TRANSACTION", "wanxinp2p", payload, platform_key).fields()
    answer = requests.post(wanxin.sb.bank_url + "/service", data=fields, timeout=30)
    assert envelope.verify_response(answer.text, keys(keys_dir)["bank_public"])["respCode"] == "00000"

    report = clean_report(wanxin)

    assert found(report) == [("balance_mismatch", "", day["ivy"]),
                             ("missing_at_platform", "ROGUE_1", day["ivy"])]
    assert report["clean"] is False and report["resolved"] == []
    assert report["bank"]["count"] == report["platform"]["count"] + 1


def test_a_success_the_bank_never_saw_is_missing_at_bank(wanxin):
    day = basic_day(wanxin)
    ctx = wanxin.sb.platform_ctx
    with ctx.store.write() as conn:  # a test-only forgery of the platform's own record
        conn.execute("INSERT INTO depository_records (request_no, service_name, object_type, object_id, payload,"
                     " status, resp_code, amount, user_no, created_at, confirmed_at)"
                     " VALUES ('GHOST_1', 'RECHARGE', 'recharge', 'GHOST_1', '{}', 1, '00000', 7700, ?, ?, ?)",
                     (day["ivy"], ctx.now_iso(), ctx.now_iso()))

    report = clean_report(wanxin)

    assert found(report) == [("balance_mismatch", "", day["ivy"]), ("missing_at_bank", "GHOST_1", day["ivy"])]
    assert report["platform"]["count"] == report["bank"]["count"] + 1


def test_a_platform_record_with_another_amount_is_an_amount_mismatch(wanxin):
    day = basic_day(wanxin)
    with wanxin.sb.platform_ctx.store.write() as conn:
        conn.execute("UPDATE depository_records SET amount = amount + 1 WHERE request_no = ?", (day["recharge"],))

    report = clean_report(wanxin, checkBalances=False)

    assert found(report) == [("amount_mismatch", day["recharge"], day["ivy"])]
    (only,) = report["breaks"]
    assert only["detail"] == "bank 5000.00/0.00, platform 5000.01/0.00 (amount/commission)"


def test_a_notification_dropped_for_good_is_a_status_and_balance_mismatch_until_auto_resolution(wanxin):
    basic_day(wanxin)
    wanxin.fault(action="drop_notification", service="RECHARGE")
    request_no = wanxin.recharge("ivy", "100.00")["requestNo"]
    assert wanxin.record(request_no)["status"] == 0
    ivy = wanxin.users["ivy"]

    held = clean_report(wanxin, autoResolve=False)

    assert found(held) == [("balance_mismatch", "", ivy), ("status_mismatch", request_no, ivy)]
    assert held["resolved"] == [] and held["summary"]["status_mismatch"] == 1

    settled = clean_report(wanxin)

    assert (settled["resolved"], settled["breaks"], settled["clean"]) == ([request_no], [], True)
    assert wanxin.record(request_no)["status"] == 1
    assert stored(wanxin, today(wanxin))[1]["resolved"] == [request_no]


def test_a_tender_response_lost_and_never_recovered_stays_a_break_until_the_bank_answers_again(wanxin):
    basic_day(wanxin)
    wanxin.fault(action="lose_response", service="USER_AUTO_PRE_TRANSACTION", bizType="TENDER", times=-1)
    wanxin.fault(action="reject", code="00001", service="QUERY_TRANSACTION", times=-1)
    status, body = wanxin.tender("p1", "ivy", "500.00")
    assert (status, body["error"]["code"]) == (202, "OUTCOME_UNKNOWN")
    (lost,) = wanxin.rows("SELECT request_no FROM depository_records WHERE status = 0")
    ivy = wanxin.users["ivy"]

    still = clean_report(wanxin)  # auto-resolution tries, and cannot

    assert found(still) == [("balance_mismatch", "", ivy), ("status_mismatch", lost["request_no"], ivy)]
    assert still["resolved"] == []

    wanxin.clear_faults()
    cleared = clean_report(wanxin)

    assert (cleared["resolved"], cleared["breaks"]) == ([lost["request_no"]], [])
    wanxin.assert_bank_agrees()


def test_a_line_listed_twice_by_the_bank_is_a_duplicate(wanxin, keys_dir):
    day = basic_day(wanxin)
    date = today(wanxin)

    def twice(rows):
        head, totals, columns, *body = rows
        repeated = next(r for r in body if r.startswith(day["recharge"] + ","))
        count, total = int(totals.split(",")[2]) + 1, "11000.00"
        return [head, f"{date},wanxinp2p,{count},{total},0.00\n", columns, *body, repeated]

    body = signed_file(with_lines(content_of(wanxin, date), twice), keys(keys_dir)["bank"], date)
    with bank_streams(wanxin, body):
        report = clean_report(wanxin, checkBalances=False)

    assert found(report) == [("duplicate", day["recharge"], "")]
    assert report["bank"]["count"] == 3 and report["breaks"][0]["detail"] == "listed 2 times by the bank"


def test_a_header_that_disagrees_with_the_lines_is_a_control_totals_break(wanxin, keys_dir):
    basic_day(wanxin)
    date = today(wanxin)

    def inflate(rows):
        return [rows[0], f"{date},wanxinp2p,3,6000.00,0.00\n", *rows[2:]]

    body = signed_file(with_lines(content_of(wanxin, date), inflate), keys(keys_dir)["bank"], date)
    with bank_streams(wanxin, body):
        report = clean_report(wanxin, checkBalances=False)

    assert found(report) == [("control_totals", "", "")]
    assert report["breaks"][0]["detail"] == ("header says 3 lines / 6000.00 / 0.00, file has 2 / 6000.00 / 0.00"
                                             " (count / amount / commission)")


# -- the daily job ------------------------------------------------------------------------------------
def test_the_daily_job_reconciles_yesterday_and_stores_the_report(wanxin):
    basic_day(wanxin)
    yesterday = today(wanxin)
    assert stored(wanxin, yesterday)[0] == 404
    wanxin.sb.advance(86400)

    out = wanxin.ok("POST", "/api/jobs/daily")

    assert out["reconciliation"] == {"date": yesterday, "clean": True, "breaks": 0}
    status, report = stored(wanxin, yesterday)
    assert status == 200
    assert (report["date"], report["clean"], report["bank"]["count"], report["bank"]["closed"]) == \
        (yesterday, True, 2, True)


# -- the streamed download ----------------------------------------------------------------------------
def test_the_streamed_file_is_byte_for_byte_the_respdata_content_and_its_trailer_signs_it(wanxin, keys_dir):
    basic_day(wanxin)
    wanxin.withdraw("ivy", "10.00")
    date = today(wanxin)
    content = content_of(wanxin, date).encode("utf-8")

    body = streamed_body(wanxin, date)
    with wanxin.sb.platform_ctx.bank.stream_checkfile(date, "T_STREAM") as download:
        text = "".join(download.lines())

    assert body.startswith(content) and body.count(b"\n") == content.count(b"\n") + 1
    assert text.encode("utf-8") == content
    verified = download.verified
    assert (verified.file_date, verified.size, verified.closed) == (date, len(content), False)
    head, _, signature = body[:-1].rpartition(b",")
    assert head[len(content):] == f"#SIGNATURE,{date},0,{len(content)},SHA256withRSA".encode()
    # the trailer is an ordinary SHA256withRSA signature of every byte before it
    assert signing.verify(keys(keys_dir)["bank_public"], body[:len(head) + 1], signature.decode())


def test_a_stream_with_a_changed_byte_is_refused_and_no_report_is_stored(wanxin):
    day = basic_day(wanxin)
    date = today(wanxin)
    body = streamed_body(wanxin, date)
    forged = body.replace(f"{day['recharge']},RECHARGE,,{day['ivy']},,5000.00".encode(),
                          f"{day['recharge']},RECHARGE,,{day['ivy']},,5900.00".encode())
    assert forged != body

    with bank_streams(wanxin, forged):
        status, error = reconcile(wanxin)

    assert (status, error["error"]["code"]) == (502, "CHECKFILE_UNVERIFIED")
    assert "signature does not verify" in error["error"]["message"]
    assert stored(wanxin, date)[0] == 404


@pytest.mark.parametrize("cut", ["trailer", "half_a_line", "everything"])
def test_a_truncated_stream_is_refused_and_no_report_is_stored(wanxin, cut):
    basic_day(wanxin)
    date = today(wanxin)
    body = streamed_body(wanxin, date)
    without_trailer = body[:body.rindex(b"#SIGNATURE")]
    truncated = {"trailer": without_trailer, "half_a_line": without_trailer[:-20], "everything": b""}[cut]

    with bank_streams(wanxin, truncated):
        status, error = reconcile(wanxin)

    assert (status, error["error"]["code"]) == (502, "CHECKFILE_UNVERIFIED")
    assert stored(wanxin, date)[0] == 404


def test_a_stream_the_bank_cuts_before_its_trailer_is_refused(wanxin):
    basic_day(wanxin)
    wanxin.fault(action="lose_response", service="DOWNLOAD_CHECKFILE")

    status, error = reconcile(wanxin)

    assert (status, error["error"]["code"]) == (502, "CHECKFILE_UNVERIFIED")
    assert "not a signature trailer" in error["error"]["message"]
    assert stored(wanxin, today(wanxin))[0] == 404
    assert clean_report(wanxin)["clean"] is True  # the rule fired once; the next download is whole


def test_a_signed_file_of_another_day_is_refused(wanxin):
    basic_day(wanxin)
    yesterday = today(wanxin)
    wanxin.sb.advance(86400)
    date = today(wanxin)
    replayed = streamed_body(wanxin, yesterday)

    with bank_streams(wanxin, replayed):
        status, error = reconcile(wanxin, date=date)

    assert (status, error["error"]["code"]) == (502, "CHECKFILE_UNVERIFIED")
    assert f"the trailer is for {yesterday}, not {date}" in error["error"]["message"]


def test_a_signed_file_with_an_unreadable_amount_is_refused_as_malformed(wanxin, keys_dir):
    day = basic_day(wanxin)
    date = today(wanxin)
    content = content_of(wanxin, date).replace(f"{day['ivy']},,5000.00,", f"{day['ivy']},,5000.0x,")
    with bank_streams(wanxin, signed_file(content, keys(keys_dir)["bank"], date)):
        status, error = reconcile(wanxin)

    assert (status, error["error"]["code"]) == (502, "CHECKFILE_MALFORMED")
    assert stored(wanxin, date)[0] == 404


def test_a_connection_that_breaks_mid_stream_is_refused(keys_dir):
    class Breaking:
        def iter_content(self, size):
            yield b"fileDate,platformNo,count,totalAmount,totalCommission\n2026-01-05,wan"
            raise requests.exceptions.ChunkedEncodingError("connection broken")

        def close(self):
            pass

    download = CheckfileDownload(response=Breaking(), file_date="2026-01-05",
                                 bank_public_key=keys(keys_dir)["bank_public"])
    with pytest.raises(CheckfileUnverified, match="cut short: ChunkedEncodingError"):
        list(download.lines())
    assert download.verified is None


def test_a_refusal_from_the_bank_is_reported_as_the_bank_s_answer(wanxin):
    status, error = reconcile(wanxin, date="2026-02-01")

    assert (status, error["error"]["code"]) == (409, "BANK_40002")


# -- the CLI ------------------------------------------------------------------------------------------
def test_wanxin_reconcile_prints_a_table_json_and_csv_and_exits_by_the_verdict(wanxin):
    basic_day(wanxin)
    url = ["--platform-url", wanxin.sb.platform_url]
    cli_runner = CliRunner(env={"WANXIN_SIM_TOKEN": wanxin.sb.sim_token})  # the platform's API needs it

    table = cli_runner.invoke(cli.main, ["reconcile", *url])
    as_json = cli_runner.invoke(cli.main, ["reconcile", *url, "--json"])
    as_csv = cli_runner.invoke(cli.main, ["reconcile", *url, "--csv"])

    assert table.exit_code == 0, table.output
    assert f"reconciliation {today(wanxin)}: bank 2 line(s) / 6000.00" in table.output
    assert "clean: zero breaks" in table.output
    assert as_json.exit_code == 0 and json.loads(as_json.output)["clean"] is True
    assert as_csv.exit_code == 0 and as_csv.output == "date,kind,requestNo,service,userNo,detail\n"

    wanxin.fault(action="drop_notification", service="RECHARGE")
    request_no = wanxin.recharge("ivy", "100.00")["requestNo"]
    table = cli_runner.invoke(cli.main, ["reconcile", *url, "--no-auto-resolve"])
    as_csv = cli_runner.invoke(cli.main, ["reconcile", *url, "--no-auto-resolve", "--csv"])

    assert table.exit_code == 1, table.output
    assert "status_mismatch" in table.output and request_no in table.output
    assert as_csv.exit_code == 1
    header, *rows = as_csv.output.splitlines()
    assert header == "date,kind,requestNo,service,userNo,detail"
    assert sorted(r.split(",")[1] for r in rows) == ["balance_mismatch", "status_mismatch"]

    resolved = cli_runner.invoke(cli.main, ["reconcile", *url, "--json"])
    assert resolved.exit_code == 0 and json.loads(resolved.output)["resolved"] == [request_no]


def test_wanxin_reconcile_exits_2_when_the_day_cannot_be_reconciled_at_all(wanxin):
    cli_runner = CliRunner(env={"WANXIN_SIM_TOKEN": wanxin.sb.sim_token})  # the platform's API needs it
    result = cli_runner.invoke(cli.main, ["reconcile", "--platform-url", wanxin.sb.platform_url,
                                          "--date", "2026-02-01"])

    assert result.exit_code == 2
    assert "BANK_40002" in result.output and "Traceback" not in result.output
