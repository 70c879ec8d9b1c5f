"""Why customers are in their segment: exact SHAP of K-Means, LIME of its soft assignment,
and plain rules.

Everything speaks in business units (Income, Total spend, Children, ...), never in the scaled
or one-hot columns K-Means saw:

* SHAP: K-Means' choice between a customer's segment a and the runner-up b is the margin
  ‖x−b‖² − ‖x−a‖², linear in the scaled features, so its exact SHAP values are a closed form
  (score.margin_shap, the same numbers as segments.csv's drivers). `segment_drivers` averages
  them over a segment's customers. No copy of the model is explained, so fidelity is 1 by
  construction.
* LIME: `SoftAssignment` is K-Means' soft assignment (the posterior of an equal-weight
  isotropic Gaussian mixture with K-Means' centres and the pooled within-segment variance);
  `lime_examples` explains it for customers drawn at random from each segment and measures
  the overlap of LIME's and SHAP's top features, beside the overlap two random rankings
  would have.
* `segment_rule`: a depth <= 3 decision tree turned into a rule in words, with precision and
  recall recomputed from the rule itself. Rules may use context features K-Means never saw
  (Recency, purchases per channel); their precision and recall are their fidelity.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from .. import featuretext as ft
from ..config import InterpretationConfig
from ..errors import InputError
from ..result import Driver, LimeExample, LimeWeight, Rule
from ..scoring.model import ModelParts
from ..scoring.score import driver_groups

#: Business features the rules may use besides the clustering features, by default.
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


def rule_features(
    model_features: list[str], configured: list[str] | None, features: pd.DataFrame
) -> list[str]:
    """Feature names the rules may use: clustering features + configured (or default) context.

    Clustering features that are one-hot groups ("Education=PhD") stay as 0/1 indicators.
    """
    extra = configured if configured is not None else DEFAULT_CONTEXT_FEATURES
    unknown = [f for f in extra if f not in features and "=" not in f]
    if unknown:
        raise InputError(
            f"interpretation.rule_features: unknown feature(s) {', '.join(unknown)} — "
            f"choose from {', '.join(features.columns)}"
        )
    out: list[str] = []
    for f in [*model_features, *extra]:
        if f not in out and (f in features or "=" in f):
            out.append(f)
    return out


def feature_matrix(names: list[str], features: pd.DataFrame, cleaned: pd.DataFrame) -> pd.DataFrame:
    """Business features in original units (one-hot groups as 0/1), positional index."""
    cols = {}
    for f in names:
        if f in features:
            cols[f] = features[f].to_numpy(dtype=float)
        else:
            column, value = f.split("=", 1)
            cols[f] = (cleaned[column].astype(str).to_numpy() == value).astype(float)
    return pd.DataFrame(cols)


def group_values(parts: ModelParts, features: pd.DataFrame, cleaned: pd.DataFrame) -> np.ndarray:
    """[rows, driver groups]: numeric clustering features in their units, then each category
    column as its position in the model's category list (-1 for a category it never saw)."""
    numeric = features[parts.spec.numeric].to_numpy(dtype=float)
    codes = [
        pd.Categorical(cleaned[c].astype(str), categories=v).codes.astype(float)[:, None]
        for c, v in parts.spec.categories.items()
    ]
    return np.hstack([numeric, *codes]) if codes else numeric


# --------------------------------------------------------------------------- SHAP


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def segment_drivers(
    values: np.ndarray, X: np.ndarray, names: list[str], n_numeric: int
) -> list[Driver]:
    """Every driver group for one segment's customers, by mean |SHAP| (largest first).

    `values` [rows, groups]: each customer's exact SHAP values of the margin between the
    segment and their runner-up; `X` the same customers' group values (group_values).
    `share`: the group's part of the summed mean |SHAP| (the shares add up to 1).
    Direction: "+" when higher values push customers into the segment (SHAP rises with the
    feature), "-" when lower values do, "mixed" when neither holds (|correlation| < 0.2);
    "category" for a category column (it has no higher or lower).
    """
    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(names))
    total = float(mean_abs.sum())
    order = np.argsort(-mean_abs, kind="stable")
    out = []
    for i in order:
        name = ft.label(names[i])
        if i >= n_numeric:
            d, text = "category", f"{name} sets these customers apart."
        else:
            r = _corr(X[:, i], values[:, i])
            more, less = ("More", "Fewer") if ft.kind(names[i]) == "count" else ("Higher", "Lower")
            if math.isfinite(r) and r >= DIRECTION_MIN_CORR:
                d, text = "+", f"{more} {name.lower()} pushes customers into this segment."
            elif math.isfinite(r) and r <= -DIRECTION_MIN_CORR:
                d, text = "-", f"{less} {name.lower()} pushes customers into this segment."
            else:
                d, text = "mixed", f"{name} pushes both ways, depending on the customer."
        out.append(
            Driver(
                feature=names[i],
                mean_abs_shap=round(float(mean_abs[i]), 6),
                share=round(float(mean_abs[i]) / total, 4) if total > 0 else 0.0,
                direction=d,
                direction_text=text,
            )
        )
    return out


# --------------------------------------------------------------------------- LIME


