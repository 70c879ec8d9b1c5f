"""The Spark engine (`run --engine spark`) in local mode: the same results as the local engine.

The tests start one local Spark session (Java 17 and PySpark, installed by `.ci/run`) and
stop it at the end. Files are split into many small partitions so that merging partial
scans and totals, and numbering rows across partitions, are what is tested.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from monthly_helpers import REAL_TOML, invoke, skip_tsne
from sklearn.metrics import adjusted_rand_score

from reportgen.config import load_config

if shutil.which("java") is None:
    pytest.skip("Java 17 not installed (.ci/run installs it)", allow_module_level=True)
pytest.importorskip("pyspark")

#: facts of the run itself, not results: they may differ between engines
RUN_FACTS = {
    *("input_path", "input_sha256", "input_format", "fingerprint_of", "config", "timings"),
    *("started_at", "engine", "segments_file"),
}


@pytest.fixture(scope="module")
def session():
    from reportgen.engine import spark

    started, own = spark.start(load_config(overrides={"engine": {"master": "local[2]"}}))
    # small partitions: the real file (220 kB) is read in seven of them
    started.conf.set("spark.sql.files.maxPartitionBytes", "32k")
    started.conf.set("spark.sql.files.openCostInBytes", "0")
    yield started
    if own:
        started.stop()


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    skip_tsne(monkeypatch)
    path = tmp_path / "real.toml"
    path.write_text(REAL_TOML, encoding="utf-8")
    return path


def _run(data, out: Path, config: Path, *extra: str):
    args = ["--quiet", "--config", config, "run", "--data", data, "--out", out]
    return invoke([*args, "--no-history", "--no-report", *extra])


def _differences(a, b, path="") -> list[str]:
    """Where two summaries differ: exact for text and integers, 1e-9 relative for floats."""
    if isinstance(a, dict):
        keys = set(a) | set(b)
        if path == "/run":
            keys -= RUN_FACTS
        return [d for k in sorted(keys) for d in _differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        same = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
        return [] if same else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _compare(local: Path, spark: Path) -> float:
    """ARI of the two runs' segments; asserts that the summaries are the same."""
    a = json.loads((local / "summary.json").read_text())
    b = json.loads((spark / "summary.json").read_text())
    assert b["run"]["config"]["engine"]["name"] == "spark"
    assert not _differences(a, b), _differences(a, b)[:10]
    mine = pd.read_csv(local / "segments.csv", dtype={"customer_id": str})
    theirs = pd.read_parquet(spark / "segments")
    assert list(theirs.columns) == list(mine.columns)
    both = mine.merge(theirs, on="customer_id")
    assert len(both) == len(mine) == len(theirs)
    assert (both["persona_x"] == both["persona_y"]).all()
    return adjusted_rand_score(both["segment_x"], both["segment_y"])


def test_the_real_file_gives_the_local_engine_s_segments_and_figures(
    session, real_file, config, tmp_path
):
    assert _run(real_file, tmp_path / "local", config).exit_code == 0
    result = _run(real_file, tmp_path / "spark", config, "--engine", "spark")
    assert result.exit_code == 0, result.output
    parts = sorted((tmp_path / "spark" / "segments").glob("part-*.parquet"))
    assert len(parts) >= 5  # scored partition by partition
    assert _compare(tmp_path / "local", tmp_path / "spark") == 1.0
    assert not list(tmp_path.glob(".spark.partial-*"))  # the staging folder is gone


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """30,000 synthetic customers as one TSV file and as a hive-partitioned Parquet dataset
    of 4,000-row files; a config with a 5,000-row fit sample and 1,000-row chunks."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from reportgen.input.synth import generate

    folder = tmp_path_factory.mktemp("lake")
    frame = generate(30_000, seed=3)
    frame.to_csv(folder / "all.tsv", sep="\t", index=False)
    ds.write_dataset(
        pa.Table.from_pandas(frame, preserve_index=False),
        folder / "lake",
        format="parquet",
        partitioning=["Education"],
        partitioning_flavor="hive",
        max_rows_per_group=4_000,
        max_rows_per_file=4_000,
    )
    (folder / "c.toml").write_text(REAL_TOML + "[sampling]\nfit_rows = 5000\nchunk_rows = 1000\n")
    return folder


def test_a_partitioned_parquet_dataset_larger_than_the_sample(session, lake, tmp_path, monkeypatch):
    """The sample of a dataset larger than it, hence the model and every figure, are the
    local engine's; nothing per customer is collected to the driver."""
    from pyspark import RDD
    from pyspark.sql.classic.dataframe import DataFrame  # the class sessions make

    skip_tsne(monkeypatch)
    config = lake / "c.toml"
    assert _run(lake / "all.tsv", tmp_path / "local", config).exit_code == 0
    collected: list[int] = []
    pulls = [(DataFrame, "collect"), (DataFrame, "toArrow"), (DataFrame, "toPandas")]
    for cls, name in [*pulls, (RDD, "collect")]:
        real = getattr(cls, name)

        def counted(self, *args, _real=real, **kwargs):
            out = _real(self, *args, **kwargs)
            collected.append(out.num_rows if hasattr(out, "num_rows") else len(out))
            return out

        monkeypatch.setattr(cls, name, counted)
    result = _run(lake / "lake", tmp_path / "spark", config, "--engine", "spark")
    assert result.exit_code == 0, result.output
    # the most that came back: the first chunk's enrollment dates (for the date format)
    assert collected and max(collected) <= 1000, collected
    summary = json.loads((tmp_path / "spark" / "summary.json").read_text())
    assert summary["run"]["rows"]["rows_in_fit_sample"] == 5000
    assert _compare(tmp_path / "local", tmp_path / "spark") == 1.0


