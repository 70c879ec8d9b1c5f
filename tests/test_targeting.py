"""Whom to target and what it is worth: response propensity without leakage, the expected
value of every recommendation, A/B plans that can run, churn only when the data can tell."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import report_runs

from reportgen.config import Config, PropensityConfig
from reportgen.describe.value import purchase_value
from reportgen.errors import InputError
from reportgen.fitting.propensity import fit_propensity
from reportgen.input.load import load_customers
from reportgen.input.synth import CHURN_DRIVERS, generate
from reportgen.pipeline import analyse
from reportgen.scoring.aggregates import BINS
from reportgen.scoring.clean import apply_cleaning, fit_cleaning
from reportgen.scoring.features import engineer, reference_date
from reportgen.scoring.model import model_parts
from reportgen.scoring.propensity import INPUTS, OUTCOMES
from reportgen.scoring.score import score


def _prepared(frame: pd.DataFrame):
    config = Config()
    cleaned, _ = apply_cleaning(frame, fit_cleaning(frame, config.cleaning))
    return engineer(cleaned, reference_date(cleaned, None)), cleaned


def test_response_model_on_the_real_file_is_cross_validated_and_calibrated(real_analysis):
    info = real_analysis.summary.propensity["response"]
    assert info.available and info.outcome == "Response"
    assert info.folds == 5 and info.repeats == 3 and info.cv_rows == info.rows > 2000
    assert info.auc >= 0.85  # out of fold
    assert info.brier < info.brier_constant
    assert info.calibration_error < 0.05 and abs(info.calibration_slope - 1) < 0.2
    assert len(info.calibration) == 10 and len(info.deciles) == 10
    assert info.deciles[0].rate > 3 * info.base_rate  # the top tenth responds far more
    assert info.segment_only_auc < info.auc  # the score ranks better than the segments
    assert len(info.within_segment_auc) == len(real_analysis.summary.segments)
    assert min(info.within_segment_auc.values()) > 0.7  # and ranks inside each segment


def test_no_input_is_the_outcome_or_computed_from_it(real_file):
    frame = load_customers(real_file, Config()).frame
    features, cleaned = _prepared(frame)
    model, info = fit_propensity("Response", features, cleaned, None, PropensityConfig(), 0)
    assert not set(model.numeric) & set(OUTCOMES) and set(model.numeric) <= set(INPUTS)
    assert "Response" not in info.inputs and "CampaignEngagement" not in info.inputs
    # whatever the outcome says, every input of every customer stays the same
    flipped = frame.copy()
    flipped["Response"] = 1 - flipped["Response"]
    features2, cleaned2 = _prepared(flipped)
    assert np.array_equal(model.design(features, cleaned), model.design(features2, cleaned2))
    # and the model built on the flipped outcome sees the same standardised inputs
    other, _ = fit_propensity("Response", features2, cleaned2, None, PropensityConfig(), 0)
    assert other.offset == model.offset and other.scale == model.scale
    assert other.coef != model.coef


def test_every_customer_has_a_propensity_and_assign_gives_the_same(real_analysis, real_file):
    customers = real_analysis.customers
    p = customers["propensity"].to_numpy(dtype=float)
    assert len(p) == 2240 and np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    # scoring from model.json alone (what `reportgen assign` does) gives every customer the
    # same chance, whatever the chunk
    parts = model_parts(json.loads(json.dumps(real_analysis.model)))
    frame = load_customers(real_file, Config()).frame
    again = pd.concat(
        [score(parts, frame.iloc[a : a + 700]).customers for a in (0, 700, 1400, 2100)]
    )
    assert np.allclose(again["propensity"].to_numpy(), p, atol=1e-6)
    # a changed coefficient is caught by the checksum
    tampered = json.loads(json.dumps(real_analysis.model))
    tampered["propensity"]["response"]["coef"][0] += 1
    with pytest.raises(InputError, match="checksum"):
        model_parts(tampered)


def test_segment_propensity_adds_up_to_the_customers(real_analysis):
    customers = real_analysis.customers
    clean = customers[customers["data_issue"] == ""]
    for s in real_analysis.summary.segments:
        p = clean.loc[clean["segment"] == s.id, "propensity"].to_numpy(dtype=float)
        assert s.kpis.propensity == pytest.approx(p.mean(), rel=1e-6)
        assert s.kpis.expected_responders == pytest.approx(p.sum(), rel=1e-6)
        lo, hi = s.kpis.intervals["expected_responders"]
        sd = math.sqrt((p * (1 - p)).sum())
        assert lo == pytest.approx(max(p.sum() - 1.96 * sd, 0), abs=1e-2)
        assert hi == pytest.approx(p.sum() + 1.96 * sd, abs=1e-2)


def test_every_recommendation_has_a_target_and_an_expected_value(real_analysis):
    summary = real_analysis.summary
    settings = Config().recommendations
    customers = real_analysis.customers
    clean = customers[customers["data_issue"] == ""]
    ranks = []
    for s in summary.segments:
        values = [r.value.expected_value for r in s.recommendations]
        assert values == sorted(values, reverse=True)  # the most valuable first
        p = clean.loc[clean["segment"] == s.id, "propensity"].to_numpy(dtype=float)
        for r in s.recommendations:
            v, a = r.value, r.value.assumptions
            ranks.append(r.rank)
            assert a["lift"] > 0 and a["margin"] == settings.margin
            assert a["value_per_response"] == pytest.approx(purchase_value(s), rel=1e-4)
            # the formula, from the assumptions the report states
            assert v.incremental_responders == pytest.approx(
                v.expected_responders * a["lift"], abs=2e-3
            )
            assert v.expected_value == pytest.approx(
                v.incremental_responders * v.value_per_response * a["margin"]
                - v.targeted * a["cost_per_contact"],
                abs=0.05,
            )
            lo, hi = v.expected_responders_interval
            gain = a["lift"] * v.value_per_response * a["margin"]
            assert v.expected_value_interval == pytest.approx(
                [lo * gain - v.cost, hi * gain - v.cost], abs=0.05
            )
            assert v.expected_value_interval[0] <= v.expected_value <= v.expected_value_interval[1]
            # the targeted customers, recounted from every customer's propensity
            if v.scope == "top":
                picked = p[np.floor(p * BINS) >= round(v.threshold * BINS)]
                assert "most likely" not in v.target or v.target.startswith("the ")
                assert v.threshold >= a["break_even_propensity"] - 1 / BINS
            else:
                picked = p
                assert v.target == f"all {len(p):,} customers of the segment"
            assert v.targeted == len(picked)
            assert v.expected_responders == pytest.approx(picked.sum(), rel=1e-4)
    assert sorted(ranks) == list(range(1, len(ranks) + 1))


def test_the_executive_summary_ranks_the_campaigns_by_expected_value():
    run = report_runs.rendered("real")
    html = (run.folder / "report.html").read_text(encoding="utf-8")
    summary_part = html[
        html.index('id="executive-summary"') : html.index('id="executive-summary-end"')
    ]
    assert "Action plan, by expected value" in summary_part
    ranked = sorted(
        (r for s in run.analysis.summary.segments for r in s.recommendations),
        key=lambda r: r.rank,
    )
    positions = [summary_part.index(f"<td>{r.rank}</td><td>{r.action}</td>") for r in ranked[:5]]
    assert positions == sorted(positions)
    assert f"<td>{len(ranked)}</td>" not in summary_part  # the top five only
    assert "Who is likely to respond" in html and 'id="targeting"' in html


def test_without_a_churn_label_no_churn_figure_appears(real_analysis):
    summary = real_analysis.summary
    churn = summary.propensity["churn"]
    assert not churn.available and "churn cannot be estimated" in churn.reason
    assert "churn_risk" not in real_analysis.customers
    assert all(
        s.kpis.churn_risk is None and s.kpis.revenue_at_risk is None for s in summary.segments
    )
    assert "churn" not in real_analysis.model.get("propensity", {})


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("churn")
    path = folder / "churn.csv"
    generate(8000, seed=4, churn=True).to_csv(path, index=False)
    config = Config()
    return analyse(load_customers(path, config), config)


def test_a_churn_label_from_known_drivers_is_found(churn_run):
    info = churn_run.summary.propensity["churn"]
    assert info.available and info.auc >= 0.8 and info.brier < info.brier_constant
    top = {d.feature: d.coefficient for d in info.drivers[:3]}
    assert set(top) == set(CHURN_DRIVERS)  # the drivers the label was made from
    for feature, weight in CHURN_DRIVERS.items():
        assert np.sign(top[feature]) == np.sign(weight)
    assert "Churned" not in info.inputs and "Response" not in info.inputs
    for s in churn_run.summary.segments:
        assert 0 < s.kpis.churn_risk < 1 and s.kpis.revenue_at_risk > 0
        assert 0 <= s.kpis.churn_at_risk <= s.size
    assert "churn_risk" in churn_run.customers


def test_too_few_responders_means_no_model_and_the_rest_works(small_file, tmp_path):
    frame = pd.read_csv(small_file, sep="\t")
    frame["Response"] = 0
    frame.loc[frame.index[:5], "Response"] = 1
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    config = Config()
    analysis = analyse(load_customers(path, config), config)
    info = analysis.summary.propensity["response"]
    assert not info.available and "Only 5 customers with" in info.reason
    assert "propensity" not in analysis.customers
    assert all(r.value is None for s in analysis.summary.segments for r in s.recommendations)
    assert all(s.recommendations for s in analysis.summary.segments)
    # the report says why once, shows no value or action plan, and renders the rest
    from bs4 import BeautifulSoup

    from reportgen.report.render import render_run

    render_run(analysis, tmp_path / "report", config)
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    section = BeautifulSoup(html, "html.parser").find(id="targeting").get_text(" ", strip=True)
    assert "Only 5 customers with" in section and "Campaign values are not estimated" in section
    assert "Action plan" not in html and "Expected value +" not in html
    assert "Primary action" in html and "Its value is not estimated (no response model)" in html
