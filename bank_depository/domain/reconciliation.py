"""Bank-side reconciliation for any platform: its own export of records against the bank's check file.

Pure: text in, data out. :func:`read_records` parses the platform's export
(CSV with a header, or a JSON list of objects, keys ``requestNo, serviceName,
bizType, userNo, amount, commission, status``; extra columns ignored),
:func:`read_checkfile` the bank's check file, and :func:`match` pairs them by
requestNo into breaks: ``missing_at_bank``, ``missing_at_platform``,
``amount_mismatch``, ``status_mismatch``, ``duplicate``, each with both
sides' values. Amounts are compared in integer fen. Only money-moving
services appear in a check file, so records of other services are skipped.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any, Optional

from ..protocol import money, services as svc
from ..protocol.checkfile import COLUMNS, TOTALS

STATUSES = ("SUCCESS", "FAILURE", "PROCESSING")
REQUIRED = ("requestNo", "serviceName", "amount", "status")
OPTIONAL = ("bizType", "userNo", "commission")
KINDS = ("missing_at_bank", "missing_at_platform", "amount_mismatch", "status_mismatch", "duplicate")


class RecordsError(ValueError):
    """The export cannot be read; the message names the row and column."""


@dataclass(frozen=True)
class Line:
    """One movement as one side states it (amounts in fen)."""
    requestNo: str
    serviceName: str
    bizType: str
    userNo: str
    amount: int
    commission: int
    status: str

    def shown(self) -> dict[str, Any]:
        out = asdict(self)
        out["amount"], out["commission"] = money.format_fen(self.amount), money.format_fen(self.commission)
        return out


@dataclass(frozen=True)
class Break:
    kind: str
    requestNo: str
    bank: Optional[dict[str, Any]]
    platform: Optional[dict[str, Any]]
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _line(row: Any, where: str) -> Line:
    if not isinstance(row, dict):
        raise RecordsError(f"{where}: must be an object")
    values: dict[str, Any] = {}
    lower = {str(k).strip().lower(): v for k, v in row.items()}
    for key in REQUIRED + OPTIONAL:
        value = lower.get(key.lower())
        if value is None or (isinstance(value, str) and not value.strip()):
            if key in REQUIRED:
                raise RecordsError(f"{where}, column {key}: missing")
            value = "0" if key == "commission" else ""
        if isinstance(value, (dict, list, bool)):
            raise RecordsError(f"{where}, column {key}: must be text or a number")
        values[key] = value
    status = str(values["status"]).strip().upper()
    if status not in STATUSES:
        raise RecordsError(f"{where}, column status: {values['status']!r} is not one of {', '.join(STATUSES)}")
    fen: dict[str, int] = {}
    for key in ("amount", "commission"):
        try:
            fen[key] = money.parse_yuan(values[key] if not isinstance(values[key], str) else values[key].strip(),
                                        key, allow_zero=True)
        except money.AmountError as exc:
            raise RecordsError(f"{where}, column {key}: {exc.reason}") from None
    return Line(str(values["requestNo"]).strip(), str(values["serviceName"]).strip().upper(),
                str(values["bizType"]).strip().upper(), str(values["userNo"]).strip(), fen["amount"],
                fen["commission"], status)


def read_records(text: str, name: str = "records") -> list[Line]:
    """The platform's records from CSV (with a header) or a JSON list of objects."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        raise RecordsError(f"{name}: empty")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise RecordsError(f"{name}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise RecordsError(f"{name}: JSON must be a list of objects")
        return [_line(row, f"{name} item {i}") for i, row in enumerate(data)]
    reader = csv.DictReader(io.StringIO(stripped))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [k for k in REQUIRED if k.lower() not in header]
    if missing:
        raise RecordsError(f"{name} row 1 (header): no column {', '.join(missing)}")
    return [_line(row, f"{name} row {i}") for i, row in enumerate(reader, start=2)]


def read_checkfile(text: str) -> tuple[dict[str, str], list[Line]]:
    """The totals and the lines of a check file (its trailer line, if any, is ignored)."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]
    if len(rows) < 3 or tuple(rows[0]) != TOTALS or tuple(rows[2]) != COLUMNS:
        raise RecordsError("the bank's check file has an unexpected layout")
    totals = dict(zip(TOTALS, rows[1]))
    lines = []
    for row in rows[3:]:
        r = dict(zip(COLUMNS, row))
        lines.append(Line(r["requestNo"], r["serviceName"], r["bizType"], r["userNo"],
                          money.parse_yuan(r["amount"], allow_zero=True),
                          money.parse_yuan(r["commission"], allow_zero=True),
                          "SUCCESS" if r["status"].upper() in ("SUCCESS", "1") else r["status"].upper()))
    return totals, lines


def match(bank: list[Line], platform: list[Line]) -> list[Break]:
    """Every break between the bank's lines and the platform's records, in requestNo order."""
    breaks: list[Break] = []
    by_bank: dict[str, Line] = {}
    for line in bank:
        if line.requestNo in by_bank:
            breaks.append(Break("duplicate", line.requestNo, line.shown(), None, "listed twice in the check file"))
        by_bank.setdefault(line.requestNo, line)
    mine: dict[str, Line] = {}
    for rec in platform:
        if rec.serviceName not in svc.MONEY_SERVICES:
            continue
        if rec.requestNo in mine:
            breaks.append(Break("duplicate", rec.requestNo, None, rec.shown(),
                                "listed twice in the platform's records"))
            continue
        mine[rec.requestNo] = rec
    for no, rec in mine.items():
        theirs = by_bank.get(no)
        if theirs is None:
            if rec.status == "SUCCESS":
                breaks.append(Break("missing_at_bank", no, None, rec.shown(), "the platform has a success the bank "
                                                                             "does not list"))
            elif rec.status == "PROCESSING":
                breaks.append(Break("status_mismatch", no, None, rec.shown(),
                                    "the platform still waits; the bank lists no success (ask QUERY_TRANSACTION)"))
            continue
        if rec.status != "SUCCESS":
            breaks.append(Break("status_mismatch", no, theirs.shown(), rec.shown(),
                                f"bank SUCCESS, platform {rec.status}"))
        elif (rec.amount, rec.commission) != (theirs.amount, theirs.commission):
            breaks.append(Break("amount_mismatch", no, theirs.shown(), rec.shown(),
                                f"bank {money.format_fen(theirs.amount)}/{money.format_fen(theirs.commission)}, "
                                f"platform {money.format_fen(rec.amount)}/{money.format_fen(rec.commission)} "
                                "(amount/commission)"))
    for no, line in by_bank.items():
        if no not in mine:
            breaks.append(Break("missing_at_platform", no, line.shown(), None, "the bank lists a success the "
                                                                              "platform has no record of"))
    return sorted(breaks, key=lambda b: (b.requestNo, KINDS.index(b.kind)))


def report(day: str, platform_no: str, bank: list[Line], platform: list[Line]) -> dict[str, Any]:
    breaks = match(bank, platform)
    counted = [r for r in platform if r.serviceName in svc.MONEY_SERVICES and r.status == "SUCCESS"]
    return {"date": day, "platformNo": platform_no, "clean": not breaks,
            "bank": {"count": len(bank), "totalAmount": money.format_fen(sum(b.amount for b in bank))},
            "platform": {"count": len(counted), "totalAmount": money.format_fen(sum(r.amount for r in counted)),
                         "skipped": len(platform) - len([r for r in platform if r.serviceName in svc.MONEY_SERVICES])},
            "breaks": [b.as_dict() for b in breaks]}
