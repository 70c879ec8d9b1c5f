"""Interpretation: explanations, personas, KPIs and recommendations, filled into the result.

`interpret` is the orchestrator the pipeline calls after segmentation. It computes nothing
itself; the work lives in explain.py (surrogate, SHAP, LIME, rules), kpis.py, personas.py and
recommend.py. It writes no files and imports no rendering library.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import explain
from .config import Config
from .kpis import population_kpis, segment_kpis
from .personas import build_personas, draft_persona
from .recommend import default_rules, recommend
from .result import Analysis, Explanations

#: minimum customers per segment in the SHAP chart sample (when the segment has them)
SAMPLE_FLOOR = 25


def chart_sample(labels: np.ndarray, rows: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to `size` of `rows`, stratified by segment (proportional, small segments floored)."""
    rows = np.asarray(rows)
    if len(rows) <= size:
        return rows
    rng = np.random.default_rng(seed)
    seg = labels[rows]
    ids, counts = np.unique(seg, return_counts=True)
    quota = np.maximum(np.minimum(counts, SAMPLE_FLOOR), np.floor(counts * size / len(rows)))
    quota = np.minimum(quota, counts).astype(int)
    picked = [
        rng.choice(rows[seg == s], size=q, replace=False) for s, q in zip(ids, quota, strict=True)
    ]
    return np.sort(np.concatenate(picked))


def representatives(
    customers: pd.DataFrame, fit_mask: np.ndarray, segment_id: int, count: int
) -> np.ndarray:
    """Row positions of the segment's `count` fitted customers nearest its centroid."""
    seg = customers["segment"].to_numpy() == segment_id
    rows = np.flatnonzero(seg & fit_mask)
    if len(rows) < count:  # a tiny segment: fall back to all its members
        rows = np.flatnonzero(seg)
    dist = customers["distance_to_centroid"].to_numpy()[rows]
    return rows[np.argsort(dist, kind="stable")[:count]]


