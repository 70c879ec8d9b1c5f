"""SCORE: one pure function from a fitted model and raw customer rows to per-customer results.

`score(parts, frame)` cleans the rows with the model's rules, engineers the features at the
model's reference date, flags the rows outside the model's IQR fences, scales them and
assigns each to its nearest centroid. Every step works row by row with numbers stored in the
model, so the result for a customer does not depend on which other customers are in the
chunk: `run`, `assign` and any chunked engine call this one function.

Per customer: segment, distance to its centroid, the margin to the second-nearest centroid
(how clearly the customer belongs: 0 = on the boundary), and the three features that pull
the customer most towards their own segment rather than the runner-up. Those drivers are
exact SHAP values of K-Means itself: the squared-distance margin between the customer's
segment a and the runner-up b, m(x) = ‖x−b‖² − ‖x−a‖² = 2x·(a−b) + ‖b‖² − ‖a‖², is linear
in the scaled features, so feature f's SHAP value against the background mean μ (the
fitted customers' mean) is φ_f = 2(a_f−b_f)(x_f−μ_f), one-hot groups summed, and
m(μ) + Σφ_f = m(x) exactly. `margin_shap` is the one place this is computed: segments.csv,
the persona pages and the SHAP charts all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import featuretext as ft
from .. import schema
from .clean import DATA_ISSUES, CleaningReport, apply_cleaning, exclusion_reasons, reason_labels
from .features import design_matrix, engineer
from .model import ModelParts, model_parts, require_columns
from .propensity import require_inputs

#: propensity model -> its per-customer column (customers, segments.csv)
SCORE_COLUMNS = {"response": "propensity", "churn": "churn_risk"}

#: level codes of a driver's value against all fitted customers (more than a quarter
#: standard deviation away from the mean is "high" / "low")
LEVELS = np.array(["low", "average", "high", "unknown"], dtype=object)
TOP = 3


@dataclass
class Scored:
    """One chunk, scored. `customers` is compact (numbers and codes, no per-row text)."""

    customers: pd.DataFrame
    features: pd.DataFrame
    cleaned: pd.DataFrame
    report: CleaningReport


def nearest_two(X: np.ndarray, centroids: np.ndarray):
    """(nearest position, its distance, second-nearest position, its distance) per row.

    One centroid at a time, so memory is n x k, never n x k x d.
    """
    n, k = len(X), len(centroids)
    d2 = np.empty((n, k))
    for j in range(k):
        d2[:, j] = ((X - centroids[j]) ** 2).sum(axis=1)
    first = d2.argmin(axis=1)
    rows = np.arange(n)
    d_first = np.sqrt(d2[rows, first])
    if k < 2:
        return first, d_first, first, d_first
    masked = d2.copy()
    masked[rows, first] = np.inf
    second = masked.argmin(axis=1)
    return first, d_first, second, np.sqrt(d2[rows, second])


def driver_groups(parts: ModelParts) -> list[str]:
    """The names drivers are reported under: numeric clustering features, then category columns."""
    return list(parts.spec.numeric) + list(parts.spec.categories)


def group_columns(parts: ModelParts, per_column: np.ndarray) -> np.ndarray:
    """[rows, design columns] -> [rows, groups]: one-hot columns of a category summed."""
    n_num = len(parts.spec.numeric)
    blocks = [per_column[:, :n_num]]
    start = n_num
    for values in parts.spec.categories.values():
        blocks.append(per_column[:, start : start + len(values)].sum(axis=1, keepdims=True))
        start += len(values)
    return np.hstack(blocks)


def margin_shap(
    parts: ModelParts, X: np.ndarray, own: np.ndarray, runner_up: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact SHAP values [rows, groups] of the margin ‖x−b‖² − ‖x−a‖² (a own, b runner-up
    centroid) against the background mean μ, and the base values m(μ) [rows]; each row's
    values add up to its margin minus its base value."""
    a, b = parts.centroids[own], parts.centroids[runner_up]
    mu = parts.reference_row()
    values = group_columns(parts, 2.0 * (a - b) * (X - mu))
    base = ((mu - b) ** 2).sum(axis=1) - ((mu - a) ** 2).sum(axis=1)
    return values, base


