"""ownp2p: a small P2P platform that uses the wanxin bank depository through its published wire only.

What another team would write: its own REST API, key pair, platformNo and SQLite file. It signs with
``cryptography`` directly (RSASSA-PKCS1-v1_5 with SHA-256 over the JSON bytes; ``reqData`` is their
standard Base64) and verifies every answer and notification with the bank's public key. It imports
nothing from the sandbox.

Every call to the bank is recorded before it is sent (UNSYNCED) and settled after (SYNCED or FAILED),
never inside a database transaction. When an answer is lost (a 5xx, a timeout, a dropped connection)
the same requestNo is sent again, and the bank answers it from its store; if it stays lost, the
request waits as UNKNOWN until ``POST /recover`` asks the bank (QUERY_TRANSACTION) what it did.

    python examples/own_platform/app.py keygen --keys DIR
    python examples/own_platform/app.py --port 0 --bank-url URL --bank-key bank_public.pem [--data DIR]
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import sqlite3
import sys
import uuid
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, g, jsonify, request
from werkzeug.serving import make_server

PLATFORM_NO = "ownp2p"
NOT_FOUND = "40001"  # the bank's code for "no such requestNo" (QUERY_TRANSACTION)
AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (user_no TEXT PRIMARY KEY, role TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recharges (request_no TEXT PRIMARY KEY, user_no TEXT NOT NULL, amount INTEGER NOT NULL,
                                      status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS loans (loan_no TEXT PRIMARY KEY, borrower TEXT NOT NULL, amount INTEGER NOT NULL,
                                  status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bids (bid_no TEXT PRIMARY KEY, loan_no TEXT NOT NULL, user_no TEXT NOT NULL,
                                 amount INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bank_requests (request_no TEXT PRIMARY KEY, service TEXT NOT NULL, payload TEXT NOT NULL,
                                          state TEXT NOT NULL, code TEXT NOT NULL DEFAULT '');
"""


