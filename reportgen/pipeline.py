"""The analysis: from a customer table to one `Analysis` result. Writes no files.

The shape of a job (README, "Architecture"):

1. SCAN  (scan.py)      read every row once: check it, count it, draw the fit sample;
2. FIT   (fit.py)       everything that learns, on the sample only: cleaning statistics,
                        scaling, k, K-Means, stability, alternatives, chart projections;
3. SCORE (score.py)     one pure function, model + rows -> per-customer results, chunk by
                        chunk over the whole table;
4. SUMMARISE (aggregates.py) per-segment sums merged over the chunks: sizes, shares,
                        profiles, KPIs;
5. DESCRIBE (interpret.py) explanations on the sample, personas and recommendations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

from . import __version__, schema
from .config import Config
from .errors import InputError
from .fitting.fit import Fitted, fit
from .fitting.identity import PreviousRun, carry_over, identity_match
from .input.load import Loaded
from .input.scan import Scan, Source, scan
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
from .scoring.aggregates import NEAR, NearCounts, SegmentTotals
from .scoring.features import DEFAULT_FEATURES_REASON
from .scoring.model import ModelParts, model_parts
from .scoring.score import score

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
    source: Loaded | Source,
    config: Config,
    progress: Progress | None = None,
    period: str | None = None,
    previous: PreviousRun | None = None,
    refit: bool = False,
    counter: Callable[[str, int, int | None], None] | None = None,
) -> Analysis:
    """Scan, fit, score, summarise and explain `source`; return the whole result.

    `source` is a table already in memory (`Loaded`) or a file read in chunks (`Source`).
    `previous` (the latest earlier run, read from history.db) keeps segment identities:
    by default this run's customers are scored with the previous run's model (its cleaning,
    scaling and centroids; no refit); with `refit=True` K-Means is fitted anew and its
    segments matched to the previous ones (identity.py). `summary.changes` then compares
    the two runs. Without `previous` segments are numbered by size.
    `counter(step, done, total)` is told how many rows were read / scored so far.
    """
    if isinstance(source, Loaded):
        source = Source.from_loaded(source, config)
    stages = _Stages(progress)
    sampling = config.sampling
    scored = previous is not None and not refit
    parts = model_parts(previous.model, f"model of {previous.period}") if scored else None
    started = datetime.now(UTC).replace(microsecond=0).isoformat()
    tell = counter or (lambda _step, _done, _total: None)

    spark = getattr(source, "engine", "local") == "spark"  # engine/spark.py's SparkSource
    if config.engine.fit == "all" and not spark:
        raise InputError(
            '[engine] fit = "all" fits K-Means on every row with Spark MLlib — add '
            '--engine spark, or set fit = "sample"'
        )
    with stages.stage("scan", "Reading and checking every row"):
        read = source.scan if spark else partial(scan, source)  # type: ignore[union-attr]
        table = read(
            sampling.fit_rows,
            config.seed,
            sampling.chunk_rows,
            lambda done: tell("read", done, None),
        )
    fit_all = source.fit_all if spark and config.engine.fit == "all" else None
    fitted = fit(table, config, stages, parts, previous, fit_all)
    try:  # the checks run in a second process until `finish` collects them
        with stages.stage("score", f"Scoring all {table.rows:,} customers"):
            if spark:  # the executors write the segments; nothing per customer comes back
                totals, near = source.score_all(fitted.parts, config, period)
                customers = pd.DataFrame()
            else:
                customers, totals = score_table(
                    source, fitted.parts, config, lambda done: tell("scored", done, table.rows)
                )
                near = NearCounts.of(customers)
        summary = _summary(table, fitted, totals, config, started, period, previous, parts)
        summary.boundary = boundary(near)
        summary.propensity = dict(fitted.propensity_info)
        analysis = Analysis(summary=summary, customers=customers)
        if spark:
            analysis.scored = source.scored
            summary.run.engine = source.description()
            summary.run.fingerprint_of = source.fingerprint_of
            summary.run.segments_file = source.segments_file

        with stages.stage("interpret", "Explaining the segments"):
            from .describe.interpret import interpret

            interpret(
                analysis,
                fitted.sample_view,
                fitted.features,
                fitted.cleaned,
                fitted.fit_mask,
                config,
                totals,
                fitted.parts,
            )
        with stages.stage("checks_wait", "Stability, other algorithms and chart maps"):
            checks = fitted.finish()
    except BaseException:
        fitted.cancel()
        raise
    stages.timings.update(checks.timings)
    _fill_checks(summary.model, fitted, table.rows)
    analysis.chart_rows = checks.chart
    match = fitted.match
    # --- monthly operations: previous names for matched segments, month-over-month changes
    if previous is not None and match is not None:
        from .describe.changes import compare, cross

        threshold = config.history.match_threshold
        if scored:  # a segment of the model nobody falls into this month has vanished
            match = identity_match([s.id for s in summary.segments], previous, threshold)
        fixed = {int(i) for i in config.personas.names if str(i).isdigit()}
        carry_over(summary.segments, previous, match, fixed)
        with stages.stage("migration", "Comparing with the previous run's customers"):
            if spark:  # joined in Spark with the previous run's segments
                crossed = source.cross(previous)
            else:
                crossed = cross(customers, previous.customer_segments())
        summary.changes = compare(
            summary, crossed, previous, match, "scored" if scored else "refit"
        )
    from .describe.brief import write_briefs

    write_briefs(summary)  # once names and changes are final
    names = {
        **(parts.names if parts is not None else {}),
        **{s.id: s.persona.name for s in summary.segments if s.persona},
    }
    actions = {s.id: s.recommendations[0].code for s in summary.segments if s.recommendations}
    analysis.model = fitted.model_json(names, __version__, actions)
    summary.run.timings = stages.timings
    return analysis


def score_table(
    source: Source, parts: ModelParts, config: Config, tell: Callable[[int], None]
) -> tuple[pd.DataFrame, SegmentTotals]:
    """SCORE every chunk with `parts` and SUMMARISE it; the compact per-customer results
    (in table order) and the merged per-segment totals."""
    ids = parts.ids.tolist()
    recency = config.kpis.retention_recency_days
    frames: list[pd.DataFrame] = []
    totals: SegmentTotals | None = None
    done = 0
    for frame, _rows in source.chunks(config.sampling.chunk_rows):
        result = score(parts, frame.reset_index(drop=True), source.path)
        chunk = SegmentTotals.of_scored(result, ids, recency)
        totals = chunk if totals is None else totals.merge(chunk)
        frames.append(result.customers)
        done += len(frame)
        tell(done)
    customers = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    assert totals is not None
    return customers, totals


def boundary(near: NearCounts) -> dict[str, Any]:
    """How many customers sit near a segment boundary, overall and per segment."""
    total = int(near.counts.sum())
    return {
        "definition": f"the next-nearest segment centre is at most {NEAR:.0%} farther away "
        "than the customer's own (margin_to_next_segment ≤ "
        f"{NEAR} × distance_to_centroid in segments.csv)",
        "share": round(float(near.hits.sum() / total) if total else 0.0, 4),
        "per_segment": {
            str(int(s)): round(float(h / c), 4)
            for s, h, c in zip(near.ids, near.hits, near.counts, strict=True)
            if c
        },
    }


def _fill_checks(model: ModelInfo, fitted: Fitted, rows: int) -> None:
    checks = fitted.checks
    model.metrics = checks.metrics
    model.stability_scores = checks.stability
    model.alternatives = [Alternative(**a) for a in checks.alternatives]
    model.pca_explained_variance = checks.pca_variance
    model.samples = fitted.sample_notes(rows)
    model.sample_sizes["tsne"] = fitted.tsne_rows


def _segments(totals: SegmentTotals) -> tuple[list[Segment], pd.Series]:
    """Segments with sizes, shares and profiles over every customer; the overall means."""
    n = totals.n
    overall = totals.overall()
    means = totals.means()
    out = []
    for position, j in enumerate(totals.segment_ids):
        size = int(totals.sizes[position])
        if size == 0:  # only when scoring with last month's model: listed as vanished
            continue
        profile = means.loc[j]
        relative = profile / overall.replace(0, np.nan)
        out.append(
            Segment(
                id=j,
                size=size,
                share=float(size / n),
                profile={c: round(float(v), 4) for c, v in profile.items()},
                relative={c: round(float(v), 4) for c, v in relative.fillna(1.0).items()},
                categories=totals.category_shares(position),
            )
        )
    return out, overall


def _summary(
    table: Scan,
    fitted: Fitted,
    totals: SegmentTotals,
    config: Config,
    started: str,
    period: str | None,
    previous: PreviousRun | None,
    parts: ModelParts | None,
) -> Summary:
    segments, overall = _segments(totals)
    info = table.info
    n = table.rows
    used = int(fitted.fit_mask.sum())
    excluded = {k: int(v) for k, v in sorted(totals.exclusions.items())}
    spec = fitted.spec
    return Summary(
        run=RunInfo(
            tool_version=__version__,
            input_path=str(info.path),
            input_sha256=info.sha256,
            input_format=info.format,
            config=config.to_dict(),
            seed=config.seed,
            rows={
                "rows_in": n,
                "rows_in_fit_sample": len(table.sample),
                "rows_used_for_fit": used,
                "rows_excluded": int(sum(excluded.values())),
            },
            period=period,
            started_at=started,
            versions=_versions(),
        ),
        data_quality=DataQuality(
            rows_in=n,
            rows_used_for_fit=used,
            imputed={k: int(v) for k, v in totals.imputed.items()},
            excluded=excluded,
            data_issues={k: int(v) for k, v in sorted(totals.issues.items())},
            categories_merged={c: dict(v) for c, v in totals.merged.items()},
            dropped_columns=totals.dropped_columns,
            date_format=info.date_format,
            columns_matched=info.columns_matched,
            extra_columns=info.extra_columns,
            missing=info.missing,
            outlier_bounds={c: list(b) for c, b in fitted.bounds.bounds.items()},
            reference_date=fitted.reference.strftime("%Y-%m-%d"),
        ),
        model=ModelInfo(
            k=fitted.k,
            features=spec.columns,
            features_reason=DEFAULT_FEATURES_REASON
            if config.features.clustering is None
            else "Chosen in the configuration (features.clustering).",
            categories_used=_categories_used(config, fitted.chosen),
            scaling=spec.scaling,
            k_choice=_k_choice(
                fitted.choice, fitted.k, fitted.forced, previous if parts is not None else None
            ),
            k_selection=[KScore(**vars(s)) for s in fitted.scores],
            metrics={},  # the checks fill these (_fill_checks)
            stability_scores=[],
            alternatives=[],
            sample_sizes={"table": n, **fitted.sample_sizes},
        ),
        segments=segments,
        overall={c: round(float(v), 4) for c, v in overall.items()},
    )
