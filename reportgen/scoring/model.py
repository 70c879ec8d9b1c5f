"""model.json: everything needed to assign new customers later, as plain data (never pickle)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .clean import CleaningRules, OutlierBounds
from .features import DesignSpec, absent_columns
from .propensity import PropensityModel, models_from_json

MODEL_FORMAT = "reportgen-model"
#: 2: CampaignEngagement counts the earlier campaigns only (not the last Response), and
#: drivers are SHAP values against the stored background (the fitted customers' mean)
MODEL_VERSION = 2


#: a model.json is about 20 kB; anything far larger, or nested deeper than a model ever is,
#: is refused before it is parsed into objects
MAX_MODEL_BYTES = 10_000_000
MAX_MODEL_DEPTH = 12


def read_model(path: Path, source: str | None = None) -> dict[str, Any]:
    """Parse a model.json file with limits: size, nesting depth, only JSON numbers Python can
    hold (no 100,000-digit integers); every failure is one InputError line."""
    source = source or str(path)
    damaged = f"{source}: not a reportgen model file"
    fix = "pass the model.json of a run unchanged"
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise InputError(
                f"{damaged} ({size:,} bytes; a model is far smaller than "
                f"{MAX_MODEL_BYTES:,}) — {fix}"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{source}: model file not found — pass the model.json of a run (--model)"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{damaged} (not UTF-8 text) — {fix}") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot be read ({exc.strerror or exc}) — {fix}") from None
    return parse_model(text, source)


def parse_model(text: str, source: str = "model.json") -> dict[str, Any]:
    """model.json text -> dict, with the limits of `read_model`."""
    damaged = f"{source}: not a reportgen model file"
    fix = "pass the model.json of a run unchanged"
    level = 0  # nesting depth without recursion (json itself would hit RecursionError)
    for bracket in re.findall(r"[\[\]{}]", re.sub(r'"(?:\\.|[^"\\])*"', "", text)):
        level += 1 if bracket in "[{" else -1
        if level > MAX_MODEL_DEPTH:
            raise InputError(f"{damaged} (nested deeper than a model is) — {fix}")
    try:
        model = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{damaged} (JSONDecodeError: {exc.msg}, line {exc.lineno}) — {fix}"
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 100,000 digits
        raise InputError(f"{damaged} ({type(exc).__name__}: {str(exc)[:80]}) — {fix}") from None
    return model


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
    segment_ids: list[int] | None = None,
    driver_stats: dict[str, list[float]] | None = None,
    propensity: dict[str, PropensityModel] | None = None,
    segment_actions: dict[int, str] | None = None,
) -> dict[str, Any]:
    """model.json content. `segment_ids[i]` is the id of the segment whose centroid is row i
    (default 0..k-1); ids stay stable across monthly runs, so they need not be contiguous.
    `driver_stats` ({"mean": [...], "std": [...]}, one value per numeric clustering feature,
    over the fitted customers) lets scoring call a driver's value high, average or low;
    its "background" (the fitted customers' mean design row) is the reference the per-customer
    SHAP values are measured from. `propensity` ("response", "churn") are the plain-data
    logistic models that give each customer a chance of responding / churning."""
    k = len(np.asarray(centroids))
    ids = [int(i) for i in (segment_ids if segment_ids is not None else range(k))]
    body = {
        "cleaning": rules.to_dict(),
        "outliers": bounds.to_dict(),
        "design": spec.to_dict(),
        "reference_date": reference_date.strftime("%Y-%m-%d"),
        "centroids": np.asarray(centroids).tolist(),
        "segment_names": {str(i): v for i, v in (segment_names or {}).items()},
        "segment_ids": ids,
    }
    if driver_stats is not None:
        body["drivers"] = {k: [float(x) for x in v] for k, v in driver_stats.items()}
    if propensity:
        body["propensity"] = {name: m.to_dict() for name, m in propensity.items()}
    if segment_actions:  # each segment's primary action code, for segments.csv
        body["segment_actions"] = {str(i): v for i, v in segment_actions.items()}
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "tool_version": tool_version,
        "features": spec.columns,
        "sha256": _fingerprint(body),
        **body,
    }


_BODY_KEYS = ["cleaning", "outliers", "design", "reference_date", "centroids", "segment_names"]
#: parts added later; covered by the checksum when present.
_OPTIONAL_BODY_KEYS = ["segment_ids", "drivers", "propensity", "segment_actions"]


def check_model(model: dict[str, Any], source: str = "model.json") -> None:
    """Refuse a model file that is not ours, was edited, or whose parts do not fit together."""
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise InputError(f"{source}: not a reportgen model file — pass the model.json of a run")
    if model.get("version") != MODEL_VERSION:
        raise InputError(
            f"{source}: model version {model.get('version')} is not supported by this reportgen "
            f"(expects {MODEL_VERSION}; its features are computed differently) — fit a new "
            "model with `reportgen run` (add --refit when history.db holds the old model)"
        )
    missing = [k for k in _BODY_KEYS if k not in model]
    if missing:
        raise InputError(f"{source}: missing part(s) {', '.join(missing)} — the file is damaged")
    body = {k: model[k] for k in _BODY_KEYS + _OPTIONAL_BODY_KEYS if k in model}
    if _fingerprint(body) != model.get("sha256"):
        raise InputError(
            f"{source}: the model was changed after it was written (checksum mismatch) — "
            "use the model.json of a run unchanged, or re-run `reportgen run`"
        )
    try:
        spec = DesignSpec.from_dict(model["design"])
    except TypeError:
        raise InputError(f"{source}: the design part is damaged — re-run `reportgen run`") from None
    if model.get("features") != spec.columns:
        raise InputError(
            f"{source}: feature list {model.get('features')} does not match the model's scaling "
            f"({spec.columns}) — the file was edited; re-run `reportgen run`"
        )
    width = {len(row) for row in model["centroids"]}
    if width != {len(spec.columns)}:
        raise InputError(f"{source}: centroids do not match the feature list — the file is damaged")
    numbers = {
        "centroids": model["centroids"],
        "design offset": spec.offset,
        "design scale": spec.scale,
    }
    for part, values in numbers.items():
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError, OverflowError):
            array = np.array([np.nan])
        if not np.isfinite(array).all():
            raise InputError(
                f"{source}: the {part} hold a value that is not a finite number — the file is "
                "damaged; re-run `reportgen run`"
            )
    if len(spec.scale) != len(spec.numeric) or len(spec.offset) != len(spec.numeric):
        raise InputError(f"{source}: the design's scaling does not fit its features — damaged")
    models_from_json(model, source)  # refuses a damaged propensity part
    ids = segment_ids(model)
    if len(ids) != len(model["centroids"]) or len(set(ids)) != len(ids):
        raise InputError(
            f"{source}: segment ids {ids} do not fit the {len(model['centroids'])} centroids — "
            "the file is damaged"
        )


def segment_ids(model: dict[str, Any]) -> list[int]:
    """Segment id of each centroid row (0..k-1 for models written before ids were stored)."""
    return [int(i) for i in model.get("segment_ids", range(len(model["centroids"])))]


@dataclass
class ModelParts:
    """A checked model.json turned back into the objects the analysis uses."""

    rules: CleaningRules
    bounds: OutlierBounds
    spec: DesignSpec
    reference_date: pd.Timestamp
    centroids: np.ndarray
    ids: np.ndarray
    names: dict[int, str]
    #: mean and std of each numeric clustering feature over the fitted customers (or None)
    driver_mean: list[float] | None = None
    driver_std: list[float] | None = None
    #: the fitted customers' mean design row, the reference of the SHAP drivers (or None)
    background: np.ndarray | None = None
    #: "response" (and "churn") propensity models, when the fitting run had the outcome
    propensity: dict[str, PropensityModel] = field(default_factory=dict)
    #: the model's identity for a CRM: the first 12 hex digits of model.json's checksum
    version: str = ""
    #: segment id -> code of its primary action in the fitting run (segments.csv)
    actions: dict[int, str] = field(default_factory=dict)

    def reference_row(self) -> np.ndarray:
        """The SHAP reference: the stored background, else the centroids' mean."""
        if self.background is not None:
            return self.background
        return self.centroids.mean(axis=0)


def model_parts(model: dict[str, Any], source: str = "model.json") -> ModelParts:
    check_model(model, source)
    return ModelParts(
        rules=CleaningRules.from_dict(model["cleaning"]),
        bounds=OutlierBounds.from_dict(model["outliers"]),
        spec=DesignSpec.from_dict(model["design"]),
        reference_date=pd.Timestamp(model["reference_date"]),
        centroids=np.asarray(model["centroids"], dtype=float),
        ids=np.asarray(segment_ids(model), dtype=int),
        names={int(k): v for k, v in model["segment_names"].items()},
        driver_mean=model.get("drivers", {}).get("mean"),
        driver_std=model.get("drivers", {}).get("std"),
        background=_background(model, source),
        propensity=models_from_json(model, source),
        version=str(model.get("sha256", ""))[:12],
        actions=_actions(model, source),
    )


def _actions(model: dict[str, Any], source: str) -> dict[int, str]:
    part = model.get("segment_actions", {})
    try:
        return {int(k): str(v) for k, v in part.items()}
    except (AttributeError, TypeError, ValueError):
        raise InputError(
            f"{source}: the segment_actions part is damaged — re-run `reportgen run`"
        ) from None


def _background(model: dict[str, Any], source: str) -> np.ndarray | None:
    values = model.get("drivers", {}).get("background")
    if values is None:
        return None
    row = np.asarray(values, dtype=float)
    if row.shape != (len(model["features"]),) or not np.isfinite(row).all():
        raise InputError(f"{source}: the drivers' background is damaged — re-run `reportgen run`")
    return row


def to_original_units(spec: DesignSpec, rows: np.ndarray) -> np.ndarray:
    """Undo the design scaling: numeric columns back in their units, one-hot columns as shares."""
    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    n = len(spec.numeric)
    out = rows.copy()
    out[:, :n] = rows[:, :n] * np.asarray(spec.scale) + np.asarray(spec.offset)
    if spec.category_weight > 0:
        out[:, n:] = rows[:, n:] / spec.category_weight
    return out


def centroids_original(model: dict[str, Any]) -> dict[int, dict[str, float]]:
    """Segment id -> its centroid in original units (feature name -> value)."""
    spec = DesignSpec.from_dict(model["design"])
    values = to_original_units(spec, np.asarray(model["centroids"], dtype=float))
    return {
        sid: {c: round(float(v), 6) for c, v in zip(spec.columns, row, strict=True)}
        for sid, row in zip(segment_ids(model), values, strict=True)
    }


def require_columns(
    spec: DesignSpec, features: pd.DataFrame, cleaned: pd.DataFrame, source: str
) -> None:
    """Refuse customers that lack a column the model clusters on."""
    absent = absent_columns(spec.numeric, spec.categories, features, cleaned)
    if absent:
        raise InputError(
            f"{source}: the model clusters on {', '.join(absent)}, which the customer file "
            "does not have — use a file with the same columns as the fitting run"
        )
