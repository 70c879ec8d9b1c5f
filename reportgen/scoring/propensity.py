"""Scoring with a propensity model: plain-data logistic regression, row by row.

A `PropensityModel` predicts the chance that a customer has an outcome (responding to the last
campaign, or churning when the file carries a churn label) from business features only. It
is stored in model.json as numbers — the inputs, how each is transformed (log of money
amounts, standardisation, one-hot categories), the coefficients and a two-number
recalibration — so `run`, `assign` and any engine compute the same probability for a
customer whatever other customers are in the chunk. No pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .. import schema
from ..errors import InputError
from .features import absent_columns

#: the outcome flags a file can carry: never an input of any propensity model
OUTCOMES = ("Response", "Churned")

#: business features a propensity model may use (original units, before the transform):
#: what customers earn, spend and buy where, their household, how long they have been
#: customers, when they last bought, which earlier campaigns they accepted and whether they
#: complained. Outcome columns and anything computed from them are not in this list.
INPUTS = [
    "Income",
    "Age",
    "Tenure",
    "Recency",
    "Kidhome",
    "Teenhome",
    *schema.SPEND_COLUMNS,
    *schema.PURCHASE_COLUMNS,
    "NumWebVisitsMonth",
    *schema.CAMPAIGN_COLUMNS,
    "Complain",
]
#: skewed money columns enter as log(1 + x)
LOGGED = ["Income", *schema.SPEND_COLUMNS]


@dataclass
class PropensityModel:
    """One outcome's logistic model, as plain data (see the module docstring)."""

    outcome: str
    #: numeric inputs, in the order of `offset`, `scale` and the first coefficients
    numeric: list[str]
    logged: list[str]
    #: category column -> its categories (one-hot, in this order, after the numeric inputs)
    categories: dict[str, list[str]]
    offset: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    #: recalibration logit(p') = calibration[0] + calibration[1] * logit(p); [0, 1] = none
    calibration: list[float] = field(default_factory=lambda: [0.0, 1.0])

    @property
    def columns(self) -> list[str]:
        return self.numeric + [f"{c}={v}" for c, vs in self.categories.items() for v in vs]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "model.json") -> PropensityModel:
        try:
            model = cls(**data)
        except TypeError:
            raise InputError(
                f"{source}: the propensity part is damaged — re-run `reportgen run`"
            ) from None
        model.check(source)
        return model

    def check(self, source: str) -> None:
        n = len(self.numeric)
        width = n + sum(len(v) for v in self.categories.values())
        sizes_ok = len(self.offset) == n and len(self.scale) == n and len(self.coef) == width
        numbers = [*self.offset, *self.scale, *self.coef, self.intercept, *self.calibration]
        try:
            finite = bool(np.isfinite(np.asarray(numbers, dtype=float)).all())
        except (TypeError, ValueError, OverflowError):
            finite = False
        if not sizes_ok or not finite or len(self.calibration) != 2 or self.outcome in self.numeric:
            raise InputError(
                f"{source}: the {self.outcome} propensity model is damaged (sizes or numbers) "
                "— re-run `reportgen run`"
            )

    def design(self, features: pd.DataFrame, cleaned: pd.DataFrame) -> np.ndarray:
        """The standardised input matrix (rows of `features`/`cleaned`)."""
        values = transform(features, self.numeric, self.logged)
        return design(values, cleaned, self.offset, self.scale, self.categories)

    def logit(self, features: pd.DataFrame, cleaned: pd.DataFrame) -> np.ndarray:
        z = self.design(features, cleaned) @ np.asarray(self.coef) + self.intercept
        a, b = self.calibration
        return a + b * z

    def predict(self, features: pd.DataFrame, cleaned: pd.DataFrame) -> np.ndarray:
        """Probability of the outcome for each row."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(features, cleaned), -40, 40)))


def available_inputs(features: pd.DataFrame) -> list[str]:
    """The INPUTS this table has (Complain is optional)."""
    return [c for c in INPUTS if c in features]


def transform(features: pd.DataFrame, numeric: list[str], logged: list[str]) -> np.ndarray:
    """Numeric inputs in model units before standardisation: log(1 + x) for money."""
    values = features[numeric].to_numpy(dtype=float, copy=True)
    for j, c in enumerate(numeric):
        if c in logged:
            values[:, j] = np.log1p(np.clip(values[:, j], 0, None))
    return values


def design(
    values: np.ndarray,
    cleaned: pd.DataFrame,
    offset,
    scale,
    categories: dict[str, list[str]],
) -> np.ndarray:
    """The model's input matrix: `values` (from `transform`) standardised with `offset` and
    `scale`, an unknown value at 0 (the fitted mean), then the one-hot categories."""
    values = (values - np.asarray(offset)) / np.asarray(scale)
    values = np.where(np.isfinite(values), values, 0.0)
    blocks = [values]
    for column, cats in categories.items():
        # one-hot by category codes (-1, a value not in `cats`, gives a row of zeros)
        codes = pd.Categorical(cleaned[column].astype(str), categories=cats).codes
        blocks.append(np.eye(len(cats) + 1)[codes, : len(cats)])
    return np.hstack(blocks)


def models_from_json(model: dict, source: str = "model.json") -> dict[str, PropensityModel]:
    """The propensity models a model.json holds: 'response', and 'churn' when fitted."""
    part = model.get("propensity") or {}
    if not isinstance(part, dict):
        raise InputError(f"{source}: the propensity part is damaged — re-run `reportgen run`")
    return {name: PropensityModel.from_dict(body, source) for name, body in part.items()}


def require_inputs(models: dict[str, PropensityModel], features, cleaned, source: str) -> None:
    """Refuse customers that lack an input of a stored propensity model."""
    for m in models.values():
        absent = absent_columns(m.numeric, m.categories, features, cleaned)
        if absent:
            raise InputError(
                f"{source}: the {m.outcome} propensity model uses {', '.join(absent)}, which "
                "the customer file does not have — use a file with the fitting run's columns"
            )
