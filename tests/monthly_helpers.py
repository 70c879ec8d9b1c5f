"""Helpers shared by the monthly-operations tests (history, identity, assign, send)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner, Result

from reportgen.cli import cli

#: a quick engine: no alternative algorithms, few stability resamples and K-Means restarts.
FAST_TOML = """
[clustering]
alternatives = []
stability_resamples = 10
n_init = 3
k_max = 6
"""


#: the default engine but for the comparison algorithms and fewer stability resamples
#: (real-file acceptance tests: k is chosen as in a default run).
REAL_TOML = """
[clustering]
alternatives = []
stability_resamples = 10
"""


def fast_config(folder: Path, extra: str = "") -> Path:
    path = Path(folder) / "fast.toml"
    path.write_text(FAST_TOML + extra, encoding="utf-8")
    return path


def real_config(folder: Path) -> Path:
    path = Path(folder) / "real.toml"
    path.write_text(REAL_TOML, encoding="utf-8")
    return path


def skip_tsne(monkeypatch) -> None:
    """t-SNE only feeds a picture and takes most of a run's time: leave it out in tests."""
    import reportgen.fitting.fit as fit

    monkeypatch.setattr(
        fit, "tsne_2d", lambda X, seed, share: (np.full((len(X), 2), np.nan), "skipped in tests")
    )


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def run_cli(
    data: Path, out: Path, period: str, config: Path, *extra: str, env: dict | None = None
) -> Result:
    return invoke(
        ["--quiet", "--config", config, "run", "--data", data, "--out", out]
        + ["--period", period, "--no-report", *extra],
        env=env,
    )


def folder_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (relative path -> digest)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=None, engine="python", dtype={"ID": str})
