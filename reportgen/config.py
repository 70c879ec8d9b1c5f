"""Configuration: typed, validated models read from `reportgen.toml`.

Precedence: defaults -> config file -> environment (`REPORTGEN__SECTION__KEY=value`) -> flags.
Unknown keys are refused with a message that says which key and where.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(_Section):
    #: strftime format of the enrollment date, e.g. "%d-%m-%Y"; detected when empty. A list
    #: (["%m/%d/%Y", "%d-%m-%Y"]) reads a column that mixes formats: each value must be read
    #: by exactly one of them, or by several that give the same date.
    date_format: str | list[str] | None = None
    #: sheet name or index for Excel files.
    sheet: str | int = 0
    #: field delimiter; detected (tab, comma, semicolon) when empty.
    delimiter: str | None = None
    #: a database instead of a file: a SQLAlchemy URL (sqlite:///customers.db,
    #: postgresql://user@host/db) and one of `table` or `query`; `--data`, `--table` and
    #: `--query` override them. Never a password in the URL: REPORTGEN_DB_PASSWORD or the
    #: file `password_file` names holds it.
    url: str | None = None
    table: str | None = None
    query: str | None = None
    password_file: str | None = None

    @field_validator("date_format")
    @classmethod
    def _readable_format(cls, value: str | list[str] | None) -> str | list[str] | None:
        """Formats Python writes and reads back a date with (e.g. "%d-%m-%Y")."""
        if isinstance(value, list):
            if not value:
                return None
            if "excel-serial" in value and len(value) > 1:
                raise ValueError('"excel-serial" cannot be combined with other formats')
            return [cls._readable_format(v) for v in value] if len(value) > 1 else value[0]
        if not value or value == "excel-serial":  # input/load.py EXCEL_SERIAL: serial numbers
            return value
        from datetime import datetime

        day = datetime(2014, 6, 29)
        try:
            ok = "%" in value and datetime.strptime(day.strftime(value), value).date() == day.date()
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{value!r} does not write and read back a date — use strftime directives "
                'such as "%d-%m-%Y", "%Y-%m-%d" or "%m/%d/%Y"'
            )
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        named = ("tab", "\\t", "comma", "semicolon")  # input/load.py _DELIMITER_ALIASES
        if value is not None and value not in named and (len(value) != 1 or value in "\r\n\"'"):
            raise ValueError(
                f"{value!r} is not one field separator — use one character such as "
                '"\\t", "," or ";" (or leave it out to detect it)'
            )
        return value


class CleaningConfig(_Section):
    #: columns whose IQR outliers are excluded from fitting (they still get a segment).
    outlier_columns: list[str] = ["Income", "Age"]
    iqr_factor: float = Field(1.5, gt=0)
    #: category clean-up: column -> {junk value: replacement}.
    category_merge: dict[str, dict[str, str]] = {
        "Marital_Status": {
            "Alone": "Single",
            "Absurd": "Single",
            "YOLO": "Single",
        },
        "Education": {"2n Cycle": "Master"},
    }
    #: how numbers are scaled before clustering.
    scaling: Literal["minmax", "standard"] = "minmax"


class FeaturesConfig(_Section):
    #: date Age and Tenure are measured at; default: the latest enrollment date in the file.
    reference_date: str | None = None
    #: features that feed the clustering (engineered or raw numeric columns, or one-hot
    #: groups named by their category column). See README for why these.
    clustering: list[str] | None = Field(None, min_length=2)
    #: weight of one-hot columns relative to numeric ones when categories are clustered on.
    category_weight: float = Field(0.5, ge=0)


class ClusteringConfig(_Section):
    k_min: int = Field(2, ge=2)
    k_max: int = Field(10, ge=2)
    #: force k instead of choosing it.
    k: int | None = Field(None, ge=2)
    n_init: int = Field(10, ge=1)
    stability_resamples: int = Field(20, ge=10)
    stability_fraction: float = Field(0.8, gt=0.1, le=1.0)
    alternatives: list[str] = ["gaussian_mixture", "dbscan", "agglomerative"]

    @model_validator(mode="after")
    def _range(self) -> ClusteringConfig:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must be >= k_min ({self.k_min})")
        return self


class SamplingConfig(_Section):
    """How much of a large table each step sees (a smaller table is used whole)."""

    #: customers everything that learns is fitted on (cleaning statistics, scaling, k,
    #: K-Means, stability, explanations): a reproducible random sample of the table.
    fit_rows: int = Field(50_000, ge=100)
    #: fitted customers the k scan (a K-Means fit per k from k_min to k_max) runs on; the
    #: final K-Means is fitted on every fitted customer of the sample.
    k_scan_rows: int = Field(10_000, ge=100)
    #: fitted customers the silhouette is computed on (it is quadratic in the rows).
    silhouette_rows: int = Field(5_000, ge=100)
    #: fitted customers the stability check refits K-Means on (clustering.stability_fraction
    #: of them at a time).
    stability_rows: int = Field(10_000, ge=100)
    #: fitted customers the alternative algorithms (Gaussian mixture, DBSCAN, Ward) run on.
    alternatives_rows: int = Field(3_000, ge=100)
    #: customers kept for the charts (maps, box plots, silhouettes) and `render --from`.
    chart_rows: int = Field(10_000, ge=100)
    #: rows read and scored at a time; bounds memory, never changes a result.
    chunk_rows: int = Field(200_000, ge=1000)
    #: a column to stratify the fit sample by (a schema column with few values, e.g.
    #: "Education" or "Kidhome"): each of its values keeps its share of the table in the
    #: sample. Unset: a plain random sample. A table no larger than fit_rows is used whole.
    strata: str | None = None

    @field_validator("strata")
    @classmethod
    def _known_column(cls, value: str | None) -> str | None:
        from . import schema

        never = {schema.ID, schema.ENROLLED}  # one value per customer, or nearly
        if value is not None and (value not in schema.COLUMNS or value in never):
            known = ", ".join(c for c in schema.COLUMNS if c not in never)
            raise ValueError(
                f"{value!r} is not a column of the customer schema to stratify by — one of "
                f"{known} (with few values, e.g. Education)"
            )
        return value


class OutputConfig(_Section):
    #: also write segments.parquet (same columns as segments.csv; faster for big tables).
    segments_parquet: bool = False
    #: also replace a database table with segments.csv's rows: URL/TABLE, e.g.
    #: sqlite:///crm.db/segments (`run --segments-to` overrides).
    segments_to: str | None = None


class InterpretationConfig(_Section):
    # Interpretation (interpret.py, explain.py): exact SHAP of K-Means, LIME, plain rules.
    #: business features the plain rules may use besides the clustering features (original
    #: units); default: Recency and the web/catalogue/store purchases.
    rule_features: list[str] | None = None
    #: customers kept (stratified by segment) for the SHAP charts (arrays.npz).
    shap_sample: int = Field(1000, ge=100)
    #: customers per segment, drawn at random, explained with LIME (the persona page shows
    #: the first); LIME/SHAP agreement is measured on all of them.
    lime_examples: int = Field(8, ge=1)
    #: LIME weights kept per example (the agreement score uses all features).
    lime_num_features: int = Field(6, ge=1)
    #: perturbed samples LIME draws around each customer.
    lime_num_samples: int = Field(1000, ge=100)
    #: LIME/SHAP agreement: overlap of the top-N features of the same customer.
    agreement_top: int = Field(3, ge=1)
    rule_max_depth: int = Field(3, ge=1, le=3)
    #: a segment's rule may join this many tree leaves with "or".
    rule_max_clauses: int = Field(2, ge=1, le=4)


class KpiConfig(_Section):
    #: customers whose last purchase is older than this many days count as at risk.
    retention_recency_days: int = Field(60, ge=1)


class PropensityConfig(_Section):
    # Who is likely to respond / churn (fitting/propensity.py). The outcome is the file's
    # Response column (map another column onto it in [columns]); a churn model is fitted
    # when the file has a Churned column (or one mapped to it).
    enabled: bool = True
    #: fitted customers the cross-validation runs on (the final model uses all of them).
    cv_rows: int = Field(10_000, ge=100)
    folds: int = Field(5, ge=2, le=20)
    repeats: int = Field(3, ge=1, le=10)
    #: fewer customers than this with (or without) the outcome: no model, and the report
    #: says why.
    min_positives: int = Field(30, ge=5)
    #: the out-of-fold calibration slope may differ from 1 by this much before the stored
    #: model gets a Platt recalibration.
    recalibrate_beyond: float = Field(0.2, gt=0)


class PersonasConfig(_Section):
    #: segment id (as a string) -> persona name that replaces the derived one.
    names: dict[str, str] = {}


class RecommendationRule(_Section):
    action: str
    #: short code for a CRM picklist (segments.csv's primary_action_code), e.g.
    #: "VIP_PROGRAMME"; default: made from the action's first words
    code: str | None = Field(None, pattern=r"^[A-Z0-9_]{1,40}$")
    #: conditions on a segment's figures, all must hold, e.g. {"relative.TotalSpend" = ">= 1.5"}.
    #: Keys: profile.<feature> (segment mean), relative.<feature> (mean / population mean),
    #: kpis.<kpi> (e.g. kpis.retention_risk, kpis.preferred_channel = "== web"). Empty: a
    #: fallback used only when fewer than `min_per_segment` rules match.
    when: dict[str, str] = {}
    rationale: str = ""
    #: relative lift the A/B test must detect for this action (default: target_lift); also
    #: the lift its expected value assumes.
    lift: float | None = Field(None, gt=0)
    #: cost of contacting one customer with this action (default: cost_per_contact).
    cost: float | None = Field(None, ge=0)


class RecommendationsConfig(_Section):
    #: relative lift (e.g. 0.2 = +20 % over the baseline response rate) the A/B test must detect.
    target_lift: float = Field(0.2, gt=0)
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    #: share of the test customers in the control arm.
    control_share: float = Field(0.5, gt=0, lt=1)
    #: baseline response rates below this are raised to it for the sample size (a rate of 0
    #: cannot be lifted by a relative amount).
    baseline_floor: float = Field(0.01, gt=0, lt=0.5)
    min_per_segment: int = Field(2, ge=1)
    max_per_segment: int = Field(4, ge=1)
    # Expected value of a campaign = targeted customers x their mean response propensity x
    # the rule's lift x value per response x margin - targeted x cost per contact.
    #: cost of one contact (mail, e-mail, call), in the report's currency.
    cost_per_contact: float = Field(0.5, ge=0)
    #: share of a response's revenue that is profit.
    margin: float = Field(0.3, gt=0, le=1)
    #: revenue of one response; default: the segment's average purchase value (spend /
    #: purchases).
    value_per_response: float | None = Field(None, gt=0)
    #: an A/B test may repeat the campaign over at most this many sends to reach its size.
    max_sends: int = Field(6, ge=1, le=52)
    #: rules replace the packaged defaults (reportgen/describe/recommendations.toml) when given.
    rules: list[RecommendationRule] | None = None


class ReportConfig(_Section):
    title: str = "Customer segment report"
    #: a packaged brand ("default", "northwind") or a folder holding brand.toml (see styles/).
    brand: str = "default"
    paper: Literal["A4", "Letter"] = "A4"
    #: folder searched for templates before the packaged ones (override single blocks).
    templates: str | None = None
    author: str = "reportgen"
    #: currency of the data's amounts, shown with every amount (e.g. "EUR", "USD", "£");
    #: empty: amounts are shown without one, and the glossary says they are in the data's
    currency: str = Field("", max_length=8, pattern=r"^[^<>&\"{}]*$")
    #: PDF subject (document metadata).
    subject: str = "Customer segments: who they are, what they are worth, what to do next"


class HistoryConfig(_Section):
    # Monthly operations (history.py, identity.py): where runs are recorded and how
    # segments are matched across runs.
    #: record runs and keep segment identities across periods (`run --no-history` turns off).
    enabled: bool = True
    #: the SQLite database; default: history.db beside the run folders (output/history.db
    #: for the default output/<period>/).
    db: str | None = None
    #: matched centroids further apart than this (in standard deviations of the clustering
    #: features, Euclidean over all of them) are a new segment, not the old one.
    match_threshold: float = Field(1.5, gt=0)
    #: how long a run waits for the database when another program holds it (another run
    #: recording, a reader such as a BI tool in a transaction) before it gives up, untouched.
    wait_seconds: float = Field(30.0, ge=0, le=3600)


class SmtpConfig(_Section):
    # E-mail delivery (deliver.py, `reportgen send`). Flags override these.
    host: str = "localhost"
    #: default: 465 with ssl, 587 with starttls, else 25.
    port: int | None = Field(None, ge=1, le=65535)
    #: upgrade the connection with STARTTLS (typical on port 587).
    starttls: bool = False
    #: TLS from the start (SMTPS, typical on port 465).
    ssl: bool = False
    #: login name; no authentication when empty. The password is read only from the
    #: environment variable REPORTGEN_SMTP_PASSWORD or from `password_file`.
    user: str | None = None
    password_file: str | None = None
    #: the From address (required to send: a real mailbox replies can reach, e.g.
    #: "Marketing analytics <analytics@example.com>"; --from overrides it).
    sender: str | None = None
    timeout: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpConfig:
        if self.starttls and self.ssl:
            raise ValueError("choose either starttls or ssl, not both")
        return self


class EngineConfig(_Section):
    #: "local" reads the table chunk by chunk in this process; "spark" reads it with Apache
    #: Spark (pip install "reportgen[spark]", Java 17): a Parquet dataset, CSV files or a
    #: catalog table, scored and summarised on the executors (README, "Scaling out")
    name: Literal["local", "spark"] = "local"
    #: Spark master: local[*] (every core of this machine), spark://host:7077, yarn, ...
    master: str = "local[*]"
    #: extra Spark settings, e.g. {"spark.executor.memory" = "4g"}
    settings: dict[str, str] = {}
    #: "sample": K-Means is fitted on the fit sample (sampling.fit_rows), as by the local
    #: engine; "all": with Spark MLlib (k-means||) on every row inside the IQR fences, k
    #: still chosen on the sample (Spark engine only)
    fit: Literal["sample", "all"] = "sample"


class Config(_Section):
    #: the seed of every random step (numpy takes 0 to 2**32 - 1)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    #: canonical column name -> the header used in the file.
    columns: dict[str, str] = {}
    input: InputConfig = InputConfig()
    cleaning: CleaningConfig = CleaningConfig()
    features: FeaturesConfig = FeaturesConfig()
    clustering: ClusteringConfig = ClusteringConfig()
    sampling: SamplingConfig = SamplingConfig()
    output: OutputConfig = OutputConfig()
    interpretation: InterpretationConfig = InterpretationConfig()
    kpis: KpiConfig = KpiConfig()
    propensity: PropensityConfig = PropensityConfig()
    personas: PersonasConfig = PersonasConfig()
    recommendations: RecommendationsConfig = RecommendationsConfig()
    report: ReportConfig = ReportConfig()
    history: HistoryConfig = HistoryConfig()
    smtp: SmtpConfig = SmtpConfig()
    engine: EngineConfig = EngineConfig()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


ENV_PREFIX = "REPORTGEN__"


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_overrides(environ: dict[str, str]) -> dict:
    """`REPORTGEN__CLUSTERING__K=4` -> {"clustering": {"k": 4}}; values parsed as TOML."""
    out: dict = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown setting '{where}' — remove it or check its spelling (see README)"
    return f"{source}: setting '{where}': {first['msg']} — fix the value (see README)"


def load_config(
    path: str | Path | None = None,
    overrides: dict | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Build the effective configuration (defaults -> file -> environment -> overrides)."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found — check the --config path") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}) — fix the syntax") from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"{path}: not a text file (not UTF-8) — give a reportgen.toml written as text"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot be read ({exc.strerror or exc}) — check the --config path"
            ) from None
    env = _env_overrides(dict(os.environ if environ is None else environ))
    if env:
        data = _deep_merge(data, env)
        source += " + environment"
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
