"""The Spark engine: the same job on a table Spark reads (README, "Scaling out").

Nothing here is a second implementation of the analysis. Spark reads the table and splits it
into partitions; on each partition an executor runs the local engine's own functions on the
partition's Arrow batches: the column conversion and checks of input/load.py, the bottom-k
sample of input/scan.py, `score` and `SegmentTotals` of scoring/. Only bounded things come
back to the driver: per-partition counts and totals, and the fit sample (at most
`sampling.fit_rows` rows, the same rows the local engine draws). The per-customer results
are written as Parquet by the executors, one file per partition, and never collected.

The passes over the table:

1. rows per partition (in the JVM; it numbers each row, so a bad value is named by its row
   as the local engine names it);
2. the scan: every partition converted and checked, counted, its bottom-k sample kept;
   the partial scans merged on the executors (treeReduce), so the driver receives one;
3. repeated customer ids (in the JVM);
4. score and summarise: each partition scored, its segments written, its totals returned.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import pickle
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..config import Config
from ..describe.changes import Crossed
from ..errors import InputError, Unreachable
from ..fitting.identity import PreviousRun
from ..input.load import (
    CHUNK_ROWS,
    TEXT_EXTENSIONS,
    Table,
    _fixed_format,
    _Issues,
    _match_columns,
    _sniff_text,
    check_filled,
    no_data_rows,
)
from ..input.scan import BottomK, Scan, StratifiedBottomK, latest_enrolled, new_sampler
from ..scoring.aggregates import NearCounts, SegmentTotals
from ..scoring.model import ModelParts
from ..scoring.score import fitted_design, score, segments_table

EXTRA = 'pip install "reportgen[spark]"'
#: the input format of CSV files read by Spark (summary.json's run.input_format)
CSV = "csv (Spark)"
#: the folder of per-customer results in a run folder written by the Spark engine (the
#: columns of segments.csv, one Parquet file per partition of the table)
SEGMENTS_DIR = "segments"


# ------------------------------------------------------------------------ the session


def start(config: Config):
    """The Spark session of `[engine]` (an active one is reused); (session, started_here)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            f"--engine spark needs PySpark, which is not installed — {EXTRA} (Spark also "
            "needs Java 17)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    master = config.engine.master
    if master.startswith("local") and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise InputError(
            "--engine spark needs Java 17, which was not found — install it (Debian/Ubuntu: "
            "apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    logging = f"-Dlog4j2.configurationFile=file:{Path(__file__).with_name('log4j2.properties')}"
    settings = {
        "spark.driver.extraJavaOptions": logging,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **({"spark.pyspark.python": sys.executable} if master.startswith("local") else {}),
        **config.engine.settings,
    }
    builder = SparkSession.builder.master(master).appName("reportgen")
    for key, value in settings.items():
        builder = builder.config(key, value)
    # "PySpark does not yet fully support pandas >= 3": the engine's tests run on it
    warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j / PySpark raise many kinds for an unreachable master
        raise Unreachable(
            f"Spark master {master}: cannot start a session ({_first_line(exc)}) — check "
            "[engine] master and that the cluster is running"
        ) from None
    session.sparkContext.setLogLevel("ERROR")
    return session, True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class TaskFailed(RuntimeError):
    """reportgen's own code failed in a Spark task: a bug (exit 1)."""


def _action(rows, what: str):
    """Run a Spark action; see `SparkSource._run`."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException, PythonException

    try:
        return rows()
    except PythonException as exc:  # raised in a pandas/Arrow function of a task
        raise TaskFailed(f"{what}: a task failed\n{exc}") from None
    except Py4JJavaError as exc:  # an RDD task, or the JVM's own failure
        cause, python = exc.java_exception, None
        while cause is not None:
            if "PythonException" in cause.getClass().getName():
                python = cause
            root, cause = cause, cause.getCause()
        if python is not None:
            raise TaskFailed(f"{what}: a task failed\n{python.getMessage()}") from None
        message = (root.getMessage() or root.getClass().getSimpleName()).strip()
        raise InputError(f"{what} ({message.splitlines()[0]}) — check the files") from None
    except PySparkException as exc:  # AnalysisException and the like, raised by the driver
        raise InputError(f"{what} ({_first_line(exc)}) — check the files") from None


# ------------------------------------------------------------------------ reading


def _csv_missing(data: pd.DataFrame) -> pd.DataFrame:
    """Text Spark read from CSV, with the cells pandas' reader (the local engine's) takes for
    missing — "NA", "N/A", "null", "NaN", ... — as missing."""
    from pandas._libs.parsers import STR_NA_VALUES

    for column in data.columns:
        values = data[column]
        if not pd.api.types.is_numeric_dtype(values.dtype):
            data[column] = values.mask(values.isin(STR_NA_VALUES))
    return data


class _ArrowRows:
    """A partition's Arrow batches as raw chunks (input/load.py's `Table.database` hook)."""

    def __init__(self, batches, first_row: int, csv: bool = False):
        self.batches, self.first_row, self.csv = batches, first_row, csv

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        row = self.first_row
        for batch in self.batches:
            if batch.num_rows == 0:
                continue
            data = batch.to_pandas()
            data.columns = range(data.shape[1])
            yield _csv_missing(data) if self.csv else data, np.arange(row, row + len(data))
            row += len(data)


class _Rows:
    """Rows already on the driver, with their row numbers, as one raw chunk."""

    def __init__(self, data: pd.DataFrame, numbers: np.ndarray):
        self.data, self.numbers = data, numbers

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        if len(self.data):
            yield self.data, self.numbers


@dataclass
class _Job:
    """What every task needs (pickled with the task)."""

    table: Table
    config: Config
    offsets: dict[int, int]
    sample_rows: int = 0
    parts: ModelParts | None = None
    source: str = ""
    out: str = ""
    period: str = ""

    def chunks(self, batches) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """The partition's rows converted and checked by the local engine's code; row
        numbers count the header as row 1, as the local engine's do."""
        first = self.offsets.get(_pid(), 0) + 2
        rows = _ArrowRows(batches, first, csv=self.table.fmt == CSV)
        table = dataclasses.replace(self.table, database=rows)
        yield from table.chunks(self.config, _Issues(strict=True), None)