def _broken(real_file: Path, tmp_path: Path, change) -> Path:
    frame = pd.read_csv(real_file, sep="\t", dtype=str, keep_default_na=False)
    frame = change(frame)
    path = tmp_path / "broken.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return path


def _set(row: int, column: str, value: str):
    def change(frame):
        frame.loc[row - 2, column] = value  # file row numbers count the header as row 1
        return frame

    return change


def _both(*changes):
    def change(frame):
        for one in changes:
            frame = one(frame)
        return frame

    return change


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda f: f.drop(columns=["Income"]), "missing required column(s) Income"),
        # the first chunk (rows 2-1001) is checked for the date format on the driver, the
        # rest by the executors: the earliest bad value is named in both cases
        (_set(2101, "Income", "lots"), "column Income, row 2101: 'lots' is not a number"),
        (
            _both(_set(2101, "Income", "lots"), _set(1500, "Income", "heaps")),
            "column Income, row 1500: 'heaps' is not a number",
        ),
        (_set(1900, "Dt_Customer", "31-31-2013"), "column Dt_Customer, row 1900"),
        (_set(500, "Dt_Customer", "31-31-2013"), "column Dt_Customer, row 500"),
        (_set(2200, "ID", "5524"), "customer id 5524 appears more than once (rows 2, 2200)"),
        (_set(2200, "ID", "5524\u00a0"), "customer id 5524 appears more than once (rows 2, 2200)"),
        (_set(2200, "ID", "5524.0"), "customer id 5524 appears more than once (rows 2, 2200)"),
        (lambda f: f, None),  # row 1700 cut short, below
    ],
    ids=[
        "missing column",
        "bad number",
        "two bad numbers",
        "bad date",
        "bad date in the first chunk",
        "repeated id",
        "repeated id with a no-break space",
        "repeated id written as a decimal",
        "short line",
    ],
)
def test_bad_input_ends_as_the_local_engine_does(
    session, real_file, tmp_path, monkeypatch, change, words
):
    skip_tsne(monkeypatch)
    config = tmp_path / "chunks.toml"
    config.write_text(REAL_TOML + "[sampling]\nchunk_rows = 1000\n", encoding="utf-8")
    data = _broken(real_file, tmp_path, change)
    if words is None:  # a cut line: Spark's reader says it its own way
        text = data.read_text(encoding="utf-8").splitlines()
        text[1699] = text[1699].rsplit("\t", 1)[0]
        data.write_text("\n".join(text) + "\n", encoding="utf-8")
    local = _run(data, tmp_path / "local", config)
    spark = _run(data, tmp_path / "out" / "spark", config, "--engine", "spark")
    assert local.exit_code == spark.exit_code == 2, spark.output
    if words is None:
        assert "Malformed" in spark.output and len(spark.output.strip().splitlines()) == 1
    else:
        assert words in spark.output
        assert spark.output.strip().splitlines()[-1] == local.output.strip().splitlines()[-1]
    assert "Traceback" not in spark.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_value_words_and_a_set_date_format_read_as_the_local_engine_reads_them(
    session, real_file, tmp_path, monkeypatch
):
    """CSV cells pandas takes for missing ("NA", "null", "N/A") are missing with Spark too."""
    skip_tsne(monkeypatch)

    def words(frame):
        frame.loc[10:40, "Income"] = "NA"
        frame.loc[50:60, "Education"] = "null"
        frame.loc[70:75, "Marital_Status"] = "N/A"
        return frame

    data = _broken(real_file, tmp_path, words)
    config = tmp_path / "dates.toml"
    config.write_text('[input]\ndate_format = "%d-%m-%Y"\n' + REAL_TOML, encoding="utf-8")
    assert _run(data, tmp_path / "local", config).exit_code == 0
    assert _run(data, tmp_path / "spark", config, "--engine", "spark").exit_code == 0
    assert _compare(tmp_path / "local", tmp_path / "spark") == 1.0
    summary = json.loads((tmp_path / "spark" / "summary.json").read_text())
    assert summary["data_quality"]["imputed"]["Income"] > 24  # the file's own blanks, and "NA"
    assert summary["data_quality"]["date_format"] == "%d-%m-%Y"


