"""The Python API: segment a table from a notebook or a script, or run the monthly jobs.

    >>> import reportgen
    >>> result = reportgen.segment("customers.csv")            # a path, a DataFrame or a URL
    >>> result.segments.head()                                  # segments.csv as a DataFrame
    >>> result.personas                                         # persona names by segment id
    >>> result.report("out/2026-11")                            # the files, HTML and PDF
    >>> result.assign(new_customers)                            # score with this model
    >>> result.save("runs/nov"); again = reportgen.load("runs/nov")

The command line is a thin layer over the job functions below — each `reportgen` command
parses its flags into a `Config` and calls one of them:

    reportgen.run(data, out, period="2026-11")      # reportgen run: the folder, with history
    reportgen.validate(data)                        # reportgen validate: the findings
    reportgen.assign("output/2026-11", data, "scores.csv")   # reportgen assign
    reportgen.render("output/2026-11")              # reportgen render --from
    reportgen.history()                             # reportgen history
    reportgen.send("output/2026-11", ["cmo@example.com"], dry_run=True)  # reportgen send
    reportgen.synth("customers.csv", rows=50_000)   # reportgen synth

Everything goes through the same code as the CLI; bad input raises
`reportgen.errors.InputError` with the CLI's one-line message. `config` is a reportgen.toml
path or a `Config`; keyword overrides are config sections as dicts.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, load_config

if TYPE_CHECKING:  # pandas and the result types load with the first analysis, not here
    import pandas as pd

    from .ops.deliver import Delivery
    from .ops.runner import Assigned
    from .report.render import RenderResult
    from .result import Analysis, Summary

Progress = Callable[[str], None]
Counter = Callable[[str, int, "int | None"], None]


def _config(config: Config | str | Path | None, overrides: dict[str, Any]) -> Config:
    if isinstance(config, Config):
        if not overrides:  # a copy: the caller's Config is never changed
            return config.model_copy(deep=True)
        merged = config.model_dump()
        for section, values in overrides.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
            else:
                merged[section] = values
        return Config.model_validate(merged)
    return load_config(config, overrides or None)


def _source(data: Any, config: Config):
    import pandas as pd

    from .input.database import data_location
    from .input.load import open_frame
    from .input.scan import Source

    if isinstance(data, pd.DataFrame):
        return Source(table=open_frame(data, config), config=config)
    return Source.from_file(data_location(data), config)


@dataclass
class Result:
    """One segmentation: the typed summary, the per-customer segments and the model."""

    analysis: Analysis
    config: Config

    @property
    def summary(self) -> Summary:
        return self.analysis.summary

    @property
    def segments(self) -> pd.DataFrame:
        """segments.csv's rows and columns (one row per input customer)."""
        from .output.files import segments_frame

        return segments_frame(self.analysis)

    @property
    def personas(self) -> dict[int, str]:
        """Segment id -> persona name."""
        return {s.id: s.persona.name for s in self.summary.segments if s.persona}

    def save(self, folder: str | Path) -> Path:
        """Write segments.csv, summary.json, model.json and the chart data (no report)."""
        from .output.files import write_files

        folder = Path(folder)
        write_files(self.analysis, folder, self.config.output.segments_parquet)
        return folder

    def report(self, folder: str | Path, brand: str | Path | None = None) -> Path:
        """Write the run's files and report.html, report.pdf and personas/ into `folder`."""
        from .report.render import render_run

        folder = self.save(folder)
        render_run(self.analysis, folder, self.config, brand=brand)
        return folder / "report.html"

    def assign(self, data: Any) -> pd.DataFrame:
        """Score other customers (a path, a DataFrame or a URL) with this model, no refit:
        segments.csv's columns for each of them."""
        import pandas as pd

        from .scoring.model import model_parts
        from .scoring.score import score, segments_table

        source = _source(data, self.config)
        parts = model_parts(self.analysis.model)
        tables = []
        for frame, _rows in source.chunks(self.config.sampling.chunk_rows):
            scored = score(parts, frame.reset_index(drop=True), source.path).customers
            tables.append(segments_table(scored, parts))
        return pd.concat(tables, ignore_index=True)

    def _repr_html_(self) -> str:
        """The segments at a glance, self-contained (no scripts, styles or links out)."""
        rows = []
        for s in sorted(self.summary.segments, key=lambda s: -s.size):
            name = html.escape(s.persona.name if s.persona else f"Segment {s.id}")
            spend = f"{s.kpis.revenue_share:.0%}" if s.kpis else "–"
            first = s.recommendations[0].action if s.recommendations else "–"
            rows.append(
                f"<tr><td>{name}</td><td style='text-align:right'>{s.size:,}</td>"
                f"<td style='text-align:right'>{s.share:.0%}</td>"
                f"<td style='text-align:right'>{spend}</td><td>{html.escape(first)}</td></tr>"
            )
        head = (
            "<tr><th style='text-align:left'>Segment</th><th>Customers</th><th>Share</th>"
            "<th>Share of spend</th><th style='text-align:left'>First thing to do</th></tr>"
        )
        customers = self.summary.data_quality.rows_in
        return (
            f"<div><p><b>{self.summary.model.k} segments</b> of {customers:,} customers "
            f"({html.escape(Path(self.summary.run.input_path).name)})</p>"
            f"<table>{head}{''.join(rows)}</table></div>"
        )

    def __repr__(self) -> str:
        names = ", ".join(self.personas.values())
        return f"<reportgen.Result: {self.summary.model.k} segments: {names}>"


