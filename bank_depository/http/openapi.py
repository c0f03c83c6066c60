"""``/openapi.json`` and ``/docs``: the bank's API described once, generated from its own tables.

The signed protocol comes from :mod:`bank_depository.protocol.catalogue` (the
fields the handlers read, with the kinds they read them as), the code table
from :mod:`bank_depository.protocol.codes`, the check-file layout from
:mod:`bank_depository.protocol.checkfile`, the simulator's REST API from
:mod:`bank_depository.http.sim_api`. Nothing here is typed twice.
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache

from flask import Blueprint, jsonify, render_template

from ..protocol import catalogue, codes, envelope, services as svc, signing
from ..protocol.catalogue import Field, Service
from ..protocol.money import YUAN_PATTERN
from . import sim_api

bp = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
CODE_TABLE = [{"code": c.code, "name": c.name, "message": c.message} for c in codes.BY_CODE.values()]


def field_schema(f: Field) -> dict:
    """The JSON Schema of one catalogue field."""
    if f.kind == "amount":
        schema: dict = {"type": "string", "pattern": f.pattern or YUAN_PATTERN,
                        "description": (f.description + " " if f.description else "")
                        + "Yuan with at most two decimals, as text (`\"100.00\"`)"
                        + ("; `0.00` allowed." if f.allow_zero else "; greater than 0."),
                        "examples": ["100.00"]}
        return schema
    if f.kind == "integer":
        schema = {"type": "integer"}
        if f.enum:
            schema["enum"] = [int(v) for v in f.enum]
    elif f.kind == "items":
        schema = {"type": "array", "minItems": 1, "items": object_schema(f.items)}
    elif f.kind == "object":
        schema = {"type": "object"}
    elif f.kind == "list":
        schema = {"type": "array"}
    else:
        schema = {"type": "string"}
        if f.max_len != catalogue.DEFAULT_MAX_LEN or f.kind == "text":
            schema["maxLength"] = f.max_len
        if f.pattern:
            schema["pattern"] = f.pattern
        if f.enum and f.open_enum:
            schema["examples"] = list(f.enum)
            schema["description"] = (f.description + " " if f.description else "") + \
                "Known values: " + ", ".join(f.enum) + " (others are stored as given)."
            return schema
        if f.enum:
            schema["enum"] = list(f.enum)
    if f.description:
        schema["description"] = f.description
    return schema


def object_schema(fields: tuple[Field, ...], *, extra_open: bool = True) -> dict:
    schema: dict = {"type": "object", "properties": {f.name: field_schema(f) for f in fields}}
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    if extra_open:
        schema["description"] = "Keys match case-insensitively; unknown keys are ignored."
    return schema


def _examples_of(service: str) -> list[dict]:
    return [payload for name, payload in catalogue.STORY if name == service]


def _service_schemas(s: Service) -> dict:
    schema = object_schema(s.request)
    schema["properties"] = {**schema.get("properties", {}), **_binding(s.name)}
    out = {f"{s.name}.reqData": {**schema, "title": f"{s.name} reqData", "examples": _examples_of(s.name)}}
    if s.kind == "direct":
        out[f"{s.name}.respData"] = {**object_schema(catalogue.COMMON_RESPONSE + s.response, extra_open=False),
                                     "title": f"{s.name} respData"}
    else:
        fields = catalogue.COMMON_NOTIFICATION + s.notification
        out[f"{s.name}.notification"] = {**object_schema(fields, extra_open=False),
                                         "title": f"{s.name} notification payload"}
    return out


BINDING = ("The modern profile binds a signature to its service and platform: the signed reqData JSON must "
           "carry `serviceName` and `platformNo` equal to the envelope's (missing: 00003; different: 00004), so a "
           "signed request cannot be replayed under another serviceName or platformNo. The legacy profile keeps "
           "the original's scheme (the signature covers reqData alone) and ignores both fields.")


def _binding(service: str) -> dict:
    """The two fields that bind a modern signature to its envelope (required by the modern profile)."""
    return {"serviceName": {"type": "string", "const": service, "description": BINDING},
            "platformNo": {"type": "string", "description": "The envelope's platformNo (see serviceName)."}}


def _envelope(services: list[str], kind: str) -> dict:
    reqdata = {"oneOf": [{"$ref": f"#/components/schemas/{n}.reqData"} for n in services]}
    return {
        "type": "object", "required": ["serviceName", "platformNo", "reqData", "signature"],
        "properties": {
            "serviceName": {"type": "string", "enum": services},
            "platformNo": {"type": "string", "description": "The registered platform, e.g. `wanxinp2p`."},
            "reqData": {"type": "string", "contentEncoding": "base64", "contentMediaType": "application/json",
                        "contentSchema": reqdata,
                        "description": "Standard Base64 (padded) of the UTF-8 JSON payload of the service."},
            "signature": {"type": "string", "contentEncoding": "base64",
                          "description": "Base64 of RSASSA-PKCS1-v1_5 over the decoded JSON bytes (not the Base64 "
                                         f"text), with the platform's hash: {signing.SHA256} (default) or "
                                         f"{signing.SHA1}."},
        },
        "description": f"The signed envelope of a {kind} request.",
    }


def _envelope_params() -> list[dict]:
    return [{"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
            for n in ("serviceName", "platformNo", "reqData", "signature")]


def _protocol_paths(direct: list[str], gateway: list[str]) -> dict:
    signed = {"description": "Signed JSON answer (also for a refused envelope: `00003`/`00004`/`00007`).",
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignedResponse"}}}}
    form_direct = {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": {"$ref": "#/components/schemas/DirectEnvelope"}}}}
    form_gateway = {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": {"$ref": "#/components/schemas/GatewayEnvelope"}}}}
    html = {"content": {"text/html": {"schema": {"type": "string"}}}}
    page = {"200": {"description": "The bank's page with form `#confirm` (and `#cancel`).", **html},
            "400": {"description": "A page with `#error` instead of a form.", **html}}
    redirect = {"302": {"description": "To callbackUrl with `code` (see `x-callback-codes`) and `msg`.",
                        "headers": {"Location": {"schema": {"type": "string"}}}},
                "400": {"description": "Unknown platform or request: an error page.", **html}}
    checkfile = {"200": {"description": "The check file's bytes then the signed trailer line "
                                        f"`{catalogue.CHECKFILE_TRAILER}`.",
                         "content": {"text/csv": {"schema": {"type": "string"}}}}, "default": signed}
    confirm_form = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["platformNo", "requestNo"],
        "description": "Submit every input of the rendered form (hidden ones included) with the cookies of the page.",
        "properties": {"platformNo": {"type": "string"}, "requestNo": {"type": "string"},
                       "serviceName": {"type": "string"}, "userNo": {"type": "string"},
                       "password": {"type": "string"}, "confirmPassword": {"type": "string"}}}}}}
    return {
        "/service": {
            "summary": "Direct (server-to-server) services",
            "get": {"operationId": "serviceGet", "tags": ["protocol"], "parameters": _envelope_params(),
                    "responses": {"200": signed}},
            "post": {"operationId": "servicePost", "tags": ["protocol"], "requestBody": form_direct,
                     "responses": {"200": signed}},
        },
        "/gateway": {
            "summary": "Gateway (browser) services: the bank's page",
            "get": {"operationId": "gatewayGet", "tags": ["protocol"], "parameters": _envelope_params(),
                    "responses": page},
            "post": {"operationId": "gatewayPost", "tags": ["protocol"], "requestBody": form_gateway,
                     "responses": page},
        },
        "/gateway/confirm": {"post": {"operationId": "gatewayConfirm", "tags": ["protocol"],
                                      "summary": "The user confirms with the trade password.",
                                      "requestBody": confirm_form, "responses": redirect}},
        "/gateway/cancel": {"post": {"operationId": "gatewayCancel", "tags": ["protocol"],
                                     "summary": "The user leaves without confirming: redirect with code 2, "
                                                "nothing changes, no notification.",
                                     "requestBody": confirm_form, "responses": redirect}},
        "/checkfile": {
            "get": {"operationId": "checkfileGet", "tags": ["protocol"], "parameters": _envelope_params(),
                    "summary": "DOWNLOAD_CHECKFILE streamed", "responses": checkfile},
            "post": {"operationId": "checkfilePost", "tags": ["protocol"], "requestBody": form_direct,
                     "summary": "DOWNLOAD_CHECKFILE streamed", "responses": checkfile},
        },
        "/openapi.json": {"get": {"operationId": "openapi", "tags": ["docs"], "summary": "This document.",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {}}}}}},
        "/docs": {"get": {"operationId": "docs", "tags": ["docs"], "summary": "This document as a page.",
                          "responses": {"200": {"description": "HTML", **html}}}},
    }


def _operation_id(route: sim_api.Route) -> str:
    words = re.findall(r"[a-zA-Z]+", route.path.replace("/sim/", ""))
    return "sim" + route.method.capitalize() + "".join(w.capitalize() for w in words)


def _sim_paths() -> dict:
    paths: dict = {}
    for r in sim_api.ROUTES:
        params = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer"} if name in sim_api.INTEGER_PARAMS else {"type": "string"}}
                  for name in re.findall(r"{(\w+)}", r.path)]
        params += [{"name": q.name, "in": "query", "required": q.required, "schema": q.schema,
                    **({"description": q.description} if q.description else {})} for q in r.query]
        responses: dict = {str(r.status): {"description": "OK", "content": {r.content_type: {"schema": r.response}}}}
        for status in sorted(set(r.errors) | {401}):
            responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
        op: dict = {"operationId": _operation_id(r), "tags": ["sim"], "summary": r.summary, "responses": responses,
                    "security": [{"operator": []}]}
        if params:
            op["parameters"] = params
        if r.body is not None:
            media: dict = {"schema": r.body}
            if r.body_example is not None:
                media["example"] = r.body_example
            op["requestBody"] = {"required": True, "content": {"application/json": media}}
        paths.setdefault(r.path, {})[r.method] = op
    return paths


def _notification_webhook(gateway: list[str]) -> dict:
    return {"post": {
        "summary": "Asynchronous notification, bank → the platform's notify URL",
        "description": "The same four envelope fields, signed with the bank's key over the exact decoded payload "
                       "bytes. Answer the plain body `OK`; anything else is retried on the bank's clock "
                       "(10s, 30s, 1m, 2m, 3m, … up to 16 attempts). Delivery is at least once.",
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["serviceName", "platformNo", "reqData", "signature"],
            "properties": {"serviceName": {"type": "string", "enum": gateway}, "platformNo": {"type": "string"},
                           "reqData": {"type": "string", "contentEncoding": "base64",
                                       "contentMediaType": "application/json",
                                       "contentSchema": {"oneOf": [
                                           {"$ref": f"#/components/schemas/{n}.notification"} for n in gateway]}},
                           "signature": {"type": "string"}}}}}},
        "responses": {"200": {"description": "`OK` acknowledges", "content": {"text/plain": {
            "schema": {"type": "string", "const": "OK"}}}}}}}


def _error_responses() -> dict:
    names = {400: "Bad input (nothing changed)", 401: "The operator credential is missing or wrong",
             404: "Not found", 409: "Conflict (already exists)"}
    return {f"Error{status}": {"description": text, "content": {"application/json": {"schema": ERROR}}}
            for status, text in names.items()}


def services_table() -> list[dict]:
    """Per serviceName: kind, summary, where its schemas are, its examples (for people and tools)."""
    out = []
    for s in catalogue.SERVICES:
        out.append({"serviceName": s.name, "kind": s.kind, "summary": s.summary,
                    "reqData": f"#/components/schemas/{s.name}.reqData",
                    ("respData" if s.kind == "direct" else "notification"):
                        f"#/components/schemas/{s.name}.{'respData' if s.kind == 'direct' else 'notification'}",
                    "examples": _examples_of(s.name)})
    return out


@lru_cache(maxsize=1)
def _document() -> dict:
    direct = [s.name for s in catalogue.SERVICES if s.kind == "direct"]
    gateway = [s.name for s in catalogue.SERVICES if s.kind == "gateway"]
    assert set(direct) == svc.DIRECT_SERVICES and set(gateway) == svc.GATEWAY_SERVICES
    schemas: dict = {
        "DirectEnvelope": _envelope(direct, "direct (/service, /checkfile)"),
        "GatewayEnvelope": _envelope(gateway, "gateway (/gateway)"),
        "SignedResponse": {
            "type": "object", "required": ["respData", "signature"],
            "description": "`signature` covers the exact compact JSON text of `respData` as it appears in the body "
                           "(separators `,` `:`, UTF-8, not ASCII-escaped), with the platform's hash.",
            "properties": {"respData": {"oneOf": [{"$ref": f"#/components/schemas/{n}.respData"} for n in direct]},
                           "signature": {"type": "string", "contentEncoding": "base64"}}},
        "RespCode": {"type": "string", "enum": [c["code"] for c in CODE_TABLE],
                     "description": "; ".join(f"`{c['code']}` {c['name']} {c['message']}" for c in CODE_TABLE)},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "CheckFile": {"type": "string", "description": (
            f"CSV (`\\n` line ends): the header `{','.join(catalogue.CHECKFILE_TOTALS)}`, one totals line, the "
            f"header `{','.join(catalogue.CHECKFILE_COLUMNS)}`, then one line per successful money-moving request "
            f"of the business date. `status` is SUCCESS. Amounts in yuan with two decimals. Streamed from "
            f"/checkfile with a last line `{catalogue.CHECKFILE_TRAILER}`, whose signature covers the SHA-256 of "
            f"every byte before it.")},
    }
    for s in catalogue.SERVICES:
        schemas.update(_service_schemas(s))
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "万信 bank depository sandbox (银行存管模拟)", "version": "1",
                 "description": (
                     "A bank depository for P2P platforms. A platform signs requests (the four-field envelope, "
                     "GET query or form POST) to `/service` (direct, signed JSON answer) and sends its users' "
                     "browsers to `/gateway` (the bank's page, then a redirect to `callbackUrl` with `code`); the "
                     "bank notifies the platform's notify URL (webhook `notification`). The `/sim` API is the "
                     "simulator's control and inspection surface and needs the operator credential. "
                     "The payload (reqData) of each serviceName is the schema `<serviceName>.reqData`; see "
                     "`x-services`. " + BINDING)},
        "servers": [{"url": "/"}],
        "tags": [{"name": "protocol", "description": "The signed protocol"},
                 {"name": "sim", "description": "Simulator control (operator credential)"},
                 {"name": "docs"}],
        "paths": {**_protocol_paths(direct, gateway), **_sim_paths()},
        "webhooks": {"notification": _notification_webhook(gateway)},
        "components": {
            "schemas": schemas,
            "responses": _error_responses(),
            "securitySchemes": {"operator": {
                "type": "http", "scheme": "bearer",
                "description": "The operator credential: `wanxin bank serve --sim-token`, WANXIN_SIM_TOKEN, or the "
                               "file `<db>.sim-token` beside the bank's database."}},
        },
        "x-services": services_table(),
        "x-response-codes": CODE_TABLE,
        "x-callback-codes": [{"code": k, "meaning": v} for k, v in catalogue.CALLBACK_CODES.items()],
        "x-checkfile": {"totals": list(catalogue.CHECKFILE_TOTALS), "columns": list(catalogue.CHECKFILE_COLUMNS),
                        "trailer": catalogue.CHECKFILE_TRAILER},
        "x-envelope": {"fields": ["serviceName", "platformNo", "reqData", "signature"], "binding": BINDING,
                       "algorithms": [signing.SHA256, signing.SHA1],
                       "json": "respData and notifications: compact JSON, "
                               f"separators {envelope.dumps({'a': 1, 'b': 2})!r}"},
    }
    return doc


def document() -> dict:
    """The OpenAPI 3.1 document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(_document())


@bp.get("/docs")
def docs():
    doc = _document()
    return render_template("docs.html", doc=doc, schemas=doc["components"]["schemas"],
                           sim=[(path, method, op) for path, ops in doc["paths"].items() if path.startswith("/sim")
                                for method, op in ops.items()])