def score(parts: ModelParts, frame: pd.DataFrame, source: str = "model.json") -> Scored:
    """Per-customer results for `frame` (canonical columns) under the fitted model `parts`."""
    cleaned, report = apply_cleaning(frame, parts.rules)
    features = engineer(cleaned, parts.reference_date)
    require_columns(parts.spec, features, cleaned, source)
    reasons, issues = exclusion_reasons(features, parts.bounds)
    X = design_matrix(parts.spec, features, cleaned)
    first, d_first, second, d_second = nearest_two(X, parts.centroids)
    customers = pd.DataFrame(
        {
            "customer_id": frame[schema.ID].astype(str).to_numpy(),
            "segment": parts.ids[first],
            "excluded_from_fit": reasons != "",
            # categorical over every possible reason: 1 byte a customer, and chunks concatenate
            "exclusion_reason": pd.Categorical(reasons, categories=reason_labels(parts.bounds)),
            # not a believable record (age over 100, placeholder income, negative amount):
            # still scored, never part of a segment's figures
            "data_issue": pd.Categorical.from_codes(issues, categories=DATA_ISSUES),
            "distance_to_centroid": np.round(d_first, 6),
            "margin_to_next_segment": np.round(d_second - d_first, 6),
        }
    )
    _add_drivers(customers, parts, X, first, second, features, cleaned)
    if parts.propensity:
        require_inputs(parts.propensity, features, cleaned, source)
        for name, model in parts.propensity.items():
            customers[SCORE_COLUMNS[name]] = model.predict(features, cleaned).astype(np.float32)
    return Scored(customers, features, cleaned, report)


def fitted_design(parts: ModelParts, frame: pd.DataFrame, source: str = "model.json") -> np.ndarray:
    """The design rows (scaled clustering features) of the customers of `frame` K-Means is
    fitted on: cleaned, engineered and inside the IQR fences, as `score` computes them."""
    cleaned, _report = apply_cleaning(frame, parts.rules)
    features = engineer(cleaned, parts.reference_date)
    require_columns(parts.spec, features, cleaned, source)
    reasons, _issues = exclusion_reasons(features, parts.bounds)
    return design_matrix(parts.spec, features, cleaned)[reasons == ""]


def _add_drivers(customers, parts, X, first, second, features, cleaned) -> None:
    """Compact driver columns: group index (-1 = none), level code and value, per rank."""
    n = len(X)
    groups = driver_groups(parts)
    if len(parts.centroids) < 2 or n == 0:
        contrib = np.zeros((n, len(groups)))
    else:
        contrib = margin_shap(parts, X, first, second)[0]
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :TOP]
    n_num = len(parts.spec.numeric)
    numeric = features[parts.spec.numeric].to_numpy(dtype=float) if n_num else np.empty((n, 0))
    mean = np.asarray(parts.driver_mean if parts.driver_mean else [np.nan] * n_num)
    std = np.asarray(parts.driver_std if parts.driver_std else [np.nan] * n_num)
    cat_codes = [
        pd.Categorical(cleaned[c].astype(str), categories=values).codes.astype(float)
        for c, values in parts.spec.categories.items()
    ]
    rows = np.arange(n)
    for rank in range(TOP):
        if rank >= order.shape[1]:
            group = np.full(n, -1)
        else:
            group = order[:, rank].copy()
            group[contrib[rows, group] <= 0] = -1  # only features that pull towards the segment
        value = np.full(n, np.nan)
        level = np.full(n, 3, dtype=np.int8)
        is_num = (group >= 0) & (group < n_num)
        if is_num.any():
            g = group[is_num]
            x = numeric[is_num, g]
            band = 0.25 * np.where(std[g] > 0, std[g], 0.0)
            lvl = np.where(x > mean[g] + band, 2, np.where(x < mean[g] - band, 0, 1))
            lvl[~np.isfinite(x) | ~np.isfinite(mean[g])] = 3
            value[is_num], level[is_num] = x, lvl
        for j, codes in enumerate(cat_codes):
            hit = group == n_num + j
            value[hit] = codes[hit]
        customers[f"driver_{rank + 1}_group"] = group.astype(np.int16)
        customers[f"driver_{rank + 1}_level"] = level
        customers[f"driver_{rank + 1}_value"] = value


def driver_texts(
    customers: pd.DataFrame,
    parts: ModelParts,
    rank: int,
    codes: tuple[np.ndarray, np.ndarray],
) -> pd.Series:
    """ "Total spend high (1,520)" / "Marital status Single" / "" for one rank, vectorised:
    that rank's `driver_codes` in words, with the customer's value for a numeric feature."""
    feature, level = codes
    numeric = set(parts.spec.numeric)
    value = customers[f"driver_{rank}_value"].to_numpy()
    out = np.full(len(customers), "", dtype=object)
    for name in pd.unique(feature[feature != ""]):
        hit = feature == name
        if name in numeric:
            uniques, inverse = np.unique(value[hit], return_inverse=True)
            shown = np.array([ft.value(name, v) for v in uniques], dtype=object)[inverse]
            out[hit] = ft.label(name) + " " + level[hit] + " (" + shown + ")"
        else:  # a category: its value is the level; none known, no text
            out[hit] = np.where(level[hit] != "", ft.label(name) + " " + level[hit], "")
    return pd.Series(out, index=customers.index)


