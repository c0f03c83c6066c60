"""Wall time of the scale scenario's shape at 100, 250, 500 and 1,000 investors.

    python bench/scenario_scale.py [--counts 100,250,500,1000]

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

Exit status is non-zero if any run fails.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scenarios import runner  # noqa: E402

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


def run_one(count: int, directory: Path) -> dict:
    path = directory / f"scale_{count}_investors.yaml"
    path.write_text(scenario_text(count), encoding="utf-8")
    lines: list[str] = []
    busy0, cpu0, t0 = machine_busy(), own_cpu(), time.perf_counter()
    result = runner.run_file(path, echo=lines.append)
    wall = time.perf_counter() - t0
    cpu, busy = own_cpu() - cpu0, machine_busy() - busy0
    phases = dict.fromkeys(COLUMNS, 0.0)
    for step in result.steps:
        phases[PHASES.get(step.name, "checks")] += step.seconds
    phases["setup"] = result.seconds - sum(step.seconds for step in result.steps)
    if not result.ok:
        print("\n".join(lines), file=sys.stderr)
    return {"count": count, "ok": result.ok, "wall": wall, "cpu": cpu, "others": max(0.0, busy - cpu),
            "phases": phases}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="100,250,500,1000", help="investor counts, comma-separated")
    args = ap.parse_args(argv)
    counts = sorted({int(c) for c in args.counts.split(",")})
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
