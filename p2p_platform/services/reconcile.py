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

from bank_depository.protocol import codes, services as svc
from bank_depository.protocol.checkfile import COLUMNS, TOTALS
from bank_depository.protocol.money import format_fen, parse_yuan

from ..bank_client import CheckfileDownload, CheckfileUnverified, OutcomeUnknown
from ..domain.errors import PlatformError
from ..storage import recon, records, users
from . import agent, consumer, recovery
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
        before = records.unsynced_request_nos(ctx.store.conn())
        recovery.recover(ctx)
        after = records.unsynced_request_nos(ctx.store.conn())
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
            recon.save_report(conn, day.isoformat(), ctx.now_iso(), not breaks, json.dumps(report, ensure_ascii=False))
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
        head, counted = _stream(conn, download)
    header = _header(head)
    platform_no = ctx.settings.platform_no
    if header is None or header[3] != day.isoformat() or header[4] != platform_no:
        breaks.append({"kind": "control_totals", "detail": "the check file's header is malformed or not for"
                       f" {platform_no} on {day.isoformat()}"})
    elif header[:3] != counted:
        breaks.append({"kind": "control_totals",
                       "detail": f"header says {header[0]} lines / {format_fen(header[1])} / {format_fen(header[2])},"
                                 f" file has {counted[0]} / {format_fen(counted[1])} / {format_fen(counted[2])}"
                                 " (count / amount / commission)"})
    count, total, commission = header[:3] if header else counted
    return {"count": count, "totalAmount": format_fen(total), "totalCommission": format_fen(commission),
            "closed": download.verified.closed if download.verified else None}


def _stream(conn, download: CheckfileDownload) -> tuple[list, tuple[int, int, int]]:
    """The file's three head rows, and (count, amount, commission) of its lines, inserted in batches."""
    try:
        rows = csv.reader(download.lines())
        head = [next(rows, None) for _ in range(3)]
        count = total = commission = 0
        batch: list[tuple] = []
        for row in rows:
            amount, fee = parse_yuan(row[5], allow_zero=True), parse_yuan(row[6], allow_zero=True)
            count, total, commission = count + 1, total + amount, commission + fee
            batch.append((row[0], row[1], row[2], row[3], amount, fee))
            if len(batch) >= BATCH:
                recon.insert_lines(conn, batch)
        recon.insert_lines(conn, batch)
    except CheckfileUnverified as exc:
        raise PlatformError("CHECKFILE_UNVERIFIED", str(exc), 502) from None
    except OutcomeUnknown as exc:
        raise PlatformError("BANK_UNAVAILABLE", f"could not download the check file: {exc}", 503) from None
    except (ValueError, IndexError, csv.Error) as exc:
        raise PlatformError("CHECKFILE_MALFORMED", f"the check file has a line the platform cannot read: {exc}",
                            502) from None
    return head, (count, total, commission)


def _header(head: list) -> tuple[int, int, int, str, str] | None:
    """(count, amount, commission, fileDate, platformNo) the file's header states, or None if malformed."""
    if head[0] != list(TOTALS) or head[2] != list(COLUMNS) or not head[1] or len(head[1]) != len(TOTALS):
        return None
    said = dict(zip(TOTALS, head[1]))
    try:
        return (int(said["count"]), parse_yuan(said["totalAmount"], allow_zero=True),
                parse_yuan(said["totalCommission"], allow_zero=True), said["fileDate"], said["platformNo"])
    except (KeyError, ValueError):
        return None


def _match(ctx: PlatformContext, day: dt.date, path: str, breaks: list) -> tuple[dict, dict]:
    conn = ctx.store.conn()
    with recon.scratch(conn, path):
        bank = _load(ctx, conn, day, breaks)
        recon.index_lines(conn)
        for request_no, times in recon.duplicates(conn):
            breaks.append({"kind": "duplicate", "requestNo": request_no, "detail": f"listed {times} times by the bank"})
        for request_no, service, user_no in recon.unknown_to_platform(conn):
            breaks.append({"kind": "missing_at_platform", "requestNo": request_no, "service": service,
                           "userNo": user_no, "detail": "the bank moved money the platform has no record of"})
        for request_no, service, user_no, status in recon.not_synced_here(conn):
            state = {recon.UNSYNCED: "still waiting (unsynced)", recon.FAILED: "failed"}[status]
            breaks.append({"kind": "status_mismatch", "requestNo": request_no, "service": service, "userNo": user_no,
                           "detail": f"bank SUCCESS, platform {state}"})
        for r in recon.amounts_differ(conn):
            breaks.append({"kind": "amount_mismatch", "requestNo": r[0], "service": r[1], "userNo": r[2],
                           "detail": f"bank {format_fen(r[3])}/{format_fen(r[5])}, platform"
                                     f" {format_fen(r[4])}/{format_fen(r[6])} (amount/commission)"})
        for request_no, service, user_no in recon.synced_not_in_file(conn, MONEY, day.isoformat()):
            known = agent.query(ctx, request_no)  # finished at the bank on another day (e.g. recovered late)?
            if known is None or known.get("respCode") != codes.SUCCESS:
                breaks.append({"kind": "missing_at_bank", "requestNo": request_no, "service": service,
                               "userNo": user_no,
                               "detail": "the platform recorded success; the bank has no such movement"})
        count, total = recon.synced_totals(conn, MONEY, day.isoformat())
    return bank, {"count": count, "totalAmount": format_fen(total)}


def implied_balances(ctx: PlatformContext) -> dict[str, list[int]]:
    """userNo -> [available, frozen] as the platform's synced records imply.

    Read from a cursor, with each settled hold looked up by its requestNo, so
    memory grows with the number of users, not of records.
    """
    bal: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    conn = ctx.store.conn()

    def hold(request_no: str):
        # None when the platform never recorded the hold as synced: the balance check will show it
        return records.synced_hold(conn, request_no, svc.USER_AUTO_PRE_TRANSACTION)

    def release(request_no: str) -> int:
        held = hold(request_no)
        if held is None:
            return 0
        bal[held[0]][1] -= held[1]
        return held[1]

    for service, user, amount, commission, payload_text in records.synced_movements(conn):
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
    for user_no in users.open_user_nos(ctx.store.conn()):
        bank = consumer.bank_balances(ctx, user_no)
        mine = implied.get(user_no, [0, 0])
        if [bank["available"], bank["frozen"]] != mine:
            out.append({"kind": "balance_mismatch", "userNo": user_no,
                        "detail": f"bank available {format_fen(bank['available'])} frozen {format_fen(bank['frozen'])},"
                                  f" platform implies {format_fen(mine[0])} / {format_fen(mine[1])}"})
    return out


def stored(ctx: PlatformContext, day: dt.date) -> dict | None:
    text = recon.load_report(ctx.store.conn(), day.isoformat())
    return json.loads(text) if text else None

