"""Benchmark: SHAP + LIME on the real file (acceptance: together <= 5 s on a 2-core machine).

    python benchmarks/bench_explain.py [--runs 5] [--file ../shared/data/marketing_campaign.csv]

Runs the analysis once (default config) to get the segments, then times, `--runs` times each:
the surrogate fit, exact TreeSHAP for every customer, LIME for the representative customers
of every segment, the two together, and the whole interpretation step. Prints the medians
and the machine it ran on.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402  (benchmarks/machine.py)

import reportgen.describe.interpret as interpret_module  # noqa: E402
from reportgen.config import load_config  # noqa: E402
from reportgen.fitting import explain  # noqa: E402
from reportgen.input.load import load_customers  # noqa: E402
from reportgen.pipeline import analyse  # noqa: E402

DEFAULT_FILE = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"


def capture_inputs(path: Path):
    """Run the pipeline once; keep the inputs the interpretation step received."""
    config = load_config(environ={})
    captured = {}
    original = interpret_module.interpret

    def capture(*args):
        captured["args"] = copy.deepcopy(args)
        original(*args)

    interpret_module.interpret = capture
    try:
        analyse(load_customers(path, config), config)
    finally:
        interpret_module.interpret = original
    return captured["args"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    opts = ap.parse_args()
    if not opts.file.exists():
        sys.exit(f"{opts.file}: not found — pass --file PATH to the real customer file")

    print(describe(("scikit-learn", "shap", "lime", "numpy")))
    args = capture_inputs(opts.file)
    analysis, sample, features, cleaned, fit_mask, config, _totals = args
    settings, seed = config.interpretation, config.seed
    seg_ids = [s.id for s in analysis.summary.segments]
    labels = sample["segment"].to_numpy()
    fit_rows = np.flatnonzero(fit_mask)
    names = explain.surrogate_features(
        analysis.summary.model.features, settings.surrogate_features, features
    )
    X = explain.surrogate_matrix(names, features, cleaned)
    Xv = X.to_numpy(dtype=float)
    reps = {
        s: interpret_module.representatives(sample, fit_mask, s, settings.lime_examples)
        for s in seg_ids
    }
    ids = sample["customer_id"].astype(str).to_numpy()
    times: dict[str, list[float]] = {
        k: [] for k in ("surrogate fit", "SHAP", "LIME", "SHAP + LIME", "interpret")
    }
    for _ in range(opts.runs):
        t0 = time.perf_counter()
        sur = explain.fit_surrogate(X.iloc[fit_rows], labels[fit_rows], settings, seed)
        t1 = time.perf_counter()
        values, _ = explain.shap_tensor(sur, Xv, seg_ids)
        t2 = time.perf_counter()
        x_train = Xv[fit_rows][sur.train_rows]
        for s, rows in reps.items():
            explain.lime_examples(
                sur, x_train, Xv[rows], [ids[r] for r in rows], [s] * len(rows),
                values[rows], seg_ids, settings, seed,
            )  # fmt: skip
        t3 = time.perf_counter()
        interpret_module.interpret(*copy.deepcopy(args))
        t4 = time.perf_counter()
        times["surrogate fit"].append(t1 - t0)
        times["SHAP"].append(t2 - t1)
        times["LIME"].append(t3 - t2)
        times["SHAP + LIME"].append(t3 - t1)
        times["interpret"].append(t4 - t3)

    n_lime = sum(len(r) for r in reps.values())
    print(
        f"{len(Xv):,} customers, {len(names)} features, k = {len(seg_ids)}; SHAP for all "
        f"customers, LIME for {n_lime} ({settings.lime_num_samples} samples each); "
        f"median of {opts.runs} runs:"
    )
    for key, vals in times.items():
        med = statistics.median(vals)
        print(f"  {key:<14} {med:6.2f} s   (min {min(vals):.2f}, max {max(vals):.2f})")
    ok = statistics.median(times["SHAP + LIME"]) <= 5.0
    print(f"SHAP + LIME median {'within' if ok else 'ABOVE'} the 5 s budget")


if __name__ == "__main__":
    main()
