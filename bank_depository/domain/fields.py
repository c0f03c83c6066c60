"""Lenient reading of request payloads, as the original depository was lenient.

Keys match case-insensitively (``callbackURL`` is ``callbackUrl``), unknown
keys are ignored, numbers may arrive as numeric strings. What is required
and missing (whitespace-only text counts as missing), or malformed, is a
parameter error that names the field.

A Payload built with a service's declared fields
(:mod:`bank_depository.protocol.catalogue`) reads them with :meth:`Payload.get`:
kind, length, zero and requiredness come from the declaration, the same one
``/openapi.json`` publishes.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Optional, cast

from ..protocol import money
from ..protocol.catalogue import Field, find
from .errors import param_error

_MISSING = object()
#: The largest integer SQLite stores (signed 64 bits).
MAX_INTEGER = 2 ** 63 - 1


class Payload:
    def __init__(self, data: Mapping[str, Any], prefix: str = "", fields: tuple[Field, ...] = ()):
        self._data = dict(data)
        self._lower = {str(k).lower(): k for k in self._data}
        self._prefix = prefix
        self._fields = fields

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """Read a declared field as its declaration says (a default only for an optional field)."""
        f = find(self._fields, [key])
        if f is None:
            raise LookupError(f"{key} is not a declared field of this payload")  # a programming error
        if f.required != (default is _MISSING):
            raise TypeError(f"{key} is {'required' if f.required else 'optional'}: "
                            f"{'no default' if f.required else 'give a default'}")
        if f.kind == "amount":
            return self.amount(key, allow_zero=f.allow_zero, default=default)
        if f.kind == "integer":
            return self.integer(key, default)
        if f.kind == "items":
            return self.items(key)
        return self.text(key, default, max_len=f.max_len)

    def _name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        real = self._lower.get(key.lower())
        # Whitespace-only text is no value: '   ' as a project name is as missing as ''.
        if real is None or self._data[real] is None or \
                (isinstance(self._data[real], str) and not self._data[real].strip()):
            if default is _MISSING:
                raise param_error(f"{self._name(key)} is required")
            return default
        return self._data[real]

    def text(self, key: str, default: Any = _MISSING, *, max_len: int = 256) -> str:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return cast(str, value)  # the caller's own default, as given
        if isinstance(value, (dict, list, bool)):
            raise param_error(f"{self._name(key)} must be text")
        value = str(value).strip()
        if len(value) > max_len:
            raise param_error(f"{self._name(key)} is longer than {max_len} characters")
        return value

    def amount(self, key: str, *, allow_zero: bool = False, default: Any = _MISSING) -> int:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return cast(int, value)  # the caller's own default, as given
        try:
            return money.parse_yuan(value, self._name(key), allow_zero=allow_zero)
        except money.AmountError as exc:
            raise param_error(str(exc)) from None

    def integer(self, key: str, default: Any = _MISSING) -> Optional[int]:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return cast(Optional[int], value)  # the caller's own default, as given
        try:
            dec = Decimal(str(value).strip())
            # Non-finite values and anything SQLite cannot store are not whole numbers here.
            if isinstance(value, bool) or not dec.is_finite() or abs(dec) > MAX_INTEGER \
                    or dec != dec.to_integral_value():
                raise InvalidOperation
        except InvalidOperation:
            raise param_error(f"{self._name(key)} must be a whole number") from None
        return int(dec)

    def items(self, key: str) -> list["Payload"]:
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            raise param_error(f"{self._name(key)} must be a non-empty list")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise param_error(f"{self._name(key)}[{i}] must be an object")
            declared = find(self._fields, [key])
            out.append(Payload(item, prefix=f"{self._name(key)}[{i}].", fields=declared.items if declared else ()))
        return out


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> Optional[str]:
    """The first field (dotted path) whose value differs between two payloads, or None."""
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            return prefix + key
        va, vb = a[key], b[key]
        if isinstance(va, dict) and isinstance(vb, dict):
            found = first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif isinstance(va, list) and isinstance(vb, list):
            if len(va) != len(vb):
                return prefix + key
            for i, (x, y) in enumerate(zip(va, vb)):
                if isinstance(x, dict) and isinstance(y, dict):
                    found = first_difference(x, y, f"{prefix}{key}[{i}].")
                    if found:
                        return found
                elif x != y or type(x) is not type(y):
                    return f"{prefix}{key}[{i}]"
        elif va != vb or type(va) is not type(vb):
            return prefix + key
    return None