class Refused(Exception):
    """An error this platform answers with ``{"error": {code, message}}`` and an HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# -- money: integer fen inside, "12.34" text on every wire --------------------------------------------
def fen(text: Any, what: str = "amount", allow_zero: bool = False) -> int:
    if not isinstance(text, str) or not AMOUNT.match(text) or not (allow_zero or text.strip("0.")):
        raise Refused(400, "BAD_AMOUNT", f"{what} must be a positive amount of yuan as text, e.g. \"100.00\"")
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def yuan(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


# -- keys ---------------------------------------------------------------------------------------------
def keygen(keys: Path) -> Path:
    """This platform's RSA-2048 key pair in ``keys`` (kept if there); the public key's path."""
    keys.mkdir(parents=True, exist_ok=True)
    private, public = keys / f"{PLATFORM_NO}_private.pem", keys / f"{PLATFORM_NO}_public.pem"
    if not private.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


# -- the bank: the only code that talks to it ---------------------------------------------------------
class OutcomeUnknown(Exception):
    """The bank may or may not have acted: its answer never arrived."""


class Bank:
    def __init__(self, url: str, platform_no: str, key, bank_key, attempts: int = 3):
        self.url, self.platform_no, self.key, self.bank_key = url.rstrip("/"), platform_no, key, bank_key
        self.attempts = attempts
        self.http = requests.Session()
        self.http.trust_env = False

    def envelope(self, service: str, payload: dict) -> dict:
        """The four fields; the signed JSON names the service and platform, as the bank requires."""
        raw = json.dumps({**payload, "serviceName": service, "platformNo": self.platform_no},
                         ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        signature = self.key.sign(raw, padding.PKCS1v15(), hashes.SHA256())
        return {"serviceName": service, "platformNo": self.platform_no,
                "reqData": base64.b64encode(raw).decode(), "signature": base64.b64encode(signature).decode()}

    def gateway(self, service: str, payload: dict) -> dict:
        """What the user's browser posts to the bank's page."""
        return {"depositoryUrl": self.url + "/gateway", **self.envelope(service, payload)}

    def verified(self, data: bytes, signature: str) -> bool:
        try:
            self.bank_key.verify(base64.b64decode(signature), data, padding.PKCS1v15(), hashes.SHA256())
            return True
        except (InvalidSignature, ValueError):
            return False

    def call(self, service: str, payload: dict) -> tuple[dict, int]:
        """The verified respData and how many sends it took; the same envelope again while the answer is lost."""
        fields = self.envelope(service, payload)
        for attempt in range(1, self.attempts + 1):
            try:
                resp = self.http.post(self.url + "/service", data=fields, timeout=10)
            except requests.RequestException:
                continue
            if resp.status_code < 500:
                return self._respdata(resp.text), attempt
        raise OutcomeUnknown(f"{service} {payload['requestNo']}: no answer after {self.attempts} attempt(s)")

    def _respdata(self, body: str) -> dict:
        # The signature covers the respData text exactly as it appears in the body.
        head, tail = '{"respData":', ',"signature":"'
        cut = body.rfind(tail)
        if not body.startswith(head) or cut < 0 or not body.endswith('"}'):
            raise Refused(502, "BANK_ANSWER", f"the bank answered something else: {body[:200]!r}")
        text = body[len(head):cut]
        if not self.verified(text.encode("utf-8"), body[cut + len(tail):-2]):
            raise Refused(502, "BANK_SIGNATURE", "the bank's answer does not verify with its public key")
        return json.loads(text)


# -- storage ------------------------------------------------------------------------------------------
def db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(g.path, timeout=10, isolation_level=None)
        g.db.row_factory = sqlite3.Row
    return g.db


@contextmanager
def tx() -> Iterator[sqlite3.Connection]:
    conn = db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def one(sql: str, *args: Any, what: str = "") -> sqlite3.Row:
    row = db().execute(sql, args).fetchone()
    if row is None:
        raise Refused(404, "NOT_FOUND", f"no {what} {args[0]}")
    return row


def new_no(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16].upper()}"


# -- what a settled request means here ----------------------------------------------------------------
def _project(conn, payload: dict, ok: bool) -> None:
    conn.execute("UPDATE loans SET status = ? WHERE loan_no = ?", ("OPEN" if ok else "REJECTED", payload["projectNo"]))


def _tender(conn, payload: dict, ok: bool) -> None:
    conn.execute("UPDATE bids SET status = ? WHERE bid_no = ?", ("FROZEN" if ok else "FAILED", payload["requestNo"]))


def _loan(conn, payload: dict, ok: bool) -> None:
    conn.execute("UPDATE loans SET status = ? WHERE loan_no = ?", ("DISBURSED" if ok else "OPEN", payload["projectNo"]))
    if ok:
        conn.executemany("UPDATE bids SET status = 'LENT' WHERE bid_no = ?",
                         [(d["preRequestNo"],) for d in payload["details"]])


APPLY: dict[str, Callable[[sqlite3.Connection, dict, bool], None]] = {
    "CREATE_PROJECT": _project, "USER_AUTO_PRE_TRANSACTION": _tender, "CONFIRM_LOAN": _loan}


def settle(service: str, payload: dict, resp: dict) -> Optional[dict]:
    """Record what the bank answered and apply it once; None while the bank is still processing."""
    if str(resp.get("status")) not in ("1", "2"):
        return None
    ok = str(resp["status"]) == "1"
    with tx() as conn:
        done = conn.execute("UPDATE bank_requests SET state = ?, code = ? WHERE request_no = ? AND state = 'UNSYNCED'",
                            ("SYNCED" if ok else "FAILED", str(resp.get("respCode", "")), payload["requestNo"]))
        if done.rowcount:
            APPLY[service](conn, payload, ok)
    return resp


def direct(service: str, payload: dict, intent: Callable[[sqlite3.Connection], object]) -> Optional[dict]:
    """Record the intent, commit, call the bank, record the outcome: respData (with ``bankAttempts``,
    how many sends it took), or None if unknown."""
    with tx() as conn:
        intent(conn)
        conn.execute("INSERT INTO bank_requests (request_no, service, payload, state) VALUES (?, ?, ?, 'UNSYNCED')",
                     (payload["requestNo"], service, json.dumps(payload)))
    try:
        resp, attempts = g.bank.call(service, payload)
    except OutcomeUnknown:
        return None
    answer = settle(service, payload, {**resp, "bankAttempts": attempts})
    if answer is not None and str(answer["status"]) == "2":
        raise Refused(422, str(answer.get("respCode")), str(answer.get("respMsg", "refused by the bank")))
    return answer


def unknown(**more: Any):
    return jsonify({**more, "status": "UNKNOWN",
                    "message": "the bank's answer was lost; POST /recover asks the bank what it did"}), 202


# -- the REST API -------------------------------------------------------------------------------------
def create_app(*, data: Path, bank: Bank) -> Flask:
    app = Flask("ownp2p")
    path = str(data / f"{PLATFORM_NO}.sqlite")
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(SCHEMA)

    @app.before_request
    def _wire() -> None:
        g.path, g.bank = path, bank

    @app.teardown_appcontext
    def _close(_exc) -> None:
        if "db" in g:
            g.db.close()

    @app.errorhandler(Refused)
    def _refused(exc: Refused):
        return jsonify({"error": {"code": exc.code, "message": exc.message}}), exc.status

    def body() -> dict:
        found = request.get_json(silent=True)
        if not isinstance(found, dict):
            raise Refused(400, "BAD_JSON", "the body must be a JSON object")
        return found

    def callback() -> str:
        return request.host_url.rstrip("/") + "/welcome"  # where the bank sends the user's browser back

    def open_user(user_no: Any, role: str = "") -> sqlite3.Row:
        user = one("SELECT * FROM users WHERE user_no = ?", str(user_no), what="user")
        if user["status"] != "OPEN" or (role and user["role"] != role):
            raise Refused(409, "USER_STATE", f"user {user_no} is {user['status']} {user['role']}, needs OPEN {role}")
        return user

    @app.post("/users")
    def create_user():
        b = body()
        role = {"investor": "I", "borrower": "B"}.get(b.get("role", "investor"))
        if role is None:
            raise Refused(400, "BAD_ROLE", "role is investor or borrower")
        user_no, request_no = new_no("U"), new_no("REG")
        fields = {k: b.get(k) for k in ("fullname", "idNumber", "mobile", "cardNumber")}
        missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
        if missing:
            raise Refused(400, "MISSING", f"{', '.join(missing)} required (text)")
        with tx() as conn:
            conn.execute("INSERT INTO users VALUES (?, ?, 'PENDING')", (user_no, role))
        gateway = bank.gateway("PERSONAL_REGISTER", {"requestNo": request_no, "userNo": user_no, **fields,
                                                     "role": role, "callbackUrl": callback()})
        return jsonify({"userNo": user_no, "status": "PENDING", "requestNo": request_no, "gateway": gateway}), 201

    @app.get("/users/<user_no>")
    def show_user(user_no: str):
        user = one("SELECT * FROM users WHERE user_no = ?", user_no, what="user")
        return jsonify({"userNo": user_no, "role": user["role"], "status": user["status"]})

    @app.get("/users/<user_no>/balance")
    def balance(user_no: str):
        open_user(user_no)
        try:
            resp, _ = bank.call("QUERY_USER", {"requestNo": new_no("QU"), "userNo": user_no})
        except OutcomeUnknown as exc:
            raise Refused(504, "BANK_UNREACHABLE", str(exc)) from None
        return jsonify({"userNo": user_no, "available": resp.get("balance"), "frozen": resp.get("freezeAmount")})

    @app.post("/users/<user_no>/recharges")
    def recharge(user_no: str):
        open_user(user_no)
        amount, request_no = fen(body().get("amount")), new_no("RCH")
        with tx() as conn:
            conn.execute("INSERT INTO recharges VALUES (?, ?, ?, 'PENDING')", (request_no, user_no, amount))
        gateway = bank.gateway("RECHARGE", {"requestNo": request_no, "userNo": user_no, "amount": yuan(amount),
                                            "callbackUrl": callback()})
        return jsonify({"requestNo": request_no, "status": "PENDING", "gateway": gateway}), 201

    @app.get("/recharges/<request_no>")
    def show_recharge(request_no: str):
        r = one("SELECT * FROM recharges WHERE request_no = ?", request_no, what="recharge")
        return jsonify({"requestNo": request_no, "userNo": r["user_no"], "amount": yuan(r["amount"]),
                        "status": r["status"]})

    @app.post("/loans")
    def create_loan():
        b = body()
        borrower = open_user(b.get("borrower"), "B")["user_no"]
        amount, loan_no, periods = fen(b.get("amount")), new_no("LN"), b.get("periods", 1)
        if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= 360:
            raise Refused(400, "BAD_PERIODS", "periods must be a whole number 1..360")
        payload = {"requestNo": new_no("PRJ"), "userNo": borrower, "projectNo": loan_no,
                   "projectAmount": yuan(amount), "projectName": str(b.get("title", loan_no)),
                   "projectPeriod": periods, "annualRate": str(b.get("annualRate", "0.10"))}
        answer = direct("CREATE_PROJECT", payload, lambda conn: conn.execute(
            "INSERT INTO loans VALUES (?, ?, ?, 'PENDING')", (loan_no, borrower, amount)))
        if answer is None:
            return unknown(loanNo=loan_no)
        return jsonify({"loanNo": loan_no, "status": "OPEN", "amount": yuan(amount)}), 201

    @app.get("/loans/<loan_no>")
    def show_loan(loan_no: str):
        loan = one("SELECT * FROM loans WHERE loan_no = ?", loan_no, what="loan")
        bids = [{"bidNo": r["bid_no"], "userNo": r["user_no"], "amount": yuan(r["amount"]), "status": r["status"]}
                for r in db().execute("SELECT * FROM bids WHERE loan_no = ? ORDER BY rowid", (loan_no,))]
        return jsonify({"loanNo": loan_no, "borrower": loan["borrower"], "amount": yuan(loan["amount"]),
                        "status": loan["status"], "bids": bids})

    @app.post("/loans/<loan_no>/bids")
    def bid(loan_no: str):
        b = body()
        loan = one("SELECT * FROM loans WHERE loan_no = ?", loan_no, what="loan")
        if loan["status"] != "OPEN":
            raise Refused(409, "LOAN_STATE", f"loan {loan_no} is {loan['status']}")
        investor = open_user(b.get("userNo"), "I")["user_no"]
        amount, bid_no = fen(b.get("amount")), new_no("BID")
        payload = {"requestNo": bid_no, "userNo": investor, "projectNo": loan_no, "bizType": "TENDER",
                   "amount": yuan(amount)}
        answer = direct("USER_AUTO_PRE_TRANSACTION", payload, lambda conn: conn.execute(
            "INSERT INTO bids VALUES (?, ?, ?, ?, 'UNKNOWN')", (bid_no, loan_no, investor, amount)))
        if answer is None:
            return unknown(bidNo=bid_no)
        return jsonify({"bidNo": bid_no, "status": "FROZEN", "amount": yuan(amount),
                        "bankAttempts": answer["bankAttempts"]}), 201

    @app.post("/loans/<loan_no>/disburse")
    def disburse(loan_no: str):
        fee = fen(body().get("commission", "0.00"), "commission", allow_zero=True)
        loan = one("SELECT * FROM loans WHERE loan_no = ?", loan_no, what="loan")
        bids = db().execute("SELECT * FROM bids WHERE loan_no = ? ORDER BY rowid", (loan_no,)).fetchall()
        if loan["status"] != "OPEN":
            raise Refused(409, "LOAN_STATE", f"loan {loan_no} is {loan['status']}")
        if any(b["status"] == "UNKNOWN" for b in bids):
            raise Refused(409, "BID_UNKNOWN", f"a bid on {loan_no} has an unknown outcome: POST /recover first")
        frozen = [b for b in bids if b["status"] == "FROZEN"]
        if not frozen:
            raise Refused(409, "NO_BIDS", f"loan {loan_no} has no frozen bids")
        payload = {"requestNo": new_no("LOAN"), "projectNo": loan_no, "commission": yuan(fee),
                   "details": [{"preRequestNo": b["bid_no"], "amount": yuan(b["amount"])} for b in frozen]}
        answer = direct("CONFIRM_LOAN", payload, lambda conn: conn.execute(
            "UPDATE loans SET status = 'DISBURSING' WHERE loan_no = ?", (loan_no,)))
        if answer is None:
            return unknown(loanNo=loan_no, requestNo=payload["requestNo"])
        return jsonify({"loanNo": loan_no, "status": "DISBURSED", "requestNo": payload["requestNo"],
                        "amount": answer.get("amount"), "commission": answer.get("commission"),
                        "bankAttempts": answer["bankAttempts"]})

    @app.post("/recover")
    def recover():
        """Every request whose answer was lost: ask the bank; one it never received is sent again."""
        resolved, unresolved = [], []
        for row in db().execute("SELECT * FROM bank_requests WHERE state = 'UNSYNCED' ORDER BY rowid").fetchall():
            payload = json.loads(row["payload"])
            try:
                found, _ = bank.call("QUERY_TRANSACTION", {"requestNo": new_no("Q"),
                                                        "transactionRequestNo": row["request_no"]})
                if found.get("respCode") == NOT_FOUND:  # never arrived: sending it again is safe
                    answer = settle(row["service"], payload, bank.call(row["service"], payload)[0])
                else:
                    answer = settle(row["service"], payload, found.get("result") or {})
            except OutcomeUnknown:
                answer = None
            outcome = {"requestNo": row["request_no"], "service": row["service"]}
            if answer is None:
                unresolved.append(outcome)
            else:
                resolved.append({**outcome, "status": "SUCCESS" if str(answer["status"]) == "1" else "FAILURE"})
        return jsonify({"resolved": resolved, "unresolved": unresolved})

    @app.post("/notify")
    def notify():
        """The bank's notification: verified, applied once per requestNo, acknowledged with OK."""
        form = request.form
        try:
            raw = base64.b64decode(form.get("reqData", ""), validate=True)
        except ValueError:
            raw = b""
        if not raw or not bank.verified(raw, form.get("signature", "")):
            return "BAD SIGNATURE", 400
        note = json.loads(raw)
        ok = note.get("respCode") == "00000"
        with tx() as conn:
            if form.get("serviceName") == "PERSONAL_REGISTER":
                opened = ok and note.get("auditStatus") == "PASSED"
                conn.execute("UPDATE users SET status = ? WHERE user_no = ? AND status = 'PENDING'",
                             ("OPEN" if opened else "REFUSED", note.get("userNo")))
            elif form.get("serviceName") == "RECHARGE":
                paid = ok and note.get("transactionStatus") == "SUCCESS"
                conn.execute("UPDATE recharges SET status = ? WHERE request_no = ? AND status = 'PENDING'",
                             ("SUCCESS" if paid else "FAIL", note.get("requestNo")))
        return "OK"

    @app.get("/welcome")
    def welcome():
        return f"Back at {PLATFORM_NO}: code {request.args.get('code', '?')}"

    return app


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("serve", "keygen"), default="serve")
    parser.add_argument("--keys", type=Path, help="key pair directory (default: DATA/keys; created if missing)")
    parser.add_argument("--data", type=Path, default=Path("ownp2p-data"), help="where the SQLite file lives")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--bank-url", help="the bank's base URL")
    parser.add_argument("--bank-key", type=Path, help="the bank's public key (PEM), to verify its answers")
    parser.add_argument("--platform-no", default=PLATFORM_NO)
    args = parser.parse_args(argv)
    keys = args.keys or args.data / "keys"
    public = keygen(keys)
    print(f"{PLATFORM_NO} public key: {public}", flush=True)
    if args.command == "keygen":
        return 0
    if not args.bank_url or not args.bank_key:
        parser.error("serve needs --bank-url and --bank-key")
    args.data.mkdir(parents=True, exist_ok=True)
    key = serialization.load_pem_private_key((keys / f"{PLATFORM_NO}_private.pem").read_bytes(), None)
    try:
        bank_key = serialization.load_pem_public_key(args.bank_key.read_bytes())
    except (OSError, ValueError) as exc:  # a missing file, or not a PEM public key
        parser.error(f"--bank-key {args.bank_key}: not a readable PEM public key "
                     f"({getattr(exc, 'strerror', None) or exc})")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(data=args.data, bank=Bank(args.bank_url, args.platform_no, key, bank_key))
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:  # the port is taken, or the host is not this machine's
        parser.exit(1, f"app.py: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
    url = f"http://{args.host}:{server.server_port}"
    print(f"{PLATFORM_NO} listening on {url}  (notify URL {url}/notify)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
