"""``/sim/...``: the simulator's JSON control and inspection API (not signed).

Bank counter, clock, fault rules, notifications, inspection and ledger
verification. Views parse, call one function, serialise.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from ..clock import iso, parse_instant
from ..domain.errors import param_error
from ..notify import dispatcher as notify
from ..protocol import operator
from ..services import checkfile, counter, guard, inspect, verify
from .errors import error_json

bp = Blueprint("sim", __name__, url_prefix="/sim")


@bp.before_request
def _require_operator():
    """Every ``/sim`` route acts or discloses: only the operator credential opens it."""
    if not operator.matches(current_app.config["SIM_TOKEN"], request.headers.get(operator.HEADER_NAME)):
        return error_json("UNAUTHORIZED", "the simulator's control API needs the operator credential: send "
                          "'Authorization: Bearer <token>' (wanxin bank serve --sim-token, WANXIN_SIM_TOKEN, "
                          "or the <db>.sim-token file beside the bank's database)", 401)
    return None


def _ctx():
    return current_app.extensions["wanxin.bank"]


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise param_error("the request body must be a JSON object")
    return data


@bp.get("/health")
def health():
    return jsonify({"ok": True, "now": iso(_ctx().clock.now()), "platforms": sorted(_ctx().platforms)})


@bp.post("/bank-cards")
def register_card():
    return jsonify(counter.register_card(_ctx(), _body())), 201


@bp.post("/bank-cards/<card_number>/deposit")
def deposit(card_number: str):
    return jsonify(counter.deposit(_ctx(), card_number, _body()))


@bp.get("/accounts")
def accounts():
    return jsonify(inspect.accounts(_ctx().conn()))


@bp.get("/accounts/<user_no>")
def account(user_no: str):
    return jsonify(inspect.account(_ctx().conn(), user_no, request.args.get("platformNo") or None))


@bp.post("/users/<user_no>/unlock")
def unlock_user(user_no: str):
    """Lift a trade-password lock (``platformNo`` in the query or body when the userNo is on several platforms)."""
    data = request.get_json(silent=True)
    platform_no = request.args.get("platformNo") or (data.get("platformNo") if isinstance(data, dict) else "") or ""
    return jsonify(guard.unlock(_ctx(), user_no, str(platform_no)))


@bp.get("/holds")
def holds():
    a = request.args
    return jsonify(inspect.holds(_ctx().conn(), user_no=a.get("userNo", ""), project_no=a.get("projectNo", ""),
                                 state=a.get("state", "")))


@bp.get("/projects")
def projects():
    return jsonify(inspect.projects(_ctx().conn()))


@bp.get("/requests/<request_no>")
def request_detail(request_no: str):
    return jsonify(inspect.request(_ctx().conn(), request_no))


@bp.get("/entries")
def entries():
    limit = request.args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
        raise param_error("limit must be a whole number from 1 to 10000")
    return jsonify(inspect.entries(_ctx().conn(), int(limit)))


@bp.get("/ledger/verify")
def ledger_verify():
    problems = verify.verify(_ctx().conn())
    return jsonify({"sound": not problems, "problems": problems})


@bp.get("/clock")
def clock_show():
    return jsonify({"now": iso(_ctx().clock.now())})


@bp.post("/clock")
def clock_move():
    data, clock = _body(), _ctx().clock
    if "advance_seconds" in data:
        seconds = data["advance_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise param_error("advance_seconds must be a number")
        now = clock.advance(seconds)
    elif "set" in data:
        now = clock.set(parse_instant(data["set"]))
    else:
        raise param_error("give advance_seconds or set")
    return jsonify({"now": iso(now)})


@bp.get("/faults")
def faults_list():
    return jsonify({"rules": _ctx().faults.rules(), "log": _ctx().faults.log()})


@bp.post("/faults")
def faults_add():
    return jsonify(_ctx().faults.add(_body())), 201


@bp.delete("/faults")
def faults_clear():
    return jsonify({"cleared": _ctx().faults.clear()})


@bp.get("/notifications")
def notifications():
    return jsonify(inspect.notifications(_ctx().conn(), request.args.get("state", "")))


@bp.post("/notifications/<int:notification_id>/resend")
def notification_resend(notification_id: int):
    return jsonify(notify.resend(_ctx(), notification_id))


@bp.post("/notifications/dispatch")
def notifications_dispatch():
    made = current_app.extensions["wanxin.dispatcher"].run_until_idle()
    return jsonify({"attempts": [a.__dict__ for a in made]})


@bp.get("/checkfile")
def checkfile_text():
    day = checkfile.parse_day(request.args.get("date", ""))
    platform_no = request.args.get("platformNo") or next(iter(sorted(_ctx().platforms)), "")
    content = checkfile.render(_ctx().conn(), platform_no, day)[0]
    return Response(content, content_type="text/csv; charset=utf-8")
