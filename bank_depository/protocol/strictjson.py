"""Strict JSON input: the one parser every untrusted JSON text goes through.

Both apps read JSON from strangers (``reqData``, ``/sim`` and ``/api`` bodies,
notifications). Python's ``json`` accepts things the rest of the code cannot
live with, and each used to surface as an HTTP 500 deep inside a view:

* nesting deep enough to exhaust the recursion limit (``RecursionError``);
* lone UTF-16 surrogates (``"\\ud800"``), which no UTF-8 encoder accepts;
* ``NaN`` / ``Infinity`` literals, and integers no SQLite column stores;
* duplicate keys, where the last one silently wins.

:func:`loads` refuses every one of them with :class:`JSONInputError`, a
``ValueError``, so callers that already turn ``ValueError`` into a clear
refusal keep doing so. Nothing here knows HTTP or the wire codes.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Callable

#: How deep objects and arrays may nest. Real payloads nest two or three levels.
MAX_DEPTH = 32
#: The largest magnitude of a number (SQLite's signed 64-bit integer).
MAX_MAGNITUDE = 2 ** 63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONInputError(ValueError):
    """The text is not JSON this system accepts; the message says why, for a person."""


class _Refused:
    """A value the parser refuses, held until the object around it can name its key."""

    def __init__(self, reason: str):
        self.reason = reason


def _constant(name: str) -> Any:
    return _Refused(f"{name} is not a number JSON allows")


def _integer(text: str) -> Any:
    value = int(text)
    if abs(value) > MAX_MAGNITUDE:
        return _Refused("the number is out of range (at most 19 digits)")
    return value


def _number(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = Decimal(text)
        if not value.is_finite() or (value and not -64 <= value.adjusted() <= 18):
            return _Refused("the number is out of range")
        return convert(text)
    return parse


def _pairs(fold_case: bool) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            k = key.lower() if fold_case else key
            if k in seen:
                raise JSONInputError(f"duplicate key {_printable(key)!r}")
            seen.add(k)
        return dict(pairs)
    return build


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone UTF-16 surrogate (it could not be encoded as UTF-8)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _printable(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)[:64]


def _where(path: tuple[str | int, ...]) -> str:
    """``details[0].amount``: the keys (text) and indexes (numbers) that lead to a value."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{_printable(part)}" if out else _printable(part)
    return out


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth, refused numbers and lone surrogates, walked without recursion; a refusal
    names where it is (``details[0].amount``; the name is only written for a refusal)."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, _Refused):
            raise JSONInputError((f"{_where(path)}: " if path else "") + item.reason)
        if isinstance(item, str):
            if has_surrogate(item):
                raise JSONInputError((f"{_where(path)}: " if path else "")
                                     + "the text contains a lone UTF-16 surrogate")
            continue
        if isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise JSONInputError(f"JSON nests deeper than {max_depth} levels")
            if isinstance(item, dict):
                for k, v in item.items():
                    if has_surrogate(k):
                        raise JSONInputError(f"{_where(path + (k,))}: a key contains a lone UTF-16 surrogate")
                    stack.append((v, depth + 1, path + (k,)))
            else:
                stack.extend((v, depth + 1, path + (i,)) for i, v in enumerate(item))


def loads(text: str | bytes, *, parse_float: Callable[[str], Any] = Decimal, max_depth: int = MAX_DEPTH,
          fold_case: bool = False) -> Any:
    """Parse untrusted JSON or raise :class:`JSONInputError` (a ValueError).

    Floats become ``parse_float(text)`` (exact ``Decimal`` by default).
    ``fold_case`` also refuses keys that differ only in case, for readers that
    match keys case-insensitively.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONInputError("the body is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_number(parse_float),
                           object_pairs_hook=_pairs(fold_case))
    except RecursionError:
        raise JSONInputError(f"JSON nests deeper than {max_depth} levels") from None
    except JSONInputError:
        raise
    except ValueError as exc:  # json.JSONDecodeError, or an integer too long for int()
        raise JSONInputError(f"not JSON ({str(exc)[:80]})") from None
    _check_tree(value, max_depth)
    return value
