"""Running a scenario: each step against live servers, a line of progress per
step, and a summary. Exit status 0 only if every step passed.

By default both apps start in this process on loopback ports with fresh SQLite
files (``Sandbox``); with URLs the steps run against servers started
elsewhere (actors then get run-unique identities so a rerun does not collide).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import random
import time
from urllib.parse import urlsplit
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import requests

from bank_depository.client import SimClient, SimError, why_unreachable
from bank_depository.domain.errors import BankError
from bank_depository.domain.identity import sample_identity
from bank_depository.protocol import clockrange, codes, gateway_user
from bank_depository.services import counter
from p2p_platform.domain.errors import PlatformError
from p2p_platform.services import consumer

from . import exchanges, served, spec, templating
from .harness import GatewayError, Sandbox, UserAgent


GROUP_LISTING = 20  # above this many members, check a group with one listing instead of a request per member


class StepError(Exception):
    """An action step failed: ``code`` is the platform's or the bank's code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class StepFailure(Exception):
    """An expectation did not hold."""


@dataclass
class StepResult:
    number: int
    line: int
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0


@dataclass
class RunResult:
    path: str
    name: str
    steps: list[StepResult] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and all(s.ok for s in self.steps)

    def as_dict(self) -> dict:
        return {"file": self.path, "name": self.name, "ok": self.ok, "error": self.error,
                "seconds": round(self.seconds, 3),
                "steps": [s.__dict__ | {"seconds": round(s.seconds, 3)} for s in self.steps]}


def identity(index: int, tag: int) -> dict:
    """A valid, deterministic identity for actor ``index`` (:func:`bank_depository.domain.identity.sample_identity`)."""
    return sample_identity(index, tag)


