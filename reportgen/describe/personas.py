"""Personas: a name an executive remembers, a paragraph and 3-5 traits per segment.

Everything is derived from the segment's profile (means of its fitted customers) against the
whole population, never from the segment id, so it works for any k and any file.

* Each *dimension* (income, spend, family status, age band, web activity, deal seeking,
  loyalty, campaign responsiveness, recency, preferred channel) gets a naming strength (how
  many "notable steps" the segment is from the population: 1 = just notable, see the
  constants below), a z-score (segment mean minus population mean, in population standard
  deviations; used to rank traits) and a sentence.
* The name is ``[age] [wealth] [behaviour] <noun>``. The noun comes from the most telling life
  stage or behaviour (Campaign Responders, Families, Parents of Teens, Spenders, Web Browsers,
  Bargain Hunters, Regulars, else Shoppers); the wealth word from income and spend
  (Affluent, Budget-Conscious, High-Income, none when middling). A bare name (no wealth word)
  gets the first notable qualifier in `QUALIFIER_PRIORITY`; a two-word name also gets a
  notable "signature" behaviour (Loyal, Campaign-Responsive).
* Every word of a name is a claim about the segment, held against its KPIs and their 95 %
  intervals (`CLAIMS`): a word is used only when its claim holds ("Affluent": income and
  spend clearly above average; "Loyal": buys more often and is not more at risk; "Lapsing"
  only when retention risk has signal in the data, ...). A noun whose claim fails becomes
  "Shoppers".
* Names are distinct, and no two differ by a single word: when segments would share a name
  (or one name is another plus or minus one word), the one whose noun fits best keeps it and
  each other gets the first notable qualifier that the others do not share; a roman numeral
  is the last resort. `personas.names` in the config overrides any name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .. import featuretext as ft
from ..result import Kpis, Persona

#: One "notable step" per dimension (naming strength 1.0).
INCOME_STEP = 1.2  # income ratio to the population mean
SPEND_STEP = 1.5  # spend ratio
AGE_STEP = 5.0  # years from the population mean
WEB_STEP = 1.2  # web-visits ratio
DEALS_STEP = 1.3  # deals-share ratio
LOYAL_STEP = 1.25  # purchases ratio (and not lapsing)
CAMPAIGN_HIGH = 2.0  # offers-accepted ratio
CAMPAIGN_LOW = 0.7
RECENCY_STEP = 1.15  # days-since-last-purchase ratio
CHANNEL_STEP = 1.5  # channel-share ratio
PARENTS_STEP = 0.2  # share of parents below the population's
FAMILY_STEP = 1.3  # children (or teenagers) per household against the population's

#: Qualifier words by preference (dimension key, word). Only words that say something an
#: executive can act on are used in names; the others still appear as traits.
QUALIFIER_PRIORITY = [
    ("campaign", "Campaign-Responsive"),
    ("campaign", "Campaign-Shy"),
    ("loyal", "Loyal"),
    ("web", "Digital"),
    ("deals", "Deal-Seeking"),
    ("age", "Young"),
    ("age", "Mature"),
    ("recency", "Lapsing"),
    ("no_children", "Child-Free"),
    ("channel", "Catalogue"),
    ("channel", "Online"),
    ("channel", "In-Store"),
]
SIGNATURE = {"Loyal", "Campaign-Responsive"}
#: qualifiers that would repeat what the noun already says
_REDUNDANT = {
    "Bargain Hunters": {"Deal-Seeking"},
    "Web Browsers": {"Digital", "Online"},
    "Regulars": {"Loyal"},
    "Campaign Responders": {"Campaign-Responsive", "Campaign-Shy"},
    "Families": {"Child-Free"},
    "Parents of Teens": {"Child-Free"},
}


@dataclass
class Dimension:
    key: str
    #: naming strength: >= 1 means notable
    strength: float
    #: z-score of the underlying feature (ranks traits)
    z: float
    word: str = ""
    trait: str = ""

    @property
    def slot(self) -> str:
        return "age" if self.key == "age" else "behaviour"


@dataclass
class Draft:
    segment_id: int
    noun: str
    #: how well the noun fits (decides who keeps a shared name)
    noun_fit: float
    wealth: str
    dims: list[Dimension]
    qualifiers: list[Dimension] = field(default_factory=list)

    def name(self) -> str:
        words = [d.word for d in self.qualifiers if d.slot == "age"]
        if self.wealth:
            words.append(self.wealth)
        words += [d.word for d in self.qualifiers if d.slot != "age"]
        return " ".join([*words, self.noun])

    def notable(self) -> list[Dimension]:
        """Nameable notable dimensions in QUALIFIER_PRIORITY order, minus redundant ones."""
        redundant = _REDUNDANT.get(self.noun, set())
        by = {(d.key, d.word): d for d in self.dims if d.strength >= 1}
        return [by[kw] for kw in QUALIFIER_PRIORITY if kw in by and kw[1] not in redundant]


@dataclass
class Facts:
    """What a name's words are held against: one segment's profile and KPIs, everyone's."""

    profile: dict[str, float]
    overall: dict[str, float]
    kpis: Kpis
    population: dict[str, float]
    #: KPI fields that differ between segments (summary.kpi_tests); None: not tested
    signals: set[str] | None = None

    def ratio(self, feature: str) -> float:
        return _ratio(self.profile.get(feature, 0.0), self.overall.get(feature, 0.0))

    def versus(self, kpi: str) -> str:
        """ "above" / "below" / "same" against all customers (95 % interval), or ""."""
        return self.kpis.versus_average.get(kpi, "")

    def has_signal(self, kpi: str) -> bool:
        return self.signals is None or kpi in self.signals


