"""FIT: who is likely to respond (and, when the file says who left, to churn).

A logistic regression on business features (scoring/propensity.py lists them; outcome
columns are never among them), fitted on the fit sample's customers without a data issue,
and judged by repeated stratified cross-validation on at most `propensity.cv_rows` of them:
out-of-fold AUC, Brier score against a constant guess, calibration (error, slope, a
ten-bin curve) and the response rate by score decile. When the out-of-fold probabilities
are miscalibrated, a two-number Platt recalibration fitted on them is stored with the model.

Why logistic regression: on the real file it ranks customers as well as gradient boosting
(out-of-fold AUC 0.904 against 0.906) and predicts better (Brier score 0.079 against 0.086;
calibration gap 1.4 against 5.7 points), it fits 25 times faster, and it is stored as plain
coefficients any tool can read (benchmarks/propensity_models.py measures all of this).

Scored with last month's model (no refit), the stored model is not refitted: it is checked
on this period's sample (the same figures, measured on customers it has not seen).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import PropensityConfig
from ..result import CalibrationBin, LiftDecile, PropensityDriver, PropensityInfo
from ..scoring.propensity import (
    LOGGED,
    OUTCOMES,
    PropensityModel,
    available_inputs,
    design,
    transform,
)
from .segment import single_threaded

#: what each model is called in model.json, summary.json and segments.csv
NAMES = {"Response": "response", "Churned": "churn"}
METHOD = (
    "Logistic regression on standardised business features (money amounts as log(1 + x)), "
    "L2-regularised (C = 1)"
)
WHY = (
    "It ranks customers as well as gradient boosting on this kind of data, its "
    "probabilities are calibrated without a second model, and it is stored as plain "
    "coefficients (model.json), so new customers are scored the same way anywhere."
)


def _logistic(C: float = 1.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000)


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def unavailable(outcome: str, reason: str) -> PropensityInfo:
    return PropensityInfo(name=NAMES[outcome], outcome=outcome, available=False, reason=reason)


def _why_not(outcome: str, y: pd.Series | None, settings: PropensityConfig) -> str | None:
    if y is None:
        if outcome == "Churned":
            return (
                "The customer file has no churn label (a Churned column, or one mapped to it "
                "in [columns]), so churn cannot be estimated from this data."
            )
        return f"The customer file has no {outcome} column."
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    least = settings.min_positives
    if positives < least or negatives < least:
        return (
            f"Only {positives:,} customers with and {negatives:,} without {outcome} = 1 among "
            f"the {len(y):,} fitted: a model needs at least {least} of each "
            "(propensity.min_positives)."
        )
    return None


def _matrix(features, cleaned, numeric, categories):
    """The input matrix and the standardisation learnt from these rows (unknown values
    left out of it), built by the same `design` that scores customers later."""
    values = transform(features, numeric, LOGGED)
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    std[~(std > 0)] = 1.0
    return design(values, cleaned, mean, std, categories), mean, std


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _calibration(y: np.ndarray, p: np.ndarray, bins: int = 10):
    """Ten equal-count bins: (bins, expected calibration error, intercept, slope)."""
    order = np.argsort(p, kind="stable")
    out, error = [], 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        predicted, observed = float(p[chunk].mean()), float(y[chunk].mean())
        error += len(chunk) / len(p) * abs(predicted - observed)
        out.append(CalibrationBin(predicted=predicted, observed=observed, customers=len(chunk)))
    fit = _logistic(C=1e6).fit(_logit(p)[:, None], y)
    return out, error, float(fit.intercept_[0]), float(fit.coef_[0, 0])


def _deciles(y: np.ndarray, p: np.ndarray) -> list[LiftDecile]:
    """Response rate by decile of the score (1 = the tenth most likely)."""
    base = y.mean()
    order = np.argsort(-p, kind="stable")
    return [
        LiftDecile(
            decile=i + 1,
            customers=len(chunk),
            rate=float(y[chunk].mean()),
            lift=float(y[chunk].mean() / base) if base > 0 else 0.0,
        )
        for i, chunk in enumerate(np.array_split(order, 10))
        if len(chunk)
    ]


def _drivers(model: PropensityModel, top: int = 6) -> list[PropensityDriver]:
    """The strongest inputs by |coefficient|. A category's one-hot coefficients are only
    defined up to a common shift (they and the intercept trade off), so each is shown
    against the mean of its column's categories."""
    coef = np.asarray(model.coef, dtype=float).copy()
    start = len(model.numeric)
    for values in model.categories.values():
        block = slice(start, start + len(values))
        coef[block] -= coef[block].mean()
        start += len(values)
    order = np.argsort(-np.abs(coef), kind="stable")[:top]
    return [PropensityDriver(feature=model.columns[j], coefficient=float(coef[j])) for j in order]


