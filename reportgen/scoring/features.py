"""Feature engineering and the clustering design matrix.

`engineer` adds business features in original units (Age, TotalSpend, Tenure, ...);
`DesignSpec` turns chosen features into the scaled matrix K-Means sees, as plain data
that model.json stores so new customers are scaled the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import schema
from ..errors import InputError
from ..schema import ENGINEERED  # noqa: F401  (re-exported)

#: Features that feed the clustering by default, and why (shown in the methodology section).
DEFAULT_CLUSTERING_FEATURES = [
    "Income",
    "TotalSpend",
    "Age",
    "Children",
    "NumWebVisitsMonth",
    "CampaignEngagement",
    "DealsShare",
]
DEFAULT_FEATURES_REASON = (
    "Seven behaviour and life-stage measures: what customers earn and spend, their age and "
    "children, how much they browse online, how often they accept campaigns and how much they "
    "buy on discount. Recency and tenure are left out of the clustering because they are spread "
    "evenly in this kind of data and only split customers by the date of their last visit; "
    "education and marital status are left out because one-hot columns next to scaled numbers "
    "let K-Means cluster on marital status alone. All of them are still used to describe and "
    "explain the segments."
)


CHANNELS = {
    "web": "NumWebPurchases",
    "catalog": "NumCatalogPurchases",
    "store": "NumStorePurchases",
    "deals": "NumDealsPurchases",
}


def reference_date(frame: pd.DataFrame, configured: str | None) -> pd.Timestamp:
    """The configured reference date, else the latest enrollment date in the file."""
    if configured:
        try:
            return pd.Timestamp(configured)
        except (ValueError, TypeError):
            raise InputError(
                f"features.reference_date = {configured!r} is not a date — write it as YYYY-MM-DD"
            ) from None
    return pd.Timestamp(frame[schema.ENROLLED].max())


def engineer(frame: pd.DataFrame, ref: pd.Timestamp) -> pd.DataFrame:
    """Numeric business features in original units, indexed like `frame`.

    Holds every raw numeric column (but the id) plus the engineered ones.
    """
    raw = [c for c in schema.NUMERIC_COLUMNS if c in frame and c != schema.ID]
    out = frame[raw].astype(float).copy()
    out["Age"] = ref.year - frame["Year_Birth"].astype(float)
    out["TotalSpend"] = frame[schema.SPEND_COLUMNS].sum(axis=1).astype(float)
    out["Tenure"] = (ref - frame[schema.ENROLLED]).dt.days.astype(float)
    # earlier campaigns only: the last campaign's Response is the outcome the report measures
    # segments by (and the A/B baseline), so it must not also shape the segments
    out["CampaignEngagement"] = frame[schema.CAMPAIGN_COLUMNS].sum(axis=1).astype(float)
    out["Children"] = (frame["Kidhome"] + frame["Teenhome"]).astype(float)
    out["IsParent"] = (out["Children"] > 0).astype(float)
    # Discounted purchases are also counted in the web, catalogue or store column, so the
    # total is over those three channels and DealsShare is the discounted part of it.
    channels = ["NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases"]
    purchases = frame[channels].sum(axis=1).astype(float)
    out["TotalPurchases"] = purchases
    safe = purchases.replace(0, np.nan)
    out["AvgPurchaseValue"] = (out["TotalSpend"] / safe).fillna(0.0)
    out["WebShare"] = (frame["NumWebPurchases"] / safe).fillna(0.0)
    out["CatalogShare"] = (frame["NumCatalogPurchases"] / safe).fillna(0.0)
    out["StoreShare"] = (frame["NumStorePurchases"] / safe).fillna(0.0)
    out["DealsShare"] = (frame["NumDealsPurchases"] / safe).fillna(0.0).clip(upper=1.0)
    return out


@dataclass
class DesignSpec:
    """How to build the clustering matrix; plain data stored in model.json."""

    numeric: list[str]
    #: category column -> its categories (one-hot, in this order)
    categories: dict[str, list[str]]
    category_weight: float
    scaling: str
    offset: list[float]
    scale: list[float]

    @property
    def columns(self) -> list[str]:
        cats = [f"{c}={v}" for c, values in self.categories.items() for v in values]
        return self.numeric + cats

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DesignSpec:
        return cls(**data)


def _one_hot(frame: pd.DataFrame, categories: dict[str, list[str]]) -> np.ndarray:
    blocks = [
        (frame[column].astype(str).to_numpy()[:, None] == np.asarray(values)[None, :]).astype(float)
        for column, values in categories.items()
    ]
    return np.hstack(blocks) if blocks else np.empty((len(frame), 0))


def fit_design(
    features: pd.DataFrame,
    cleaned: pd.DataFrame,
    chosen: list[str],
    scaling: str,
    category_weight: float,
    fit_mask: np.ndarray,
) -> DesignSpec:
    """Learn scaling on the rows in `fit_mask`; `chosen` names numeric features or categories."""
    unknown = [f for f in chosen if f not in features and f not in schema.CATEGORY_COLUMNS]
    if unknown:
        known = ", ".join(sorted(features.columns) + schema.CATEGORY_COLUMNS)
        raise InputError(
            f"features.clustering: unknown feature(s) {', '.join(unknown)} — choose from {known}"
        )
    numeric = [f for f in chosen if f in features]
    cats = {
        c: sorted(cleaned.loc[fit_mask, c].astype(str).unique().tolist())
        for c in chosen
        if c in schema.CATEGORY_COLUMNS
    }
    values = features.loc[fit_mask, numeric].to_numpy(dtype=float)
    if scaling == "standard":
        offset = values.mean(axis=0)
        scale = values.std(axis=0)
    else:
        offset = values.min(axis=0)
        scale = values.max(axis=0) - offset
    scale = np.where(scale > 0, scale, 1.0)
    return DesignSpec(
        numeric=numeric,
        categories=cats,
        category_weight=category_weight,
        scaling=scaling,
        offset=offset.tolist(),
        scale=scale.tolist(),
    )


def design_matrix(spec: DesignSpec, features: pd.DataFrame, cleaned: pd.DataFrame) -> np.ndarray:
    """The scaled matrix K-Means sees (numeric block, then weighted one-hot block)."""
    numeric = (features[spec.numeric].to_numpy(dtype=float) - np.asarray(spec.offset)) / np.asarray(
        spec.scale
    )
    onehot = _one_hot(cleaned, spec.categories) * spec.category_weight
    return np.hstack([numeric, onehot])


def absent_columns(
    numeric: list[str], categories, features: pd.DataFrame, cleaned: pd.DataFrame
) -> list[str]:
    """The numeric features and category columns a model uses that these rows lack."""
    return [c for c in numeric if c not in features] + [c for c in categories if c not in cleaned]
