"""The shape at scale: fit on a sample, score every row in chunks, summarise by merging."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from reportgen.config import Config
from reportgen.input.load import load_customers
from reportgen.input.scan import BottomK, Source, row_keys
from reportgen.pipeline import analyse
from reportgen.scoring.aggregates import SegmentTotals
from reportgen.scoring.model import model_parts
from reportgen.scoring.score import score, segments_table


def _sizes(customers: pd.DataFrame) -> dict:
    return customers["segment"].value_counts().sort_index().to_dict()


# ------------------------------------------------------------------------ score


def test_scoring_does_not_depend_on_the_chunk_size(real_file, real_analysis):
    parts = model_parts(real_analysis.model)
    frame = load_customers(real_file, Config()).frame
    whole = score(parts, frame).customers
    # one row at a time on the first 300 rows (2,240 one-row calls took over a minute), the
    # other sizes over the whole file
    for size, rows in ((1, 300), (7, len(frame)), (500, len(frame)), (1999, len(frame))):
        pieces = [
            score(parts, frame.iloc[i : min(i + size, rows)].reset_index(drop=True)).customers
            for i in range(0, rows, size)
        ]
        chunked = pd.concat(pieces, ignore_index=True)
        pd.testing.assert_frame_equal(chunked, whole.iloc[:rows].reset_index(drop=True))
    table = segments_table(whole, parts)
    assert table["driver_1"].str.len().gt(0).mean() > 0.99  # almost everyone has a driver


def test_scoring_a_reversed_table_gives_each_customer_the_same_result(real_file, real_analysis):
    parts = model_parts(real_analysis.model)
    frame = load_customers(real_file, Config()).frame
    forward = score(parts, frame).customers.set_index("customer_id")
    backward = score(parts, frame.iloc[::-1].reset_index(drop=True)).customers
    pd.testing.assert_frame_equal(backward.set_index("customer_id").loc[forward.index], forward)


def test_run_is_the_same_read_in_chunks_or_whole(real_file, real_analysis, tmp_path):
    config = Config()
    config.sampling.chunk_rows = 1000  # the real file in three chunks, streamed from disk
    chunked = analyse(Source.from_file(real_file, config), config)
    pd.testing.assert_frame_equal(chunked.customers, real_analysis.customers)
    a, b = chunked.summary, real_analysis.summary
    assert a.model.metrics == b.model.metrics
    assert [s.model_dump() for s in a.segments] == [s.model_dump() for s in b.segments]
    assert a.data_quality == b.data_quality


def test_margin_drivers_are_exact_shap_values_of_the_kmeans_margin(real_file, real_analysis):
    from reportgen.scoring.clean import apply_cleaning
    from reportgen.scoring.features import design_matrix, engineer
    from reportgen.scoring.score import group_columns, margin_shap, nearest_two

    parts = model_parts(real_analysis.model)
    frame = load_customers(real_file, Config()).frame
    cleaned, _ = apply_cleaning(frame, parts.rules)
    X = design_matrix(parts.spec, engineer(cleaned, parts.reference_date), cleaned)
    first, d1, second, d2 = nearest_two(X, parts.centroids)
    contrib, base = margin_shap(parts, X, first, second)
    # local accuracy: background value + SHAP values = the customer's squared-distance margin
    np.testing.assert_allclose(base + contrib.sum(axis=1), d2**2 - d1**2, atol=1e-9)
    # and they are what shap itself computes for that linear function (interventional SHAP
    # against the background mean), for every pair of own / runner-up segment
    import shap  # a test dependency: the check must run, never skip

    mu = parts.reference_row()
    for a in range(len(parts.centroids)):
        for b in set(second[first == a].tolist()):
            rows = np.flatnonzero((first == a) & (second == b))
            ca, cb = parts.centroids[a], parts.centroids[b]
            coef = 2.0 * (ca - cb)
            intercept = float(cb @ cb - ca @ ca)
            explainer = shap.LinearExplainer((coef, intercept), mu[None, :])
            expected = group_columns(parts, explainer.shap_values(X[rows]))
            np.testing.assert_allclose(contrib[rows], expected, atol=1e-9)
    # the reported margin is the distance gap, never negative
    customers = real_analysis.customers
    assert (customers["margin_to_next_segment"] >= 0).all()
    np.testing.assert_allclose(customers["margin_to_next_segment"], np.round(d2 - d1, 6))


# ------------------------------------------------------------------------ summarise


def test_merged_totals_equal_one_groupby(real_file, real_analysis):
    parts = model_parts(real_analysis.model)
    frame = load_customers(real_file, Config()).frame
    ids = parts.ids.tolist()
    merged = None
    for i in range(0, len(frame), 333):
        r = score(parts, frame.iloc[i : i + 333].reset_index(drop=True))
        chunk = SegmentTotals.from_chunk(
            r.features,
            r.cleaned,
            r.customers["segment"].to_numpy(),
            ids,
            60,
            r.customers["exclusion_reason"].to_numpy(),
            r.report,
        )
        merged = chunk if merged is None else merged.merge(chunk)
    r = score(parts, frame)
    labels = r.customers["segment"].to_numpy()
    groups = r.features.groupby(labels)
    np.testing.assert_array_equal(merged.count, groups.size().reindex(ids).to_numpy())
    pd.testing.assert_frame_equal(merged.means(), groups.mean().reindex(ids), check_names=False)
    pd.testing.assert_series_equal(merged.overall(), r.features.mean(), check_names=False)
    recency = (r.features["Recency"] > 60).groupby(labels).sum().reindex(ids).to_numpy()
    np.testing.assert_array_equal(merged.recency_over, recency)
    education = pd.crosstab(r.cleaned["Education"], labels)
    for value, row in education.iterrows():
        np.testing.assert_array_equal(merged.categories["Education"][value], row.reindex(ids))
    reasons = r.customers["exclusion_reason"].astype(str)  # categorical: count present ones
    assert dict(merged.exclusions) == reasons[reasons != ""].value_counts().to_dict()
    assert dict(merged.imputed) == {"Income": 24}


# ------------------------------------------------------------------------ sample


def test_bottom_k_sample_does_not_depend_on_chunks_and_is_everything_when_small():
    frame = pd.DataFrame({"x": np.arange(10_000)})
    picks = []
    for size in (10_000, 999, 64):
        sampler = BottomK(500, seed=3)
        for start in range(0, len(frame), size):
            sampler.add(frame.iloc[start : start + size].reset_index(drop=True), start)
        sample, positions = sampler.result()
        assert np.array_equal(sample["x"].to_numpy(), positions)
        picks.append(positions)
    assert all(np.array_equal(picks[0], p) for p in picks[1:])
    assert len(picks[0]) == 500 and np.all(np.diff(picks[0]) > 0)
    other = BottomK(500, seed=4)
    other.add(frame, 0)
    assert not np.array_equal(other.result()[1], picks[0])  # the seed matters
    whole = BottomK(20_000, seed=3)
    whole.add(frame, 0)
    assert whole.result()[0].equals(frame)
    # keys are spread evenly: each tenth of the table gives about a tenth of the sample
    counts = np.bincount(picks[0] // 1000, minlength=10)
    assert counts.min() > 25 and counts.max() < 80
    assert len(np.unique(row_keys(np.arange(100_000), 0))) == 100_000


def test_a_small_fit_sample_agrees_with_the_full_fit(real_file, real_analysis):
    config = Config()
    config.sampling.fit_rows = 500
    small = analyse(load_customers(real_file, config), config)
    sizes = small.summary.model.sample_sizes
    assert sizes["table"] == 2240 and sizes["fit"] == 500
    assert sizes["fitted"] == small.summary.run.rows["rows_used_for_fit"] < 500
    assert small.summary.run.rows["rows_in_fit_sample"] == 500
    assert len(small.customers) == 2240  # every customer is still scored
    assert sum(s.size for s in small.summary.segments) == 2240
    assert "fitted on a random sample of 500 of the 2,240" in small.summary.model.samples["fit"]
    if small.summary.model.k == real_analysis.summary.model.k:
        ari = adjusted_rand_score(real_analysis.customers["segment"], small.customers["segment"])
        assert ari > 0.8, ari  # 0.886 measured (README, "Scale")


# ------------------------------------------------------------------------ layers


def test_the_analysis_imports_no_rendering_or_cli_library():
    code = (
        "import importlib, pkgutil, sys\n"
        "import reportgen, reportgen.pipeline\n"
        "for pkg in ('input', 'scoring', 'fitting', 'describe', 'engine'):\n"
        "    base = importlib.import_module('reportgen.' + pkg)\n"
        "    for m in pkgutil.iter_modules(base.__path__):\n"
        "        importlib.import_module(f'reportgen.{pkg}.{m.name}')\n"
        "import reportgen.ops.history\n"
        "from reportgen.fitting.segment import choose_k, KScore\n"
        "choose_k([KScore(k=k, inertia=100 / k, silhouette=0.3, calinski_harabasz=1,"
        " davies_bouldin=1) for k in range(2, 9)])\n"
        "bad = [m for m in ('matplotlib', 'jinja2', 'weasyprint', 'click', 'seaborn')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the analysis loaded {out.stdout.strip()}"


#: the layers, lowest first (README, "Architecture"); a module imports only its own layer or
#: lower ones. "core" is the package's top-level modules.
LAYERS = [
    "core",
    "input",
    "scoring",
    "fitting",
    "describe",
    "engine",
    "pipeline",
    "output",
    "report",
    "ops",
    "api",
]
#: the Python API (api.py) is the front end over the layers; the CLI is a thin layer over it
TOP = {"pipeline": "pipeline", "cli": "cli", "__main__": "cli", "api": "api"}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return TOP.get(parts[1], "core") if len(parts) > 1 else "core"


def test_lower_layers_never_import_higher_ones():
    import ast

    root = Path(__file__).resolve().parents[1] / "reportgen"
    order = {name: i for i, name in enumerate([*LAYERS, "cli"])}
    wrong = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                targets = [".".join(base + ([node.module] if node.module else []))]
                if not node.module:
                    targets = [".".join(base + [a.name]) for a in node.names]
                # the package root's lazy `reportgen.segment` is the public facade, above all
                mine = "cli" if module == "reportgen" else _layer(module)
                for target in targets:
                    if order[_layer(target)] > order[mine]:
                        wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_the_cli_calls_only_the_api():
    """Each command parses its flags into a Config and calls one function of reportgen.api;
    besides the API it may use the config, the errors and the signal handling."""
    import ast

    cli = Path(__file__).resolve().parents[1] / "reportgen" / "cli.py"
    used, ops = set(), set()
    for node in ast.walk(ast.parse(cli.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            names = {a.name for a in node.names}
            used |= {node.module} if node.module else names
            if node.module == "ops":
                ops |= names
    assert "api" in used and used <= {"__version__", "api", "config", "errors", "ops"}, used
    assert ops <= {"interrupt"}, ops


# ------------------------------------------------------------------------ at size


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    data = folder / "customers.csv"
    subprocess.run(
        ["reportgen", "synth", "--rows", "100000", "--seed", "5", "-o", str(data), "--quiet"],
        check=True,
    )
    out = folder / "run"
    subprocess.run(
        ["reportgen", "run", "--data", str(data), "--out", str(out), "--no-history", "--quiet"],
        check=True,
    )
    return data, out


@pytest.mark.slow
def test_100k_customers_end_to_end(big_run):
    data, out = big_run
    summary = json.loads((out / "summary.json").read_text())
    sizes = summary["model"]["sample_sizes"]
    assert sizes["table"] == 100_000 and sizes["fit"] == 50_000
    assert sizes["silhouette"] == 5_000 and sizes["alternatives"] == 3_000
    assert sizes["stability"] == 10_000 and sizes["stability_resample"] == 8_000
    assert sizes["k_scan"] == 10_000
    assert sizes["charts"] == 10_000 and sizes["tsne"] == 0  # the PCA map shows enough
    assert summary["model"]["samples"]["tsne"].startswith("No t-SNE map: the PCA map already")
    segments = pd.read_csv(out / "segments.csv")
    assert len(segments) == 100_000 and segments["customer_id"].is_unique
    assert sum(s["size"] for s in summary["segments"]) == 100_000
    assert segments["segment"].value_counts().to_dict() == {
        s["id"]: s["size"] for s in summary["segments"]
    }
    chart = pd.read_parquet(out / "chart_sample.parquet")
    assert len(chart) == 10_000
    assert (out / "report.html").stat().st_size < 2_000_000
    html = (out / "report.html").read_text()
    assert "random sample of 50,000 of the 100,000 customers" in html
    # assign with the run's model agrees with the run for every customer
    scores = out.parent / "scores.csv"
    subprocess.run(
        ["reportgen", "assign", "--model", str(out), "--data", str(data), "--out", str(scores)],
        check=True,
        capture_output=True,
    )
    assigned = pd.read_csv(scores)
    assert (assigned["segment"].to_numpy() == segments["segment"].to_numpy()).all()


@pytest.mark.slow
def test_a_bad_value_deep_in_a_big_file_names_its_row_and_writes_nothing(big_run, tmp_path):
    data, _ = big_run
    lines = data.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")  # synth writes tab-separated text
    row = lines[87_654].rstrip("\n").split("\t")  # file row 87,655 (the header is row 1)
    row[header.index("Income")] = "lots"
    lines[87_654] = "\t".join(row) + "\n"
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    out = tmp_path / "run"
    import os

    env = {**os.environ, "REPORTGEN__SAMPLING__CHUNK_ROWS": "20000"}  # row 87,655: 5th chunk
    done = subprocess.run(
        ["reportgen", "run", "--data", str(bad), "--out", str(out), "--no-history"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "row 87655" in last and "Income" in last and "'lots'" in last, last
    assert "Traceback" not in done.stderr
    assert not out.exists() and not any(p.name.startswith(".run") for p in tmp_path.iterdir())


# ------------------------------------------------------------------------ row order


def _shuffled_copy(real_file: Path, out: Path, seed: int) -> Path:
    lines = real_file.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:]
    np.random.default_rng(seed).shuffle(body)
    out.write_text(lines[0] + "".join(body), encoding="utf-8")
    return out


def test_row_order_does_not_change_segments_or_drivers(real_file, real_analysis, tmp_path):
    """The same customers in any row order: the same segments.csv after sorting by id."""
    from reportgen.output.files import segments_frame

    def table(analysis):
        rows = segments_frame(analysis).sort_values("customer_id", kind="stable")
        return rows.reset_index(drop=True)

    reference = table(real_analysis)
    for seed in (1, 2):
        config = Config()
        copy = _shuffled_copy(real_file, tmp_path / f"shuffled-{seed}.csv", seed)
        shuffled = analyse(load_customers(copy, config), config)
        assert not shuffled.customers["customer_id"].equals(real_analysis.customers["customer_id"])
        pd.testing.assert_frame_equal(table(shuffled), reference)
        assert shuffled.summary.model.k == real_analysis.summary.model.k
        names = [s.persona.name for s in shuffled.summary.segments]
        assert names == [s.persona.name for s in real_analysis.summary.segments]


def test_the_sample_is_drawn_by_customer_id_not_by_position():
    ids = pd.Series([f"C{i}" for i in range(5_000)])
    frame = pd.DataFrame({"ID": ids, "x": np.arange(5_000)})
    picks = []
    for order in (np.arange(5_000), np.random.default_rng(0).permutation(5_000)):
        sampler = BottomK(300, seed=3)
        sampler.add(frame.iloc[order].reset_index(drop=True), 0)
        picks.append(sampler.result()[0]["ID"].tolist())
    assert picks[0] == picks[1] and picks[0] == sorted(picks[0])


def test_silhouette_from_one_distance_matrix_is_sklearns():
    from sklearn.metrics import silhouette_samples, silhouette_score

    from reportgen.fitting.segment import distances, silhouette_of, silhouette_values

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    D = distances(X)
    for k in (2, 5, 9):
        labels = rng.integers(0, k, len(X))
        labels[7] = k  # a customer alone in a cluster scores 0, as in sklearn
        assert np.allclose(silhouette_values(D, labels), silhouette_samples(X, labels), atol=1e-12)
        assert silhouette_of(D, labels) == pytest.approx(silhouette_score(X, labels), abs=1e-12)
