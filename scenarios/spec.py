"""Scenario files: parsing and validation before anything runs.

A scenario is YAML with ``name``, optional ``seed``, optional ``config``,
optional ``profile`` (``modern``, or ``legacy``: the original Java wire),
``actors`` and ``steps``. Unknown steps, unknown keys, bad amounts, unknown
actors and unknown projects are reported with the file, the step number and
its line, before a single request is sent.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from bank_depository.protocol import clockrange, profiles, services
from p2p_platform.domain import states
from p2p_platform.services.reconcile import KINDS as BREAK_KINDS
from bank_depository.protocol.money import AmountError, parse_yuan

from . import templating

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
    """The file cannot run; the message names the file, step and problem (one line per problem).

    ``problems`` lists them: every step's problem is reported in one pass."""

    def __init__(self, message: "str | list[str]"):
        self.problems = [message] if isinstance(message, str) else list(message)
        super().__init__("\n".join(self.problems))




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
    variables: dict = field(default_factory=dict)
    #: ``builtin`` (the reference platform runs beside the bank) or ``external`` (only the bank).
    platform: str = "builtin"
    platform_no: Optional[str] = None
    #: ``start:``: where the clocks of bank and platform stand when the run begins (ISO, +08:00), or None.
    start: Optional[str] = None
    #: Every variable name the file declares (``vars:``) or writes as ``${name}``: a ``--var`` outside it is unused.
    uses: set[str] = field(default_factory=set)

    def members(self, name: str) -> list[str]:
        """An actor name, or every member of an actor group."""
        return self.groups.get(name) or [name]


def load(path: str | Path, variables: Optional[dict] = None) -> Scenario:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start});"
                            " save the file as UTF-8") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    except ValueError as exc:  # a date YAML reads but the calendar lacks (start: 2026-02-30)
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, path, root, variables=variables)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: what is wrong, and at which line and column."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f"{exc.context}, " if exc.context else ""
        return f"{context}{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def _fail(path: str, message: str) -> ScenarioError:
    return ScenarioError(f"{path}: {message}")


def _amount(value: Any, where: str, what: str, allow_zero: bool = False) -> None:
    if isinstance(value, str) and "${" in value:
        return  # put in place when the step runs
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ScenarioError(f"{where}: bad amount {value!r} for {what}: must be positive"
                                f"{' or zero' if allow_zero else ''} (and quoted: \"{_quoted(-value)}\")")
        raise ScenarioError(f"{where}: {what} is a YAML number ({value!r}); quote amounts: \"{_quoted(value)}\"")
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ScenarioError(f"{where}: bad amount {value!r} for {what}: must be positive"
                            f"{' or zero' if allow_zero else ''}")
    try:
        parse_yuan(value if not isinstance(value, float) else repr(value), what, allow_zero=allow_zero)
    except AmountError as exc:
        raise ScenarioError(f"{where}: bad amount {value!r} for {what}: {exc.reason}") from None


TOP_KEYS = {"name", "seed", "config", "actors", "steps", "description", "profile", "vars", "platform", "platform_no",
            "start"}
#: A ``start:`` given as a date alone begins at this time of day (China time), as the default start does.
START_TIME = dt.time(9, 0)
CST = dt.timezone(dt.timedelta(hours=8), "CST")


