"""Numbers an executive can trust: intervals against independent computations, KPIs without
signal, the outcome kept out of the clustering, records that are not customers, and persona
names held against the numbers."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, chi2_contingency

from reportgen.config import Config
from reportgen.describe import intervals as iv
from reportgen.input.load import load_customers
from reportgen.scoring.clean import apply_cleaning
from reportgen.scoring.features import engineer
from reportgen.scoring.model import model_parts


def test_wilson_matches_scipy():
    for k, n in [(0, 10), (3, 10), (10, 10), (87, 654), (1, 2240)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert iv.wilson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_mean_and_share_intervals_match_textbook_formulas():
    rng = np.random.default_rng(3)
    y = rng.lognormal(5, 1, 500)
    lo, hi = iv.mean_interval(y.sum(), (y**2).sum(), len(y))
    half = iv.Z95 * y.std(ddof=1) / np.sqrt(len(y))
    assert (lo, hi) == pytest.approx((y.mean() - half, y.mean() + half))
    part = y[:120]
    lo, hi = iv.share_of_sum_interval(part.sum(), (part**2).sum(), y.sum(), (y**2).sum())
    r = part.sum() / y.sum()
    assert lo < r < hi and hi - lo < 0.2


def test_differs():
    assert iv.differs((0.1, 0.2), 0.15) == "same"
    assert iv.differs((0.1, 0.2), 0.05) == "above"
    assert iv.differs((0.1, 0.2), 0.25) == "below"


@pytest.fixture(scope="module")
def real_table(real_file, real_analysis):
    """Every real customer's business features beside their segment."""
    parts = model_parts(real_analysis.model)
    frame = load_customers(real_file, Config()).frame
    cleaned, _ = apply_cleaning(frame, parts.rules)
    features = engineer(cleaned, parts.reference_date).reset_index(drop=True)
    features["segment"] = real_analysis.customers["segment"].to_numpy()
    return features


def test_intervals_agree_with_a_bootstrap_on_the_real_file(real_analysis, real_table):
    """The closed-form intervals (from mergeable sums) against a 2,000-resample percentile
    bootstrap of the customers, segments held fixed: each end within a fifth of the width."""
    rng = np.random.default_rng(0)
    n = len(real_table)
    seg = real_table["segment"].to_numpy()
    spend = real_table["TotalSpend"].to_numpy()
    response = real_table["Response"].to_numpy()
    draws = rng.integers(0, n, size=(2000, n))
    for s in real_analysis.summary.segments:
        member = seg[draws] == s.id  # [resamples, n]
        size = member.sum(axis=1)
        boot = {
            "response_rate": (response[draws] * member).sum(axis=1) / size,
            "avg_spend": (spend[draws] * member).sum(axis=1) / size,
            "revenue_share": (spend[draws] * member).sum(axis=1) / spend[draws].sum(axis=1),
            "customer_share": size / n,
        }
        for key, values in boot.items():
            lo, hi = s.kpis.intervals[key]
            b_lo, b_hi = np.percentile(values, [2.5, 97.5])
            width = b_hi - b_lo
            assert abs(lo - b_lo) < 0.2 * width and abs(hi - b_hi) < 0.2 * width, (
                s.id,
                key,
                (lo, hi),
                (b_lo, b_hi),
            )
            value = getattr(s.kpis, key)
            assert lo <= value <= hi


def test_versus_average_marks_segments_no_different_from_everyone(real_analysis):
    everyone = real_analysis.summary.everyone
    marks = []
    for s in real_analysis.summary.segments:
        for key in ("response_rate", "avg_spend", "retention_risk"):
            lo, hi = s.kpis.intervals[key]
            average = getattr(everyone, key)
            expected = "same" if lo <= average <= hi else ("above" if lo > average else "below")
            assert s.kpis.versus_average[key] == expected
            marks.append(expected)
    assert "same" in marks and ("above" in marks or "below" in marks)


def test_retention_risk_has_no_signal_on_the_real_file_and_response_has(real_analysis, real_table):
    tests = real_analysis.summary.kpi_tests
    used = real_table[real_analysis.customers["data_issue"].to_numpy() == ""]
    over = used["Recency"] > Config().kpis.retention_recency_days
    table = pd.crosstab(over, used["segment"]).to_numpy()
    p = chi2_contingency(table, correction=False)[1]
    retention = tests["retention_risk"]
    assert retention.segments_p_value == pytest.approx(p, abs=1e-6)
    assert retention.signal is False and "no signal in this data" in retention.text
    assert retention.measure_p_value > 0.05  # Recency is uniform on 0-99 in this data
    assert tests["response_rate"].signal is True


def test_no_clustering_feature_contains_the_outcome(real_analysis, real_table):
    model = real_analysis.summary.model
    assert "Response" not in model.features
    # campaign engagement counts the five earlier campaigns only
    earlier = real_table[[f"AcceptedCmp{i}" for i in range(1, 6)]].sum(axis=1)
    assert (real_table["CampaignEngagement"] == earlier).all()


def test_boundary_share_is_counted_from_segments_csv_columns(real_analysis):
    c = real_analysis.customers
    near = c["margin_to_next_segment"] <= 0.1 * c["distance_to_centroid"]
    boundary = real_analysis.summary.boundary
    assert boundary["share"] == pytest.approx(near.mean(), abs=1e-4)
    assert 0 < boundary["share"] < 0.5


# ------------------------------------------------------------------ records that are not real