class Runner:
    def __init__(self, scenario: spec.Scenario, *, bank_url: str, platform_url: str,
                 sandbox: Optional[Sandbox] = None, echo: Callable[[str], None] = print,
                 keep_going: bool = False, run_tag: Optional[int] = None, sim_token: Optional[str] = None,
                 verbose: int = 0):
        self.s = scenario
        self.bank_url = bank_url.rstrip("/")
        self.platform_url = platform_url.rstrip("/")
        self.sandbox = sandbox
        self.echo = echo
        self.keep_going = keep_going
        self.http = requests.Session()
        if sandbox is not None:
            # Loopback only: skip reading proxy settings from the environment on every request (~0.25 ms each).
            self.http.trust_env = False
        self.agent = UserAgent(self.http)
        token = sim_token or (sandbox.sim_token if sandbox is not None else None)
        self.bank_client = SimClient(self.bank_url, token, session=self.http, timeout=120)
        # one credential opens both apps
        self.platform_client = SimClient(self.platform_url, token, session=self.http, timeout=120)
        self.tag = run_tag if run_tag is not None else 0
        self.users: dict[str, str] = {}      # actor -> platform userNo
        self.projects: dict[str, str] = {}   # scenario name -> projectNo
        self.claims: dict[str, str] = {}     # scenario name -> claim id
        self.touched_days: set[str] = set()
        self.saved: dict[str, object] = {}   # values saved by http and gateway steps
        self.external = scenario.platform == "external"
        self.platform_no = scenario.platform_no or ""
        self.run_token = f"r{scenario.seed or 0}x{self.tag}"
        self.notification_floor = 0          # notifications with a higher id were queued during this run
        self.fault_ids: list[int] = []       # fault rules this run added: removed at its end
        self.cards: list[str] = []           # cards this run registered at the bank's counter
        self.config_restore: dict = {}       # the served platform's config this run changed, to put back
        # -v: every HTTP exchange behind a step, printed under it; -vv: with the bodies
        self.exchanges = exchanges.Recorder(bodies=verbose > 1) if verbose > 0 else None
        if self.exchanges is not None:
            self.exchanges.attach(self.http)
            if sandbox is not None:  # in process, the apps' own calls can be watched too
                self.exchanges.attach(sandbox.dispatcher.session, via="bank → platform")
                if sandbox.platform_ctx is not None:
                    self.exchanges.attach(sandbox.platform_ctx.bank.session, via="platform → bank")

    # -- http -------------------------------------------------------------
    @staticmethod
    def _call(client: SimClient, method: str, path: str, **kw):
        try:
            return client.request(method, path, **kw)
        except SimError as exc:
            message = exc.message
            if exc.status == 401:  # the server's text names its own side; say what this run sent
                message += ("; this run sent a credential that server does not accept" if client.headers else
                            "; this run sent none") + ": give --sim-token or set WANXIN_SIM_TOKEN"
            raise StepError(exc.code, message) from None

    def bank(self, method: str, path: str, **kw):
        return self._call(self.bank_client, method, path, **kw)

    def platform(self, method: str, path: str, **kw):
        return self._call(self.platform_client, method, path, **kw)

    # -- running ----------------------------------------------------------
    def run(self) -> RunResult:
        result = RunResult(self.s.path, self.s.name)
        started = time.perf_counter()
        try:
            return self._run(result, started)
        finally:
            self._clean_up()

    def _run(self, result: RunResult, started: float) -> RunResult:
        try:
            self._prepare()
        except (served.Refusal, StepError, requests.RequestException) as exc:
            result.error = f"{self.s.path}: cannot run on these servers: {_reason(exc)}"
            self.echo(f"  ✗ {result.error}")
            self._echo_exchanges()
            return result
        try:
            self._setup()
        except (StepError, requests.RequestException) as exc:
            undone = self._undo_setup()
            result.error = (f"{self.s.path}: setting up actors failed: {_reason(exc)}"
                            + (f" ({undone})" if undone else ""))
            self.echo(f"  ✗ {result.error}")
            self._echo_exchanges()
            return result
        self._mark_notifications()
        self._echo_exchanges("  setup:")
        total = len(self.s.steps)
        for step in self.s.steps:
            t0 = time.perf_counter()
            try:
                detail = self.execute(step) or ""
                ok = True
            except StepFailure as exc:
                ok, detail = False, str(exc)
            except StepError as exc:
                ok, detail = False, f"failed with {exc.code}: {exc.message}"
            except requests.RequestException as exc:
                ok, detail = False, _reason(exc)
            res = StepResult(step.number, step.line, step.name, ok, detail, time.perf_counter() - t0)
            result.steps.append(res)
            mark = "✓" if ok else "✗"
            self.echo(f"  {step.number:>3}/{total} {mark} {step.name}{(': ' + detail) if detail else ''}"
                      + ("" if ok else f"  [{step.where(self.s.path)}]"))
            self._echo_exchanges()
            if not ok and not self.keep_going:
                break
        result.seconds = time.perf_counter() - started
        return result

    # -- served mode: reproduce, and leave nothing behind ------------------
    def _prepare(self) -> None:
        """On servers started elsewhere, before anything is created: the scenario's config and clocks."""
        if self.sandbox is not None:
            return
        self._check_profile()
        if not self.external:
            self._apply_config()
        self._set_clocks()

    def _check_profile(self) -> None:
        """``profile:`` must be what the served bank speaks to the platform: a served pair's wire is fixed."""
        try:
            platforms = self.bank("GET", "/sim/platforms")
        except (StepError, requests.RequestException):
            return  # an unreachable or refusing bank is reported by the setup, as before
        if self.s.platform_no:
            platforms = [p for p in platforms if p["platformNo"] == self.s.platform_no] or platforms
        spoken = {p.get("profile", "modern") for p in platforms}
        if spoken and self.s.profile not in spoken:
            names = ", ".join(f"{p['platformNo']} ({p.get('profile', 'modern')})" for p in platforms)
            raise served.Refusal(f"the scenario runs on the {self.s.profile} wire (profile: {self.s.profile}) but the"
                                 f" served bank speaks {', '.join(sorted(spoken))} to {names}: serve the bank with"
                                 f" --profile {self.s.profile} and the platform with --bank-profile {self.s.profile}")

    def _apply_config(self) -> None:
        try:
            shown = self.platform("GET", "/sim/config")["config"]
        except StepError as exc:
            raise served.Refusal(f"the platform cannot take the scenario's config (GET /sim/config: {exc.message});"
                                 f" {served.describe(served.config_differences({}, self.s.config))}") from None
        differences = served.config_differences(shown, self.s.config)
        change = {served.WIRE_CONFIG[k]: want for k, (_have, want) in differences.items()}
        restore = {served.WIRE_CONFIG[k]: have for k, (have, _want) in differences.items()}
        # the daily job runs where the steps say (run_daily, run_repayments), as in process, not whenever
        # the served platform's background thread notices a moved clock
        if shown.get(served.DAILY_JOB, served.MANUAL) != served.MANUAL:
            change[served.DAILY_JOB], restore[served.DAILY_JOB] = served.MANUAL, shown[served.DAILY_JOB]
        if not change:
            return
        try:
            self.platform("POST", "/sim/config", json=change)
        except StepError as exc:
            raise served.Refusal(f"the platform refused the scenario's config ({exc.message}):"
                                 f" {served.describe(differences)}") from None
        self.config_restore = restore
        if differences:
            self.echo(f"  config applied to the served platform: {served.describe(differences)}")

    def _set_clocks(self) -> None:
        """``start:``, or (for a scenario that moves the clock) the next date with the scenario's calendar."""
        days = served.days_moved(self.s.steps)
        if self.s.start is None and days is None:
            return
        clocks = {"bank": self.bank_client} if self.external else {"bank": self.bank_client,
                                                                   "platform": self.platform_client}
        now = {side: dt.datetime.fromisoformat(self._call(c, "GET", "/sim/clock")["now"])
               for side, c in clocks.items()}
        ahead = max(now, key=lambda side: now[side])
        start = served.start_of(self.s)
        if self.s.start is None:
            target = served.calendar_start(start, now[ahead], days or 0)
            if target is None:
                raise served.Refusal(f"the {ahead}'s clock is at {now[ahead].isoformat()}: no later date has the"
                                     f" calendar of {start.date()} for {days} day(s) before"
                                     f" {clockrange.LATEST.date()}; give start: or reset both servers")
        else:
            target = start
            if target < now[ahead]:
                raise served.Refusal(f"start: {target.isoformat()} is before the {ahead}'s clock"
                                     f" ({now[ahead].isoformat()}) and a served clock never goes back (data is"
                                     f" written at that time); leave start: out to run at the next date with the"
                                     f" same calendar, or reset both servers")
        for side, client in clocks.items():
            try:
                self._call(client, "POST", "/sim/clock", json={"set": target.isoformat()})
            except StepError as exc:
                raise served.Refusal(f"the {side} refused to set its clock to {target.isoformat()}:"
                                     f" {exc.message}") from None
        if target != start:
            self.echo(f"  clocks set to {target.isoformat()} (the calendar of {start.date()})")

    def _undo_setup(self) -> str:
        """After a failed setup: remove the platform users and bank cards it created; what could not be."""
        left = []
        for actor, user_no in list(self.users.items()) if not self.external else []:
            try:
                self.platform("DELETE", f"/api/users/{user_no}")
                del self.users[actor]
            except (StepError, requests.RequestException) as exc:
                left.append(f"platform user {user_no}: {exc}")
        for card in list(self.cards):
            try:
                self.bank("DELETE", f"/sim/bank-cards/{card}")
                self.cards.remove(card)
            except (StepError, requests.RequestException) as exc:
                left.append(f"card {card}: {exc}")
        return ("left behind: " + "; ".join(left)) if left else ""

    def _clean_up(self) -> None:
        """Pass or fail: remove the fault rules this run added and put the served config back."""
        for rule_id in list(self.fault_ids):
            try:
                self.bank("DELETE", f"/sim/faults/{rule_id}")
            except StepError as exc:
                if exc.code != codes.NOT_FOUND:
                    self.echo(f"  ! could not remove fault rule {rule_id}: {exc.message}")
            except requests.RequestException as exc:
                self.echo(f"  ! could not remove fault rule {rule_id}: {type(exc).__name__}")
            self.fault_ids.remove(rule_id)
        if self.config_restore:
            try:
                self.platform("POST", "/sim/config", json=self.config_restore)
                self.config_restore = {}
            except (StepError, requests.RequestException) as exc:
                self.echo(f"  ! could not put the platform's config back ({self.config_restore}): {exc}")

    def _own_user_nos(self) -> set[str]:
        """The userNos of this run's actors that have an account (external: found by their cards)."""
        if self.external and len(self.users) < len(self.s.actors):
            cards = {identity(a.index, self.tag)["cardNumber"]: a.name for a in self.s.actors.values()}
            params = {"platformNo": self.platform_no} if self.platform_no else None
            for user in self.bank("GET", "/sim/accounts", params=params)["users"]:
                if user["cardNumber"] in cards:
                    self.users[cards[user["cardNumber"]]] = user["userNo"]
        return set(self.users.values())
    def _echo_exchanges(self, heading: str = "") -> None:
        if self.exchanges is None:
            return
        seen = self.exchanges.take()
        if seen and heading:
            self.echo(heading)
        for exchange in seen:
            for line in exchange.lines():
                self.echo(line)

    def _setup(self) -> None:
        if self.external:
            self._pick_platform()
        for actor in self.s.actors.values():
            who = identity(actor.index, self.tag)
            card = {"fullname": f"测试{actor.name}", **who, "bankCode": "ICBC", "balance": actor.card_balance}
            self._add_card(card)
            self.cards.append(card["cardNumber"])
            if self.external:
                continue  # a bank customer: the platform under test opens the account itself
            username = actor.name if not self.tag else f"{actor.name}-{self.tag}"
            user = self._add_user({"username": username, "role": actor.role, "fullname": card["fullname"], **who})
            self.users[actor.name] = user["userNo"]
        self._touch()

    # The actors' cards and platform users are the scenario's fixtures, not its flows. In process they are
    # made by the very services ``POST /sim/bank-cards`` and ``POST /api/users`` call (same checks, same
    # rows), without an HTTP exchange each: two per actor were ~10% of a 1,000-investor run.
    def _add_card(self, card: dict) -> dict:
        if self.sandbox is None:
            return self.bank("POST", "/sim/bank-cards", json=card)
        try:
            return counter.register_card(self.sandbox.bank_ctx, card)
        except BankError as exc:
            raise StepError(exc.code, exc.message) from None

    def _add_user(self, body: dict) -> dict:
        if self.sandbox is None or self.sandbox.platform_ctx is None:
            return self.platform("POST", "/api/users", json=body)
        try:
            return consumer.register(self.sandbox.platform_ctx, body)
        except PlatformError as exc:
            raise StepError(exc.code, exc.message) from None

    def _pick_platform(self) -> None:
        """``platform_no:`` must be registered at the bank; without it, the bank's only platform."""
        known = [p["platformNo"] for p in self.bank("GET", "/sim/platforms")]
        if self.platform_no and self.platform_no not in known:
            hint = "" if self.sandbox is None else (
                f" (the bank runs in process: give --platform no={self.platform_no},key=PATH,notify=URL to have it"
                " trust your platform, or --bank-url URL to run against a served bank)")
            raise StepError("PLATFORM_NOT_FOUND", f"the bank has no platform {self.platform_no!r}"
                            f"{templating.did_you_mean(self.platform_no, known)}; it has {', '.join(known) or 'none'}"
                            + hint)
        if not self.platform_no:
            if len(known) != 1:
                raise StepError("PLATFORM_AMBIGUOUS", f"the bank has platforms {', '.join(known) or 'none'}:"
                                " give platform_no: at the top of the scenario")
            self.platform_no = known[0]

    def _touch(self) -> None:
        if self.external:
            return
        self.touched_days.add(self.platform("GET", "/sim/clock")["now"][:10])

    def execute(self, step: spec.Step) -> str:
        handler = getattr(self, spec.STEPS[step.name].runner)
        out = handler(templating.substitute(step.arg, self._lookup))
        if not step.name.startswith("expect_"):
            self._touch()
        return out

    # -- templating -------------------------------------------------------
    def _lookup(self, name: str):
        if name == "run":
            return self.run_token
        if name in self.saved:
            return self.saved[name]
        if name in self.s.variables:
            return self.s.variables[name]
        who, _, what = name.rpartition(".")
        if who in self.s.actors and what in templating.ACTOR_FIELDS:
            if what == "userNo":
                return self._user_no(who)
            if what == "fullname":
                return f"测试{who}"
            return identity(self.s.actors[who].index, self.tag)[what]
        raise StepFailure(f"${{{name}}} has no value (a step that saves it did not run?)")

    def _user_no(self, actor: str) -> str:
        """The actor's userNo: the platform's (built-in), or the bank's account bound to the actor's card."""
        if actor not in self.users and self.external:
            card = identity(self.s.actors[actor].index, self.tag)["cardNumber"]
            params = {"platformNo": self.platform_no} if self.platform_no else None
            for user in self.bank("GET", "/sim/accounts", params=params)["users"]:
                if user["cardNumber"] == card:
                    self.users[actor] = user["userNo"]
        if actor not in self.users:
            raise StepFailure(f"{actor} has no account at the bank yet (open one first)")
        return self.users[actor]

    # -- gateway helper ---------------------------------------------------
    def _gateway(self, gateway_request: dict, password: str) -> dict:
        try:
            done = self.agent.complete(gateway_request, password)
        except GatewayError as exc:
            raise StepError(self._bank_code(gateway_request) or str(exc.status), str(exc)) from None
        self.deliver()
        if done["code"] != 0:
            raise StepError(self._bank_code(gateway_request) or _code_for(done["msg"]), done["msg"] or "refused")
        return done

    def _bank_code(self, gateway_request: dict) -> str:
        request_no = json.loads(base64.b64decode(gateway_request["reqData"]))["requestNo"]
        try:
            rows = self.bank("GET", f"/sim/requests/{request_no}")
        except StepError:
            return ""
        return rows[0].get("respCode") or "" if rows else ""

    def deliver(self) -> int:
        if self.sandbox is not None:
            return len(self.sandbox.deliver_notifications())
        return len(self.bank("POST", "/sim/notifications/dispatch")["attempts"])

    # -- notifications ----------------------------------------------------
    def _mark_notifications(self) -> None:
        """Remember the newest notification before the first step, so waiting sees only the run's own."""
        if not any(step.name == "wait_for_notification" for step in self.s.steps):
            return
        notes = self._notifications()
        self.notification_floor = max((n["id"] for n in notes), default=0)

    def _notifications(self) -> list[dict]:
        params = {"platformNo": self.platform_no} if self.platform_no else None
        return self.bank("GET", "/sim/notifications", params=params)

    def step_wait_for_notification(self, arg: dict) -> str:
        """Dispatch until the run's newest notification of ``service`` (for ``user``) is acknowledged.

        Due attempts go out as the bank's dispatcher sends them; a notification waiting out its backoff
        is made due now (``POST /sim/notifications/{id}/due``), so the bank's clock never moves and its
        retry ladder counts every attempt (a platform that never answers OK is dead-lettered as usual).
        Between attempts the platform gets a little real time, at most ``timeout_s`` in all."""
        service = str(arg["service"])
        user_no = self._user_no(str(arg["user"])) if "user" in arg else None
        timeout = float(arg.get("timeout_s", WAIT_TIMEOUT_S))
        started = time.monotonic()
        pause = 0.02
        while True:
            self.deliver()
            note = self._newest(service, user_no)
            if note is not None and note["state"] == "DELIVERED":
                return f"{service} {note['requestNo']} acknowledged after {note['attempts']} attempt(s)"
            spent = time.monotonic() - started
            if (note is not None and note["state"] != "PENDING") or spent >= timeout:
                whose = f" for {arg['user']} ({user_no})" if user_no else ""
                if note is None:
                    raise StepFailure(f"no {service} notification{whose} was queued during this run"
                                      f" (waited {spent:.1f} s)")
                raise StepFailure(_note_story(note) + (f" after waiting {spent:.1f} s" if note["state"] == "PENDING"
                                                       else ""))
            if note is not None:
                try:
                    self.bank("POST", f"/sim/notifications/{note['id']}/due")
                except StepError:
                    pass  # settled meanwhile (the served bank's own dispatcher): the next listing says how
            time.sleep(min(pause, max(0.0, timeout - spent)))  # real time for the platform to come round
            pause = min(pause * 2, 0.5)

    def _newest(self, service: str, user_no: Optional[str]) -> Optional[dict]:
        for note in self._notifications():  # newest first
            if note["id"] <= self.notification_floor or note["serviceName"] != service:
                continue
            payload = note.get("payload")
            if user_no is None or isinstance(payload, dict) and payload.get("userNo") == user_no:
                return note
        return None

    # -- action steps -----------------------------------------------------
    def step_open_account(self, name: str) -> str:
        members = self.s.members(name)
        group = len(members) > GROUP_LISTING
        for member in members:
            actor = self.s.actors[member]
            g = self.platform("POST", f"/api/users/{self.users[member]}/open-account")
            self._gateway(g, actor.password)
            if not group:
                self._expect_open([member], {})
        if group:  # one listing (without bank balances) instead of a request per member
            self._expect_open(members, {u["userNo"]: u for u in self.platform("GET", "/api/users")})
        return name

    def _expect_open(self, members: list[str], listed: dict) -> None:
        for member in members:
            user = listed.get(self.users[member]) or self.platform("GET", f"/api/users/{self.users[member]}")
            if user["status"] != "OPEN":
                raise StepError("NOT_OPEN", f"{member}'s account is {user['status']} after the bank's notification")

    def _money_flow(self, kind: str, arg: dict) -> str:
        for member in self.s.members(arg["user"]):
            g = self.platform("POST", f"/api/users/{self.users[member]}/{kind}", json={"amount": str(arg["amount"])})
            self._gateway(g, str(arg.get("password", self.s.actors[member].password)))
        return f"{arg['user']} {arg['amount']}"

    def step_recharge(self, arg: dict) -> str:
        return self._money_flow("recharges", arg)

    def step_withdraw(self, arg: dict) -> str:
        return self._money_flow("withdrawals", arg)

    def step_deposit_card(self, arg: dict) -> str:
        for member in self.s.members(arg["user"]):
            card = identity(self.s.actors[member].index, self.tag)["cardNumber"]
            self.bank("POST", f"/sim/bank-cards/{card}/deposit", json={"amount": str(arg["amount"])})
        return f"{arg['user']} card +{arg['amount']}"

    def step_create_project(self, arg: dict) -> str:
        body = {"borrower": self.users[arg["borrower"]], "name": self._project_name(arg["name"]),
                "amount": str(arg["amount"]), "periods": arg["periods"], "method": arg["method"]}
        if "annual_rate" in arg:
            body["annualRate"] = str(arg["annual_rate"])
        self.projects[arg["name"]] = self.platform("POST", "/api/projects", json=body)["projectNo"]
        return arg["name"]

    def _project_name(self, name: str) -> str:
        return name if not self.tag else f"{name}-{self.tag}"

    def step_approve_project(self, name: str) -> str:
        self.platform("POST", f"/api/projects/{self.projects[name]}/approve")
        return name

    def step_tender(self, arg: dict) -> str:
        for member in self.s.members(arg["user"]):
            self.platform("POST", f"/api/projects/{self.projects[arg['project']]}/tenders",
                          json={"userNo": self.users[member], "amount": str(arg["amount"])})
        return f"{arg['user']} → {arg['project']} {arg['amount']}"

    def step_approve_loan(self, arg: dict) -> str:
        body = {"commission": str(arg["commission"])} if "commission" in arg else {}
        self.platform("POST", f"/api/projects/{self.projects[arg['project']]}/loan", json=body)
        return arg["project"]

    def step_reject_project(self, name: str) -> str:
        self.platform("POST", f"/api/projects/{self.projects[name]}/reject")
        return name

    def step_advance_days(self, days: int) -> str:
        # One move per clock: moving a clock does nothing else, so N one-day moves were N times the
        # requests for the same instant (the day the step ends on is the one the scenario touched).
        seconds = days * 86400
        self.bank("POST", "/sim/clock", json={"advance_seconds": seconds})
        now = self.platform("POST", "/sim/clock", json={"advance_seconds": seconds})["now"]
        return f"{days} day(s) → {now[:10]}"

    def step_run_repayments(self, _arg) -> str:
        report = self.platform("POST", "/api/jobs/repayments")
        return f"paid {len(report['paid'])}, overdue {len(report['overdue'])}, unknown {len(report['unknown'])}"

    def step_run_daily(self, _arg) -> str:
        report = self.platform("POST", "/api/jobs/daily")
        return f"paid {len(report['repayments']['paid'])}, recovered {len(report['recovery']['resolved'])}"

    def step_recover(self, _arg) -> str:
        report = self.platform("POST", "/api/jobs/recover")
        return f"resolved {len(report['resolved'])}, unresolved {len(report['unresolved'])}"

    def step_deliver_notifications(self, _arg) -> str:
        return f"{self.deliver()} attempt(s)"

    def step_fault(self, rule: dict) -> str:
        rule = dict(rule)
        if isinstance(rule.get("userNo"), str) and rule["userNo"] in self.s.actors:
            rule["userNo"] = self._user_no(rule["userNo"])
        made = self.bank("POST", "/sim/faults", json=rule)
        self.fault_ids.append(int(made["id"]))
        return f"rule {made['id']} {made['action']}"

    def step_clear_faults(self, _arg) -> str:
        """The rules this run added (on a shared bank, other runs' rules stay)."""
        cleared = 0
        for rule_id in list(self.fault_ids):
            try:
                self.bank("DELETE", f"/sim/faults/{rule_id}")
                cleared += 1
            except StepError as exc:
                if exc.code != codes.NOT_FOUND:
                    raise
            self.fault_ids.remove(rule_id)
        return f"cleared {cleared}"

    def step_list_claim(self, arg: dict) -> str:
        body = {"userNo": self.users[arg["user"]], "projectNo": self.projects[arg["project"]],
                "amount": str(arg["amount"])}
        for key, wire in (("price", "price"), ("fee_rate", "feeRate")):
            if key in arg:
                body[wire] = str(arg[key])
        self.claims[arg["name"]] = self.platform("POST", "/api/claims", json=body)["claimNo"]
        return arg["name"]

    def step_buy_claim(self, arg: dict) -> str:
        confirm = bool(arg.get("confirm", True))
        self.platform("POST", f"/api/claims/{self.claims[arg['claim']]}/buy",
                      json={"userNo": self.users[arg["user"]], "confirm": confirm})
        return f"{arg['user']} {'buys' if confirm else 'reserves'} {arg['claim']}"

    def step_cancel_claim(self, arg: dict) -> str:
        self.platform("POST", f"/api/claims/{self.claims[arg['claim']]}/cancel")
        return arg["claim"]

    # -- expectations -----------------------------------------------------
    def step_expect_balance(self, arg: dict) -> str:
        problems = []
        members = sum(len(self.s.members(who)) for who in arg)
        # A group may have thousands of members: one listing then, not a request each.
        listed = {u["userNo"]: u for u in self.bank("GET", "/sim/accounts")["users"]} \
            if members > GROUP_LISTING else {}
        for who, expected in arg.items():
            for member in self.s.members(who):
                user_no = self._user_no(member)
                actual = listed.get(user_no) or self.bank("GET", f"/sim/accounts/{user_no}")
                for key, value in expected.items():
                    want = _yuan(value)
                    if actual[key] != want:
                        problems.append(f"{member}.{key} expected {want}, actual {actual[key]}")
        if problems:
            more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
            raise StepFailure("; ".join(problems[:10]) + more)
        return f"{sum(len(self.s.members(w)) for w in arg)} account(s) as expected"

    def step_expect_project(self, arg: dict) -> str:
        problems = []
        for name, status in arg.items():
            actual = self.platform("GET", f"/api/projects/{self.projects[name]}")["status"]
            if actual != str(status):
                problems.append(f"{name} expected {status}, actual {actual}")
        if problems:
            raise StepFailure("; ".join(problems))
        return ", ".join(f"{k}={v}" for k, v in arg.items())

    def step_expect_plan(self, arg: dict) -> str:
        plans = self.platform("GET", f"/api/projects/{self.projects[arg['project']]}")["plans"]
        match = [p for p in plans if p["period"] == arg["period"]]
        actual = match[0]["status"] if match else "missing"
        if actual != arg["status"]:
            raise StepFailure(f"{arg['project']} period {arg['period']} expected {arg['status']}, actual {actual}")
        return f"{arg['project']}#{arg['period']} {actual}"

    def step_expect_notifications(self, arg: dict) -> str:
        params = {"platformNo": self.platform_no} if self.platform_no else None
        notes = self.bank("GET", "/sim/notifications", params=params)
        if self.sandbox is None:  # on a shared bank, only this run's notifications count
            own = self._own_user_nos()
            notes = [n for n in notes if isinstance(n.get("payload"), dict) and n["payload"].get("userNo") in own]
        if "service" in arg:
            notes = [n for n in notes if n["serviceName"] == arg["service"]]
        if "user" in arg:
            user_no = self._user_no(arg["user"])
            notes = [n for n in notes if isinstance(n.get("payload"), dict) and n["payload"].get("userNo") == user_no]
        states = [n["state"] for n in notes]
        problems = []
        for key, value in arg.items():
            if key in ("service", "user"):
                continue
            actual = states.count(key.upper())
            if actual != value:
                problems.append(f"{key} expected {value}, actual {actual}")
        if problems:
            raise StepFailure("; ".join(problems))
        return ", ".join(f"{k}={v}" for k, v in arg.items())

    def step_expect_ledger_sound(self, _arg) -> str:
        result = self.bank("GET", "/sim/ledger/verify")
        if not result["sound"]:
            raise StepFailure("ledger broken: " + "; ".join(p["detail"] for p in result["problems"][:5]))
        return "ledger sound"

    def step_expect_error(self, arg: dict) -> str:
        inner: spec.Step = arg["step"]
        before = self._state()
        try:
            self.execute(inner)
        except StepError as exc:
            want = str(arg.get("code", ""))
            if want and exc.code != want and not exc.code.endswith("_" + want):
                raise StepFailure(f"{inner.name} failed with {exc.code} ({exc.message}),"
                                  f" expected code {want}") from None
            after = self._state()
            if after != before:
                raise StepFailure(f"{inner.name} failed with {exc.code} but changed balances or holds") from None
            return f"{inner.name} refused with {exc.code}"
        raise StepFailure(f"{inner.name} succeeded, expected an error" + (f" {arg['code']}" if "code" in arg else ""))

    def step_expect_unknown(self, arg: dict) -> str:
        """The wrapped step must end with the outcome unknown to the platform (the bank may have acted)."""
        inner: spec.Step = arg["step"]
        try:
            self.execute(inner)
        except StepError as exc:
            if exc.code != "OUTCOME_UNKNOWN":
                raise StepFailure(f"{inner.name} failed with {exc.code}, expected OUTCOME_UNKNOWN") from None
            return f"{inner.name}: outcome unknown to the platform"
        raise StepFailure(f"{inner.name} succeeded, expected its outcome to stay unknown")

    # -- steps for any platform -------------------------------------------
    def _url(self, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return url
        if not self.platform_url:
            raise StepFailure(f"{url!r} is not an absolute URL and there is no --platform-url to join it to")
        return self.platform_url + "/" + url.lstrip("/")

    def step_http(self, arg: dict) -> str:
        method, url = str(arg["method"]).upper(), self._url(str(arg["url"]))
        kw = {k: arg[k] for k in ("json", "params", "headers") if k in arg}
        if not str(arg["url"]).startswith(("http://", "https://")):
            # a relative URL is the scenario's own platform, reached as the runner reaches it (the operator
            # credential goes only there, never to an absolute URL)
            given = {str(k): str(v) for k, v in kw.get("headers", {}).items()}
            kw["headers"] = {**self.platform_client.headers, **given}
        if "form" in arg:
            kw["data"] = arg["form"]
        t0 = time.perf_counter()
        resp = self.http.request(method, url, timeout=120, allow_redirects=False, **kw)
        ms = (time.perf_counter() - t0) * 1000
        expect = arg.get("expect") or {}
        problems = []
        want = expect.get("status")
        if want is not None and resp.status_code != int(want):
            problems.append(f"status expected {want}, actual {resp.status_code}")
        elif want is None and resp.status_code >= 400:
            problems.append(f"status {resp.status_code} (give expect.status to expect an error)")
        body = _json_or_none(resp)
        if "json" in expect:
            if body is None:
                problems.append("expected a JSON answer, got none")
            else:
                problems += _subset(expect["json"], body, "json")
        if "body_contains" in expect and expect["body_contains"] not in resp.text:
            problems.append(f"body does not contain {expect['body_contains']!r}")
        if problems:
            raise StepFailure("; ".join(problems) + "\n" + _exchange(method, url, kw, resp))
        for name, path in (arg.get("save") or {}).items():
            try:
                self.saved[name] = _pick(resp, body, str(path))
            except LookupError as exc:
                raise StepFailure(f"save {name}: {exc}\n" + _exchange(method, url, kw, resp)) from None
        return f"{method} {url} → {resp.status_code} ({ms:.0f} ms)"

    def step_expect_request(self, arg: dict) -> str:
        request_no, want = str(arg["request_no"]), str(arg["status"])
        params = {"platformNo": self.platform_no} if self.platform_no else None
        try:
            rows = self.bank("GET", f"/sim/requests/{request_no}", params=params)
        except StepError as exc:
            if exc.code != codes.TRANSACTION_NOT_FOUND:
                raise
            rows = []
        actual = _REQUEST_STATUS.get(rows[0]["status"], str(rows[0]["status"])) if rows else "NOT_FOUND"
        code = (rows[0].get("respCode") or "") if rows else ""
        if actual != want:
            raise StepFailure(f"request {request_no} expected {want}, the bank holds {actual}"
                              + (f" ({code})" if code else ""))
        if "code" in arg and code != str(arg["code"]):
            raise StepFailure(f"request {request_no} is {actual} with code {code or 'none'}, expected {arg['code']}")
        return f"{request_no} {actual}" + (f" {code}" if code else "")

    def step_gateway(self, arg: dict) -> str:
        outcome = str(arg.get("outcome", "success"))
        try:
            url, fields = gateway_user.parse_request(arg["request"], self.bank_url)
            done = gateway_user.complete(gateway_user.RequestsBrowser(self.http), url, fields, str(arg["password"]),
                                         None if arg.get("confirm_password") is None else str(arg["confirm_password"]),
                                         outcome)
        except GatewayError as exc:
            raise StepError("GATEWAY", exc.message) from None
        self.deliver()
        if "expect_code" in arg:
            if str(done["code"]) != str(arg["expect_code"]):
                raise StepFailure(f"the callback's code is {done['code']} ({done['msg']}),"
                                  f" expected {arg['expect_code']}")
        elif outcome == "success" and done["code"] != 0:
            raise StepError(str(done["code"]), done["msg"] or "refused")
        for name, what in (arg.get("save") or {}).items():
            self.saved[name] = _request_no(fields) if what == "request_no" else done[what]
        return f"{fields['serviceName']} {outcome} → code {done['code']}"

    def _state(self) -> tuple:
        """This run's actors' accounts, cards and holds (in process also the platform's fee account)."""
        own, cards = self._own_user_nos(), set(self.cards)
        accounts = self.bank("GET", "/sim/accounts")
        holds = [h for h in self.bank("GET", "/sim/holds") if h["userNo"] in own]
        mine = {"users": [u for u in accounts["users"] if u["userNo"] in own],
                "cards": [c for c in accounts["cards"] if c["cardNumber"] in cards],
                "platformAccounts": accounts["platformAccounts"] if self.sandbox is not None else []}
        return (json.dumps(mine, sort_keys=True), json.dumps(holds, sort_keys=True))

    def step_expect_reconciled(self, arg) -> str:
        if arg is False:
            raise StepFailure("expect_reconciled: false is not meaningful; list the expected breaks instead")
        days = sorted(self.touched_days) if arg is True or "date" not in arg else [str(arg["date"])]
        auto = True if arg is True else bool(arg.get("auto_resolve", True))
        found: list[tuple[str, str]] = []
        for day in days:
            report = self.platform("POST", "/api/reconciliations",
                                   json={"date": day, "autoResolve": auto, "checkBalances": day == days[-1]})
            found += [(b["kind"], b.get("userNo", "")) for b in report["breaks"] if self._concerns_run(b)]
        if arg is True:
            if found:
                raise StepFailure(f"expected no breaks on {', '.join(days)}, found {self._names(found)}")
            return f"{len(days)} day(s) reconciled, no breaks"
        expected = [(b["kind"], self.users[b["user"]] if b.get("user") else None) for b in arg.get("breaks", [])]
        left = list(found)
        missing = []
        for kind, user in sorted(expected, key=lambda e: e[1] is None):  # exact users first
            match = next((f for f in left if f[0] == kind and (user is None or f[1] == user)), None)
            if match is None:
                missing.append((kind, user or ""))
            else:
                left.remove(match)
        if missing or left:
            raise StepFailure(f"expected breaks {self._names([(k, u or '') for k, u in expected])},"
                              f" found {self._names(found)}")
        return f"{len(days)} day(s), breaks as expected: {self._names(found)}"

    def _concerns_run(self, brk: dict) -> bool:
        """A break about this run's users or requests (a shared platform reconciles everyone's day);
        one about the file as a whole concerns every run. In process every break is the run's."""
        if self.sandbox is not None:
            return True
        own = self._own_user_nos()
        if brk.get("userNo"):
            return brk["userNo"] in own
        if not brk.get("requestNo"):
            return True
        try:
            rows = self.bank("GET", f"/sim/requests/{brk['requestNo']}")
        except StepError:
            return False
        return any(isinstance(r.get("payload"), dict) and r["payload"].get("userNo") in own for r in rows)

    def _names(self, items) -> str:
        names = {v: k for k, v in self.users.items()}
        return "[" + ", ".join(k + (f"@{names.get(u, u)}" if u else "") for k, u in items) + "]" if items else "none"


#: How long ``wait_for_notification`` waits (real seconds) unless the step gives ``timeout_s``.
WAIT_TIMEOUT_S = 10.0


def _note_story(note: dict) -> str:
    """What happened to a notification: its state, attempts and the last attempt's outcome."""
    story = f"{note['serviceName']} notification {note['id']} (requestNo {note['requestNo']}) is {note['state']}" \
            f" after {note['attempts']} attempt(s)"
    history = note.get("history") or []
    if history:
        last = history[-1]
        error, status = (last.get("error") or "acknowledged")[:200], last.get("http_status")
        if status is not None and f"HTTP {status}" not in error:
            error += f" (HTTP {status})"
        body = (last.get("body") or "").strip()[:200]
        story += f"; last attempt at {last['attempted_at']}: {error}" + (f", body {body!r}" if body else "")
    if note["state"] == "PENDING":
        story += f"; next attempt due {note['nextAttemptAt']} (bank clock)"
    return story


#: The bank's ``requests.status`` (0 processing, 1 success, 2 failure) as a scenario writes it.
_REQUEST_STATUS = {0: "PROCESSING", 1: "SUCCESS", 2: "FAILURE"}


def _reason(exc: Exception) -> str:
    """One readable line for a failure; for a server that did not answer, which one and why."""
    if not isinstance(exc, requests.RequestException):
        return str(exc)
    where = ""
    if exc.request is not None and exc.request.url:
        parts = urlsplit(str(exc.request.url))
        where = f" {parts.scheme}://{parts.netloc} ({exc.request.method} {parts.path})"
    return f"could not reach{where}: {why_unreachable(exc)}"


def _request_no(fields: dict) -> str:
    try:
        return str(json.loads(base64.b64decode(fields["reqData"]))["requestNo"])
    except (ValueError, KeyError, TypeError):
        return ""


def _json_or_none(resp: requests.Response):
    try:
        return resp.json()
    except ValueError:
        return None


def _subset(want, got, where: str) -> list[str]:
    """Where ``got`` differs from ``want``: every key of a mapping must be equal, lists element by element."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{where} expected a mapping, actual {json.dumps(got, ensure_ascii=False)[:200]}"]
        out = []
        for key, value in want.items():
            if key not in got:
                out.append(f"{where}.{key} missing")
            else:
                out += _subset(value, got[key], f"{where}.{key}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{where} expected a list of {len(want)}, actual {json.dumps(got, ensure_ascii=False)[:200]}"]
        return [p for i, (w, g) in enumerate(zip(want, got)) for p in _subset(w, g, f"{where}.{i}")]
    if want != got:
        return [f"{where} expected {want!r}, actual {got!r}"]
    return []


def _pick(resp: requests.Response, body, path: str):
    """``status``, ``headers.NAME`` or a dotted path into the JSON answer (``data.items.0.userNo``)."""
    if path == "status":
        return resp.status_code
    if path == "body":
        if body is None:
            raise LookupError("the answer is not JSON")
        return body
    if path.startswith("headers."):
        name = path[len("headers."):]
        if name not in resp.headers:
            raise LookupError(f"no header {name}")
        return resp.headers[name]
    value = body
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise LookupError(f"the answer has no {path} (stopped at {part!r})")
    return value


def _exchange(method: str, url: str, kw: dict, resp: requests.Response) -> str:
    sent = kw.get("json", kw.get("data", kw.get("params")))
    return (f"    request: {method} {url}" + (f" {json.dumps(sent, ensure_ascii=False)[:2048]}" if sent else "")
            + f"\n    response: {resp.status_code}\n    {resp.text[:2048]}")


def _yuan(value) -> str:
    from bank_depository.protocol.money import format_fen, parse_yuan
    return format_fen(parse_yuan(value if not isinstance(value, float) else repr(value), allow_zero=True))


def _code_for(message: str) -> str:
    for c in codes.BY_CODE.values():
        if message.startswith(c.message):
            return c.code
    return "GATEWAY_REFUSED"


def run_file(path: str | Path, *, bank_url: Optional[str] = None, platform_url: Optional[str] = None,
             keep: Optional[Path] = None, echo: Callable[[str], None] = print, keep_going: bool = False,
             after: Optional[Callable[[Runner], None]] = None, sim_token: Optional[str] = None,
             variables: Optional[dict] = None, platforms: Optional[list[dict]] = None,
             verbose: int = 0) -> RunResult:
    """Validate and run one scenario file; servers start in process unless URLs are given.

    With ``platform: external`` only the bank starts (or ``bank_url`` is used), and nothing calls the
    built-in platform; ``platforms`` (bank config entries) are the platforms the in-process bank trusts.

    ``after(runner)`` is called once the steps ran, while the servers still run. ``verbose`` 1 prints
    every HTTP exchange under its step, 2 also their bodies.
    """
    scenario = spec.load(path, variables=variables)
    echo(f"▶ {scenario.name}  ({path})")
    if scenario.platform == "external" and bank_url:
        runner = Runner(scenario, bank_url=bank_url, platform_url=platform_url or "", echo=echo,
                        keep_going=keep_going, run_tag=random.SystemRandom().randrange(1, 10**6), sim_token=sim_token,
                        verbose=verbose)
        result = runner.run()
        if after:
            after(runner)
        return _finish(result, echo)
    if bank_url and platform_url:
        runner = Runner(scenario, bank_url=bank_url, platform_url=platform_url, echo=echo, keep_going=keep_going,
                        run_tag=random.SystemRandom().randrange(1, 10**6), sim_token=sim_token,
                        verbose=verbose)
        result = runner.run()
        if after:
            after(runner)
        return _finish(result, echo)
    config = {"BORROWER_COMMISSION_RATE": scenario.config["borrower_commission_rate"],
              "INVESTOR_COMMISSION_RATE": scenario.config["investor_commission_rate"],
              "MIN_TENDER": scenario.config["min_tender"],
              "WITHDRAW_COMMISSION": scenario.config["withdraw_commission"]}
    workdir = None
    if keep is not None:
        workdir = Path(keep) / Path(path).stem
        if workdir.exists() and any(workdir.iterdir()):
            raise spec.ScenarioError(f"{workdir} is not empty; --keep needs a fresh directory")
    external = scenario.platform == "external"
    if platforms and not external:
        raise spec.ScenarioError(f"{path}: --platform is for a scenario with platform: external")
    with Sandbox(workdir, platform_config=config, seed=scenario.seed if scenario.seed is not None else 0,
                 profile=scenario.profile, with_platform=not external, platforms=platforms,
                 start=scenario.start or served.DEFAULT_START) as sb:
        if external:  # the platform under test is not ours: it must reach this bank, which listens only now
            echo(f"  bank in process at {sb.bank_url}")
        runner = Runner(scenario, bank_url=sb.bank_url, platform_url=(platform_url or "") if external
                        else sb.platform_url, sandbox=sb, echo=echo, keep_going=keep_going, verbose=verbose)
        result = runner.run()
        if after:
            after(runner)
    return _finish(result, echo)


def _finish(result: RunResult, echo: Callable[[str], None]) -> RunResult:
    passed = sum(1 for s in result.steps if s.ok)
    failed = sum(1 for s in result.steps if not s.ok)
    verdict = "PASSED" if result.ok else "FAILED"
    echo(f"  {verdict}: {passed} step(s) passed, {failed} failed in {result.seconds:.2f}s")
    return result