def interpret(
    analysis: Analysis,
    features: pd.DataFrame,
    cleaned: pd.DataFrame,
    fit_mask: np.ndarray,
    config: Config,
) -> None:
    """Fill personas, KPIs, drivers, LIME examples, rules and recommendations, in place.

    Per segment (`analysis.summary.segments[j]`): persona, kpis, drivers (every surrogate
    feature, by mean |SHAP|), lime_examples (the fitted customers nearest the centroid), rule,
    recommendations (with A/B plans). Summary: `explanations`. Customers: `persona`,
    `driver_1`..`driver_3` (the top SHAP drivers of each customer's own segment, as
    "<feature> <high|average|low> (<value>)").

    `analysis.arrays` (saved as arrays.npz) gets, for the SHAP charts:

    * ``shap_values``  float32 [n_sample, n_features, k]: SHAP values (probability points) of
      a stratified sample of fitted customers, one column per segment in the order of
      `summary.segments`;
    * ``shap_data``    float32 [n_sample, n_features]: the same customers' feature values in
      original units (feature names: `summary.explanations.shap_features`);
    * ``shap_segment`` int64 [n_sample]: each sampled customer's segment id;
    * ``shap_rows``    int64 [n_sample]: their row positions in `analysis.customers`;
    * ``shap_base``    float32 [k]: the surrogate's base probability per segment;
    * ``shap_importance`` float32 [k, n_features]: mean |SHAP| per segment and feature over
      the explained fitted customers (the numbers behind `segment.drivers`).
    """
    settings = config.interpretation
    seed = config.seed
    summary = analysis.summary
    customers = analysis.customers
    segments = summary.segments
    seg_ids = [int(s.id) for s in segments]
    labels = customers["segment"].to_numpy().astype(int)
    fit_mask = np.asarray(fit_mask, dtype=bool)
    fit_rows = np.flatnonzero(fit_mask)
    notes: list[str] = []

    # --- surrogate
    names = explain.surrogate_features(
        summary.model.features, settings.surrogate_features, features
    )
    X_all = explain.surrogate_matrix(names, features, cleaned)
    Xv = X_all.to_numpy(dtype=float)
    surrogate = explain.fit_surrogate(X_all.iloc[fit_rows], labels[fit_rows], settings, seed)

    # --- SHAP: exact for every customer unless the file is very large
    n = len(Xv)
    exact_all = n <= settings.exact_shap_max_rows
    if exact_all:
        values_all, base = explain.shap_tensor(surrogate, Xv, seg_ids)
        explained = fit_rows
        values_explained = values_all[fit_rows]
    else:
        values_all, _ = explain.shap_tensor(surrogate, Xv, seg_ids, approximate=True)
        explained = chart_sample(labels, fit_rows, settings.shap_sample, seed)
        values_explained, base = explain.shap_tensor(surrogate, Xv[explained], seg_ids)
        notes.append(
            f"{n:,} customers: exact SHAP values for a stratified sample of "
            f"{len(explained):,}; the per-customer drivers in segments.csv use the fast "
            "path-attribution approximation (interpretation.exact_shap_max_rows)."
        )
    X_explained = Xv[explained]
    importance = np.abs(values_explained).mean(axis=0).T  # [k, features]

    pop_mean = Xv[fit_rows].mean(axis=0)
    pop_std = Xv[fit_rows].std(axis=0)
    column = {s: i for i, s in enumerate(seg_ids)}
    own_cols = np.array([column[int(s)] for s in labels])
    drivers = explain.customer_drivers(values_all, Xv, own_cols, names, pop_mean, pop_std)
    for i in range(3):
        customers[f"driver_{i + 1}"] = [d[i] if len(d) > i else "" for d in drivers]

    # chart arrays: a stratified sample of the explained customers
    if exact_all:
        sample = chart_sample(labels, fit_rows, settings.shap_sample, seed)
        pos = np.searchsorted(fit_rows, sample)
        sample_values = values_explained[pos]
    else:
        sample, sample_values = explained, values_explained
    analysis.arrays.update(
        shap_values=sample_values.astype(np.float32),
        shap_data=Xv[sample].astype(np.float32),
        shap_segment=labels[sample].astype(np.int64),
        shap_rows=sample.astype(np.int64),
        shap_base=np.asarray(base, dtype=np.float32),
        shap_importance=importance.astype(np.float32),
    )

    # --- LIME on the most representative customers, and its agreement with SHAP
    X_train = Xv[fit_rows][surrogate.train_rows]
    ids = customers["customer_id"].astype(str).to_numpy()
    lime_by_segment = {}
    agreements = []
    for s in seg_ids:
        rows = representatives(customers, fit_mask, s, settings.lime_examples)
        shap_rows = (
            values_all[rows] if exact_all else explain.shap_tensor(surrogate, Xv[rows], seg_ids)[0]
        )
        examples = explain.lime_examples(
            surrogate,
            X_train,
            Xv[rows],
            [ids[r] for r in rows],
            [s] * len(rows),
            shap_rows,
            seg_ids,
            settings,
            seed,
        )
        lime_by_segment[s] = examples
        agreements += [e.agreement_with_shap for e in examples if e.agreement_with_shap is not None]

    # --- KPIs, personas, rules, recommendations
    recency_days = config.kpis.retention_recency_days
    kpis = segment_kpis(features, labels, seg_ids, recency_days)
    population = population_kpis(features, recency_days)
    if "Complain" not in features:
        notes.append("The file has no Complain column: complaint rates are reported as 0.")
    overall = dict(summary.overall)
    std = {c: float(v) for c, v in features.loc[fit_mask].std().items()}
    drafts = [
        draft_persona(s.id, s.profile, overall, std, kpis[s.id], population, recency_days)
        for s in segments
    ]
    unknown = [k for k in config.personas.names if not k.strip().isdigit() or int(k) not in column]
    if unknown:
        notes.append(
            f"personas.names: no segment {', '.join(unknown)} in this run (k = {len(seg_ids)})."
        )
    personas = build_personas(drafts, kpis, config.personas.names)
    rules = config.recommendations.rules or default_rules()
    X_fit = X_all.iloc[fit_rows].reset_index(drop=True)
    fit_labels = labels[fit_rows]
    for j, seg in enumerate(segments):
        seg.kpis = kpis[seg.id]
        seg.persona = personas[seg.id]
        seg.drivers = explain.segment_drivers(values_explained, X_explained, names, j)
        seg.lime_examples = lime_by_segment[seg.id]
        seg.rule = explain.segment_rule(
            X_fit,
            fit_labels == seg.id,
            settings.rule_max_depth,
            settings.rule_max_clauses,
            seed,
        )
        seg.recommendations = recommend(seg, seg.kpis, rules, config.recommendations)
    customers["persona"] = [personas[int(s)].name for s in labels]

    clustering = [f for f in summary.model.features if f in names]
    summary.explanations = Explanations(
        surrogate=surrogate.info,
        lime_shap_agreement=round(float(np.mean(agreements)), 4) if agreements else None,
        shap_features=names,
        notes=[
            "The surrogate explains the K-Means segments with business features in their own "
            f"units. Segments were formed on {', '.join(clustering)}; the others "
            f"({', '.join(f for f in names if f not in clustering) or 'none'}) are context "
            "that can share credit with the clustering features they correlate with.",
            "SHAP values are in probability points of the surrogate's segment probabilities "
            "(exact TreeSHAP, tree-path-dependent).",
            f"LIME/SHAP agreement: share of the top {settings.agreement_top} features (by "
            "absolute weight) that LIME and SHAP have in common for the same customer and "
            "segment, averaged over the explained customers. Disagreement is information: "
            "LIME fits a local linear model on quartile bins, SHAP attributes the trees exactly.",
            "Rules: precision and recall of the rounded rule on the fitted customers.",
            *notes,
        ],
        shap={
            "explainer": "shap.TreeExplainer (tree_path_dependent)",
            "output": "probability",
            "rows_explained": int(len(explained)),
            "customer_drivers": "exact" if exact_all else "approximate (Saabas)",
            "chart_sample": int(len(sample)),
        },
        lime={
            "examples_per_segment": settings.lime_examples,
            "selection": "fitted customers nearest the segment centroid",
            "num_samples": settings.lime_num_samples,
            "discretizer": "quartile",
            "agreement_top": settings.agreement_top,
            "agreement_per_segment": {
                str(s): round(
                    float(np.mean([e.agreement_with_shap for e in lime_by_segment[s]])), 4
                )
                for s in seg_ids
                if lime_by_segment[s]
            },
        },
        rules={
            "max_depth": settings.rule_max_depth,
            "max_clauses": settings.rule_max_clauses,
            "evaluated_on": "fitted customers",
        },
    )