def parse_start(value: Any) -> str:
    """``start:`` (a YAML date or date-time, or their ISO text) as an ISO instant in China time;
    ValueError saying why not."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(
                text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"start must be a date (2026-01-05) or a date-time (2026-01-05T09:00:00+08:00),"
                             f" got {value!r}") from None
    if isinstance(value, dt.datetime):
        instant = value if value.tzinfo else value.replace(tzinfo=CST)
    elif isinstance(value, dt.date):
        instant = dt.datetime.combine(value, START_TIME, tzinfo=CST)
    else:
        raise ValueError(f"start must be a date (2026-01-05) or a date-time, got {value!r}")
    try:
        instant = instant.astimezone(CST)
    except OverflowError:
        raise ValueError(f"start {value} is outside the calendar") from None
    problem = clockrange.problem(instant)
    if problem:
        raise ValueError(f"start: {problem}")
    return instant.isoformat()
PLATFORMS = ("builtin", "external")


def _quoted(value: Any) -> str:
    try:
        return f"{Decimal(repr(value) if isinstance(value, float) else str(value)):.2f}"
    except InvalidOperation:
        return str(value)


def parse(data: Any, path: str = "<scenario>", root: Any = None, *, variables: Optional[dict] = None,
          env: Optional[dict] = None) -> Scenario:
    """``variables`` (``--var``) override the file's ``vars:``; ``env`` defaults to the process environment."""
    if not isinstance(data, dict):
        raise _fail(path, "a scenario is a mapping with name, actors and steps")
    problems: list[str] = []  # every problem of the file, reported together
    unknown = set(data) - TOP_KEYS
    if unknown:
        hint = templating.did_you_mean(sorted(unknown)[0], TOP_KEYS)
        problems.append(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}{hint}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{path}: name is required")
        name = "?"
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        problems.append(f"{path}: seed must be an integer")
        seed = None
    try:
        config = _config(data.get("config") or {}, path)
    except ScenarioError as exc:
        problems += exc.problems
        config = dict(CONFIG_DEFAULTS)
    profile = data.get("profile", "modern")
    if profile not in PROFILES:
        problems.append(f"{path}: profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        profile = "modern"
    defaults = data.get("vars") or {}
    if not isinstance(defaults, dict) or not all(isinstance(k, str) for k in defaults):
        problems.append(f"{path}: vars must be a mapping of name -> default value")
        defaults = {}
    merged = {**defaults, **(variables or {})}
    env = dict(os.environ) if env is None else env
    platform = data.get("platform", "builtin")
    if platform not in PLATFORMS:
        problems.append(f"{path}: platform must be external (or builtin, the default), got {platform!r}")
        platform = "builtin"
    platform_no = data.get("platform_no")
    if platform_no is not None and (not isinstance(platform_no, str) or not platform_no):
        problems.append(f"{path}: platform_no must be text")
        platform_no = None
    start = None
    if data.get("start") is not None:
        try:
            start = parse_start(data["start"])
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    try:
        actors, groups = _actors(data.get("actors"), path, allow_empty=platform == "external", problems=problems)
    except ScenarioError as exc:
        raise ScenarioError(problems + exc.problems) from None  # the steps name actors: nothing more to check
    scenario = Scenario(path, name.strip(), seed, config, actors, groups, profile=profile,
                        variables=merged, platform=platform, platform_no=platform_no, start=start)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError(problems + [f"{path}: steps must be a non-empty list"])
    lines = _step_lines(root, len(raw_steps))
    projects: set[str] = set()
    claims: set[str] = set()
    saved: set[str] = set()
    lookup = templating.static_lookup(merged, env)
    scenario.uses = set(defaults) | set(templating.names(raw_steps))
    for i, raw in enumerate(raw_steps, start=1):
        raw = templating.substitute(raw, lookup)
        undefined = _name_problems(scenario, raw, i, lines[i - 1], path, saved, env)
        try:
            step = _step(raw, i, lines[i - 1], path)
            if platform == "external" and not _bank_only(step):
                raise ScenarioError(f"{step.where(path)}: {step.name} drives the built-in platform; with platform:"
                                    f" external use http and gateway steps (bank-side steps: {', '.join(BANK_SIDE)})")
            _check(scenario, step, path, projects, claims)
        except ScenarioError as exc:
            problems += undefined + exc.problems
            _remember(raw, projects, claims, saved)  # so later steps naming it are not reported too
            continue
        if undefined:
            problems += undefined
            _remember(raw, projects, claims, saved)
            continue
        saved |= _saves(step)
        scenario.steps.append(step)
    if problems:
        raise ScenarioError(problems)
    return scenario


def _remember(raw: Any, projects: set, claims: set, saved: set) -> None:
    """What a refused step would have declared (a project, a claim, saved names)."""
    if not isinstance(raw, dict) or len(raw) != 1:
        return
    name, arg = next(iter(raw.items()))
    if not isinstance(arg, dict):
        return
    if name == "create_project" and isinstance(arg.get("name"), str):
        projects.add(arg["name"])
    if name == "list_claim" and isinstance(arg.get("name"), str):
        claims.add(arg["name"])
    if name in ("http", "gateway") and isinstance(arg.get("save"), dict):
        saved |= {str(k) for k in arg["save"]}


def _name_problems(s: Scenario, raw: Any, number: int, line: int, path: str, saved: set[str],
                   env: dict) -> list[str]:
    """Every undefined ``${name}`` of one step (each reported, and the step's other problems too)."""
    problems = []
    for name in templating.names(raw):
        why = templating.problem(name, actors=set(s.actors), saved=saved, variables=set(s.variables), env=env)
        if why:
            problems.append(f"{path}: step {number} (line {line}): {why}")
    return problems


def _saves(step: Step) -> set[str]:
    arg = step.arg
    if step.name in ("http", "gateway") and isinstance(arg, dict) and isinstance(arg.get("save"), dict):
        return {str(k) for k in arg["save"]}
    return set()


def _bank_only(step: Step) -> bool:
    if step.name in ("expect_error", "expect_unknown") and isinstance(step.arg, dict):
        inner = step.arg.get("step")
        if isinstance(inner, dict) and len(inner) == 1:
            return next(iter(inner)) in BANK_SIDE
        return True
    return step.name in BANK_SIDE


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


def _actors(raw: Any, path: str, allow_empty: bool = False,
            problems: Optional[list[str]] = None) -> tuple[dict[str, Actor], dict[str, list[str]]]:
    """The actors; each actor's problem is appended to ``problems`` (every actor checked in one pass), and an
    actor with a problem still counts as a name so that the steps naming it are checked as well."""
    if allow_empty and raw is None:
        return {}, {}
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, "actors must be a mapping of name -> {role, card_balance}")
    found: list[str] = [] if problems is None else problems
    before = len(found)
    actors: dict[str, Actor] = {}
    groups: dict[str, list[str]] = {}
    index = 0
    for name, spec in raw.items():
        where = f"{path}: actor {name!r}"
        if not isinstance(spec, dict):
            found.append(f"{where}: must be a mapping with role and card_balance")
            spec = {}
        unknown = set(spec) - ACTOR_KEYS
        if unknown:
            found.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}"
                         f"{templating.did_you_mean(sorted(unknown)[0], ACTOR_KEYS)}")
        role = spec.get("role")
        if role not in ROLES:
            found.append(f"{where}: role must be borrower or investor, got {role!r}"
                         f"{templating.did_you_mean(role, ROLES) if isinstance(role, str) else ''}")
            role = ROLES[1]
        balance = spec.get("card_balance", "0.00")
        try:
            _amount(balance, where, "card_balance", allow_zero=True)
        except ScenarioError as exc:
            found += exc.problems
            balance = "0.00"
        balance = str(balance)
        password = str(spec.get("password", "123456"))
        count = spec.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or not 1 <= count <= MAX_GROUP):
            found.append(f"{where}: count must be 1..{MAX_GROUP}")
            count = None
        if count is None:
            index += 1
            actors[str(name)] = Actor(str(name), role, balance, password, index)
            continue
        groups[str(name)] = []
        for k in range(1, count + 1):
            index += 1
            member = f"{name}{k}"
            actors[member] = Actor(member, role, balance, password, index, group=str(name))
            groups[str(name)].append(member)
    if problems is None and len(found) > before:
        raise ScenarioError(found)
    return actors, groups


