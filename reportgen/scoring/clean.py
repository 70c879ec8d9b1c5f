"""Cleaning: imputation, category clean-up, constant columns, IQR outliers.

`fit_cleaning` learns the rules from a file (medians, modes, merges, constant columns);
`apply_cleaning` applies learned rules to any frame with the same schema, so new customers
are cleaned exactly like the customers the model was fitted on. Every action is counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .. import schema
from ..config import CleaningConfig


@dataclass
class CleaningRules:
    """Plain data; stored in model.json."""

    impute_numeric: dict[str, float]
    impute_category: dict[str, str]
    category_merge: dict[str, dict[str, str]]
    dropped_columns: list[str]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CleaningRules:
        return cls(**data)


@dataclass
class CleaningReport:
    imputed: dict[str, int] = field(default_factory=dict)
    categories_merged: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)


def fit_cleaning(frame: pd.DataFrame, config: CleaningConfig) -> CleaningRules:
    """Learn imputation values and the columns to drop from `frame` (canonical columns)."""
    numeric = [c for c in schema.NUMERIC_COLUMNS if c in frame]
    impute_numeric = {c: float(frame[c].median()) for c in numeric if frame[c].isna().any()}
    # Impute every numeric column that could be missing in a later file too.
    for c in numeric:
        impute_numeric.setdefault(c, float(frame[c].median()))
    merged = _merge_categories(frame, config.category_merge)
    impute_category = {
        c: str(merged[c].mode(dropna=True).iloc[0]) for c in schema.CATEGORY_COLUMNS if c in frame
    }
    # a constant column carries nothing, but only columns nothing is built from may go: a
    # required column that happens to be constant in this file (nobody accepted campaign 2
    # in its first 200 rows) still feeds the features
    dropped = [
        c
        for c in frame.columns
        if c not in schema.REQUIRED_COLUMNS and frame[c].nunique(dropna=True) <= 1
    ]
    return CleaningRules(
        impute_numeric=impute_numeric,
        impute_category=impute_category,
        category_merge={k: dict(v) for k, v in config.category_merge.items()},
        dropped_columns=dropped,
    )


def _merge_categories(frame: pd.DataFrame, merges: dict[str, dict[str, str]]) -> pd.DataFrame:
    out = frame.copy()
    for column, mapping in merges.items():
        if column in out:
            out[column] = out[column].replace(mapping)
    return out


def apply_cleaning(
    frame: pd.DataFrame, rules: CleaningRules
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply learned rules; returns the cleaned frame and what was done to it."""
    report = CleaningReport()
    out = frame.copy()
    for column, mapping in rules.category_merge.items():
        if column not in out:
            continue
        counts = out[column].value_counts()
        hit = {junk: int(counts[junk]) for junk in mapping if junk in counts.index}
        if hit:
            report.categories_merged[column] = hit
            out[column] = out[column].replace(mapping)
    for column, value in rules.impute_category.items():
        missing = out[column].isna() | (out[column].astype(str).str.strip() == "")
        if missing.any():
            report.imputed[column] = int(missing.sum())
            out.loc[missing, column] = value
    for column, value in rules.impute_numeric.items():
        if column not in out:
            continue
        missing = out[column].isna()
        if missing.any():
            report.imputed[column] = int(missing.sum())
            out[column] = out[column].fillna(value)
    dropped = [c for c in rules.dropped_columns if c in out]
    report.dropped_columns = dropped
    return out.drop(columns=dropped), report


