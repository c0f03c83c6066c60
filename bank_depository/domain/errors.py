"""Business refusals as named facts with stable protocol codes."""
from __future__ import annotations

from ..protocol import codes


class BankError(Exception):
    """The bank says no: ``code`` is a protocol code, ``detail`` says why in words."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail or codes.message(code)
        super().__init__(f"{code} {self.detail}")

    @property
    def message(self) -> str:
        base = codes.message(self.code)
        return base if self.detail == base else f"{base}: {self.detail}"


def param_error(detail: str) -> BankError:
    return BankError(codes.PARAM_FAIL, detail)


class NotFound(BankError):
    """An operator asked for something the bank does not hold (a notification, a fault rule, a platform)."""

    def __init__(self, detail: str):
        super().__init__(codes.NOT_FOUND, detail)
