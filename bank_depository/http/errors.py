"""One JSON error shape for the simulator's REST endpoints, mapped in one place.

Request bodies are parsed by :class:`StrictJSON` (bounded depth and numbers, no
NaN, no lone surrogates, no duplicate keys), so a malformed body is a 400 here
and never an exception deep in a view. An unexpected exception is logged and
answered with a generic message: no class name or traceback leaves the bank.
"""
from __future__ import annotations

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from ..clock import ClockError
from ..domain.errors import BankError
from ..faults import FaultRuleError
from ..protocol import codes, strictjson

_HTTP_STATUS = {codes.NOT_FOUND: 404,
                codes.USER_NOT_FOUND: 404, codes.TRANSACTION_NOT_FOUND: 404, codes.CARD_NOT_FOUND: 404,
                codes.PROJECT_NOT_FOUND: 404, codes.CARD_EXISTS: 409,
                codes.CARD_ALREADY_BOUND: 409}


def error_json(code: str, message: str, status: int):
    return jsonify({"error": {"code": code, "message": message}}), status


class StrictJSON(DefaultJSONProvider):
    """Flask's JSON, reading request bodies with :func:`strictjson.loads` (floats stay floats)."""

    def loads(self, s, **kwargs):
        return strictjson.loads(s, parse_float=float)


def install(app: Flask) -> None:
    app.json = StrictJSON(app)

    @app.errorhandler(BankError)
    def _bank(exc: BankError):
        return error_json(exc.code, exc.message, _HTTP_STATUS.get(exc.code, 400))

    @app.errorhandler(FaultRuleError)
    @app.errorhandler(ClockError)
    def _bad_input(exc: ValueError):
        return error_json(codes.PARAM_FAIL, str(exc), 400)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_json(str(exc.code), exc.description or exc.name, exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unexpected error")
        return error_json(codes.UNKNOWN, f"{codes.message(codes.UNKNOWN)}: an internal error, logged by the bank", 500)
