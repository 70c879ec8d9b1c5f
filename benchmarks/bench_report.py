"""Time a full `reportgen run` (analysis + charts + HTML + PDF) and `reportgen render --from`.

Run from the repository root:

    python benchmarks/bench_report.py                 # the real file from ../shared, 3 runs
    python benchmarks/bench_report.py --repeats 5 --data data/customers_sample.csv

Each run is a fresh `python -m reportgen ...` process (cold: imports included), so the times
are what a user waits for. Prints the machine, the median (min/max) of the runs and the
targets: full run <= 20 s, render --from <= 3 s. `render --from` re-renders the run folder
of the last full run, reusing its charts (same brand); `--brand northwind` also times a
re-render whose charts must be redrawn in new colours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # noqa: E402  (benchmarks/machine.py)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"
TARGETS = {"run": 20.0, "render --from": 3.0}


def _timed(args: list[str], repeats: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "reportgen", *args, "--quiet"],
            check=True,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return times


def _line(label: str, times: list[float], target: float | None) -> str:
    median = statistics.median(times)
    verdict = (
        ""
        if target is None
        else f"  target <= {target:.0f} s: " + ("met" if median <= target else "MISSED")
    )
    return (
        f"{label:<26} median {median:6.2f} s   (min {min(times):.2f}, max {max(times):.2f}, "
        f"runs {len(times)}){verdict}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--brand", default=None, help="also time render --from with this brand (new colours)"
    )
    args = parser.parse_args(argv)
    if not args.data.exists():
        sys.exit(f"{args.data} not found — give --data (the real file lives in ../shared)")

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(describe(("weasyprint", "matplotlib", "pandas", "scikit-learn", "shap")))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        run = ["run", "--data", str(args.data), "--out", str(out), "--period", "2024-06"]
        run += ["--no-history"]
        full = _timed(run, args.repeats, env)
        render = _timed(["render", "--from", str(out)], args.repeats, env)
        pages = _pages(out / "report.pdf")
        print(f"input {args.data.name}; report.pdf {pages} pages")
        print(_line("reportgen run (cold)", full, TARGETS["run"]))
        print(_line("render --from (cold)", render, TARGETS["render --from"]))
        if args.brand:
            brand = _timed(["render", "--from", str(out), "--brand", args.brand], 1, env)
            default = _timed(["render", "--from", str(out)], 1, env)
            print(_line(f"render --brand {args.brand}", brand, None), "(charts redrawn)")
            print(_line("render back to default", default, None), "(charts redrawn)")


def _pages(pdf: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(pdf).pages)


if __name__ == "__main__":
    main()