def test_a_failure_after_scoring_leaves_nothing(session, real_file, config, tmp_path, monkeypatch):
    """The staging folder of the executors' files goes with the failed run."""
    from reportgen.engine import spark

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(spark.SparkSource, "write_segments", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _run(real_file, tmp_path / "out" / "spark", config, "--engine", "spark")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_without_pyspark_one_line_names_the_extra(tmp_path, monkeypatch, small_file):
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    result = invoke(
        ["--quiet", "run", "--data", small_file, "--out", tmp_path / "r", "--no-history"]
        + ["--engine", "spark"]
    )
    assert result.exit_code == 2
    assert 'pip install "reportgen[spark]"' in result.output
    assert not (tmp_path / "r").exists()


def _months(real_file: Path, folder: Path) -> tuple[Path, Path]:
    """October: 90 % of the real file. November: all of it, 40 customers changed, 30 new."""
    data = pd.read_csv(real_file, sep="\t", dtype={"ID": str})
    october = data.sample(frac=0.9, random_state=5)
    november = data.copy()
    changed = november.index[:40]
    november.loc[changed, "MntWines"] = november.loc[changed, "MntWines"] * 4 + 800
    extra = data.sample(n=30, random_state=6).copy()
    extra["ID"] = [f"N{i:03d}" for i in range(30)]
    november = pd.concat([november, extra], ignore_index=True)
    paths = folder / "oct.tsv", folder / "nov.tsv"
    october.to_csv(paths[0], sep="\t", index=False)
    november.to_csv(paths[1], sep="\t", index=False)
    return paths


def _month(data: Path, out: Path, period: str, config: Path, engine: str):
    args = ["--quiet", "--config", config, "run", "--data", data, "--out", out / period]
    result = invoke([*args, "--period", period, "--no-report", "--engine", engine])
    assert result.exit_code == 0, result.output
    return json.loads((out / period / "summary.json").read_text())


@pytest.mark.parametrize("engines", [("spark", "spark"), ("spark", "local"), ("local", "spark")])
def test_a_second_month_keeps_identities_and_migration_as_the_local_engine(
    session, real_file, config, tmp_path, engines
):
    """Scored with October's model, matched, and the migration counted by joining the
    customers (in Spark, against October's segments/ or history.db's rows)."""
    oct_file, nov_file = _months(real_file, tmp_path)
    local, mixed = tmp_path / "local", tmp_path / "mixed"
    for out, (first, second) in ((local, ("local", "local")), (mixed, engines)):
        _month(oct_file, out, "2026-10", config, first)
        _month(nov_file, out, "2026-11", config, second)
    a = json.loads((local / "2026-11" / "summary.json").read_text())
    b = json.loads((mixed / "2026-11" / "summary.json").read_text())
    a["changes"].pop("previous_created_at"), b["changes"].pop("previous_created_at")
    in_october = round(2240 * 0.9)
    assert b["changes"]["migration"]["in_both"] == in_october
    assert b["changes"]["migration"]["new_customers"] == 2240 - in_october + 30
    assert not _differences(a, b), _differences(a, b)[:10]
    if engines[1] == "spark":  # the history row's id is in every segments row
        rows = pd.read_parquet(mixed / "2026-11" / "segments", columns=["run_id"])
        assert set(rows["run_id"]) == {2}


def test_fit_all_rows_with_mllib_says_so_and_agrees_with_the_sample_fit(
    session, real_file, config, tmp_path
):
    """`[engine] fit = "all"`: K-Means by Spark MLlib on every fitted row. On the real file
    the sample is every row, so both fits see the same customers: they must nearly agree
    (two K-Means implementations, not one)."""
    three = REAL_TOML.replace("[clustering]\n", "[clustering]\nn_init = 3\n")  # quicker
    (tmp_path / "three.toml").write_text(three, encoding="utf-8")
    everything = tmp_path / "all.toml"
    everything.write_text(three + '[engine]\nfit = "all"\n', encoding="utf-8")
    assert _run(real_file, tmp_path / "local", tmp_path / "three.toml").exit_code == 0
    result = _run(real_file, tmp_path / "spark", everything, "--engine", "spark")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "spark" / "summary.json").read_text())
    theirs = pd.read_parquet(tmp_path / "spark" / "segments")
    inside = int((~theirs["excluded_from_fit"]).sum())  # whom MLlib saw, counted apart
    assert inside < 2240
    note = summary["model"]["samples"]["fit"]
    assert f"fitted with Spark MLlib (k-means||) on all {inside:,} customers" in note
    mine = pd.read_csv(tmp_path / "local" / "segments.csv", dtype={"customer_id": str})
    both = mine.merge(theirs, on="customer_id")
    assert adjusted_rand_score(both["segment_x"], both["segment_y"]) > 0.95
    local = _run(real_file, tmp_path / "refused", everything)  # the local engine
    assert local.exit_code == 2 and "add --engine spark" in local.output


