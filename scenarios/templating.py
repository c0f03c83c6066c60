"""``${…}`` in scenario strings: variables, the environment, actors' identities, saved values, the run.

Variables (``vars:`` defaults, ``--var NAME=VALUE``) and ``${env.NAME}`` are known before anything
runs and are put in place when the file is read; ``${actor.fullname|idNumber|mobile|cardNumber|userNo}``,
``${run}`` and values saved by earlier steps are put in place when their step runs. A string that is
exactly one ``${x}`` takes the value itself (a saved mapping stays a mapping); inside longer text the
value is written as text.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Callable, Iterator, Optional

PATTERN = re.compile(r"\$\{([^{}]*)\}")
ACTOR_FIELDS = ("fullname", "idNumber", "mobile", "cardNumber", "userNo")


class Unresolved(KeyError):
    """A name a lookup does not know (yet)."""


def names(value: Any) -> Iterator[str]:
    """Every ``${name}`` in a value (strings inside mappings and lists included)."""
    if isinstance(value, str):
        for match in PATTERN.finditer(value):
            yield match.group(1).strip()
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from names(key)
            yield from names(item)
    elif isinstance(value, list):
        for item in value:
            yield from names(item)


def substitute(value: Any, lookup: Callable[[str], Any]) -> Any:
    """``value`` with each ``${name}`` replaced by ``lookup(name)``; a name ``lookup`` raises
    :class:`Unresolved` for stays as written. Other types (a parsed step, numbers) pass through."""
    if isinstance(value, str):
        whole = PATTERN.fullmatch(value)
        if whole:
            try:
                return lookup(whole.group(1).strip())
            except Unresolved:
                return value

        def one(match: re.Match) -> str:
            try:
                found = lookup(match.group(1).strip())
            except Unresolved:
                return match.group(0)
            return found if isinstance(found, str) else _text(found)
        return PATTERN.sub(one, value)
    if isinstance(value, dict):
        return {substitute(k, lookup): substitute(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(item, lookup) for item in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def static_lookup(variables: dict, env: dict) -> Callable[[str], Any]:
    """What is known before the run: variables and ``env.NAME``."""
    def lookup(name: str) -> Any:
        if name in variables:
            return variables[name]
        if name.startswith("env.") and name[4:] in env:
            return env[name[4:]]
        raise Unresolved(name)
    return lookup


def problem(name: str, *, actors: set[str], saved: set[str], variables: set[str], env: dict) -> Optional[str]:
    """Why ``name`` cannot be resolved when its step runs, or None when it can."""
    if name == "run" or name in saved or name in variables:
        return None
    if name.startswith("env."):
        return f"environment variable {name[4:]!r} is not set" if name[4:] not in env else None
    if "." in name:
        who, _, what = name.rpartition(".")
        if who in actors:
            if what in ACTOR_FIELDS:
                return None
            return f"unknown actor field {what!r} in ${{{name}}}{did_you_mean(what, ACTOR_FIELDS)};" \
                   f" fields: {', '.join(ACTOR_FIELDS)}"
        if what in ACTOR_FIELDS:
            return f"unknown actor {who!r} in ${{{name}}}{did_you_mean(who, actors)}"
    known = sorted(saved | variables) + ["run"]
    return f"undefined name ${{{name}}} (neither a variable nor a value saved by an earlier step)" \
           f"{did_you_mean(name, known)}"


def did_you_mean(word: str, choices: Any) -> str:
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if not close:  # a part of a longer name (``rate`` for ``annual_rate``)
        close = [o for o in options if len(str(word)) >= 3 and str(word).lower() in o.lower()][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_vars(pairs: Any) -> dict[str, str]:
    """``--var NAME=VALUE`` pairs (the CLI's and the pytest plugin's) as variables; ValueError names a bad one."""
    out = {}
    for pair in pairs or ():
        name, sep, value = str(pair).partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--var needs NAME=VALUE, got {pair!r}")
        out[name.strip()] = value
    return out