def segment(data: Any, config: Config | str | Path | None = None, **overrides: Any) -> Result:
    """Segment `data` — a file path, a pandas DataFrame, or a database URL (give `input=
    {"table": ...}` or `{"query": ...}`) — and return the result.

    `config` is a reportgen.toml path or a Config; `overrides` are config sections as
    dicts, e.g. `segment(df, clustering={"k": 4}, seed=7)`. No history is read or written.
    """
    from .pipeline import analyse

    cfg = _config(config, overrides)
    return Result(analyse(_source(data, cfg), cfg), cfg)


def load(folder: str | Path, config: Config | str | Path | None = None) -> Result:
    """A result saved by `Result.save` or written by `reportgen run`."""
    from .output.files import read_files

    return Result(read_files(Path(folder)), _config(config, {}))


# ------------------------------------------------------------------ the CLI's jobs


def run(
    data: str | Path | None = None,
    out: str | Path | None = None,
    config: Config | str | Path | None = None,
    *,
    period: str | None = None,
    report: bool = True,
    refit: bool = False,
    history: bool = True,
    progress: Progress | None = None,
    counter: Counter | None = None,
    **overrides: Any,
) -> Path:
    """The monthly job (`reportgen run`): analyse `data` and write a complete run folder.

    `data` is a file, a database URL (with `input={"table": ...}` or `{"query": ...}`) or,
    when None, `[input] url` or the bundled sample. `out` defaults to output/<period>/, the
    period to this month (YYYY-MM). With `history`, the run is compared with and recorded
    in history.db (segment identities carry over; `refit` fits anew and matches). Nothing
    is left behind by a failed run. Returns the folder.
    """
    from .assets import sample_data_path
    from .input.database import data_location
    from .ops.runner import run_job

    _not_a_frame(data, "run")
    cfg = _config(config, overrides)
    if not history:
        cfg.history.enabled = False
    period = _period(period)
    source = data_location(data if data is not None else cfg.input.url or sample_data_path())
    folder = Path(out) if out is not None else Path("output") / period
    return run_job(
        source, folder, cfg, progress, period, report=report, refit=refit, counter=counter
    )


def _not_a_frame(data: Any, job: str) -> None:
    if data is not None and not isinstance(data, str | Path):
        from .errors import InputError

        raise InputError(
            f"reportgen.{job}: data must be a file path or a database URL — for a DataFrame "
            "use reportgen.segment(df) (and .report(folder) for the files)"
        )


def _period(value: str | None) -> str:
    """`value` checked as YYYY-MM, or this month."""
    import re
    from datetime import date

    from .errors import InputError

    if value is None:
        return date.today().strftime("%Y-%m")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise InputError(f"--period {value!r}: write the period as YYYY-MM, e.g. 2026-11")
    return value