@pytest.mark.parametrize("damage", ["removed", "overwritten"])
def test_a_previous_spark_run_without_its_own_segments_is_named(
    session, small_file, tmp_path, monkeypatch, damage
):
    """history.db keeps no customers of a Spark run: its folder's segments/ must be that
    run's, or the next month stops in one line instead of counting the wrong migration."""
    import pyarrow.parquet as pq

    skip_tsne(monkeypatch)
    config = tmp_path / "c.toml"
    config.write_text(REAL_TOML, encoding="utf-8")
    _month(small_file, tmp_path, "2026-10", config, "spark")
    segments = tmp_path / "2026-10" / "segments"
    if damage == "removed":
        shutil.rmtree(segments)
    else:
        part = sorted(segments.glob("part-*.parquet"))[0]
        rows = pq.read_table(part).to_pandas()
        rows["run_id"] = 99
        rows.to_parquet(part, index=False)
    args = ["--quiet", "--config", config, "run", "--data", small_file, "--out"]
    result = invoke([*args, tmp_path / "2026-11", "--period", "2026-11", "--no-report"])
    assert result.exit_code == 2
    words = "segments are gone" if damage == "removed" else "holds the segments of run 99"
    assert words in result.output and "start a new history" in result.output
    assert not (tmp_path / "2026-11").exists()


