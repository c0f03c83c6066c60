"""Reconciliation (对账): the platform's records against the bank's check file.

For one business date the platform settles what it can first (auto-resolution:
unsynced records are resolved with QUERY_TRANSACTION or a same-requestNo
resend), downloads the signed check file (DOWNLOAD_CHECKFILE), and matches it
by requestNo. The file is streamed line by line into a temporary SQLite file
and matched there with joins, so memory does not grow with the number of
movements. Every difference is a break of a named kind:

``missing_at_bank``, ``missing_at_platform``, ``amount_mismatch``,
``status_mismatch``, ``duplicate``, ``control_totals`` and, for every open
user, ``balance_mismatch`` (the bank's available/frozen against what the
platform's synced records imply).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import tempfile
from collections import defaultdict

from bank_depository.protocol import services as svc
from bank_depository.protocol.money import format_fen, parse_yuan

from ..bank_client import OutcomeUnknown
from ..domain.errors import PlatformError
from . import agent, consumer, jobs
from .context import PlatformContext

MONEY = tuple(sorted(svc.MONEY_SERVICES))
KINDS = ("missing_at_bank", "missing_at_platform", "amount_mismatch", "status_mismatch", "duplicate",
         "control_totals", "balance_mismatch")


def download(ctx: PlatformContext, day: dt.date) -> dict:
    try:
        reply = ctx.bank.call(svc.DOWNLOAD_CHECKFILE, {"requestNo": ctx.ids.new("CHK"), "fileDate": day.isoformat()})
    except OutcomeUnknown as exc:
        raise PlatformError("BANK_UNAVAILABLE", f"could not download the check file: {exc}", 503) from None
    if not reply.ok:
        raise PlatformError(f"BANK_{reply.code}", reply.message, 409)
    return reply.data


def reconcile(ctx: PlatformContext, day: dt.date, *, auto_resolve: bool = True, check_balances: bool = True,
              store: bool = True) -> dict:
    """Reconcile one business date; the balance check compares balances as they are now."""
    resolved = []
    if auto_resolve:
        before = {r["request_no"] for r in ctx.store.all("SELECT request_no FROM depository_records WHERE status = 0")}
        jobs.recover(ctx)
        after = {r["request_no"] for r in ctx.store.all("SELECT request_no FROM depository_records WHERE status = 0")}
        resolved = sorted(before - after)
    data = download(ctx, day)
    breaks: list[dict] = []
    handle, path = tempfile.mkstemp(prefix="wanxin-recon-", suffix=".sqlite")
    os.close(handle)
    try:
        totals = _match(ctx, day, data, path, breaks)
    finally:
        os.unlink(path)
    if check_balances:
        breaks += balance_breaks(ctx)
    report = {"date": day.isoformat(), "clean": not breaks, "autoResolve": auto_resolve, "resolved": resolved,
              "bank": {"count": data["count"], "totalAmount": data["totalAmount"], "closed": data.get("closed")},
              "platform": totals, "breaks": breaks,
              "summary": {kind: sum(1 for b in breaks if b["kind"] == kind) for kind in KINDS}}
    if store:
        with ctx.store.write() as conn:
            conn.execute("INSERT OR REPLACE INTO reconciliations (business_date, created_at, clean, report)"
                         " VALUES (?, ?, ?, ?)", (day.isoformat(), ctx.now_iso(), int(not breaks),
                                                 json.dumps(report, ensure_ascii=False)))
    return report


def _lines(content: str):
    """The check file's data rows, read one at a time."""
    reader = csv.reader(io.StringIO(content))
    head = next(reader, None), next(reader, None), next(reader, None)
    return head, reader