def _clearly(facts: Facts, kpi: str, direction: str) -> bool:
    """The interval says so, or (no interval known) the point value does."""
    v = facts.versus(kpi)
    return v == direction if v else True


def _loyal(f: Facts) -> bool:
    return f.ratio("TotalPurchases") >= LOYAL_STEP and f.versus("retention_risk") != "above"


def _digital(f: Facts) -> bool:
    return f.ratio("NumWebVisitsMonth") >= WEB_STEP


def _deal_seeking(f: Facts) -> bool:
    return _ratio(f.kpis.deals_share or 0, f.population.get("deals_share", 0)) >= DEALS_STEP


#: word of a name -> the claim it makes, as a test on the segment's facts (a qualifier and
#: the noun that says the same thing share one test)
CLAIMS = {
    "Affluent": lambda f: (
        f.ratio("Income") >= INCOME_STEP
        and f.ratio("TotalSpend") >= INCOME_STEP
        and _clearly(f, "avg_income", "above")
        and _clearly(f, "avg_spend", "above")
    ),
    "High-Income": lambda f: (
        f.ratio("Income") >= INCOME_STEP and _clearly(f, "avg_income", "above")
    ),
    "Budget-Conscious": lambda f: (
        (f.ratio("Income") <= 1 / INCOME_STEP and _clearly(f, "avg_income", "below"))
        or (f.ratio("TotalSpend") <= 1 / SPEND_STEP and _clearly(f, "avg_spend", "below"))
    ),
    "Young": lambda f: f.profile.get("Age", 0) - f.overall.get("Age", 0) <= -AGE_STEP,
    "Mature": lambda f: f.profile.get("Age", 0) - f.overall.get("Age", 0) >= AGE_STEP,
    "Loyal": _loyal,
    "Regulars": _loyal,
    "Campaign-Responsive": lambda f: (
        f.ratio("CampaignEngagement") >= 1 and _clearly(f, "response_rate", "above")
    ),
    "Campaign Responders": lambda f: (
        f.ratio("CampaignEngagement") >= CAMPAIGN_HIGH and _clearly(f, "response_rate", "above")
    ),
    "Campaign-Shy": lambda f: (
        f.ratio("CampaignEngagement") <= CAMPAIGN_LOW and f.versus("response_rate") != "above"
    ),
    "Digital": _digital,
    "Web Browsers": _digital,
    "Deal-Seeking": _deal_seeking,
    "Bargain Hunters": _deal_seeking,
    "Lapsing": lambda f: f.has_signal("retention_risk") and _clearly(f, "retention_risk", "above"),
    "Child-Free": lambda f: f.profile.get("IsParent", 1.0) <= 0.3,
    "Families": lambda f: f.profile.get("Children", 0) >= 0.5,
    "Parents of Teens": lambda f: f.profile.get("Teenhome", 0) >= 0.5,
    "Spenders": lambda f: f.ratio("TotalSpend") >= SPEND_STEP and _clearly(f, "avg_spend", "above"),
    "Catalogue": lambda f: _channel(f, "catalog"),
    "Online": lambda f: _channel(f, "web"),
    "In-Store": lambda f: _channel(f, "store"),
    "Shoppers": lambda f: True,
}