def test_a_table_of_the_spark_catalog(session, real_file, config, tmp_path):
    """`--table NAME` with the Spark engine reads a table (here a view) of the catalog."""
    frame = pd.read_csv(real_file, sep="\t")
    session.createDataFrame(frame).createOrReplaceTempView("shop_customers")
    assert _run(real_file, tmp_path / "local", config).exit_code == 0
    args = ["--quiet", "--config", config, "run", "--engine", "spark", "--table"]
    out = tmp_path / "spark"
    result = invoke([*args, "shop_customers", "--out", out, "--no-history", "--no-report"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["run"]["input_format"] == (
        "table (Spark)"
    )
    assert _compare(tmp_path / "local", out) == 1.0
    missing = invoke([*args, "no_such_table", "--out", tmp_path / "x", "--no-history"])
    assert missing.exit_code == 2 and "no such table in the Spark catalog" in missing.output


def test_a_stratified_sample_is_the_local_engine_s(session, lake, tmp_path):
    """`[sampling] strata`: each partition keeps a bottom-k per value, the partitions merge
    on the executors, and the driver allocates the shares — the same sample as locally."""
    config = tmp_path / "strata.toml"
    config.write_text((lake / "c.toml").read_text() + 'strata = "Marital_Status"\n')
    assert _run(lake / "all.tsv", tmp_path / "local", config).exit_code == 0
    result = _run(lake / "lake", tmp_path / "spark", config, "--engine", "spark")
    assert result.exit_code == 0, result.output
    assert _compare(tmp_path / "local", tmp_path / "spark") == 1.0
    fit = json.loads((tmp_path / "spark" / "summary.json").read_text())["model"]["samples"]["fit"]
    assert "stratified by Marital_Status" in fit


def _month_to(data: Path, out: Path, period: str, config: Path, where: Path, *extra: str):
    args = ["--quiet", "--config", config, "run", "--data", data, "--out", out / period]
    args += ["--period", period, "--no-report", "--engine", "spark", "--segments-to", where]
    return invoke([*args, *extra])


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_segments_to_a_path_of_its_own_month_after_month(session, real_file, config, tmp_path):
    """`--segments-to` puts the segments at a path of the user's instead of the run
    folder; the next month reads last month's there for the migration, and replaces it."""
    oct_file, nov_file = _months(real_file, tmp_path)
    lake = tmp_path / "lake"
    lake.mkdir()
    where = lake / "segments"
    assert _month_to(oct_file, tmp_path, "2026-10", config, where).exit_code == 0
    october = pd.read_parquet(where)
    assert len(october) == round(2240 * 0.9) and set(october["period"]) == {"2026-10"}
    assert not (tmp_path / "2026-10" / "segments").exists()
    summary = json.loads((tmp_path / "2026-10" / "summary.json").read_text())
    assert summary["run"]["segments_file"] == str(where)
    result = _month_to(nov_file, tmp_path, "2026-11", config, where)
    assert result.exit_code == 0, result.output
    november = pd.read_parquet(where)
    assert len(november) == 2240 + 30 and set(november["period"]) == {"2026-11"}
    summary = json.loads((tmp_path / "2026-11" / "summary.json").read_text())
    assert summary["changes"]["migration"]["in_both"] == round(2240 * 0.9)
    assert _hidden(lake) == []  # no staging or earlier dataset left beside it


def test_segments_to_keeps_the_earlier_dataset_when_the_run_fails(
    session, small_file, config, tmp_path, monkeypatch
):
    """A failure once Spark has written the new dataset (before the commit), or of the
    history's commit after the swap, leaves the earlier dataset as it was and nothing
    hidden beside it."""
    from reportgen.engine import spark
    from reportgen.ops import history

    lake = tmp_path / "lake"
    lake.mkdir()
    where = lake / "segments"
    assert _month_to(small_file, tmp_path, "2026-10", config, where).exit_code == 0
    before = pd.read_parquet(where)

    def broken(*args, **kwargs):
        raise RuntimeError("history on fire")

    written = spark._check_written
    staged = []

    def fails_once_written(session, dest, rows):
        written(session, dest, rows)
        staged.append(dest)
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patched:
        patched.setattr(spark, "_check_written", fails_once_written)
        with pytest.raises(RuntimeError, match="disk on fire"):
            _month_to(small_file, tmp_path, "2026-11", config, where)
    assert staged and ".segments.partial-" in staged[0]
    pd.testing.assert_frame_equal(pd.read_parquet(where), before)
    assert _hidden(lake) == [] and not (tmp_path / "2026-11").exists()
    monkeypatch.setattr(history.Recorder, "commit", broken)
    with pytest.raises(RuntimeError, match="history on fire"):
        _month_to(small_file, tmp_path, "2026-11", config, where)
    pd.testing.assert_frame_equal(pd.read_parquet(where), before)
    assert _hidden(lake) == [] and not (tmp_path / "2026-11").exists()


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ("sqlite:///crm.db/segments", "a database table is written by the local engine"),
        ("nosuchfs://bucket/segments", "Spark cannot write there"),
    ],
)
def test_segments_to_a_target_spark_cannot_write_is_one_line(
    session, small_file, config, tmp_path, where, words
):
    result = _month_to(small_file, tmp_path, "2026-10", config, where)
    assert result.exit_code == 2
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "2026-10").exists()


