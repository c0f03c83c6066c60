"""Wall time of the scale scenario's shape at 100, 250, 500 and 1,000 investors.

    python bench/scenario_scale.py [--counts 100,250,500,1000]
    python bench/scenario_scale.py --baseline 5faebad [--counts 100,300]
    python bench/scenario_scale.py --one 100          # one size, one JSON line (what --baseline runs)

The template is ``scenarios/scale_1000_investors.yaml`` itself: one borrower,
an actor group of N investors who each open an account through the gateway,
recharge and tender 100.00 into one project of N x 100.00 (等额本息, 12
periods), the loan, all twelve repayments, the ledger check and every
business day reconciled. For each N the group size and the project amount are
substituted, the file is written to a temp dir and run with
``scenarios.runner.run_file`` (both apps in this process on loopback, fresh
SQLite files), and the wall time is printed with how it grows: time per
investor and the ratio to the smallest run, split into the phases that scale
with N. Other processes' CPU in the window is reported, because the apps, the
runner and the user-agent share this one process and its cores.

With ``--baseline REV`` every size runs twice, each in its own interpreter
subprocess (``--one N``): once with the working tree's code and once with the
code of git revision REV, checked out in a temporary ``git worktree`` with a
throw-away virtualenv (``--system-site-packages``: the dependencies installed
here). This measuring script is copied into that tree, so its ``ROOT`` is the
baseline's and every import (runner, both apps, the template) is the
baseline's own; nothing is mixed. The two sides alternate which goes first.
Per size it prints both wall times, the ratio new/baseline, and per investor
the HTTP requests both apps served (counted at werkzeug's request handler, the
same on both revisions) and the CPU of the process.

Exit status is non-zero if any run fails.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


TEMPLATE = ROOT / "scenarios" / "scale_1000_investors.yaml"
PER_INVESTOR_FEN = 10_000  # every investor tenders 100.00
PHASES = {  # step name -> column
    "open_account": "open", "recharge": "recharge", "tender": "tender", "approve_loan": "loan",
    "advance_days": "repay", "run_repayments": "repay", "expect_reconciled": "reconcile",
}
COLUMNS = ("setup", "open", "recharge", "tender", "loan", "repay", "reconcile", "checks")


def scenario_text(count: int) -> str:
    """The template with the group size and the project amount substituted (each exactly once)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    total = count * PER_INVESTOR_FEN
    for pattern, value in ((r"count: 1000\b", f"count: {count}"),
                           (r'amount: "100000\.00"', f'amount: "{total // 100}.{total % 100:02d}"')):
        text, n = re.subn(pattern, value, text)
        if n != 1:
            raise SystemExit(f"{TEMPLATE}: expected one {pattern!r}, found {n}; update bench/scenario_scale.py")
    return text


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat), or 0 where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


_SERVED = itertools.count()


def count_requests() -> None:
    """Count every HTTP request either in-process app serves (werkzeug's handler; thread-safe counter)."""
    from werkzeug.serving import WSGIRequestHandler

    original = WSGIRequestHandler.run_wsgi

    def run_wsgi(self):
        next(_SERVED)
        return original(self)

    WSGIRequestHandler.run_wsgi = run_wsgi  # type: ignore[method-assign]


def served() -> int:
    return next(_SERVED)  # the counter's value (consumes one; callers take differences)


def run_one(count: int, directory: Path) -> dict:
    from scenarios import runner

    path = directory / f"scale_{count}_investors.yaml"
    path.write_text(scenario_text(count), encoding="utf-8")
    lines: list[str] = []
    busy0, cpu0, requests0, t0 = machine_busy(), own_cpu(), served(), time.perf_counter()
    result = runner.run_file(path, echo=lines.append)
    wall = time.perf_counter() - t0
    cpu, busy, requests = own_cpu() - cpu0, machine_busy() - busy0, served() - requests0 - 1
    phases = dict.fromkeys(COLUMNS, 0.0)
    for step in result.steps:
        phases[PHASES.get(step.name, "checks")] += step.seconds
    phases["setup"] = result.seconds - sum(step.seconds for step in result.steps)
    if not result.ok:
        print("\n".join(lines), file=sys.stderr)
    return {"count": count, "ok": result.ok, "wall": wall, "cpu": cpu, "others": max(0.0, busy - cpu),
            "requests": requests, "phases": phases}