def _channel(f: Facts, channel: str) -> bool:
    share, base = f.kpis.channel_mix.get(channel, 0.0), f.population.get(f"channel_{channel}", 0)
    return f.kpis.preferred_channel == channel and _ratio(share, base) >= CHANNEL_STEP


def failed_claims(name: str, facts: Facts) -> list[str]:
    """The words of `name` whose claim does not hold for the segment (unknown words pass:
    a name from the configuration is the user's)."""
    words = _words(name)
    return [w for w in words if w in CLAIMS and not CLAIMS[w](facts)]


def _words(name: str) -> list[str]:
    """A name's claim-bearing words, two-word nouns kept together."""
    out, rest = [], name
    for noun in sorted((c for c in CLAIMS if " " in c), key=len, reverse=True):
        if rest.endswith(noun):
            out.append(noun)
            rest = rest[: -len(noun)]
            break
    return rest.split() + out


def _steps(ratio: float, step: float) -> float:
    """How many `step`-fold changes `ratio` is (1.0 = exactly one notable step)."""
    if not (ratio > 0 and math.isfinite(ratio)):
        return 0.0
    return abs(math.log(ratio)) / math.log(step)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 1.0


def _vs(x: float, base: float) -> str:
    if not base:
        return ""
    d = x / base - 1
    if abs(d) < 0.05:
        return "about average"
    return f"{'+' if d > 0 else '−'}{abs(100 * d):.0f}% vs all customers"