def _validate(data, *extra):
    return invoke(["--quiet", "validate", "--data", data, "--json", *extra])


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f,
        lambda f: f.drop(columns=["Income"]),
        _set(2101, "Income", "lots"),
        _set(2200, "ID", "5524"),
    ],
    ids=["clean", "missing column", "bad number", "repeated id"],
)
def test_validate_finds_what_the_local_engine_finds(session, real_file, tmp_path, change):
    """The same findings and problems, from Spark's passes over the table."""
    data = _broken(real_file, tmp_path, change)
    local, spark = _validate(data), _validate(data, "--engine", "spark")
    assert local.exit_code == spark.exit_code, spark.output
    a, b = json.loads(local.output), json.loads(spark.output)
    assert b.pop("format") == "csv (Spark)" and a.pop("format") == "csv"
    a.pop("sha256"), b.pop("sha256")
    problems = a.pop("problems"), b.pop("problems")
    assert problems[0] == problems[1]
    assert (problems[0] == []) == a["ok"] == b["ok"] and b["rows"] == 2240
    if any("is not a number" in p for p in problems[0]):
        # a column with a bad value is not counted where it was read: in the whole file
        # (the local engine reads it as one chunk), in the value's partition (Spark)
        assert b.pop("missing_values")["Income"] < 24 and "Income" not in a.pop("missing_values")
    assert a == b


def test_assign_writes_the_local_engine_s_rows_as_a_dataset(session, real_file, config, tmp_path):
    """`assign --engine spark` scores with a saved model into a Parquet dataset: the rows
    of the local engine's `assign`; a CSV name or a bad value is one line, nothing written."""
    assert _run(real_file, tmp_path / "run", config).exit_code == 0
    args = ["--quiet", "assign", "--model", tmp_path / "run", "--data"]
    assert invoke([*args, real_file, "--out", tmp_path / "local.csv"]).exit_code == 0
    result = invoke([*args, real_file, "--out", tmp_path / "scores", "--engine", "spark"])
    assert result.exit_code == 0, result.output
    local = pd.read_csv(tmp_path / "local.csv", dtype={"customer_id": str}, keep_default_na=False)
    theirs = pd.read_parquet(tmp_path / "scores")
    assert list(theirs.columns) == list(local.columns)
    both = local.merge(theirs, on="customer_id")
    assert len(both) == len(local) == len(theirs) == 2240
    for column in local.columns.drop("customer_id"):
        x, y = both[f"{column}_x"], both[f"{column}_y"]
        if x.dtype.kind == "f":
            assert ((x - y).abs() <= 1e-9).all(), column
        else:
            assert (x.astype(str) == y.fillna("").astype(str)).all(), column
    to_csv = invoke([*args, real_file, "--out", tmp_path / "s.csv", "--engine", "spark"])
    assert to_csv.exit_code == 2 and "a Parquet dataset" in to_csv.output
    bad = _broken(real_file, tmp_path, _set(2101, "Income", "lots"))
    failed = invoke([*args, bad, "--out", tmp_path / "bad", "--engine", "spark"])
    assert failed.exit_code == 2 and "row 2101: 'lots' is not a number" in failed.output
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad.*"))


def test_a_spark_run_with_its_report(session, small_file, config, tmp_path):
    """The report is rendered in its own process from the analysis; the Spark engine's
    scored rows (a handle on this process's session) stay here."""
    args = ["--quiet", "--config", config, "run", "--data", small_file, "--out", tmp_path / "r"]
    result = invoke([*args, "--no-history", "--engine", "spark"])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "segments/" in html and (tmp_path / "r" / "report.pdf").stat().st_size > 10_000


def test_a_quiet_spark_run_prints_nothing(tmp_path, small_file):
    """A cron job's `--quiet` Spark run is silent: Spark's own lines are off (including the
    'Setting default log level' a PySpark driver prints) and the driver JVM's start-up
    notice is dropped (engine/spark.py JVM_NOTICES). A fresh process: a fresh JVM."""
    import subprocess

    args = ["--quiet", "run", "--engine", "spark", "--data", str(small_file)]
    args += ["--out", str(tmp_path / "r"), "--no-history", "--no-report"]
    done = subprocess.run(
        [sys.executable, "-m", "reportgen", *args], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert (tmp_path / "r" / "summary.json").is_file()


def test_the_jvm_stderr_is_passed_on_less_its_start_up_notice(monkeypatch):
    import io

    from reportgen.engine import spark

    jvm = io.BytesIO(
        b"WARNING: Using incubator modules: jdk.incubator.vector\n"
        b"# There is insufficient memory for the Java Runtime Environment to continue.\n"
        b"Error: a crash the user must see\n"
    )
    ours = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", ours)
    spark._pass_on(jvm)
    ours.flush()
    assert ours.buffer.getvalue() == (
        b"# There is insufficient memory for the Java Runtime Environment to continue.\n"
        b"Error: a crash the user must see\n"
    )