def segments_table(
    customers: pd.DataFrame, parts: ModelParts, period: str = "", run_id: int | None = None
) -> pd.DataFrame:
    """The segments.csv rows for scored customers (persona names from `parts.names`); a
    run's `period` and history `run_id` ("" when not recorded) for a CRM import."""
    names = parts.names
    out = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "segment": customers["segment"].to_numpy(),
            "persona": customers["segment"].map(names).astype(object).fillna("").to_numpy(),
            "excluded_from_fit": customers["excluded_from_fit"].to_numpy(),
            "exclusion_reason": customers["exclusion_reason"].to_numpy(dtype=object),
            "data_issue": customers["data_issue"].to_numpy(dtype=object) != "",
            "data_issue_reason": customers["data_issue"].to_numpy(dtype=object),
            "distance_to_centroid": customers["distance_to_centroid"].to_numpy(),
            "margin_to_next_segment": customers["margin_to_next_segment"].to_numpy(),
        }
    )
    # each rank's drivers as picklist codes (feature, and low/average/high or the category),
    # computed once for the sentences and for the code columns
    codes = {rank: driver_codes(customers, parts, rank) for rank in range(1, TOP + 1)}
    for rank, pair in codes.items():
        out[f"driver_{rank}"] = driver_texts(customers, parts, rank, pair).to_numpy()
    for column in SCORE_COLUMNS.values():  # a chance, to 4 decimals (0.1234 = 12.34 %)
        if column in customers:
            out[column] = customers[column].to_numpy(dtype=float).round(4)
    # for a CRM: the codes, and which model assigned the segment
    for rank, (feature, level) in codes.items():
        out[f"driver_{rank}_feature"], out[f"driver_{rank}_level"] = feature, level
    out["model_version"] = parts.version
    segment = customers["segment"].to_numpy()
    out["segment_code"] = segment_codes(segment)
    actions = parts.actions
    out["primary_action_code"] = (
        pd.Series(segment).map(actions).astype(object).fillna("").to_numpy()
    )
    out["period"] = period or ""
    out["run_id"] = run_id if run_id is not None else ""
    return out


def segment_codes(segment: np.ndarray) -> np.ndarray:
    """Stable short codes for a CRM picklist: segment 3 -> 'S03' (ids keep their meaning
    from month to month, see fitting/identity.py)."""
    ids, inverse = np.unique(np.asarray(segment, dtype=int), return_inverse=True)
    return np.array([f"S{i:02d}" for i in ids], dtype=object)[inverse]


def driver_codes(customers: pd.DataFrame, parts: ModelParts, rank: int):
    """(feature name, level) per customer for one driver rank: 'TotalSpend', 'high' or
    'Marital_Status', 'Single'; empty strings where the customer has no driver."""
    groups = np.array([*driver_groups(parts), ""], dtype=object)
    n_num = len(parts.spec.numeric)
    cats = list(parts.spec.categories.items())
    group = customers[f"driver_{rank}_group"].to_numpy().astype(int)
    level = customers[f"driver_{rank}_level"].to_numpy()
    value = customers[f"driver_{rank}_value"].to_numpy()
    feature = groups[np.where(group >= 0, group, len(groups) - 1)]
    out = np.full(len(customers), "", dtype=object)
    numeric = (group >= 0) & (group < n_num)
    out[numeric] = LEVELS[level[numeric].astype(int)]
    for j, (_column, values) in enumerate(cats):
        hit = group == n_num + j
        codes = value[hit].astype(int)
        names = np.array([*values, ""], dtype=object)
        out[hit] = names[np.where(codes >= 0, codes, len(values))]
    return feature, out


def assign(model: dict, frame: pd.DataFrame, source: str = "model.json") -> pd.DataFrame:
    """segments.csv rows for customers (a loaded frame, canonical columns) under a model.json,
    computed by the same scoring function as a fitting run."""
    parts = model_parts(model, source)
    return segments_table(score(parts, frame, source).customers, parts)