def _pid() -> int:
    from pyspark import TaskContext

    return TaskContext.get().partitionId()


def _one(payload: Any):
    import pyarrow as pa

    return pa.RecordBatch.from_pydict({"part": [pickle.dumps(payload, protocol=5)]})


_Sampler = BottomK | StratifiedBottomK


@dataclass
class _ScanPart:
    rows: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    latest: pd.Timestamp | None = None
    sampler: _Sampler | None = None
    #: (partition, message) of the first bad value in the earliest partition that had one
    error: tuple[int, str] | None = None

    def merge(self, other: _ScanPart) -> _ScanPart:
        errors = [e for e in (self.error, other.error) if e is not None]
        missing = dict(self.missing)
        for column, n in other.missing.items():
            missing[column] = missing.get(column, 0) + n
        latests = [t for t in (self.latest, other.latest) if t is not None]
        return _ScanPart(
            self.rows + other.rows,
            missing,
            max(latests) if latests else None,
            _merge_samplers(self.sampler, other.sampler),
            min(errors) if errors else None,
        )


def _merge_samplers(a: _Sampler | None, b: _Sampler | None) -> _Sampler | None:
    return b if a is None else a if b is None else a.merge(b)


def _scan_partition(job: _Job, batches):
    sampling = job.config.sampling
    part = _ScanPart(sampler=new_sampler(job.sample_rows, job.config.seed, sampling.strata))
    position = job.offsets.get(_pid(), 0)
    try:
        for frame, _numbers in job.chunks(batches):
            part.sampler.add(frame.reset_index(drop=True), position + part.rows)
            part.rows += len(frame)
            for column, n in frame.isna().sum().items():
                part.missing[column] = part.missing.get(column, 0) + int(n)
            latest = latest_enrolled(frame)
            if latest is not None and (part.latest is None or latest > part.latest):
                part.latest = latest
        part.sampler.compact()  # what travels is bounded by the sample
    except InputError as exc:
        part = _ScanPart(error=(_pid(), str(exc)))
    yield _one(part)


