"""Why customers are in their segment: surrogate model, SHAP, LIME and plain rules.

Everything speaks in business units (Income, Total spend, Children, ...), never in the scaled
or one-hot columns K-Means saw:

* `fit_surrogate`: a random forest predicting the K-Means segment from business features, with
  its fidelity (held-out accuracy against the K-Means labels, stratified split). A random
  forest because SHAP's TreeExplainer explains it exactly and fast for any number of classes
  (sklearn's GradientBoosting/HistGradientBoosting classifiers are binary-only there).
* `shap_tensor`: exact TreeSHAP values [rows, features, segments] in probability points.
* `segment_drivers`: global drivers per segment (per-customer drivers are K-Means' own
  margin, score.py).
* `lime_examples`: LIME weights for given customers and their agreement with SHAP.
* `segment_rule`: a depth <= 3 decision tree turned into a rule in words, with precision and
  recall recomputed from the rule itself.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from .. import featuretext as ft
from ..config import InterpretationConfig
from ..errors import InputError
from ..result import Driver, LimeExample, LimeWeight, Rule

#: Business features added to the clustering features for explanations by default.
#: (Discount buying is already in the clustering feature DealsShare.)
DEFAULT_CONTEXT_FEATURES = [
    "Recency",
    "NumWebPurchases",
    "NumCatalogPurchases",
    "NumStorePurchases",
]

#: |correlation| between a feature's values and its SHAP values below which its direction
#: is "mixed" (it pushes into the segment at some values and out of it at others).
DIRECTION_MIN_CORR = 0.2


# --------------------------------------------------------------------------- features


def surrogate_features(
    model_features: list[str], configured: list[str] | None, features: pd.DataFrame
) -> list[str]:
    """Feature names for the surrogate: configured (or default context) + clustering features.

    Clustering features that are one-hot groups ("Education=PhD") stay as 0/1 indicators.
    """
    extra = configured if configured is not None else DEFAULT_CONTEXT_FEATURES
    unknown = [f for f in extra if f not in features and "=" not in f]
    if unknown:
        raise InputError(
            f"interpretation.surrogate_features: unknown feature(s) {', '.join(unknown)} — "
            f"choose from {', '.join(features.columns)}"
        )
    out: list[str] = []
    for f in [*model_features, *extra]:
        if f not in out and (f in features or "=" in f):
            out.append(f)
    return out


def surrogate_matrix(
    names: list[str], features: pd.DataFrame, cleaned: pd.DataFrame
) -> pd.DataFrame:
    """The surrogate's inputs in original units (one-hot groups as 0/1), positional index."""
    cols = {}
    for f in names:
        if f in features:
            cols[f] = features[f].to_numpy(dtype=float)
        else:
            column, value = f.split("=", 1)
            cols[f] = (cleaned[column].astype(str).to_numpy() == value).astype(float)
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- surrogate


@dataclass
class Surrogate:
    model: RandomForestClassifier
    features: list[str]
    #: segment ids in the order of the model's probability columns
    classes: np.ndarray
    fidelity: float
    info: dict[str, Any] = field(default_factory=dict)
    train_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    #: shap.TreeExplainer of `model`, built on first use
    explainer: Any = None


