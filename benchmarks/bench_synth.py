"""Time the synthetic data generator: generate() and writing the result as CSV.

Run from the repository root:

    python benchmarks/bench_synth.py               # 1,000,000 rows, seed 1, 3 runs
    python benchmarks/bench_synth.py --rows 200000 --repeats 5

Prints the median (and the min/max) of the runs for: generate(rows, seed); writing that
frame as a tab-separated CSV with the writer write_synthetic uses; and write_synthetic
end to end (generate + write to a temporary file + os.replace).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportgen.input import synth  # noqa: E402


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _line(label: str, times: list[float]) -> str:
    return (
        f"{label:<34} median {statistics.median(times):6.2f} s"
        f"   (min {min(times):.2f}, max {max(times):.2f}, runs {len(times)})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    frame = synth.generate(args.rows, args.seed)  # warm-up (imports, caches)
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "bench.csv"
        gen = _timed(lambda: synth.generate(args.rows, args.seed), args.repeats)
        write = _timed(lambda: synth._write_frame(frame, csv), args.repeats)
        size_mb = csv.stat().st_size / 1e6
        both = _timed(lambda: synth.write_synthetic(csv, args.rows, args.seed), args.repeats)

    print(f"synthetic data: {args.rows:,} rows, seed {args.seed}, CSV {size_mb:.0f} MB")
    print(_line(f"generate({args.rows}, {args.seed})", gen))
    print(_line("write CSV (frame -> file)", write))
    print(_line("write_synthetic (generate + write)", both))


if __name__ == "__main__":
    main()
