"""``/console``: the operator's pages (server-rendered, no JavaScript, every asset served here).

Behind the operator credential: the login form takes the ``SIM_TOKEN`` and
sets a signed session cookie (HttpOnly, SameSite=Strict); a request that
carries ``Authorization: Bearer <token>`` is let in too (scripts, tests).
Every mutating form carries the session's CSRF token, checked before the view
runs. Views parse, call one service function and render; no SQL here.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Callable

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, session,
                   url_for)

from ..clock import ClockError, iso, parse_instant
from ..domain.errors import BankError
from ..faults import ACTIONS, REQUEST_ACTIONS, FaultRuleError
from ..notify import dispatcher as notify
from ..protocol import codes, operator, services as svc
from ..services import checkfile, inspect, overview

bp = Blueprint("console", __name__, url_prefix="/console")

SESSION_KEY = "operator"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
OPEN_ENDPOINTS = {"console.login"}
_NOT_FOUND = {codes.USER_NOT_FOUND, codes.PROJECT_NOT_FOUND, codes.TRANSACTION_NOT_FOUND}


def session_secret(token: str) -> str:
    """The Flask SECRET_KEY derived from the operator token: every worker process derives the same one."""
    return hmac.new(token.encode("utf-8"), b"wanxin console session v1", hashlib.sha256).hexdigest()


def _fingerprint() -> str:
    token = current_app.config["SIM_TOKEN"]
    return hmac.new(token.encode("utf-8"), b"wanxin console operator", hashlib.sha256).hexdigest()[:32]


def _ctx():
    return current_app.extensions["wanxin.bank"]


def csrf_token() -> str:
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(24)
    return session[CSRF_KEY]


def _signed_in() -> bool:
    return hmac.compare_digest(str(session.get(SESSION_KEY, "")), _fingerprint())


def _bearer() -> bool:
    return operator.matches(current_app.config["SIM_TOKEN"], request.headers.get(operator.HEADER_NAME))


@bp.before_request
def _guard():
    bearer = _bearer()
    if request.endpoint not in OPEN_ENDPOINTS and not bearer and not _signed_in():
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    if request.method == "POST" and not bearer:
        sent = request.form.get(CSRF_FIELD, "")
        if not sent or not hmac.compare_digest(sent.encode(), str(session.get(CSRF_KEY, "")).encode()):
            return render_template("console/error.html", title="请求已过期", code="CSRF",
                                   message="表单已过期或来源不明 (the form's CSRF token is missing or stale):"
                                           " reload the page and try again."), 400
    return None


@bp.app_context_processor
def _console_globals():
    return {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD}


def _render(template: str, **kw):
    ctx = _ctx()
    return render_template(template, now=iso(ctx.clock.now()), platforms=sorted(ctx.platforms), **kw)


def _error_page(status: int, code: str, message: str):
    return _render("console/error.html", title="出错了", code=code, message=message), status


@bp.errorhandler(BankError)
def _bank_error(exc: BankError):
    return _error_page(404 if exc.code in _NOT_FOUND else 400, exc.code, exc.message)


@bp.errorhandler(LookupError)
def _not_found(exc: LookupError):
    return _error_page(404, "404", str(exc).strip("'\""))


def _act(back: str, action: Callable[[], str]):
    """Run a mutating action; flash its outcome (or its refusal) and go back to ``back``."""
    try:
        flash(action(), "ok")
    except (BankError, FaultRuleError, ClockError, LookupError, ValueError) as exc:
        flash(getattr(exc, "message", None) or str(exc).strip("'\""), "error")
    return redirect(back, 303)


# -- signing in -------------------------------------------------------------------------------------
def _safe_next(target: str) -> str:
    return target if target.startswith("/console") and not target.startswith("//") else url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = _safe_next(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("console/login.html", next=nxt, error="")
    token = request.form.get("token", "").strip()
    expected = current_app.config["SIM_TOKEN"]
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        return render_template("console/login.html", next=nxt,
                               error="令牌不正确 (this is not the bank's operator token)"), 401
    session.clear()
    session[SESSION_KEY] = _fingerprint()
    session[CSRF_KEY] = secrets.token_urlsafe(24)
    return redirect(nxt, 303)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("console.login"), 303)


# -- pages ------------------------------------------------------------------------------------------
@bp.get("")
@bp.get("/")
def home():
    ctx = _ctx()
    conn = ctx.conn()
    return _render("console/overview.html", title="总览", summary=overview.summary(conn),
                   platform_rows=[ctx.platforms[p] for p in sorted(ctx.platforms)],
                   rules=ctx.faults.rules(), kinds=overview.KINDS)


@bp.get("/accounts")
def accounts():
    q = request.args.get("q", "")[:100]
    return _render("console/accounts.html", title="账户", q=q, users=overview.find_users(_ctx().conn(), q))


@bp.get("/accounts/<platform_no>/<user_no>")
def account(platform_no: str, user_no: str):
    conn = _ctx().conn()
    data = overview.account_postings(conn, platform_no, user_no)
    holds = inspect.holds(conn, user_no=user_no, platform_no=platform_no)
    return _render("console/account.html", title=f"账户 {user_no}", data=data, u=data["user"], holds=holds)


@bp.get("/projects")
def projects():
    return _render("console/projects.html", title="标的", projects=overview.projects(_ctx().conn()))


@bp.get("/projects/<platform_no>/<project_no>")
def project(platform_no: str, project_no: str):
    data = overview.project(_ctx().conn(), platform_no, project_no)
    return _render("console/project.html", title=f"标的 {project_no}", data=data, p=data["project"])


@bp.get("/requests")
def requests_log():
    a = request.args
    platform_no, q, outcome = a.get("platformNo", ""), a.get("q", "")[:100], a.get("outcome", "")
    rows = inspect.request_log(_ctx().conn(), platform_no=platform_no, query=q, outcome=outcome)
    return _render("console/requests.html", title="请求日志", rows=rows, q=q, outcome=outcome,
                   platform_no=platform_no)


@bp.get("/log")
def protocol_log():
    """Every call that reached the signed protocol, refused ones included, each refusal with its diagnosis."""
    a = request.args
    platform_no, outcome = a.get("platformNo", ""), a.get("outcome", "")
    if outcome not in ("", "accepted", "refused"):
        outcome = ""
    rows = inspect.protocol_log(_ctx().conn(), platform_no=platform_no, outcome=outcome)
    return _render("console/log.html", title="访问日志", rows=rows, outcome=outcome, platform_no=platform_no)


@bp.get("/requests/<platform_no>/<request_no>")
def request_detail(platform_no: str, request_no: str):
    rows = [r for r in inspect.request(_ctx().conn(), request_no) if r["platformNo"] == platform_no]
    if not rows:
        raise LookupError(f"no request {request_no} on {platform_no}")
    return _render("console/request.html", title=f"请求 {request_no}", r=rows[0])


@bp.get("/notifications")
def notifications():
    state = request.args.get("state", "")
    state = state if state in ("PENDING", "DELIVERED", "DEAD", "DROPPED") else ""
    return _render("console/notifications.html", title="通知", state=state,
                   rows=inspect.notifications(_ctx().conn(), state))


@bp.post("/notifications/<int:notification_id>/resend")
def notification_resend(notification_id: int):
    return _act(url_for("console.notifications"),
                lambda: f"通知 #{notify.resend(_ctx(), notification_id)['id']} 已重新排队 (queued again, due now)")


@bp.post("/notifications/dispatch")
def notifications_dispatch():
    def run() -> str:
        made = current_app.extensions["wanxin.dispatcher"].run_until_idle()
        ok = sum(1 for a in made if a.ok)
        return f"投递 {len(made)} 次, 成功 {ok} 次 ({len(made)} attempt(s), {ok} acknowledged)"
    return _act(url_for("console.notifications"), run)


_FAULT_INTS = ("nth", "times", "seed")
_FAULT_NUMBERS = ("seconds", "probability")
_FAULT_TEXT = ("action", "code", "service", "bizType", "userNo", "message")


def _fault_rule(form) -> dict:
    """The rule the form describes: empty fields left out, numbers parsed (the rule's own checks follow)."""
    rule: dict = {}
    for key in _FAULT_TEXT:
        if form.get(key, "").strip():
            rule[key] = form[key].strip()
    for key in _FAULT_INTS:
        text = form.get(key, "").strip()
        if text:
            try:
                rule[key] = int(text)
            except ValueError:
                raise FaultRuleError(f"{key} must be a whole number, not {text!r}") from None
    for key in _FAULT_NUMBERS:
        text = form.get(key, "").strip()
        if text:
            try:
                rule[key] = float(text) if "." in text or "e" in text.lower() else int(text)
            except ValueError:
                raise FaultRuleError(f"{key} must be a number, not {text!r}") from None
    return rule


@bp.get("/faults")
def faults():
    book = _ctx().faults
    return _render("console/faults.html", title="故障注入", rules=book.rules(), log=book.log(50),
                   actions=sorted(ACTIONS), request_actions=REQUEST_ACTIONS,
                   services=sorted(svc.GATEWAY_SERVICES | svc.DIRECT_SERVICES))


@bp.post("/faults")
def fault_add():
    return _act(url_for("console.faults"),
                lambda: f"已添加规则 #{_ctx().faults.add(_fault_rule(request.form))['id']} (rule added)")


@bp.post("/faults/<int:rule_id>/delete")
def fault_remove(rule_id: int):
    return _act(url_for("console.faults"),
                lambda: f"已删除规则 #{_ctx().faults.remove(rule_id)['removed']} (rule removed)")


@bp.get("/clock")
def clock():
    return _render("console/clock.html", title="时钟")


_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


@bp.post("/clock")
def clock_move():
    form = request.form

    def move() -> str:
        clock = _ctx().clock
        if form.get("set", "").strip():
            now = clock.set(parse_instant(form["set"].strip()))
        else:
            amount, unit = form.get("amount", "").strip(), form.get("unit", "days")
            if unit not in _UNITS or not amount.isdigit() or int(amount) < 1:
                raise ClockError("advance by a whole number (1 or more) of minutes, hours or days")
            now = clock.advance(int(amount) * _UNITS[unit])
        return f"银行时钟现在是 {iso(now)} (the bank's clock moved)"
    return _act(url_for("console.clock"), move)


def _platform_no(value: str) -> str:
    platforms = sorted(_ctx().platforms)
    if value and value not in platforms:
        raise LookupError(f"no platform {value}")
    return value or (platforms[0] if platforms else "")


@bp.get("/checkfiles")
def checkfiles():
    platform_no = _platform_no(request.args.get("platformNo", ""))
    return _render("console/checkfiles.html", title="对账文件", platform_no=platform_no,
                   days=overview.checkfile_days(_ctx().conn(), platform_no),
                   today=_ctx().clock.now().date().isoformat())


def _checkfile(platform_no: str, day_text: str) -> tuple[str, str, bool]:
    platform_no = _platform_no(platform_no)
    day = checkfile.parse_day(day_text)
    today = _ctx().clock.now().date()
    if day > today:
        raise BankError(codes.CHECKFILE_NOT_READY, f"{day} has not begun (bank date {today})")
    return platform_no, checkfile.render(_ctx().conn(), platform_no, day)[0], day < today


@bp.get("/checkfiles/<platform_no>/<day>")
def checkfile_view(platform_no: str, day: str):
    platform_no, content, closed = _checkfile(platform_no, day)
    return _render("console/checkfile.html", title=f"对账文件 {day}", platform_no=platform_no, day=day,
                   closed=closed, table=overview.csv_rows(content))


@bp.get("/checkfiles/<platform_no>/<day>.csv")
def checkfile_download(platform_no: str, day: str):
    platform_no, content, _ = _checkfile(platform_no, day)
    return Response(content, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{platform_no}-{day}.csv"'})
