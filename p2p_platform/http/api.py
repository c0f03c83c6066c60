"""The platform's JSON API. Views parse, make one service call, serialise."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, jsonify, request

from bank_depository.protocol import operator, strictjson

from ..clock import parse
from ..domain.errors import PlatformError, bad
from ..services import agent, claims, consumer, daily, lending, projects, reconcile, recovery, repayment, tunables

bp = Blueprint("api", __name__)

#: What stays open without the operator credential: the bank's signed notifications and the
#: browser's way back from the bank's pages.
OPEN_ENDPOINTS = frozenset({"api.notify", "api.notify_legacy", "api.callback"})


@bp.before_request
def _require_operator():
    """The platform's API acts and discloses personal data: only the operator credential opens it."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not operator.matches(current_app.config["SIM_TOKEN"], request.headers.get(operator.HEADER_NAME)):
        return jsonify({"error": {"code": "UNAUTHORIZED", "message": "the platform's API needs the operator"
                                  " credential: send 'Authorization: Bearer <token>' (wanxin platform serve"
                                  " --sim-token, WANXIN_SIM_TOKEN, or the <db>.sim-token file beside its"
                                  " database)"}}), 401
    return None


def _ctx():
    return current_app.extensions["wanxin.platform"]


def _body() -> dict:
    """The JSON object body ({} when there is none); a malformed one is refused with the parser's reason."""
    raw = request.get_data()
    if not raw:
        return {}
    try:
        data = strictjson.loads(raw, parse_float=float) if request.is_json else None
    except ValueError as exc:
        raise bad(f"the request body is not acceptable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad("the request body must be a JSON object")
    return data


@bp.post("/api/users")
def register_user():
    return jsonify(consumer.register(_ctx(), _body())), 201


@bp.get("/api/users")
def list_users():
    return jsonify(consumer.users_view(_ctx()))


@bp.get("/api/users/<user_no>")
def show_user(user_no: str):
    return jsonify(consumer.user_view(_ctx(), user_no))


@bp.delete("/api/users/<user_no>")
def delete_user(user_no: str):
    return jsonify(consumer.delete_user(_ctx(), user_no))


@bp.post("/api/users/<user_no>/open-account")
def open_account(user_no: str):
    return jsonify(consumer.open_account(_ctx(), user_no).as_dict())


@bp.post("/api/users/<user_no>/recharges")
def recharge(user_no: str):
    return jsonify(consumer.recharge(_ctx(), user_no, _body().get("amount")).as_dict())


@bp.post("/api/users/<user_no>/withdrawals")
def withdraw(user_no: str):
    return jsonify(consumer.withdraw(_ctx(), user_no, _body().get("amount")).as_dict())


@bp.post("/api/projects")
def create_project():
    return jsonify(projects.create_project(_ctx(), _body())), 201


@bp.get("/api/projects")
def list_projects():
    return jsonify(projects.projects_view(_ctx()))


@bp.get("/api/projects/<project_no>")
def show_project(project_no: str):
    return jsonify(projects.project_view(_ctx(), project_no, detail=True))


@bp.post("/api/projects/<project_no>/approve")
def approve_project(project_no: str):
    return jsonify(projects.approve_project(_ctx(), project_no))


@bp.post("/api/projects/<project_no>/reject")
def reject_project(project_no: str):
    return jsonify(projects.miscarry(_ctx(), project_no))


@bp.post("/api/projects/<project_no>/tenders")
def tender(project_no: str):
    data = _body()
    return jsonify(projects.tender(_ctx(), project_no, str(data.get("userNo", "")), data.get("amount"))), 201


@bp.post("/api/projects/<project_no>/loan")
def approve_loan(project_no: str):
    return jsonify(lending.approve_loan(_ctx(), project_no, _body().get("commission")))


@bp.post("/api/claims")
def list_claim():
    return jsonify(claims.list_claim(_ctx(), _body())), 201


@bp.get("/api/claims")
def claims_list():
    return jsonify(claims.claims_view(_ctx()))


@bp.get("/api/claims/<claim_no>")
def claim_show(claim_no: str):
    return jsonify(claims.claim_view(_ctx(), claim_no))


@bp.post("/api/claims/<claim_no>/buy")
def claim_buy(claim_no: str):
    data = _body()
    confirm_now = data.get("confirm", True)
    if not isinstance(confirm_now, bool):
        raise bad("confirm must be true or false")
    return jsonify(claims.buy(_ctx(), claim_no, str(data.get("userNo", "")), confirm_now))


@bp.post("/api/claims/<claim_no>/confirm")
def claim_confirm(claim_no: str):
    return jsonify(claims.confirm(_ctx(), claim_no))


@bp.post("/api/claims/<claim_no>/cancel")
def claim_cancel(claim_no: str):
    return jsonify(claims.cancel(_ctx(), claim_no))


@bp.get("/api/records")
def records():
    status = request.args.get("status")
    if status is not None and status not in ("0", "1", "2"):
        raise bad("status is 0 (unsynced), 1 (synced) or 2 (failed)")
    return jsonify(agent.records_view(_ctx(), int(status) if status is not None else None))


@bp.post("/api/jobs/repayments")
def run_repayments():
    return jsonify(repayment.run_repayments(_ctx()))


@bp.post("/api/jobs/recover")
def run_recover():
    return jsonify(recovery.recover(_ctx()))


@bp.post("/api/jobs/daily")
def run_daily():
    return jsonify(daily.daily(_ctx()))


@bp.post("/api/reconciliations")
def run_reconciliation():
    data = _body()
    ctx = _ctx()
    day = _date(data.get("date")) if data.get("date") else ctx.clock.today()
    auto, balances = data.get("autoResolve", True), data.get("checkBalances", True)
    if not isinstance(auto, bool) or not isinstance(balances, bool):
        raise bad("autoResolve and checkBalances must be true or false")
    return jsonify(reconcile.reconcile(ctx, day, auto_resolve=auto, check_balances=balances))


@bp.get("/api/reconciliations/<day>")
def show_reconciliation(day: str):
    report = reconcile.stored(_ctx(), _date(day))
    if report is None:
        raise PlatformError("NOT_FOUND", f"no reconciliation stored for {day}", 404)
    return jsonify(report)


def _date(text) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise bad(f"{text!r} is not a date (YYYY-MM-DD)") from None


@bp.route("/notify", methods=["GET", "POST"])
def notify():
    """The bank's asynchronous notifications: answer the plain body OK once applied."""
    return _notify_answer(consumer.receive_notification(_ctx(), request.values))


def _notify_answer(body: str):
    """``OK`` once applied, or ``REJECTED <code>: <why>``: plain text, HTTP 200 either way (a malformed
    notification included); the bank retries anything that is not ``OK``."""
    return body, 200, {"Content-Type": "text/plain"}


@bp.get("/notify/gateway/")
def notify_legacy():
    """The same, as a legacy-profile bank sends them: ``GET {notifyUrl}gateway/?serviceName=…`` with
    ``notifyUrl`` = ``{PUBLIC_URL}/notify/`` (the original appends ``gateway/`` to it)."""
    return _notify_answer(consumer.receive_notification(_ctx(), request.args))


@bp.get("/callback")
def callback():
    """Where the bank's page sends the browser back (the result itself comes by notification)."""
    a = request.args
    return jsonify({"st": a.get("st"), "code": a.get("code"), "msg": a.get("msg", "")})


@bp.get("/sim/clock")
def clock_show():
    return jsonify({"now": _ctx().clock.now().isoformat(timespec="microseconds")})


@bp.post("/sim/clock")
def clock_move():
    data, clock = _body(), _ctx().clock
    if "advance_seconds" in data:
        seconds = data["advance_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise bad("advance_seconds must be a number")
        now = clock.advance(seconds)
    elif "set" in data:
        now = clock.set(parse(data["set"]))
    else:
        raise bad("give advance_seconds or set")
    return jsonify({"now": now.isoformat(timespec="microseconds")})


@bp.get("/sim/config")
def config_show():
    return jsonify(tunables.show(_ctx()))


@bp.post("/sim/config")
def config_change():
    return jsonify(tunables.update(_ctx(), _body()))


def install_errors(app) -> None:
    from flask.json.provider import DefaultJSONProvider
    from werkzeug.exceptions import HTTPException

    from ..clock import ClockError

    class StrictJSON(DefaultJSONProvider):
        """Request bodies through :func:`strictjson.loads`: a malformed one is a 400, never a 500."""

        def loads(self, s, **kwargs):
            return strictjson.loads(s, parse_float=float)

    app.json = StrictJSON(app)

    @app.errorhandler(PlatformError)
    def _platform(exc: PlatformError):
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status

    @app.errorhandler(ClockError)
    def _clock(exc: ClockError):
        return jsonify({"error": {"code": "INVALID", "message": str(exc)}}), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return jsonify({"error": {"code": str(exc.code), "message": exc.description or exc.name}}), exc.code or 500

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unexpected error")  # the details go to the log, never to the client
        return jsonify({"error": {"code": "INTERNAL", "message": "an internal error, logged by the platform"}}), 500
