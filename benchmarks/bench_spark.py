"""Spark benchmark: `run --engine spark` in local mode against the local engine, same data.

Run from the repository root (Java 17 and `pip install ".[spark]"` needed):

    python benchmarks/bench_spark.py                         # 10,000,000 customers, local[2]
    python benchmarks/bench_spark.py --rows 1000000 --repeats 3

The table is made with `reportgen synth` (one Parquet file, read by the local engine) and
rewritten as a Parquet dataset of 1,000,000-row files (read by Spark). Each measurement is a
cold `python -m reportgen run --no-report --no-history` process. Its wall time is measured,
and its memory by polling /proc every 0.2 s: the peak of the Python driver (VmHWM), of the
JVM (the Spark driver, which in local mode also runs the executors' JVM side), of the
largest Python worker (an executor's, which runs reportgen's code on a partition) and of
the whole process tree. Three runs per repeat: the local engine,
Spark with the sample fit, Spark with `[engine] fit = "all"` (MLlib on every row, once).

Compared: the local engine's and the Spark engine's segments (ARI over every customer) and
summaries (figures that differ beyond 1e-9 relative), and the sample fit against MLlib's fit
on all rows (ARI over every customer; centroid shift in standard deviations of the scaled
clustering features, centres matched by least total distance).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # noqa: E402  (benchmarks/machine.py)

PY = sys.executable
RUN_FACTS = {"input_path", "input_sha256", "input_format", "fingerprint_of", "config"}
RUN_FACTS |= {"timings", "started_at", "engine", "segments_file"}


def _tree(root: int) -> dict[int, str]:
    """pid -> first word of the command line, for `root` and its descendants."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0]
            names[int(entry)] = os.path.basename(cmd.decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    inside, changed = {root}, True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in inside and pid not in inside:
                inside.add(pid)
                changed = True
    return {pid: names.get(pid, "?") for pid in inside}


def _kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(args: list[str], cwd: Path) -> dict[str, float]:
    """Wall s, and peak MB of the Python driver, the JVM and the whole tree, of one run."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = {"driver": 0, "jvm": 0, "worker": 0, "tree": 0}
    while child.poll() is None:
        tree = _tree(child.pid)
        total = 0
        for pid, name in tree.items():
            rss = _kb(pid, "VmRSS")
            total += rss
            if pid == child.pid:
                peak["driver"] = max(peak["driver"], _kb(pid, "VmHWM"))
            elif name == "java":
                peak["jvm"] = max(peak["jvm"], _kb(pid, "VmHWM"))
            elif name.startswith("python"):  # a Python worker of an executor (or the daemon)
                peak["worker"] = max(peak["worker"], _kb(pid, "VmHWM"))
        peak["tree"] = max(peak["tree"], total)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({child.returncode}):\n{err[-2000:]}")
    return {"wall": wall, **{k: v / 1024 for k, v in peak.items()}}


def _differences(a, b, path="") -> list[str]:
    if isinstance(a, dict):
        keys = (set(a) | set(b)) - (RUN_FACTS if path == "/run" else set())
        return [d for k in sorted(keys) for d in _differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        same = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
        return [] if same else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _segments(folder: Path):
    import pandas as pd

    if (folder / "segments.csv").exists():
        frame = pd.read_csv(
            folder / "segments.csv", usecols=["customer_id", "segment"], dtype={"customer_id": str}
        )
    else:
        frame = pd.read_parquet(folder / "segments", columns=["customer_id", "segment"])
    return frame.set_index("customer_id")["segment"]


def _ari(a: Path, b: Path) -> float:
    from sklearn.metrics import adjusted_rand_score

    x, y = _segments(a), _segments(b)
    y = y.reindex(x.index)
    assert y.notna().all() and len(x) == len(y), "the runs scored different customers"
    return adjusted_rand_score(x.to_numpy(), y.to_numpy())


def _centroid_shift(a: Path, b: Path) -> tuple[float, float]:
    """(mean, largest) distance between matched centres, in scaled-feature units."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    def centres(folder: Path):
        return np.asarray(json.loads((folder / "model.json").read_text())["centroids"], float)

    ca, cb = centres(a), centres(b)
    cost = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    shift = cost[rows, cols]
    return float(shift.mean()), float(shift.max())


def _line(name: str, runs: list[dict[str, float]]) -> str:
    name = name if len(name) <= 22 else name + "\n" + " " * 22

    def med(key: str) -> str:
        values = [r[key] for r in runs]
        return f"{statistics.median(values):8.1f} (min {min(values):.1f}, max {max(values):.1f})"

    return (
        f"{name:<22} wall {med('wall')} s   driver {med('driver')} MB   JVM {med('jvm')} MB"
        f"   largest Python worker {med('worker')} MB   process tree {med('tree')} MB"
    )


def _stages(folder: Path) -> str:
    timings = json.loads((folder / "summary.json").read_text())["run"]["timings"]
    return ", ".join(f"{k} {v:.1f}" for k, v in timings.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g", help="spark.driver.memory")
    parser.add_argument("--keep", default=None, help="keep the data and runs in this folder")
    parser.add_argument(
        "--mllib-starts", type=int, default=3, help="clustering.n_init of the MLlib fit"
    )
    args = parser.parse_args()
    print(describe(("numpy", "pandas", "scikit-learn", "pyarrow", "pyspark")))
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-spark-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        single = tmp / "customers.parquet"
        lake = tmp / "lake"
        if not single.exists():
            made = time.perf_counter()
            subprocess.run(
                [PY, "-m", "reportgen", "synth", "--rows", str(args.rows), "--seed", "1"]
                + ["-o", str(single), "--quiet"],
                check=True,
            )
            print(f"synth {args.rows:,} rows: {time.perf_counter() - made:.0f} s")
        if not lake.exists():
            import pyarrow.dataset as ds

            ds.write_dataset(
                ds.dataset(single),
                lake,
                format="parquet",
                max_rows_per_file=1_000_000,
                max_rows_per_group=200_000,
            )
        files = len(list(lake.glob("*.parquet")))
        print(f"{args.rows:,} customers; Spark reads {files} files of up to 1,000,000 rows")
        settings = f'"spark.driver.memory" = "{args.driver_memory}"'
        base = f'[engine]\nmaster = "{args.master}"\nsettings = {{ {settings} }}\n'
        (tmp / "sample.toml").write_text(base, encoding="utf-8")
        starts = f"[clustering]\nn_init = {args.mllib_starts}\n"
        (tmp / "all.toml").write_text(base + 'fit = "all"\n' + starts, encoding="utf-8")

        def run(name: str, data: Path, config: str | None = None) -> dict[str, float]:
            out = tmp / name
            shutil.rmtree(out, ignore_errors=True)
            cmd = [PY, "-m", "reportgen", "--quiet"]
            if config:
                cmd += ["--config", str(tmp / config), "run", "--engine", "spark"]
            else:
                cmd += ["run"]
            cmd += ["--data", str(data), "--out", str(out), "--no-report", "--no-history"]
            return measure(cmd, tmp)

        local, spark, everything = [], [], []
        for i in range(args.repeats):
            local.append(run("local", single))
            spark.append(run("spark", lake, "sample.toml"))
            if i == 0:
                everything.append(run("spark-all", lake, "all.toml"))
        print(_line("local engine", local))
        print(f"{'':<22} stages: {_stages(tmp / 'local')}")
        print(_line(f"spark {args.master}", spark))
        print(f"{'':<22} stages: {_stages(tmp / 'spark')}")
        print(_line(f"spark, MLlib on all ({args.mllib_starts} starts)", everything))
        print(f"{'':<22} stages: {_stages(tmp / 'spark-all')}")
        a = json.loads((tmp / "local" / "summary.json").read_text())
        b = json.loads((tmp / "spark" / "summary.json").read_text())
        differences = _differences(a, b)
        print(
            f"local vs spark: ARI {_ari(tmp / 'local', tmp / 'spark'):.6f}, "
            f"{len(differences)} summary figures differ beyond 1e-9 relative"
            + (f" (first: {differences[0]})" if differences else "")
        )
        mean, largest = _centroid_shift(tmp / "spark", tmp / "spark-all")
        print(
            f"sample fit vs MLlib on all rows: ARI {_ari(tmp / 'spark', tmp / 'spark-all'):.4f}, "
            f"centroid shift mean {mean:.4f}, largest {largest:.4f} (scaled-feature units)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
