"""What a recommended campaign is worth, and whom it should reach.

For one segment and one campaign (its assumed lift and cost per contact):

    expected responders     = sum of the targeted customers' propensity (their chance of
                              responding, as they did to the last campaign)
    incremental responders  = expected responders x lift
    incremental revenue     = incremental responders x value per response
    expected value          = incremental revenue x margin - targeted x cost per contact

Its range follows from the expected responders' 95 % range (chance alone); the lift, margin
and costs are assumptions, stated with every value, not estimates.

The value per response is the segment's average purchase value (spend / purchases) unless
`recommendations.value_per_response` sets it. Two audiences are compared: the whole segment,
and its customers whose propensity is high enough for one contact to pay for itself
(propensity >= cost / (lift x value x margin)); the one worth more is recommended. The
propensities come from the merged histogram of every customer (aggregates.ScoreTotals), so a
table of any size is targeted exactly to the bin (1 percentage point).
"""

from __future__ import annotations

import math

import numpy as np

from .. import featuretext as ft
from ..config import RecommendationRule, RecommendationsConfig
from ..result import Segment, Value
from ..scoring.aggregates import BINS, ScoreTotals
from .kpis import responders_interval


def purchase_value(segment: Segment) -> float:
    """The segment's average purchase value: spend ÷ web, catalogue and store purchases."""
    spend, purchases = segment.profile.get("TotalSpend"), segment.profile.get("TotalPurchases")
    if not spend or not purchases:
        return 0.0
    return float(spend) / float(purchases)


def value_of(
    segment: Segment,
    position: int,
    scores: ScoreTotals,
    rule: RecommendationRule,
    settings: RecommendationsConfig,
) -> Value:
    """The expected value of `rule`'s campaign for the segment at `position` of `scores`."""
    lift = rule.lift if rule.lift is not None else settings.target_lift
    cost = rule.cost if rule.cost is not None else settings.cost_per_contact
    worth = settings.value_per_response or purchase_value(segment)
    counts = scores.counts[position].astype(float)
    sums = scores.bin_sums[position]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, 0.0)
    gain = lift * worth * settings.margin  # profit per expected responder (propensity 1)
    threshold = cost / gain if gain > 0 else math.inf

    def audience(mask: np.ndarray) -> dict:
        n, r = float(counts[mask].sum()), float(sums[mask].sum())
        squares = float((sums[mask] * mean[mask]).sum())  # sum p² within 1-point bins
        extra = r * lift
        return {
            "targeted": int(n),
            "expected_responders": r,
            "interval": responders_interval(r, squares),
            "incremental_responders": extra,
            "incremental_revenue": extra * worth,
            "cost": n * cost,
            "expected_value": extra * worth * settings.margin - n * cost,
        }

    whole = audience(counts > 0)
    chosen, scope, lowest = whole, "segment", None
    paying = (counts > 0) & (mean >= threshold)
    if paying.any() and paying.sum() < (counts > 0).sum():
        top = audience(paying)
        if top["expected_value"] > whole["expected_value"]:
            chosen, scope = top, "top"
            lowest = float(np.flatnonzero(paying)[0]) / BINS
    if scope == "top":
        target = (
            f"the {chosen['targeted']:,} customers of the segment with a propensity of "
            f"{ft.percent(lowest)} or more (where one contact pays for itself)"
        )
    else:
        target = f"all {chosen['targeted']:,} customers of the segment"
    lo, hi = chosen["interval"]
    return Value(
        target=target,
        targeted=chosen["targeted"],
        scope=scope,
        threshold=lowest,
        expected_responders=round(chosen["expected_responders"], 3),
        expected_responders_interval=[round(lo, 3), round(hi, 3)],
        incremental_responders=round(chosen["incremental_responders"], 3),
        value_per_response=round(worth, 4),
        incremental_revenue=round(chosen["incremental_revenue"], 2),
        cost=round(chosen["cost"], 2),
        expected_value=round(chosen["expected_value"], 2),
        expected_value_interval=[
            round(lo * gain - chosen["cost"], 2),  # the value is linear in the responders
            round(hi * gain - chosen["cost"], 2),
        ],
        assumptions={
            "lift": lift,
            "lift_source": "rule" if rule.lift is not None else "recommendations.target_lift",
            "cost_per_contact": cost,
            "cost_source": "rule" if rule.cost is not None else "recommendations.cost_per_contact",
            "margin": settings.margin,
            "value_per_response": round(worth, 4),
            "value_source": "recommendations.value_per_response"
            if settings.value_per_response
            else "the segment's average purchase value (spend ÷ purchases)",
            "break_even_propensity": round(threshold, 4) if math.isfinite(threshold) else "none",
        },
    )