def _step(raw: Any, number: int, line: int, path: str) -> Step:
    if isinstance(raw, str):
        name, arg = raw, None
    elif isinstance(raw, dict) and len(raw) == 1:
        name, arg = next(iter(raw.items()))
    else:
        raise ScenarioError(f"{path}: step {number} (line {line}): a step is one name, or a mapping with one name")
    if name not in STEPS:
        raise ScenarioError(f"{path}: step {number} (line {line}): unknown step {name!r}"
                            f"{templating.did_you_mean(name, STEPS)}; known steps: {', '.join(sorted(STEPS))}")
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
            raise self.fail(f"unknown actor {name!r}{templating.did_you_mean(name, [*self.s.actors, *self.s.groups])}")
        for member in self.s.members(name):
            if role and self.s.actors[member].role != role:
                raise self.fail(f"{member} is not {'an' if role == 'investor' else 'a'} {role}")

    def project(self, name: Any) -> None:
        if name not in self.projects:
            raise self.fail(f"unknown project {name!r}{templating.did_you_mean(name, self.projects)}"
                            " (create_project it first)")


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
    from bank_depository.faults import ACTIONS, FaultRuleError, validate
    problems = []
    try:
        validate(arg)
    except FaultRuleError as exc:
        problems.append(str(exc))
        if arg.get("action") not in ACTIONS:  # the matchers were not looked at: check them on their own
            try:
                validate({"action": "lose_response", **{k: arg[k] for k in ("service", "bizType") if k in arg}})
            except FaultRuleError as matcher:
                problems.append(str(matcher))
    user = arg.get("userNo")
    if isinstance(user, str) and "${" not in user and user not in c.s.actors:
        # a literal userNo is allowed; a near miss of an actor's name is a typo that would never match
        hint = templating.did_you_mean(user, c.s.actors)
        if hint:
            problems.append(f"userNo {user!r} is not an actor{hint}; the rule would never match")
    if problems:
        raise ScenarioError([f"{c.where}: {p}" for p in problems])


