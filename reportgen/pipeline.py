"""The analysis: from a loaded customer table to one `Analysis` result. Writes no files."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from . import __version__, schema
from .clean import apply_cleaning, excluded_counts, fit_cleaning, fit_outliers, outlier_reasons
from .config import Config
from .errors import InputError
from .features import (
    DEFAULT_CLUSTERING_FEATURES,
    DEFAULT_FEATURES_REASON,
    design_matrix,
    engineer,
    fit_design,
    reference_date,
)
from .identity import Match, PreviousRun, carry_over, identity_match, relabel
from .load import Loaded
from .model import build_model, model_parts, require_columns
from .result import (
    Alternative,
    Analysis,
    DataQuality,
    KChoiceInfo,
    KScore,
    ModelInfo,
    RunInfo,
    Segment,
    Summary,
)
from .segment import (
    alternatives,
    choose_k,
    fit_final,
    nearest_centroid,
    pca_2d,
    score_k_range,
    silhouettes,
    stability,
    tsne_2d,
)

Progress = Callable[[str], None]

#: Libraries whose versions the appendix lists.
_VERSIONED = ["pandas", "numpy", "scikit-learn", "shap", "lime", "weasyprint", "matplotlib"]


def _versions() -> dict[str, str]:
    out = {"reportgen": __version__}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


class _Stages:
    def __init__(self, progress: Progress | None):
        self.timings: dict[str, float] = {}
        self.progress = progress or (lambda _msg: None)

    @contextmanager
    def stage(self, name: str, message: str):
        self.progress(message)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


def _categories_used(config: Config, chosen: list[str]) -> str:
    cats = [c for c in chosen if c in schema.CATEGORY_COLUMNS]
    if not cats:
        return (
            "Education and marital status are not used to form segments (after merging junk "
            "values such as 'YOLO' into 'Single'); they are reported per segment to describe it."
        )
    return (
        f"{', '.join(cats)} enter the clustering one-hot encoded, each column weighted "
        f"{config.features.category_weight} against the scaled numeric features."
    )


def _k_choice(choice, k: int, forced: bool, scored_with: PreviousRun | None) -> KChoiceInfo:
    if scored_with is not None:
        method = "previous model"
        reason = (
            f"k = {k}: customers scored with the model of {scored_with.period} (no refit, so "
            "segments keep their identity); run with --refit to fit anew"
        )
        if choice.k != k:
            reason += f" — refitted on this month's data the k choice would be {choice.k}"
    elif forced:
        method, reason = "forced", f"k = {k} set in the configuration or with --k"
    else:
        method, reason = choice.method, choice.reason
    return KChoiceInfo(
        method=method,
        elbow_k=choice.elbow_k,
        best_silhouette_k=choice.best_silhouette_k,
        forced=forced,
        reason=reason,
    )


def analyse(
    loaded: Loaded,
    config: Config,
    progress: Progress | None = None,
    period: str | None = None,
    previous: PreviousRun | None = None,
    refit: bool = False,
) -> Analysis:
    """Clean, engineer, segment and explain `loaded`; return the whole result.

    `previous` (the latest earlier run, read from history.db) keeps segment identities:
    by default this run's customers are scored with the previous run's model (its cleaning,
    scaling and centroids; no refit); with `refit=True` K-Means is fitted anew and its
    segments matched to the previous ones (identity.py). `summary.changes` then compares
    the two runs. Without `previous` segments are numbered by size.
    """
    stages = _Stages(progress)
    # --- monthly operations: score with last month's model unless asked to refit
    scored = previous is not None and not refit
    parts = model_parts(previous.model, f"model of {previous.period}") if scored else None
    seed = config.seed
    frame = loaded.frame
    started = datetime.now(UTC).replace(microsecond=0).isoformat()

    with stages.stage("clean", "Cleaning the data"):
        if parts is not None:
            rules, bounds, ref = parts.rules, parts.bounds, parts.reference_date
            cleaned, report = apply_cleaning(frame, rules)
            features = engineer(cleaned, ref)
            require_columns(parts.spec, features, cleaned, f"model of {previous.period}")
        else:
            rules = fit_cleaning(frame, config.cleaning)
            cleaned, report = apply_cleaning(frame, rules)
            ref = reference_date(cleaned, config.features.reference_date)
            features = engineer(cleaned, ref)
            missing = [c for c in config.cleaning.outlier_columns if c not in features]
            if missing:
                raise InputError(
                    f"cleaning.outlier_columns: unknown column(s) {', '.join(missing)} — choose "
                    f"from {', '.join(features.columns)}"
                )
            bounds = fit_outliers(
                features, config.cleaning.outlier_columns, config.cleaning.iqr_factor
            )
        reasons = outlier_reasons(features, bounds)
        fit_mask = (reasons == "").to_numpy()

    with stages.stage("features", "Building the clustering features"):
        if parts is not None:
            spec = parts.spec
            chosen = spec.numeric + list(spec.categories)
            wanted = config.features.clustering or DEFAULT_CLUSTERING_FEATURES
            if sorted(wanted) != sorted(chosen) or config.cleaning.scaling != spec.scaling:
                raise InputError(
                    f"features.clustering / cleaning.scaling differ from the model of "
                    f"{previous.period} ({', '.join(chosen)}; {spec.scaling}) — add --refit to "
                    "fit anew with the new settings"
                )
        else:
            chosen = config.features.clustering or DEFAULT_CLUSTERING_FEATURES
            spec = fit_design(
                features,
                cleaned,
                chosen,
                config.cleaning.scaling,
                config.features.category_weight,
                fit_mask,
            )
        X_all = design_matrix(spec, features, cleaned)
        X = X_all[fit_mask]
        cc = config.clustering
        if len(X) < cc.k_min + 2:
            raise InputError(
                f"{loaded.info.path}: only {len(X)} customers left after cleaning — "
                "segmentation needs more rows"
            )

    with stages.stage("k_selection", f"Scoring k = {cc.k_min}..{cc.k_max}"):
        scores = score_k_range(X, cc.k_min, cc.k_max, seed, cc.n_init)
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

    with stages.stage("kmeans", f"Fitting K-Means with k = {k}"):
        match: Match | None = None
        threshold = config.history.match_threshold
        if parts is not None:
            centroids, seg_ids = parts.centroids, parts.ids
            match = identity_match(seg_ids.tolist(), previous, threshold)
        else:
            centroids, _ = fit_final(X, k, seed, cc.n_init)
            seg_ids = np.arange(k)
            if previous is not None:
                centroids, seg_ids, match = relabel(centroids, spec, X, previous, threshold)
        position, distance = nearest_centroid(X_all, centroids)
        labels = seg_ids[position]
        fit_labels = labels[fit_mask]

    with stages.stage("stability", "Checking stability"):
        stab = stability(
            X, fit_labels, k, seed, cc.n_init, cc.stability_resamples, cc.stability_fraction
        )

    with stages.stage("alternatives", "Comparing other algorithms"):
        k_range = range(cc.k_min, cc.k_max + 1)
        alts = alternatives(X, fit_labels, k, k_range, seed, cc.alternatives)

    with stages.stage("projection", "Projecting for charts (PCA, t-SNE)"):
        pca, pca_var = pca_2d(X_all, seed)
        tsne, tsne_note = tsne_2d(X_all, seed)
        sil = np.full(len(X_all), np.nan)
        sil[fit_mask] = silhouettes(X, fit_labels)

    km_row = alts[0]  # the K-Means row of the comparison holds the final labels' metrics
    metrics = {
        "silhouette": km_row["silhouette"],
        "calinski_harabasz": km_row["calinski_harabasz"],
        "davies_bouldin": km_row["davies_bouldin"],
        "stability_ari": float(np.mean(stab)),
        "stability_ari_min": float(np.min(stab)),
    }

    n = len(frame)
    ids = frame[schema.ID].astype(str).to_numpy()
    # Profiles, KPIs and sizes all describe the same people: every customer in the segment,
    # including those left out of fitting, so no page shows two averages for one measure.
    overall_mean = features.mean()
    segments = []
    for j in seg_ids.tolist():
        members = labels == j
        if not members.any():  # only when scoring with last month's model: listed as vanished
            continue
        profile = features.loc[members].mean()
        relative = profile / overall_mean.replace(0, np.nan)
        cats = {
            c: cleaned.loc[members, c].value_counts(normalize=True).round(4).to_dict()
            for c in schema.CATEGORY_COLUMNS
            if c in cleaned
        }
        segments.append(
            Segment(
                id=j,
                size=int(members.sum()),
                share=float(members.sum() / n),
                profile={c: round(float(v), 4) for c, v in profile.items()},
                relative={c: round(float(v), 4) for c, v in relative.fillna(1.0).items()},
                categories={c: {str(a): float(b) for a, b in d.items()} for c, d in cats.items()},
            )
        )

    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": labels,
            "excluded_from_fit": ~fit_mask,
            "exclusion_reason": reasons.to_numpy(),
            "distance_to_centroid": np.round(distance, 6),
        }
    )
    customers["pca_1"], customers["pca_2"] = pca[:, 0], pca[:, 1]
    customers["tsne_1"], customers["tsne_2"] = tsne[:, 0], tsne[:, 1]
    customers["silhouette"] = sil
    for column in features.columns:
        customers[column] = features[column].to_numpy()

    info = loaded.info
    summary = Summary(
        run=RunInfo(
            tool_version=__version__,
            input_path=str(info.path),
            input_sha256=info.sha256,
            input_format=info.format,
            config=config.to_dict(),
            seed=seed,
            rows={
                "rows_in": n,
                "rows_used_for_fit": int(fit_mask.sum()),
                "rows_excluded": int((~fit_mask).sum()),
            },
            period=period,
            started_at=started,
            versions=_versions(),
        ),
        data_quality=DataQuality(
            rows_in=n,
            rows_used_for_fit=int(fit_mask.sum()),
            imputed=report.imputed,
            excluded=excluded_counts(reasons),
            categories_merged=report.categories_merged,
            dropped_columns=report.dropped_columns,
            date_format=info.date_format,
            columns_matched=info.columns_matched,
            extra_columns=info.extra_columns,
            missing=info.missing,
            outlier_bounds={c: list(b) for c, b in bounds.bounds.items()},
            reference_date=ref.strftime("%Y-%m-%d"),
        ),
        model=ModelInfo(
            k=k,
            features=spec.columns,
            features_reason=DEFAULT_FEATURES_REASON
            if config.features.clustering is None
            else "Chosen in the configuration (features.clustering).",
            categories_used=_categories_used(config, chosen),
            scaling=spec.scaling,
            k_choice=_k_choice(choice, k, forced, previous if parts is not None else None),
            k_selection=[KScore(**vars(s)) for s in scores],
            metrics=metrics,
            stability_scores=stab,
            alternatives=[Alternative(**a) for a in alts],
            pca_explained_variance=pca_var,
            samples={"tsne": tsne_note},
        ),
        segments=segments,
        overall={c: round(float(v), 4) for c, v in overall_mean.items()},
    )
    analysis = Analysis(summary=summary, customers=customers)

    with stages.stage("interpret", "Explaining the segments"):
        from .interpret import interpret

        interpret(analysis, features, cleaned, fit_mask, config)

    # --- monthly operations: previous names for matched segments, month-over-month changes
    if previous is not None and match is not None:
        from .changes import compare

        if scored:  # a segment of the model nobody falls into this month has vanished
            match = identity_match([s.id for s in summary.segments], previous, threshold)
        fixed = {int(i) for i in config.personas.names if str(i).isdigit()}
        carry_over(summary.segments, previous, match, fixed)
        summary.changes = compare(
            summary, customers, previous, match, "scored" if scored else "refit"
        )

    analysis.model = build_model(
        rules,
        bounds,
        spec,
        ref,
        centroids,
        {
            **(parts.names if parts is not None else {}),
            **{s.id: s.persona.name for s in summary.segments if s.persona},
        },
        __version__,
        segment_ids=seg_ids.tolist(),
    )
    summary.run.timings = stages.timings
    return analysis