def validate(
    data: str | Path | None, config: Config | str | Path | None = None, **overrides: Any
) -> dict[str, Any]:
    """Check a file or a database table without fitting (`reportgen validate`): rows,
    columns matched, missing values, dates and `problems`; `ok` is False when `run` would
    stop. With `engine={"name": "spark"}`, `data` is what the Spark engine reads (a Parquet
    dataset, CSV files; None with `input={"table": ...}` for a table of the catalog)."""
    from .input.database import data_location
    from .input.load import validate_file

    _not_a_frame(data, "validate")
    cfg = _config(config, overrides)
    if cfg.engine.name == "spark":
        from .engine.spark import validate_table

        return validate_table(str(data) if data is not None else None, cfg)
    if data is None:
        from .errors import InputError

        raise InputError("validate: no data — give a file, or a database URL with a table")
    return validate_file(data_location(data), cfg)


def assign(
    model: str | Path,
    data: str | Path | None,
    out: str | Path,
    config: Config | str | Path | None = None,
    **overrides: Any,
) -> Assigned:
    """Score `data` with a saved model (a run folder or its model.json), no refit, into the
    CSV `out` (`reportgen assign`); written chunk by chunk, in place only when complete.
    With `engine={"name": "spark"}`, Spark scores `data` and `out` is a folder or URI for a
    Parquet dataset."""
    from .input.database import data_location
    from .ops.runner import assign_job

    _not_a_frame(data, "assign")
    cfg = _config(config, overrides)
    if cfg.engine.name == "spark":
        return assign_job(Path(model), str(data) if data is not None else None, str(out), cfg)
    if data is None:
        from .errors import InputError

        raise InputError("assign: no data — give --data (a file, or a database URL)")
    return assign_job(Path(model), data_location(data), Path(out), cfg)


def render(
    folder: str | Path,
    config: Config | str | Path | None = None,
    *,
    progress: Progress | None = None,
    **overrides: Any,
) -> RenderResult:
    """Re-render a finished run's report.html, report.pdf and personas/ from its saved
    result, without re-analysis (`reportgen render --from`)."""
    from .report.render import render_from

    return render_from(Path(folder), _config(config, overrides), progress=progress)


@dataclass
class RunHistory:
    """The runs recorded in one history database (`reportgen history`)."""

    path: Path
    runs: list[dict[str, Any]]

    def table(self) -> str:
        """The runs as the CLI prints them."""
        from .ops.history import format_runs

        return format_runs(self.runs)


def history(db: str | Path | None = None, config: Config | str | Path | None = None) -> RunHistory:
    """The recorded runs of `db` (default: `[history] db`, else output/history.db)."""
    from .ops.history import db_path, list_runs

    path = Path(db) if db is not None else db_path(_config(config, {}))
    return RunHistory(path, list_runs(path))


def send(
    run_dir: str | Path,
    to: list[str],
    cc: list[str] | None = None,
    config: Config | str | Path | None = None,
    *,
    subject: str | None = None,
    personas: bool = False,
    dry_run: bool = False,
    eml: str | Path | None = None,
    smtp: dict[str, Any] | None = None,
) -> Delivery:
    """E-mail a run's report.pdf (and persona PDFs) with a short summary (`reportgen send`);
    with `dry_run` write the message as .eml instead. `smtp` overrides `[smtp]`: host, port,
    starttls, use_ssl, user, sender. The password comes from REPORTGEN_SMTP_PASSWORD or
    `[smtp] password_file`."""
    from .ops.deliver import send_run, smtp_settings

    settings_config = _config(config, {}).smtp
    settings = smtp_settings(settings_config, **(smtp or {}))
    return send_run(
        Path(run_dir),
        list(to),
        list(cc or []),
        settings,
        settings_config,
        subject,
        personas,
        dry_run,
        Path(eml) if eml is not None else None,
    )


def synth(path: str | Path, rows: int = 2000, seed: int = 0, churn: bool = False) -> Path:
    """Write a synthetic customer table with the marketing-campaign schema (`reportgen
    synth`); the format follows the extension (.csv/.tsv tab-separated, .parquet, .xlsx)."""
    from .input.synth import write_synthetic

    return write_synthetic(path, rows, seed, churn)
