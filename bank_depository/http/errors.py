"""One JSON error shape for the simulator's REST endpoints, mapped in one place."""
from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..clock import ClockError
from ..domain.errors import BankError
from ..faults import FaultRuleError
from ..protocol import codes

_HTTP_STATUS = {codes.NOT_FOUND: 404,
                codes.USER_NOT_FOUND: 404, codes.TRANSACTION_NOT_FOUND: 404, codes.CARD_NOT_FOUND: 404,
                codes.PROJECT_NOT_FOUND: 404, codes.CARD_EXISTS: 409}


def error_json(code: str, message: str, status: int):
    return jsonify({"error": {"code": code, "message": message}}), status


def install(app: Flask) -> None:
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
        return error_json(codes.UNKNOWN, f"{codes.message(codes.UNKNOWN)}: {type(exc).__name__}", 500)
