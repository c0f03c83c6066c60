"""Handlers of the direct (server-to-server) services.

Each handler runs inside the request's transaction, reads the payload
leniently, raises :class:`BankError` to refuse (the caller rolls its effects
back and records the refusal), and returns the service-specific respData
fields. Invariants guarded here: a tender never takes a project beyond its
amount; settlements move exactly the held money; claims follow the money.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Callable

from ..domain import ledger, projects
from ..domain.errors import BankError, param_error
from ..domain.fields import Payload
from ..protocol import codes, services as svc
from ..protocol.money import format_fen
from ..storage import repo
from .tx import Tx

Handler = Callable[[Tx, Payload], dict]


def _user(tx: Tx, user_no: str):
    row = repo.user(tx.conn, tx.platform_no, user_no)
    if row is None:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no}")
    return row


def _may_borrow(tx: Tx, user) -> None:
    """The platform's role policy (its wire profile's) decides who may borrow."""
    problem = tx.profile.roles.borrow_problem(user["user_no"], user["role"])
    if problem:
        raise BankError(codes.ROLE_NOT_ALLOWED, problem)


def _may_lend(tx: Tx, user) -> None:
    problem = tx.profile.roles.lend_problem(user["user_no"], user["role"])
    if problem:
        raise BankError(codes.ROLE_NOT_ALLOWED, problem)


def _in_repayment(tx: Tx, project) -> None:
    """The platform's project-status policy (its wire profile's) for REPAYMENT and CREDIT_ASSIGNMENT."""
    problem = projects.repayment_problem(project["status"], loaned=bool(project["loan_request_no"]),
                                         status_required=tx.profile.requires_repaying_status)
    if problem:
        raise BankError(codes.PROJECT_STATUS, f"project {project['project_no']} {problem}")


def _project(tx: Tx, project_no: str):
    row = repo.project(tx.conn, tx.platform_no, project_no)
    if row is None:
        raise BankError(codes.PROJECT_NOT_FOUND, f"no project {project_no}")
    return row


def _frozen_hold(tx: Tx, request_no: str, biz_type: str | None = None, project_no: str | None = None):
    row = repo.hold(tx.conn, tx.platform_no, request_no)
    if row is None:
        raise BankError(codes.HOLD_NOT_FOUND, f"no pre-transaction {request_no}")
    if biz_type and row["biz_type"] != biz_type:
        raise BankError(codes.HOLD_NOT_FOUND, f"{request_no} is a {row['biz_type']} hold, not {biz_type}")
    if project_no is not None and row["project_no"] != project_no:
        raise BankError(codes.HOLD_NOT_FOUND, f"{request_no} does not belong to project {project_no}")
    if row["state"] != "FROZEN":
        raise BankError(codes.HOLD_NOT_FROZEN, f"{request_no} is {row['state']}")
    return row


def create_project(tx: Tx, p: Payload) -> dict:
    user_no, project_no = p.text("userNo"), p.text("projectNo", max_len=64)
    amount = p.amount("projectAmount")
    period = p.integer("projectPeriod", default=None)
    if period is not None and period < 1:
        raise param_error("projectPeriod must be at least 1")
    rate = p.text("annualRate", default="")
    if rate:
        try:
            value = Decimal(rate)
            if not (value.is_finite() and value >= 0):
                raise InvalidOperation
        except InvalidOperation:
            raise param_error("annualRate must be a non-negative number") from None
    _may_borrow(tx, _user(tx, user_no))
    if repo.project(tx.conn, tx.platform_no, project_no):
        raise BankError(codes.PROJECT_EXISTS, f"project {project_no} already exists")
    tx.conn.execute(
        "INSERT INTO projects (platform_no, project_no, user_no, name, description, project_type, amount,"
        " period, annual_rate, repayment_way, status, request_no, created_at, modified_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tx.platform_no, project_no, user_no, p.text("projectName", default=""),
         p.text("projectDesc", default="", max_len=2000), p.text("projectType", default=""), amount,
         period, rate, p.text("repaymentWay", default=""), projects.COLLECTING, tx.request_no,
         tx.now_iso, tx.now_iso))
    tx.note(user_no=user_no, amount=amount)
    return {"projectNo": project_no, "projectStatus": projects.COLLECTING}


def modify_project(tx: Tx, p: Payload) -> dict:
    project_no, target = p.text("projectNo"), p.text("projectStatus").upper()
    row = _project(tx, project_no)
    problem = projects.transition_problem(
        row["status"], target, loaned=bool(row["loan_request_no"]),
        open_tenders=repo.open_holds_count(tx.conn, tx.platform_no, project_no))
    if problem:
        raise BankError(codes.PROJECT_STATUS, problem)
    tx.conn.execute("UPDATE projects SET status = ?, modified_at = ? WHERE platform_no = ? AND project_no = ?",
                    (target, tx.now_iso, tx.platform_no, project_no))
    tx.note(user_no=row["user_no"])
    return {"projectNo": project_no, "projectStatus": target}


def pre_transaction(tx: Tx, p: Payload) -> dict:
    user_no, biz_type = p.text("userNo"), p.text("bizType").upper()
    if biz_type not in svc.BIZ_TYPES:
        raise param_error(f"bizType must be one of {', '.join(sorted(svc.BIZ_TYPES))}")
    amount = p.amount("amount")
    project_no = p.text("projectNo")
    user = _user(tx, user_no)
    project = _project(tx, project_no)
    if biz_type == svc.BIZ_TENDER:
        _may_lend(tx, user)
        if not projects.accepts_tenders(project["status"]):
            raise BankError(codes.PROJECT_STATUS, f"project {project_no} is {project['status']}")
        if project["loan_request_no"]:
            raise BankError(codes.PROJECT_STATUS, f"project {project_no} was already loaned")
        left = project["amount"] - repo.tendered_total(tx.conn, tx.platform_no, project_no)
        if amount > left:
            raise BankError(codes.PROJECT_OVER_AMOUNT,
                            f"project {project_no} has {format_fen(left)} left, tender is {format_fen(amount)}")
    elif biz_type == svc.BIZ_REPAYMENT:
        if project["user_no"] != user_no:
            raise BankError(codes.ROLE_NOT_ALLOWED, f"{user_no} is not the borrower of {project_no}")
        _in_repayment(tx, project)
    else:
        _may_lend(tx, user)
        _in_repayment(tx, project)
    if user["available"] < amount:
        raise BankError(codes.BALANCE_NOT_ENOUGH,
                        f"available {format_fen(user['available'])}, needs {format_fen(amount)}")
    repo.insert_hold(tx.conn, platform_no=tx.platform_no, request_no=tx.request_no, user_no=user_no,
                     project_no=project_no, biz_type=biz_type, amount=amount, now=tx.now_iso)
    tx.post(tx.entry(biz_type).move(ledger.available(tx.platform_no, user_no),
                                    ledger.frozen(tx.platform_no, user_no), amount))
    tx.note(biz_type=biz_type, user_no=user_no, amount=amount, counterparty=project_no)
    return {"bizType": biz_type, "userNo": user_no, "projectNo": project_no, "amount": format_fen(amount)}


def cancel_pre_transaction(tx: Tx, p: Payload) -> dict:
    pre = p.text("preRequestNo")
    hold = _frozen_hold(tx, pre)
    pn, user_no, released = tx.platform_no, hold["user_no"], hold["remaining"]
    tx.post(tx.entry(hold["biz_type"]).move(ledger.frozen(pn, user_no), ledger.available(pn, user_no), released))
    repo.close_hold(tx.conn, pn, pre, "CANCELLED", tx.request_no, tx.now_iso)
    tx.note(biz_type=hold["biz_type"], user_no=user_no, amount=released, counterparty=pre)
    return {"preRequestNo": pre, "userNo": user_no, "amount": format_fen(released)}


def _mismatch(code: str, what: str, value: int, against: str, limit: int, rule: str) -> BankError:
    """A refusal that names the numbers: the sum, its value, what it was checked against, the difference
    and the rule, so a platform whose arithmetic is off can see where (issue 13)."""
    diff = value - limit
    sign = "+" if diff >= 0 else "-"
    return BankError(code, f"{what} {format_fen(value)} but {against} {format_fen(limit)}"
                           f" ({sign}{format_fen(abs(diff))}): {rule}")


def _unique(items: list[Payload], key: str) -> list[str]:
    values = [i.text(key) for i in items]
    if len(set(values)) != len(values):
        raise param_error(f"details[].{key} must not repeat")
    return values


def confirm_loan(tx: Tx, p: Payload) -> dict:
    pn, project_no = tx.platform_no, p.text("projectNo")
    commission = p.amount("commission", allow_zero=True, default=0)
    details = p.items("details")
    _unique(details, "preRequestNo")
    project = _project(tx, project_no)
    if project["loan_request_no"]:
        raise BankError(codes.PROJECT_STATUS, f"project {project_no} was already loaned")
    if project["status"] not in (projects.COLLECTING, projects.FULLY):
        raise BankError(codes.PROJECT_STATUS, f"project {project_no} is {project['status']}")
    borrower = project["user_no"]
    entry = tx.entry("LOAN")
    total = 0
    holds = []
    for d in details:
        hold = _frozen_hold(tx, d.text("preRequestNo"), svc.BIZ_TENDER, project_no)
        amount = d.amount("amount")
        if amount != hold["amount"]:
            raise _mismatch(codes.AMOUNT_MISMATCH, "detail amount", amount, f"hold {hold['request_no']} froze",
                            hold["amount"], "each detail's amount must equal its tender hold")
        entry.move(ledger.frozen(pn, hold["user_no"]), ledger.available(pn, borrower), amount)
        total += amount
        holds.append(hold)
    if commission > total:
        raise _mismatch(codes.AMOUNT_MISMATCH, "commission", commission, "the loan is", total,
                        "the commission is taken from the loan")
    entry.move(ledger.available(pn, borrower), ledger.fee(pn), commission)
    tx.post(entry)
    for hold in holds:
        repo.close_hold(tx.conn, pn, hold["request_no"], "SETTLED", tx.request_no, tx.now_iso)
        repo.add_claim(tx.conn, pn, project_no, hold["user_no"], hold["amount"])
    tx.conn.execute("UPDATE projects SET loan_request_no = ?, modified_at = ? WHERE platform_no = ? AND project_no = ?",
                    (tx.request_no, tx.now_iso, pn, project_no))
    tx.note(biz_type="LOAN", user_no=borrower, amount=total, commission=commission, counterparty=project_no)
    return {"projectNo": project_no, "amount": format_fen(total), "commission": format_fen(commission)}


def confirm_repayment(tx: Tx, p: Payload) -> dict:
    pn, project_no, pre = tx.platform_no, p.text("projectNo"), p.text("preRequestNo")
    commission = p.amount("commission", allow_zero=True, default=0)
    details = p.items("details")
    stated_total = p.amount("amount", default=None)
    hold = _frozen_hold(tx, pre, svc.BIZ_REPAYMENT, project_no)
    borrower = hold["user_no"]
    lines, fees = [], commission
    principal_by_user: dict[str, int] = {}
    for d in details:
        user_no = d.text("userNo")
        principal = d.amount("amount", allow_zero=True)
        interest = d.amount("interest", allow_zero=True, default=0)
        fee = d.amount("commission", allow_zero=True, default=0)
        if fee > principal + interest:
            raise _mismatch(codes.AMOUNT_MISMATCH, f"{user_no}: commission", fee, "amount+interest is",
                            principal + interest, "an investor's commission is taken from what it is paid")
        _user(tx, user_no)
        lines.append((user_no, principal + interest - fee))
        fees += fee
        principal_by_user[user_no] = principal_by_user.get(user_no, 0) + principal
    total = sum(paid for _, paid in lines) + fees
    froze = f"hold {pre} froze"
    if stated_total is not None and stated_total != hold["remaining"]:
        raise _mismatch(codes.AMOUNT_MISMATCH, "amount", stated_total, froze, hold["remaining"],
                        "amount must equal the hold")
    if total != hold["remaining"]:
        raise _mismatch(codes.AMOUNT_MISMATCH, "details add up to", total, froze, hold["remaining"],
                        "Σ(amount+interest)+commission must equal the hold")
    for user_no, principal in principal_by_user.items():
        held = repo.claim_principal(tx.conn, pn, project_no, user_no)
        if held == 0:
            raise BankError(codes.CLAIM_NOT_ENOUGH, f"{user_no} holds no claim on {project_no}")
        if principal > held:
            raise _mismatch(codes.CLAIM_NOT_ENOUGH, f"{user_no}: principal repaid", principal,
                            f"the claim left on {project_no} is", held,
                            "Σ amount of an investor must not exceed its claim left")
    entry = tx.entry(svc.BIZ_REPAYMENT)
    for user_no, paid in lines:
        entry.move(ledger.frozen(pn, borrower), ledger.available(pn, user_no), paid)
    entry.move(ledger.frozen(pn, borrower), ledger.fee(pn), fees)
    tx.post(entry)
    for user_no, principal in principal_by_user.items():
        repo.add_claim(tx.conn, pn, project_no, user_no, -principal)
    repo.close_hold(tx.conn, pn, pre, "SETTLED", tx.request_no, tx.now_iso)
    tx.note(biz_type=svc.BIZ_REPAYMENT, user_no=borrower, amount=total, commission=fees, counterparty=project_no)
    return {"projectNo": project_no, "preRequestNo": pre, "amount": format_fen(total), "commission": format_fen(fees)}


def confirm_credit_assignment(tx: Tx, p: Payload) -> dict:
    pn, project_no, pre = tx.platform_no, p.text("projectNo"), p.text("preRequestNo")
    seller = p.text("sellerUserNo")
    principal = p.amount("claimAmount")
    commission = p.amount("commission", allow_zero=True, default=0)
    stated = p.amount("amount", default=None)
    hold = _frozen_hold(tx, pre, svc.BIZ_CREDIT_ASSIGNMENT, project_no)
    buyer, price = hold["user_no"], hold["remaining"]
    if stated is not None and stated != price:
        raise BankError(codes.AMOUNT_MISMATCH, f"amount {format_fen(stated)} is not the hold's {format_fen(price)}")
    if seller == buyer:
        raise param_error("a claim cannot be sold to its owner")
    _may_lend(tx, _user(tx, seller))
    if commission > price:
        raise BankError(codes.AMOUNT_MISMATCH, "commission exceeds the price")
    held = repo.claim_principal(tx.conn, pn, project_no, seller)
    if principal > held:
        raise BankError(codes.CLAIM_NOT_ENOUGH, f"{seller} holds {format_fen(held)} of {project_no}")
    tx.post(tx.entry(svc.BIZ_CREDIT_ASSIGNMENT)
            .move(ledger.frozen(pn, buyer), ledger.available(pn, seller), price - commission)
            .move(ledger.frozen(pn, buyer), ledger.fee(pn), commission))
    repo.add_claim(tx.conn, pn, project_no, seller, -principal)
    repo.add_claim(tx.conn, pn, project_no, buyer, principal)
    repo.close_hold(tx.conn, pn, pre, "SETTLED", tx.request_no, tx.now_iso)
    tx.note(biz_type=svc.BIZ_CREDIT_ASSIGNMENT, user_no=buyer, counterparty=seller, amount=price,
            commission=commission)
    return {"projectNo": project_no, "preRequestNo": pre, "sellerUserNo": seller, "buyerUserNo": buyer,
            "claimAmount": format_fen(principal), "amount": format_fen(price), "commission": format_fen(commission)}


HANDLERS: dict[str, Handler] = {
    svc.CREATE_PROJECT: create_project,
    svc.MODIFY_PROJECT: modify_project,
    svc.USER_AUTO_PRE_TRANSACTION: pre_transaction,
    svc.CANCEL_PRE_TRANSACTION: cancel_pre_transaction,
    svc.CONFIRM_LOAN: confirm_loan,
    svc.CONFIRM_REPAYMENT: confirm_repayment,
    svc.CONFIRM_CREDIT_ASSIGNMENT: confirm_credit_assignment,
}
