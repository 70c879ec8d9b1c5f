"""A speed-up claimed on a shared machine: this checkout against another, in the same run.

    git worktree add /tmp/base <commit>
    python benchmarks/bench_compare.py --base /tmp/base --data ../shared/data/marketing_campaign.csv
    python benchmarks/bench_compare.py --base /tmp/base --data customers-100k.csv --repeats 5

Runs `reportgen run --no-history --quiet` on the same input from both checkouts,
alternating (base, this, base, this, ...), each a cold process with its own package on
PYTHONPATH; prints every run's wall time, peak RSS (the process and its forked children)
and stage timings, then the medians.
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


def _run(checkout: Path, data: Path, out: Path, usage: Path) -> tuple[float, float]:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # a fresh child per run, so RUSAGE_CHILDREN peaks are its own
        env = dict(os.environ, PYTHONPATH=str(checkout))
        args = [sys.executable, "-m", "reportgen", "run", "--data", str(data), "--out", str(out)]
        done = subprocess.run(
            [*args, "--no-history", "--quiet"], cwd=checkout, env=env, stdout=subprocess.DEVNULL
        )
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        usage.write_text(f"{done.returncode} {peak}")
        os._exit(0)
    os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    code, peak = usage.read_text().split()
    if int(code) != 0:
        raise SystemExit(f"{checkout}: reportgen run failed with exit code {code}")
    return wall, int(peak) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="the other checkout")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    opts = ap.parse_args()
    print(describe(("numpy", "pandas", "scikit-learn", "weasyprint")))
    tmp = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    walls: dict[str, list[float]] = {"base": [], "this": []}
    try:
        for _ in range(opts.repeats):
            for name, checkout in (("base", opts.base.resolve()), ("this", ROOT)):
                out = tmp / name
                wall, peak = _run(checkout, opts.data.resolve(), out, tmp / "usage")
                timings = json.loads((out / "summary.json").read_text())["run"]["timings"]
                stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
                print(f"{name:<5} {wall:6.2f} s  {peak:6.0f} MB  {stages}", flush=True)
                walls[name].append(wall)
                shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, values in walls.items():
        print(f"{name:<5} median {statistics.median(values):.2f} s (min {min(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
