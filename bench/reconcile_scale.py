"""Reconciling one business day of 10,000 and 100,000 movements: time and peak memory.

    python bench/reconcile_scale.py [--sizes 10000 100000] [--users 10]

For each size, in a fresh subprocess (so ``ru_maxrss`` starts clean):

1. ``Sandbox`` starts the bank and the platform on loopback with fresh SQLite
   files made by their real schema files; ``--users`` investors open their
   accounts and recharge 1,000.00 each through the real gateway flow;
2. the size's movements are inserted with plain SQL, streamed from a
   generator, into the bank's ``requests`` table and the platform's
   ``depository_records`` table for that business date, as matched pairs per
   user (a RECHARGE of x and a WITHDRAW of x), so every user's net is zero and
   the balance check stays meaningful and cheap (one QUERY_USER per user);
3. both clocks move on a day (the day is closed), and the platform's
   ``reconcile`` runs for the day with the balance check on: once untraced for
   the wall time and ``ru_maxrss``, once under ``tracemalloc`` for the Python
   heap's peak. The bank serves the streamed ``/checkfile`` in a thread of the
   same process, so both sides' allocations are counted. For comparison, the
   peak of one whole-file ``DOWNLOAD_CHECKFILE`` (``respData.content``) is
   measured the same way.

A flat peak between 10,000 and 100,000 movements, against a file ten times
larger, shows that memory does not grow with the file. Exit status is non-zero
if a report is not clean.
"""
from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bank_depository.client import SimClient  # noqa: E402
from p2p_platform.services import reconcile  # noqa: E402
from scenarios.harness import Sandbox, UserAgent  # noqa: E402
from scenarios.runner import identity  # noqa: E402

PASSWORD = "123456"
RECHARGE_FEN = 100_000  # what each user really has at the bank: 1,000.00


def open_users(sb: Sandbox, count: int) -> list[str]:
    """Investors opened and funded through the platform's API and the bank's pages."""
    # one credential opens the bank's /sim and the platform's API
    bank = SimClient(sb.bank_url, sb.sim_token, timeout=30)
    platform = SimClient(sb.platform_url, sb.sim_token, timeout=30)
    ua, users = UserAgent(), []
    for i in range(1, count + 1):
        ident = identity(i, 4242)
        card = {"fullname": f"投资人{i}", **ident, "balance": "5000.00"}
        bank.post("/sim/bank-cards", json=card)
        user = platform.post("/api/users", json={"username": f"inv{i}", "role": "investor", **card})
        gateway = platform.post(f"/api/users/{user['userNo']}/open-account")
        assert ua.complete(gateway, PASSWORD)["code"] == 0
        sb.deliver_notifications()
        gateway = platform.post(f"/api/users/{user['userNo']}/recharges", json={"amount": f"{RECHARGE_FEN // 100}.00"})
        assert ua.complete(gateway, PASSWORD)["code"] == 0
        sb.deliver_notifications()
        users.append(user["userNo"])
    return users


def movements(size: int, users: list[str], day: str):
    """(requestNo, service, userNo, amount fen, finished ISO) pairs that cancel out per user."""
    for i in range(size):
        pair, second = divmod(i, 2)
        micros = 3600 * 10**6 + i * 500  # from 10:00 on, half a millisecond apart
        seconds, us = divmod(micros, 10**6)
        at = f"{day}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{us:06d}+08:00"
        yield (f"BENCH{i:08d}", "WITHDRAW" if second else "RECHARGE", users[pair % len(users)],
               100 + pair % 9_900, at)


def load(sb: Sandbox, size: int, users: list[str], day: str) -> None:
    with sqlite3.connect(sb.workdir / "bank.sqlite") as bank:
        bank.executemany(
            "INSERT INTO requests (platform_no, request_no, service_name, payload, status, resp_code, user_no,"
            " amount, commission, created_at, finished_at, business_date)"
            " VALUES ('wanxinp2p', ?, ?, '{}', 1, '00000', ?, ?, 0, ?, ?, ?)",
            ((no, service, user, amount, at, at, day) for no, service, user, amount, at in movements(size, users, day)))
    with sqlite3.connect(sb.workdir / "platform.sqlite") as platform:
        platform.executemany(
            "INSERT INTO depository_records (request_no, service_name, object_type, object_id, payload, status,"
            " resp_code, amount, commission, user_no, created_at, confirmed_at)"
            " VALUES (?, ?, 'bench', ?, '{}', 1, '00000', ?, 0, ?, ?, ?)",
            ((no, service, no, amount, user, at, at) for no, service, user, amount, at in movements(size, users, day)))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one(size: int, user_count: int) -> dict:
    with Sandbox(seed=1) as sb:
        users = open_users(sb, user_count)
        day = sb.platform_ctx.clock.today()
        load(sb, size, users, day.isoformat())
        sb.advance(86400)
        rss_before = rss_mb()
        started = time.perf_counter()
        report = reconcile.reconcile(sb.platform_ctx, day)
        seconds = time.perf_counter() - started
        rss_after = rss_mb()
        tracemalloc.start()
        traced = reconcile.reconcile(sb.platform_ctx, day)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        file_bytes = _file_size(sb, day.isoformat())
        tracemalloc.start()
        whole = sb.platform_ctx.bank.call("DOWNLOAD_CHECKFILE",
                                          {"requestNo": "BENCH_WHOLE", "fileDate": day.isoformat()})
        assert whole.ok and len(whole.data["content"].encode()) == file_bytes
        del whole
        _, whole_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"size": size, "users": user_count, "lines": report["bank"]["count"], "fileMB": file_bytes / 2**20,
            "seconds": seconds, "tracemallocPeakMB": peak / 2**20, "rssBeforeMB": rss_before,
            "rssDeltaMB": rss_after - rss_before,
            "respDataPeakMB": whole_peak / 2**20, "breaks": len(report["breaks"]) + len(traced["breaks"]),
            "clean": report["clean"] and traced["clean"] and report["bank"]["count"] == size + user_count}


def _file_size(sb: Sandbox, day: str) -> int:
    """The streamed file's size, read once through the platform's client (not kept)."""
    ctx = sb.platform_ctx
    with ctx.bank.stream_checkfile(day, "BENCH_SIZE") as download:
        for _ in download.lines():
            pass
    return download.verified.size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.users)))
        return 0
    rows = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--users", str(args.users)],
                             check=True, capture_output=True, text=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"reconcile one closed business day, balance check on ({args.users} users, one QUERY_USER each);"
          " bank and platform in one process")
    print(f"{'movements':>10} {'file MB':>8} {'wall s':>7} {'tracemalloc peak MB':>20} {'ru_maxrss +MB':>14}"
          f" {'breaks':>7}   {'(whole-file respData download, peak MB)':>40}")
    for r in rows:
        print(f"{r['size']:>10,} {r['fileMB']:>8.1f} {r['seconds']:>7.2f} {r['tracemallocPeakMB']:>20.2f}"
              f" {r['rssDeltaMB']:>14.1f} {r['breaks']:>7}   {r['respDataPeakMB']:>40.1f}")
    print("tracemalloc peak includes ~9.5 MB per HTTP request that werkzeug's dev server allocates after every"
          " response\n(rfile.read(10_000_000) while draining the socket); it does not depend on the file.")
    return 0 if all(r["clean"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
