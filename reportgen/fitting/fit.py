"""FIT: everything that learns, on the bounded fit sample drawn by the scan.

Cleaning statistics (medians, modes, IQR fences), the scaler, the choice of k, K-Means,
stability, the alternative algorithms and the chart projections all see the sample only —
the whole table when it is no larger than `sampling.fit_rows`, so small files give exactly
the results of fitting on everything. Quadratic steps see nested, seeded subsets of it
(silhouette, alternatives, charts); every size is recorded in `Fitted.sample_sizes`.

Scored with last month's model (`parts`), nothing is refitted: the model's cleaning,
scaling and centroids are used, and k is still scored so the report can say what a refit
would choose.
"""

from __future__ import annotations

import functools
import mmap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import InputError
from ..input.scan import Scan
from ..parallel import Pending, Worker, in_child, in_two_lanes
from ..result import PropensityInfo
from ..scoring.clean import (
    CleaningRules,
    OutlierBounds,
    apply_cleaning,
    exclusion_reasons,
    fit_cleaning,
    fit_outliers,
)
from ..scoring.features import (
    DEFAULT_CLUSTERING_FEATURES,
    DesignSpec,
    design_matrix,
    engineer,
    fit_design,
    reference_date,
)
from ..scoring.model import ModelParts, build_model, require_columns
from ..scoring.propensity import PropensityModel
from ..scoring.score import score
from .identity import Match, PreviousRun, identity_match, relabel
from .propensity import NAMES, check_stored, fit_propensity
from .segment import (
    KChoice,
    _metrics,
    alternative_clusterings,
    alternatives,
    choose_k,
    distances,
    fit_final,
    pca_2d,
    score_ks,
    silhouettes,
    stability,
    tsne_2d,
)


@dataclass
class Checks:
    """What only reports on the fitted model: stability, the alternatives, the final metrics
    and the chart data (computed beside the scoring, see `fit`)."""

    alternatives: list[dict]
    metrics: dict[str, float]
    chart: pd.DataFrame
    pca_variance: list[float]
    tsne_note: str
    timings: dict[str, float]
    stability: list[float] = field(default_factory=list)


