"""Signed USER_AUTO_PRE_TRANSACTION (TENDER) round trips per second through the served bank.

    python bench/bank_direct.py [--workers 4] [--threads 1] [--clients 4] [--requests 4000] [--rounds 2]

What it does, in one run:

1. makes throw-away keys and a database in a temp dir, starts ``wanxin bank
   serve`` (gunicorn worker processes) on a free port, and sets up investors
   with balance, one borrower and enough projects, with plain ``requests``;
2. measures the single-core rate of one RSA-2048 sign plus one verify
   (SHA256withRSA, PKCS#1 v1.5) on a tender-like payload, in this process,
   single thread: the bank's own cryptographic share of one signed round trip;
3. signs every tender BEFORE the timed window (distinct requestNo, small
   amounts spread over investors and projects), pre-builds the HTTP requests,
   then sends them from several client processes, each on one keep-alive
   connection (a bare socket; ``--http-client`` for ``http.client``), all
   released together by a barrier;
4. serves ``bench/prototype.py`` (the bare signed prototype of the same request)
   with the same ``serving.serve`` settings, seeded with the same balances and
   projects, and sends it the SAME pre-signed bodies from the same clients; the
   requests are split into ``--rounds`` windows alternating which side goes
   first (ABBA), so a drifting machine load hits both sides alike;
5. verifies every response signature after the windows, counts respCode 00000,
   reconciles the frozen balances (``/sim/ledger/verify`` on the bank, the
   totals of the prototype's tables), and prints both rates, the server CPU per
   request of each side (its process group's CPU from /proc) and the line
   ``bank/prototype ratio 0.NN x``. Both server subprocesses are always terminated.

The machine's cores are shared by the clients and the server, so the client
side is kept as cheap as possible (no signing, no JSON, no verification in the
window) and the CPU both sides used in the window is printed, with the CPU
taken by other processes (a busy machine makes every figure pessimistic).
Exit status is non-zero if any request failed or the ledger is unsound.
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bank_depository.domain.identity import id_check_char  # noqa: E402
from bank_depository.client import SimClient, SimError  # noqa: E402
from bank_depository.protocol import envelope, operator, signing  # noqa: E402
from scenarios.harness import hidden_fields  # noqa: E402

import prototype  # noqa: E402  (bench/prototype.py, beside this file)

PLATFORM_NO = "wanxinp2p"
PASSWORD = "123456"
CALLBACK = "http://platform.invalid/cb"
SUCCESS = "00000"


# -- server -------------------------------------------------------------------
class Server:
    """``wanxin bank serve`` as a subprocess (own process group, always stopped)."""

    def __init__(self, workdir: Path, workers: int, threads: int = 4, timeout: float = 60.0):
        self.workdir = workdir
        self.keys = workdir / "keys"
        cli = [sys.executable, str(ROOT / "cli.py")]
        subprocess.run(cli + ["keys", "generate", "--dir", str(self.keys)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        self.log_path = workdir / "server.log"
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            cli + ["bank", "serve", "--db", str(workdir / "bank.sqlite"), "--keys", str(self.keys),
                   "--port", "0", "--workers", str(workers), "--threads", str(threads),
                   "--password-iterations", "1000", "--quiet"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True)
        self.url = self._wait_listening(timeout)

    def _wait_listening(self, timeout: float) -> str:
        found = prototype.listening_urls(self.proc, "bank", timeout)
        if not found:
            self.stop()
            raise RuntimeError(f"the bank did not start; log:\n{self.log_path.read_text()[-3000:]}")
        # gunicorn reports readiness before the workers have booted: wait for an answer.
        # The operator token is the one the bank wrote beside its database.
        self.sim_token = operator.resolve(db=self.workdir / "bank.sqlite")
        health = SimClient(found[0], self.sim_token, timeout=2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                health.get("/sim/health")
                return found[0]
            except (requests.RequestException, SimError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the bank never answered /sim/health")

    def operator(self) -> dict:
        """The /sim credential the bank wrote beside its database."""
        path = operator.token_file(self.workdir / "bank.sqlite")
        return operator.header(path.read_text().strip()) if path.exists() else {}

    def cpu_seconds(self) -> float:
        """User+system CPU of the master and every worker (its process group), from /proc."""
        return prototype.group_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the master and its workers
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self._log.close()


# -- setup through the real HTTP surface -----------------------------------------
class Platform:
    """A minimal platform: signs requests, verifies answers, drives the gateway pages."""

    def __init__(self, url: str, keys_dir: Path, sim_token: str | None):
        self.url = url
        self.key = signing.load_private_key(keys_dir / "platform_private.pem")
        self.bank_key = signing.load_public_key(keys_dir / "bank_public.pem")
        self.http = requests.Session()
        self.bank = SimClient(url, sim_token, self.http, timeout=120)
        self.seq = 0

    def next_no(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq:07d}"

    def fields(self, service: str, payload: dict) -> dict:
        return envelope.sign_request(service, PLATFORM_NO, payload, self.key).fields()

    def call(self, service: str, payload: dict) -> dict:
        data = self.bank.signed(service, payload, self.key, PLATFORM_NO, bank_key=self.bank_key)
        if data["respCode"] != SUCCESS:
            raise RuntimeError(f"{service} failed: {data}")
        return data

    def card(self, seq: int, balance: str) -> dict:
        first17 = f"110101198{seq // 10000 % 10}{(seq // 28) % 12 + 1:02d}{seq % 28 + 1:02d}{seq % 1000:03d}"
        data = {"fullname": f"压测{seq}", "idNumber": first17 + id_check_char(first17),
                "mobile": f"139{seq:08d}", "cardNumber": f"62220300{seq:08d}", "bankCode": "ICBC",
                "balance": balance}
        self.bank.post("/sim/bank-cards", json=data)
        return data

    def gateway(self, service: str, payload: dict) -> None:
        page = self.http.get(self.url + "/gateway", params=self.fields(service, payload), timeout=30)
        if page.status_code != 200 or 'id="confirm"' not in page.text:
            raise RuntimeError(f"{service} page: {page.status_code} {page.text[:500]}")
        # The page's one-time pageToken goes back with the form; its cookie stays in the session.
        form = {"platformNo": PLATFORM_NO, "requestNo": payload["requestNo"], "serviceName": service,
                "password": PASSWORD, "pageToken": hidden_fields(page.text).get("pageToken", "")}
        if service == "PERSONAL_REGISTER":
            form["confirmPassword"] = PASSWORD
        done = self.http.post(self.url + "/gateway/confirm", data=form, allow_redirects=False, timeout=30)
        location = done.headers.get("Location", "")
        code = parse_qs(urlsplit(location).query).get("code", ["?"])[0]
        if done.status_code != 302 or code != "0":
            raise RuntimeError(f"{service} confirm: {done.status_code} {location or done.text[:500]}")

    def open_account(self, seq: int, role: str, user_no: str, card_balance: str) -> None:
        card = self.card(seq, card_balance)
        self.gateway("PERSONAL_REGISTER", {
            "requestNo": self.next_no("REG"), "userNo": user_no, "fullname": card["fullname"],
            "idNumber": card["idNumber"], "mobile": card["mobile"], "cardNumber": card["cardNumber"],
            "role": role, "callbackUrl": CALLBACK})

    def recharge(self, user_no: str, amount: str) -> None:
        self.gateway("RECHARGE", {"requestNo": self.next_no("RCH"), "userNo": user_no, "amount": amount,
                                  "callbackUrl": CALLBACK})

    def account(self, user_no: str) -> dict:
        return self.bank.get(f"/sim/accounts/{user_no}")


def fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def yuan(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


# -- the crypto bound -------------------------------------------------------------
def sign_verify_rate(key, payload_text: str, seconds: float, slice_s: float = 0.25) -> float:
    """One SHA256withRSA sign plus one verify per iteration, this thread only.

    Timed in short slices; the best slice is the core's rate (a slice that lost
    the CPU to another process says nothing about the core). This makes the
    bound high, so the ratio printed against it is conservative.
    """
    public = key.public_key()
    data = payload_text.encode("utf-8")
    sig = signing.sign(key, data)
    assert signing.verify(public, data, sig)
    best, end = 0.0, time.perf_counter() + seconds
    while True:
        n, start = 0, time.perf_counter()
        while True:
            for _ in range(10):
                sig = signing.sign(key, data)
                if not signing.verify(public, data, sig):
                    raise AssertionError("verify failed")
            n += 10
            now = time.perf_counter()
            if now - start >= slice_s:
                break
        best = max(best, n / (now - start))
        if now >= end:
            return best


# -- the clients ------------------------------------------------------------------
def client(host: str, port: int, bodies: list[bytes], barrier, out, raw: bool = True) -> None:
    """Send ``bodies`` one after the other on one keep-alive connection; report raw answers.

    ``raw``: pre-built HTTP/1.1 requests on a bare socket (one ``sendall`` each, the
    answer split on Content-Length), about half the client CPU of ``http.client``.
    """
    send = _RawConnection(host, port).exchange if raw else _StdConnection(host, port).exchange
    answers: list[tuple[int, bytes]] = []
    reconnects = 0
    barrier.wait()
    start = time.monotonic()
    for body in bodies:
        for attempt in (1, 2):
            try:
                status, data, closed = send(body)
                answers.append((status, data))
                reconnects += closed
                break
            except (OSError, http.client.HTTPException, ValueError):
                # The server closed an idle keep-alive socket: resend (the bank is idempotent
                # per requestNo, so a resent tender can never move money twice).
                reconnects += 1
                if attempt == 2:
                    answers.append((0, b"connection failed"))
    end = time.monotonic()
    out.send((start, end, reconnects, answers))
    out.close()


class _StdConnection:
    HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "keep-alive"}

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.conn.connect()

    def exchange(self, body: bytes) -> tuple[int, bytes, bool]:
        try:
            self.conn.request("POST", "/service", body, self.HEADERS)
            resp = self.conn.getresponse()
            data = resp.read()
        except Exception:
            self.conn.close()
            raise
        closed = resp.getheader("Connection", "").lower() == "close"
        if closed:
            self.conn.close()  # http.client reopens on the next request
        return resp.status, data, closed


class _RawConnection:
    def __init__(self, host: str, port: int):
        self.addr = (host, port)
        self.head = (f"POST /service HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: keep-alive\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ").encode("ascii")
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection(self.addr, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def exchange(self, body: bytes) -> tuple[int, bytes, bool]:
        if self.sock is None:
            self._connect()
        try:
            self.sock.sendall(self.head + str(len(body)).encode("ascii") + b"\r\n\r\n" + body)
            while b"\r\n\r\n" not in self.buf:
                self._fill()
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().lower()
            if b"content-length" not in headers:
                raise ValueError("answer without Content-Length")
            size = int(headers[b"content-length"])
            while len(self.buf) < size:
                self._fill()
            data, self.buf = self.buf[:size], self.buf[size:]
        except Exception:
            self.close()
            raise
        closed = headers.get(b"connection") == b"close"
        if closed:
            self.close()
        return status, data, closed

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    total = sum(ticks[:8])  # guest time is already inside user
    hz = os.sysconf("SC_CLK_TCK")
    return (total - idle) / hz, total / hz


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _rounds(bodies: list[bytes], rounds: int) -> list[list[bytes]]:
    size = -(-len(bodies) // rounds)
    return [bodies[i:i + size] for i in range(0, len(bodies), size)]


def window_run(host: str, port: int, bodies: list[bytes], clients: int, http_client: bool, server_cpu) -> dict:
    """One timed window: ``clients`` processes released together, each sending its share of ``bodies``."""
    ctx = mp.get_context("fork")
    clients = min(clients, len(bodies))
    barrier = ctx.Barrier(clients)
    server_cpu0, clients_cpu0, machine0 = server_cpu(), _children_cpu(), _machine_busy()
    chunks = [bodies[c::clients] for c in range(clients)]
    pipes, procs = [], []
    for c in range(clients):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=client, args=(host, port, chunks[c], barrier, send, not http_client), daemon=True)
        proc.start()
        send.close()
        pipes.append(recv)
        procs.append(proc)
    results = [p.recv() for p in pipes]
    for proc in procs:
        proc.join(timeout=30)
    used = server_cpu() - server_cpu0
    clients_used = _children_cpu() - clients_cpu0
    machine_busy = _machine_busy()[0] - machine0[0]
    return {"window": max(r[1] for r in results) - min(r[0] for r in results), "server_cpu": used,
            "clients_cpu": clients_used, "others_cpu": max(0.0, machine_busy - used - clients_used),
            "reconnects": sum(r[2] for r in results), "answers": [a for r in results for a in r[3]]}


def _merge(runs: list[dict]) -> dict:
    merged = {k: sum(r[k] for r in runs) for k in ("window", "server_cpu", "clients_cpu", "others_cpu", "reconnects")}
    merged["answers"] = [a for r in runs for a in r["answers"]]
    return merged


def check_answers(answers: list[tuple[int, bytes]], bank_key) -> tuple[int, int, list[str]]:
    """(ok, errors, samples): every answer must be HTTP 200, verify against the bank key and say 00000."""
    ok, errors, samples = 0, 0, []
    for status, raw in answers:
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}: {raw[:200]!r}")
            data = envelope.verify_response(raw.decode("utf-8"), bank_key)
            if data["respCode"] != SUCCESS:
                raise ValueError(f"{data['respCode']} {data['respMsg']}")
            ok += 1
        except Exception as exc:  # noqa: BLE001 - every failure counts
            errors += 1
            if len(samples) < 5:
                samples.append(str(exc))
    return ok, errors, samples


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=4, help="bank worker processes (gunicorn)")
    ap.add_argument("--threads", type=int, default=1, help="threads per bank worker")
    ap.add_argument("--clients", type=int, default=4, help="client processes")
    ap.add_argument("--requests", type=int, default=4000, help="signed tenders to send")
    ap.add_argument("--investors", type=int, default=16, help="investors the tenders are spread over")
    ap.add_argument("--projects", type=int, default=8, help="projects the tenders are spread over")
    ap.add_argument("--amount", default="1.00", help="yuan per tender")
    ap.add_argument("--crypto-seconds", type=float, default=3.0, help="how long to time sign+verify")
    ap.add_argument("--http-client", action="store_true",
                    help="clients use http.client instead of pre-built requests on a bare socket")
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternating bank/prototype windows the requests are split into (ABBA order)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server log)")
    args = ap.parse_args(argv)
    if min(args.workers, args.threads, args.clients, args.requests, args.investors, args.projects, args.rounds) < 1:
        ap.error("workers, threads, clients, requests, investors, projects and rounds must be >= 1")

    workdir = Path(tempfile.mkdtemp(prefix="wanxin-bench-"))
    server = proto = None
    # A Ctrl-C or SIGTERM must still stop the server (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        t0 = time.monotonic()
        server = Server(workdir, args.workers, args.threads)
        plat = Platform(server.url, server.keys, server.sim_token)
        amount_fen = fen(args.amount)
        total_fen = amount_fen * args.requests

        # Setup: one borrower, investors with 2x what they will tender, projects with headroom.
        per_investor = -(-args.requests // args.investors) * amount_fen * 2
        per_project = -(-args.requests // args.projects) * amount_fen * 2
        plat.open_account(1, "B", "BENCH_B", "0.00")
        investors = []
        for i in range(args.investors):
            user_no = f"BENCH_I{i:03d}"
            plat.open_account(100 + i, "I", user_no, yuan(per_investor))
            plat.recharge(user_no, yuan(per_investor))
            investors.append(user_no)
        projects = []
        for j in range(args.projects):
            project_no = f"BENCH_P{j:03d}"
            plat.call("CREATE_PROJECT", {"requestNo": plat.next_no("PRJ"), "userNo": "BENCH_B",
                                         "projectNo": project_no, "projectName": "bench",
                                         "projectAmount": yuan(per_project), "projectPeriod": 12,
                                         "annualRate": "8.0", "repaymentWay": "FIXED_REPAYMENT"})
            projects.append(project_no)
        setup_s = time.monotonic() - t0

        # Sign everything before the window; pre-encode the form bodies.
        run = f"{os.getpid():x}{int(time.time()):x}"
        payloads = [{"requestNo": f"TND{run}{k:07d}", "userNo": investors[k % len(investors)],
                     "projectNo": projects[k % len(projects)], "bizType": "TENDER", "amount": args.amount,
                     "remark": "bench"} for k in range(args.requests)]
        t1 = time.monotonic()
        bodies = [urlencode(plat.fields("USER_AUTO_PRE_TRANSACTION", p)).encode("ascii") for p in payloads]
        sign_s = time.monotonic() - t1

        # The single-core bound, measured while the bank is idle.
        crypto_rate = sign_verify_rate(plat.key, envelope.dumps(payloads[0]), args.crypto_seconds)

        # The prototype: its own database seeded with the same balances and projects, the same keys.
        proto_db = workdir / "prototype.sqlite"
        prototype.seed(proto_db, {u: per_investor for u in investors}, {p: per_project for p in projects})
        proto = prototype.Served(proto_db, server.keys, args.workers, args.threads, workdir / "prototype.log")

        # The timed windows: the SAME pre-signed bodies to each side (their databases are separate),
        # in rounds that alternate which side goes first (ABBA), so drifting machine load hits both.
        sides = {"bank": server, "prototype": proto}
        runs: dict[str, list[dict]] = {"bank": [], "prototype": []}
        for r, part in enumerate(_rounds(bodies, args.rounds)):
            for name in (("bank", "prototype") if r % 2 == 0 else ("prototype", "bank")):
                url = urlsplit(sides[name].url)
                runs[name].append(window_run(url.hostname, url.port, part, args.clients, args.http_client,
                                             sides[name].cpu_seconds))
        bank_w, proto_w = _merge(runs["bank"]), _merge(runs["prototype"])

        # After the windows: verify every answer and count.
        ok, errors, samples = check_answers(bank_w["answers"], plat.bank_key)
        errors += args.requests - len(bank_w["answers"])
        p_ok, p_errors, p_samples = check_answers(proto_w["answers"], plat.bank_key)
        p_errors += args.requests - len(proto_w["answers"])

        frozen = sum(fen(plat.account(u)["frozen"]) for u in investors)
        problems = plat.bank.get("/sim/ledger/verify").get("problems")
        sound = problems == [] and frozen == ok * amount_fen
        proto.stop()
        p_totals = prototype.totals(proto_db)
        p_sound = (p_totals["frozen"] == p_totals["held"] == p_totals["tendered"] == p_ok * amount_fen
                   and p_totals["holds"] == p_ok)

        window, server_cpu, clients_cpu = bank_w["window"], bank_w["server_cpu"], bank_w["clients_cpu"]
        others_cpu = bank_w["others_cpu"]
        reconnects, answers = bank_w["reconnects"], bank_w["answers"]
        rate = ok / window if window > 0 else 0.0
        p_rate = p_ok / proto_w["window"] if proto_w["window"] > 0 else 0.0
        cores = os.cpu_count() or 1
        print(f"bank_direct: signed USER_AUTO_PRE_TRANSACTION (TENDER) round trips through {server.url}")
        print(f"  workers={args.workers} threads={args.threads} (gunicorn gthread, serving.serve, both sides)"
              f"  clients={args.clients} processes"
              f" ({'http.client' if args.http_client else 'raw socket'}, keep-alive)"
              f"  requests={args.requests}  investors={args.investors}  projects={args.projects}"
              f"  amount={args.amount}  rounds={args.rounds}  cpus={cores}")
        print(f"  setup {setup_s:.1f}s; pre-signed {args.requests} requests in {sign_s:.1f}s (outside the window)")
        print(f"  window              {window:8.3f} s")
        print(f"  round trips/s       {rate:8.0f}   ({ok} ok, respCode {SUCCESS}, response signatures verified)")
        print(f"  sign+verify/s       {crypto_rate:8.0f}   "
              "(RSA-2048 SHA256withRSA PKCS1v15, 1 thread, best 0.25 s slice)")
        print(f"  ratio               {rate / crypto_rate:8.2f} x")
        n = max(len(answers), 1)
        print(f"  cpu in window       server {server_cpu:.2f}s ({1000 * server_cpu / n:.2f} ms/request),"
              f" clients {clients_cpu:.2f}s ({1000 * clients_cpu / n:.2f} ms/request),"
              f" busy {(server_cpu + clients_cpu) / window / cores:.0%} of {cores} cores")
        per_rt = (server_cpu + clients_cpu) / n
        if per_rt > 0:
            ceiling = cores / per_rt
            print(f"  cpu-bound ceiling   {ceiling:8.0f}   round trips/s if all {cores} cores did nothing but"
                  f" this at the measured CPU cost ({ceiling / crypto_rate:.2f} x)")
        print(f"  other load          {others_cpu:.2f}s CPU by other processes in the window"
              f" ({others_cpu / window / cores:.0%} of the machine)"
              + ("  << the machine was not quiet: figures are pessimistic" if others_cpu > 0.05 * window else ""))
        print(f"  errors              {errors:8d}" + (f"   e.g. {samples}" if samples else ""))
        print(f"  reconnects          {reconnects:8d}")
        print(f"  frozen total        {yuan(frozen)} (expected {yuan(ok * amount_fen)} of {yuan(total_fen)})")
        print(f"  verify              {'sound' if sound else 'UNSOUND'}"
              + ("" if problems == [] else f"  problems={problems[:5]}"))
        pn = max(len(proto_w["answers"]), 1)
        print(f"prototype (bench/prototype.py, same settings, clients and pre-signed requests) at {proto.url}")
        print(f"  window              {proto_w['window']:8.3f} s")
        print(f"  round trips/s       {p_rate:8.0f}   ({p_ok} ok, response signatures verified)")
        print(f"  cpu in window       server {proto_w['server_cpu']:.2f}s"
              f" ({1000 * proto_w['server_cpu'] / pn:.2f} ms/request),"
              f" clients {proto_w['clients_cpu']:.2f}s ({1000 * proto_w['clients_cpu'] / pn:.2f} ms/request),"
              f" other load {proto_w['others_cpu'] / proto_w['window'] / cores:.0%} of the machine")
        print(f"  errors              {p_errors:8d}" + (f"   e.g. {p_samples}" if p_samples else ""))
        print(f"  totals              {'sound' if p_sound else 'UNSOUND'}  (frozen {yuan(p_totals['frozen'])},"
              f" {p_totals['holds']} holds)")
        bank_ms, proto_ms = 1000 * server_cpu / n, 1000 * proto_w["server_cpu"] / pn
        print(f"bank/prototype ratio {rate / p_rate if p_rate else 0.0:.2f} x   (rate; server CPU per request"
              f" bank {bank_ms:.2f} ms, prototype {proto_ms:.2f} ms: {bank_ms / proto_ms if proto_ms else 0.0:.2f}x)")
        return 0 if errors == 0 and sound and p_errors == 0 and p_sound else 1
    finally:
        if server is not None:
            server.stop()
        if proto is not None:
            proto.stop()
        if args.keep:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