def _check_expect_balance(c: _Checking, arg: dict) -> None:
    for who, expected in arg.items():
        c.actor(who)
        if not isinstance(expected, dict) or not expected or set(expected) - BALANCE_KEYS:
            raise c.fail(f"{who} needs a mapping of available/frozen/card")
        for key, value in expected.items():
            _amount(value, c.where, f"{who}.{key}", allow_zero=True)


def _check_expect_notifications(c: _Checking, arg: dict) -> None:
    if "user" in arg:
        c.actor(arg["user"])
        if arg["user"] in c.s.groups:
            raise c.fail("expect_notifications names one actor, not a group")
    if "service" in arg and str(arg["service"]) not in NOTIFIED_SERVICES:
        hint = templating.did_you_mean(arg["service"], NOTIFIED_SERVICES)
        raise c.fail(f"service {arg['service']!r} is never notified{hint};"
                     f" notified services: {', '.join(NOTIFIED_SERVICES)}")
    for key in set(arg) - {"service", "user"}:
        value = arg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise c.fail(f"{key} must be a whole number >= 0")


def _check_expect_project(c: _Checking, arg: dict) -> None:
    for proj, status in arg.items():
        c.project(proj)
        _one_of(c, f"{proj}: status", status, PROJECT_STATUSES)


def _check_expect_plan(c: _Checking, arg: dict) -> None:
    _one_of(c, "status", arg["status"], PLAN_STATUSES)


def _one_of(c: _Checking, what: str, value: Any, allowed: tuple[str, ...]) -> None:
    if str(value) not in allowed:
        raise c.fail(f"{what} {value!r} is not one of {', '.join(allowed)}{templating.did_you_mean(value, allowed)}")


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
        _one_of(c, "break kind", b["kind"], BREAK_KINDS)
        if "user" in b:
            c.actor(b["user"])


PROJECT_STATUSES = tuple(s.value for s in states.ProjectStatus)
PLAN_STATUSES = tuple(s.value for s in states.PlanStatus)
NOTIFIED_SERVICES = tuple(sorted(services.GATEWAY_SERVICES | services.NOTICE_SERVICES))
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
EXPECT_KEYS = {"status", "json", "body_contains"}
REQUEST_STATUSES = ("SUCCESS", "FAILURE", "PROCESSING", "NOT_FOUND")
GATEWAY_OUTCOMES = ("success", "wrong_password", "cancel")
GATEWAY_SAVES = ("code", "msg", "location", "request_no")


def _check_save(c: _Checking, save: Any, allowed: Optional[tuple[str, ...]] = None) -> None:
    if not isinstance(save, dict) or not save:
        raise c.fail("save must be a mapping of NAME -> " + ("|".join(allowed) if allowed else "PATH"))
    for name, what in save.items():
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise c.fail(f"save name {name!r} must be letters, digits and _")
        if allowed is not None and what not in allowed:
            raise c.fail(f"save {name}: {what!r} is not one of {', '.join(allowed)}"
                         f"{templating.did_you_mean(what, allowed)}")
        if allowed is None and (not isinstance(what, str) or not what):
            raise c.fail(f"save {name}: the path must be text like data.items.0.userNo, status or headers.Location")