@dataclass
class Fitted:
    """What the fit learned, plus the sample-level tables the explanations and charts use."""

    rules: CleaningRules
    bounds: OutlierBounds
    reference: pd.Timestamp
    spec: DesignSpec
    chosen: list[str]
    centroids: np.ndarray
    seg_ids: np.ndarray
    k: int
    forced: bool
    choice: KChoice
    scores: list
    match: Match | None
    driver_stats: dict[str, list[float]]
    #: the sample's rows: cleaned, business features, and which of them were fitted
    cleaned: pd.DataFrame
    features: pd.DataFrame
    fit_mask: np.ndarray
    #: customer_id, segment, distance_to_centroid of every sample row (set once scored)
    sample_view: pd.DataFrame | None = None
    sample_sizes: dict[str, int] = field(default_factory=dict)
    #: the checks, in two more processes: the alternatives; the chart projections and the
    #: stability resamples (collected by `finish`)
    pending: list[Pending] = field(default_factory=list)
    checks: Checks | None = None
    #: "response" (and "churn") propensity models, and how well each predicts
    propensity: dict[str, PropensityModel] = field(default_factory=dict)
    propensity_info: dict[str, PropensityInfo] = field(default_factory=dict)
    #: customers K-Means was fitted on when it ran on every row (`[engine] fit = "all"`)
    fit_all_rows: int | None = None
    #: the column the fit sample was stratified by (`[sampling] strata`), when it was a sample
    strata: str | None = None

    def cancel(self) -> None:
        """Stop the checks (the run failed before they were collected)."""
        for pending in self.pending:
            pending.cancel()
        self.pending = []

    def finish(self) -> Checks:
        """The checks from the other two processes."""
        alternatives, projections = (p.result() for p in self.pending)
        stab = projections["stability"]
        checks = Checks(
            alternatives=alternatives["alternatives"],
            metrics=alternatives["metrics"],
            chart=projections["chart"],
            pca_variance=projections["variance"],
            tsne_note=projections["tsne_note"],
            timings={**alternatives["timings"], **projections["timings"]},
        )
        checks.stability = stab
        checks.metrics = {
            **checks.metrics,
            "stability_ari": float(np.mean(stab)),
            "stability_ari_min": float(np.min(stab)),
        }
        self.pending, self.checks = [], checks
        return checks

    @property
    def parts(self) -> ModelParts:
        return ModelParts(
            rules=self.rules,
            bounds=self.bounds,
            spec=self.spec,
            reference_date=self.reference,
            centroids=np.asarray(self.centroids, dtype=float),
            ids=np.asarray(self.seg_ids, dtype=int),
            names={},
            driver_mean=self.driver_stats["mean"],
            driver_std=self.driver_stats["std"],
            background=np.asarray(self.driver_stats["background"], dtype=float),
            propensity=dict(self.propensity),
        )

    def model_json(
        self, names: dict[int, str], tool_version: str, actions: dict[int, str] | None = None
    ) -> dict[str, Any]:
        return build_model(
            self.rules,
            self.bounds,
            self.spec,
            self.reference,
            self.centroids,
            names,
            tool_version,
            segment_ids=self.seg_ids.tolist(),
            driver_stats=self.driver_stats,
            propensity=self.propensity,
            segment_actions=actions,
        )

    @property
    def tsne_rows(self) -> int:
        """Customers the t-SNE map shows (a sample of the chart sample)."""
        return int(self.checks.chart["tsne_1"].notna().sum())

    def sample_notes(self, rows: int) -> dict[str, str]:
        """In words, for the methodology page: which figures come from which sample."""
        s = self.sample_sizes
        drawn = self.tsne_rows
        notes = {"tsne": self.checks.tsne_note}
        if drawn and s["charts"] < rows:  # t-SNE drew part of the chart sample: say of what
            notes["tsne"] = (
                f"t-SNE map drawn for a random sample of {drawn:,} of {rows:,} customers"
            )
        stratified = (
            f", stratified by {self.strata} (each of its values keeps its share of the table)"
            if self.strata and s["fit"] < rows
            else ""
        )
        if self.fit_all_rows is not None:
            notes["fit"] = (
                f"K-Means was fitted with Spark MLlib (k-means||) on all {self.fit_all_rows:,} "
                f"customers inside the outlier limits. The cleaning statistics, scaling, k, "
                "stability and explanations come from "
                + (
                    f"a random sample of {s['fit']:,} of the {rows:,} customers{stratified}"
                    if s["fit"] < rows
                    else f"all {rows:,} customers"
                )
                + "; sizes, shares, profiles and KPIs count every customer."
            )
        elif s["fit"] < rows:
            notes["fit"] = (
                f"The model (cleaning statistics, scaling, k, K-Means, stability, explanations) "
                f"was fitted on a random sample of {s['fit']:,} of the {rows:,} customers"
                f"{stratified}; every customer was then scored with it, and sizes, shares, "
                "profiles and KPIs count every customer."
            )
        if s.get("k_scan", s["fitted"]) < s["fitted"] and self.fit_all_rows is None:
            notes["k_scan"] = (
                f"The number of segments was chosen on a random sample of {s['k_scan']:,} of "
                f"the {s['fitted']:,} fitted customers; the final K-Means used all of them."
            )
        if s["silhouette"] < s["fitted"]:
            notes["silhouette"] = (
                f"Silhouette scores on a random sample of {s['silhouette']:,} of the "
                f"{s['fitted']:,} fitted customers."
            )
        if s["stability"] < s["fitted"]:
            notes["stability"] = (
                f"Stability: K-Means refitted on {s['stability_resamples']} random "
                f"{s['stability_resample']:,}-customer resamples of {s['stability']:,} fitted "
                "customers, compared on those customers."
            )
        if s["alternatives"] < s["fitted"]:
            notes["alternatives"] = (
                f"The other algorithms (and K-Means' row beside them) were compared on a random "
                f"sample of {s['alternatives']:,} fitted customers."
            )
        if s["charts"] < rows:
            notes["charts"] = (
                f"Maps, box plots and the per-customer silhouette chart show a random sample of "
                f"{s['charts']:,} of the {rows:,} customers."
            )
        return notes