def dimensions(
    profile: dict[str, float],
    overall: dict[str, float],
    std: dict[str, float],
    kpis: Kpis,
    population: dict[str, float],
    recency_days: int,
) -> list[Dimension]:
    """Every dimension of a segment against the population."""
    p, o = profile, overall

    def g(f: str) -> float:
        return float(p.get(f, 0.0))

    def z(f: str, value: float | None = None) -> float:
        s = std.get(f, 0.0)
        v = g(f) if value is None else value
        return (v - o.get(f, 0.0)) / s if s else 0.0

    dims: list[Dimension] = []
    inc, spend = g("Income"), g("TotalSpend")
    dims.append(
        Dimension(
            "income",
            _steps(_ratio(inc, o.get("Income", 0)), INCOME_STEP),
            z("Income"),
            trait=f"Household income {ft.number(inc)} ({_vs(inc, o.get('Income', 0))})",
        )
    )
    dims.append(
        Dimension(
            "spend",
            _steps(_ratio(spend, o.get("TotalSpend", 0)), SPEND_STEP),
            z("TotalSpend"),
            trait=f"Spent {ft.number(spend)} in two years ({_vs(spend, o.get('TotalSpend', 0))})",
        )
    )

    # family status
    kids, teens = g("Kidhome"), g("Teenhome")
    children = g("Children") if "Children" in p else kids + teens
    parents, o_parents = g("IsParent"), o.get("IsParent", 0.0)
    if parents <= 0.3:
        dims.append(
            Dimension(
                "no_children",
                max(0.0, (o_parents - parents) / PARENTS_STEP),
                z("IsParent"),
                "Child-Free",
                f"Mostly no children at home: {ft.percent(parents)} are parents "
                f"(all customers {ft.percent(o_parents)})",
            )
        )
    else:
        if kids and teens and 0.8 <= kids / teens <= 1.25:
            which = "small children and teenagers alike"
        else:
            which = "mostly small children" if kids > teens else "mostly teenagers"
        dims.append(
            Dimension(
                "family",
                abs(children - o.get("Children", 0.0)) / 0.4,
                z("Children"),
                trait=f"{children:.1f} children at home on average, {which} "
                f"({ft.percent(parents)} are parents; all customers {o.get('Children', 0):.1f})",
            )
        )

    # age band
    age, diff = g("Age"), g("Age") - o.get("Age", 0.0)
    dims.append(
        Dimension(
            "age",
            abs(diff) / AGE_STEP,
            z("Age"),
            "Young" if diff < 0 else "Mature",
            f"Average age {age:.0f}, {abs(diff):.0f} years {'younger' if diff < 0 else 'older'} "
            "than all customers"
            if abs(diff) >= 2
            else f"Average age {age:.0f}, like all customers",
        )
    )

    # web activity
    web, o_web = g("NumWebVisitsMonth"), o.get("NumWebVisitsMonth", 0.0)
    dims.append(
        Dimension(
            "web",
            _steps(_ratio(web, o_web), WEB_STEP),
            z("NumWebVisitsMonth"),
            "Digital" if web > o_web else "Offline",
            f"{'Frequent' if web > o_web else 'Rare'} web visitors: {web:.1f} visits a month "
            f"(all customers {o_web:.1f})",
        )
    )

    # deal seeking
    deals, o_deals = kpis.deals_share or 0.0, population.get("deals_share", 0.0)
    dims.append(
        Dimension(
            "deals",
            _steps(_ratio(deals, o_deals), DEALS_STEP),
            z("DealsShare"),
            "Deal-Seeking" if deals > o_deals else "Full-Price",
            f"{'Bargain hunters' if deals > o_deals else 'Rarely buy on discount'}: "
            f"{ft.percent(deals)} of purchases on discount (all customers {ft.percent(o_deals)})",
        )
    )

    # loyalty: buy often and not lapsing
    buys, o_buys = g("TotalPurchases"), o.get("TotalPurchases", 0.0)
    r_rec = _ratio(g("Recency"), o.get("Recency", 0.0))
    loyal = _steps(_ratio(buys, o_buys), LOYAL_STEP) if buys > o_buys and r_rec <= 1.1 else 0.0
    dims.append(
        Dimension(
            "loyal",
            loyal,
            z("TotalPurchases"),
            "Loyal" if buys > o_buys else "Occasional",
            f"{'Frequent' if buys > o_buys else 'Occasional'} buyers: {buys:.0f} purchases in "
            f"two years (all customers {o_buys:.0f})",
        )
    )

    # campaign responsiveness
    cmp_, o_cmp = g("CampaignEngagement"), o.get("CampaignEngagement", 0.0)
    r_cmp = _ratio(cmp_, o_cmp)
    high = r_cmp >= 1
    dims.append(
        Dimension(
            "campaign",
            _steps(r_cmp, CAMPAIGN_HIGH) if high else _steps(r_cmp, 1 / CAMPAIGN_LOW),
            z("CampaignEngagement"),
            "Campaign-Responsive" if high else "Campaign-Shy",
            f"{'Responsive to' if high else 'Rarely respond to'} campaigns: "
            f"{ft.percent(kpis.response_rate)} took the last offer "
            f"(all customers {ft.percent(population.get('response_rate', 0))}); "
            f"{cmp_:.1f} offers accepted on average (all customers {o_cmp:.1f})",
        )
    )

    # recency / retention risk
    dims.append(
        Dimension(
            "recency",
            _steps(r_rec, RECENCY_STEP),
            z("Recency"),
            "Lapsing" if r_rec > 1 else "Active",
            f"{ft.percent(kpis.retention_risk)} have not bought for over {recency_days} days "
            f"(all customers {ft.percent(population.get('retention_risk', 0))})",
        )
    )

    # preferred channel (relative to all customers); deals are covered above
    ch = kpis.preferred_channel
    if ch in kpis.channel_mix:
        share = kpis.channel_mix[ch]
        base = population.get(f"channel_{ch}", 0.0)
        feature = {"web": "WebShare", "catalog": "CatalogShare", "store": "StoreShare"}[ch]
        where = {"web": "on the web", "catalog": "from the catalogue", "store": "in store"}[ch]
        dims.append(
            Dimension(
                "channel",
                _steps(_ratio(share, base), CHANNEL_STEP) if share and base else 0.0,
                z(feature),
                {"web": "Online", "catalog": "Catalogue", "store": "In-Store"}[ch],
                f"Buy {where} more than others: {ft.percent(share)} of purchases "
                f"(all customers {ft.percent(base)})",
            )
        )
    return dims


