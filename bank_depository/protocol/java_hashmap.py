"""The iteration order of a ``java.util.HashMap`` with ``String`` keys, computed.

The original depository signs and sends ``respData`` in the order a fastjson
``JSONObject`` (a ``HashMap`` created with capacity 16) iterates its keys, so
a simulator that wants the original Java platform to see the same bytes must
reproduce that order. It depends only on the keys, the order they were put in
and the table's final capacity:

* ``String.hashCode`` over UTF-16 code units, ``h = 31*h + c`` in 32-bit ints;
* the bucket is ``(h ^ (h >>> 16)) & (capacity - 1)``;
* buckets are visited in index order, keys of one bucket in insertion order
  (a resize splits a bucket into two lists keeping their relative order);
* the table doubles when the size exceeds 0.75 of the capacity, and also when
  a bucket reaches 9 keys while the table is smaller than 64 (``treeifyBin``).

A bucket of 9+ keys in a table of 64+ would become a red-black tree, whose
iteration order this module does not model: it raises ``ValueError`` instead.
Pure: no I/O, no dependencies.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

DEFAULT_CAPACITY = 16
LOAD_FACTOR = 0.75
TREEIFY_THRESHOLD = 8
MIN_TREEIFY_CAPACITY = 64


def string_hash(text: str) -> int:
    """Java's ``String.hashCode`` as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def bucket(key: str, capacity: int = DEFAULT_CAPACITY) -> int:
    """The bucket index ``HashMap`` puts ``key`` in for a table of ``capacity``."""
    h = string_hash(key) & 0xFFFFFFFF
    return (h ^ (h >> 16)) & (capacity - 1)


def final_capacity(keys: Iterable[str], initial: int = DEFAULT_CAPACITY) -> int:
    """The table size after putting ``keys`` (distinct, in order) into ``new HashMap(initial)``."""
    capacity = initial
    placed: list[str] = []
    for key in keys:
        before = sum(1 for k in placed if bucket(k, capacity) == bucket(key, capacity))
        placed.append(key)
        if before >= TREEIFY_THRESHOLD:
            if capacity >= MIN_TREEIFY_CAPACITY:
                raise ValueError(f"{len(placed)} keys make a treeified bucket; its order is not modelled")
            capacity *= 2
        if len(placed) > capacity * LOAD_FACTOR:
            capacity *= 2
    return capacity


def order(keys: Iterable[str], initial: int = DEFAULT_CAPACITY) -> list[str]:
    """The iteration order of ``keys`` put into ``new HashMap(initial)`` in the given order."""
    inserted = list(dict.fromkeys(keys))
    capacity = final_capacity(inserted, initial)
    position = {k: i for i, k in enumerate(inserted)}
    return sorted(inserted, key=lambda k: (bucket(k, capacity), position[k]))


def fastjson_order(keys: Iterable[str]) -> list[str]:
    """Keys as the original emits them: put alphabetically (fastjson sorts bean fields with
    ``String.compareTo``, i.e. by UTF-16 code units), read back from the map."""
    return order(sorted(keys, key=lambda k: k.encode("utf-16-be")))


def reorder(value: Any) -> Any:
    """``value`` with every JSON object's keys in :func:`fastjson_order`, recursively."""
    if isinstance(value, Mapping):
        return {k: reorder(value[k]) for k in fastjson_order(value)}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value
