"""TEST FIXTURE ONLY: plausible interpretation fields for render tests.

Fills personas, KPIs, drivers, LIME examples, rules, recommendations and SHAP arrays into a
copy of an Analysis when the real interpretation step left them empty, so the report
templates and charts can be exercised on every field of the typed result. Values are derived
from the analysis' own customer table (KPIs are real; the explanation numbers are shaped like
real ones but not computed by SHAP/LIME). Never imported by shipped code.
"""

from __future__ import annotations

import copy

import numpy as np

from reportgen.result import (
    ABTest,
    Analysis,
    Driver,
    Explanations,
    Kpis,
    LimeExample,
    LimeWeight,
    Persona,
    Recommendation,
    Rule,
)

_NAMES = [
    ("Budget-minded young families", "Young parents on tight budgets who buy little, on discount."),
    ("Established mid-spenders", "Middle-aged households with steady incomes and purchases."),
    ("Deal-hunting parents", "Families with teenagers who wait for discounts and browse online."),
    ("Affluent store regulars", "High earners without children who spend heavily in store."),
    ("Premium campaign enthusiasts", "The richest, most engaged customers: they accept offers."),
]


def needs_fake(analysis: Analysis) -> bool:
    return any(s.persona is None for s in analysis.summary.segments)


def fill(analysis: Analysis, changes: bool = True) -> Analysis:
    """A deep copy of `analysis` with every interpretation field filled."""
    a = Analysis(
        summary=analysis.summary.model_copy(deep=True),
        customers=analysis.customers.copy(),
        arrays=dict(analysis.arrays),
        model=copy.deepcopy(analysis.model),
    )
    cust = a.customers
    total_spend = float(cust["TotalSpend"].sum())
    feats = [f for f in a.summary.model.features if f in cust]
    rng = np.random.default_rng(0)
    order = sorted(a.summary.segments, key=lambda s: s.profile.get("TotalSpend", 0))
    for rank, seg in enumerate(order):
        name, desc = _NAMES[rank % len(_NAMES)]
        if rank >= len(_NAMES):
            name = f"{name} {rank}"
        members = cust[cust["segment"] == seg.id]
        seg.persona = Persona(
            name=name,
            slug=name.lower().replace(" ", "-"),
            description=desc,
            traits=[
                f"Income around {seg.profile.get('Income', 0):,.0f} a year",
                f"Spend {seg.profile.get('TotalSpend', 0):,.0f} over two years",
                f"{seg.profile.get('Children', 0):.1f} children at home on average",
                f"Accept {seg.profile.get('CampaignEngagement', 0):.1f} of 6 campaign offers",
            ],
        )
        mix = {
            "web": float(members["NumWebPurchases"].sum()),
            "catalogue": float(members["NumCatalogPurchases"].sum()),
            "store": float(members["NumStorePurchases"].sum()),
        }
        tot = sum(mix.values()) or 1.0
        mix = {k: v / tot for k, v in mix.items()}
        resp = float(members["Response"].mean())
        seg.kpis = Kpis(
            size=len(members),
            customer_share=len(members) / len(cust),
            revenue_share=float(members["TotalSpend"].sum()) / total_spend,
            avg_spend=float(members["TotalSpend"].mean()),
            response_rate=resp,
            campaign_acceptance={
                f"AcceptedCmp{i}": float(members[f"AcceptedCmp{i}"].mean()) for i in range(1, 6)
            },
            retention_risk=float((members["Recency"] > 60).mean()),
            complaint_rate=float(members["Complain"].mean()) if "Complain" in members else 0.0,
            preferred_channel=max(mix, key=mix.get),
            channel_mix=mix,
            avg_income=float(members["Income"].mean()),
        )
        rel = {f: seg.relative.get(f, 1.0) for f in feats}
        top = sorted(rel, key=lambda f: abs(np.log(max(rel[f], 1e-3))), reverse=True)[:6]
        seg.drivers = [
            Driver(
                feature=f,
                mean_abs_shap=round(0.2 / (i + 1) + 0.01, 4),
                direction="+" if rel[f] > 1 else "-",
                direction_text=f"{'Higher' if rel[f] > 1 else 'Lower'} {f} than average "
                "makes a customer more likely to be in this segment.",
            )
            for i, f in enumerate(top)
        ]
        rep = members.iloc[0]
        seg.lime_examples = [
            LimeExample(
                customer_id=str(rep["customer_id"]),
                weights=[
                    LimeWeight(
                        feature=f,
                        weight=round(float((0.25 / (i + 1)) * (1 if i % 3 else -0.6)), 4),
                        condition=f"{f} {'>' if rel[f] > 1 else '<='} {rep[f]:,.0f}",
                    )
                    for i, f in enumerate(top)
                ],
                values={f: float(rep[f]) for f in top},
                predicted_probability=0.87,
                agreement_with_shap=0.8,
            )
        ]
        seg.rule = Rule(
            text=f"{top[0]} {'above' if rel[top[0]] > 1 else 'below'} "
            f"{seg.profile.get(top[0], 0):,.0f} and {top[1]} "
            f"{'above' if rel[top[1]] > 1 else 'below'} {seg.profile.get(top[1], 0):,.1f}",
            precision=0.84,
            recall=0.71,
            support=len(members),
        )
        n_arm = int(1200 + 300 * rank)
        seg.recommendations = [
            Recommendation(
                action=action,
                rationale=rationale,
                ab_test=ABTest(
                    baseline_rate=resp,
                    target_rate=resp * 1.2,
                    alpha=0.05,
                    power=0.8,
                    sample_size_per_arm=n_arm,
                    control_share=0.5,
                    segment_size=len(members),
                    feasible=len(members) >= 2 * n_arm,
                    suggestion=""
                    if len(members) >= 2 * n_arm
                    else "Pool two months of sends or aim for a larger lift (+40%).",
                ),
            )
            for action, rationale in [
                (
                    "Send a loyalty offer on their favourite category",
                    "They buy often in one category; a targeted offer rewards that habit.",
                ),
                (
                    "Move catalogue buyers to the web shop with a first-order voucher",
                    "Web orders cost less to serve and this group already browses online.",
                ),
                (
                    "Invite to the premium wine club",
                    "Wine makes up most of their spend and they answer campaigns.",
                ),
            ]
        ]
    n, k = 400, len(a.summary.segments)
    names = feats + ["Recency", "Tenure"]
    names = [f for f in names if f in cust]
    sample = cust.sample(n=min(n, len(cust)), random_state=0)
    x = sample[names].to_numpy(dtype=float)
    z = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    ids = sorted(s.id for s in a.summary.segments)
    seg_idx = np.array([ids.index(v) for v in sample["segment"]])
    weights = rng.normal(0, 0.08, (len(names), k))
    values = z[:, :, None] * weights[None, :, :]
    values[np.arange(len(sample)), :, seg_idx] += 0.05 * np.abs(z)
    a.arrays.update(
        shap_values=values.astype(np.float32),
        shap_data=x.astype(np.float32),
        shap_segment=np.array([ids[i] for i in seg_idx]),
    )
    a.summary.explanations = Explanations(
        surrogate={"model": "gradient boosted trees", "accuracy": 0.962},
        lime_shap_agreement=0.78,
        shap_features=names,
        notes=[f"SHAP values computed for a random sample of {len(sample):,} customers."],
    )
    if changes:
        a.summary.changes = fake_changes(a)
    return a