def _write_parquet(path: str, frames: Iterator[pd.DataFrame]) -> int:
    """`frames` as one Parquet file, in place only when complete (a retried or speculative
    task writes its own temporary file); the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    folder, name = os.path.split(path)
    # hidden from Spark, pyarrow and pandas (a leading "_"), and one per task attempt
    tmp = os.path.join(folder, f"_tmp-{name}-{TaskContext.get().taskAttemptId()}")
    writer = None
    rows = 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += len(frame)
        if writer is not None:
            writer.close()
            writer = None
            os.replace(tmp, path)
        return rows
    finally:
        if writer is not None:
            writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def _score_partition(job: _Job, batches):
    """Score the partition, write its scored customers (compact, as `score` gives them),
    return its totals."""
    assert job.parts is not None
    ids = job.parts.ids.tolist()
    found: dict[str, Any] = {"totals": None, "near": None}

    def scored() -> Iterator[pd.DataFrame]:
        for frame, _numbers in job.chunks(batches):
            result = score(job.parts, frame.reset_index(drop=True), job.source)
            chunk = SegmentTotals.of_scored(result, ids, job.config.kpis.retention_recency_days)
            counts = NearCounts.of(result.customers)
            if found["totals"] is None:
                found["totals"], found["near"] = chunk, counts
            else:
                found["totals"] = found["totals"].merge(chunk)
                found["near"] = found["near"].merge(counts)
            yield result.customers

    name = f"part-{_pid():05d}.parquet"
    try:
        rows = _write_parquet(os.path.join(job.out, name), scored())
    except InputError as exc:
        yield _one({"error": (_pid(), str(exc))})
        return
    except OSError as exc:  # a full disk, a folder the executor cannot write
        yield _one({"oserror": (_pid(), exc.errno, str(exc))})
        return
    yield _one({**found, "file": name if rows else None, "rows": rows})


def _design_partition(job: _Job, batches):
    """The design rows K-Means is fitted on, of one partition."""
    import pyarrow as pa

    assert job.parts is not None
    for frame, _numbers in job.chunks(batches):
        X = fitted_design(job.parts, frame.reset_index(drop=True), job.source)
        values = pa.array(X.ravel(), pa.float64())
        width = X.shape[1]
        offsets = pa.array(np.arange(0, len(X) * width + 1, width, dtype=np.int32))
        yield pa.RecordBatch.from_arrays([pa.ListArray.from_arrays(offsets, values)], ["x"])


def _segments_file(scored: str, dest: str, parts: ModelParts, period: str, run_id, rows: int):
    """One partition's scored customers as segments rows (input/score.py's
    `segments_table`, the columns of segments.csv), `rows` at a time."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(scored)
    frames = (
        segments_table(batch.to_pandas(), parts, period, run_id)
        for batch in source.iter_batches(batch_size=rows)
    )
    try:
        rows = _write_parquet(os.path.join(dest, os.path.basename(scored)), frames)
    except OSError as exc:
        return [(os.path.basename(scored), -1, str(exc))]
    return [(os.path.basename(scored), rows, "")]


