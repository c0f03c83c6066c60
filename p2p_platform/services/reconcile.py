"""Reconciliation (对账): the platform's records against the bank's check file.

For one business date the platform settles what it can first (auto-resolution:
unsynced records are resolved with QUERY_TRANSACTION or a same-requestNo
resend), downloads the check file streamed from the bank (``POST /checkfile``,
the same bytes as DOWNLOAD_CHECKFILE's ``content`` followed by the trailer
``#SIGNATURE,<fileDate>,<closed 0|1>,<content bytes>,<algorithm>,<signature>``),
and matches it by requestNo. Lines go from the socket into a temporary SQLite
file ATTACHed to the platform's database in batches while they are hashed;
the matching is done there with joins, so memory does not grow with the
number of movements. The file counts only once its trailer verified at the
end of the stream: a cut or altered stream is an error and no report is
stored. Every difference is a break of a named kind:

``missing_at_bank``, ``missing_at_platform``, ``amount_mismatch``,
``status_mismatch``, ``duplicate``, ``control_totals`` and, for every open
user, ``balance_mismatch`` (the bank's available/frozen against what the
platform's synced records imply).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import tempfile
from collections import defaultdict

from bank_depository.protocol import services as svc
from bank_depository.protocol.checkfile import COLUMNS, TOTALS
from bank_depository.protocol.money import format_fen, parse_yuan

from ..bank_client import CheckfileDownload, CheckfileUnverified, OutcomeUnknown
from ..domain.errors import PlatformError
from . import agent, consumer, jobs
from .context import PlatformContext

MONEY = tuple(sorted(svc.MONEY_SERVICES))
KINDS = ("missing_at_bank", "missing_at_platform", "amount_mismatch", "status_mismatch", "duplicate",
         "control_totals", "balance_mismatch")


BATCH = 5000


def reconcile(ctx: PlatformContext, day: dt.date, *, auto_resolve: bool = True, check_balances: bool = True,
              store: bool = True) -> dict:
    """Reconcile one business date; the balance check compares balances as they are now."""
    resolved = []
    if auto_resolve:
        before = {r["request_no"] for r in ctx.store.all("SELECT request_no FROM depository_records WHERE status = 0")}
        jobs.recover(ctx)
        after = {r["request_no"] for r in ctx.store.all("SELECT request_no FROM depository_records WHERE status = 0")}
        resolved = sorted(before - after)
    breaks: list[dict] = []
    handle, path = tempfile.mkstemp(prefix="wanxin-recon-", suffix=".sqlite")
    os.close(handle)
    try:
        bank, mine = _match(ctx, day, path, breaks)
    finally:
        os.unlink(path)
    if check_balances:
        breaks += balance_breaks(ctx)
    report = {"date": day.isoformat(), "clean": not breaks, "autoResolve": auto_resolve, "resolved": resolved,
              "bank": bank, "platform": mine, "breaks": breaks,
              "summary": {kind: sum(1 for b in breaks if b["kind"] == kind) for kind in KINDS}}
    if store:
        with ctx.store.write() as conn:
            conn.execute("INSERT OR REPLACE INTO reconciliations (business_date, created_at, clean, report)"
                         " VALUES (?, ?, ?, ?)", (day.isoformat(), ctx.now_iso(), int(not breaks),
                                                 json.dumps(report, ensure_ascii=False)))
    return report


def _open(ctx: PlatformContext, day: dt.date) -> CheckfileDownload:
    try:
        download = ctx.bank.stream_checkfile(day.isoformat(), ctx.ids.new("CHK"))
    except OutcomeUnknown as exc:
        raise PlatformError("BANK_UNAVAILABLE", f"could not download the check file: {exc}", 503) from None
    if download.refusal is not None:
        raise PlatformError(f"BANK_{download.refusal.code}", download.refusal.message, 409)
    return download


def _load(ctx: PlatformContext, conn, day: dt.date, breaks: list) -> dict:
    """Stream the verified check file into ``recon.lines``; the bank's side of the report."""
    with _open(ctx, day) as download:
        try:
            rows = csv.reader(download.lines())
            head = [next(rows, None) for _ in range(3)]
            count = total = commission = 0
            batch = []
            for row in rows:
                amount, fee = parse_yuan(row[5], allow_zero=True), parse_yuan(row[6], allow_zero=True)
                count += 1
                total += amount
                commission += fee
                batch.append((row[0], row[1], row[2], row[3], amount, fee))
                if len(batch) >= BATCH:
                    _insert(conn, batch)
            _insert(conn, batch)
        except CheckfileUnverified as exc:
            raise PlatformError("CHECKFILE_UNVERIFIED", str(exc), 502) from None
        except OutcomeUnknown as exc:
            raise PlatformError("BANK_UNAVAILABLE", f"could not download the check file: {exc}", 503) from None
        except (ValueError, IndexError, csv.Error) as exc:
            raise PlatformError("CHECKFILE_MALFORMED", f"the check file has a line the platform cannot read: {exc}",
                                502) from None
    totals = head[1] if head[0] == list(TOTALS) and head[2] == list(COLUMNS) and head[1] \
        and len(head[1]) == len(TOTALS) else None
    said = dict(zip(TOTALS, totals)) if totals else {}
    try:
        header = (int(said["count"]), parse_yuan(said["totalAmount"], allow_zero=True),
                  parse_yuan(said["totalCommission"], allow_zero=True))
    except (KeyError, ValueError):
        header = None
    if header is None or said["fileDate"] != day.isoformat() or said["platformNo"] != ctx.settings.platform_no:
        breaks.append({"kind": "control_totals", "detail": "the check file's header is malformed or not for"
                       f" {ctx.settings.platform_no} on {day.isoformat()}"})
    elif header != (count, total, commission):
        breaks.append({"kind": "control_totals",
                       "detail": f"header says {header[0]} lines / {format_fen(header[1])} / {format_fen(header[2])},"
                                 f" file has {count} / {format_fen(total)} / {format_fen(commission)}"
                                 " (count / amount / commission)"})
    return {"count": header[0] if header else count, "totalAmount": format_fen(header[1] if header else total),
            "totalCommission": format_fen(header[2] if header else commission),
            "closed": download.verified.closed if download.verified else None}