def fit_surrogate(
    X: pd.DataFrame, y: np.ndarray, settings: InterpretationConfig, seed: int
) -> Surrogate:
    """Fit the surrogate on a stratified part of the fitted customers; fidelity on the rest.

    The model that is explained is the one whose fidelity is reported (fitted on the
    training part only).
    """
    y = np.asarray(y)
    n = len(y)
    rows = np.arange(n)
    counts = np.bincount(np.unique(y, return_inverse=True)[1])
    n_test = int(math.ceil(settings.holdout_share * n))
    stratified = bool(counts.min() >= 2 and n_test >= len(counts) and n - n_test >= len(counts))
    if n >= 20:
        train, test = train_test_split(
            rows,
            test_size=settings.holdout_share,
            random_state=seed,
            stratify=y if stratified else None,
        )
    else:  # too few customers to hold any out: fidelity is measured on the training rows
        train, test, stratified = rows, rows, False
    train, test = np.sort(train), np.sort(test)
    model = RandomForestClassifier(
        n_estimators=settings.surrogate_trees,
        max_depth=settings.surrogate_max_depth,
        max_features=settings.surrogate_max_features,
        random_state=seed,
        n_jobs=1,
    )
    Xv = X.to_numpy(dtype=float)
    model.fit(Xv[train], y[train])
    pred_test = model.predict(Xv[test])
    fidelity = float(np.mean(pred_test == y[test]))
    per_segment = {
        str(int(s)): round(float(np.mean(pred_test[y[test] == s] == s)), 4)
        for s in np.unique(y[test])
    }
    info = {
        "model": "RandomForestClassifier",
        "library": "scikit-learn",
        "params": {
            "n_estimators": settings.surrogate_trees,
            "max_depth": settings.surrogate_max_depth,
            "max_features": settings.surrogate_max_features,
            "random_state": seed,
        },
        "features": list(X.columns),
        "target": "K-Means segment of each fitted customer",
        "fidelity_accuracy": round(fidelity, 4),
        "fidelity_split": {
            "train": int(len(train)),
            "holdout": int(len(test)),
            "holdout_share": settings.holdout_share,
            "stratified": stratified,
            "held_out": n >= 20,
        },
        "fidelity_per_segment": per_segment,
        "train_accuracy": round(float(np.mean(model.predict(Xv[train]) == y[train])), 4),
    }
    return Surrogate(model, list(X.columns), model.classes_, fidelity, info, train)


# --------------------------------------------------------------------------- SHAP


