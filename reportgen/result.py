"""The one result object that flows from analysis to rendering.

`Summary` (typed, pydantic) is what `summary.json` holds. `Analysis` bundles it with the
per-customer table and the few arrays the charts need; files.py writes and reads a run
folder, so `reportgen render --from DIR` works without recomputing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # numpy and pandas load only where tables are read or written, so
    import numpy as np  # `render --from` (which needs the summary alone) starts faster
    import pandas as pd

SCHEMA_VERSION = "1.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunInfo(_Model):
    tool_version: str
    input_path: str
    input_sha256: str
    input_format: str
    config: dict[str, Any]
    seed: int
    rows: dict[str, int]
    timings: dict[str, float] = {}
    period: str | None = None
    started_at: str
    versions: dict[str, str] = {}
    #: what read, scored and summarised the rows: "local" or e.g. "Spark 4.0.1 (local[2],
    #: 7 partitions)"
    engine: str = "local"
    #: what `input_sha256` hashes when it is not the file's bytes (Spark: the files' names,
    #: sizes and modification times)
    fingerprint_of: str | None = None
    #: where the per-customer segments are in the run folder
    segments_file: str = "segments.csv"


class DataQuality(_Model):
    rows_in: int
    rows_used_for_fit: int
    imputed: dict[str, int]
    excluded: dict[str, int]
    #: records that are not believable customers (reason -> customers): scored and listed in
    #: segments.csv (data_issue), never part of a segment's figures
    data_issues: dict[str, int] = {}
    categories_merged: dict[str, dict[str, int]]
    dropped_columns: list[str]
    date_format: str | None = None
    columns_matched: dict[str, str] = {}
    extra_columns: list[str] = []
    missing: dict[str, int] = {}
    outlier_bounds: dict[str, list[float]] = {}
    reference_date: str


class KScore(_Model):
    k: int
    inertia: float
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float


class Alternative(_Model):
    algorithm: str
    n_clusters: int
    silhouette: float | None = None
    calinski_harabasz: float | None = None
    davies_bouldin: float | None = None
    noise_share: float = 0.0
    ari_vs_kmeans: float | None = None
    params: dict[str, Any] = {}


class KChoiceInfo(_Model):
    method: str
    elbow_k: int | None
    best_silhouette_k: int
    forced: bool = False
    reason: str


class ModelInfo(_Model):
    algorithm: str = "kmeans"
    k: int
    features: list[str]
    features_reason: str
    categories_used: str
    scaling: str
    k_choice: KChoiceInfo
    k_selection: list[KScore]
    metrics: dict[str, float]
    stability_scores: list[float]
    alternatives: list[Alternative]
    pca_explained_variance: list[float] = []
    #: what each sampled figure was computed on, in words (for the methodology page)
    samples: dict[str, str] = {}
    #: rows each step saw: table, fit (sample), fitted (inside the fences), silhouette,
    #: stability (rows), stability_resample (rows per refit), stability_resamples,
    #: alternatives, charts, tsne
    sample_sizes: dict[str, int] = {}


class Persona(_Model):
    name: str
    slug: str
    description: str
    traits: list[str]


class Kpis(_Model):
    size: int
    customer_share: float
    revenue_share: float
    avg_spend: float
    response_rate: float
    campaign_acceptance: dict[str, float]
    retention_risk: float
    complaint_rate: float
    preferred_channel: str
    channel_mix: dict[str, float] = {}
    avg_income: float | None = None
    # (interpretation) preferred_channel is the channel used most relative to all customers;
    # main_channel the one with most purchases. channel_mix: web/catalog/store shares (sum 1);
    # deals_share: share of purchases made with a discount (deals are part of the channels).
    main_channel: str | None = None
    deals_share: float | None = None
    #: share who accepted at least one of the earlier campaigns 1-5
    any_campaign_acceptance: float | None = None
    #: medians of the skewed money columns (half the customers spend / earn less), from
    #: the fit sample's customers without a data issue; medians_rows says how many
    median_spend: float | None = None
    median_income: float | None = None
    median_rows: int | None = None
    #: 95 % intervals, KPI field -> [low, high] (intervals.py: Wilson for rates and the
    #: customer share, normal approximation for means, delta method for the share of spend)
    intervals: dict[str, list[float]] = {}
    #: KPI field -> "above" / "below" / "same": against all customers; "same" when the
    #: interval covers the all-customer value (no different from the average)
    versus_average: dict[str, str] = {}
    #: mean predicted chance of responding (the response model), and the responders that
    #: chance implies among the segment's customers
    propensity: float | None = None
    expected_responders: float | None = None
    #: churn model only (a churn label in the file): mean predicted chance of churning, the
    #: customers above 50 %, and spend at risk = sum of chance x each customer's spend
    churn_risk: float | None = None
    churn_at_risk: int | None = None
    revenue_at_risk: float | None = None


class KpiTest(_Model):
    """Does a KPI carry any signal in this data? (describe/intervals.py)"""

    kpi: str
    #: χ² test that every segment has the same rate
    segments_p_value: float
    #: extra test of the underlying measure, e.g. "Recency is uniform (Kolmogorov-Smirnov)"
    measure_test: str = ""
    measure_p_value: float | None = None
    #: False when the segments do not differ (p >= 0.05): the KPI is then shown as
    #: "no signal in this data", never as a finding
    signal: bool
    text: str
    #: pairs of segment ids whose rates do not differ from each other (χ² test, p >= 0.05)
    indistinguishable: list[list[int]] = []


class Driver(_Model):
    """One feature's part in setting a segment apart: the mean |exact SHAP value| of K-Means'
    margin (own segment vs the customer's runner-up) over the segment's fitted customers."""

    feature: str
    #: in squared scaled-distance units (the margin's units)
    mean_abs_shap: float
    #: mean_abs_shap / the segment's sum over features (the shares add up to 1)
    share: float = 0.0
    #: "+" higher values push into the segment, "-" lower values do, "mixed", or "category"
    direction: str
    direction_text: str = ""


class LimeWeight(_Model):
    feature: str
    weight: float
    condition: str = ""


class LimeExample(_Model):
    customer_id: str
    weights: list[LimeWeight]
    values: dict[str, float] = {}
    predicted_probability: float | None = None
    agreement_with_shap: float | None = None


class Rule(_Model):
    text: str
    precision: float
    recall: float
    support: int | None = None
    #: the rule as data: clauses joined by "or", each a list of {feature, op, value} joined by
    #: "and" (op ">=" or "<"); evaluated on the fitted customers' business features.
    conditions: list[list[dict[str, Any]]] = []


class CalibrationBin(_Model):
    """Customers in one tenth of the scores: mean predicted chance and observed rate."""

    predicted: float
    observed: float
    customers: int


class LiftDecile(_Model):
    """Decile 1 = the tenth of customers with the highest scores."""

    decile: int
    customers: int
    rate: float
    #: rate / the base rate
    lift: float


class PropensityDriver(_Model):
    #: an input (numeric: per standard deviation of its model units; "Column=value": one-hot)
    feature: str
    #: change of the log-odds per standard deviation (or for the category)
    coefficient: float


class PropensityInfo(_Model):
    """A propensity model (fitting/propensity.py) and how well it predicts, out of fold."""

    #: "response" or "churn"
    name: str
    outcome: str
    available: bool
    #: why there is no model (available False), or what could not be checked
    reason: str = ""
    method: str = ""
    why: str = ""
    inputs: list[str] = []
    #: customers the model was fitted on, and how many had the outcome
    rows: int = 0
    positives: int = 0
    #: customers the cross-validation (or the check of a stored model) used
    cv_rows: int = 0
    folds: int = 0
    repeats: int = 0
    base_rate: float | None = None
    auc: float | None = None
    #: spread of the AUC between the repeats of the cross-validation
    auc_folds_sd: float | None = None
    brier: float | None = None
    #: the Brier score of always predicting the base rate (the model must beat it)
    brier_constant: float | None = None
    calibration_error: float | None = None
    calibration_slope: float | None = None
    recalibrated: bool = False
    calibration_error_after: float | None = None
    calibration: list[CalibrationBin] = []
    deciles: list[LiftDecile] = []
    top_decile_lift: float | None = None
    #: the AUC of the segment alone (every customer scored by their segment's rate)
    segment_only_auc: float | None = None
    #: segment id -> AUC among that segment's customers (segments with 5+ positives)
    within_segment_auc: dict[int, float] = {}
    drivers: list[PropensityDriver] = []


class ABTest(_Model):
    baseline_rate: float
    target_rate: float
    #: the relative lift the test is sized for (target_rate may be capped at 99 %)
    lift: float | None = None
    alpha: float
    power: float
    sample_size_per_arm: int
    control_share: float = 0.5
    segment_size: int | None = None
    feasible: bool
    suggestion: str = ""
    # (interpretation) sample_size_per_arm is the control arm; treatment_size the other arm.
    treatment_size: int | None = None
    #: smallest relative lift the whole segment can detect with this split, alpha and power.
    min_detectable_lift: float | None = None
    #: the test that can run: "segment" (the whole segment, one send), "top" (the customers
    #: targeted by propensity against a holdout of them), "sends" (repeated over `sends`
    #: sends), or "none" (nothing provable at this size; see min_detectable_lift)
    design: str = "segment"
    sends: int = 1
    #: the design in one sentence
    plan: str = ""


class Value(_Model):
    """What a recommendation is expected to bring (describe/value.py)."""

    #: whom it targets, in words, and how many customers
    target: str
    targeted: int
    #: "segment" (everyone in it) or "top" (those whose propensity makes contact pay)
    scope: str
    #: lowest propensity targeted (top scope)
    threshold: float | None = None
    #: responders expected among the targeted at their propensity (last campaign's
    #: response), with the 95 % range of chance alone
    expected_responders: float
    expected_responders_interval: list[float] = []
    #: extra responders the campaign's assumed lift brings
    incremental_responders: float
    value_per_response: float
    incremental_revenue: float
    cost: float
    #: incremental revenue x margin - cost, and its range from the responders' range
    expected_value: float
    expected_value_interval: list[float] = []
    #: every number assumed, by name (lift, margin, cost_per_contact, value_per_response)
    assumptions: dict[str, float | str] = {}


class Recommendation(_Model):
    action: str
    #: short code for a CRM picklist (the rule's `code`, else made from the action)
    code: str = ""
    rationale: str
    ab_test: ABTest
    #: the figures that triggered the rule, e.g. {"relative.TotalSpend": 2.2}
    triggers: dict[str, float | str] = {}
    #: expected value (None when there is no propensity model)
    value: Value | None = None
    #: 1 = highest expected value of all recommendations in the report
    rank: int | None = None


class Brief(_Model):
    """What the persona page leads with (describe/brief.py), in words made from the
    figures: value against headcount, the one action to take first, the risks, the trend."""

    headline: str
    so_what: str
    risks: list[str] = []
    #: since the previous run ("" without history)
    trend: str = ""


class Segment(_Model):
    id: int
    size: int
    share: float
    profile: dict[str, float]
    relative: dict[str, float]
    categories: dict[str, dict[str, float]] = {}
    persona: Persona | None = None
    kpis: Kpis | None = None
    drivers: list[Driver] = []
    lime_examples: list[LimeExample] = []
    rule: Rule | None = None
    recommendations: list[Recommendation] = []
    brief: Brief | None = None


class Explanations(_Model):
    #: how the drivers were computed, in one sentence (also in the methodology)
    method: str = ""
    #: share of customers whose SHAP values reproduce K-Means' margin exactly (1 by
    #: construction: the model explained is K-Means itself, not a copy)
    fidelity: float | None = None
    lime_shap_agreement: float | None = None
    #: the agreement two random feature rankings would have (top-N overlap: N / features)
    lime_shap_chance: float | None = None
    #: the driver groups (numeric clustering features, then category columns)
    shap_features: list[str] = []
    notes: list[str] = []
    #: summaries written before drivers came from K-Means itself: the random-forest surrogate
    #: that was explained then (empty in new runs; kept so older run folders still load)
    surrogate: dict[str, Any] = {}
    #: how SHAP / LIME / the rules were computed (rows, method, settings)
    shap: dict[str, Any] = {}
    lime: dict[str, Any] = {}
    rules: dict[str, Any] = {}


class MetricChange(_Model):
    """One number in the previous and in this run; `change` = current - previous."""

    previous: float
    current: float
    change: float
    #: 95 % sampling noise of the change (±), where it can be estimated
    noise: float | None = None
    #: True when |change| > noise: a movement, not sampling noise
    beyond_noise: bool | None = None


class SegmentChange(_Model):
    """How one segment changed since the previous run.

    `status`: "matched" (same id as last month), "new" (no previous segment close enough;
    its id was never used before) or "vanished" (last month's segment with no successor; its
    `size`/`share` are None). Shares are fractions (0.012 = 1.2 percentage points).
    """

    id: int
    name: str
    status: Literal["matched", "new", "vanished"]
    size: int | None = None
    previous_size: int | None = None
    size_change: int | None = None
    share: float | None = None
    previous_share: float | None = None
    share_change: float | None = None
    #: 95 % sampling noise of share_change (±); a smaller move is not called a movement
    share_noise: float | None = None
    #: last month's persona name (equal to `name` unless the configuration renamed it)
    previous_name: str | None = None
    #: centroid distance to the previous segment, in standard deviations (matched only)
    distance: float | None = None
    #: numeric KPI fields (see Kpis) of matched segments, e.g. "avg_spend", "response_rate"
    kpis: dict[str, MetricChange] = {}
    #: segment means of the clustering features (original units), matched segments only
    profile: dict[str, MetricChange] = {}


class Move(_Model):
    """Customers who were in segment `from_id` last run and are in `to_id` now."""

    from_id: int
    from_name: str
    to_id: int
    to_name: str
    customers: int


class Migration(_Model):
    """Customers present in both runs (matched by customer id), from -> to segment.

    `counts[i][j]` = customers in previous segment `from_ids[i]` now in segment `to_ids[j]`;
    all cells sum to `in_both` = `stayed` + `moved`. Customers only in this run are
    `new_customers`, customers only in the previous run `departed_customers`.
    """

    from_ids: list[int]
    to_ids: list[int]
    #: segment id -> name, for every id in from_ids and to_ids
    names: dict[int, str]
    counts: list[list[int]]
    in_both: int
    stayed: int
    moved: int
    new_customers: int
    departed_customers: int
    #: off-diagonal cells, largest first (at most 10)
    top_moves: list[Move] = []


class Changes(_Model):
    """Month over month: this run against the latest earlier run in history.db."""

    previous_period: str
    previous_run_id: int
    previous_created_at: str
    #: "refit": segments fitted anew and matched to last month's; "scored": customers scored
    #: with the previous run's model (no refit), so every segment keeps its id trivially
    mode: Literal["refit", "scored"]
    match_threshold: float
    #: features the centroid distances were measured on (refit mode)
    matched_on: list[str] = []
    customers: int
    previous_customers: int
    #: this run's segments (by id), then the vanished ones
    segments: list[SegmentChange]
    new_segments: list[int] = []
    vanished_segments: list[int] = []
    migration: Migration
    #: 1-3 plain sentences naming the largest movements, for the executive summary
    highlights: list[str] = []


class TrendSegment(_Model):
    """One segment's figures over the periods of `Trends.periods` (None: not there then)."""

    id: int
    persona: str | None = None
    #: share of customers, share of spend and response to the last campaign, per period
    share: list[float | None]
    revenue_share: list[float | None]
    response_rate: list[float | None]


class Trends(_Model):
    """The last periods on record and this one, from history.db (three or more periods).

    Each period's figures are those its run published (the latest run of the period);
    segments keep their ids across months (identity matching), so a row is one segment.
    """

    periods: list[str]
    segments: list[TrendSegment]
    #: one sentence naming the largest move in share of customers over the whole window
    headline: str = ""


class Summary(_Model):
    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    data_quality: DataQuality
    model: ModelInfo
    segments: list[Segment]
    overall: dict[str, float] = {}
    #: the same KPIs for all customers (the "average customer" every page compares with)
    everyone: Kpis | None = None
    #: KPI field -> its significance test across segments
    kpi_tests: dict[str, KpiTest] = {}
    #: share of customers near a segment boundary (the next-nearest segment centre at most
    #: 10 % farther than their own), and that definition
    boundary: dict[str, Any] = {}
    #: 3-5 sentences for the executive summary, from the figures (describe/brief.py), and
    #: the one on where the spending is concentrated ("" when the shares say nothing)
    insights: list[str] = []
    concentration: str = ""
    explanations: Explanations | None = None
    #: "response" and "churn" propensity models, available or with the reason they are not
    propensity: dict[str, PropensityInfo] = {}
    #: the A/B reality in one sentence when no recommendation's test can run at this size
    ab_note: str = ""
    #: month-over-month changes against the previous run (None for a first run)
    changes: Changes | None = None
    #: sizes and KPIs over the last twelve periods (None below three periods on record)
    trends: Trends | None = None

    def dumps(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def loads(cls, text: str) -> Summary:
        return cls.model_validate_json(text)


@dataclass
class Analysis:
    """Everything a finished run knows: the summary, per-customer rows, chart data, model."""

    summary: Summary
    #: one compact row per input customer (score.py): customer_id, segment, excluded_from_fit,
    #: exclusion_reason, distance_to_centroid, margin_to_next_segment and the drivers as
    #: codes; segments.csv spells them out. Empty when read back from a run folder.
    customers: pd.DataFrame
    #: the chart sample (at most `sampling.chart_rows` customers): segment, PCA/t-SNE
    #: coordinates, silhouette and the business features, saved as chart_sample.parquet.
    chart_rows: pd.DataFrame | None = None
    #: named arrays for charts (e.g. SHAP values of a sample), saved as arrays.npz.
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: model.json content (plain data; see model.py).
    model: dict[str, Any] = field(default_factory=dict)
    #: the Spark engine's scored customers (the compact rows of `customers`): a Spark
    #: DataFrame kept on the executors (engine/spark.py); `customers` is then empty
    scored: Any = None
