"""JSON text as fastjson 1.2.47's ``JSON.toJSONString`` writes it (default features).

The original platform verifies a response by re-serialising ``respData`` with
fastjson and checking the signature over that text, so every character must
come out as fastjson writes it, not as Python's encoder does. fastjson's
string writer (its ``SerializeWriter`` with the default features: no
BrowserCompatible, BrowserSecure or WriteSlashAsSpecial) follows this rule,
restated here in our words:

* ``"`` and ``\\`` get a backslash; backspace, tab, newline, form feed and
  carriage return are written ``\\b \\t \\n \\f \\r``;
* every other character below U+0020, every character U+007F–U+009F, and the
  line and paragraph separators U+2028 / U+2029 are written ``\\uXXXX`` with
  **upper-case** hex digits;
* everything else, ``/`` and all other non-ASCII characters included, is
  written as it is.

Python's ``json.dumps(..., ensure_ascii=False)`` agrees on all but 44 BMP
characters: it writes U+000B, U+000E–U+000F and U+001A–U+001F with lower-case
hex, and U+007F–U+009F, U+2028 and U+2029 raw. Maps drop ``null`` values, as
fastjson does without WriteMapNullValue; lists keep them.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Mapping

_SHORT = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


def _escapes() -> dict[int, str]:
    table: dict[int, str] = dict(_SHORT)
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029):
        table.setdefault(code, f"\\u{code:04X}")
    return table


#: Every BMP character fastjson 1.2.47 escapes, and how (69 characters).
ESCAPES: dict[int, str] = _escapes()
_TABLE = str.maketrans(ESCAPES)


def string(text: str) -> str:
    """One JSON string literal, quotes included."""
    return '"' + text.translate(_TABLE) + '"'


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (dicts in their own key order, as the caller arranged it)."""
    if isinstance(value, str):
        return string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{string(str(k))}:{dumps(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)  # BigDecimal keeps its scale: 1000.00
    return json.dumps(value)  # numbers, booleans, null
