"""``/sim/...``: the simulator's JSON control and inspection API (not signed).

Bank counter, clock, fault rules, notifications, inspection and ledger
verification. Views parse, call one function, serialise.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from ..clock import ClockError, PersistentClock, iso, parse_instant
from ..domain.errors import param_error
from ..notify import dispatcher as notify
from ..protocol import gateway_user, operator, strictjson
from ..services import checkfile, counter, guard, inspect, platforms, reset, verify
from ..storage import request_log
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
    """The JSON object body; a malformed one is refused with the parser's reason (which names the field)."""
    try:
        data = strictjson.loads(request.get_data(), parse_float=float) if request.is_json else None
    except ValueError as exc:
        raise param_error(f"the request body is not acceptable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise param_error("the request body must be a JSON object")
    return data


@bp.get("/health")
def health():
    return jsonify({"ok": True, "now": iso(_ctx().clock.now()), "platforms": sorted(_ctx().refresh_platforms())})


@bp.post("/bank-cards")
def register_card():
    return jsonify(counter.register_card(_ctx(), _body())), 201


@bp.delete("/bank-cards/<card_number>")
def remove_card(card_number: str):
    return jsonify(counter.remove_card(_ctx(), card_number))


@bp.post("/bank-cards/<card_number>/deposit")
def deposit(card_number: str):
    return jsonify(counter.deposit(_ctx(), card_number, _body()))


@bp.get("/accounts")
def accounts():
    return jsonify(inspect.accounts(_ctx().conn(), request.args.get("platformNo", "")))


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
                                 state=a.get("state", ""), platform_no=a.get("platformNo", "")))


@bp.get("/projects")
def projects():
    return jsonify(inspect.projects(_ctx().conn(), request.args.get("platformNo", "")))


@bp.get("/requests/<request_no>")
def request_detail(request_no: str):
    return jsonify(inspect.request(_ctx().conn(), request_no, request.args.get("platformNo", "")))


@bp.get("/entries")
def entries():
    limit = request.args.get("limit", "100")
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 10_000:
        raise param_error("limit must be a whole number from 1 to 10000")
    return jsonify(inspect.entries(_ctx().conn(), int(limit)))


@bp.get("/ledger/verify")
def ledger_verify():
    problems = verify.verify(_ctx().conn())
    return jsonify({"sound": not problems, "problems": problems})


@bp.get("/clock")
def clock_show():
    clock = _ctx().clock
    return jsonify({"now": iso(clock.now()), "frozen": clock.frozen() if isinstance(clock, PersistentClock) else True})


def _persistent() -> PersistentClock:
    clock = _ctx().clock
    if not isinstance(clock, PersistentClock):
        raise ClockError("this bank runs on an in-memory test clock: it is always frozen")
    return clock


@bp.post("/clock/freeze")
def clock_freeze():
    clock = _persistent()
    now = clock.now() if clock.frozen() else clock.freeze()
    return jsonify({"now": iso(now), "frozen": True})


@bp.post("/clock/unfreeze")
def clock_unfreeze():
    return jsonify({"now": iso(_persistent().unfreeze()), "frozen": False})


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


@bp.delete("/faults/<int:rule_id>")
def faults_remove(rule_id: int):
    return jsonify(_ctx().faults.remove(rule_id))


@bp.get("/platforms")
def platforms_list():
    return jsonify(platforms.listing(_ctx()))


@bp.post("/platforms")
def platforms_add():
    view, created = platforms.register(_ctx(), _body())
    return jsonify(view), 201 if created else 200


@bp.post("/reset")
def reset_sandbox():
    data = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(data, dict):
        raise param_error("the request body must be a JSON object: {} or {\"platformNo\": NO}")
    return jsonify(reset.reset(_ctx(), data))


@bp.get("/requests")
def requests_log():
    a = request.args
    status = a.get("status", "")
    if status not in ("", "accepted", "refused"):
        raise param_error("status must be accepted or refused")
    since = iso(parse_instant(a["since"])) if a.get("since") else ""
    numbers = {}
    for name, default, high in (("after", "0", 2**62), ("limit", "200", 10_000)):
        text = a.get(name, default)
        if not text.isdigit() or not (0 if name == "after" else 1) <= int(text) <= high:
            raise param_error(f"{name} must be a whole number up to {high}")
        numbers[name] = int(text)
    return jsonify(request_log.query(_ctx().conn(), platform_no=a.get("platformNo", ""), outcome=status,
                                     since=since, after_id=numbers["after"], request_no=a.get("requestNo", ""),
                                     limit=numbers["limit"]))


@bp.get("/notifications")
def notifications():
    return jsonify(inspect.notifications(_ctx().conn(), request.args.get("state", ""),
                                         platform_no=request.args.get("platformNo", "")))


@bp.post("/notifications/<int(max=9223372036854775807):notification_id>/resend")
def notification_resend(notification_id: int):
    return jsonify(notify.resend(_ctx(), notification_id))


@bp.post("/notifications/<int(max=9223372036854775807):notification_id>/due")
def notification_due(notification_id: int):
    return jsonify(notify.make_due(_ctx(), notification_id))


@bp.post("/notifications/dispatch")
def notifications_dispatch():
    made = current_app.extensions["wanxin.dispatcher"].run_until_idle()
    return jsonify({"attempts": [a.__dict__ for a in made]})


@bp.get("/checkfile")
def checkfile_text():
    day = checkfile.parse_day(request.args.get("date", ""))
    platform_no = request.args.get("platformNo") or next(iter(sorted(_ctx().refresh_platforms())), "")
    content = checkfile.render(_ctx().conn(), platform_no, day)[0]
    return Response(content, content_type="text/csv; charset=utf-8")


@bp.post("/gateway/complete")
def gateway_complete():
    """The headless end user, in process: the same code path as ``wanxin gateway complete``, against this app."""
    data = _body()
    password, confirm, outcome = data.get("password"), data.get("confirmPassword"), data.get("outcome", "success")
    if not isinstance(password, str) or not password:
        raise param_error("password is required (text)")
    if confirm is not None and not isinstance(confirm, str):
        raise param_error("confirmPassword must be text")
    if outcome not in gateway_user.OUTCOMES:
        raise param_error(f"outcome must be one of {', '.join(gateway_user.OUTCOMES)}")
    try:
        url, fields = gateway_user.parse_request(data, "http://localhost")
        result = gateway_user.complete(gateway_user.FlaskBrowser(current_app.test_client()), url, fields,
                                       password, confirm, outcome)
    except gateway_user.GatewayError as exc:
        return error_json("GATEWAY_PAGE", exc.message or "the gateway page refused the request", 400)
    return jsonify(result)