def _nested(order: np.ndarray, size: int) -> np.ndarray | None:
    """The first `size` rows of the seeded `order` (a permutation), sorted — or None when there
    are no more rows than that (use them all). A smaller size picks a subset of a larger one."""
    return None if len(order) <= size else np.sort(order[:size])


def _cleaning(table: Scan, config: Config, parts: ModelParts | None):
    sample = table.sample
    if parts is not None:
        cleaned, _ = apply_cleaning(sample, parts.rules)
        features = engineer(cleaned, parts.reference_date)
        return parts.rules, parts.bounds, parts.reference_date, cleaned, features
    rules = fit_cleaning(sample, config.cleaning)
    cleaned, _ = apply_cleaning(sample, rules)
    configured = config.features.reference_date
    ref = reference_date(cleaned, configured)
    if not configured and table.latest_enrolled is not None:
        ref = table.latest_enrolled  # the latest enrollment date in the whole table
    features = engineer(cleaned, ref)
    missing = [c for c in config.cleaning.outlier_columns if c not in features]
    if missing:
        raise InputError(
            f"cleaning.outlier_columns: unknown column(s) {', '.join(missing)} — choose "
            f"from {', '.join(features.columns)}"
        )
    bounds = fit_outliers(features, config.cleaning.outlier_columns, config.cleaning.iqr_factor)
    return rules, bounds, ref, cleaned, features


def _design(config: Config, parts, features, cleaned, fit_mask, previous):
    if parts is not None:
        spec = parts.spec
        require_columns(spec, features, cleaned, f"model of {previous.period}")
        chosen = spec.numeric + list(spec.categories)
        wanted = config.features.clustering or DEFAULT_CLUSTERING_FEATURES
        if sorted(wanted) != sorted(chosen) or config.cleaning.scaling != spec.scaling:
            raise InputError(
                f"features.clustering / cleaning.scaling differ from the model of "
                f"{previous.period} ({', '.join(chosen)}; {spec.scaling}) — add --refit to "
                "fit anew with the new settings"
            )
        return spec, chosen
    chosen = config.features.clustering or DEFAULT_CLUSTERING_FEATURES
    spec = fit_design(
        features,
        cleaned,
        chosen,
        config.cleaning.scaling,
        config.features.category_weight,
        fit_mask,
    )
    return spec, chosen


def _k(config: Config, X: np.ndarray, sil_rows, parts, previous):
    cc = config.clustering
    ks = list(range(cc.k_min, min(cc.k_max, len(X) - 1) + 1))
    D = distances(X if sil_rows is None else X[sil_rows])  # once, shared by every lane
    # two lanes take the next k as they finish one, the largest (slowest) first
    scores = in_two_lanes(
        lambda taken: score_ks(X, taken, config.seed, cc.n_init, sil_rows, D),
        sorted(ks, reverse=True),
    )
    scores.sort(key=lambda s: s.k)
    choice = choose_k(scores)
    forced = cc.k is not None
    k = cc.k if forced else choice.k
    if parts is not None:
        if forced and cc.k != len(parts.ids):
            raise InputError(
                f"clustering.k = {cc.k} differs from the {len(parts.ids)} segments of "
                f"{previous.period}'s model — add --refit to fit anew with k = {cc.k}"
            )
        k = len(parts.ids)
    if k > len(X) - 1:
        raise InputError(f"clustering.k = {k} is larger than the customers allow ({len(X)})")
    return scores, choice, forced, k, D


