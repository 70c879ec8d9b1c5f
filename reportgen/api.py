"""The Python API: segment a table from a notebook or a script.

    >>> import reportgen
    >>> result = reportgen.segment("customers.csv")            # a path, a DataFrame or a URL
    >>> result.segments.head()                                  # segments.csv as a DataFrame
    >>> result.personas                                         # persona names by segment id
    >>> result.report("out/2026-11")                            # the files, HTML and PDF
    >>> result.assign(new_customers)                            # score with this model
    >>> result.save("runs/nov"); again = reportgen.load("runs/nov")

Everything goes through the same code as `reportgen run`; bad input raises
`reportgen.errors.InputError` with the CLI's one-line message.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .config import Config, load_config
from .result import Analysis, Summary


def _config(config: Config | str | Path | None, overrides: dict[str, Any]) -> Config:
    if isinstance(config, Config):
        merged = config.model_dump()
        for section, values in overrides.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
            else:
                merged[section] = values
        return Config.model_validate(merged)
    return load_config(config, overrides or None)


def _source(data: Any, config: Config):
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