class SparkSource:
    """A customer table read by Spark: a Parquet dataset (a folder, partitioned or not), CSV
    files (a file, a folder or a glob) or a table of the Spark catalog."""

    engine = "spark"

    def __init__(self, data: str | None, config: Config, session, table: str | None = None):
        self.config, self.spark = config, session
        # one Arrow batch is one of the local engine's chunks: the same memory bound per task
        batch = config.sampling.chunk_rows or 0  # 0: a partition in one batch
        key = "spark.sql.execution.arrow.maxRecordsPerBatch"
        session.conf.set(key, config.engine.settings.get(key, str(batch)))
        # dates and times as the local engine reads them, whatever session is reused
        session.conf.set("spark.sql.session.timeZone", "UTC")
        name = table or config.input.table
        meta = None
        if config.input.query:
            raise InputError(
                "--query: not with --engine spark — give --table for a table of the Spark "
                "catalog, or run a database query with the local engine"
            )
        if data and _DATABASE.match(str(data)):
            raise InputError(
                f"{_DATABASE.match(str(data)).group(0)}: a database URL — the Spark engine "
                "reads Parquet, CSV and catalog tables; use the local engine for a database"
            )
        if name:
            frame, file, fmt = self._catalog(name), name, "table (Spark)"
            headers = [str(c).strip() for c in frame.columns]
        else:
            if not data:
                raise InputError("no input — give --data (a Parquet dataset, CSV files) or --table")
            file = str(data)
            local = _local_files(file)
            if _is_parquet(file, local):
                frame, fmt = self._read(lambda r: r.parquet(file), file), "parquet (Spark)"
                headers = [str(c).strip() for c in frame.columns]
            else:
                if not local:
                    raise InputError(
                        f"{file}: no such file or folder — give a Parquet dataset, CSV "
                        "files or a glob (e.g. 'customers/*.csv')"
                    )
                meta = _sniff_text(Path(local[0]), local[0], config)
                options = {
                    "header": True,
                    "sep": meta.delimiter or ",",
                    "inferSchema": False,
                    "escape": '"',
                    "encoding": "UTF-8",
                    # a short or long line ends the run, as with the local engine; every
                    # file's header must be the first file's
                    "mode": "FAILFAST",
                    "enforceSchema": False,
                }
                frame = self._read(lambda r: r.options(**options).csv(file), file)
                headers, fmt = meta.headers, CSV
        if "__index_level_0__" in frame.columns:  # pandas' index, written by to_parquet
            frame = frame.drop("__index_level_0__")
            headers = [h for h in headers if h != "__index_level_0__"]
        self.frame, self.file = frame, file
        matched, extras, missing_required, missing_optional = _match_columns(
            headers, config.columns, file, _Issues(strict=True)
        )
        self.table = Table(
            Path("."),
            file,
            fmt,
            _fingerprint(frame, file),
            headers,
            matched,
            extras,
            missing_required,
            missing_optional,
            meta,
        )
        self.offsets: dict[int, int] = {}
        self.rows = 0
        self.job: _Job | None = None
        #: where the executors write the scored customers (a staging folder of the run)
        self.scored_dir: Path | None = None
        self.scored: list[str] = []

    #: what the run's input_sha256 hashes
    fingerprint_of = "of the files' names, sizes and modification times, not of the rows"
    #: where the segments are in the run folder (Parquet, one file per partition)
    segments_file = f"{SEGMENTS_DIR}/"

    @property
    def path(self) -> str:
        return self.file

    def description(self) -> str:
        """'Spark 4.0.1 (local[2], 7 partitions)'."""
        partitions = len(self.offsets) or self.frame.rdd.getNumPartitions()
        master = self.spark.sparkContext.master
        plural = "s" if partitions != 1 else ""
        return f"Spark {self.spark.version} ({master}, {partitions:,} partition{plural})"

    def _open(self, how, name: str, problem: str, fix: str):
        """A DataFrame from Spark's reader; a path or table it cannot open is one line."""
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        try:
            return how()
        except (PySparkException, Py4JJavaError) as exc:
            raise InputError(f"{name}: {problem} ({_first_line(exc)}) — {fix}") from None

    def _catalog(self, name: str):
        no_table = "no such table in the Spark catalog"
        return self._open(lambda: self.spark.table(name), name, no_table, "check database.table")

    def _read(self, how, file: str):
        fix = "give a Parquet dataset or CSV files"
        return self._open(lambda: how(self.spark.read), file, "Spark cannot read it", fix)

    # -------------------------------------------------------------------- the passes

    def _run(self, rows, what: str):
        """An action. Spark's own failures (a file it cannot read, a malformed CSV record)
        end in one line (exit 2); a failure of reportgen's code in a task is a bug (exit 1,
        with the task's traceback); anything else is raised as it is."""
        return _action(rows, f"{self.file}: Spark could not {what}")

    def scan(self, sample_rows: int, seed: int, chunk_rows=None, progress=None) -> Scan:
        """Pass 1-3: number the rows, check and count them, draw the sample, refuse
        repeated ids."""
        from pyspark.sql import functions as F

        frame = self.frame
        counts = self._run(
            lambda: dict(
                frame.select(F.spark_partition_id().alias("p")).groupBy("p").count().collect()
            ),
            "count the rows",
        )
        total = 0
        for p in range(frame.rdd.getNumPartitions()):
            self.offsets[p], total = total, total + int(counts.get(p, 0))
        config = self._with_date_format(self.config)
        job = _Job(self.table, config, self.offsets, sample_rows)
        schema_ = "part binary"
        merged = _ScanPart()  # a table of no partitions has no rows
        if self.offsets:
            merged = self._run(
                lambda: (
                    frame.mapInArrow(lambda b: _scan_partition(job, b), schema_)
                    .rdd.map(lambda r: pickle.loads(r[0]))
                    .treeReduce(lambda a, b: a.merge(b))
                ),
                "read the rows",
            )
        if merged.error is not None:
            raise InputError(merged.error[1])
        issues = _Issues(strict=True)
        if self.table.headers and merged.rows == 0 and not self.table.missing_required:
            raise InputError(no_data_rows(self.file))
        check_filled(merged.missing, merged.rows, self.file, issues)
        if schema.ID in self.table.matched:
            self._unique_ids()
        if progress is not None:
            progress(merged.rows)
        self.job, self.rows = job, merged.rows
        sample = merged.sampler.result()[0] if merged.sampler else pd.DataFrame()
        info = self.table.info(merged.rows, merged.missing)
        return Scan(info, merged.rows, sample, merged.latest)

    def _numbered(self, column, starts: dict[int, int]):
        """`column` and each row's position in read order (`row`, 0 = the first row), for
        the partitions in `starts` (partition -> rows before it)."""
        from pyspark.sql import functions as F

        p = F.spark_partition_id()
        within = F.monotonically_increasing_id() - F.shiftleft(p.cast("long"), 33)
        pairs = [F.lit(x) for item in sorted(starts.items()) for x in item]
        before = F.try_element_at(F.create_map(*pairs), p) if pairs else F.lit(None)
        return self.frame.select(column, (before + within).alias("row")).where(
            F.col("row").isNotNull()
        )

    def _with_date_format(self, config: Config) -> Config:
        """The enrollment-date format, found on the first chunk of rows as the local engine
        finds it (its dates only come to the driver, in read order), then required of
        every partition."""
        from pyspark.sql import functions as F

        self.table.date_format = config.input.date_format
        if schema.ENROLLED not in self.table.matched or config.input.date_format:
            return config
        column = self.frame.columns[self.table.matched[schema.ENROLLED]]
        chunk = config.sampling.chunk_rows or CHUNK_ROWS
        starts = {p: s for p, s in self.offsets.items() if s < chunk}
        dates = self._run(
            lambda: (
                self._numbered(F.col(f"`{column}`").alias("d"), starts)
                .where(F.col("row") < chunk)
                .toArrow()
            ),
            "read the first rows",
        ).to_pandas()
        dates = dates.sort_values("row")
        raw = pd.DataFrame({self.table.matched[schema.ENROLLED]: dates["d"].to_numpy()})
        if self.table.fmt == CSV:
            raw = _csv_missing(raw)
        head = dataclasses.replace(
            self.table,
            matched={schema.ENROLLED: self.table.matched[schema.ENROLLED]},
            database=_Rows(raw, dates["row"].to_numpy() + 2),
        )
        for _ in head.chunks(config, _Issues(strict=True), None):
            pass  # a date no format reads, or an ambiguous column, fails here with its row
        self.table.date_format = head.date_format
        fixed = _fixed_format(head.date_format)
        if fixed is None:
            return config
        return config.model_copy(
            update={"input": config.input.model_copy(update={"date_format": fixed})}
        )

    def _unique_ids(self) -> None:
        """Every customer id once, compared as the loader reads them (input/load.py's
        `_to_id`: stripped, and 5524.0 is 5524 when every id is a whole number); the
        message is the local engine's `check_unique_ids`."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegralType

        column = self.frame.columns[self.table.matched[schema.ID]]
        raw = F.col(f"`{column}`")
        if isinstance(self.frame.schema[column].dataType, IntegralType):
            ids = self._numbered(raw.cast("string").alias("id"), self.offsets)
        else:
            text = F.regexp_replace(raw.cast("string"), r"(?U)^\s+|\s+$", "")
            ids = self._numbered(text.alias("id"), self.offsets).where(F.col("id") != "")
            whole = r"^-?(?:0|[1-9]\d{0,17})(?:\.0+)?$"
            other = self._run(
                lambda: ids.where(~F.col("id").rlike(whole)).limit(1).count(),
                "compare the customer ids",
            )
            if not other:  # every id a whole number: 5524.0 is the id 5524
                ids = ids.withColumn("id", F.regexp_replace("id", r"\.0+$", ""))
        repeated = self._run(
            lambda: (
                ids.groupBy("id")
                .agg(F.count("*").alias("n"), F.min("row").alias("first"))
                .filter("n > 1")
                .orderBy("first")
                .limit(1)
                .collect()
            ),
            "compare the customer ids",
        )
        if not repeated:
            return
        first, n = repeated[0]["id"], int(repeated[0]["n"])
        rows = ids.filter(F.col("id") == first).orderBy("row").limit(5).collect()
        listed = ", ".join(str(r["row"] + 2) for r in rows)
        more = f" and {n - 5} more" if n > 5 else ""
        raise InputError(
            f"{self.file}: column {schema.ID}: customer id {first} appears more than once "
            f"(rows {listed}{more}) — ids must be unique; remove or fix the duplicate rows"
        )

    def score_all(
        self, parts: ModelParts, config: Config, period: str | None
    ) -> tuple[SegmentTotals, NearCounts]:
        """Pass 4: score every partition with `parts`, write `scored_dir/part-*.parquet`
        (the scored customers, one file per partition) and merge the partitions' totals."""
        assert self.job is not None, "scan first"
        if self.scored_dir is None:
            raise ValueError(
                "SparkSource.scored_dir: where the executors write the scored customers"
            )
        out = self.scored_dir
        out.mkdir(parents=True, exist_ok=True)
        job = dataclasses.replace(
            self.job, parts=parts, source=self.file, out=str(out), period=period or ""
        )
        results = self._run(
            lambda: (
                self.frame.mapInArrow(lambda b: _score_partition(job, b), "part binary")
                .rdd.map(lambda r: pickle.loads(r[0]))
                .collect()
            ),
            "score the rows",
        )
        errors = sorted(r["error"] for r in results if "error" in r)
        if errors:
            raise InputError(errors[0][1])
        failed = [r["oserror"] for r in results if "oserror" in r]
        if failed:
            raise InputError(
                f"{out}: an executor could not write the scored customers ({failed[0][2]}) "
                "— free some space or choose another --out; nothing was changed"
            )
        done = [r for r in results if r.get("file")]
        _check_written(out, {r["file"]: r["rows"] for r in done}, self.rows)
        self.scored = [str(out / r["file"]) for r in done]
        totals = near = None
        for r in results:  # in partition order: the sums are the same from run to run
            if r.get("totals") is None:
                continue
            totals = r["totals"] if totals is None else totals.merge(r["totals"])
            near = r["near"] if near is None else near.merge(r["near"])
        assert totals is not None and near is not None
        return totals, near

    def fit_all(self, blank: ModelParts, k: int) -> tuple[np.ndarray, np.ndarray]:
        """K-Means with Spark MLlib (k-means||) on the design rows of every customer inside
        the outlier limits, computed on the executors by `fitted_design` (`[engine] fit =
        "all"`); (centroids, sizes). The rows are cached for MLlib's iterations."""
        from pyspark import StorageLevel
        from pyspark.ml.clustering import KMeans
        from pyspark.ml.functions import array_to_vector

        assert self.job is not None, "scan first"
        job = dataclasses.replace(self.job, parts=blank, source=self.file)
        rows = self.frame.mapInArrow(lambda b: _design_partition(job, b), "x array<double>")
        rows = rows.select(array_to_vector("x").alias("features"))
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
        best = None
        try:
            # as the local fit: clustering.n_init starts, the lowest within-segment sum of
            # squares kept; scikit-learn's 300 iterations and tolerance 1e-4 at most
            for start in range(self.config.clustering.n_init):
                kmeans = KMeans(
                    k=k, seed=self.config.seed + start, initMode="k-means||", maxIter=300, tol=1e-4
                )
                model = self._run(lambda m=kmeans: m.fit(rows), "fit K-Means on every row")
                if best is None or model.summary.trainingCost < best.summary.trainingCost:
                    best = model
        finally:
            rows.unpersist()
        assert best is not None
        centres = np.array([np.asarray(c) for c in best.clusterCenters()], dtype=float)
        if len(centres) != k:
            raise InputError(
                f"{self.file}: Spark MLlib found only {len(centres)} distinct segment centres "
                f'for k = {k} (too few distinct customers) — set [engine] fit = "sample"'
            )
        return centres, np.asarray(best.summary.clusterSizes, dtype=np.int64)

    def cross(self, previous: PreviousRun) -> Crossed:
        """This run's customers against the previous run's, joined in Spark: only the
        (previous, current) counts come back to the driver."""
        from pyspark.sql import functions as F

        now = self.spark.read.parquet(*self.scored).select(
            F.col("customer_id").cast("string").alias("customer_id"),
            F.col("segment").cast("long").alias("now"),
        )
        before = _previous_segments(self.spark, previous)
        rows = self._run(
            lambda: (
                now.join(before, "customer_id", "full_outer")
                .groupBy("before", "now")
                .count()
                .collect()
            ),
            "compare with the previous run's segments",
        )
        pairs = {
            (int(r["before"]), int(r["now"])): int(r["count"])
            for r in rows
            if r["before"] is not None and r["now"] is not None
        }
        new = sum(int(r["count"]) for r in rows if r["before"] is None)
        departed = sum(int(r["count"]) for r in rows if r["now"] is None)
        return Crossed(pairs, new, departed)


