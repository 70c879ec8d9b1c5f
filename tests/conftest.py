"""Shared fixtures: the small fixed customer file and the real data set (skipped when absent)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL_FILE = ROOT / "tests" / "data" / "customers_small.tsv"
REAL_FILE = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"


@pytest.fixture(scope="session")
def small_file() -> Path:
    """300 synthetic customers (made once by `reportgen synth --rows 300 --seed 11`)."""
    return SMALL_FILE


@pytest.fixture(scope="session")
def real_file() -> Path:
    """The real 2,240-customer file from ../shared; tests using it skip when it is absent."""
    if not REAL_FILE.exists():
        pytest.skip(f"real data set not found at {REAL_FILE} (needs ../shared beside the repo)")
    return REAL_FILE


@pytest.fixture(scope="session")
def real_analysis(real_file):
    """The real file analysed once with the default configuration (do not modify it)."""
    from reportgen.config import Config
    from reportgen.input.load import load_customers
    from reportgen.pipeline import analyse

    config = Config()
    return analyse(load_customers(real_file, config), config)


#: fixtures that read the real file; a test using one (directly or through another fixture)
#: is marked `real`, so `pytest -m "not real"` leaves every such test out
REAL_FIXTURES = {"real_file", "real_analysis", "real_run", "real", "original", "raw_text"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        param = getattr(getattr(item, "callspec", None), "params", {})
        skips = [str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif")]
        if (
            names & REAL_FIXTURES
            or "real" in param.values()
            or any("real data" in reason for reason in skips)
        ):
            item.add_marker(pytest.mark.real)
