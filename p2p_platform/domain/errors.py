"""The platform's refusals: named, with a stable code and an HTTP status."""
from __future__ import annotations


class PlatformError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def not_found(what: str) -> PlatformError:
    return PlatformError("NOT_FOUND", f"{what} not found", 404)


def bad(message: str) -> PlatformError:
    return PlatformError("INVALID", message, 400)
