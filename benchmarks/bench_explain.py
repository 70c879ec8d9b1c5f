"""Benchmark: SHAP + LIME on the real file (acceptance: together <= 5 s on a 2-core machine).

    python benchmarks/bench_explain.py [--runs 5] [--file ../shared/data/marketing_campaign.csv]

Runs the analysis once (default config) to get the segments, then times, `--runs` times each:
exact SHAP of K-Means' margin for every fitted customer, LIME of K-Means' soft assignment for
the sampled customers of every segment, the two together, and the whole interpretation step.
Prints the medians and the machine it ran on.
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
from reportgen.scoring.features import design_matrix  # noqa: E402
from reportgen.scoring.score import margin_shap, nearest_two  # noqa: E402

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

    print(describe(("scikit-learn", "lime", "numpy")))
    args = capture_inputs(opts.file)
    analysis, sample, features, cleaned, fit_mask, config, _totals, parts = args
    settings, seed = config.interpretation, config.seed
    labels = sample["segment"].to_numpy()
    fit_rows = np.flatnonzero(fit_mask)
    position = {s: i for i, s in enumerate(parts.ids.tolist())}
    ids = sample["customer_id"].astype(str).to_numpy()
    times: dict[str, list[float]] = {k: [] for k in ("SHAP", "LIME", "SHAP + LIME", "interpret")}
    n_lime = 0
    for _ in range(opts.runs):
        t1 = time.perf_counter()
        X = design_matrix(parts.spec, features.iloc[fit_rows], cleaned.iloc[fit_rows])
        own, _, runner_up, _ = nearest_two(X, parts.centroids)
        values, _ = margin_shap(parts, X, own, runner_up)
        t2 = time.perf_counter()
        G = explain.group_values(parts, features.iloc[fit_rows], cleaned.iloc[fit_rows])
        soft = explain.SoftAssignment.fit(parts, X, own)
        n_lime = 0
        for s in parts.ids.tolist():
            count = settings.lime_examples
            rows = interpret_module.lime_customers(labels, fit_rows, s, count, seed)
            at = np.searchsorted(fit_rows, rows)
            explain.lime_examples(
                soft, G, G[at], [ids[r] for r in rows], np.full(len(rows), position[s]),
                values[at], settings, seed,
            )  # fmt: skip
            n_lime += len(rows)
        t3 = time.perf_counter()
        interpret_module.interpret(*copy.deepcopy(args))
        t4 = time.perf_counter()
        times["SHAP"].append(t2 - t1)
        times["LIME"].append(t3 - t2)
        times["SHAP + LIME"].append(t3 - t1)
        times["interpret"].append(t4 - t3)

    print(
        f"{len(fit_rows):,} fitted customers, k = {len(parts.ids)}; SHAP for all of them, "
        f"LIME for {n_lime} ({settings.lime_num_samples} samples each); "
        f"median of {opts.runs} runs:"
    )
    for key, vals in times.items():
        med = statistics.median(vals)
        print(f"  {key:<14} {med:6.2f} s   (min {min(vals):.2f}, max {max(vals):.2f})")
    ok = statistics.median(times["SHAP + LIME"]) <= 5.0
    print(f"SHAP + LIME median {'within' if ok else 'ABOVE'} the 5 s budget")


if __name__ == "__main__":
    main()
