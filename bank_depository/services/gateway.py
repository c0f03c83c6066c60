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
from urllib.parse import urlencode, urlsplit

from ..domain import identity, ledger
from ..domain.errors import BankError, param_error
from ..domain.fields import Payload, first_difference
from ..protocol import codes, envelope, legacy as legacy_wire, services as svc
from ..protocol.money import format_fen
from ..storage import db, ledger as ledger_sql, repo
from . import guard, outbox, pages
from .context import BankContext, Platform
from .pipeline import record_request, request_no_of
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


@dataclass
class Redirect:
    url: str
    code: int
    msg: str = ""


def callback_with(url: str, code: int, msg: str = "", *, legacy: bool = False) -> str:
    params = {"code": str(code)}
    if msg:
        params["msg"] = msg
    if legacy:  # the original always appends with '&', the message through java.net.URLEncoder
        return url + "".join(f"&{k}={legacy_wire.java_url_encode(v)}" for k, v in params.items())
    sep = "&" if urlsplit(url).query else "?"
    return url + sep + urlencode(params)


def _callback(p: Payload) -> str:
    url = p.text("callbackUrl", max_len=2000)
    if not urlsplit(url).scheme in ("http", "https"):
        raise param_error("callbackUrl must be an http(s) URL")
    return url


def _user_no(p: Payload) -> str:
    """The userNo to report a refusal under; a malformed one (the refusal itself) reports as ''."""
    try:
        return p.text("userNo", default="")
    except BankError:
        return ""


def _static_checks(conn, platform_no: str, service: str, p: Payload) -> dict:
    """Checks that need no password; returns what the page shows."""
    if service == svc.PERSONAL_REGISTER:
        user_no, card_number = p.text("userNo", max_len=64), p.text("cardNumber")
        fullname, id_number, mobile = p.text("fullname"), p.text("idNumber").upper(), p.text("mobile")
        role = p.text("role", default="").upper()
        for problem in (identity.id_number_problem(id_number), identity.mobile_problem(mobile)):
            if problem:
                raise param_error(problem)
        if role not in ("B", "I"):
            raise param_error("role must be B (borrower) or I (investor)")
        card = repo.card(conn, card_number)
        if card is None:
            raise BankError(codes.CARD_NOT_FOUND, f"card {identity.mask_card(card_number)} is not a card of this bank")
        if card["fullname"] != fullname or card["id_number"].upper() != id_number:
            raise BankError(codes.IDENTITY_MISMATCH, "name and ID number do not match the card's owner")
        bank_code = p.text("bankCode", default="")
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
    user_no = p.text("userNo")
    amount = p.amount("amount")
    user = repo.user(conn, platform_no, user_no)
    if user is None:
        raise BankError(codes.USER_NOT_FOUND, f"no depository account {user_no}")
    shown = {"userNo": user_no, "amount": format_fen(amount), "cardNumber": identity.mask_card(user["card_number"]),
             "bankName": user["bank_name"], "mobile": identity.mask_mobile(user["mobile"]), "_user": user,
             "_amount": amount}
    if service == svc.WITHDRAW:
        commission = p.amount("commission", allow_zero=True, default=0)
        if commission >= amount:
            raise param_error("commission must be less than the amount")
        shown.update(commission=format_fen(commission), _commission=commission)
    return shown


