"""One value per fact: every figure the documents show for a segment equals summary.json's.

The real-file run is rendered once; its HTML and PDF text are read back, each segment's
figures are collected from every place that shows them (the executive summary's table, the
persona page's header, paragraph, traits and key-figure table), and each is held against
the summary at the precision it is printed with — so a figure shown on two pages agrees,
and both equal the summary. The last test doctors one page's context and shows the check
fails.
"""

from __future__ import annotations

import re

import pytest

from reportgen.result import Summary
from tests.report_runs import rendered

bs4 = pytest.importorskip("bs4")

NUMBER = r"[-−]?\d[\d,]*(?:\.\d+)?"


def _value(text: str) -> tuple[float, float]:
    """'1,234' -> (1234, 0.5); '7.5%' -> (0.075, 0.0005): the number and half its last digit."""
    text = text.strip().replace("−", "-")
    pct = text.endswith("%")
    digits = text.rstrip("%").replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    half = 0.5 * 10**-decimals
    value = float(digits)
    return (value / 100, half / 100) if pct else (value, half)


def _facts_in_text(text: str, name: str, where: str) -> list[tuple[str, str, str]]:
    """(where, measure, printed value) found in one persona page's running text."""
    out = []
    head = re.search(
        rf"Segment \d+ · ({NUMBER}) customers \(({NUMBER}%)\) · ({NUMBER}%) of spend", text
    )
    if head:
        out += [(where, "size", head[1]), (where, "customer_share", head[2])]
        out.append((where, "revenue_share", head[3]))
    lead = re.search(
        rf"{re.escape(name)}: ({NUMBER}) customers \(({NUMBER}%) of all customers\) who bring "
        rf"({NUMBER}%) of total spend",
        text,
    )
    if lead:
        out += [(f"{where} paragraph", "size", lead[1])]
        out += [(f"{where} paragraph", "customer_share", lead[2])]
        out += [(f"{where} paragraph", "revenue_share", lead[3])]
    income = re.search(rf"Household income ({NUMBER})", text)
    if income:
        out.append((f"{where} paragraph", "avg_income", income[1]))
    spent = re.search(rf"spent ({NUMBER}) in two years", text, re.IGNORECASE)
    if spent:
        out.append((f"{where} paragraph", "avg_spend", spent[1]))
    for m in re.finditer(rf"({NUMBER}%) took the last offer", text):
        out.append((f"{where} traits", "response_rate", m[1]))
    return out


KPI_ROWS = {
    "Share of spend": "revenue_share",
    "Average spend (2 years)": "avg_spend",
    "Median spend (2 years)": "median_spend",
    "Average income": "avg_income",
    "Response to last campaign": "response_rate",
    "Retention risk": "retention_risk",
    "Complaints": "complaint_rate",
}


def html_facts(html: str) -> dict[str, list[tuple[str, str, str]]]:
    """Segment name -> (where, measure, printed value) for every figure the HTML shows."""
    soup = bs4.BeautifulSoup(html, "html.parser")
    out: dict[str, list] = {}
    for row in soup.select("table.glance tbody tr"):

        def cell(kind: str, row=row) -> str:
            return row.select_one(f"td.{kind}").get_text(" ", strip=True)

        name = cell("seg")
        shares = [s.get_text(strip=True) for s in row.select_one("td.share").select("small")]
        facts = out.setdefault(name, [])
        facts.append(("executive summary", "size", cell("count")))
        facts.append(("executive summary", "customer_share", shares[0]))
        facts.append(("executive summary", "revenue_share", shares[1]))
        facts.append(("executive summary", "avg_spend", cell("spend")))
    for page in soup.select("article.persona"):
        name = page.select_one("h2").get_text(strip=True)
        facts = out.setdefault(name, [])
        text = " ".join(
            el.get_text(" ", strip=True) for el in page.select(".facts, .description, .traits")
        )
        facts += _facts_in_text(text, name, "persona page")
        for row in page.select("table.kpis tbody tr"):
            cells = row.select("td")
            label = cells[0].get_text(" ", strip=True)
            if label in KPI_ROWS:
                value = cells[1].select_one("b").get_text(strip=True)
                facts.append(("persona key figures", KPI_ROWS[label], value))
    return out