def _wealth(income: Dimension, spend: Dimension) -> str:
    if income.z > 0 and spend.z > 0 and income.strength >= 1 and spend.strength >= 1:
        return "Affluent"
    if (income.z < 0 and income.strength >= 1) or (spend.z < 0 and spend.strength >= 1.5):
        return "Budget-Conscious"
    if income.z > 0 and income.strength >= 1:
        return "High-Income"
    return ""


def _noun(by: dict[str, Dimension], p: dict[str, float], overall: dict[str, float]):
    """(noun, how well it fits)."""
    kids, teens = p.get("Kidhome", 0.0), p.get("Teenhome", 0.0)
    children = p.get("Children", kids + teens)
    campaign = by["campaign"]
    if campaign.word == "Campaign-Responsive" and campaign.strength >= 1:
        if p.get("CampaignEngagement", 0.0) >= 1:
            return "Campaign Responders", campaign.strength
    o_kids, o_teens = overall.get("Kidhome", 0.0), overall.get("Teenhome", 0.0)
    if children >= 1.5 or (kids >= 0.5 and kids >= FAMILY_STEP * o_kids and kids >= teens):
        return "Families", children
    if teens >= 0.5 and teens >= FAMILY_STEP * o_teens:
        return "Parents of Teens", teens
    if by["spend"].z > 0 and by["spend"].strength >= 1:
        return "Spenders", by["spend"].strength
    for key, word, noun in (
        ("web", "Digital", "Web Browsers"),
        ("deals", "Deal-Seeking", "Bargain Hunters"),
        ("loyal", "Loyal", "Regulars"),
    ):
        if by[key].word == word and by[key].strength >= 1:
            return noun, by[key].strength
    return "Shoppers", 0.0


def draft_persona(
    segment_id: int,
    profile: dict[str, float],
    overall: dict[str, float],
    std: dict[str, float],
    kpis: Kpis,
    population: dict[str, float],
    recency_days: int,
    signals: set[str] | None = None,
) -> Draft:
    """The persona's name parts and dimensions (names are made distinct later). Words whose
    claim (CLAIMS) does not hold for the segment are never used."""
    facts = Facts(profile, overall, kpis, population, signals)
    holds = lambda word: word not in CLAIMS or CLAIMS[word](facts)  # noqa: E731
    dims = [
        d if holds(d.word) else Dimension(d.key, 0.0, d.z, d.word, d.trait)
        for d in dimensions(profile, overall, std, kpis, population, recency_days)
    ]
    by = {d.key: d for d in dims}
    noun, fit = _noun(by, profile, overall)
    if not holds(noun):
        noun, fit = "Shoppers", 0.0
    wealth = _wealth(by["income"], by["spend"])
    draft = Draft(segment_id, noun, fit, wealth if holds(wealth) else "", dims)
    notable = draft.notable()
    if (not draft.wealth or noun == "Shoppers") and notable:
        draft.qualifiers.append(notable[0])
    elif len(draft.name().split()) <= 2:
        signature = [d for d in notable if d.word in SIGNATURE]
        if signature:
            draft.qualifiers.append(signature[0])
    return draft


