"""The ``/sim`` routes as data: what ``/openapi.json`` publishes about the simulator's REST API.

One :class:`Route` per URL rule and method of the ``sim`` blueprint. A test
(``tests/bank/test_openapi.py``) fails when a registered ``/sim`` rule is
missing here, so a new route must be described to land: add a ``Route`` with
its query parameters, JSON body schema and answer. Path parameters are read
from the path (``{user_no}``); an ``int`` converter is declared in
``INTEGER_PARAMS``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..faults import ACTIONS
from ..protocol import services as svc
from ..protocol.catalogue import CARD_NUMBER_PATTERN, DATE_PATTERN, ID_NUMBER_PATTERN, MOBILE_PATTERN
from ..protocol.money import YUAN_PATTERN
from ..services.counter import BANKS

YUAN = {"type": "string", "pattern": YUAN_PATTERN, "examples": ["100.00"]}
OBJECT = {"type": "object"}
INTEGER_PARAMS = {"notification_id"}


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    response: dict = field(default_factory=lambda: OBJECT)
    status: int = 200
    body: dict | None = None
    body_example: dict | None = None
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (400,)
    content_type: str = "application/json"


CARD_BODY = {
    "type": "object", "required": ["fullname", "idNumber", "mobile", "cardNumber"],
    "properties": {
        "fullname": {"type": "string", "maxLength": 256, "examples": ["张三"]},
        "idNumber": {"type": "string", "pattern": ID_NUMBER_PATTERN, "description": "GB 11643 check character"},
        "mobile": {"type": "string", "pattern": MOBILE_PATTERN},
        "cardNumber": {"type": "string", "pattern": CARD_NUMBER_PATTERN},
        "bankCode": {"type": "string", "enum": sorted(BANKS), "default": "ICBC"},
        "balance": {**YUAN, "description": "Opening balance of the card (yuan, 0.00 allowed)"},
    },
}
CARD = {"type": "object", "properties": {k: {"type": "string"} for k in
                                         ("cardNumber", "bankCode", "bankName", "fullname", "balance")}}
FAULT_RULE: dict[str, Any] = {
    "type": "object", "required": ["action"], "additionalProperties": False,
    "properties": {
        "action": {"type": "string", "enum": sorted(ACTIONS)},
        "code": {"type": "string", "pattern": "^[0-9]+$", "description": "reject: the respCode to answer"},
        "message": {"type": "string"},
        "seconds": {"type": "number", "exclusiveMinimum": 0, "description": "delay / delay_notification"},
        "service": {"type": "string", "description": "match this serviceName only"},
        "bizType": {"type": "string", "enum": sorted(svc.BIZ_TYPES)},
        "userNo": {"type": "string"},
        "platformNo": {"type": "string", "description": "match this platform's requests only"},
        "nth": {"type": "integer", "minimum": 1, "description": "fire from the nth matching call on"},
        "times": {"type": "integer", "minimum": -1, "description": "how many times (-1 always; default 1)"},
        "probability": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "seed": {"type": "integer"},
    },
}
PLATFORM_NO_QUERY = Param("platformNo", {"type": "string"}, "only this platform's rows")
PLATFORM = {"type": "object", "properties": {
    "platformNo": {"type": "string"}, "name": {"type": "string"},
    "profile": {"type": "string", "enum": ["modern", "legacy"]},
    "algorithm": {"type": "string", "enum": ["SHA256withRSA", "SHA1withRSA"]}, "notifyUrl": {"type": "string"}}}
PLATFORM_BODY = {
    "type": "object", "required": ["platformNo", "publicKey"], "additionalProperties": False,
    "properties": {
        "platformNo": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "publicKey": {"type": "string", "description": "RSA public key: PEM, PKCS#1 or bare Base64 DER"},
        "notifyUrl": {"type": "string", "description": "http(s) URL the bank POSTs notifications to"},
        "profile": {"type": "string", "enum": ["modern", "legacy"], "default": "modern"},
        "algorithm": {"type": "string", "enum": ["SHA256withRSA", "SHA1withRSA"]},
        "name": {"type": "string"},
    },
}
CLOCK = {"type": "object", "properties": {"now": {"type": "string"}, "frozen": {"type": "boolean"}}}
COMPLETE_BODY = {
    "type": "object", "required": ["serviceName", "platformNo", "reqData", "signature", "password"],
    "properties": {
        "serviceName": {"type": "string", "enum": sorted(svc.GATEWAY_SERVICES)},
        "platformNo": {"type": "string"},
        "reqData": {"type": "string", "description": "Base64 of the JSON payload, as the platform signed it"},
        "signature": {"type": "string"},
        "password": {"type": "string", "description": "The trade password the user types"},
        "confirmPassword": {"type": "string", "description": "PERSONAL_REGISTER: the confirmation (default: password)"},
        "outcome": {"type": "string", "enum": ["success", "wrong_password", "cancel"], "default": "success"},
    },
}
COMPLETE = {"type": "object", "required": ["code", "msg", "location"], "properties": {
    "code": {"type": "integer", "enum": [0, 1, 2]}, "msg": {"type": "string"},
    "location": {"type": "string", "description": "The callbackUrl the browser is sent to"}}}

ROUTES: tuple[Route, ...] = (
    Route("get", "/sim/health", "Liveness, the bank clock and the registered platforms.",
          {"type": "object", "properties": {"ok": {"type": "boolean"}, "now": {"type": "string"},
                                            "platforms": {"type": "array", "items": {"type": "string"}}}},
          errors=()),
    Route("post", "/sim/bank-cards", "Bank counter: register a bank customer and a card with an opening balance.",
          CARD, 201, CARD_BODY, {"fullname": "张三", "idNumber": "110105199003070017", "mobile": "13800000001",
                                 "cardNumber": "6222020000000001", "bankCode": "ICBC", "balance": "10000.00"},
          errors=(400, 409)),
    Route("delete", "/sim/bank-cards/{card_number}", "Bank counter: remove a card no depository account is bound"
          " to, with its counter entries (the ledger stays sound) and a customer left without cards; 409 when"
          " an account is bound to it.",
          {"type": "object", "properties": {"cardNumber": {"type": "string"}, "removed": {"type": "object"}}},
          errors=(404, 409)),
    Route("post", "/sim/bank-cards/{card_number}/deposit", "Bank counter: cash in onto a card.",
          {"type": "object", "properties": {"cardNumber": {"type": "string"}, "amount": YUAN, "balance": YUAN}},
          body={"type": "object", "required": ["amount"], "properties": {"amount": YUAN}},
          body_example={"amount": "500.00"}, errors=(400, 404)),
    Route("get", "/sim/accounts", "Every depository account with balances, and the platforms' fee accounts.",
          {"type": "object", "properties": {"users": {"type": "array"}, "platformAccounts": {"type": "array"}}},
          query=(PLATFORM_NO_QUERY,), errors=()),
    Route("get", "/sim/accounts/{user_no}", "One account: balances, holds, recent postings.",
          query=(Param("platformNo", {"type": "string"}, "when two platforms use the same userNo"),),
          errors=(404,)),
    Route("post", "/sim/users/{user_no}/unlock", "Lift a trade-password lockout (after 5 wrong attempts) and reset "
          "the count of wrong attempts.",
          {"type": "object", "properties": {"platformNo": {"type": "string"}, "userNo": {"type": "string"},
                                            "wasLocked": {"type": "boolean"}, "failures": {"type": "integer"}}},
          body={"type": "object", "properties": {"platformNo": {"type": "string"}}},
          query=(Param("platformNo", {"type": "string"}, "when two platforms use the same userNo"),),
          errors=(400, 404)),
    Route("get", "/sim/holds", "Holds (pre-transactions), filtered.", {"type": "array"},
          query=(Param("userNo", {"type": "string"}), Param("projectNo", {"type": "string"}),
                 Param("state", {"type": "string", "enum": ["FROZEN", "SETTLED", "CANCELLED"]}), PLATFORM_NO_QUERY),
          errors=()),
    Route("get", "/sim/projects", "Projects with their tendered totals.", {"type": "array"},
          query=(PLATFORM_NO_QUERY,), errors=()),
    Route("get", "/sim/requests", "The request log: every request that reached the bank, accepted or refused, "
          "with its respCode, duration, the fault rule that fired and, for a refused signature, a diagnosis.",
          {"type": "array"},
          query=(PLATFORM_NO_QUERY, Param("status", {"type": "string", "enum": ["accepted", "refused"]}),
                 Param("since", {"type": "string", "format": "date-time"}),
                 Param("requestNo", {"type": "string"}),
                 Param("after", {"type": "string", "pattern": "^[0-9]+$"}, "only rows after this log id"),
                 Param("limit", {"type": "string", "pattern": "^[0-9]+$", "default": "200"}, "1 to 10000"))),
    Route("get", "/sim/requests/{request_no}", "Every request row with that requestNo (payload and respData).",
          {"type": "array"}, query=(PLATFORM_NO_QUERY,), errors=(404,)),
    Route("get", "/sim/entries", "The latest ledger entries with their postings.", {"type": "array"},
          query=(Param("limit", {"type": "string", "pattern": "^[0-9]+$", "default": "100"}, "1 to 10000"),)),
    Route("get", "/sim/ledger/verify", "Check every ledger invariant.",
          {"type": "object", "properties": {"sound": {"type": "boolean"}, "problems": {"type": "array"}}},
          errors=()),
    Route("get", "/sim/clock", "The bank's simulated time.",
          {"type": "object", "properties": {"now": {"type": "string"}}}, errors=()),
    Route("post", "/sim/clock", "Move the bank clock: advance_seconds (forward only) or set (an ISO instant).",
          {"type": "object", "properties": {"now": {"type": "string"}}},
          body={"type": "object", "properties": {"advance_seconds": {"type": "number", "minimum": 0},
                                                 "set": {"type": "string", "format": "date-time"}}},
          body_example={"advance_seconds": 86400}),
    Route("post", "/sim/clock/freeze", "Stop the bank clock where it stands (it then moves only when told).",
          CLOCK, errors=()),
    Route("post", "/sim/clock/unfreeze", "Let the bank clock run again from where it stands.", CLOCK, errors=()),
    Route("get", "/sim/faults", "Fault rules with their counters, and the log of what fired.",
          {"type": "object", "properties": {"rules": {"type": "array"}, "log": {"type": "array"}}}, errors=()),
    Route("post", "/sim/faults", "Add a fault rule.", FAULT_RULE, 201, FAULT_RULE,
          {"action": "lose_response", "service": "CONFIRM_LOAN"}),
    Route("delete", "/sim/faults", "Remove every fault rule.",
          {"type": "object", "properties": {"cleared": {"type": "integer"}}}, errors=()),
    Route("delete", "/sim/faults/{rule_id}", "Remove one fault rule (its past firings stay in the log).",
          errors=(404,)),
    Route("get", "/sim/platforms", "The registered platforms.", {"type": "array", "items": PLATFORM}, errors=()),
    Route("post", "/sim/platforms", "Register (201) or update (200) a platform at run time; every worker sees it.",
          PLATFORM, 201, PLATFORM_BODY, None, errors=(400,)),
    Route("post", "/sim/reset", "Remove one platform's (platformNo) or every platform's users, cards, projects, "
          "requests, notifications, fault rules and check-file rows; a full reset also puts the clock back.",
          body={"type": "object", "additionalProperties": False,
                "properties": {"platformNo": {"type": "string"}}},
          body_example={"platformNo": "wanxinp2p"}),
    Route("get", "/sim/notifications", "The notification outbox with each delivery attempt.", {"type": "array"},
          query=(Param("state", {"type": "string", "enum": ["PENDING", "DELIVERED", "DEAD", "DROPPED"]}),
                 PLATFORM_NO_QUERY),
          errors=()),
    Route("post", "/sim/notifications/{notification_id}/resend", "Queue a notification again, due now.",
          errors=(404,)),
    Route("post", "/sim/notifications/{notification_id}/due", "Make a PENDING notification's next attempt due "
          "now; its retry ladder goes on where it was and the clock does not move.",
          {"type": "object", "properties": {"id": {"type": "integer"}, "state": {"type": "string"},
                                            "nextAttemptAt": {"type": "string"}}}, errors=(400, 404)),
    Route("post", "/sim/notifications/dispatch", "Deliver every due notification now.",
          {"type": "object", "properties": {"attempts": {"type": "array"}}}, errors=()),
    Route("get", "/sim/checkfile", "A platform's check file for a date (CSV, without the signed trailer).",
          {"type": "string"}, query=(Param("date", {"type": "string", "pattern": DATE_PATTERN}),
                                     Param("platformNo", {"type": "string"})),
          content_type="text/csv"),
    Route("post", "/sim/gateway/complete", "A headless end user: open the gateway page of a signed request, "
          "fill its form as rendered (password, confirmation), submit, and answer where the browser is sent.",
          COMPLETE, 200, COMPLETE_BODY, None, errors=(400,)),
)