def _finish(ctx: BankContext, tx: Tx, payload_text: str, code: str, message: str, extra: dict) -> dict:
    status = codes.STATUS_SUCCESS if code == codes.SUCCESS else codes.STATUS_FAILURE
    note = outbox.notification_payload(tx.service, tx.request_no, code, message, status, extra)
    platform = ctx.platform(tx.platform_no)
    outbox.enqueue(tx, outbox.for_profile(platform.profile if platform else "", tx.service, note))
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
        page.error = exc.message
        return page
    p = Payload(payload)
    try:
        page.done_url = _callback(p)
    except BankError as exc:
        page.error = exc.message
        return page
    if service not in svc.GATEWAY_SERVICES:
        page.error = f"{codes.message(codes.UNKNOWN_SERVICE)}: {service}"
        return page
    conn = ctx.conn()
    with db.transaction(conn):
        stored = conn.execute("SELECT service_name, payload, status, resp_code, resp_data FROM requests"
                              " WHERE platform_no = ? AND request_no = ?",
                              (platform.platform_no, page.request_no)).fetchone()
        # Same payload means same service and same JSON values; spacing and key order do not count.
        where = None if stored is None else "serviceName" if stored["service_name"] != service else \
            None if stored["payload"] == request.payload_text else \
            first_difference(envelope.loads(stored["payload"]), payload)
        if where:
            page.error = f"{codes.message(codes.REQUEST_CONFLICT)}: {where}"
            page.done_url = ""
            return page
        if stored is not None and stored["status"] != codes.STATUS_PROCESSING:
            page.error = "该请求已处理 (this request was already processed)"
            page.done_url = _redirect_for(stored, page.done_url, platform).url
            return page
        tx = Tx(conn, platform.platform_no, page.request_no, service, ctx.clock.now(), ctx.password_iterations)
        try:
            shown = _static_checks(conn, platform.platform_no, service, p)
        except BankError as exc:
            note = _finish(ctx, tx, request.payload_text, exc.code, exc.message, {"userNo": _user_no(p)})
            page.error = exc.message
            page.done_url = callback_with(page.done_url, 1, note["respMsg"], legacy=platform.profile == "legacy")
            return page
        if stored is None:
            record_request(tx, payload_text=request.payload_text, status=codes.STATUS_PROCESSING,
                           resp_code="", resp_text=None)
    if service != svc.PERSONAL_REGISTER and guard.state(conn, platform.platform_no, shown["userNo"]).locked:
        # Still pending: once the operator unlocks, reopening the request gives a working page.
        page.error = guard.locked_message()
        page.done_url = callback_with(page.done_url, 2, page.error, legacy=platform.profile == "legacy")
        return page
    page.fields = {k: v for k, v in shown.items() if not k.startswith("_")}
    return page


def _redirect_for(stored, callback: str, platform: Platform) -> Redirect:
    code = 0 if stored["resp_code"] == codes.SUCCESS else 1
    msg = "" if code == 0 else envelope.loads(stored["resp_data"]).get("respMsg", "")
    return Redirect(callback_with(callback, code, msg, legacy=platform.profile == "legacy"), code, msg)


@dataclass(frozen=True)
class PagePass:
    """What binds a confirmation to its page: the form's ``pageToken`` and the page's cookie."""
    token: str = ""
    cookie: str = ""


def _stored(conn, platform_no: str, request_no: str):
    return conn.execute("SELECT service_name, payload, status, resp_code, resp_data FROM requests"
                        " WHERE platform_no = ? AND request_no = ?", (platform_no, request_no)).fetchone()


def check_page(ctx: BankContext, platform: Platform, request_no: str, page: PagePass) -> None:
    """Refuse (:class:`pages.PageRefused`, nothing changes) a confirmation not bound to its live page."""
    conn = ctx.conn()
    stored = _stored(conn, platform.platform_no, request_no)
    if stored is None or stored["service_name"] not in svc.GATEWAY_SERVICES:
        raise BankError(codes.TRANSACTION_NOT_FOUND, f"no gateway request {request_no}")
    pages.check(conn, platform.platform_no, request_no, page.token, page.cookie, ctx.clock.now(),
                final=stored["status"] != codes.STATUS_PROCESSING)