def shap_tensor(
    surrogate: Surrogate, X: np.ndarray, segment_ids: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values [rows, features, len(segment_ids)] and base values [segments].

    Exact TreeSHAP (tree-path-dependent) of the forest's class probabilities, so each row's
    values plus the base value add up to the predicted probability. Columns follow
    `segment_ids`; a segment the forest never saw gets zeros.
    """
    with warnings.catch_warnings():  # shap's import touches deprecated matplotlib APIs
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import shap  # heavy import, only when explaining

    if surrogate.explainer is None:  # converting the forest is costly: once per surrogate
        surrogate.explainer = shap.TreeExplainer(surrogate.model)
    explainer = surrogate.explainer
    raw = explainer.shap_values(np.asarray(X, dtype=float))
    raw = np.asarray(raw)
    if raw.ndim == 2:  # one class only
        raw = raw[:, :, None]
    base_raw = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    out = np.zeros((raw.shape[0], raw.shape[1], len(segment_ids)), dtype=np.float64)
    base = np.zeros(len(segment_ids))
    position = {int(s): i for i, s in enumerate(segment_ids)}
    for c, s in enumerate(surrogate.classes):
        out[:, :, position[int(s)]] = raw[:, :, c]
        base[position[int(s)]] = base_raw[c] if c < len(base_raw) else 0.0
    return out, base


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def segment_drivers(values: np.ndarray, X: np.ndarray, names: list[str], col: int) -> list[Driver]:
    """All features for segment column `col`, by mean |SHAP| (largest first), with direction.

    Direction: "+" when higher values push customers into the segment (SHAP rises with the
    feature), "-" when lower values do, "mixed" when neither holds (|correlation| < 0.2).
    """
    sv = values[:, :, col]
    mean_abs = np.abs(sv).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    out = []
    for i in order:
        r = _corr(X[:, i], sv[:, i])
        name = ft.label(names[i])
        more, less = ("More", "Fewer") if ft.kind(names[i]) == "count" else ("Higher", "Lower")
        if math.isfinite(r) and r >= DIRECTION_MIN_CORR:
            d, text = "+", f"{more} {name.lower()} pushes customers into this segment."
        elif math.isfinite(r) and r <= -DIRECTION_MIN_CORR:
            d, text = "-", f"{less} {name.lower()} pushes customers into this segment."
        else:
            d, text = "mixed", f"{name} pushes both ways, depending on the other features."
        out.append(
            Driver(
                feature=names[i],
                mean_abs_shap=round(float(mean_abs[i]), 5),
                direction=d,
                direction_text=text,
            )
        )
    return out


# --------------------------------------------------------------------------- LIME


_NUMBER = re.compile(r"-?\d+\.\d+")


def _lime_condition(text: str, feature: str) -> str:
    """'35303.50 < Income <= 51381.00' -> '35,304 < Income ≤ 51,381' (business units)."""
    out = _NUMBER.sub(lambda m: ft.value(feature, float(m.group())), text)
    out = out.replace(feature, ft.label(feature), 1)
    return out.replace("<=", "≤").replace(">=", "≥")


def top_overlap(a: np.ndarray, b: np.ndarray, m: int) -> float:
    """|top-m of |a| ∩ top-m of |b|| / m (feature positions)."""
    m = min(m, len(a))
    ta = set(np.argsort(-np.abs(a), kind="stable")[:m].tolist())
    tb = set(np.argsort(-np.abs(b), kind="stable")[:m].tolist())
    return len(ta & tb) / m


def lime_examples(
    surrogate: Surrogate,
    X_train: np.ndarray,
    rows: np.ndarray,
    customer_ids: list[str],
    segment_of_rows: list[int],
    shap_rows: np.ndarray,
    segment_ids: list[int],
    settings: InterpretationConfig,
    seed: int,
) -> list[LimeExample]:
    """LIME explanations of `rows` (business units) for their own segment.

    Weights: LIME's local linear model on discretised (quartile) features, so a weight is
    the change in the probability of the own segment when the customer's condition holds
    ("Income ≤ 35,304"). `agreement_with_shap`: overlap of LIME's and SHAP's top features
    (settings.agreement_top) for the same customer and segment.
    """
    from lime.lime_tabular import LimeTabularExplainer

    names = surrogate.features
    explainer = LimeTabularExplainer(
        np.asarray(X_train, dtype=float),
        feature_names=names,
        class_names=[str(int(c)) for c in surrogate.classes],
        discretize_continuous=True,
        discretizer="quartile",
        feature_selection="none",
        random_state=seed,
    )
    class_pos = {int(c): i for i, c in enumerate(surrogate.classes)}
    seg_pos = {int(s): i for i, s in enumerate(segment_ids)}
    out = []
    for i, row in enumerate(np.asarray(rows, dtype=float)):
        seg = int(segment_of_rows[i])
        if seg not in class_pos:
            continue
        label = class_pos[seg]
        exp = explainer.explain_instance(
            row,
            surrogate.model.predict_proba,
            labels=(label,),
            num_features=len(names),
            num_samples=settings.lime_num_samples,
        )
        pairs = exp.as_map()[label]  # [(feature position, weight)], same order as as_list
        conditions = [t for t, _ in exp.as_list(label=label)]
        weights = np.zeros(len(names))
        texts: dict[int, str] = {}
        for (j, w), cond in zip(pairs, conditions, strict=True):
            weights[int(j)] = w
            texts[int(j)] = cond
        agreement = top_overlap(weights, shap_rows[i, :, seg_pos[seg]], settings.agreement_top)
        order = np.argsort(-np.abs(weights), kind="stable")[: settings.lime_num_features]
        out.append(
            LimeExample(
                customer_id=customer_ids[i],
                weights=[
                    LimeWeight(
                        feature=names[j],
                        weight=round(float(weights[j]), 5),
                        condition=_lime_condition(texts.get(int(j), names[j]), names[j]),
                    )
                    for j in order
                ],
                values={names[j]: float(row[j]) for j in order},
                predicted_probability=round(float(exp.predict_proba[label]), 4),
                agreement_with_shap=round(agreement, 4),
            )
        )
    return out


# --------------------------------------------------------------------------- rules


def _tree_paths(tree: DecisionTreeClassifier) -> list[list[tuple[int, str, float]]]:
    """Every node but the root as the path of (feature, '<=' | '>', threshold) reaching it.

    Internal nodes are candidates too, so two sibling leaves that both belong to the segment
    are covered by their parent's shorter rule.
    """
    t = tree.tree_
    paths: list[list[tuple[int, str, float]]] = []

    def walk(node: int, path: list[tuple[int, str, float]]) -> None:
        if path:
            paths.append(path)
        if t.children_left[node] == -1:
            return
        f, thr = int(t.feature[node]), float(t.threshold[node])
        walk(int(t.children_left[node]), [*path, (f, "<=", thr)])
        walk(int(t.children_right[node]), [*path, (f, ">", thr)])

    walk(0, [])
    return paths


def _nice_bound(column: np.ndarray, threshold: float) -> float:
    """A round v such that `x >= v` splits `column` exactly like `x > threshold`."""
    below = column[column <= threshold]
    above = column[column > threshold]
    if len(below) == 0 or len(above) == 0:
        return threshold
    return ft.nice_threshold(float(below.max()), float(above.min()))


def _clause(
    path: list[tuple[int, str, float]], X: np.ndarray, names: list[str]
) -> list[dict[str, Any]]:
    """Tree path -> merged conditions [{feature, op, value}] with round thresholds."""
    lower: dict[int, float] = {}
    upper: dict[int, float] = {}
    for f, op, thr in path:
        v = _nice_bound(X[:, f], thr)
        if op == ">":
            lower[f] = max(lower.get(f, -math.inf), v)
        else:
            upper[f] = min(upper.get(f, math.inf), v)
    out = []
    for f in sorted(set(lower) | set(upper), key=lambda f: [p[0] for p in path].index(f)):
        if f in lower:
            out.append({"feature": names[f], "op": ">=", "value": lower[f]})
        if f in upper:
            out.append({"feature": names[f], "op": "<", "value": upper[f]})
    return out


def evaluate_conditions(conditions: list[list[dict[str, Any]]], X: pd.DataFrame) -> np.ndarray:
    """Which rows satisfy the rule (clauses joined by "or", conditions by "and")."""
    hit = np.zeros(len(X), dtype=bool)
    for clause in conditions:
        ok = np.ones(len(X), dtype=bool)
        for c in clause:
            x = X[c["feature"]].to_numpy(dtype=float)
            ok &= x >= c["value"] if c["op"] == ">=" else x < c["value"]
        hit |= ok
    return hit


def _int_like(feature: str) -> bool:
    return ft.kind(feature) in ("count", "days", "years", "flag")


_PEOPLE = {
    "Children": "children",
    "IsParent": "children",
    "Kidhome": "small children",
    "Teenhome": "teenagers",
}


def _condition_words(feature: str, lo: float | None, hi: float | None) -> str:
    """x in [lo, hi) in words; integer-valued features as whole numbers."""
    name = ft.label(feature)
    ints = _int_like(feature)
    a = math.ceil(lo) if lo is not None and ints else lo  # smallest value included
    b = math.ceil(hi) - 1 if hi is not None and ints else hi  # largest value included
    if feature in _PEOPLE:
        noun = _PEOPLE[feature]

        one = {"children": "child", "small children": "small child", "teenagers": "teenager"}

        def people(n: int) -> str:
            return f"{n} {one[noun] if n == 1 else noun}"

        if lo is None and b is not None and b <= 0:
            return f"no {noun}"
        if hi is None and a is not None and a <= 1:
            return f"has {noun}"
        if hi is None:
            return f"{a}+ {noun}"
        if lo is None:
            return f"at most {people(b)}"
        return people(a) if a == b else f"{a}–{b} {noun}"
    if feature == "CampaignEngagement":
        if lo is None and b is not None and b <= 0:
            return "accepted no campaign offer"
        if hi is None:
            return f"accepted {a}+ campaign offer{'s' if a > 1 else ''}"
        if lo is None:
            return f"accepted at most {b} campaign offer{'s' if b > 1 else ''}"
        if a == b:
            return f"accepted {a} campaign offer{'s' if a != 1 else ''}"
        return f"accepted {a}–{b} campaign offers"
    if ints:
        if lo is not None and hi is not None:
            if a == b:
                return f"{name} = {ft.value(feature, a)}"
            return f"{name} {ft.value(feature, a)}–{ft.value(feature, b)}"
        if lo is not None:
            return f"{name} ≥ {ft.value(feature, a)}"
        return f"{name} ≤ {ft.value(feature, b)}"
    if lo is not None and hi is not None:
        return f"{name} from {ft.value(feature, lo)} to under {ft.value(feature, hi)}"
    if lo is not None:
        return f"{name} ≥ {ft.value(feature, lo)}"
    return f"{name} < {ft.value(feature, hi)}"


def rule_text(conditions: list[list[dict[str, Any]]]) -> str:
    parts = []
    for clause in conditions:
        bounds: dict[str, list[float | None]] = {}
        for c in clause:
            b = bounds.setdefault(c["feature"], [None, None])
            b[0 if c["op"] == ">=" else 1] = c["value"]
        words = [_condition_words(f, lo, hi) for f, (lo, hi) in bounds.items()]
        parts.append(" and ".join(words) if words else "every customer")
    if len(parts) == 1:
        return parts[0][:1].upper() + parts[0][1:]
    return " or ".join(f"({p})" for p in parts)


def _f1(hit: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(hit & y))
    precision = tp / hit.sum() if hit.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def segment_rule(
    X: pd.DataFrame, in_segment: np.ndarray, max_depth: int, max_clauses: int, seed: int
) -> Rule:
    """A short rule for one segment from a depth <= `max_depth` tree (segment vs the rest).

    The rule is the tree node (or the union of up to `max_clauses` nodes, each added only
    when it raises F1 by at least 0.02) whose path best matches the segment (F1). Thresholds are
    rounded to the roundest number that splits the customers the same way; precision and
    recall are recomputed from the rounded rule on the same customers.
    """
    y = np.asarray(in_segment, dtype=bool)
    names = list(X.columns)
    Xv = X.to_numpy(dtype=float)
    tree = DecisionTreeClassifier(
        max_depth=max_depth,
        min_samples_leaf=max(5, int(0.01 * len(y))),
        random_state=seed,
    ).fit(Xv, y)
    clauses = [_clause(path, Xv, names) for path in _tree_paths(tree)]
    hits = [evaluate_conditions([c], X) for c in clauses]
    chosen: list[int] = []
    best = (0.0, 0.0, 0.0)
    hit = np.zeros(len(y), dtype=bool)
    for _ in range(max_clauses):
        scores = [
            (_f1(hit | h, y), i) for i, h in enumerate(hits) if i not in chosen and clauses[i]
        ]
        if not scores:
            break
        # best F1; at (rounded) equal F1 the shorter clause, then the first found
        (f1, p, r), i = max(scores, key=lambda t: (round(t[0][0], 6), -len(clauses[t[1]]), -t[1]))
        if chosen and f1 < best[0] + 0.02:
            break
        if not chosen and f1 == 0.0:
            break
        chosen.append(i)
        best = (f1, p, r)
        hit = hit | hits[i]
    conditions = [clauses[i] for i in chosen]
    if not conditions:
        return Rule(text="No short rule separates this segment", precision=0.0, recall=0.0)
    _, precision, recall = best
    return Rule(
        text=rule_text(conditions),
        precision=round(precision, 4),
        recall=round(recall, 4),
        support=int(hit.sum()),
        conditions=conditions,
    )