#: K-Means on every row of the table (the Spark engine's MLlib fit, `[engine] fit = "all"`):
#: (a model with the cleaning, scaling and reference date, k) -> (centroids, sizes)
FitAll = Callable[[ModelParts, int], tuple[np.ndarray, np.ndarray]]


def fit(
    table: Scan,
    config: Config,
    stages,
    parts: ModelParts | None,
    previous: PreviousRun | None,
    fit_all: FitAll | None = None,
) -> Fitted:
    """Everything that learns, on `table.sample`; see the module docstring. With `fit_all`
    the final K-Means runs on every row instead (k is still chosen on the sample)."""
    cc, sampling, seed = config.clustering, config.sampling, config.seed
    with stages.stage("clean", "Cleaning the data"):
        rules, bounds, ref, cleaned, features = _cleaning(table, config, parts)
        fit_mask = exclusion_reasons(features, bounds)[0] == ""
    with stages.stage("features", "Building the clustering features"):
        spec, chosen = _design(config, parts, features, cleaned, fit_mask, previous)
        X_all = design_matrix(spec, features, cleaned)
        X = X_all[fit_mask]
        if len(X) < cc.k_min + 2:
            raise InputError(
                f"{table.info.path}: only {len(X)} customers left after cleaning — "
                "segmentation needs more rows"
            )
        order = np.random.default_rng(seed).permutation(len(X_all))
        # the fitted rows (indices into X) in the same order, so every subset is nested
        fit_order = np.argsort(np.argsort(order)[fit_mask], kind="stable")
        sil_rows = _nested(fit_order, sampling.silhouette_rows)
        # the k scan's rows contain the silhouette's (nested subsets of one order)
        scan_rows = _nested(fit_order, max(sampling.k_scan_rows, sampling.silhouette_rows))
        alt_rows = _nested(fit_order, sampling.alternatives_rows)
        stab_rows = _nested(fit_order, sampling.stability_rows)
        chart_rows = _nested(order, sampling.chart_rows)
    with stages.stage("k_selection", f"Scoring k = {cc.k_min}..{cc.k_max}"):
        if scan_rows is None:
            scores, choice, forced, k, D = _k(config, X, sil_rows, parts, previous)
        else:
            scan_sil = None if sil_rows is None else np.searchsorted(scan_rows, sil_rows)
            # the same silhouette rows, so their distances D serve the later checks too
            scores, choice, forced, k, D = _k(config, X[scan_rows], scan_sil, parts, previous)
    where = " with Spark MLlib on every row" if fit_all is not None and parts is None else ""
    fit_all_rows = None
    # the alternatives start now, on the other core: the final K-Means is fitted meanwhile
    alt_lane = _AlternativesLane(X, k, config, sil_rows, alt_rows, D)
    try:
        with stages.stage("kmeans", f"Fitting K-Means with k = {k}{where}"):
            match: Match | None = None
            threshold = config.history.match_threshold
            if parts is not None:
                centroids, seg_ids = parts.centroids, parts.ids
                match = identity_match(seg_ids.tolist(), previous, threshold)
            else:
                if fit_all is not None:
                    blank = ModelParts(
                        rules, bounds, spec, ref, np.zeros((k, X.shape[1])), np.arange(k), {}
                    )
                    centroids, sizes = fit_all(blank, k)
                    order = sorted(range(k), key=lambda j: (-sizes[j], tuple(centroids[j])))
                    centroids, fit_all_rows = centroids[order], int(np.sum(sizes))
                else:
                    centroids, _ = fit_final(X, k, seed, cc.n_init)
                seg_ids = np.arange(k)
                if previous is not None:
                    centroids, seg_ids, match = relabel(centroids, spec, X, previous, threshold)
            numeric = features.loc[fit_mask, spec.numeric]
            driver_stats = {
                "mean": numeric.mean().tolist(),
                "std": numeric.std(ddof=0).fillna(0.0).tolist(),
                "background": X.mean(axis=0).tolist(),
            }
            fitted = Fitted(
                rules,
                bounds,
                ref,
                spec,
                chosen,
                np.asarray(centroids),
                np.asarray(seg_ids),
                k,
                forced,
                choice,
                scores,
                match,
                driver_stats,
                cleaned,
                features,
                fit_mask,
            )
            fitted.fit_all_rows = fit_all_rows
            fitted.strata = sampling.strata
            scored = score(fitted.parts, table.sample, table.info.path).customers
            fit_labels = scored["segment"].to_numpy()[fit_mask]
            fitted.sample_view = scored[
                ["customer_id", "segment", "distance_to_centroid", "data_issue"]
            ]
    except BaseException:
        alt_lane.cancel()
        raise
    # the alternatives, and the chart projections with the stability resamples, only report
    # on the model: they run in two more processes while this one fits the propensity,
    # scores every customer and explains the segments (Fitted.finish collects them); the
    # three lanes take about as long as each other at 100,000 customers
    sx, sl = (X, fit_labels) if stab_rows is None else (X[stab_rows], fit_labels[stab_rows])
    stab = functools.partial(
        stability,
        sx,
        sl,
        k,
        seed,
        cc.n_init,
        cc.stability_resamples,
        cc.stability_fraction,
    )
    fitted.pending = [alt_lane.submit(fit_labels)]
    fitted.pending.append(
        in_child(
            _projections, fitted, X_all, X, fit_labels, scored, sil_rows, chart_rows, seed, D, stab
        )
    )
    del D  # the children hold their copies
    n_fit = len(X)
    fitted.sample_sizes = {
        "fit": len(X_all),
        "fitted": n_fit,
        "k_scan": n_fit if scan_rows is None else len(scan_rows),
        "silhouette": n_fit if sil_rows is None else len(sil_rows),
        "stability": len(sx),
        "stability_resample": max(k + 1, int(cc.stability_fraction * len(sx))),
        "stability_resamples": cc.stability_resamples,
        "alternatives": n_fit if alt_rows is None else len(alt_rows),
        "charts": len(X_all) if chart_rows is None else len(chart_rows),
    }
    if config.propensity.enabled:  # here, while the checks run in the other processes
        try:
            with stages.stage("propensity", "Fitting who is likely to respond"):
                _propensity(fitted, scored, config, parts, previous)
        except BaseException:
            fitted.cancel()
            raise
    return fitted