def test_impossible_records_are_flagged_and_left_out_of_the_figures(real_analysis, real_table):
    from reportgen.output.files import segments_frame

    rows = segments_frame(real_analysis)
    flagged = rows[rows["data_issue"]]
    assert real_analysis.summary.data_quality.data_issues == {
        "age over 100": 3,
        "placeholder income": 1,
    }
    assert set(flagged["data_issue_reason"]) == {"age over 100", "placeholder income"}
    assert (rows.loc[~rows["data_issue"], "data_issue_reason"] == "").all()
    assert flagged["excluded_from_fit"].all()
    table = real_table.assign(issue=rows["data_issue"].to_numpy())
    reason = rows["data_issue_reason"].to_numpy()
    assert table.loc[reason == "age over 100", "Age"].min() > 100
    assert table.loc[reason == "placeholder income", "Income"].tolist() == [666666]
    for s in real_analysis.summary.segments:
        members = table[table["segment"] == s.id]
        assert s.size == len(members)  # still counted in the segment's size
        clean = members[~members["issue"]]
        assert s.kpis.avg_income == pytest.approx(clean["Income"].mean())
        assert s.profile["Age"] == pytest.approx(clean["Age"].mean(), abs=1e-4)


def test_data_issue_reasons_on_made_up_rows():
    from reportgen.scoring.clean import OutlierBounds, data_issue_reasons

    features = pd.DataFrame(
        {
            "Age": [40, 121, 40, 40, 40],
            "Income": [666666, 50000, 99999, 52000, 55555],
            "MntWines": [10, 10, 10, -5, 10],  # 99,999 repeats but is inside the fence
        }
    )
    bounds = OutlierBounds({"Income": (0.0, 120000.0)}, 1.5)
    reasons = data_issue_reasons(features, bounds)
    # 55,555 repeats its digits but is a believable income inside the fence
    assert reasons.tolist() == [
        "placeholder income",
        "age over 100",
        "",
        "negative amount",
        "",
    ]


# ------------------------------------------------------------------ names the data supports


def _facts(summary, segment):
    from reportgen.describe.kpis import population_kpis
    from reportgen.describe.personas import Facts

    population = population_kpis(summary.everyone)
    signals = {k for k, t in summary.kpi_tests.items() if t.signal}
    return Facts(segment.profile, summary.overall, segment.kpis, population, signals)


def _check_names(summary):
    from reportgen.describe.personas import failed_claims

    names = [s.persona.name for s in summary.segments]
    for s in summary.segments:
        assert failed_claims(s.persona.name, _facts(summary, s)) == [], s.persona.name
    words = [set(n.lower().split()) for n in names]
    for i in range(len(words)):
        for j in range(i + 1, len(words)):
            assert len(words[i] ^ words[j]) >= 2, (names[i], names[j])
    return names


def test_no_persona_name_contradicts_its_kpis_on_the_real_file(real_analysis):
    from reportgen.describe.personas import failed_claims

    summary = real_analysis.summary
    names = _check_names(summary)
    assert "Budget-Conscious Families" not in names  # was one word from its neighbour's name
    assert not any("Lapsing" in n for n in names)  # retention has no signal here
    # the claims can fail: the affluent segment's facts do not make it "Budget-Conscious"
    rich = max(summary.segments, key=lambda s: s.kpis.avg_income)
    assert failed_claims("Budget-Conscious Shoppers", _facts(summary, rich)) == ["Budget-Conscious"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_persona_name_contradicts_its_kpis_on_synthetic_tables(tmp_path, seed):
    from reportgen.input.synth import write_synthetic
    from reportgen.pipeline import analyse

    path = tmp_path / f"synth-{seed}.tsv"
    write_synthetic(path, rows=3000, seed=seed)
    config = Config()
    _check_names(analyse(load_customers(path, config), config).summary)


# ------------------------------------------------------------------ month over month


def test_a_share_move_within_sampling_noise_is_not_called_a_movement(real_analysis):
    from reportgen.describe.changes import highlights, proportion_noise
    from tests.fake_changes import fake_changes

    changes = fake_changes(real_analysis)
    changes.migration.top_moves = []
    n = changes.customers
    for s in changes.segments:  # each share moved by 0.3 points on 2,240 customers: noise
        s.previous_share = s.share - 0.003
        s.share_change = 0.003
        s.share_noise = proportion_noise(s.previous_share, n, s.share, n)
        assert s.share_noise > 0.003
    said = " ".join(highlights(changes))
    assert "rose" not in said and "fell" not in said
    assert "beyond sampling noise" in said
    big = changes.segments[0]  # one real movement: 6 points
    big.previous_share, big.share_change = big.share - 0.06, 0.06
    big.share_noise = proportion_noise(big.previous_share, n, big.share, n)
    assert f"The share of {big.name} rose" in " ".join(highlights(changes))


def test_proportion_noise_matches_the_two_sample_formula():
    from reportgen.describe.changes import proportion_noise

    expected = 1.959963984540054 * np.sqrt(0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1200)
    assert proportion_noise(0.2, 1000, 0.25, 1200) == pytest.approx(expected)


def test_medians_of_skewed_money_are_shown_beside_the_means(real_analysis, real_table):
    used = real_table[real_analysis.customers["data_issue"].to_numpy() == ""]
    everyone = real_analysis.summary.everyone
    assert everyone.median_spend == pytest.approx(used["TotalSpend"].median())
    assert everyone.median_spend < 0.7 * everyone.avg_spend  # spend is skewed
    for s in real_analysis.summary.segments:
        members = used[used["segment"] == s.id]
        assert s.kpis.median_spend == pytest.approx(members["TotalSpend"].median())
        assert s.kpis.median_income == pytest.approx(members["Income"].median())
        assert s.kpis.median_rows == len(members)
