"""fastjson 1.2.47's string escaping, pinned for the whole BMP (the legacy profile's respData text)."""
from __future__ import annotations

import json
from decimal import Decimal

from bank_depository.protocol import fastjson

#: Every BMP character fastjson 1.2.47's JSON.toJSONString escapes (default features), and how.
PINNED = r"""
0000=\u0000 0001=\u0001 0002=\u0002 0003=\u0003 0004=\u0004 0005=\u0005 0006=\u0006 0007=\u0007 0008=\b 0009=\t
000A=\n 000B=\u000B 000C=\f 000D=\r 000E=\u000E 000F=\u000F 0010=\u0010 0011=\u0011 0012=\u0012 0013=\u0013
0014=\u0014 0015=\u0015 0016=\u0016 0017=\u0017 0018=\u0018 0019=\u0019 001A=\u001A 001B=\u001B 001C=\u001C
001D=\u001D 001E=\u001E 001F=\u001F 0022=\" 005C=\\ 007F=\u007F 0080=\u0080 0081=\u0081 0082=\u0082 0083=\u0083
0084=\u0084 0085=\u0085 0086=\u0086 0087=\u0087 0088=\u0088 0089=\u0089 008A=\u008A 008B=\u008B 008C=\u008C
008D=\u008D 008E=\u008E 008F=\u008F 0090=\u0090 0091=\u0091 0092=\u0092 0093=\u0093 0094=\u0094 0095=\u0095
0096=\u0096 0097=\u0097 0098=\u0098 0099=\u0099 009A=\u009A 009B=\u009B 009C=\u009C 009D=\u009D 009E=\u009E
009F=\u009F 2028=\u2028 2029=\u2029
"""
TABLE = {int(code, 16): escape for code, escape in (item.split("=", 1) for item in PINNED.split())}
#: The characters Python's encoder (ensure_ascii=False) writes differently (issue 13 counts 44).
PYTHON_DIFFERS = {0x0B, 0x0E, 0x0F, *range(0x1A, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029}


def bmp():
    return (c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF)


def test_every_bmp_character_is_written_as_fastjson_writes_it_and_the_table_has_69_entries():
    assert len(TABLE) == 69 and fastjson.ESCAPES == TABLE
    wrong = [f"U+{c:04X}" for c in bmp() if fastjson.string(chr(c)) != '"' + TABLE.get(c, chr(c)) + '"']
    assert wrong == []


def test_python_and_fastjson_differ_on_exactly_44_bmp_characters():
    differ = {c for c in bmp() if json.dumps(chr(c), ensure_ascii=False) != fastjson.string(chr(c))}
    assert differ == PYTHON_DIFFERS and len(differ) == 44


def test_maps_drop_nulls_lists_keep_them_and_big_decimals_keep_their_scale():
    assert fastjson.dumps({"a": None, "b": [None, 1], "amount": Decimal("1000.00"), "s": "/\u2028é"}) == \
        '{"b":[null,1],"amount":1000.00,"s":"/\\u2028é"}'