@dataclass
class SoftAssignment:
    """K-Means' soft assignment of customers given as driver-group values (group_values):
    p(segment j | x) ∝ exp(−‖x − c_j‖² / (2σ²)), σ² the pooled within-segment variance per
    scaled column (inertia / (rows × columns) of the fitted customers)."""

    parts: ModelParts
    variance: float

    @classmethod
    def fit(cls, parts: ModelParts, X: np.ndarray, own: np.ndarray) -> SoftAssignment:
        d2 = ((X - parts.centroids[own]) ** 2).sum(axis=1)
        variance = float(d2.mean()) / max(X.shape[1], 1) if len(X) else 1.0
        return cls(parts, variance if variance > 0 else 1.0)

    def design(self, rows: np.ndarray) -> np.ndarray:
        spec = self.parts.spec
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        n = len(spec.numeric)
        numeric = (rows[:, :n] - np.asarray(spec.offset)) / np.asarray(spec.scale)
        blocks = [numeric]
        for j, values in enumerate(spec.categories.values()):
            codes = np.rint(rows[:, n + j])
            onehot = codes[:, None] == np.arange(len(values))[None, :]
            blocks.append(onehot.astype(float) * spec.category_weight)
        return np.hstack(blocks)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        X = self.design(rows)
        c = self.parts.centroids
        d2 = np.stack([((X - c[j]) ** 2).sum(axis=1) for j in range(len(c))], axis=1)
        logits = -(d2 - d2.min(axis=1, keepdims=True)) / (2.0 * self.variance)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


_NUMBER = re.compile(r"-?\d+\.\d+")


def _lime_condition(text: str, feature: str, categories: list[str] | None) -> str:
    """'35303.50 < Income <= 51381.00' -> '35,304 < Income ≤ 51,381' (business units)."""
    if categories is not None:  # LIME writes "Marital_Status=3": the category's name instead
        code = text.split("=", 1)[-1]
        value = categories[int(code)] if code.isdigit() and int(code) < len(categories) else code
        return f"{ft.label(feature)}: {value}"
    out = _NUMBER.sub(lambda m: ft.value(feature, float(m.group())), text)
    out = out.replace(feature, ft.label(feature), 1)
    return out.replace("<=", "≤").replace(">=", "≥")


def top_overlap(a: np.ndarray, b: np.ndarray, m: int) -> float:
    """|top-m of |a| ∩ top-m of |b|| / m (feature positions)."""
    m = min(m, len(a))
    ta = set(np.argsort(-np.abs(a), kind="stable")[:m].tolist())
    tb = set(np.argsort(-np.abs(b), kind="stable")[:m].tolist())
    return len(ta & tb) / m


def chance_overlap(m: int, groups: int) -> float:
    """Expected top-m overlap of two independent random rankings of `groups` features: m / G."""
    return min(m, groups) / groups if groups else 0.0


def lime_examples(
    model: SoftAssignment,
    train: np.ndarray,
    rows: np.ndarray,
    customer_ids: list[str],
    own: np.ndarray,
    shap_rows: np.ndarray,
    settings: InterpretationConfig,
    seed: int,
) -> list[LimeExample]:
    """LIME explanations of `rows` (group values) for their own segment under `model`.

    Weights: LIME's local linear model of the own segment's soft-assignment probability on
    discretised (quartile) features, so a weight is the change in that probability when the
    customer's condition holds ("Income ≤ 35,304"). `agreement_with_shap`: overlap of LIME's
    and SHAP's top `settings.agreement_top` features for the same customer.
    """
    from lime.lime_tabular import LimeTabularExplainer

    parts = model.parts
    names = driver_groups(parts)
    n_num = len(parts.spec.numeric)
    cats = list(parts.spec.categories.values())
    explainer = LimeTabularExplainer(
        np.asarray(train, dtype=float),
        feature_names=names,
        class_names=[str(int(c)) for c in parts.ids],
        categorical_features=list(range(n_num, len(names))),
        categorical_names={n_num + j: list(v) for j, v in enumerate(cats)},
        discretize_continuous=True,
        discretizer="quartile",
        feature_selection="none",
        random_state=seed,
    )
    out = []
    for i, row in enumerate(np.asarray(rows, dtype=float)):
        label = int(own[i])
        exp = explainer.explain_instance(
            row,
            model.predict_proba,
            labels=(label,),
            num_features=len(names),
            num_samples=settings.lime_num_samples,
        )
        weights = np.zeros(len(names))
        texts: dict[int, str] = {}
        for (j, w), (cond, _) in zip(exp.as_map()[label], exp.as_list(label=label), strict=True):
            weights[int(j)], texts[int(j)] = w, cond
        agreement = top_overlap(weights, shap_rows[i], settings.agreement_top)
        order = np.argsort(-np.abs(weights), kind="stable")[: settings.lime_num_features]
        out.append(
            LimeExample(
                customer_id=customer_ids[i],
                weights=[
                    LimeWeight(
                        feature=names[j],
                        weight=round(float(weights[j]), 5),
                        condition=_lime_condition(
                            texts.get(int(j), names[j]),
                            names[j],
                            cats[j - n_num] if j >= n_num else None,
                        ),
                    )
                    for j in order
                ],
                values={names[j]: float(row[j]) for j in order},
                predicted_probability=round(float(model.predict_proba(row)[0, label]), 4),
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