def confirm(ctx: BankContext, platform: Platform, request_no: str, form: dict,
            reject_code: str = "", page: PagePass = PagePass()) -> Redirect:
    """Execute a pending gateway request with what the user typed on the bank's page.

    The page binding is checked first; ``reject_code`` (an injected fault)
    refuses before anything changes. The slow password hash (checking the
    trade password, or hashing a new one) runs before the write lock is
    taken; inside the transaction the request, the page and the attempt
    counter are read again, so a concurrent confirmation cannot slip past.
    """
    legacy = platform.profile == "legacy"
    pn = platform.platform_no
    conn = ctx.conn()
    check_page(ctx, platform, request_no, page)
    stored = _stored(conn, pn, request_no)
    p = Payload(envelope.loads(stored["payload"]))
    callback = _callback(p)
    if stored["status"] != codes.STATUS_PROCESSING:
        return _redirect_for(stored, callback, platform)
    if reject_code:
        msg = codes.message(reject_code)
        return Redirect(callback_with(callback, 2, msg, legacy=legacy), 2, msg)
    service = stored["service_name"]
    password = str(form.get("password") or "")

    def retry(message: str) -> Redirect:
        return Redirect(callback_with(callback, 2, message, legacy=legacy), 2, message)

    # -- outside the write lock: the slow hash ---------------------------------------------------
    new_hash, verdict, seen_hash, user_no = "", False, None, ""
    if service == svc.PERSONAL_REGISTER:
        problem = identity.password_problem(password)
        if problem:
            return retry(codes.message(codes.PARAM_FAIL) + ": " + problem)
        if password != str(form.get("confirmPassword") or ""):
            return retry(codes.message(codes.PARAM_FAIL) + ": the two passwords differ")
        new_hash = identity.hash_password(password, ctx.password_iterations)
    else:
        user_no = _user_no(p)
        user = repo.user(conn, pn, user_no) if user_no else None
        if user is not None:
            if guard.state(conn, pn, user_no).locked:
                return retry(guard.locked_message())
            seen_hash = user["password_hash"]
            verdict = identity.check_password(password, seen_hash)

    # -- one transaction: re-check, then act -------------------------------------------------------
    with db.transaction(conn):
        stored = _stored(conn, pn, request_no)
        if stored["status"] != codes.STATUS_PROCESSING:  # finished by a concurrent confirmation
            return _redirect_for(stored, callback, platform)
        pages.check(conn, pn, request_no, page.token, page.cookie, ctx.clock.now())
        tx = Tx(conn, pn, request_no, service, ctx.clock.now(), ctx.password_iterations)
        try:
            with db.savepoint(conn, "gateway"):
                shown = _static_checks(conn, pn, service, p)
                if service != svc.PERSONAL_REGISTER:
                    if guard.state(conn, pn, user_no).locked:
                        raise _Locked(codes.PASSWORD_LOCKED)
                    if shown["_user"]["password_hash"] != seen_hash:
                        raise _InputError(codes.PASSWORD_WRONG, "the account changed meanwhile: try again")
                    if not verdict:
                        raise _WrongPassword(codes.PASSWORD_WRONG)
                extra = _execute(tx, service, p, shown, new_hash)
        except _Locked:
            return retry(guard.locked_message())
        except _WrongPassword:
            state = guard.record_failure(conn, pn, user_no, tx.now_iso, request_no)
            if state.locked:
                return retry(guard.locked_message())
            # Wire-profile difference: the legacy redirect keeps the original's bare message.
            return retry(codes.message(codes.PASSWORD_WRONG) if legacy else guard.wrong_message(state.failures))
        except _InputError as exc:
            return retry(exc.message)
        except BankError as exc:
            note = _finish(ctx, tx, stored["payload"], exc.code, exc.message, {"userNo": _user_no(p)})
            pages.mark_used(conn, pn, request_no, tx.now)
            return Redirect(callback_with(callback, 1, note["respMsg"], legacy=legacy), 1, note["respMsg"])
        if user_no:
            guard.reset(conn, pn, user_no)
        _finish(ctx, tx, stored["payload"], codes.SUCCESS, codes.message(codes.SUCCESS), extra)
        pages.mark_used(conn, pn, request_no, tx.now)
    return Redirect(callback_with(callback, 0, legacy=legacy), 0)


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
            " password_hash, available_id, frozen_id, request_no, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pn, user_no, shown["role"], card["customer_id"], card["card_number"], card["fullname"],
             card["id_number"], p.text("mobile"), password_hash,
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
