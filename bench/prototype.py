"""A bare signed prototype of the bank's USER_AUTO_PRE_TRANSACTION (TENDER), the yardstick of issue 17.

    python bench/prototype.py [--requests 200]              # self-check: seed, serve, send, verify
    python bench/prototype.py serve --db F --keys DIR [--workers 4] [--threads 1] [--port 0]

What one request does, and nothing more: a Flask app on gunicorn with the
bank's own server settings (``serving.serve``: same worker class, worker and
thread counts, timeouts and keep-alive as ``wanxin bank serve``) decodes the
four-field envelope, verifies the request's signature with the platform's
public key (``bank_depository.protocol``, the code the bank uses), makes one
SQLite transfer in WAL (``BEGIN IMMEDIATE``: an INSERT of the hold keyed by
requestNo, so a replay moves nothing, then UPDATEs of the investor's available
to frozen and of the project's tendered total) and signs the answer with the bank's
private key. ``bench/bank_direct.py`` serves it beside the bank with the same
keys, the same pre-signed requests and the same clients.

It is kept honest by doing the checks a real transfer cannot skip: the
signature, the amount's form, enough available money, the project's room
and a unique requestNo; each refusal is a signed answer with a respCode.
It does NOT keep an idempotent copy of the answer, a request log, the
clock, fault rules, a check-file row or an outbox, which the bank does.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bank_depository.protocol import codes, envelope, money, signing  # noqa: E402

SUCCESS = codes.SUCCESS
SCHEMA = """
CREATE TABLE IF NOT EXISTS account (user_no TEXT PRIMARY KEY, available INTEGER NOT NULL CHECK (available >= 0),
                                    frozen INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS project (project_no TEXT PRIMARY KEY, amount INTEGER NOT NULL,
                                    tendered INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS hold (request_no TEXT PRIMARY KEY, user_no TEXT NOT NULL, project_no TEXT NOT NULL,
                                 amount INTEGER NOT NULL, created_at REAL NOT NULL);
"""


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The bank's connection settings (storage/db.py): autocommit, WAL, synchronous NORMAL, busy timeout."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def seed(path: str | os.PathLike[str], accounts: dict[str, int], projects: dict[str, int]) -> None:
    """Create the tables and the investors' available balances and projects' amounts (fen)."""
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO account (user_no, available) VALUES (?, ?)", accounts.items())
        conn.executemany("INSERT INTO project (project_no, amount) VALUES (?, ?)", projects.items())
        conn.execute("COMMIT")
    finally:
        conn.close()


def totals(path: str | os.PathLike[str]) -> dict[str, int]:
    """Frozen, held and tendered totals after a run: all three must equal the money accepted."""
    conn = connect(path)
    try:
        frozen = conn.execute("SELECT COALESCE(SUM(frozen), 0) FROM account").fetchone()[0]
        held, holds = conn.execute("SELECT COALESCE(SUM(amount), 0), COUNT(*) FROM hold").fetchone()
        tendered = conn.execute("SELECT COALESCE(SUM(tendered), 0) FROM project").fetchone()[0]
    finally:
        conn.close()
    return {"frozen": frozen, "held": held, "holds": holds, "tendered": tendered}


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def create_app(db: str, keys: str):
    """One worker's app: its own SQLite connection per thread, the two keys loaded once."""
    from flask import Flask, Response, request

    app = Flask(__name__)
    bank_key = signing.load_private_key(Path(keys) / "bank_private.pem")
    platform_key = signing.load_public_key(Path(keys) / "platform_public.pem")
    local = threading.local()

    def conn() -> sqlite3.Connection:
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = connect(db)
        return c

    def transfer(request_no: str, user_no: str, project_no: str, amount: int) -> None:
        c = conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            try:
                c.execute("INSERT INTO hold (request_no, user_no, project_no, amount, created_at)"
                          " VALUES (?, ?, ?, ?, ?)", (request_no, user_no, project_no, amount, time.time()))
            except sqlite3.IntegrityError:
                raise Refused(codes.REQUEST_CONFLICT, f"requestNo {request_no} was used before") from None
            moved = c.execute("UPDATE account SET available = available - ?, frozen = frozen + ?"
                              " WHERE user_no = ? AND available >= ?", (amount, amount, user_no, amount)).rowcount
            if moved != 1:
                raise Refused(codes.BALANCE_NOT_ENOUGH,
                              f"{user_no} is unknown or has less than {money.format_fen(amount)} available")
            room = c.execute("UPDATE project SET tendered = tendered + ?"
                             " WHERE project_no = ? AND amount - tendered >= ?",
                             (amount, project_no, amount)).rowcount
            if room != 1:
                raise Refused(codes.PROJECT_OVER_AMOUNT, f"project {project_no} is unknown or has no room")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @app.get("/health")
    def health():
        return {"ok": True}

    @app.post("/service")
    def service():
        request_no = ""
        try:
            signed = envelope.parse_request(request.form)
            envelope.verify_request(signed, platform_key, signing.SHA256)
            if signed.service_name != "USER_AUTO_PRE_TRANSACTION":
                raise Refused(codes.PARAM_FAIL, f"only USER_AUTO_PRE_TRANSACTION is served, not {signed.service_name}")
            p = signed.payload()
            request_no = str(p.get("requestNo") or "")
            if not request_no or p.get("bizType") != "TENDER":
                raise Refused(codes.PARAM_FAIL, "requestNo and bizType TENDER are required")
            amount = money.parse_yuan(p.get("amount"))
            transfer(request_no, str(p.get("userNo")), str(p.get("projectNo")), amount)
            data = {"requestNo": request_no, "respCode": SUCCESS, "respMsg": "成功", "bizType": "TENDER",
                    "userNo": p["userNo"], "projectNo": p["projectNo"], "amount": money.format_fen(amount)}
        except envelope.EnvelopeError as exc:
            data = {"requestNo": exc.request_no, "respCode": exc.code, "respMsg": exc.detail}
        except Refused as exc:
            data = {"requestNo": request_no, "respCode": exc.code, "respMsg": exc.message}
        except ValueError as exc:  # money.parse_yuan's refusals
            data = {"requestNo": request_no, "respCode": codes.PARAM_FAIL, "respMsg": str(exc)}
        return Response(envelope.response_body(data, bank_key), content_type="application/json")

    return app


def serve(db: str, keys: str, host: str, port: int, workers: int, threads: int) -> None:
    from serving import serve as gunicorn_serve

    def ready(h, p):
        print(f"prototype listening on http://{h}:{p}", flush=True)

    gunicorn_serve(lambda: create_app(db, keys), host=host, port=port, workers=workers, threads=threads,
                   on_ready=ready)


def listening_urls(proc: subprocess.Popen, what: str, timeout: float) -> list[str]:
    """The URL a served child prints as ``<what> listening on URL`` (``[]`` if it did not within ``timeout``)."""
    found: list[str] = []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            m = re.search(what + r" listening on (http://\S+)", line)
            if m:
                found.append(m.group(1))
                break

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found


class Served:
    """``bench/prototype.py serve`` as a subprocess in its own process group (always stopped)."""

    def __init__(self, db: Path, keys: Path, workers: int, threads: int, log: Path, timeout: float = 60.0):
        self.log_path = log
        self._log = open(log, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--db", str(db), "--keys", str(keys),
             "--port", "0", "--workers", str(workers), "--threads", str(threads)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True)
        self.url = self._wait(timeout)

    def _wait(self, timeout: float) -> str:
        import requests

        found = listening_urls(self.proc, "prototype", timeout)
        deadline = time.monotonic() + timeout
        while found and time.monotonic() < deadline:
            try:
                if requests.get(found[0] + "/health", timeout=2).ok:
                    return found[0]
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the prototype did not start; log:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()


def group_cpu_seconds(pgrp: int) -> float:
    """User+system CPU of every live process in process group ``pgrp`` (master and workers), from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgrp:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def self_check(requests_n: int, workers: int, threads: int) -> int:
    """Seed, serve, send ``requests_n`` signed tenders (plus one replay and one bad signature), verify all."""
    import requests

    work = Path(tempfile.mkdtemp(prefix="wanxin-proto-"))
    served = None
    try:
        keys = work / "keys"
        keys.mkdir()
        for side in ("bank", "platform"):
            private, public = signing.generate_key_pair()
            (keys / f"{side}_private.pem").write_bytes(private)
            (keys / f"{side}_public.pem").write_bytes(public)
        db = work / "proto.sqlite"
        seed(db, {"I0": 100 * requests_n, "I1": 100 * requests_n}, {"P0": 200 * requests_n})
        served = Served(db, keys, workers, threads, work / "proto.log")
        key = signing.load_private_key(keys / "platform_private.pem")
        bank_key = signing.load_public_key(keys / "bank_public.pem")
        http = requests.Session()

        def send(payload: dict, signer=key) -> dict:
            fields = envelope.sign_request("USER_AUTO_PRE_TRANSACTION", "wanxinp2p", payload, signer).fields()
            body = http.post(served.url + "/service", data=urlencode(fields), timeout=30,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}).text
            return envelope.verify_response(body, bank_key)

        payloads = [{"requestNo": f"T{k:06d}", "userNo": f"I{k % 2}", "projectNo": "P0", "bizType": "TENDER",
                     "amount": "1.00"} for k in range(requests_n)]
        start = time.perf_counter()
        answers = [send(p)["respCode"] for p in payloads]
        window = time.perf_counter() - start
        replay = send(payloads[0])["respCode"]
        stranger = signing.load_private_key(signing.generate_key_pair()[0])
        forged = send({**payloads[0], "requestNo": "FORGED"}, stranger)["respCode"]
        after = totals(db)
        ok = answers.count(SUCCESS)
        sound = after["frozen"] == after["held"] == after["tendered"] == 100 * ok and after["holds"] == ok
        print(f"prototype: {urlsplit(served.url).netloc} workers={workers} threads={threads}")
        print(f"  round trips/s       {ok / window:8.0f}   ({ok} ok of {requests_n}, one client, sequential)")
        print(f"  replayed requestNo  {replay}   bad signature {forged}")
        print(f"  totals              frozen {after['frozen']} held {after['held']} tendered {after['tendered']}"
              f" fen; {'sound' if sound else 'UNSOUND'}")
        good = ok == requests_n and replay == codes.REQUEST_CONFLICT and forged == codes.SIGN_FAIL and sound
        return 0 if good else 1
    finally:
        if served is not None:
            served.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command")
    sv = sub.add_parser("serve", help="serve the prototype on gunicorn (the bank's server settings)")
    sv.add_argument("--db", required=True, help="SQLite file made by seed()")
    sv.add_argument("--keys", required=True, help="directory with bank_private.pem and platform_public.pem")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=0)
    for parser in (ap, sv):
        parser.add_argument("--workers", type=int, default=4, help="worker processes (as wanxin bank serve)")
        parser.add_argument("--threads", type=int, default=1, help="threads per worker (as wanxin bank serve)")
    ap.add_argument("--requests", type=int, default=200, help="self-check: tenders to send")
    args = ap.parse_args(argv)
    if args.command == "serve":
        serve(args.db, args.keys, args.host, args.port, args.workers, args.threads)
        return 0
    return self_check(args.requests, args.workers, args.threads)


if __name__ == "__main__":
    sys.exit(main())