@dataclass
class OutlierBounds:
    """IQR fences per column, learned on the fitting file; stored in model.json."""

    bounds: dict[str, tuple[float, float]]
    factor: float

    def to_dict(self) -> dict:
        return {"factor": self.factor, "bounds": {k: list(v) for k, v in self.bounds.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> OutlierBounds:
        return cls(
            bounds={k: (v[0], v[1]) for k, v in data["bounds"].items()}, factor=data["factor"]
        )


def fit_outliers(features: pd.DataFrame, columns: list[str], factor: float) -> OutlierBounds:
    """IQR fences [Q1 - f*IQR, Q3 + f*IQR] for each column."""
    bounds = {}
    for column in columns:
        q1, q3 = features[column].quantile([0.25, 0.75])
        iqr = q3 - q1
        bounds[column] = (float(q1 - factor * iqr), float(q3 + factor * iqr))
    return OutlierBounds(bounds=bounds, factor=factor)


def outlier_reasons(features: pd.DataFrame, bounds: OutlierBounds) -> pd.Series:
    """Per row: '' when inside every fence, else the reason, e.g. 'Income above 118,350'.

    A row outside several fences is reported under the first column listed.
    """
    reasons = pd.Series("", index=features.index, dtype=object)
    for column, (low, high) in bounds.bounds.items():
        values = features[column].to_numpy(dtype=float)
        free = reasons.to_numpy() == ""
        below, above = _reasons(column)
        reasons[free & (values < low)] = below
        reasons[free & (values > high)] = above
    return reasons


def _reasons(column: str) -> tuple[str, str]:
    return f"{column} below IQR fence", f"{column} above IQR fence"


def reason_labels(bounds: OutlierBounds) -> list[str]:
    """Every value `exclusion_reasons` can give under `bounds`, '' (fitted) first."""
    return [""] + [r for column in bounds.bounds for r in _reasons(column)] + DATA_ISSUES[1:]


#: reasons a row is not a believable customer record (never a segment profile's figure)
DATA_ISSUES = [
    "",
    "age over 100",
    "placeholder income",
    "negative amount",
    "born after the data's date",
]
#: an income whose digits are all the same (66,666 / 666,666 / 999,999) is a placeholder when
#: it is also above the IQR fence
_MIN_PLACEHOLDER_DIGITS = 5


def data_issue_codes(features: pd.DataFrame, bounds: OutlierBounds) -> np.ndarray:
    """Per row: 0 for a believable record, else the position in DATA_ISSUES of the first
    issue that applies: an age over 100, a repeated-digit income above the income fence, a
    negative amount (income, a spend column or a purchase count), or a year of birth after
    the data's reference date (a negative age)."""
    codes = np.zeros(len(features), dtype=np.int8)
    if "Age" in features:
        age = features["Age"].to_numpy(dtype=float)
        codes[age > 100] = 1
        codes[age < 0] = 4
    if "Income" in features:
        income = features["Income"].to_numpy(dtype=float)
        high = bounds.bounds.get("Income", (-np.inf, np.inf))[1]
        codes[(codes == 0) & (income > high) & _repeated_digits(income)] = 2
    amounts = [
        c for c in ["Income", *schema.SPEND_COLUMNS, *schema.PURCHASE_COLUMNS] if c in features
    ]
    if amounts:
        negative = (features[amounts].to_numpy(dtype=float) < 0).any(axis=1)
        codes[(codes == 0) & negative] = 3
    return codes


def data_issue_reasons(features: pd.DataFrame, bounds: OutlierBounds) -> np.ndarray:
    """Per row: '' for a believable record, else its DATA_ISSUES reason (data_issue_codes)."""
    return np.asarray(DATA_ISSUES, dtype=object)[data_issue_codes(features, bounds)]


def _repeated_digits(values: np.ndarray) -> np.ndarray:
    """Whole numbers of at least _MIN_PLACEHOLDER_DIGITS digits, all the same (66666, 999999)."""
    v = np.where(np.isfinite(values), values, 0.0)
    ok = (v >= 10 ** (_MIN_PLACEHOLDER_DIGITS - 1)) & (v < 1e15) & (v == np.floor(v))
    digits = np.floor(np.log10(np.where(ok, v, 1.0))) + 1
    ones = (10.0**digits - 1) / 9  # 11111, 111111, ...
    ratio = v / ones
    return ok & (ratio == np.floor(ratio)) & (ratio >= 1) & (ratio <= 9)


def exclusion_reasons(features: pd.DataFrame, bounds: OutlierBounds):
    """(why each row is left out of fitting — a fence or a data issue, '' when fitted —,
    its data issue as a DATA_ISSUES code). A row with a data issue is never fitted."""
    reasons = outlier_reasons(features, bounds).to_numpy()
    codes = data_issue_codes(features, bounds)
    hit = np.flatnonzero(codes > 0)
    if len(hit):
        hit = hit[reasons[hit] == ""]
        reasons = reasons.copy()
        reasons[hit] = np.asarray(DATA_ISSUES, dtype=object)[codes[hit]]
    return reasons, codes


def excluded_counts(reasons: pd.Series) -> dict[str, int]:
    counts = reasons[reasons != ""].value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items())}


__all__ = [
    "CleaningRules",
    "CleaningReport",
    "OutlierBounds",
    "apply_cleaning",
    "excluded_counts",
    "fit_cleaning",
    "fit_outliers",
    "outlier_reasons",
    "exclusion_reasons",
    "data_issue_reasons",
    "data_issue_codes",
    "reason_labels",
]
