"""A JSON Schema of the scenario format, generated from :data:`scenarios.spec.STEPS` (``wanxin scenario schema``).

An editor with a YAML language server checks a file against it while it is written; the schema
covers shapes (keys, types, enumerations), and ``wanxin scenario validate`` still checks what a
schema cannot (actors and projects named before use, saved names, amounts' decimals).
"""
from __future__ import annotations

from typing import Any

from . import spec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE = {"type": "string", "pattern": r"^\$\{[^{}]+\}$"}  # a whole-string ${x}: any type when it runs
AMOUNT = {"type": "string", "description": "yuan as text, e.g. \"6000.00\" (a YAML number is refused)"}
TEXT = {"type": "string"}
COUNT = {"anyOf": [{"type": "integer", "minimum": 0}, TEMPLATE]}

#: The shape of a key wherever a step uses it (keys not listed take any value).
KEYS: dict[str, Any] = {
    "user": TEXT, "borrower": TEXT, "project": TEXT, "name": TEXT, "claim": TEXT, "password": TEXT,
    "amount": AMOUNT, "commission": AMOUNT, "price": AMOUNT,
    "periods": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 360}, TEMPLATE]},
    "method": TEXT, "annual_rate": {"type": ["string", "number"]}, "fee_rate": {"type": ["string", "number"]},
    "period": {"type": "integer", "minimum": 1}, "status": TEXT, "confirm": {"type": "boolean"},
    "delivered": COUNT, "pending": COUNT, "dead": COUNT, "dropped": COUNT,
    "step": {"$ref": "#/$defs/step"}, "code": {"type": ["string", "integer"]},
    "url": TEXT, "json": {}, "form": {"type": "object"}, "params": {"type": "object"}, "headers": {"type": "object"},
    "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": spec.MAX_WAIT_S},
    "request_no": TEXT, "request": {"type": ["string", "object"]}, "confirm_password": TEXT,
    "expect_code": {"type": ["string", "integer"]}, "date": TEXT, "auto_resolve": {"type": "boolean"},
    "breaks": {"type": "array", "items": {"type": "object", "required": ["kind"], "additionalProperties": False,
                                          "properties": {"kind": {"enum": list(spec.BREAK_KINDS)},
                                                         "user": TEXT}}},
}
#: Keys whose values are an enumeration in one step.
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("create_project", "method"): spec.METHODS, ("expect_request", "status"): spec.REQUEST_STATUSES,
    ("gateway", "outcome"): spec.GATEWAY_OUTCOMES, ("expect_plan", "status"): spec.PLAN_STATUSES,
    ("expect_notifications", "service"): spec.NOTIFIED_SERVICES,
    ("wait_for_notification", "service"): spec.NOTIFIED_SERVICES,
}


def _properties(d: spec.StepDef) -> dict:
    props = {}
    for key in sorted(d.keys):
        props[key] = {"enum": list(ENUMS[(d.name, key)])} if (d.name, key) in ENUMS else KEYS.get(key, {})
    if d.name == "http":
        props["method"] = {"type": "string", "pattern": "^(?i:" + "|".join(spec.HTTP_METHODS) + ")$"}
        props["expect"] = {"type": "object", "additionalProperties": False, "properties": {
            "status": {"anyOf": [{"type": "integer", "minimum": 100, "maximum": 599}, TEMPLATE]},
            "json": {}, "body_contains": TEXT}}
        props["save"] = {"type": "object", "additionalProperties": TEXT}
    if d.name == "gateway":
        props["save"] = {"type": "object", "additionalProperties": {"enum": list(spec.GATEWAY_SAVES)}}
    return props


def _argument(d: spec.StepDef) -> Any:
    if d.kind in ("actor", "project"):
        return TEXT
    if d.kind == "int":
        return COUNT
    if d.kind == "any_map":
        if d.name == "expect_balance":
            balance = {"type": "object", "minProperties": 1, "additionalProperties": False,
                       "properties": {k: AMOUNT for k in sorted(spec.BALANCE_KEYS)}}
            return {"type": "object", "additionalProperties": balance}
        if d.name == "expect_project":
            return {"type": "object", "additionalProperties": {"enum": list(spec.PROJECT_STATUSES)}}
        return {"type": "object"}
    mapping = {"type": "object", "additionalProperties": False, "properties": _properties(d),
               "required": sorted(d.required)}
    return {"anyOf": [{"type": "boolean"}, mapping]} if d.kind == "bool_or_map" else mapping


def _step(d: spec.StepDef) -> dict:
    if d.kind == "none":
        return {"anyOf": [{"const": d.name},
                          {"type": "object", "required": [d.name], "additionalProperties": False,
                           "properties": {d.name: {"type": "null"}}}]}
    return {"type": "object", "required": [d.name], "additionalProperties": False,
            "properties": {d.name: _argument(d)}}


def schema() -> dict:
    actor = {"type": "object", "required": ["role"], "additionalProperties": False, "properties": {
        "role": {"enum": list(spec.ROLES)}, "card_balance": AMOUNT,
        "count": {"type": "integer", "minimum": 1, "maximum": spec.MAX_GROUP}, "password": TEXT}}
    config = {"type": "object", "additionalProperties": False,
              "properties": {k: AMOUNT if kind == "amount" else {"type": ["string", "number"]}
                             for k, kind in sorted(spec.CONFIG_KEYS.items())}}
    return {
        "$schema": DRAFT,
        "$id": "https://wanxin-sandbox.invalid/scenario.schema.json",
        "title": "wanxin scenario",
        "type": "object",
        "required": ["name", "steps"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1}, "description": TEXT, "seed": {"type": "integer"},
            "profile": {"enum": list(spec.PROFILES)}, "platform": {"enum": list(spec.PLATFORMS)},
            "platform_no": {"type": "string", "minLength": 1}, "vars": {"type": "object"},
            "start": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].+)?$",
                      "description": "where the clocks stand when the run begins: a date (09:00 China time)"
                                     " or an ISO date-time"},
            "config": config, "actors": {"type": "object", "additionalProperties": actor},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {"step": {"anyOf": [_step(d) for d in spec.STEPS.values()]}},
    }
