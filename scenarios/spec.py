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
from typing import Any, Callable, Optional

import yaml

from bank_depository.protocol import profiles
from bank_depository.protocol.money import AmountError, parse_yuan

METHODS = ("equal_installment", "equal_principal", "interest_first", "bullet")
ROLES = ("borrower", "investor")
CONFIG_KEYS = {"borrower_commission_rate": "rate", "investor_commission_rate": "rate", "min_tender": "amount",
               "withdraw_commission": "amount"}
CONFIG_DEFAULTS = {"borrower_commission_rate": "0.02", "investor_commission_rate": "0.03", "min_tender": "100.00",
                   "withdraw_commission": "0.00"}
ACTOR_KEYS = {"role", "card_balance", "count", "password"}
PROFILES = profiles.NAMES
MAX_GROUP = 5000


class ScenarioError(Exception):
    """The file cannot run; the message names the file, step and problem."""




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
    config = _config(data.get("config") or {}, path)
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


def _config(raw: Any, path: str) -> dict:
    config = dict(CONFIG_DEFAULTS)
    for key, value in raw.items():
        if key not in CONFIG_KEYS:
            raise _fail(path, f"unknown config key {key!r}; allowed: {', '.join(sorted(CONFIG_KEYS))}")
        if CONFIG_KEYS[key] == "amount":
            _amount(value, f"{path}: config", key, allow_zero=True)
        elif not _rate(value):
            raise _fail(path, f"config {key} must be a rate between 0 and 1, got {value!r}")
        config[key] = str(value)
    return config


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


@dataclass(frozen=True)
class StepDef:
    """One step of the scenario vocabulary, declared once for validation and for the runner.

    ``kind`` is the argument's shape: ``none`` (bare word), ``actor`` or ``project`` (the argument
    names one), ``int``, ``map`` (``keys`` allowed, ``required`` needed), ``bool_or_map``, or
    ``any_map`` (keys checked by ``check``). ``actors`` lists the keys that name an actor, each with
    the role it must have (or None); ``single`` refuses an actor group there; ``projects`` lists the
    keys that name a project; ``check`` validates what is particular to the step. The runner calls
    ``Runner.<run>`` (default ``step_<name>``).
    """
    name: str
    kind: str
    keys: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    actors: tuple[tuple[str, Optional[str]], ...] = ()
    single: bool = False
    projects: tuple[str, ...] = ()
    check: Optional[Callable[["_Checking", Any], None]] = None
    run: str = ""

    @property
    def runner(self) -> str:
        return self.run or "step_" + self.name


class _Checking:
    """What a step's validator sees: the scenario so far and where the step stands."""

    def __init__(self, s: Scenario, step: Step, path: str, projects: set, claims: set):
        self.s, self.step, self.path, self.projects, self.claims = s, step, path, projects, claims
        self.where = step.where(path)

    def fail(self, message: str) -> ScenarioError:
        return ScenarioError(f"{self.where}: {message}")

    def actor(self, name: Any, role: Optional[str] = None) -> None:
        if not isinstance(name, str) or (name not in self.s.actors and name not in self.s.groups):
            raise self.fail(f"unknown actor {name!r}")
        for member in self.s.members(name):
            if role and self.s.actors[member].role != role:
                raise self.fail(f"{member} is not {'an' if role == 'investor' else 'a'} {role}")

    def project(self, name: Any) -> None:
        if name not in self.projects:
            raise self.fail(f"unknown project {name!r} (create_project it first)")


def _rate(value: Any) -> bool:
    try:
        return 0 <= Decimal(str(value)) < 1
    except InvalidOperation:
        return False


def _check_create_project(c: _Checking, arg: dict) -> None:
    if arg["method"] not in METHODS:
        raise c.fail(f"method must be one of {', '.join(METHODS)}")
    periods = arg["periods"]
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= 360:
        raise c.fail("periods must be 1..360")
    if "annual_rate" in arg and not _rate(arg["annual_rate"]):
        raise c.fail("annual_rate must be between 0 and 1")
    if arg["name"] in c.projects:
        raise c.fail(f"project {arg['name']!r} is created twice")
    c.projects.add(str(arg["name"]))


def _check_list_claim(c: _Checking, arg: dict) -> None:
    c.claims.add(str(arg["name"]))


def _check_claim_exists(c: _Checking, arg: dict) -> None:
    if arg["claim"] not in c.claims:
        raise c.fail(f"unknown claim {arg['claim']!r} (list_claim it first)")


def _check_fault(c: _Checking, arg: dict) -> None:
    from bank_depository.faults import FaultRuleError, validate
    try:
        validate(arg)
    except FaultRuleError as exc:
        raise c.fail(str(exc)) from None


def _check_expect_balance(c: _Checking, arg: dict) -> None:
    for who, expected in arg.items():
        c.actor(who)
        if not isinstance(expected, dict) or not expected or set(expected) - BALANCE_KEYS:
            raise c.fail(f"{who} needs a mapping of available/frozen/card")
        for key, value in expected.items():
            _amount(value, c.where, f"{who}.{key}", allow_zero=True)


def _check_expect_project(c: _Checking, arg: dict) -> None:
    for proj in arg:
        c.project(proj)


def _check_wrapped(c: _Checking, arg: dict) -> None:
    inner = _step(arg["step"], c.step.number, c.step.line, c.path)
    if inner.name.startswith("expect_"):
        raise c.fail(f"the wrapped step must be an action, not {inner.name}")
    _check(c.s, inner, c.path, c.projects, c.claims)
    arg["step"] = inner


