"""Deterministic fault injection: rules are data, matched at the edges only.

A rule is a JSON object with an ``action`` and optional matchers:

* request actions (``/service`` and the gateway confirmation):
  ``reject`` (with ``code``) before anything changes, ``lose_response``
  (commit, then answer 504 with no body), ``delay`` (``seconds``, then answer);
* notification actions (the dispatcher): ``drop_notification`` (never sent),
  ``duplicate_notification`` (sent twice), ``delay_notification``
  (``seconds`` later on the bank's clock), ``reorder_notifications`` (the due
  batch is sent in reverse order).

Matchers: ``service``, ``bizType``, ``userNo``; ``nth`` fires from the nth
matching call on (1-based); ``times`` fires that many times (default 1, -1 =
always); ``probability`` with ``seed`` fires by a seeded draw per matching
call, so a soak run reproduces exactly. Rules live in the database so every
worker process shares their counters; every firing is logged with its rule.
Faults never touch the ledger, so ``verify`` stays clean under any rule.
"""
from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from typing import Callable, Optional

from .protocol import codes

REQUEST_ACTIONS = frozenset({"reject", "lose_response", "delay"})
NOTIFICATION_ACTIONS = frozenset({"drop_notification", "duplicate_notification", "delay_notification",
                                  "reorder_notifications"})
ACTIONS = REQUEST_ACTIONS | NOTIFICATION_ACTIONS
KEYS = {"action", "code", "seconds", "service", "bizType", "userNo", "nth", "times", "probability", "seed",
        "message"}
MAX_DELAY_SECONDS = 120


class FaultRuleError(ValueError):
    """A rule that cannot be used; the message says which key is wrong."""


def validate(rule: dict) -> dict:
    if not isinstance(rule, dict):
        raise FaultRuleError("a fault rule is a JSON object")
    unknown = set(rule) - KEYS
    if unknown:
        raise FaultRuleError(f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(KEYS))}")
    action = rule.get("action")
    if action not in ACTIONS:
        raise FaultRuleError(f"action must be one of {', '.join(sorted(ACTIONS))}")
    clean = {"action": action}
    if action == "reject":
        code = str(rule.get("code", codes.EXCEPTION))
        if code == codes.SUCCESS or not code.isdigit():
            raise FaultRuleError("reject needs a non-success numeric code")
        clean["code"] = code
        if rule.get("message"):
            clean["message"] = str(rule["message"])
    if action in ("delay", "delay_notification"):
        seconds = rule.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds:
            raise FaultRuleError(f"{action} needs seconds > 0")
        if action == "delay" and seconds > MAX_DELAY_SECONDS:
            raise FaultRuleError(f"delay is at most {MAX_DELAY_SECONDS} seconds")
        clean["seconds"] = seconds
    for key in ("service", "bizType", "userNo"):
        if rule.get(key) is not None:
            clean[key] = str(rule[key])
    for key, low in (("nth", 1), ("times", -1)):
        if rule.get(key) is not None:
            value = rule[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < low or value == 0:
                or_minus_one = " or -1" if key == "times" else ""
                raise FaultRuleError(f"{key} must be an integer >= {max(low, 1)}{or_minus_one}")
            clean[key] = value
    clean.setdefault("times", 1)
    if rule.get("probability") is not None:
        prob = rule["probability"]
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob <= 1:
            raise FaultRuleError("probability must be in (0, 1]")
        if rule.get("seed") is None:
            raise FaultRuleError("probability needs a seed (runs must reproduce)")
        clean["probability"] = prob
        clean["seed"] = rule["seed"]
    return clean


@dataclass(frozen=True)
class Fired:
    rule_id: int
    rule: dict

    @property
    def action(self) -> str:
        return self.rule["action"]


class FaultBook:
    """Fault rules and their log in the bank's database."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], now_iso: Callable[[], str]):
        self._connect = connect
        self._now_iso = now_iso

    def add(self, rule: dict) -> dict:
        clean = validate(rule)
        conn = self._connect()
        rule_id = conn.execute("INSERT INTO fault_rules (rule, created_at) VALUES (?, ?)",
                               (json.dumps(clean, ensure_ascii=False), self._now_iso())).lastrowid
        return {"id": rule_id, **clean}

    def rules(self) -> list[dict]:
        rows = self._connect().execute("SELECT * FROM fault_rules ORDER BY id").fetchall()
        return [{"id": r["id"], **json.loads(r["rule"]), "matched": r["matched"], "fired": r["fired"]} for r in rows]

    def clear(self) -> int:
        return self._connect().execute("DELETE FROM fault_rules").rowcount

    def remove(self, rule_id: int) -> dict:
        """Remove one rule; its past firings stay in the log."""
        if not self._connect().execute("DELETE FROM fault_rules WHERE id = ?", (rule_id,)).rowcount:
            raise LookupError(f"no fault rule {rule_id}")
        return {"removed": rule_id}

    def log(self, limit: int = 200) -> list[dict]:
        rows = self._connect().execute("SELECT * FROM fault_log ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) | {"rule": json.loads(r["rule"])} for r in rows]

    def has_rules(self) -> bool:
        return self._connect().execute("SELECT 1 FROM fault_rules LIMIT 1").fetchone() is not None

    def fire(self, actions: frozenset, *, service: str = "", biz_type: str = "", user_no: str = "",
             request_no: str = "") -> Optional[Fired]:
        """The first rule among ``actions`` that matches and fires now (counters updated, firing logged)."""
        conn = self._connect()
        if not self.has_rules():
            return None
        conn.execute("BEGIN IMMEDIATE")
        try:
            fired = None
            for row in conn.execute("SELECT * FROM fault_rules ORDER BY id").fetchall():
                rule = json.loads(row["rule"])
                if rule["action"] not in actions or not _matches(rule, service, biz_type, user_no):
                    continue
                matched = row["matched"] + 1
                go = matched >= rule.get("nth", 1) and (rule["times"] == -1 or row["fired"] < rule["times"])
                if go and "probability" in rule:
                    go = random.Random(f"{rule['seed']}:{matched}").random() < rule["probability"]
                conn.execute("UPDATE fault_rules SET matched = ?, fired = fired + ? WHERE id = ?",
                             (matched, int(go), row["id"]))
                if go:
                    conn.execute("INSERT INTO fault_log (rule_id, rule, action, service, request_no, detail, fired_at)"
                                 " VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (row["id"], row["rule"], rule["action"], service, request_no,
                                  f"bizType={biz_type} userNo={user_no} call={matched}", self._now_iso()))
                    fired = Fired(row["id"], rule)
                    break
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return fired


def _matches(rule: dict, service: str, biz_type: str, user_no: str) -> bool:
    return all(rule.get(k) in (None, v) for k, v in (("service", service), ("bizType", biz_type),
                                                      ("userNo", user_no)))