class Baseline:
    """Git revision ``rev`` in a temporary worktree with its own virtualenv; removed on close."""

    def __init__(self, rev: str):
        self.tmp = Path(tempfile.mkdtemp(prefix="wanxin-baseline-"))
        self.tree = self.tmp / "tree"
        self.sha = subprocess.run(["git", "rev-parse", "--verify", rev + "^{commit}"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout.strip()
        subprocess.run(["git", "worktree", "add", "--detach", str(self.tree), self.sha], cwd=ROOT, check=True,
                       capture_output=True, text=True)
        venv = self.tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                       check=True, capture_output=True, text=True)
        self.python = str(venv / "bin" / "python")
        script = self.tree / "bench" / "scenario_scale.py"
        script.parent.mkdir(exist_ok=True)
        shutil.copyfile(Path(__file__).resolve(), script)  # the measuring code; ROOT becomes the baseline tree
        self.script = str(script)

    def close(self) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.tree)], cwd=ROOT, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_side(python: str, script: str, cwd: Path, count: int) -> dict:
    """``script --one count`` in its own interpreter; the last stdout line is the JSON row."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WANXIN_SIM_TOKEN")}
    done = subprocess.run([python, script, "--one", str(count)], cwd=cwd, capture_output=True, text=True, env=env)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        return {"count": count, "ok": False, "wall": 0.0, "cpu": 0.0, "others": 0.0, "requests": 0, "phases": {}}


def compare(rev: str, counts: list[int]) -> int:
    cores = os.cpu_count() or 1

    def load(row: dict) -> float:
        return row["others"] / max(row["wall"], 1e-9) / cores

    base = Baseline(rev)
    rows = []
    try:
        print(f"scenario_scale --baseline {rev} ({base.sha[:10]}): {TEMPLATE.relative_to(ROOT)}, N investors x 100.00,"
              f" 12 periods; each side its own code in its own interpreter; {cores} core(s)")
        print(f"{'investors':>9}  {'new s':>7}  {'base s':>7}  {'new/base':>8}  {'req/inv new':>11}"
              f"  {'req/inv base':>12}  {'cpu ms/inv new':>14}  {'cpu ms/inv base':>15}  other load new/base")
        for i, count in enumerate(counts):
            sides = {}
            order = ("new", "base") if i % 2 == 0 else ("base", "new")
            for side in order:
                if side == "new":
                    sides[side] = run_side(sys.executable, str(Path(__file__).resolve()), ROOT, count)
                else:
                    sides[side] = run_side(base.python, base.script, base.tree, count)
            new, old = sides["new"], sides["base"]
            for row, tree in ((new, ROOT), (old, base.tree)):  # each side ran its own tree's code
                if row.get("root") not in (None, str(tree)):
                    raise SystemExit(f"a run imported {row['root']}, not {tree}")
            rows.append((new, old))
            ratio = new["wall"] / old["wall"] if old["wall"] else 0.0
            print(f"{count:>9}  {new['wall']:>7.1f}  {old['wall']:>7.1f}  {ratio:>7.2f}x"
                  f"  {new['requests'] / count:>11.1f}  {old['requests'] / count:>12.1f}"
                  f"  {1000 * new['cpu'] / count:>14.1f}  {1000 * old['cpu'] / count:>15.1f}"
                  f"  {load(new):>4.0%}/{load(old):.0%}"
                  + ("" if new["ok"] and old["ok"] else
                     "  FAILED: " + " ".join(k for k, r in (("new", new), ("base", old)) if not r["ok"])), flush=True)
    finally:
        base.close()
    print("columns: wall seconds of the whole run incl. starting both apps; new/base < 1 means faster now;"
          " req/inv = HTTP requests both apps served / N; cpu ms/inv = the run's process CPU / N;"
          " other load = other processes' CPU share of the machine during each side's run")
    return 0 if all(n["ok"] and o["ok"] for n, o in rows) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="100,250,500,1000", help="investor counts, comma-separated")
    ap.add_argument("--baseline", metavar="REV", help="also run every size with the code of git revision REV")
    ap.add_argument("--one", type=int, metavar="N", help="run one size here and print its figures as one JSON line")
    args = ap.parse_args(argv)
    count_requests()
    if args.one is not None:
        with tempfile.TemporaryDirectory(prefix="wanxin-scale-") as tmp:
            row = run_one(args.one, Path(tmp))
        print(json.dumps({**row, "root": str(ROOT)}))
        return 0 if row["ok"] else 1
    counts = sorted({int(c) for c in args.counts.split(",")})
    if args.baseline:
        return compare(args.baseline, counts)
    cores = os.cpu_count() or 1
    print(f"scenario_scale: {TEMPLATE.relative_to(ROOT)} with N investors x 100.00 in one project, 12 periods"
          f" (等额本息); both apps in process on loopback; {cores} core(s)")
    header = (f"{'investors':>9}  {'wall s':>7}  {'ms/investor':>11}  {'vs ' + str(counts[0]):>7}"
              f"  {'per-investor':>12}  " + "  ".join(f"{c:>9}" for c in COLUMNS) + "  other load")
    print(header)
    rows = []
    with tempfile.TemporaryDirectory(prefix="wanxin-scale-") as tmp:
        for count in counts:
            row = run_one(count, Path(tmp))
            rows.append(row)
            base = rows[0]
            per = row["wall"] / count
            print(f"{count:>9}  {row['wall']:>7.1f}  {1000 * per:>11.1f}  {row['wall'] / base['wall']:>6.2f}x"
                  f"  {per / (base['wall'] / base['count']):>11.2f}x  "
                  + "  ".join(f"{row['phases'][c]:>8.1f}s" for c in COLUMNS)
                  + f"  {row['others'] / row['wall'] / cores:>4.0%}"
                  + ("" if row["ok"] else "  FAILED"), flush=True)
    print("columns: wall = whole run incl. starting both apps; vs = wall / wall at the smallest N;"
          " per-investor = (wall/N) / (wall/N at the smallest N), 1.00x is linear;"
          " phases in step seconds (setup = cards and platform users); other load = other processes' CPU share")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
