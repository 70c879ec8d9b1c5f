"""model.json: everything needed to assign new customers later, as plain data (never pickle)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from .clean import CleaningRules, OutlierBounds, apply_cleaning, outlier_reasons
from .errors import InputError
from .features import DesignSpec, design_matrix, engineer
from .segment import nearest_centroid

MODEL_FORMAT = "reportgen-model"
MODEL_VERSION = 1


def _fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def build_model(
    rules: CleaningRules,
    bounds: OutlierBounds,
    spec: DesignSpec,
    reference_date: pd.Timestamp,
    centroids: np.ndarray,
    segment_names: dict[int, str] | None = None,
    tool_version: str = "",
) -> dict[str, Any]:
    body = {
        "cleaning": rules.to_dict(),
        "outliers": bounds.to_dict(),
        "design": spec.to_dict(),
        "reference_date": reference_date.strftime("%Y-%m-%d"),
        "centroids": np.asarray(centroids).tolist(),
        "segment_names": {str(k): v for k, v in (segment_names or {}).items()},
    }
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "tool_version": tool_version,
        "features": spec.columns,
        "sha256": _fingerprint(body),
        **body,
    }


def check_model(model: dict[str, Any], source: str = "model.json") -> None:
    """Refuse a model file that is not ours, was edited, or whose parts do not fit together."""
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise InputError(f"{source}: not a reportgen model file — pass the model.json of a run")
    if model.get("version") != MODEL_VERSION:
        raise InputError(
            f"{source}: model version {model.get('version')} is not supported by this reportgen "
            f"(expects {MODEL_VERSION}) — re-run `reportgen run` to make a new model"
        )
    keys = ["cleaning", "outliers", "design", "reference_date", "centroids", "segment_names"]
    missing = [k for k in keys if k not in model]
    if missing:
        raise InputError(f"{source}: missing part(s) {', '.join(missing)} — the file is damaged")
    body = {k: model[k] for k in keys}
    if _fingerprint(body) != model.get("sha256"):
        raise InputError(
            f"{source}: the model was changed after it was written (checksum mismatch) — "
            "use the model.json of a run unchanged, or re-run `reportgen run`"
        )
    spec = DesignSpec.from_dict(model["design"])
    if model.get("features") != spec.columns:
        raise InputError(
            f"{source}: feature list {model.get('features')} does not match the model's scaling "
            f"({spec.columns}) — the file was edited; re-run `reportgen run`"
        )
    width = {len(row) for row in model["centroids"]}
    if width != {len(spec.columns)}:
        raise InputError(f"{source}: centroids do not match the feature list — the file is damaged")


def assign(model: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Assign customers (a loaded frame, canonical columns) to the model's segments.

    Returns customer_id, segment, excluded_from_fit (outside the model's IQR fences),
    exclusion_reason, distance_to_centroid — computed exactly as in the fitting run.
    """
    check_model(model)
    rules = CleaningRules.from_dict(model["cleaning"])
    cleaned, _ = apply_cleaning(frame, rules)
    features = engineer(cleaned, pd.Timestamp(model["reference_date"]))
    reasons = outlier_reasons(features, OutlierBounds.from_dict(model["outliers"]))
    spec = DesignSpec.from_dict(model["design"])
    X = design_matrix(spec, features, cleaned)
    labels, distance = nearest_centroid(X, np.asarray(model["centroids"], dtype=float))
    return pd.DataFrame(
        {
            "customer_id": frame["ID"].astype(str).to_numpy(),
            "segment": labels,
            "excluded_from_fit": (reasons != "").to_numpy(),
            "exclusion_reason": reasons.to_numpy(),
            "distance_to_centroid": np.round(distance, 6),
        }
    )