def _previous_segments(session, previous: PreviousRun):
    """customer_id, before: the previous run's segments (its folder's segments/ when the
    Spark engine wrote it, else the rows history.db holds)."""
    from pyspark.sql import functions as F

    if previous.segments_folder is not None:
        rows = session.read.parquet(previous.segments_folder)
    else:
        rows = session.createDataFrame(
            pd.DataFrame(
                {
                    "customer_id": previous.assignments.index.astype(str),
                    "segment": previous.assignments.to_numpy(dtype="int64"),
                }
            )
        )
    return rows.select(
        F.col("customer_id").cast("string").alias("customer_id"),
        F.col("segment").cast("long").alias("before"),
    )


#: SQLAlchemy URLs (the local engine's databases), not file systems Spark reads
_DATABASE = re.compile(r"^(sqlite|postgres(ql)?|mysql|mariadb|mssql|oracle)(\+\w+)?:")


def _local_files(data: str) -> list[str]:
    """The local files `data` names (a file, a folder's files, a glob); [] for a URI."""
    if "://" in data and not data.startswith("file://"):
        return []
    path = data.removeprefix("file://")
    if os.path.isdir(path):
        hidden = (".", "_")  # Spark's _SUCCESS, .crc files
        files = Path(path).rglob("*")
        return sorted(str(p) for p in files if p.is_file() and not p.name.startswith(hidden))
    if glob.has_magic(path):
        return sorted(glob.glob(path))
    return [path] if os.path.isfile(path) else []