_ROMAN = ["II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


def distinct_names(drafts: list[Draft], reserved: set[str] | None = None) -> dict[int, str]:
    """Names per segment id, all distinct (case-insensitive) and distinct from `reserved`."""
    taken = {r.lower() for r in (reserved or set())}
    for _ in range(6):
        groups: dict[str, list[Draft]] = {}
        for d in drafts:
            groups.setdefault(d.name().lower(), []).append(d)
        clashes = [g for n, g in groups.items() if len(g) > 1 or n in taken]
        changed = False
        for a, b in _one_word_apart(drafts):
            # the shorter name (else the weaker noun) takes a word of its own
            first = min((a, b), key=lambda d: (len(d.name().split()), d.noun_fit, -d.segment_id))
            for mover in (first, b if first is a else a):
                other = b if mover is a else a
                if _add_distinct_qualifier(mover, [other], strongest_first=True):
                    changed = True
                    break
        if not clashes and not changed:
            break
        for group in clashes:
            group = sorted(group, key=lambda d: (-d.noun_fit, d.segment_id))
            movers = group[1:] if group[0].name().lower() not in taken else group
            for d in movers:
                others = [o for o in drafts if o is not d]
                # a word the others do not even have, else one their names do not use
                changed |= _add_distinct_qualifier(
                    d, [o for o in group if o is not d], notable=True
                ) or _add_distinct_qualifier(d, others)
        if not changed:
            break
    names: dict[int, str] = {}
    for d in sorted(drafts, key=lambda d: (-d.noun_fit, d.segment_id)):
        name, i = d.name(), 0
        while name.lower() in taken:
            name = f"{d.name()} {_ROMAN[i] if i < len(_ROMAN) else i + 2}"
            i += 1
        taken.add(name.lower())
        names[d.segment_id] = name
    return names


def _add_distinct_qualifier(
    d: Draft, others: list[Draft], strongest_first: bool = False, notable: bool = False
) -> bool:
    """Give `d` its first notable qualifier (in QUALIFIER_PRIORITY order, or the strongest
    first) that no other draft's name uses (`notable`: that no other draft even has) — True
    when one was added."""
    shared = {(q.key, q.word) for o in others for q in (o.notable() if notable else o.qualifiers)}
    own = {q.key for q in d.qualifiers}
    candidates = d.notable()
    if strongest_first:  # telling one name from a near twin: the strongest difference first
        candidates = sorted(candidates, key=lambda q: -q.strength)
    for q in candidates:
        if q.key not in own and (q.key, q.word) not in shared:
            d.qualifiers.append(q)
            return True
    return False


def _one_word_apart(drafts: list[Draft]) -> list[tuple[Draft, Draft]]:
    """Pairs of different names where one is the other plus or minus a single word."""
    out = []
    for i, a in enumerate(drafts):
        for b in drafts[i + 1 :]:
            wa, wb = set(a.name().lower().split()), set(b.name().lower().split())
            if wa != wb and len(wa ^ wb) <= 1:
                out.append((a, b))
    return out


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "segment"


def describe(name: str, draft: Draft, kpis: Kpis) -> str:
    """One paragraph: who they are, what they are worth, how they behave."""
    by = {d.key: d for d in draft.dims}
    family = by.get("family") or by.get("no_children")
    spend = by["spend"].trait
    sentences = [
        f"{name}: {kpis.size:,} customers ({ft.percent(kpis.customer_share)} of all customers) "
        f"who bring {ft.percent(kpis.revenue_share)} of total spend.",
        f"{by['income'].trait}; they {spend[:1].lower()}{spend[1:]}.",
    ]
    if family is not None:
        sentences.append(family.trait + ".")
    sentences.append(by["age"].trait + ".")
    named = {q.key for q in draft.qualifiers}
    rest = [
        d
        for d in draft.dims
        if d.key not in ("income", "spend", "family", "no_children", "age")
        and (d.key in named or abs(d.z) >= 0.3 or d.strength >= 1)
    ]
    rest.sort(key=lambda d: (d.key not in named, -abs(d.z), d.key))
    sentences += [d.trait + "." for d in rest[:3]]
    return " ".join(sentences)


def traits(draft: Draft) -> list[str]:
    """3-5 key traits: the name's own qualifiers first, then the largest |z|."""
    named = [q for q in draft.qualifiers]
    ranked = sorted((d for d in draft.dims if d not in named), key=lambda d: (-abs(d.z), d.key))
    chosen = named + [d for d in ranked if abs(d.z) >= 0.5]
    chosen = chosen[:5]
    for d in ranked:  # at least 3
        if len(chosen) >= 3:
            break
        if d not in chosen:
            chosen.append(d)
    return [d.trait for d in chosen]


def build_personas(
    drafts: list[Draft], kpis: dict[int, Kpis], overrides: dict[str, str]
) -> dict[int, Persona]:
    """Persona per segment id; `overrides` (segment id as a string -> name) win."""
    fixed = {int(k): v for k, v in overrides.items() if str(k).strip().isdigit()}
    ids = {d.segment_id for d in drafts}
    reserved = {v for k, v in fixed.items() if k in ids}
    derived = distinct_names([d for d in drafts if d.segment_id not in fixed], reserved)
    out = {}
    for d in drafts:
        name = fixed.get(d.segment_id, derived.get(d.segment_id, ""))
        out[d.segment_id] = Persona(
            name=name,
            slug=slugify(name),
            description=describe(name, d, kpis[d.segment_id]),
            traits=traits(d),
        )
    return out
