"""End-to-end interpretation: the real file (default config) and the small fixed file.

The real-file analysis runs once per module; its numbers are checked against independent
recomputations (K-Means' SHAP values from model.json directly, shares from the customer
table, rules re-evaluated from their conditions, sample sizes from the textbook formula).
"""

import ast
import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import reportgen.describe.interpret as interpret_module
from reportgen import wording
from reportgen.config import load_config
from reportgen.describe.brief import write_briefs
from reportgen.input.load import load_customers
from reportgen.output.files import segments_frame
from reportgen.pipeline import analyse
from reportgen.result import Summary
from reportgen.scoring.aggregates import SegmentTotals


def run_capturing(path: Path, config):
    """Run the pipeline; also return the inputs `interpret` was called with (for reruns)."""
    captured = {}
    original = interpret_module.interpret

    def capture(*args):
        captured["args"] = copy.deepcopy(args)
        original(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(interpret_module, "interpret", capture)
        analysis = analyse(load_customers(path, config), config)
    return analysis, captured["args"]


@pytest.fixture(scope="module")
def real(real_file):
    config = load_config(environ={})
    return run_capturing(real_file, config)


@pytest.fixture(scope="module")
def small(small_file):
    return run_capturing(small_file, load_config(environ={}))


def customer_table(analysis) -> pd.DataFrame:
    """Every customer of a run no larger than the chart sample: chart data (segment, features,
    distance, exclusion) beside the segments.csv columns (persona, drivers)."""
    chart = analysis.chart_rows.reset_index(drop=True)
    rows = segments_frame(analysis).set_index("customer_id")
    assert sorted(chart["customer_id"]) == sorted(rows.index)  # every customer, in sample order
    columns = ["persona", "driver_1", "driver_2", "driver_3", "data_issue"]
    extra = rows.loc[chart["customer_id"], columns]
    return pd.concat([chart, extra.reset_index(drop=True)], axis=1)


def _fit_features(analysis, names):
    cust = customer_table(analysis)
    fit = ~cust["excluded_from_fit"].to_numpy()
    return cust.loc[fit, names].reset_index(drop=True), cust.loc[fit, "segment"].to_numpy()


def textbook_n(p1, p2, alpha, power):
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    pbar = (p1 + p2) / 2
    return (
        za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p2 - p1) ** 2


# --------------------------------------------------------------------------- real file


def kmeans_shap(analysis, cust):
    """Independent recomputation from model.json: each customer's exact SHAP values of the
    margin ‖x−b‖² − ‖x−a‖² (a own, b next-nearest centroid) against the stored background."""
    model = analysis.model
    design = model["design"]
    assert not design["categories"]  # default features: numeric only
    x = (cust[design["numeric"]].to_numpy(float) - design["offset"]) / np.asarray(design["scale"])
    c = np.asarray(model["centroids"])
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    order = np.argsort(d2, axis=1)
    a, b = c[order[:, 0]], c[order[:, 1]]
    mu = np.asarray(model["drivers"]["background"])
    return 2 * (a - b) * (x - mu), np.asarray(model["segment_ids"])[order[:, 0]]


def test_drivers_are_kmeans_own_exact_contributions(real):
    analysis, _ = real
    expl = analysis.summary.explanations
    assert expl.surrogate == {} and expl.fidelity == 1.0
    assert "K-Means" in expl.method and "exact" in expl.method.lower()
    cust = customer_table(analysis)
    values, own = kmeans_shap(analysis, cust)
    assert np.array_equal(own, cust["segment"].to_numpy())
    names = analysis.model["design"]["numeric"]
    assert expl.shap_features == names
    # persona pages: each segment's drivers = mean |SHAP| over its fitted customers
    fit = ~cust["excluded_from_fit"].to_numpy()
    for s in analysis.summary.segments:
        hit = fit & (own == s.id)
        expected = np.abs(values[hit]).mean(axis=0)
        got = {d.feature: d.mean_abs_shap for d in s.drivers}
        assert [d.feature for d in s.drivers] == [names[i] for i in np.argsort(-expected)]
        np.testing.assert_allclose([got[f] for f in names], expected, atol=1e-6)
        assert sum(d.share for d in s.drivers) == pytest.approx(1.0, abs=1e-3)
    # segments.csv: every customer's driver_1 is their largest positive SHAP value, in words
    top = np.argmax(values, axis=1)
    for i in np.flatnonzero(values.max(axis=1) > 1e-9):
        label = wording.label(names[top[i]])
        assert cust["driver_1"].iloc[i].startswith(label + " "), (i, cust["driver_1"].iloc[i])


def test_shares_sum_to_one_and_match_the_customer_table(real):
    analysis, _ = real
    segs = analysis.summary.segments
    cust = customer_table(analysis)
    assert sum(s.kpis.customer_share for s in segs) == pytest.approx(1.0)
    assert sum(s.kpis.revenue_share for s in segs) == pytest.approx(1.0)
    used = ~cust["data_issue"]  # the figures leave out records that are not customers
    total = cust.loc[used, "TotalSpend"].sum()
    for s in segs:
        assert s.kpis.size == (cust["segment"] == s.id).sum() == s.size
        m = (cust["segment"] == s.id) & used
        assert s.kpis.revenue_share == pytest.approx(cust.loc[m, "TotalSpend"].sum() / total)
        assert s.kpis.avg_spend == pytest.approx(cust.loc[m, "TotalSpend"].mean())
        assert s.kpis.response_rate == pytest.approx(cust.loc[m, "Response"].mean())
        assert s.kpis.retention_risk == pytest.approx((cust.loc[m, "Recency"] > 60).mean())
        assert s.kpis.complaint_rate == pytest.approx(cust.loc[m, "Complain"].mean())
        assert s.kpis.preferred_channel in {"web", "catalog", "store"}
        assert set(s.kpis.campaign_acceptance) == {f"AcceptedCmp{i}" for i in range(1, 6)}


def test_personas_distinct_with_traits(real):
    analysis, _ = real
    personas = [s.persona for s in analysis.summary.segments]
    assert len({p.name for p in personas}) == len(personas)
    assert len({p.slug for p in personas}) == len(personas)
    for p in personas:
        assert 3 <= len(p.traits) <= 5
        assert len(p.description) > 100
    cust = customer_table(analysis)
    assert (
        cust["persona"]
        == cust["segment"].map({s.id: s.persona.name for s in analysis.summary.segments})
    ).all()


def test_the_four_known_customer_types_are_recognisable(real):
    """Derived from the figures, not from segment ids."""
    analysis, _ = real
    segs = analysis.summary.segments
    by = lambda key: max(segs, key=key)  # noqa: E731
    responders = by(lambda s: s.kpis.response_rate)
    assert "Campaign" in responders.persona.name and responders.kpis.response_rate > 0.5
    rich = by(lambda s: s.profile["TotalSpend"] if s is not responders else -1)
    assert rich.persona.name.startswith("Affluent") and rich.relative["Income"] > 1.2
    families = by(lambda s: s.profile["Children"])
    assert "Families" in families.persona.name and "Budget" in families.persona.name
    young = min(segs, key=lambda s: s.profile["Age"])
    assert young.persona.name.startswith("Young") and young.relative["NumWebVisitsMonth"] > 1.2
    older = by(lambda s: s.profile["Age"])
    assert "Campaign-Shy" in older.persona.name
    assert older.relative["CampaignEngagement"] < 0.7


def test_shap_arrays_for_the_charts(real):
    analysis, _ = real
    arr = analysis.arrays
    names = analysis.summary.explanations.shap_features
    values, data, seg = arr["shap_values"], arr["shap_data"], arr["shap_segment"]
    assert values.dtype == np.float32 and values.shape == (len(data), len(names))
    assert 500 <= len(values) <= 1100
    cust = customer_table(analysis).iloc[arr["shap_rows"]]
    assert np.array_equal(seg, cust["segment"].to_numpy())
    assert np.allclose(data, cust[names].to_numpy(dtype=np.float32))
    expected, _ = kmeans_shap(analysis, cust)
    np.testing.assert_allclose(values, expected, atol=1e-5)
    for j, s in enumerate(analysis.summary.segments):
        assert len(s.drivers) == len(names)
        assert s.drivers[0].mean_abs_shap == pytest.approx(
            arr["shap_importance"][j].max(), rel=1e-5
        )
        assert all(d.direction in {"+", "-", "mixed"} for d in s.drivers)


def test_lime_explains_kmeans_for_random_members(real):
    analysis, args = real
    settings = args[5].interpretation
    cust = customer_table(analysis)
    expl = analysis.summary.explanations
    groups = len(expl.shap_features)
    assert expl.lime_shap_chance == pytest.approx(settings.agreement_top / groups, abs=1e-4)
    scores, nearest_share = [], []
    for s in analysis.summary.segments:
        members = cust[(cust["segment"] == s.id) & ~cust["excluded_from_fit"]]
        assert len(s.lime_examples) == min(settings.lime_examples, len(members))
        ids = [e.customer_id for e in s.lime_examples]
        assert set(ids) <= set(members["customer_id"].astype(str))
        closest = members.nsmallest(len(ids), "distance_to_centroid")["customer_id"].astype(str)
        nearest_share.append(len(set(ids) & set(closest)) / len(ids))
        for e in s.lime_examples:
            assert len(e.weights) >= 5 and all(w.condition for w in e.weights)
            # the explained model is K-Means' soft assignment: the own segment is the likeliest
            assert 1 / len(analysis.summary.segments) < e.predicted_probability <= 1
            scores.append(e.agreement_with_shap)
    assert np.mean(nearest_share) < 0.5  # drawn at random, not the easy customers at the centre
    assert expl.lime_shap_agreement == pytest.approx(np.mean(scores), abs=1e-4)
    assert expl.lime_shap_agreement > expl.lime_shap_chance  # LIME and SHAP agree beyond chance


def test_rules_precision_recall_recomputed(real):
    analysis, _ = real
    cust = customer_table(analysis)
    fit = cust[~cust["excluded_from_fit"]]
    for s in analysis.summary.segments:
        rule = s.rule
        assert rule.conditions and 0 < len(rule.text) < 200
        hit = np.zeros(len(fit), dtype=bool)
        for clause in rule.conditions:
            assert len(clause) <= 3 * 2  # depth 3: at most a lower and upper bound per split
            ok = np.ones(len(fit), dtype=bool)
            for c in clause:
                x = fit[c["feature"]].to_numpy()
                ok &= (x >= c["value"]) if c["op"] == ">=" else (x < c["value"])
            hit |= ok
        y = (fit["segment"] == s.id).to_numpy()
        assert rule.precision == pytest.approx((hit & y).sum() / hit.sum(), abs=1e-4)
        assert rule.recall == pytest.approx((hit & y).sum() / y.sum(), abs=1e-4)
        assert rule.precision > 0.7 and rule.recall > 0.7


def test_recommendations_with_ab_plans(real):
    analysis, _ = real
    for s in analysis.summary.segments:
        assert 2 <= len(s.recommendations) <= 4
        for r in s.recommendations:
            ab = r.ab_test
            assert ab.alpha == 0.05 and ab.power == 0.8 and ab.control_share == 0.5
            if ab.design in ("segment", "sends", "none"):  # at the segment's own rate
                p1 = max(s.kpis.response_rate, 0.01)
                assert ab.baseline_rate == pytest.approx(p1, abs=1e-6)
                pool = s.size
            elif ab.design in ("top", "top-sends"):  # at the targeted customers' propensity
                v = r.value
                p1 = v.expected_responders / v.targeted
                assert ab.baseline_rate == pytest.approx(p1, abs=1e-3)
                pool = v.targeted
            else:
                assert ab.design == "pooled" and "segments it is recommended for" in ab.plan
                pool = sum(
                    o.size
                    for o in analysis.summary.segments
                    for q in o.recommendations
                    if q.action == r.action
                )
            n = math.ceil(textbook_n(ab.baseline_rate, ab.target_rate, 0.05, 0.8))
            # the stored rates are rounded to 6 digits; the plan used the exact ones
            assert abs(ab.sample_size_per_arm - n) <= 1
            n = ab.sample_size_per_arm
            sends = math.ceil(2 * n / pool)
            assert ab.feasible == (sends <= 6) == (ab.design != "none")
            if ab.feasible:
                assert ab.sends == sends
            else:
                assert f"{2 * n:,} contacts" in ab.plan and f"all {pool:,} customers" in ab.plan
            assert "Triggered by" in r.rationale
    # acceptance: a test that can run for every segment, or one sentence saying why not
    stuck = [
        s.persona.name
        for s in analysis.summary.segments
        if not any(r.ab_test.feasible for r in s.recommendations)
    ]
    note = analysis.summary.ab_note
    assert all(name in note for name in stuck) and (note != "") == any(
        not r.ab_test.feasible for s in analysis.summary.segments for r in s.recommendations
    )


def test_summary_round_trip_and_determinism(real):
    analysis, args = real
    assert Summary.loads(analysis.summary.dumps()) == analysis.summary
    again = copy.deepcopy(args)
    interpret_module.interpret(*again)
    a2 = again[0]
    write_briefs(a2.summary)  # as the pipeline does once names and changes are final
    # the checks (metrics, stability) are filled after interpretation: compare the rest
    keep = lambda s: s.model_copy(update={"run": None, "model": None}).model_dump_json()  # noqa: E731
    assert keep(a2.summary) == keep(analysis.summary)
    for key, value in analysis.arrays.items():
        if key.startswith("shap"):
            assert np.array_equal(value, a2.arrays[key]), key


# --------------------------------------------------------------------------- small file


def test_small_file_runs_with_other_k_and_overrides(small):
    _, args = small
    analysis, sample, features, cleaned, fit_mask, _, totals, parts = copy.deepcopy(args)
    config = load_config(
        overrides={
            "personas": {"names": {"0": "Our Favourites"}},
            "interpretation": {"shap_sample": 100, "lime_examples": 2},
            "kpis": {"retention_recency_days": 30},
        },
        environ={},
    )
    labels = sample["segment"].to_numpy()
    totals = SegmentTotals.from_chunk(
        features, cleaned, labels, totals.segment_ids, 30
    )  # the totals carry the KPI threshold
    interpret_module.interpret(analysis, sample, features, cleaned, fit_mask, config, totals, parts)
    segs = analysis.summary.segments
    assert segs[0].persona.name == "Our Favourites"
    assert len({s.persona.name for s in segs}) == len(segs)
    for s in segs:
        m = labels == s.id
        assert s.kpis.retention_risk == pytest.approx((features.loc[m, "Recency"] > 30).mean())
    assert analysis.summary.explanations.shap["rows_explained"] == fit_mask.sum()
    assert len(analysis.arrays["shap_values"]) < fit_mask.sum()  # the charts get a sample
    assert all(len(s.lime_examples) <= 2 for s in segs)


def test_analysis_modules_import_no_rendering_library():
    forbidden = {"matplotlib", "jinja2", "weasyprint", "click"}
    root = Path(interpret_module.__file__).parents[1]  # the reportgen package
    for name in [
        "describe/interpret",
        "fitting/explain",
        "describe/personas",
        "describe/kpis",
        "describe/recommend",
        "featuretext",
    ]:
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            assert not {m.split(".")[0] for m in mods} & forbidden, (name, mods)


def test_segments_csv_carries_picklist_codes_for_a_crm(real_analysis, tmp_path):
    """The drivers' texts hold values (about 500 distinct on the real file), useless as CRM
    picklists: each driver also comes as a feature code and a level, and every row names
    the model that assigned it."""
    from reportgen.output.files import write_files

    write_files(real_analysis, tmp_path)
    table = pd.read_csv(tmp_path / "segments.csv", keep_default_na=False)
    for rank in (1, 2, 3):
        feature, level = table[f"driver_{rank}_feature"], table[f"driver_{rank}_level"]
        assert feature.nunique() <= 20 and level.nunique() <= 20
        assert table[f"driver_{rank}"].nunique() > 5 * level.nunique()
        numeric = level.isin(["low", "average", "high"])
        # the code says what the text says: 'Total spend high (1,617)' -> high
        texts = table.loc[numeric, f"driver_{rank}"]
        assert all(f" {lv} (" in t for t, lv in zip(texts, level[numeric], strict=True))
    model = json.loads((tmp_path / "model.json").read_text())
    assert set(table["model_version"]) == {model["sha256"][:12]}