def fake_changes(a: Analysis):
    """A month-over-month comparison shaped like monthly operations' `Changes` (or None when
    result.py has no such model yet)."""
    try:
        from reportgen.result import Changes, Migration, SegmentChange
    except ImportError:
        return None
    segs = sorted(a.summary.segments, key=lambda s: s.id)
    ids = [s.id for s in segs]
    names = {s.id: s.persona.name if s.persona else f"Segment {s.id}" for s in segs}
    prev = [max(1, int(s.size * (0.9 + 0.05 * i))) for i, s in enumerate(segs)]
    counts = [[p if i == j else 3 for j in range(len(ids))] for i, p in enumerate(prev)]
    total = sum(map(sum, counts))
    stayed = sum(counts[i][i] for i in range(len(ids)))
    return Changes(
        previous_period="2024-05",
        previous_run_id=1,
        previous_created_at="2024-05-31T10:00:00+00:00",
        mode="refit",
        match_threshold=1.5,
        customers=sum(s.size for s in segs),
        previous_customers=sum(prev),
        segments=[
            SegmentChange(
                id=s.id,
                name=names[s.id],
                status="matched",
                size=s.size,
                previous_size=p,
                size_change=s.size - p,
                share=s.share,
                previous_share=p / sum(prev),
                share_change=s.share - p / sum(prev),
            )
            for s, p in zip(segs, prev, strict=True)
        ],
        migration=Migration(
            from_ids=ids,
            to_ids=ids,
            names=names,
            counts=counts,
            in_both=total,
            stayed=stayed,
            moved=total - stayed,
            new_customers=40,
            departed_customers=12,
        ),
        highlights=[f"{names[ids[0]]} grew by {segs[0].size - prev[0]:,} customers."],
    )
