"""Interpretation: explanations, personas, KPIs and recommendations, filled into the result.

`interpret` is the orchestrator the pipeline calls after segmentation. It computes nothing
itself; the work lives in score.py (exact SHAP of K-Means), explain.py (LIME, rules),
kpis.py, personas.py and recommend.py. It writes no files and imports no rendering library.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import featuretext as ft
from ..config import Config
from ..fitting import explain
from ..parallel import in_two_lanes
from ..result import Analysis, Explanations, KpiTest
from ..scoring.aggregates import SegmentTotals
from ..scoring.features import design_matrix
from ..scoring.model import ModelParts
from ..scoring.score import driver_groups, margin_shap, nearest_two
from . import intervals as iv
from .kpis import RATES, kpis_from_totals, population_kpis, successes
from .personas import build_personas, draft_persona
from .recommend import ab_note, default_rules, pooled, rank, recommend

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


#: KPI field -> how the report names it in a test's sentence
KPI_WORDS = {
    "response_rate": "Response to the last campaign",
    "any_campaign_acceptance": "Acceptance of earlier campaigns",
    "retention_risk": "Retention risk",
    "complaint_rate": "The complaint rate",
}


def kpi_tests(totals: SegmentTotals, features: pd.DataFrame, recency_days: int):
    """Whether each rate KPI differs between segments (χ², every customer); for retention
    risk also whether days since the last purchase are just spread evenly (Kolmogorov-Smirnov
    on the fit sample). A KPI whose segments do not differ at the 5 % level has no signal."""
    out = {}
    for kpi in RATES:
        hits = successes(totals, kpi)
        if hits is None or hits.sum() == 0:
            continue
        p = iv.homogeneity(hits, totals.count)
        signal = p < 0.05
        words = KPI_WORDS[kpi]
        extra, measure_p = "", None
        if kpi == "retention_risk" and "Recency" in features:
            measure_p = iv.uniform_test(features["Recency"].to_numpy())
            extra = "Days since the last purchase are uniform (Kolmogorov-Smirnov)"
        if signal:
            text = f"{words} differs between segments (χ² test, {_p(p)})."
        else:
            text = f"{words} does not differ between segments (χ² test, {_p(p)})"
            if measure_p is not None and measure_p >= 0.05:
                text += (
                    ", and days since the last purchase are spread evenly "
                    f"(Kolmogorov-Smirnov test against uniform, {_p(measure_p)})"
                )
            text += ": no signal in this data."
        same = []
        for i in range(len(totals.segment_ids)):
            for j in range(i + 1, len(totals.segment_ids)):
                pair = [i, j]
                if iv.homogeneity(hits[pair], totals.count[pair]) >= 0.05:
                    same.append([int(totals.segment_ids[i]), int(totals.segment_ids[j])])
        out[kpi] = KpiTest(
            indistinguishable=same,
            kpi=kpi,
            segments_p_value=round(p, 6),
            measure_test=extra,
            measure_p_value=None if measure_p is None else round(measure_p, 6),
            signal=signal,
            text=text,
        )
    return out


def _medians(kpis, everyone, sample: pd.DataFrame, features: pd.DataFrame) -> None:
    """Median spend and income per segment and for everyone, from the fit sample (money is
    skewed: a few big spenders pull the mean up). Rows with a data issue are left out."""
    issue = sample["data_issue"].to_numpy() if "data_issue" in sample else None
    keep = np.ones(len(sample), dtype=bool) if issue is None else (issue == "")
    labels = sample["segment"].to_numpy()
    spend = features["TotalSpend"].to_numpy(dtype=float) if "TotalSpend" in features else None
    income = features["Income"].to_numpy(dtype=float) if "Income" in features else None
    groups = [(everyone, keep), *((k, keep & (labels == s)) for s, k in kpis.items())]
    for target, rows in groups:
        if not rows.any():
            continue
        target.median_rows = int(rows.sum())
        if spend is not None:
            target.median_spend = float(np.median(spend[rows]))
        if income is not None:
            target.median_income = float(np.median(income[rows]))


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def lime_customers(labels: np.ndarray, rows: np.ndarray, segment_id: int, count: int, seed: int):
    """Up to `count` of `rows` in segment `segment_id`, drawn at random (seeded, sorted)."""
    members = rows[labels[rows] == segment_id]
    if len(members) <= count:
        return members
    rng = np.random.default_rng([seed, segment_id])
    return np.sort(rng.choice(members, size=count, replace=False))


def interpret(
    analysis: Analysis,
    sample: pd.DataFrame,
    features: pd.DataFrame,
    cleaned: pd.DataFrame,
    fit_mask: np.ndarray,
    config: Config,
    totals: SegmentTotals,
    parts: ModelParts,
) -> None:
    """Fill personas, KPIs, drivers, LIME examples, rules and recommendations, in place.

    The explanations are of the fitted model `parts` on the fit sample: `sample`
    (customer_id, segment per sample row) with its `features`, `cleaned` rows and `fit_mask`.
    KPIs come from `totals`, the merged sums over every customer of the table.

    Per segment (`analysis.summary.segments[j]`): persona, kpis, drivers (every driver group,
    by mean |SHAP| of K-Means' margin over the segment's fitted customers), lime_examples
    (fitted customers drawn at random), rule, recommendations (with A/B plans). Summary:
    `explanations`.

    `analysis.arrays` (saved as arrays.npz) gets, for the SHAP charts:

    * ``shap_values``  float32 [n_sample, groups]: exact SHAP values of each sampled fitted
      customer's margin (own segment vs runner-up), the numbers behind segments.csv's
      drivers (feature names: `summary.explanations.shap_features`);
    * ``shap_data``    float32 [n_sample, groups]: the same customers' values in original
      units (a category column as its position in the model's category list);
    * ``shap_segment`` int64 [n_sample]: each sampled customer's segment id;
    * ``shap_rows``    int64 [n_sample]: their row positions in the fit sample;
    * ``shap_importance`` float32 [k, groups]: mean |SHAP| per segment and group over all
      fitted customers of the sample (the numbers behind `segment.drivers`).
    """
    settings = config.interpretation
    seed = config.seed
    summary = analysis.summary
    segments = summary.segments
    seg_ids = [int(s.id) for s in segments]
    labels = sample["segment"].to_numpy().astype(int)
    fit_mask = np.asarray(fit_mask, dtype=bool)
    fit_rows = np.flatnonzero(fit_mask)
    notes: list[str] = []

    # --- SHAP: exact, of K-Means' own margin, for every fitted customer of the sample
    groups = driver_groups(parts)
    n_num = len(parts.spec.numeric)
    fit_features, fit_cleaned = features.iloc[fit_rows], cleaned.iloc[fit_rows]
    X = design_matrix(parts.spec, fit_features, fit_cleaned)
    own, d_own, runner_up, d_next = nearest_two(X, parts.centroids)
    values, base = margin_shap(parts, X, own, runner_up)
    margin = d_next**2 - d_own**2  # K-Means' own margin, from its distances
    exact = float(np.mean(np.isclose(base + values.sum(axis=1), margin, rtol=1e-9, atol=1e-9)))
    G = explain.group_values(parts, fit_features, fit_cleaned)
    fit_labels = labels[fit_rows]
    position = {s: i for i, s in enumerate(parts.ids.tolist())}
    importance = np.zeros((len(seg_ids), len(groups)))
    drivers = {}
    for j, s in enumerate(seg_ids):
        hit = fit_labels == s
        drivers[s] = explain.segment_drivers(values[hit], G[hit], groups, n_num)
        if hit.any():
            importance[j] = np.abs(values[hit]).mean(axis=0)

    # chart arrays: a stratified sample of the explained customers
    picked = chart_sample(labels, fit_rows, settings.shap_sample, seed)
    pos = np.searchsorted(fit_rows, picked)
    analysis.arrays.update(
        shap_values=values[pos].astype(np.float32),
        shap_data=G[pos].astype(np.float32),
        shap_segment=labels[picked].astype(np.int64),
        shap_rows=picked.astype(np.int64),
        shap_importance=importance.astype(np.float32),
    )

    # --- LIME of K-Means' soft assignment, for customers drawn at random from each segment
    soft = explain.SoftAssignment.fit(parts, X, own)
    train = G[chart_sample(fit_labels, np.arange(len(fit_rows)), 5000, seed)]
    ids = sample["customer_id"].astype(str).to_numpy()

    def explain_segments(taken) -> list[tuple[int, list]]:
        out = []
        for s in taken:
            rows = lime_customers(labels, fit_rows, s, settings.lime_examples, seed)
            at = np.searchsorted(fit_rows, rows)
            examples = explain.lime_examples(
                soft,
                train,
                G[at],
                [ids[r] for r in rows],
                np.full(len(rows), position[s]),
                values[at],
                settings,
                seed,
            )
            out.append((s, examples))
        return out

    # two lanes take the next segment as they finish one: each segment's explainer is seeded
    # on its own, so the examples are the same whichever lane explains it
    explained = dict(in_two_lanes(explain_segments, list(seg_ids)))
    lime_by_segment = {s: explained[s] for s in seg_ids}
    agreements = [
        e.agreement_with_shap
        for s in seg_ids
        for e in lime_by_segment[s]
        if e.agreement_with_shap is not None
    ]
    chance = explain.chance_overlap(settings.agreement_top, len(groups))

    # --- KPIs, personas, rules, recommendations
    recency_days = config.kpis.retention_recency_days
    kpis = kpis_from_totals(totals)
    summary.everyone = kpis_from_totals(totals.pooled())[0]
    population = population_kpis(summary.everyone)
    _medians(kpis, summary.everyone, sample, features)
    summary.kpi_tests = kpi_tests(totals, features, config.kpis.retention_recency_days)
    if "Complain" not in features:
        notes.append("The file has no Complain column: complaint rates are reported as 0.")
    overall = dict(summary.overall)
    std = {c: float(v) for c, v in features.loc[fit_mask].std().items()}
    signals = {k for k, t in summary.kpi_tests.items() if t.signal}
    drafts = [
        draft_persona(s.id, s.profile, overall, std, kpis[s.id], population, recency_days, signals)
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
    names = explain.rule_features(summary.model.features, settings.rule_features, features)
    X_fit = explain.feature_matrix(names, fit_features, fit_cleaned)
    scores = totals.scores.get("propensity")  # the expected values' source, when fitted
    slot = {int(s): i for i, s in enumerate(totals.segment_ids)}
    for seg in segments:
        seg.kpis = kpis[seg.id]
        seg.persona = personas[seg.id]
        seg.drivers = drivers[seg.id]
        seg.lime_examples = lime_by_segment[seg.id]
        seg.rule = explain.segment_rule(
            X_fit,
            fit_labels == seg.id,
            settings.rule_max_depth,
            settings.rule_max_clauses,
            seed,
        )
        at = (scores, slot[seg.id]) if scores is not None else None
        seg.recommendations = recommend(seg, seg.kpis, rules, config.recommendations, at)
    rank(segments)
    pooled(segments, config.recommendations)
    summary.ab_note = ab_note(segments, config.recommendations)

    top = settings.agreement_top
    summary.explanations = Explanations(
        method="Exact SHAP values of K-Means' own squared-distance margin between each "
        "customer's segment and the next-nearest one, against the fitted customers' mean "
        "(closed form: the margin is linear in the scaled features); one-hot groups summed.",
        fidelity=round(exact, 4),
        lime_shap_agreement=round(float(np.mean(agreements)), 4) if agreements else None,
        lime_shap_chance=round(chance, 4),
        shap_features=groups,
        notes=[
            "The drivers explain K-Means itself, not a copy of it: for each customer the SHAP "
            "values add up exactly to how much closer they are to their own segment's centre "
            "than to the next-nearest one (squared scaled distance), measured from the "
            "average fitted customer. The same numbers give segments.csv's driver columns.",
            f"LIME explains K-Means' soft assignment (an equal-weight Gaussian mixture with "
            f"K-Means' centres) for {settings.lime_examples} customers drawn at random from "
            f"each segment. Agreement: share of the top {top} features LIME and SHAP have in "
            f"common for the same customer; two random rankings of the {len(groups)} features "
            f"would share {chance:.0%}. LIME fits a local linear model on quartile bins of "
            "the probability, SHAP splits the margin exactly, so they can disagree.",
            "Rules: precision and recall of the rounded rule on the fitted customers; rules "
            "may also use "
            + (", ".join(ft.label(f).lower() for f in names if f not in groups) or "nothing else")
            + ", which K-Means never saw.",
            *notes,
        ],
        shap={
            "explainer": "closed form (linear margin), checked against shap.LinearExplainer",
            "output": "squared-distance margin, own segment vs runner-up",
            "background": "mean of the fitted customers (model.json drivers.background)",
            "rows_explained": int(len(fit_rows)),
            "customer_drivers": "the same SHAP values, top 3 positive per customer",
            "chart_sample": int(len(picked)),
        },
        lime={
            "examples_per_segment": settings.lime_examples,
            "selection": "fitted customers drawn at random from each segment (seeded)",
            "model": "K-Means soft assignment, p ∝ exp(−d² / 2σ²), pooled within-segment σ²",
            "variance": round(soft.variance, 6),
            "num_samples": settings.lime_num_samples,
            "discretizer": "quartile",
            "agreement_top": top,
            "agreement_chance": round(chance, 4),
            "agreement_per_segment": {
                str(s): round(
                    float(np.mean([e.agreement_with_shap for e in lime_by_segment[s]])), 4
                )
                for s in seg_ids
                if lime_by_segment[s]
            },
        },
        rules={
            "features": names,
            "max_depth": settings.rule_max_depth,
            "max_clauses": settings.rule_max_clauses,
            "evaluated_on": "fitted customers",
        },
    )
