"""Unit tests of the interpretation pieces on small hand-made data (no real file needed)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from reportgen import featuretext as ft
from reportgen.config import RecommendationRule, RecommendationsConfig, load_config
from reportgen.describe.kpis import segment_kpis
from reportgen.describe.personas import build_personas, draft_persona
from reportgen.describe.recommend import (
    ab_plan,
    default_rules,
    min_detectable_lift,
    recommend,
    sample_size,
)
from reportgen.errors import ConfigError
from reportgen.fitting.explain import evaluate_conditions, segment_rule, top_overlap
from reportgen.result import Segment


def textbook_n(p1: float, p2: float, alpha: float, power: float) -> float:
    """Two-proportion sample size per arm, equal arms (independent of reportgen)."""
    za, zb = norm.ppf(1 - alpha / 2), norm.ppf(power)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return num**2 / (p2 - p1) ** 2


# --------------------------------------------------------------------------- A/B sizing


def test_sample_size_hand_worked_example():
    # 10% -> 15%, alpha 5% two-sided, power 80%: 685.6 per arm by hand (Fleiss, no continuity
    # correction): z = 1.95996, 0.84162; pbar = 0.125;
    # (1.95996*sqrt(2*.125*.875) + 0.84162*sqrt(.09+.1275))^2 / 0.05^2 = 685.6 -> 686
    assert sample_size(0.10, 0.15, 0.05, 0.80) == (686, 686)


@pytest.mark.parametrize(
    "p1,lift,alpha,power",
    [
        (0.02, 0.5, 0.05, 0.8),
        (0.116, 0.2, 0.05, 0.8),
        (0.3, 0.1, 0.01, 0.9),
        (0.75, 0.1, 0.05, 0.8),
    ],
)
def test_sample_size_matches_textbook_formula(p1, lift, alpha, power):
    p2 = p1 * (1 + lift)
    n_c, n_t = sample_size(p1, p2, alpha, power)
    assert n_c == n_t == math.ceil(textbook_n(p1, p2, alpha, power))


def test_unequal_split_matches_general_formula():
    p1, p2, c = 0.1, 0.13, 0.3
    r = (1 - c) / c  # treatment / control
    za, zb = norm.ppf(0.975), norm.ppf(0.8)
    pbar = (p1 + r * p2) / (1 + r)
    n1 = (
        za * math.sqrt(pbar * (1 - pbar) * (1 + 1 / r))
        + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / r)
    ) ** 2 / (p2 - p1) ** 2
    n_c, n_t = sample_size(p1, p2, 0.05, 0.8, control_share=c)
    assert n_c == math.ceil(n1)
    assert n_t == math.ceil(r * n1)
    assert n_t > n_c  # the larger arm is the treatment with a 30/70 split


def test_ab_plan_feasibility_and_minimum_detectable_lift():
    settings = RecommendationsConfig()  # at most 6 sends
    plan = ab_plan(0.12, 0.2, 500, settings)
    n = math.ceil(textbook_n(0.12, 0.144, 0.05, 0.8))
    assert plan.sample_size_per_arm == n and plan.treatment_size == n
    assert plan.target_rate == pytest.approx(0.144)
    assert 2 * n > 6 * 500  # more contacts than six sends to everyone
    assert not plan.feasible and plan.design == "none" and plan.sends == 0
    assert "Even 6 sends to all 500 customers" in plan.plan and plan.suggestion == ""
    mdl = plan.min_detectable_lift
    assert mdl is not None and mdl > 0.2
    # the minimum detectable lift fits in 6 x 500 contacts, 1% less does not
    assert sum(sample_size(0.12, 0.12 * (1 + mdl), 0.05, 0.8)) <= 3000
    assert sum(sample_size(0.12, 0.12 * (1 + mdl - 0.01), 0.05, 0.8)) > 3000
    big = ab_plan(0.12, 0.2, 2 * n, settings)
    assert big.feasible and big.design == "segment" and big.sends == 1
    assert f"hold out {n:,} at random" in big.plan
    half = ab_plan(0.12, 0.2, n, settings)  # the segment holds half the contacts needed
    assert half.feasible and half.design == "sends" and half.sends == 2


def test_ab_plan_on_the_targeted_customers_needs_fewer_sends():
    settings = RecommendationsConfig()
    # the 300 most likely customers answer at 50 %: +20 % is easier to prove there
    plan = ab_plan(0.12, 0.2, 500, settings, audience=(300, 0.5))
    n_c, n_t = sample_size(0.5, 0.6, 0.05, 0.8)
    assert plan.design == "top-sends" and plan.sends == math.ceil((n_c + n_t) / 300) <= 6
    assert plan.baseline_rate == pytest.approx(0.5) and plan.sample_size_per_arm == n_c
    assert "300 customers targeted" in plan.plan


def test_zero_baseline_uses_the_floor():
    plan = ab_plan(0.0, 0.2, 100, RecommendationsConfig(baseline_floor=0.02))
    assert plan.baseline_rate == pytest.approx(0.02)
    assert plan.target_rate == pytest.approx(0.024)
    assert "floor" in plan.suggestion
    # the plan reports the smallest lift 6 sends to the 100 customers can detect, at the
    # floored baseline
    expected = min_detectable_lift(0.02, 600, 0.05, 0.8, 0.5)
    assert expected is not None and expected > 1
    assert plan.min_detectable_lift == pytest.approx(expected, abs=1e-4)


# --------------------------------------------------------------------------- rules


def test_nice_threshold_is_round_and_splits_the_same():
    rng = np.random.default_rng(0)
    for _ in range(200):
        low = float(rng.uniform(-1e5, 1e5))
        high = low + float(rng.uniform(1e-3, 5e3))
        v = ft.nice_threshold(low, high)
        assert low < v <= high
    assert ft.nice_threshold(64873.0, 65012.0) == 65000
    assert ft.nice_threshold(1.0, 2.0) == 2
    assert ft.nice_threshold(0.2412, 0.2571) == 0.25


def test_rule_precision_recall_recomputed_from_the_conditions():
    rng = np.random.default_rng(3)
    n = 600
    X = pd.DataFrame(
        {
            "Income": rng.normal(50_000, 15_000, n).round(),
            "Children": rng.integers(0, 4, n).astype(float),
            "Age": rng.integers(20, 75, n).astype(float),
        }
    )
    y = np.array((X["Income"] >= 60_000) & (X["Children"] == 0))
    y[rng.choice(n, 5, replace=False)] ^= True  # a little noise
    rule = segment_rule(X, y, max_depth=3, max_clauses=2, seed=0)
    # independent evaluation of the rule's conditions with pandas
    hit = pd.Series(False, index=X.index)
    for clause in rule.conditions:
        ok = pd.Series(True, index=X.index)
        for c in clause:
            ok &= X[c["feature"]] >= c["value"] if c["op"] == ">=" else X[c["feature"]] < c["value"]
        hit |= ok
    tp = (hit & y).sum()
    assert rule.precision == pytest.approx(tp / hit.sum(), abs=1e-4)
    assert rule.recall == pytest.approx(tp / y.sum(), abs=1e-4)
    assert rule.support == hit.sum()
    assert rule.precision > 0.9 and rule.recall > 0.9
    assert "no children" in rule.text.lower() and "Income ≥" in rule.text
    assert all(len(c) <= 3 for c in rule.conditions)
    assert np.array_equal(evaluate_conditions(rule.conditions, X), hit.to_numpy())


def test_top_overlap():
    a = np.array([0.5, -0.4, 0.0, 0.1, 0.05])
    b = np.array([-0.6, 0.0, 0.3, 0.2, 0.01])
    assert top_overlap(a, b, 2) == 0.5  # {0,1} vs {0,2}
    assert top_overlap(a, a, 3) == 1.0


# --------------------------------------------------------------------------- KPIs


def _customers() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    n = 400
    f = pd.DataFrame(
        {
            "TotalSpend": rng.gamma(2, 300, n),
            "Income": rng.normal(50_000, 10_000, n),
            "Recency": rng.integers(0, 100, n).astype(float),
            "Response": rng.integers(0, 2, n).astype(float),
            "Complain": (rng.uniform(size=n) < 0.02).astype(float),
            "NumWebPurchases": rng.integers(0, 10, n).astype(float),
            "NumCatalogPurchases": rng.integers(0, 10, n).astype(float),
            "NumStorePurchases": rng.integers(0, 10, n).astype(float),
            "NumDealsPurchases": rng.integers(0, 5, n).astype(float),
            **{f"AcceptedCmp{i}": (rng.uniform(size=n) < 0.1).astype(float) for i in range(1, 6)},
        }
    )
    labels = rng.integers(0, 3, n)
    return f, labels


def test_kpis_shares_and_rates_by_hand():
    f, labels = _customers()
    k = segment_kpis(f, labels, [0, 1, 2], recency_days=60)
    assert sum(v.customer_share for v in k.values()) == pytest.approx(1.0)
    assert sum(v.revenue_share for v in k.values()) == pytest.approx(1.0)
    m = labels == 1
    assert k[1].size == m.sum()
    assert k[1].revenue_share == pytest.approx(f.TotalSpend[m].sum() / f.TotalSpend.sum())
    assert k[1].avg_spend == pytest.approx(f.TotalSpend[m].mean())
    assert k[1].response_rate == pytest.approx(f.Response[m].mean())
    assert k[1].retention_risk == pytest.approx((f.Recency[m] > 60).mean())
    assert k[1].complaint_rate == pytest.approx(f.Complain[m].mean())
    assert k[1].campaign_acceptance["AcceptedCmp3"] == pytest.approx(f.AcceptedCmp3[m].mean())
    assert sum(k[1].channel_mix.values()) == pytest.approx(1.0)
    assert k[1].preferred_channel in {"web", "catalog", "store", "deals"}
    stricter = segment_kpis(f, labels, [0, 1, 2], recency_days=90)
    assert stricter[1].retention_risk == pytest.approx((f.Recency[m] > 90).mean())


def test_preferred_channel_is_relative_to_population():
    f, labels = _customers()
    f.loc[labels == 2, "NumCatalogPurchases"] *= 4  # segment 2 over-indexes on the catalogue
    k = segment_kpis(f, labels, [0, 1, 2], recency_days=60)
    assert k[2].preferred_channel == "catalog"


# --------------------------------------------------------------------------- personas


OVERALL = {
    "Income": 50_000, "TotalSpend": 600, "Age": 45, "Children": 0.95, "Kidhome": 0.44,
    "Teenhome": 0.51, "IsParent": 0.72, "NumWebVisitsMonth": 5.3, "DealsShare": 0.24,
    "TotalPurchases": 12.5, "Recency": 49, "CampaignEngagement": 0.45,
}  # fmt: skip
STD = {k: abs(v) * 0.4 + 0.1 for k, v in OVERALL.items()}
POP = {"deals_share": 0.19, "response_rate": 0.15, "retention_risk": 0.4, "channel_web": 0.33,
       "channel_catalog": 0.17, "channel_store": 0.5}  # fmt: skip


def _kpis(**kw):
    from reportgen.result import Kpis

    base = dict(
        size=100, customer_share=0.2, revenue_share=0.2, avg_spend=600, response_rate=0.15,
        campaign_acceptance={}, retention_risk=0.4, complaint_rate=0.01,
        preferred_channel="store", channel_mix={"web": 0.33, "catalog": 0.17, "store": 0.5},
        deals_share=0.19,
    )  # fmt: skip
    base.update(kw)
    return Kpis(**base)


def test_personas_are_derived_distinct_and_overridable():
    family = {**OVERALL, "Income": 40_000, "TotalSpend": 200, "Children": 2.1, "Kidhome": 1.0,
              "Teenhome": 1.1, "IsParent": 1.0}  # fmt: skip
    family_twin = {**family, "Children": 1.8, "Age": 35}
    rich = {**OVERALL, "Income": 78_000, "TotalSpend": 1500, "Children": 0.1, "Kidhome": 0.0,
            "Teenhome": 0.1, "IsParent": 0.1, "TotalPurchases": 19}  # fmt: skip
    profiles = {0: family, 1: family_twin, 2: rich}
    kp = {i: _kpis() for i in profiles}
    drafts = [draft_persona(i, p, OVERALL, STD, kp[i], POP, 60) for i, p in profiles.items()]
    personas = build_personas(drafts, kp, {})
    names = [personas[i].name for i in profiles]
    assert len(set(names)) == 3, names
    assert personas[0].name == "Budget-Conscious Families"  # the stronger family keeps the name
    assert personas[1].name == "Young Budget-Conscious Families"  # the twin is told apart
    assert personas[2].name == "Affluent Loyal Spenders"
    for p in personas.values():
        assert 3 <= len(p.traits) <= 5
        assert p.description.startswith(p.name)
        assert p.slug == p.name.lower().replace(" ", "-")
    # overriding one name; a derived name that equals it is made distinct
    over = build_personas(drafts, kp, {"2": "Budget-Conscious Families"})
    assert over[2].name == "Budget-Conscious Families"
    assert len({p.name for p in over.values()}) == 3


def test_identical_segments_still_get_distinct_names():
    kp = {i: _kpis() for i in range(3)}
    drafts = [draft_persona(i, dict(OVERALL), OVERALL, STD, kp[i], POP, 60) for i in range(3)]
    names = [p.name for p in build_personas(drafts, kp, {}).values()]
    assert len(set(names)) == 3
    assert names[0] == "Shoppers" and names[1] == "Shoppers II"


# --------------------------------------------------------------------------- recommendations


def _segment(**relative) -> Segment:
    rel = {"TotalSpend": 1.0, "TotalPurchases": 1.0, "CampaignEngagement": 1.0, **relative}
    return Segment(id=0, size=100, share=0.2, profile={"IsParent": 0.5}, relative=rel)


def test_packaged_rules_load_and_trigger_with_rationale():
    rules = default_rules()
    assert len(rules) >= 8
    seg = _segment(TotalSpend=2.2, TotalPurchases=1.5)
    recs = recommend(seg, _kpis(size=2000, response_rate=0.12), rules, RecommendationsConfig())
    assert 2 <= len(recs) <= 4
    assert recs[0].action.startswith("Exclusive VIP")
    assert "2.20× the average" in recs[0].rationale
    assert recs[0].triggers["relative.TotalSpend"] == 2.2
    n = math.ceil(textbook_n(0.12, 0.144, 0.05, 0.8))
    assert recs[0].ab_test.sample_size_per_arm == n
    assert recs[0].ab_test.design == ("segment" if 2000 >= 2 * n else "sends")
    assert recs[0].ab_test.sends == math.ceil(2 * n / 2000)


def test_fallbacks_fill_up_to_the_minimum_and_config_rules_replace_defaults():
    seg = _segment()
    recs = recommend(seg, _kpis(), default_rules(), RecommendationsConfig())
    assert len(recs) == 2  # nothing specific matches an average segment: the two fallbacks
    assert "no specific rule" in recs[0].rationale
    own = [
        RecommendationRule(action="A", when={"kpis.preferred_channel": "== store"}, lift=0.5),
        RecommendationRule(action="B", when={"relative.TotalSpend": "< 0.5"}),
        RecommendationRule(action="C"),
    ]
    recs = recommend(seg, _kpis(), own, RecommendationsConfig(min_per_segment=2))
    assert [r.action for r in recs] == ["A", "C"]
    assert recs[0].ab_test.target_rate == pytest.approx(0.15 * 1.5)


def test_bad_rule_conditions_are_config_errors():
    seg = _segment()
    bad_field = [RecommendationRule(action="X", when={"relative": ">= 1"})]
    with pytest.raises(ConfigError, match="unknown field"):
        recommend(seg, _kpis(), bad_field, RecommendationsConfig())
    bad_op = [RecommendationRule(action="X", when={"relative.TotalSpend": "big"})]
    with pytest.raises(ConfigError, match="not understood"):
        recommend(seg, _kpis(), bad_op, RecommendationsConfig())


def test_config_accepts_rules_table():
    cfg = load_config(
        overrides={"recommendations": {"rules": [{"action": "X", "when": {"kpis.size": ">= 1"}}]}},
        environ={},
    )
    assert cfg.recommendations.rules[0].action == "X"