def pdf_facts(pdf_path, names: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    from pypdf import PdfReader

    out: dict[str, list] = {}
    for number, page in enumerate(PdfReader(str(pdf_path)).pages, start=1):
        text = re.sub(r"\s+", " ", page.extract_text() or "")
        for name in names:
            if not re.search(rf"{re.escape(name)} Segment \d+ · ", text):
                continue  # not this segment's persona page
            where = f"PDF page {number}"
            found = out.setdefault(name, [])
            found.extend(_facts_in_text(text, name, where))
            for label, measure in KPI_ROWS.items():
                m = re.search(rf"{re.escape(label)} ({NUMBER}%?)", text)
                if m:
                    found.append((f"{where} key figures", measure, m[1]))
    return out


def mismatches(facts: dict[str, list], summary: Summary) -> list[str]:
    """Every printed figure that is not summary.json's value at its printed precision."""
    by_name = {s.persona.name: s for s in summary.segments}
    problems = []
    for name, found in facts.items():
        seg = by_name[name]
        truth = {"size": seg.size, **seg.kpis.model_dump()}
        for where, measure, printed in found:
            value, half = _value(printed)
            expected = truth[measure]
            if abs(value - expected) > half + 1e-9:
                problems.append(
                    f"{name}: {measure} is {printed} on the {where}, {expected!r} in summary.json"
                )
    return problems


@pytest.fixture(scope="module")
def real_run():
    return rendered("real")


def test_every_segment_figure_in_the_html_equals_the_summary(real_run):
    summary = Summary.loads((real_run.folder / "summary.json").read_text())
    facts = html_facts((real_run.folder / "report.html").read_text(encoding="utf-8"))
    assert set(facts) == {s.persona.name for s in summary.segments}
    for name, found in facts.items():
        places = {where for where, _, _ in found}
        assert {"executive summary", "persona page", "persona key figures"} <= places, name
        assert {m for _, m, _ in found} >= {"size", "revenue_share", "avg_spend", "response_rate"}
    assert mismatches(facts, summary) == []


def test_every_persona_figure_in_the_pdf_equals_the_summary(real_run):
    summary = Summary.loads((real_run.folder / "summary.json").read_text())
    names = [s.persona.name for s in summary.segments]
    facts = pdf_facts(real_run.folder / "report.pdf", names)
    assert set(facts) == set(names)
    for found in facts.values():
        measures = {m for _, m, _ in found}
        assert measures >= {
            "size",
            "customer_share",
            "revenue_share",
            "avg_income",
            "response_rate",
        }
    assert mismatches(facts, summary) == []


def test_the_check_fails_when_one_page_computes_a_figure_differently(real_run):
    """Doctor the context so the executive summary and persona headers show the spend share
    computed another way (the customer share): the check must name it."""
    from reportgen.config import load_config
    from reportgen.report.brand import load_brand
    from reportgen.report.render import _palette_size, _render_html
    from reportgen.report.report_context import build_context

    summary = Summary.loads((real_run.folder / "summary.json").read_text())
    config = load_config()
    brand = load_brand(config.report.brand)
    palette = brand.palette(_palette_size(summary))
    context = build_context(
        summary, {}, real_run.folder / "charts", brand, palette, config.report, None
    )
    context.update(css="", screen_css="", compact=set())
    honest = html_facts(_render_html(context, None))
    assert mismatches(honest, summary) == []
    doctored = context["segments"][0]
    doctored.revenue_share = doctored.share
    problems = mismatches(html_facts(_render_html(context, None)), summary)
    assert any("revenue_share" in p and "executive summary" in p for p in problems), problems