def _match(ctx: PlatformContext, day: dt.date, data: dict, path: str, breaks: list) -> dict:
    (_, totals_row, _), rows = _lines(data["content"])
    conn = ctx.store.conn()
    conn.execute("ATTACH DATABASE ? AS recon", (path,))
    try:
        conn.execute("CREATE TABLE recon.lines (request_no TEXT, service TEXT, biz_type TEXT, user_no TEXT,"
                     " amount INTEGER, commission INTEGER)")
        count = total = 0
        batch = []
        for row in rows:
            amount, commission = parse_yuan(row[5], allow_zero=True), parse_yuan(row[6], allow_zero=True)
            count += 1
            total += amount
            batch.append((row[0], row[1], row[2], row[3], amount, commission))
            if len(batch) >= 5000:
                conn.executemany("INSERT INTO recon.lines VALUES (?, ?, ?, ?, ?, ?)", batch)
                batch.clear()
        conn.executemany("INSERT INTO recon.lines VALUES (?, ?, ?, ?, ?, ?)", batch)
        conn.execute("CREATE INDEX recon.lines_no ON lines (request_no)")
        if totals_row is None or int(totals_row[2]) != count or parse_yuan(totals_row[3], allow_zero=True) != total:
            breaks.append({"kind": "control_totals", "detail": f"header says {totals_row[2] if totals_row else '?'}"
                           f" lines / {totals_row[3] if totals_row else '?'}, file has {count} / {format_fen(total)}"})
        q = lambda sql, args=(): conn.execute(sql, args).fetchall()  # noqa: E731
        for r in q("SELECT request_no, COUNT(*) n FROM recon.lines GROUP BY request_no HAVING n > 1"):
            breaks.append({"kind": "duplicate", "requestNo": r[0], "detail": f"listed {r[1]} times by the bank"})
        for r in q("SELECT l.request_no, l.service, l.user_no FROM recon.lines l LEFT JOIN main.depository_records d"
                   " ON d.request_no = l.request_no WHERE d.request_no IS NULL"):
            breaks.append({"kind": "missing_at_platform", "requestNo": r[0], "service": r[1], "userNo": r[2],
                           "detail": "the bank moved money the platform has no record of"})
        for r in q("SELECT l.request_no, l.service, d.user_no, d.status FROM recon.lines l JOIN main.depository_records d"
                   " ON d.request_no = l.request_no WHERE d.status <> 1"):
            state = {0: "still waiting (unsynced)", 2: "failed"}[r[3]]
            breaks.append({"kind": "status_mismatch", "requestNo": r[0], "service": r[1], "userNo": r[2],
                           "detail": f"bank SUCCESS, platform {state}"})
        for r in q("SELECT l.request_no, l.service, d.user_no, l.amount, d.amount, l.commission, d.commission"
                   " FROM recon.lines l JOIN main.depository_records d ON d.request_no = l.request_no"
                   " WHERE d.status = 1 AND (l.amount <> d.amount OR l.commission <> d.commission)"):
            breaks.append({"kind": "amount_mismatch", "requestNo": r[0], "service": r[1], "userNo": r[2],
                           "detail": f"bank {format_fen(r[3])}/{format_fen(r[5])}, platform"
                                     f" {format_fen(r[4])}/{format_fen(r[6])} (amount/commission)"})
        marks = ", ".join("?" * len(MONEY))
        candidates = q(f"SELECT d.request_no, d.service_name, d.user_no FROM main.depository_records d LEFT JOIN"
                       f" recon.lines l ON l.request_no = d.request_no WHERE d.status = 1 AND d.service_name IN"
                       f" ({marks}) AND substr(d.confirmed_at, 1, 10) = ? AND l.request_no IS NULL",
                       (*MONEY, day.isoformat()))
        for r in candidates:
            known = agent.query(ctx, r[0])  # finished at the bank on another day (e.g. recovered late)?
            if known is None or known.get("respCode") != "00000":
                breaks.append({"kind": "missing_at_bank", "requestNo": r[0], "service": r[1], "userNo": r[2],
                               "detail": "the platform recorded success; the bank has no such movement"})
        mine = conn.execute(f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM main.depository_records WHERE status = 1"
                            f" AND service_name IN ({marks}) AND substr(confirmed_at, 1, 10) = ?",
                            (*MONEY, day.isoformat())).fetchone()
    finally:
        conn.execute("DETACH DATABASE recon")
    return {"count": mine[0], "totalAmount": format_fen(mine[1])}


def implied_balances(ctx: PlatformContext) -> dict[str, list[int]]:
    """userNo -> [available, frozen] as the platform's synced records imply."""
    bal: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    holds = {}
    rows = ctx.store.all("SELECT * FROM depository_records WHERE status = 1 ORDER BY confirmed_at, request_no")
    for r in rows:
        if r["service_name"] == svc.USER_AUTO_PRE_TRANSACTION:
            holds[r["request_no"]] = (r["user_no"], r["amount"])
    for r in rows:
        service, user, amount = r["service_name"], r["user_no"], r["amount"]
        payload = json.loads(r["payload"])
        if service == svc.RECHARGE:
            bal[user][0] += amount
        elif service == svc.WITHDRAW:
            bal[user][0] -= amount
        elif service == svc.USER_AUTO_PRE_TRANSACTION:
            bal[user][0] -= amount
            bal[user][1] += amount
        elif service == svc.CANCEL_PRE_TRANSACTION:
            owner, held = holds.get(payload["preRequestNo"], (user, amount))
            bal[owner][1] -= held
            bal[owner][0] += held
        elif service == svc.CONFIRM_LOAN:
            total = 0
            for d in payload["details"]:
                owner, held = holds[d["preRequestNo"]]
                bal[owner][1] -= held
                total += held
            bal[user][0] += total - r["commission"]
        elif service == svc.CONFIRM_REPAYMENT:
            owner, held = holds[payload["preRequestNo"]]
            bal[owner][1] -= held
            for d in payload["details"]:
                got = parse_yuan(d["amount"], allow_zero=True) + parse_yuan(d.get("interest", "0"), allow_zero=True)
                bal[d["userNo"]][0] += got - parse_yuan(d.get("commission", "0"), allow_zero=True)
        elif service == svc.CONFIRM_CREDIT_ASSIGNMENT:
            owner, held = holds[payload["preRequestNo"]]
            bal[owner][1] -= held
            bal[payload["sellerUserNo"]][0] += held - r["commission"]
    return bal


def balance_breaks(ctx: PlatformContext) -> list[dict]:
    implied = implied_balances(ctx)
    out = []
    for u in ctx.store.all("SELECT user_no FROM users WHERE status = 'OPEN' ORDER BY user_no"):
        bank = consumer.bank_balances(ctx, u["user_no"])
        mine = implied.get(u["user_no"], [0, 0])
        if [bank["available"], bank["frozen"]] != mine:
            out.append({"kind": "balance_mismatch", "userNo": u["user_no"],
                        "detail": f"bank available {format_fen(bank['available'])} frozen {format_fen(bank['frozen'])},"
                                  f" platform implies {format_fen(mine[0])} / {format_fen(mine[1])}"})
    return out


def stored(ctx: PlatformContext, day: dt.date) -> dict | None:
    row = ctx.store.one("SELECT report FROM reconciliations WHERE business_date = ?", (day.isoformat(),))
    return json.loads(row["report"]) if row else None

