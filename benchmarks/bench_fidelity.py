"""Sampling fidelity: fit on the default 50,000-row sample against fit on all 200,000 rows.

    python benchmarks/bench_fidelity.py [--rows 200000] [--seed 1]

Makes a synthetic table with `reportgen synth`, runs the analysis twice through the Python
API (sampling.fit_rows = 50,000, and = the whole table), with the same k, and prints the
adjusted Rand index between the two segmentations of every customer and the largest centroid
shift in original units (segments paired by the Hungarian algorithm on their centroids).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from machine import describe  # noqa: E402
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from reportgen.config import Config
    from reportgen.input.scan import Source
    from reportgen.pipeline import analyse
    from reportgen.scoring.model import centroids_original

    print(describe(("numpy", "scikit-learn")))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "customers.csv"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "reportgen",
                "synth",
                "--rows",
                str(args.rows),
                "--seed",
                str(args.seed),
                "-o",
                str(data),
                "--quiet",
            ],
            check=True,
        )
        sampled = Config()
        a = analyse(Source.from_file(data, sampled), sampled)
        full = Config()
        full.sampling.fit_rows = args.rows
        full.clustering.k = a.summary.model.k
        b = analyse(Source.from_file(data, full), full)
    ari = adjusted_rand_score(a.customers["segment"], b.customers["segment"])
    ca, cb = centroids_original(a.model), centroids_original(b.model)
    features = [f for f in a.summary.model.features if "=" not in f]
    A = np.array([[ca[s][f] for f in features] for s in sorted(ca)])
    B = np.array([[cb[s][f] for f in features] for s in sorted(cb)])
    scale = np.abs(B).max(axis=0)
    rows, cols = linear_sum_assignment((((A[:, None] - B[None]) / scale) ** 2).sum(axis=2))
    shift = np.abs(A[rows] - B[cols])
    worst = np.unravel_index(shift.argmax(), shift.shape)
    print(
        f"rows {args.rows:,}; k = {a.summary.model.k} (sample choice: "
        f"{a.summary.model.k_choice.method})"
    )
    print(f"ARI fit-on-sample vs fit-on-all: {ari:.4f}")
    print(
        "largest centroid shift per feature (original units): "
        + ", ".join(f"{f} {shift[:, j].max():.3g}" for j, f in enumerate(features))
    )
    print(
        f"largest of all: {features[worst[1]]} {shift[worst]:.3g} "
        f"(segment centroid {A[rows][worst[0], worst[1]]:.4g} vs {B[cols][worst[0], worst[1]]:.4g})"
    )


if __name__ == "__main__":
    main()
