"""A run folder's files: summary.json, segments.csv (and .parquet), model.json, chart data.

`write_files` writes an `Analysis` into a folder, `read_files` reads it back without the
per-customer rows (what `render --from` needs); segments.csv is written slice by slice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..result import Analysis, Summary

if TYPE_CHECKING:
    import pandas as pd

#: Rows of segments.csv written at a time (bounded memory for the per-row text).
WRITE_ROWS = 500_000


#: a text cell starting with one of these is run as a formula by spreadsheets (OWASP CSV
#: injection); in a CSV such a cell gets a leading apostrophe
FORMULA_START = "^[=+\\-@\t\r]"


def neutralised(table):
    """`table` with every text cell that a spreadsheet would run as a formula prefixed with
    "'" (numbers are never touched: only string columns are looked at)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
        if pc.any(risky).as_py():
            quote, empty = pa.scalar("'", field.type), pa.scalar("", field.type)
            quoted = pc.binary_join_element_wise(quote, column, empty)
            table = table.set_column(i, field, pc.if_else(risky, quoted, column))
    return table


class SegmentsWriter:
    """Writes segments.csv (and optionally segments.parquet) slice by slice with pyarrow —
    about 7x faster than pandas for a million rows. Text is quoted, flags are True/False, and
    a text cell a spreadsheet would run as a formula starts with an apostrophe in the CSV
    (the Parquet file keeps the values as they are)."""

    def __init__(self, csv_path: Path, parquet_path: Path | None = None):
        self.csv_path, self.parquet_path = Path(csv_path), parquet_path
        self._csv = self._parquet = None
        self.rows = 0

    def write(self, rows: pd.DataFrame) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(rows, preserve_index=False)
        shown = neutralised(table)
        for name in ("excluded_from_fit", "data_issue"):  # flags spelled True/False
            if name in rows:
                shown = shown.set_column(
                    shown.schema.get_field_index(name),
                    name,
                    pa.array(np.where(rows[name].to_numpy(dtype=bool), "True", "False")),
                )
        if self._csv is None:
            self._csv = pacsv.CSVWriter(self.csv_path, shown.schema)
        self._csv.write_table(shown)
        if self.parquet_path is not None:
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.parquet_path, table.schema)
            self._parquet.write_table(table)
        self.rows += len(rows)

    def close(self) -> None:
        for writer in (self._csv, self._parquet):
            if writer is not None:
                writer.close()


def segments_frame(analysis: Analysis) -> pd.DataFrame:
    """segments.csv as one frame (small tables and tests; files are written in slices)."""
    from ..scoring.model import model_parts
    from ..scoring.score import segments_table

    return segments_table(
        analysis.customers, model_parts(analysis.model), analysis.summary.run.period
    )


def write_segments(
    analysis: Analysis, folder: Path, parquet: bool = False, run_id: int | None = None
) -> None:
    """segments.csv (and segments.parquet) in slices, so the text never exists for all rows;
    `run_id` is the history row of this run (None: not recorded)."""
    writer = SegmentsWriter(
        folder / "segments.csv", folder / "segments.parquet" if parquet else None
    )
    try:
        for rows in segment_slices(analysis, run_id):
            writer.write(rows)
    finally:
        writer.close()


def segment_slices(analysis: Analysis, run_id: int | None = None):
    """segments.csv's rows, WRITE_ROWS at a time (the text never exists for all rows)."""
    from ..scoring.model import model_parts
    from ..scoring.score import segments_table

    parts = model_parts(analysis.model)
    customers = analysis.customers
    for start in range(0, max(len(customers), 1), WRITE_ROWS):
        rows = customers.iloc[start : start + WRITE_ROWS]
        yield segments_table(rows, parts, analysis.summary.run.period, run_id)


def write_files(
    analysis: Analysis, folder: Path, segments_parquet: bool = False, run_id: int | None = None
) -> None:
    """Write summary.json, segments.csv, model.json, chart_sample.parquet, arrays.npz."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(analysis.summary.dumps() + "\n", encoding="utf-8")
    if analysis.scored is None:  # the Spark engine's executors write them (engine/spark.py)
        write_segments(analysis, folder, segments_parquet, run_id)
    (folder / "model.json").write_text(
        json.dumps(analysis.model, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    if analysis.chart_rows is not None:
        analysis.chart_rows.to_parquet(folder / CHART_FILE, index=False)
    np.savez_compressed(folder / "arrays.npz", **analysis.arrays)


#: per-customer chart data of a run folder (runs before the chart sample wrote customers.parquet)
CHART_FILE = "chart_sample.parquet"


def read_summary(folder: Path) -> Summary:
    """The summary.json of a run folder."""
    return Summary.loads((folder / "summary.json").read_text(encoding="utf-8"))


def read_files(folder: Path, summary: Summary | None = None) -> Analysis:
    """Read a run folder written by `write_files` (reusing `summary` when already read)."""
    import numpy as np
    import pandas as pd

    from ..scoring.model import read_model

    summary = summary or read_summary(folder)
    chart_path = folder / CHART_FILE
    if not chart_path.exists():
        chart_path = folder / "customers.parquet"
    chart = pd.read_parquet(chart_path)
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    model = read_model(folder / "model.json")
    return Analysis(
        summary=summary, customers=pd.DataFrame(), chart_rows=chart, arrays=arrays, model=model
    )
