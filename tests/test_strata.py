"""`[sampling] strata`: a fit sample that keeps each value of a column in its table share."""

from __future__ import annotations

import pandas as pd
import pytest
from monthly_helpers import invoke

from reportgen.errors import InputError
from reportgen.input.scan import BottomK, StratifiedBottomK, new_sampler
from reportgen.input.synth import generate


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frame = generate(20_000, 3).rename(columns=str)
    # a rare value: a plain random sample of 1,000 would hold about 4 of them, or none
    frame.loc[frame.index[::250], "Education"] = "Rare"
    return frame


def _draw(table: pd.DataFrame, size: int, chunk: int, column="Education") -> pd.DataFrame:
    sampler = StratifiedBottomK(size, 7, column)
    for start in range(0, len(table), chunk):
        sampler.add(table.iloc[start : start + chunk].reset_index(drop=True), start)
    return sampler.result()[0]


def test_each_value_keeps_its_share_and_the_size_is_exact(table):
    sample = _draw(table, 1_000, 20_000)
    assert len(sample) == 1_000
    want = table["Education"].value_counts() * 1_000 / len(table)
    got = sample["Education"].value_counts()
    assert set(got.index) == set(want.index)
    assert (got - want).abs().max() < 1.0  # largest remainders: within one row of its share
    assert got["Rare"] == 4


def test_the_rows_left_after_rounding_down_go_to_the_largest_remainders():
    sampler = StratifiedBottomK(5, 7, "Education")
    sampler.counts = {"a": 2, "b": 7, "c": 1}  # shares 1.0, 3.5 and 0.5 of 5 rows
    assert sampler.allocation() == {"a": 1, "b": 4, "c": 0}  # b and c tie: by name
    sampler.counts = {"a": 1, "b": 1, "c": 8}  # 0.5, 0.5, 4.0
    assert sampler.allocation() == {"a": 1, "b": 0, "c": 4}


def test_the_sample_does_not_depend_on_chunks_row_order_or_merging(table):
    one = _draw(table, 1_000, 20_000)
    assert one.equals(_draw(table, 1_000, 1_234))
    shuffled = table.sample(frac=1.0, random_state=5).reset_index(drop=True)
    assert one.equals(_draw(shuffled, 1_000, 3_000))
    a, b = StratifiedBottomK(1_000, 7, "Education"), StratifiedBottomK(1_000, 7, "Education")
    a.add(table.iloc[:8_000].reset_index(drop=True), 0)
    b.add(table.iloc[8_000:].reset_index(drop=True), 8_000)
    assert one.equals(a.merge(b).result()[0])  # as Spark's partitions are merged


def test_a_number_column_is_one_stratum_per_value_whatever_the_chunks(table, tmp_path):
    """The loader reads Kidhome as integers in a chunk without a missing value and as floats
    in one with: 1 and 1.0 must be the same stratum, or the sample follows the chunk size."""
    from reportgen.config import load_config
    from reportgen.input.scan import Source, scan

    holed = table.copy()
    holed["Kidhome"] = holed["Kidhome"].astype("Int64")
    holed.loc[holed.index[15_000], "Kidhome"] = pd.NA
    data = tmp_path / "holed.tsv"
    holed.to_csv(data, sep="\t", index=False)
    cfg = load_config(None, {"sampling": {"strata": "Kidhome"}})
    whole = scan(Source.from_file(data, cfg), 1_000, cfg.seed, None).sample
    chunked = scan(Source.from_file(data, cfg), 1_000, cfg.seed, 1_000).sample
    assert whole["ID"].tolist() == chunked["ID"].tolist()
    shares = holed["Kidhome"].value_counts() * 1_000 / len(holed)
    assert (whole["Kidhome"].value_counts() - shares).abs().max() < 1.0


def test_partitions_with_few_values_each_but_many_together_are_refused(table):
    a, b = StratifiedBottomK(100, 7, "Year_Birth"), StratifiedBottomK(100, 7, "Year_Birth")
    years = sorted(table["Year_Birth"].unique())
    assert len(years) > 2 * 12
    a.add(table[table["Year_Birth"].isin(years[:12])].reset_index(drop=True), 0)
    b.add(table[table["Year_Birth"].isin(years[12:24])].reset_index(drop=True), 0)
    a.result(), b.result()  # 12 values each: fine
    with pytest.raises(InputError, match="more than 20 different values"):
        a.merge(b).result()


def test_a_small_table_is_kept_whole_as_without_strata(table):
    small = table.head(800).reset_index(drop=True)
    plain = BottomK(1_000, 7)
    plain.add(small, 0)
    assert _draw(small, 1_000, 300).equals(plain.result()[0])
    assert isinstance(new_sampler(10, 7, None), BottomK)


def test_a_column_with_many_values_or_none_is_refused_in_one_line(table):
    with pytest.raises(InputError, match="more than 20 different values"):
        _draw(table, 1_000, 5_000, column="Income")
    with pytest.raises(InputError, match="the table has no Churned column"):
        _draw(table.drop(columns=["Churned"], errors="ignore"), 1_000, 5_000, column="Churned")


def test_a_stratified_run_says_so_and_a_bad_name_is_a_config_error(table, tmp_path):
    data = tmp_path / "customers.csv"
    table.to_csv(data, sep="\t", index=False)
    config = tmp_path / "strata.toml"
    config.write_text('[sampling]\nfit_rows = 2000\nstrata = "Education"\n', encoding="utf-8")
    out = tmp_path / "run"
    args = ["--quiet", "--config", config, "run", "--data", data, "--out", out]
    result = invoke([*args, "--no-history", "--no-report"])
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "stratified by Education" in summary["model"]["samples"]["fit"]
    assert summary["model"]["sample_sizes"]["fit"] == 2000
    assert summary["data_quality"]["rows_in"] == 20_000
    # the run's own scan draws the stratified sample: the rare value has its 2000/20000 share
    from reportgen.config import load_config
    from reportgen.input.scan import Source, scan

    cfg = load_config(config)
    drawn = scan(Source.from_file(data, cfg), 2000, cfg.seed, 5_000).sample
    want = table["Education"].value_counts() * 2000 / len(table)
    assert len(drawn) == 2000
    assert (drawn["Education"].value_counts() - want).abs().max() < 1.0
    for name in ("Region", "ID"):  # not in the schema; one value per customer
        config.write_text(f'[sampling]\nstrata = "{name}"\n', encoding="utf-8")
        bad = invoke([*args[:-2], "--out", tmp_path / "bad", "--no-history", "--no-report"])
        assert bad.exit_code == 2 and "not a column of the customer schema" in bad.output
        assert len(bad.output.strip().splitlines()) == 1
