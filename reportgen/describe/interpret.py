"""Interpretation: explanations, personas, KPIs and recommendations, filled into the result.

`interpret` is the orchestrator the pipeline calls after segmentation. It computes nothing
itself; the work lives in explain.py (surrogate, SHAP, LIME, rules), kpis.py, personas.py and
recommend.py. It writes no files and imports no rendering library.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..fitting import explain
from ..result import Analysis, Explanations
from ..scoring.aggregates import SegmentTotals
from .kpis import kpis_from_totals, population_kpis
from .personas import build_personas, draft_persona
from .recommend import default_rules, recommend

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
    sample: pd.DataFrame,
    features: pd.DataFrame,
    cleaned: pd.DataFrame,
    fit_mask: np.ndarray,
    config: Config,
    totals: SegmentTotals,
) -> None:
    """Fill personas, KPIs, drivers, LIME examples, rules and recommendations, in place.

    The explanations learn from the fit sample: `sample` (customer_id, segment,
    distance_to_centroid per sample row) with its `features`, `cleaned` rows and `fit_mask`.
    KPIs come from `totals`, the merged sums over every customer of the table.

    Per segment (`analysis.summary.segments[j]`): persona, kpis, drivers (every surrogate
    feature, by mean |SHAP|), lime_examples (the fitted customers nearest the centroid), rule,
    recommendations (with A/B plans). Summary: `explanations`.

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
    customers = sample
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
    # the surrogate learns from at most `surrogate_rows` fitted customers (stratified): its
    # trees, and so TreeSHAP's cost per customer, grow with the rows it sees
    surrogate_rows = chart_sample(labels, fit_rows, settings.surrogate_rows, seed)
    if len(surrogate_rows) < len(fit_rows):
        notes.append(
            f"The surrogate learned from a stratified sample of {len(surrogate_rows):,} of the "
            f"{len(fit_rows):,} fitted customers (interpretation.surrogate_rows)."
        )
    surrogate = explain.fit_surrogate(
        X_all.iloc[surrogate_rows], labels[surrogate_rows], settings, seed
    )

    # --- SHAP: exact, for every fitted customer of the sample or a stratified part of them
    n_fit = len(fit_rows)
    if n_fit <= settings.exact_shap_max_rows:
        explained = fit_rows
    else:
        explained = chart_sample(labels, fit_rows, settings.shap_sample, seed)
        notes.append(
            f"SHAP values for a stratified sample of {len(explained):,} of the {n_fit:,} "
            "fitted customers (interpretation.exact_shap_max_rows)."
        )
    values_explained, base = explain.shap_tensor(surrogate, Xv[explained], seg_ids)
    X_explained = Xv[explained]
    importance = np.abs(values_explained).mean(axis=0).T  # [k, features]

    # chart arrays: a stratified sample of the explained customers
    sample_rows = chart_sample(labels, explained, settings.shap_sample, seed)
    pos = np.searchsorted(explained, sample_rows)
    sample_values = values_explained[pos]
    analysis.arrays.update(
        shap_values=sample_values.astype(np.float32),
        shap_data=Xv[sample_rows].astype(np.float32),
        shap_segment=labels[sample_rows].astype(np.int64),
        shap_rows=sample_rows.astype(np.int64),
        shap_base=np.asarray(base, dtype=np.float32),
        shap_importance=importance.astype(np.float32),
    )

    # --- LIME on the most representative customers, and its agreement with SHAP
    X_train = Xv[surrogate_rows][surrogate.train_rows]
    ids = customers["customer_id"].astype(str).to_numpy()
    lime_by_segment = {}
    agreements = []
    for s in seg_ids:
        rows = representatives(customers, fit_mask, s, settings.lime_examples)
        shap_rows = explain.shap_tensor(surrogate, Xv[rows], seg_ids)[0]
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
    kpis = kpis_from_totals(totals)
    population = population_kpis(totals)
    if "Complain" not in features:
        notes.append("The file has no Complain column: complaint rates are reported as 0.")
    overall = dict(summary.overall)
    std = {c: float(v) for c, v in features.loc[fit_mask].std().items()}
    drafts = [
        draft_persona(s.id, s.profile, overall, std, kpis[s.id], population, recency_days)
        for s in segments
    ]
    column = {s: i for i, s in enumerate(seg_ids)}
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
            "customer_drivers": "K-Means margin: each feature's share of the squared-distance "
            "margin between the customer's segment and the next-nearest one (exact)",
            "chart_sample": int(len(sample_rows)),
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
