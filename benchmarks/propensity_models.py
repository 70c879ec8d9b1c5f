"""Why the response propensity is a logistic regression: it against gradient boosting.

    python benchmarks/propensity_models.py [FILE]   # default ../shared/data/marketing_campaign.csv

Both models see exactly the inputs reportgen's model uses (fitting/propensity.py: business
features, money as log(1 + x), one-hot education and marital status; never the outcome), on
the customers without a data issue. 5-fold stratified cross-validation repeated 3 times;
out-of-fold AUC, Brier score (and a constant's), calibration gap and fit time per model,
then the segment label alone for comparison.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402  (benchmarks/machine.py)
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from reportgen.config import Config  # noqa: E402
from reportgen.fitting.propensity import _calibration, _matrix  # noqa: E402
from reportgen.input.load import load_customers  # noqa: E402
from reportgen.pipeline import analyse  # noqa: E402
from reportgen.scoring.propensity import OUTCOMES, available_inputs  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REAL
    config = Config()
    analysis = analyse(load_customers(path, config), config)
    # the same rows and inputs as the run's model: re-read and prepare them the same way
    from reportgen.scoring.clean import apply_cleaning, fit_cleaning
    from reportgen.scoring.features import engineer, reference_date

    frame = load_customers(path, config).frame
    cleaned, _ = apply_cleaning(frame, fit_cleaning(frame, config.cleaning))
    features = engineer(cleaned, reference_date(cleaned, None))
    keep = (analysis.customers["data_issue"] == "").to_numpy()
    features, cleaned = features[keep], cleaned[keep]
    segments = analysis.customers["segment"].to_numpy()[keep]
    numeric = [c for c in available_inputs(features) if c not in OUTCOMES]
    columns = ("Education", "Marital_Status")
    categories = {c: sorted(cleaned[c].astype(str).unique()) for c in columns}
    X, _, _ = _matrix(features, cleaned, numeric, categories)
    y = features["Response"].to_numpy().round().astype(int)
    print(describe())
    print(f"{path.name}: {len(y):,} customers, {y.sum():,} responders ({y.mean():.1%})")
    models = {
        "logistic regression (reportgen)": lambda: LogisticRegression(C=1.0, max_iter=2000),
        "gradient boosting (HistGradientBoosting, defaults)": lambda: (
            HistGradientBoostingClassifier(random_state=0)
        ),
    }
    for name, make in models.items():
        aucs, briers, gaps, start = [], [], [], time.perf_counter()
        for repeat in range(3):
            p = np.empty(len(y))
            for train, test in StratifiedKFold(5, shuffle=True, random_state=repeat).split(X, y):
                p[test] = make().fit(X[train], y[train]).predict_proba(X[test])[:, 1]
            aucs.append(roc_auc_score(y, p))
            briers.append(brier_score_loss(y, p))
            gaps.append(_calibration(y, p)[1])
        took = (time.perf_counter() - start) / 15
        print(
            f"{name:52s} AUC {np.mean(aucs):.3f} (± {np.std(aucs):.3f})  Brier "
            f"{np.mean(briers):.4f}  calibration gap {np.mean(gaps):.3f}  {took:.3f} s a fit"
        )
    constant = brier_score_loss(y, np.full(len(y), y.mean()))
    print(f"{'constant (the base rate)':52s} Brier {constant:.4f}")
    rate = np.array([y[segments == s].mean() for s in segments])
    print(f"{'the segment alone (its response rate)':52s} AUC {roc_auc_score(y, rate):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