def _check_expect_reconciled(c: _Checking, arg: Any) -> None:
    if not isinstance(arg, dict) or "breaks" not in arg:
        return
    if not isinstance(arg["breaks"], list):
        raise c.fail("breaks must be a list of {kind, user?}")
    for b in arg["breaks"]:
        if not isinstance(b, dict) or "kind" not in b or set(b) - {"kind", "user"}:
            raise c.fail("each break is {kind, user?}")
        if "user" in b:
            c.actor(b["user"])


def _map(name: str, keys: set[str], required: Optional[set[str]] = None, **more: Any) -> StepDef:
    return StepDef(name, "map", frozenset(keys), frozenset(keys if required is None else required), **more)


_INVESTOR = (("user", "investor"),)
_ANYONE = (("user", None),)

#: The scenario vocabulary (the README's "Steps:" list is tested against it).
STEPS: dict[str, StepDef] = {d.name: d for d in (
    StepDef("open_account", "actor"),
    _map("recharge", {"user", "amount", "password"}, {"user", "amount"}, actors=_ANYONE),
    _map("withdraw", {"user", "amount", "password"}, {"user", "amount"}, actors=_ANYONE),
    _map("create_project", {"name", "borrower", "amount", "periods", "method", "annual_rate"},
         {"name", "borrower", "amount", "periods", "method"}, actors=(("borrower", "borrower"),),
         check=_check_create_project),
    StepDef("approve_project", "project"),
    _map("tender", {"user", "project", "amount"}, actors=_INVESTOR, projects=("project",)),
    _map("approve_loan", {"project", "commission"}, {"project"}, projects=("project",)),
    StepDef("reject_project", "project"),
    StepDef("advance_days", "int"),
    StepDef("run_repayments", "none"),
    StepDef("run_daily", "none"),
    StepDef("recover", "none"),
    StepDef("deliver_notifications", "none"),
    _map("deposit_card", {"user", "amount"}, actors=_ANYONE),
    StepDef("fault", "any_map", check=_check_fault),
    StepDef("clear_faults", "none"),
    StepDef("expect_balance", "any_map", check=_check_expect_balance),
    StepDef("expect_project", "any_map", check=_check_expect_project),
    _map("expect_plan", {"project", "period", "status"}, projects=("project",)),
    _map("expect_notifications", {"delivered", "pending", "dead", "dropped"}, set()),
    _map("expect_error", {"step", "code"}, {"step"}, check=_check_wrapped),
    _map("expect_unknown", {"step"}, check=_check_wrapped),
    StepDef("expect_ledger_sound", "none"),
    StepDef("expect_reconciled", "bool_or_map", frozenset({"date", "breaks", "auto_resolve"}),
            check=_check_expect_reconciled),
    _map("list_claim", {"user", "project", "amount", "price", "fee_rate", "name"},
         {"user", "project", "amount", "name"}, actors=_INVESTOR, single=True, projects=("project",),
         check=_check_list_claim),
    _map("buy_claim", {"user", "claim", "confirm"}, {"user", "claim"}, actors=_INVESTOR, single=True,
         check=_check_claim_exists),
    _map("cancel_claim", {"claim"}, check=_check_claim_exists),
)}
AMOUNT_KEYS = {"amount", "commission", "price"}
BALANCE_KEYS = {"available", "frozen", "card"}


def _check(s: Scenario, step: Step, path: str, projects: set, claims: set) -> None:
    """Validate one step against its declaration in :data:`STEPS`, then by its own ``check``."""
    d = STEPS[step.name]
    c = _Checking(s, step, path, projects, claims)
    if not _check_shape(c, d, step.arg):
        return
    arg = step.arg
    for key, role in d.actors:
        c.actor(arg[key], role)
        if d.single and arg[key] in s.groups:
            raise c.fail(f"a claim is listed or bought by one actor, not the group {arg[key]!r}")
    for key in d.projects:
        c.project(arg[key])
    if d.check is not None:
        d.check(c, arg)


def _no_argument(c: _Checking, arg: Any) -> None:
    if arg is not None:
        raise c.fail("takes no argument")


def _days(c: _Checking, arg: Any) -> None:
    if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
        raise c.fail("needs a whole number of days >= 0")


#: Kinds whose argument is one value, checked completely here.
_SCALAR_KINDS: dict[str, Callable[[_Checking, Any], None]] = {
    "none": _no_argument, "actor": lambda c, arg: c.actor(arg), "project": lambda c, arg: c.project(arg),
    "int": _days,
}


def _check_shape(c: _Checking, d: StepDef, arg: Any) -> bool:
    """The argument's shape, keys and amounts; False when nothing more is to be checked."""
    if d.kind in _SCALAR_KINDS:
        _SCALAR_KINDS[d.kind](c, arg)
        return False
    if d.kind == "bool_or_map" and isinstance(arg, bool):
        return False
    if not isinstance(arg, dict):
        raise c.fail("needs a mapping")
    if d.kind in ("map", "bool_or_map"):
        _check_keys(c, d, arg)
    return True


def _check_keys(c: _Checking, d: StepDef, arg: dict) -> None:
    unknown = set(arg) - d.keys
    if unknown:
        raise c.fail(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(d.keys))}")
    missing = d.required - set(arg)
    if missing:
        raise c.fail(f"missing key(s) {', '.join(sorted(missing))}")
    for key in AMOUNT_KEYS & set(arg):
        _amount(arg[key], c.where, key, allow_zero=key == "commission")