def _judge(
    info: PropensityInfo,
    y: np.ndarray,
    p: np.ndarray,
    segments: np.ndarray | None,
) -> tuple[float, float]:
    """Fill the figures of `info` from outcomes `y` and predictions `p` (out of fold, or of a
    stored model on new customers); the calibration's (intercept, slope)."""
    from sklearn.metrics import brier_score_loss

    base = float(y.mean())
    info.base_rate = base
    info.auc = _auc(y, p)
    info.brier = float(brier_score_loss(y, p))
    info.brier_constant = float(brier_score_loss(y, np.full(len(y), base)))
    bins, error, intercept, slope = _calibration(y, p)
    info.calibration, info.calibration_error = bins, float(error)
    info.calibration_slope = slope
    info.deciles = _deciles(y, p)
    info.top_decile_lift = info.deciles[0].lift if info.deciles else None
    if segments is not None:
        rate = pd.Series(y).groupby(segments).transform("mean").to_numpy()
        info.segment_only_auc = _auc(y, rate)
        within = {}
        for s in np.unique(segments):
            hit = segments == s
            value = _auc(y[hit], p[hit])
            if value is not None and y[hit].sum() >= 5:
                within[int(s)] = value
        info.within_segment_auc = within
    return intercept, slope


@single_threaded
def fit_propensity(
    outcome: str,
    features: pd.DataFrame,
    cleaned: pd.DataFrame,
    segments: np.ndarray | None,
    settings: PropensityConfig,
    seed: int,
) -> tuple[PropensityModel | None, PropensityInfo]:
    """Fit and cross-validate the model of `outcome` on these rows (the fit sample's
    customers without a data issue); (None, why not) when the data cannot support one."""
    from sklearn.model_selection import StratifiedKFold

    y_col = features[outcome] if outcome in features else None
    reason = _why_not(outcome, y_col, settings)
    if reason:
        return None, unavailable(outcome, reason)
    assert y_col is not None
    y = y_col.to_numpy(dtype=float).round().astype(int)
    numeric = [c for c in available_inputs(features) if c not in OUTCOMES]
    categories = {
        c: sorted(cleaned[c].astype(str).unique().tolist())
        for c in ("Education", "Marital_Status")
        if c in cleaned
    }
    X, mean, std = _matrix(features, cleaned, numeric, categories)
    info = PropensityInfo(
        name=NAMES[outcome],
        outcome=outcome,
        available=True,
        method=METHOD,
        why=WHY,
        inputs=numeric + list(categories),
        rows=len(y),
        positives=int(y.sum()),
        folds=settings.folds,
        repeats=settings.repeats,
    )
    # out-of-fold predictions on at most cv_rows customers (a seeded random subset; the
    # folds inside it are stratified)
    rows = np.arange(len(y))
    if len(y) > settings.cv_rows:
        rows = np.sort(np.random.default_rng(seed).permutation(len(y))[: settings.cv_rows])
    Xc, yc = X[rows], y[rows]
    folds = min(settings.folds, int(yc.sum()), int(len(yc) - yc.sum()))
    oof = np.zeros(len(yc))
    aucs = []
    for repeat in range(settings.repeats):
        split = StratifiedKFold(folds, shuffle=True, random_state=seed + repeat)
        p = np.empty(len(yc))
        for train, test in split.split(Xc, yc):
            p[test] = _logistic().fit(Xc[train], yc[train]).predict_proba(Xc[test])[:, 1]
        aucs.append(_auc(yc, p))
        oof += p / settings.repeats
    info.cv_rows, info.folds = len(yc), folds
    intercept, slope = _judge(info, yc, oof, None if segments is None else segments[rows])
    valid = [a for a in aucs if a is not None]
    info.auc_folds_sd = float(np.std(valid)) if len(valid) > 1 else None
    fit = _logistic().fit(X, y)
    model = PropensityModel(
        outcome=outcome,
        numeric=numeric,
        logged=[c for c in LOGGED if c in numeric],
        categories=categories,
        offset=mean.tolist(),
        scale=std.tolist(),
        coef=fit.coef_[0].tolist(),
        intercept=float(fit.intercept_[0]),
    )
    if abs(slope - 1) > settings.recalibrate_beyond:
        model.calibration = [intercept, slope]
        info.recalibrated = True
        after = 1 / (1 + np.exp(-(intercept + slope * _logit(oof))))
        info.calibration_error_after = float(_calibration(yc, after)[1])
    info.drivers = _drivers(model)
    return model, info


@single_threaded
def check_stored(
    model: PropensityModel,
    features: pd.DataFrame,
    cleaned: pd.DataFrame,
    segments: np.ndarray | None,
    period: str,
) -> PropensityInfo:
    """Last period's stored model judged on this period's customers (no refit)."""
    info = PropensityInfo(
        name=NAMES[model.outcome],
        outcome=model.outcome,
        available=True,
        method=f"{METHOD}; the model of {period}, checked on this period's customers",
        why=WHY,
        inputs=model.numeric + list(model.categories),
        rows=len(features),
        folds=0,
        repeats=0,
        recalibrated=model.calibration != [0.0, 1.0],
    )
    if model.outcome not in features:
        info.reason = f"This file has no {model.outcome} column to check the model against."
        info.drivers = _drivers(model)
        return info
    y = features[model.outcome].to_numpy(dtype=float).round().astype(int)
    info.positives, info.cv_rows = int(y.sum()), len(y)
    if 0 < y.sum() < len(y):
        _judge(info, y, model.predict(features, cleaned), segments)
    info.drivers = _drivers(model)
    return info
