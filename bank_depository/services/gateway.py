"""The bank-hosted gateway flows: PERSONAL_REGISTER, RECHARGE, WITHDRAW.

A signed request opens a page (``open_page``); the user confirms there with the
trade password (``confirm``); the bank executes, records the final result,
writes the notification into the outbox in the same transaction, and tells the
view where to redirect. Invariants guarded: a request executes at most once
(a second form post only repeats the stored redirect); a wrong trade password
changes nothing; every final outcome, success or refusal, is notified.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from ..domain import identity, ledger
from ..domain.errors import BankError, param_error
from ..domain.fields import Payload
from ..protocol import catalogue, codes, envelope, services as svc
from ..protocol import profiles
from ..protocol.profiles import RolePolicy
from ..protocol.money import format_fen
from ..storage import db, ledger as ledger_sql, repo, requests as requests_sql
from . import guard, outbox, pages
from .context import BankContext, Platform
from .pipeline import differing_field, record_request, request_no_of
from .tx import Tx


@dataclass
class Page:
    """What the gateway page shows (``error`` set: a page without a form)."""
    service: str
    platform_no: str
    request_no: str = ""
    fields: dict = field(default_factory=dict)
    error: str = ""
    done_url: str = ""  # where "return to the platform" leads
    attempts_left: Optional[int] = None  # wrong trade passwords still allowed (None: none typed yet / unknown)
    code: str = ""      # the protocol code of ``error`` (for the request log)


CANCELLED = "用户取消"


@dataclass
class Redirect:
    url: str
    code: int
    msg: str = ""
    resp_code: str = codes.SUCCESS  # the protocol code behind ``code`` (for the request log)


def _callback(p: Payload) -> str:
    # Read before the service is known to be a gateway one (its page must still lead back): by the declaration.
    url = p.text("callbackUrl", max_len=catalogue.CALLBACK.max_len)
    if urlsplit(url).scheme not in ("http", "https"):
        raise param_error("callbackUrl must be an http(s) URL")
    return url


def _user_no(p: Payload) -> str:
    """The userNo to report a refusal under; a malformed one (the refusal itself) reports as ''."""
    try:
        return p.text("userNo", default="")
    except BankError:
        return ""


def _static_checks(conn, platform_no: str, service: str, p: Payload, roles: RolePolicy) -> dict:
    """Checks that need no password; returns what the page shows (the role as ``roles`` records it)."""
    if service == svc.PERSONAL_REGISTER:
        user_no, card_number = p.get("userNo"), p.get("cardNumber")
        fullname, id_number, mobile = p.get("fullname"), p.get("idNumber").upper(), p.get("mobile")
        role = p.get("role").upper()
        for problem in (identity.id_number_problem(id_number), identity.mobile_problem(mobile)):
            if problem:
                raise param_error(problem)
        try:
            role = roles.recorded_role(role)
        except ValueError as exc:
            raise param_error(str(exc)) from None
        card = repo.card(conn, card_number)
        if card is None:
            raise BankError(codes.CARD_NOT_FOUND, f"card {identity.mask_card(card_number)} is not a card of this bank")
        if card["fullname"] != fullname or card["id_number"].upper() != id_number:
            raise BankError(codes.IDENTITY_MISMATCH, "name and ID number do not match the card's owner")
        bank_code = p.get("bankCode", "")
        if bank_code and bank_code != card["bank_code"]:
            raise BankError(codes.CARD_INFO_MISMATCH, f"card belongs to {card['bank_code']}, not {bank_code}")
        if repo.user(conn, platform_no, user_no):
            raise BankError(codes.USER_EXISTS, f"{user_no} already has a depository account")
        if repo.user_by_card(conn, card_number):
            raise BankError(codes.CARD_ALREADY_BOUND, "the card is already bound to a depository account")
        if repo.user_by_id_number(conn, platform_no, id_number):
            raise BankError(codes.USER_EXISTS, "this person already has a depository account here")
        return {"userNo": user_no, "fullname": fullname, "idNumber": id_number[:3] + "*" * 11 + id_number[-4:],
                "role": role, "cardNumber": identity.mask_card(card_number), "bankName": card["bank_name"],
                "bankCode": card["bank_code"], "mobile": identity.mask_mobile(mobile), "_card": card}
    user_no = p.get("userNo")
    amount = p.get("amount")
    user = repo.user(conn, platform_no, user_no)
    if user is None:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no}")
    shown = {"userNo": user_no, "amount": format_fen(amount), "cardNumber": identity.mask_card(user["card_number"]),
             "bankName": user["bank_name"], "mobile": identity.mask_mobile(user["mobile"]), "_user": user,
             "_amount": amount}
    if service == svc.WITHDRAW:
        commission = p.get("commission", 0)
        if commission >= amount:
            raise param_error("commission must be less than the amount")
        # What the page shows before the user confirms: the balance it comes from, what reaches the card.
        shown.update(commission=format_fen(commission), _commission=commission,
                     available=format_fen(user["available"]), arrival=format_fen(amount - commission))
    return shown


def _finish(ctx: BankContext, tx: Tx, payload_text: str, code: str, message: str, extra: dict) -> dict:
    status = codes.STATUS_SUCCESS if code == codes.SUCCESS else codes.STATUS_FAILURE
    note = outbox.notification_payload(tx.service, tx.request_no, code, message, status, extra)
    platform = ctx.platform(tx.platform_no)
    wire = platform.profile if platform else profiles.MODERN
    payload = wire.notification_payload(tx.service, note)
    outbox.enqueue(tx, payload, wire.json_text(payload))
    if code != codes.SUCCESS:
        tx.record.clear()
    record_request(tx, payload_text=payload_text, status=status, resp_code=code, resp_text=envelope.dumps(note))
    return note


def open_page(ctx: BankContext, request: envelope.SignedRequest, platform: Platform) -> Page:
    service = request.service_name
    page = Page(service, platform.platform_no)
    payload = request.payload()
    try:
        page.request_no = request_no_of(payload)
    except BankError as exc:
        page.error, page.code = exc.message, exc.code
        return page
    p = Payload(payload, fields=catalogue.request_fields(service))
    try:
        page.done_url = _callback(p)
    except BankError as exc:
        page.error, page.code = exc.message, exc.code
        return page
    if service not in svc.GATEWAY_SERVICES:
        page.error, page.code = f"{codes.message(codes.UNKNOWN_SERVICE)}: {service}", codes.UNKNOWN_SERVICE
        return page
    conn = ctx.conn()
    with db.transaction(conn):
        stored = requests_sql.get(conn, platform.platform_no, page.request_no)
        # Same payload means same service and same JSON values; spacing and key order do not count.
        where = None if stored is None else \
            differing_field(stored.service_name, stored.payload, service, request, payload)
        if where:
            page.error, page.code = f"{codes.message(codes.REQUEST_CONFLICT)}: {where}", codes.REQUEST_CONFLICT
            page.done_url = ""
            return page
        if stored is not None and stored.status != codes.STATUS_PROCESSING:
            page.error, page.code = "该请求已处理 (this request was already processed)", stored.resp_code
            page.done_url = _redirect_for(stored, page.done_url, platform).url
            return page
        tx = Tx(conn, platform.platform_no, page.request_no, service, ctx.clock.now(), ctx.password_iterations,
                platform.profile)
        try:
            shown = _static_checks(conn, platform.platform_no, service, p, platform.profile.roles)
        except BankError as exc:
            note = _finish(ctx, tx, request.payload_text, exc.code, exc.message, {"userNo": _user_no(p)})
            page.error, page.code = exc.message, exc.code
            page.done_url = platform.profile.callback_url(page.done_url, 1, note["respMsg"])
            return page
        if stored is None:
            record_request(tx, payload_text=request.payload_text, status=codes.STATUS_PROCESSING,
                           resp_code="", resp_text=None)
    watch = guard.state(conn, platform.platform_no, shown["userNo"]) if service != svc.PERSONAL_REGISTER else None
    if watch is not None and watch.locked:
        # Still pending: once the operator unlocks, reopening the request gives a working page.
        page.error, page.code = guard.locked_message(), codes.PASSWORD_LOCKED
        page.done_url = platform.profile.callback_url(page.done_url, 2, page.error)
        return page
    page.fields = {k: v for k, v in shown.items() if not k.startswith("_")}
    if watch is not None and watch.failures:
        page.attempts_left = max(guard.MAX_FAILURES - watch.failures, 0)
    return page


def cancel(ctx: BankContext, platform: Platform, request_no: str) -> Redirect:
    """The user leaves the bank's page without confirming: back to the platform with code 2, nothing
    changed (the request stays open, so the same page may still be confirmed). A request already
    final repeats its stored redirect."""
    stored = requests_sql.get(ctx.conn(), platform.platform_no, request_no)
    if stored is None or stored.service_name not in svc.GATEWAY_SERVICES:
        raise BankError(codes.TRANSACTION_NOT_FOUND, f"no gateway request {request_no}")
    callback = _callback(Payload(envelope.loads(stored.payload), fields=catalogue.request_fields(stored.service_name)))
    if stored.status != codes.STATUS_PROCESSING:
        return _redirect_for(stored, callback, platform)
    return Redirect(platform.profile.callback_url(callback, 2, CANCELLED), 2, CANCELLED)


def _redirect_for(stored, callback: str, platform: Platform) -> Redirect:
    code = 0 if stored.resp_code == codes.SUCCESS else 1
    msg = "" if code == 0 else envelope.loads(stored.resp_data).get("respMsg", "")
    return Redirect(platform.profile.callback_url(callback, code, msg), code, msg, stored.resp_code)


@dataclass(frozen=True)
class PagePass:
    """What binds a confirmation to its page: the form's ``pageToken`` and the page's cookie."""
    token: str = ""
    cookie: str = ""


def check_page(ctx: BankContext, platform: Platform, request_no: str, page: PagePass) -> None:
    """Refuse (:class:`pages.PageRefused`, nothing changes) a confirmation not bound to its live page."""
    conn = ctx.conn()
    stored = requests_sql.get(conn, platform.platform_no, request_no)
    if stored is None or stored.service_name not in svc.GATEWAY_SERVICES:
        raise BankError(codes.TRANSACTION_NOT_FOUND, f"no gateway request {request_no}")
    pages.check(conn, platform.platform_no, request_no, page.token, page.cookie, ctx.clock.now(),
                final=stored.status != codes.STATUS_PROCESSING)


def confirm(ctx: BankContext, platform: Platform, request_no: str, form: dict,
            reject_code: str = "", page: PagePass = PagePass()) -> Redirect:
    """Execute a pending gateway request with what the user typed on the bank's page.

    The page binding is checked first; ``reject_code`` (an injected fault)
    refuses before anything changes. The slow password hash (checking the
    trade password, or hashing a new one) runs before the write lock is
    taken; inside the transaction the request, the page and the attempt
    counter are read again, so a concurrent confirmation cannot slip past.
    """
    callback_with = platform.profile.callback_url
    pn = platform.platform_no
    conn = ctx.conn()
    check_page(ctx, platform, request_no, page)
    stored = requests_sql.get(conn, pn, request_no)
    assert stored is not None  # check_page refuses an unknown request
    service = stored.service_name
    p = Payload(envelope.stored_payload(stored.payload), fields=catalogue.request_fields(service))
    callback = _callback(p)
    if stored.status != codes.STATUS_PROCESSING:
        return _redirect_for(stored, callback, platform)
    if reject_code:
        msg = codes.message(reject_code)
        return Redirect(callback_with(callback, 2, msg), 2, msg, reject_code)
    password = str(form.get("password") or "")

    def retry(message: str, code: str) -> Redirect:
        return Redirect(callback_with(callback, 2, message), 2, message, code)

    # -- outside the write lock: the slow hash ---------------------------------------------------
    new_hash, verdict, seen_hash, user_no = "", False, None, ""
    if service == svc.PERSONAL_REGISTER:
        problem = identity.password_problem(password)
        if problem:
            return retry(codes.message(codes.PARAM_FAIL) + ": " + problem, codes.PARAM_FAIL)
        if password != str(form.get("confirmPassword") or ""):
            return retry(codes.message(codes.PARAM_FAIL) + ": the two passwords differ", codes.PARAM_FAIL)
        new_hash = identity.hash_password(password, ctx.password_iterations)
    else:
        user_no = _user_no(p)
        user = repo.user(conn, pn, user_no) if user_no else None
        if user is not None:
            if guard.state(conn, pn, user_no).locked:
                return retry(guard.locked_message(), codes.PASSWORD_LOCKED)
            seen_hash = user["password_hash"]
            verdict = identity.check_password(password, seen_hash)

    # -- one transaction: re-check, then act -------------------------------------------------------
    with db.transaction(conn):
        current = requests_sql.get(conn, pn, request_no)
        assert current is not None
        if current.status != codes.STATUS_PROCESSING:  # finished by a concurrent confirmation
            return _redirect_for(current, callback, platform)
        pages.check(conn, pn, request_no, page.token, page.cookie, ctx.clock.now())
        tx = Tx(conn, pn, request_no, service, ctx.clock.now(), ctx.password_iterations, platform.profile)
        try:
            with db.savepoint(conn, "gateway"):
                shown = _static_checks(conn, pn, service, p, platform.profile.roles)
                if service != svc.PERSONAL_REGISTER:
                    if guard.state(conn, pn, user_no).locked:
                        raise _Locked(codes.PASSWORD_LOCKED)
                    if shown["_user"]["password_hash"] != seen_hash:
                        raise _InputError(codes.PASSWORD_WRONG, "the account changed meanwhile: try again")
                    if not verdict:
                        raise _WrongPassword(codes.PASSWORD_WRONG)
                extra = _execute(tx, service, p, shown, new_hash)
        except _Locked:
            return retry(guard.locked_message(), codes.PASSWORD_LOCKED)
        except _WrongPassword:
            state = guard.record_failure(conn, pn, user_no, tx.now_iso, request_no)
            if state.locked:
                return retry(guard.locked_message(), codes.PASSWORD_LOCKED)
            message = guard.wrong_message(state.failures) if platform.profile.tells_attempts_left \
                else codes.message(codes.PASSWORD_WRONG)
            return retry(message, codes.PASSWORD_WRONG)
        except _InputError as exc:
            return retry(exc.message, exc.code)
        except BankError as exc:
            note = _finish(ctx, tx, current.payload, exc.code, exc.message, {"userNo": _user_no(p)})
            pages.mark_used(conn, pn, request_no, tx.now)
            return Redirect(callback_with(callback, 1, note["respMsg"]), 1, note["respMsg"], exc.code)
        if user_no:
            guard.reset(conn, pn, user_no)
        _finish(ctx, tx, current.payload, codes.SUCCESS, codes.message(codes.SUCCESS), extra)
        pages.mark_used(conn, pn, request_no, tx.now)
    return Redirect(callback_with(callback, 0), 0)


class _InputError(BankError):
    """What the user typed is wrong: nothing is final, the user may try again."""


class _WrongPassword(_InputError):
    """A wrong trade password: counted, and the fifth locks."""


class _Locked(_InputError):
    """The trade password is locked: not even checked."""


def _execute(tx: Tx, service: str, p: Payload, shown: dict, password_hash: str) -> dict:
    """Act on a request whose password has been dealt with (a new hash, or the trade password verified)."""
    pn = tx.platform_no
    if service == svc.PERSONAL_REGISTER:
        card = shown["_card"]
        user_no = shown["userNo"]
        available_id = ledger_sql.ensure_account(tx.conn, ledger.available(pn, user_no), "available", user_no)
        frozen_id = ledger_sql.ensure_account(tx.conn, ledger.frozen(pn, user_no), "frozen", user_no)
        ledger_sql.ensure_account(tx.conn, ledger.fee(pn), "fee", pn)
        tx.conn.execute(
            "INSERT INTO users (platform_no, user_no, role, customer_id, card_number, fullname, id_number, mobile,"
            " password_hash, available_id, frozen_id, request_no, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pn, user_no, shown["role"], card["customer_id"], card["card_number"], card["fullname"],
             card["id_number"], p.get("mobile"), password_hash,
             available_id, frozen_id, tx.request_no, tx.now_iso))
        tx.note(user_no=user_no)
        return {"userNo": user_no, "bankCode": card["bank_code"], "bankName": card["bank_name"]}
    user = shown["_user"]
    user_no, amount = user["user_no"], shown["_amount"]
    if service == svc.RECHARGE:
        tx.post(tx.entry().move(ledger.card(user["card_number"]), ledger.available(pn, user_no), amount))
        tx.note(user_no=user_no, amount=amount)
        return {"userNo": user_no, "amount": amount}
    commission = shown["_commission"]
    if user["available"] < amount:
        raise BankError(codes.BALANCE_NOT_ENOUGH,
                        f"available {format_fen(user['available'])}, needs {format_fen(amount)}")
    tx.post(tx.entry().move(ledger.available(pn, user_no), ledger.card(user["card_number"]), amount - commission)
            .move(ledger.available(pn, user_no), ledger.fee(pn), commission))
    tx.note(user_no=user_no, amount=amount, commission=commission)
    return {"userNo": user_no, "amount": amount, "commission": format_fen(commission)}