def _propensity(fitted: Fitted, scored, config: Config, parts, previous) -> None:
    """The response (and churn) models on the sample's customers without a data issue; a
    stored model of last period is checked, not refitted."""
    keep = (scored["data_issue"] == "").to_numpy()
    features, cleaned = fitted.features[keep], fitted.cleaned[keep]
    segments = scored["segment"].to_numpy()[keep]
    stored = parts.propensity if parts is not None else {}
    for outcome, name in NAMES.items():
        if name in stored:
            model = stored[name]
            info = check_stored(model, features, cleaned, segments, previous.period)
        else:
            model, info = fit_propensity(
                outcome, features, cleaned, segments, config.propensity, config.seed
            )
        fitted.propensity_info[name] = info
        if model is not None:
            fitted.propensity[name] = model


def _alternatives(X, fit_labels, k, config, sil_rows, alt_rows, D, early: dict) -> dict[str, Any]:
    """The other algorithms and K-Means' final metrics, with their timing; `early`: what
    `_AlternativesLane` clustered before K-Means' labels were known (empty without fork)."""
    cc, seed = config.clustering, config.seed
    start = time.perf_counter()
    k_range = range(cc.k_min, cc.k_max + 1)
    ax, al = (X, fit_labels) if alt_rows is None else (X[alt_rows], fit_labels[alt_rows])
    alts = alternatives(ax, al, k, k_range, seed, cc.alternatives, early.get("found"))
    metrics = _metrics(X, fit_labels, sil_rows, D)
    took = round(time.perf_counter() - start + early.get("took", 0.0), 3)
    return {"alternatives": alts, "metrics": metrics, "timings": {"alternatives": took}}