def _is_parquet(data: str, local: list[str]) -> bool:
    """CSV when the files (or the URI) end in .csv/.tsv/.txt, else a Parquet dataset."""
    if local:
        return not any(f.lower().endswith(TEXT_EXTENSIONS) for f in local)
    return not data.lower().rstrip("/").endswith(TEXT_EXTENSIONS)


def _fingerprint(frame, file: str) -> str:
    """The input's identity: its files' names, sizes and modification times (a hash of
    every byte would be another full read of a data lake)."""
    digest = hashlib.sha256(file.encode())
    try:
        names = sorted(frame.inputFiles())
    except Exception:
        names = []
    for name in names:
        digest.update(name.encode())
        local = name.removeprefix("file://")
        if os.path.exists(local):
            stat = os.stat(local)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def write_segments(
    session, scored: list[str], model: dict, dest: Path, period: str | None, run_id, rows: int
) -> int:
    """Pass 5, once the model is final (persona names, actions, its version, the history
    run id): each scored file becomes `dest/part-*.parquet` with segments.csv's columns, one
    task per file on the executors. Returns the number of customers written."""
    from ..scoring.model import model_parts

    parts = model_parts(model)
    dest.mkdir(parents=True, exist_ok=True)
    if not scored:
        return 0
    import pyarrow.parquet as pq

    expected = sum(pq.ParquetFile(f).metadata.num_rows for f in scored)
    written = _action(
        lambda: (
            session.sparkContext.parallelize(scored, len(scored))
            .flatMap(lambda f: _segments_file(f, str(dest), parts, period or "", run_id, rows))
            .collect()
        ),
        f"{dest}: Spark could not write the segments",
    )
    failed = [w for w in written if w[1] < 0]
    if failed:
        raise OSError(f"an executor could not write {failed[0][0]} ({failed[0][2]})")
    _check_written(dest, {name: n for name, n, _ in written}, expected)
    return expected


def _check_written(folder: Path, files: dict[str, int], rows: int) -> None:
    """The files the tasks say they wrote are all in `folder` (seen from the driver) and
    hold every row; temporary files of failed or speculative attempts are removed."""
    for stray in folder.glob("_tmp-*"):
        stray.unlink(missing_ok=True)
    missing = [name for name in files if not (folder / name).is_file()]
    if missing or sum(files.values()) != rows:
        raise InputError(
            f"{folder}: the executors' files are not all there ({len(missing)} of "
            f"{len(files)} missing, {sum(files.values()):,} of {rows:,} rows) — with a "
            "cluster, --out must be a folder every executor and this machine share"
        )
