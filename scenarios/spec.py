"""Scenario files: parsing and validation before anything runs.

A scenario is YAML with ``name``, optional ``seed``, optional ``config``,
optional ``profile`` (``modern``, or ``legacy``: the original Java wire),
``actors`` and ``steps``. Unknown steps, unknown keys, bad amounts, unknown
actors and unknown projects are reported with the file, the step number and
its line, before a single request is sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Optional

import yaml

from bank_depository.protocol.money import AmountError, parse_yuan

METHODS = ("equal_installment", "equal_principal", "interest_first", "bullet")
ROLES = ("borrower", "investor")
CONFIG_KEYS = {"borrower_commission_rate": "rate", "investor_commission_rate": "rate", "min_tender": "amount",
               "withdraw_commission": "amount"}
CONFIG_DEFAULTS = {"borrower_commission_rate": "0.02", "investor_commission_rate": "0.03", "min_tender": "100.00",
                   "withdraw_commission": "0.00"}
ACTOR_KEYS = {"role", "card_balance", "count", "password"}
PROFILES = ("modern", "legacy")
MAX_GROUP = 5000


class ScenarioError(Exception):
    """The file cannot run; the message names the file, step and problem."""


# step name -> (kind of argument, allowed keys, required keys)
#   kind: "none" (bare word), "actor", "project", "map", "int", "bool_or_map", "any_map"
STEPS: dict[str, tuple[str, set, set]] = {
    "open_account": ("actor", set(), set()),
    "recharge": ("map", {"user", "amount", "password"}, {"user", "amount"}),
    "withdraw": ("map", {"user", "amount", "password"}, {"user", "amount"}),
    "create_project": ("map", {"name", "borrower", "amount", "periods", "method", "annual_rate"},
                       {"name", "borrower", "amount", "periods", "method"}),
    "approve_project": ("project", set(), set()),
    "tender": ("map", {"user", "project", "amount"}, {"user", "project", "amount"}),
    "approve_loan": ("map", {"project", "commission"}, {"project"}),
    "reject_project": ("project", set(), set()),
    "advance_days": ("int", set(), set()),
    "run_repayments": ("none", set(), set()),
    "run_daily": ("none", set(), set()),
    "recover": ("none", set(), set()),
    "deliver_notifications": ("none", set(), set()),
    "deposit_card": ("map", {"user", "amount"}, {"user", "amount"}),
    "fault": ("any_map", set(), set()),
    "clear_faults": ("none", set(), set()),
    "expect_balance": ("any_map", set(), set()),
    "expect_project": ("any_map", set(), set()),
    "expect_plan": ("map", {"project", "period", "status"}, {"project", "period", "status"}),
    "expect_notifications": ("map", {"delivered", "pending", "dead", "dropped"}, set()),
    "expect_error": ("map", {"step", "code"}, {"step"}),
    "expect_unknown": ("map", {"step"}, {"step"}),
    "expect_ledger_sound": ("none", set(), set()),
    "expect_reconciled": ("bool_or_map", {"date", "breaks", "auto_resolve"}, set()),
    "list_claim": ("map", {"user", "project", "amount", "price", "fee_rate", "name"},
                   {"user", "project", "amount", "name"}),
    "buy_claim": ("map", {"user", "claim", "confirm"}, {"user", "claim"}),
    "cancel_claim": ("map", {"claim"}, {"claim"}),
}
AMOUNT_KEYS = {"amount", "commission", "price"}
BALANCE_KEYS = {"available", "frozen", "card"}


@dataclass
class Step:
    number: int
    line: int
    name: str
    arg: Any

    def where(self, path: str) -> str:
        return f"{path}: step {self.number} ({self.name}, line {self.line})"


@dataclass
class Actor:
    name: str
    role: str
    card_balance: str
    password: str
    index: int
    group: Optional[str] = None


@dataclass
class Scenario:
    path: str
    name: str
    seed: Optional[int]
    config: dict
    actors: dict[str, Actor]
    groups: dict[str, list[str]]
    steps: list[Step] = field(default_factory=list)
    profile: str = "modern"

    def members(self, name: str) -> list[str]:
        """An actor name, or every member of an actor group."""
        return self.groups.get(name) or [name]


def load(path: str | Path) -> Scenario:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, path, root)


def _fail(path: str, message: str) -> ScenarioError:
    return ScenarioError(f"{path}: {message}")


def _amount(value: Any, where: str, what: str, allow_zero: bool = False) -> None:
    try:
        parse_yuan(value if not isinstance(value, float) else repr(value), what, allow_zero=allow_zero)
    except AmountError as exc:
        raise ScenarioError(f"{where}: bad amount {value!r} for {what}: {exc.reason}") from None


def parse(data: Any, path: str = "<scenario>", root: Any = None) -> Scenario:
    if not isinstance(data, dict):
        raise _fail(path, "a scenario is a mapping with name, actors and steps")
    unknown = set(data) - {"name", "seed", "config", "actors", "steps", "description", "profile"}
    if unknown:
        raise _fail(path, f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise _fail(path, "name is required")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _fail(path, "seed must be an integer")
    config = dict(CONFIG_DEFAULTS)
    for key, value in (data.get("config") or {}).items():
        if key not in CONFIG_KEYS:
            raise _fail(path, f"unknown config key {key!r}; allowed: {', '.join(sorted(CONFIG_KEYS))}")
        if CONFIG_KEYS[key] == "amount":
            _amount(value, f"{path}: config", key, allow_zero=True)
        else:
            try:
                if not 0 <= Decimal(str(value)) < 1:
                    raise InvalidOperation
            except InvalidOperation:
                raise _fail(path, f"config {key} must be a rate between 0 and 1, got {value!r}") from None
        config[key] = str(value)
    profile = data.get("profile", "modern")
    if profile not in PROFILES:
        raise _fail(path, f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    actors, groups = _actors(data.get("actors"), path)
    scenario = Scenario(path, data["name"].strip(), seed, config, actors, groups, profile=profile)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise _fail(path, "steps must be a non-empty list")
    lines = _step_lines(root, len(raw_steps))
    projects: set[str] = set()
    claims: set[str] = set()
    for i, raw in enumerate(raw_steps, start=1):
        step = _step(raw, i, lines[i - 1], path)
        _check(scenario, step, path, projects, claims)
        scenario.steps.append(step)
    return scenario


def _step_lines(root: Any, count: int) -> list[int]:
    try:
        for key, value in root.value:
            if key.value == "steps":
                return [item.start_mark.line + 1 for item in value.value]
    except (AttributeError, TypeError):
        pass
    return [0] * count


def _actors(raw: Any, path: str) -> tuple[dict[str, Actor], dict[str, list[str]]]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, "actors must be a mapping of name -> {role, card_balance}")
    actors: dict[str, Actor] = {}
    groups: dict[str, list[str]] = {}
    index = 0
    for name, spec in raw.items():
        where = f"{path}: actor {name!r}"
        if not isinstance(spec, dict):
            raise ScenarioError(f"{where}: must be a mapping with role and card_balance")
        unknown = set(spec) - ACTOR_KEYS
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if spec.get("role") not in ROLES:
            raise ScenarioError(f"{where}: role must be borrower or investor")
        balance = str(spec.get("card_balance", "0.00"))
        _amount(balance, where, "card_balance", allow_zero=True)
        password = str(spec.get("password", "123456"))
        count = spec.get("count")
        if count is None:
            index += 1
            actors[str(name)] = Actor(str(name), spec["role"], balance, password, index)
            continue
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GROUP:
            raise ScenarioError(f"{where}: count must be 1..{MAX_GROUP}")
        groups[str(name)] = []
        for k in range(1, count + 1):
            index += 1
            member = f"{name}{k}"
            actors[member] = Actor(member, spec["role"], balance, password, index, group=str(name))
            groups[str(name)].append(member)
    return actors, groups


def _step(raw: Any, number: int, line: int, path: str) -> Step:
    if isinstance(raw, str):
        name, arg = raw, None
    elif isinstance(raw, dict) and len(raw) == 1:
        name, arg = next(iter(raw.items()))
    else:
        raise ScenarioError(f"{path}: step {number} (line {line}): a step is one name, or a mapping with one name")
    if name not in STEPS:
        raise ScenarioError(f"{path}: step {number} (line {line}): unknown step {name!r};"
                            f" known steps: {', '.join(sorted(STEPS))}")
    return Step(number, line, str(name), arg)


def _check(s: Scenario, step: Step, path: str, projects: set, claims: set) -> None:
    where = step.where(path)
    kind, allowed, required = STEPS[step.name]

    def actor(name: Any, role: Optional[str] = None) -> None:
        if not isinstance(name, str) or (name not in s.actors and name not in s.groups):
            raise ScenarioError(f"{where}: unknown actor {name!r}")
        for member in s.members(name):
            if role and s.actors[member].role != role:
                raise ScenarioError(f"{where}: {member} is not {'an' if role == 'investor' else 'a'} {role}")

    def project(name: Any) -> None:
        if name not in projects:
            raise ScenarioError(f"{where}: unknown project {name!r} (create_project it first)")

    arg = step.arg
    if kind == "none":
        if arg is not None:
            raise ScenarioError(f"{where}: takes no argument")
        return
    if kind == "actor":
        actor(arg)
        return
    if kind == "project":
        project(arg)
        return
    if kind == "int":
        if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
            raise ScenarioError(f"{where}: needs a whole number of days >= 0")
        return
    if kind == "bool_or_map" and isinstance(arg, bool):
        return
    if not isinstance(arg, dict):
        raise ScenarioError(f"{where}: needs a mapping")
    if kind in ("map", "bool_or_map"):
        unknown = set(arg) - allowed
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))};"
                                f" allowed: {', '.join(sorted(allowed))}")
        missing = required - set(arg)
        if missing:
            raise ScenarioError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
        for key in AMOUNT_KEYS & set(arg):
            _amount(arg[key], where, key, allow_zero=key == "commission")
    name = step.name
    if name in ("recharge", "withdraw", "deposit_card", "tender", "list_claim", "buy_claim"):
        actor(arg["user"], "investor" if name in ("tender", "list_claim", "buy_claim") else None)
        if name in ("list_claim", "buy_claim") and arg["user"] in s.groups:
            raise ScenarioError(f"{where}: a claim is listed or bought by one actor, not the group {arg['user']!r}")
    if name in ("tender", "approve_loan", "list_claim", "expect_plan"):
        project(arg["project"])
    if name == "create_project":
        actor(arg["borrower"], "borrower")
        if arg["method"] not in METHODS:
            raise ScenarioError(f"{where}: method must be one of {', '.join(METHODS)}")
        if isinstance(arg["periods"], bool) or not isinstance(arg["periods"], int) or not 1 <= arg["periods"] <= 360:
            raise ScenarioError(f"{where}: periods must be 1..360")
        if "annual_rate" in arg:
            try:
                if not 0 <= Decimal(str(arg["annual_rate"])) < 1:
                    raise InvalidOperation
            except InvalidOperation:
                raise ScenarioError(f"{where}: annual_rate must be between 0 and 1") from None
        if arg["name"] in projects:
            raise ScenarioError(f"{where}: project {arg['name']!r} is created twice")
        projects.add(str(arg["name"]))
    if name == "list_claim":
        claims.add(str(arg["name"]))
    if name in ("buy_claim", "cancel_claim") and arg["claim"] not in claims:
        raise ScenarioError(f"{where}: unknown claim {arg['claim']!r} (list_claim it first)")
    if name == "fault":
        from bank_depository.faults import FaultRuleError, validate
        try:
            validate(arg)
        except FaultRuleError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    if name == "expect_balance":
        for who, expected in arg.items():
            actor(who)
            if not isinstance(expected, dict) or not expected or set(expected) - BALANCE_KEYS:
                raise ScenarioError(f"{where}: {who} needs a mapping of available/frozen/card")
            for key, value in expected.items():
                _amount(value, where, f"{who}.{key}", allow_zero=True)
    if name == "expect_project":
        for proj in arg:
            project(proj)
    if name in ("expect_error", "expect_unknown"):
        inner = _step(arg["step"], step.number, step.line, path)
        if inner.name.startswith("expect_"):
            raise ScenarioError(f"{where}: the wrapped step must be an action, not {inner.name}")
        _check(s, inner, path, projects, claims)
        arg["step"] = inner
    if name == "expect_reconciled" and isinstance(arg, dict) and "breaks" in arg:
        if not isinstance(arg["breaks"], list):
            raise ScenarioError(f"{where}: breaks must be a list of {{kind, user?}}")
        for b in arg["breaks"]:
            if not isinstance(b, dict) or "kind" not in b or set(b) - {"kind", "user"}:
                raise ScenarioError(f"{where}: each break is {{kind, user?}}")
            if "user" in b:
                actor(b["user"])