class _AlternativesLane:
    """The alternatives' process, forked as soon as k is known: it fits the other algorithms
    (most of its work: they need k, not K-Means' labels) while this process fits the final
    K-Means, then compares them with the labels given to `submit(fit_labels)`.

    The labels go through memory shared with the child (written before the job is sent), not
    through the task pipe: the child reads that pipe only once its clusterings are done, and
    a write larger than the pipe would hold this process until then."""

    def __init__(self, X, k, config, sil_rows, alt_rows, D):
        cc = config.clustering
        self.labels = np.frombuffer(mmap.mmap(-1, 8 * max(len(X), 1)), dtype=np.int64)[: len(X)]
        early: dict[str, Any] = {}

        def cluster() -> None:  # in the child, before the labels come
            start = time.perf_counter()
            ax = X if alt_rows is None else X[alt_rows]
            k_range = range(cc.k_min, cc.k_max + 1)
            early["found"] = alternative_clusterings(ax, k, k_range, config.seed, cc.alternatives)
            early["took"] = time.perf_counter() - start

        def compare():  # without fork: all of it, here, at result()
            labels = self.labels.copy()
            return _alternatives(X, labels, k, config, sil_rows, alt_rows, D, early)

        self.worker = Worker(compare, cluster)

    def submit(self, fit_labels: np.ndarray) -> Worker:
        self.labels[:] = fit_labels
        return self.worker.submit()

    def cancel(self) -> None:
        self.worker.cancel()


def _projections(
    fitted, X_all, X, fit_labels, scored, sil_rows, chart_rows, seed, D=None, stab=None
):
    """The PCA map, the t-SNE map where it adds something, the per-customer chart rows, the
    stability resamples (`stab`) and their timings."""
    start = time.perf_counter()
    scores = stab() if stab is not None else []
    took_stability = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    rows = np.arange(len(X_all)) if chart_rows is None else chart_rows
    pca, variance = pca_2d(X_all, seed, chart_rows)
    tsne, tsne_note = tsne_2d(X_all[rows], seed, sum(variance))
    chart = _chart_rows(fitted, X, fit_labels, scored, rows, pca, tsne, sil_rows, D)
    took = round(time.perf_counter() - start, 3)
    timings = {"stability": took_stability, "projection": took}
    return {
        "chart": chart,
        "variance": variance,
        "tsne_note": tsne_note,
        "timings": timings,
        "stability": scores,
    }


def _chart_rows(fitted, X, fit_labels, scored, rows, pca, tsne, sil_rows, D=None) -> pd.DataFrame:
    """Per-customer chart data for the chart sample `rows` of the fit sample."""
    sil_fit = np.full(len(X), np.nan)
    picked = np.arange(len(X)) if sil_rows is None else sil_rows
    sil_fit[picked] = silhouettes(X[picked], fit_labels[picked], D)
    sil = np.full(len(fitted.fit_mask), np.nan)
    sil[fitted.fit_mask] = sil_fit
    chart = scored.iloc[rows][
        ["customer_id", "segment", "excluded_from_fit", "exclusion_reason", "distance_to_centroid"]
    ].reset_index(drop=True)
    chart["pca_1"], chart["pca_2"] = pca[:, 0], pca[:, 1]
    chart["tsne_1"], chart["tsne_2"] = tsne[:, 0], tsne[:, 1]
    chart["silhouette"] = sil[rows]
    features = fitted.features
    for column in features.columns:
        chart[column] = features[column].to_numpy()[rows]
    return chart