def _insert(conn, batch: list) -> None:
    """One batch into the scratch table, as one transaction of the scratch file only (the
    platform's own tables are not touched, and nothing is held open while the socket is read)."""
    conn.execute("BEGIN")
    try:
        conn.executemany("INSERT INTO recon.lines VALUES (?, ?, ?, ?, ?, ?)", batch)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    batch.clear()


def _match(ctx: PlatformContext, day: dt.date, path: str, breaks: list) -> tuple[dict, dict]:
    conn = ctx.store.conn()
    conn.execute("ATTACH DATABASE ? AS recon", (path,))
    try:
        # A throw-away file: no journal, no fsync.
        conn.execute("PRAGMA recon.journal_mode = OFF")
        conn.execute("PRAGMA recon.synchronous = OFF")
        conn.execute("CREATE TABLE recon.lines (request_no TEXT, service TEXT, biz_type TEXT, user_no TEXT,"
                     " amount INTEGER, commission INTEGER)")
        bank = _load(ctx, conn, day, breaks)
        conn.execute("CREATE INDEX recon.lines_no ON lines (request_no)")
        q = lambda sql, args=(): conn.execute(sql, args).fetchall()  # noqa: E731
        for r in q("SELECT request_no, COUNT(*) n FROM recon.lines GROUP BY request_no HAVING n > 1"):
            breaks.append({"kind": "duplicate", "requestNo": r[0], "detail": f"listed {r[1]} times by the bank"})
        for r in q("SELECT l.request_no, l.service, l.user_no FROM recon.lines l LEFT JOIN main.depository_records d"
                   " ON d.request_no = l.request_no WHERE d.request_no IS NULL"):
            breaks.append({"kind": "missing_at_platform", "requestNo": r[0], "service": r[1], "userNo": r[2],
                           "detail": "the bank moved money the platform has no record of"})
        for r in q("SELECT l.request_no, l.service, d.user_no, d.status FROM recon.lines l"
                   " JOIN main.depository_records d ON d.request_no = l.request_no WHERE d.status <> 1"):
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
    return bank, {"count": mine[0], "totalAmount": format_fen(mine[1])}


def implied_balances(ctx: PlatformContext) -> dict[str, list[int]]:
    """userNo -> [available, frozen] as the platform's synced records imply.

    Read from a cursor, with each settled hold looked up by its requestNo, so
    memory grows with the number of users, not of records.
    """
    bal: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    conn = ctx.store.conn()

    def hold(request_no: str):
        # None when the platform never recorded the hold as synced: the balance check will show it
        return conn.execute("SELECT user_no, amount FROM depository_records WHERE request_no = ? AND status = 1"
                            " AND service_name = ?", (request_no, svc.USER_AUTO_PRE_TRANSACTION)).fetchone()

    def release(request_no: str) -> int:
        held = hold(request_no)
        if held is None:
            return 0
        bal[held[0]][1] -= held[1]
        return held[1]

    cursor = conn.execute("SELECT service_name, user_no, amount, commission, payload FROM depository_records"
                          " WHERE status = 1")
    for service, user, amount, commission, payload_text in cursor:
        if service == svc.RECHARGE:
            bal[user][0] += amount
        elif service == svc.WITHDRAW:
            bal[user][0] -= amount
        elif service == svc.USER_AUTO_PRE_TRANSACTION:
            bal[user][0] -= amount
            bal[user][1] += amount
        elif service == svc.CANCEL_PRE_TRANSACTION:
            held = hold(json.loads(payload_text)["preRequestNo"])
            owner, back = (held[0], held[1]) if held is not None else (user, amount)
            bal[owner][1] -= back
            bal[owner][0] += back
        elif service == svc.CONFIRM_LOAN:
            total = sum(release(d["preRequestNo"]) for d in json.loads(payload_text)["details"])
            bal[user][0] += total - commission
        elif service == svc.CONFIRM_REPAYMENT:
            payload = json.loads(payload_text)
            release(payload["preRequestNo"])
            for d in payload["details"]:
                got = parse_yuan(d["amount"], allow_zero=True) + parse_yuan(d.get("interest", "0"), allow_zero=True)
                bal[d["userNo"]][0] += got - parse_yuan(d.get("commission", "0"), allow_zero=True)
        elif service == svc.CONFIRM_CREDIT_ASSIGNMENT:
            payload = json.loads(payload_text)
            held = release(payload["preRequestNo"])
            bal[payload["sellerUserNo"]][0] += held - commission
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