def _check_http(c: _Checking, arg: dict) -> None:
    method = arg["method"]
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        raise c.fail(f"method must be one of {', '.join(HTTP_METHODS)}, got {method!r}")
    if not isinstance(arg["url"], str) or not arg["url"]:
        raise c.fail("url must be text")
    if "json" in arg and "form" in arg:
        raise c.fail("give json or form, not both")
    for key in ("form", "params", "headers"):
        if key in arg and not isinstance(arg[key], dict):
            raise c.fail(f"{key} must be a mapping")
    expect = arg.get("expect", {})
    if not isinstance(expect, dict):
        raise c.fail("expect must be a mapping of status?, json?, body_contains?")
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        word = sorted(unknown)[0]
        raise c.fail(f"unknown expect key(s) {', '.join(sorted(unknown))}{templating.did_you_mean(word, EXPECT_KEYS)};"
                     f" allowed: {', '.join(sorted(EXPECT_KEYS))}")
    status = expect.get("status")
    if isinstance(status, str) and status.isdigit():  # from --var NAME=201, which is text
        status = expect["status"] = int(status)
    if status is not None and not (isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599):
        if not (isinstance(status, str) and "${" in status):
            raise c.fail(f"expect.status must be an HTTP status 100..599, got {status!r}")
    if "body_contains" in expect and not isinstance(expect["body_contains"], str):
        raise c.fail("expect.body_contains must be text")
    if "save" in arg:
        _check_save(c, arg["save"])


def _check_expect_request(c: _Checking, arg: dict) -> None:
    if arg["status"] not in REQUEST_STATUSES:
        raise c.fail(f"status must be one of {', '.join(REQUEST_STATUSES)}"
                     f"{templating.did_you_mean(arg['status'], REQUEST_STATUSES)}")
    if not isinstance(arg["request_no"], str) or not arg["request_no"]:
        raise c.fail("request_no must be text")


def _check_gateway(c: _Checking, arg: dict) -> None:
    outcome = arg.get("outcome", "success")
    if outcome not in GATEWAY_OUTCOMES:
        raise c.fail(f"outcome must be one of {', '.join(GATEWAY_OUTCOMES)}"
                     f"{templating.did_you_mean(outcome, GATEWAY_OUTCOMES)}")
    if not isinstance(arg["request"], (str, dict)):
        raise c.fail("request must be a gateway URL or a mapping (usually a saved ${value})")
    if "save" in arg:
        _check_save(c, arg["save"], GATEWAY_SAVES)


MAX_WAIT_S = 600


def _check_wait_for_notification(c: _Checking, arg: dict) -> None:
    service = arg["service"]
    if service not in NOTIFIED_SERVICES:
        why = " is answered directly and sends no notification" if service in services.DIRECT_SERVICES \
            else " is unknown"
        raise c.fail(f"service {service!r}{why}{templating.did_you_mean(str(service), NOTIFIED_SERVICES)};"
                     f" notifications come for {', '.join(NOTIFIED_SERVICES)}")
    if "user" in arg:
        c.actor(arg["user"])
        if arg["user"] in c.s.groups:
            raise c.fail("wait_for_notification names one actor, not a group")
    if "timeout_s" in arg:
        value = arg["timeout_s"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_WAIT_S:
            raise c.fail(f"timeout_s must be a number of seconds > 0 and <= {MAX_WAIT_S}, got {value!r}")


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
    _map("expect_plan", {"project", "period", "status"}, projects=("project",), check=_check_expect_plan),
    _map("expect_notifications", {"delivered", "pending", "dead", "dropped", "service", "user"}, set(),
         check=_check_expect_notifications),
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
    _map("http", {"method", "url", "json", "form", "params", "headers", "expect", "save"}, {"method", "url"},
         check=_check_http),
    _map("expect_request", {"request_no", "status", "code"}, {"request_no", "status"}, check=_check_expect_request),
    _map("gateway", {"request", "password", "confirm_password", "outcome", "expect_code", "save"},
         {"request", "password"}, check=_check_gateway),
    _map("wait_for_notification", {"service", "user", "timeout_s"}, {"service"},
         check=_check_wait_for_notification),
)}
#: The steps a scenario with ``platform: external`` may use: none of them calls the built-in platform.
BANK_SIDE = ("deposit_card", "fault", "clear_faults", "deliver_notifications", "expect_balance",
             "expect_notifications", "expect_ledger_sound", "expect_error", "expect_unknown", "http",
             "expect_request", "gateway", "wait_for_notification")
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
        hint = templating.did_you_mean(sorted(unknown)[0], d.keys)
        raise c.fail(f"unknown key(s) {', '.join(sorted(unknown))}{hint}; allowed: {', '.join(sorted(d.keys))}")
    missing = d.required - set(arg)
    if missing:
        raise c.fail(f"missing key(s) {', '.join(sorted(missing))}")
    for key in AMOUNT_KEYS & set(arg):
        _amount(arg[key], c.where, key, allow_zero=key == "commission")
