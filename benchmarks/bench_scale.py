"""Scale benchmark: the full job (analysis + charts + HTML + PDF) from 2,240 to 10,000,000 rows.

Run from the repository root:

    python benchmarks/bench_scale.py                      # every row of the table, 3 repeats
    python benchmarks/bench_scale.py --only real,100k     # some rows
    python benchmarks/bench_scale.py --repeats 1 --only 10m

Each measurement is a cold `python -m reportgen run` process; its wall time, CPU time (user +
system of the process and its children) and peak RSS (the largest of the process and its
forked children, from getrusage) are taken, and the per-stage timings come from the run's
summary.json. Inputs are made with `reportgen synth` into a temporary folder and removed
afterwards. The real-file target is relative to the bare import time of the stack, measured
in the same run (this machine is shared and noisy). Prints medians with min/max.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # noqa: E402  (benchmarks/machine.py)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"
STACK = "import pandas, sklearn.cluster, lime.lime_tabular, matplotlib.pyplot, weasyprint"

#: name -> (rows or None for the real file, file suffix, wall target s, memory target MB)
CASES = {
    "real": (None, ".csv", None, 500),
    "100k": (100_000, ".csv", 20.0, 1536),
    "1m": (1_000_000, ".csv", 60.0, 3072),
    "10m": (10_000_000, ".parquet", 600.0, 8192),
}
REAL_FACTOR = 3.5  # real file: at most this many times the stack's bare import time


def _child(args: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one cold process and its children."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # a fresh child per measurement, so RUSAGE_CHILDREN peaks are its own
        done = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = f"{done.returncode} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}\n"
        with open(os.environ["BENCH_OUT"], "w") as fh:
            fh.write(line)
        os._exit(0)
    os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    code, cpu, rss = Path(os.environ["BENCH_OUT"]).read_text().split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit code {code}")
    return wall, float(cpu), int(rss) / 1024


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} (min {min(values):.2f}, max {max(values):.2f})"


def _stages(run: Path) -> str:
    timings = json.loads((run / "summary.json").read_text())["run"]["timings"]
    return ", ".join(f"{k} {v:.1f}" for k, v in timings.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="real,100k,1m,10m", help="comma-separated case names")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    wanted = [c.strip() for c in args.only.split(",") if c.strip()]
    print(describe(("numpy", "pandas", "scikit-learn", "pyarrow", "weasyprint")))
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    os.environ["BENCH_OUT"] = str(tmp / "usage.txt")
    py = sys.executable
    failed = []
    try:
        stack = [_child([py, "-c", STACK], tmp)[0] for _ in range(args.repeats)]
        print(f"{'stack import':<14} wall {_stats(stack)} s")
        for name, cmd in (("--help", ["--help"]), ("history", ["history", "--db", "none.db"])):
            walls = [_child([py, "-m", "reportgen", *cmd], tmp)[0] for _ in range(args.repeats)]
            verdict = "met" if statistics.median(walls) <= 0.5 else "MISSED"
            print(f"{name:<14} wall {_stats(walls)} s   target <= 0.5 s: {verdict}")
            if verdict != "met":
                failed.append(name)
        for name in wanted:
            rows, suffix, wall_target, mem_target = CASES[name]
            if rows is None:
                if not REAL.exists():
                    print(f"{name}: {REAL} not found, skipped")
                    continue
                data = REAL
                wall_target = REAL_FACTOR * statistics.median(stack)
            else:
                data = tmp / f"customers-{name}{suffix}"
                subprocess.run(
                    [
                        py,
                        "-m",
                        "reportgen",
                        "synth",
                        "--rows",
                        str(rows),
                        "--seed",
                        "1",
                        "-o",
                        str(data),
                        "--quiet",
                    ],
                    check=True,
                    cwd=tmp,
                )
            walls, cpus, rsss = [], [], []
            for i in range(args.repeats if rows is None or rows <= 1_000_000 else 1):
                out = tmp / f"run-{name}-{i}"
                wall, cpu, rss = _child(
                    [
                        py,
                        "-m",
                        "reportgen",
                        "run",
                        "--data",
                        str(data),
                        "--out",
                        str(out),
                        "--no-history",
                        "--quiet",
                    ],
                    tmp,
                )
                walls.append(wall), cpus.append(cpu), rsss.append(rss)
                stages = _stages(out)
                shutil.rmtree(out)
            ok = statistics.median(walls) <= wall_target and statistics.median(rsss) <= mem_target
            if not ok:
                failed.append(name)
            print(
                f"{name:<14} wall {_stats(walls)} s (target <= {wall_target:.1f})   "
                f"CPU {_stats(cpus)} s   peak RSS {_stats(rsss)} MB (target <= {mem_target})   "
                f"{'met' if ok else 'MISSED'}\n{'':<14} stages of the last run: {stages}"
            )
            if rows is not None:
                data.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("all targets met" if not failed else f"targets missed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
