"""The command line: parse options, build the config, call one function, report errors."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .config import Config, load_config
from .errors import ReportgenError


class _Output:
    """Progress and messages on stderr, respecting --quiet / --verbose."""

    def __init__(self, quiet: bool = False, verbose: bool = False):
        self.quiet, self.verbose = quiet, verbose

    def progress(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"… {message}", err=True)


def _config(ctx: click.Context, overrides: dict | None = None) -> Config:
    path = ctx.obj.get("config_path")
    merged = dict(overrides or {})
    if ctx.obj.get("seed") is not None:
        merged["seed"] = ctx.obj["seed"]
    return load_config(path, merged)


def _nested(**sections: dict) -> dict:
    """Drop None values so only flags the user gave override the config."""
    out: dict = {}
    for name, values in sections.items():
        kept = {k: v for k, v in values.items() if v is not None}
        if kept:
            out[name] = kept
    return out


class _Group(click.Group):
    """Turns the project's own errors into one-line messages and their exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ReportgenError as exc:
            click.echo(f"reportgen: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="reportgen")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML config file (reportgen.toml). Flags override it.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default 42).")
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
@click.option("--verbose", "-v", is_flag=True, help="More detail; tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, config_path, seed, quiet, verbose) -> None:
    """reportgen: interpretable customer segmentation and branded segment reports."""
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, seed=seed, out=_Output(quiet, verbose))


@cli.command()
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Customer file (.csv, .tsv, .xlsx, .parquet). Default: the bundled synthetic sample.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default output/<period>/). Replaced only when the run succeeds.",
)
@click.option("--k", type=click.IntRange(min=2), default=None, help="Force the number of segments.")
@click.option("--period", default=None, help="Reporting period YYYY-MM (default: this month).")
@click.option("--no-report", is_flag=True, help="Write the data files only (no charts, HTML, PDF).")
@click.pass_context
def run(ctx, data, out, k, period, no_report) -> None:
    """Segment a customer file and write segments.csv, summary.json, model.json and the report."""
    from .assets import sample_data_path
    from .runner import run_job

    config = _config(ctx, _nested(clustering={"k": k}))
    period = _period(period)
    data = data or sample_data_path()
    out = out or Path("output") / period
    result = run_job(data, out, config, ctx.obj["out"].progress, period, report=not no_report)
    click.echo(str(result))


def _period(value: str | None) -> str:
    import re
    from datetime import date

    if value is None:
        return date.today().strftime("%Y-%m")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        from .errors import InputError

        raise InputError(f"--period {value!r}: write the period as YYYY-MM, e.g. 2026-11")
    return value


@cli.command()
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Customer file to check.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def validate(ctx, data, as_json) -> None:
    """Check a customer file without fitting: rows, columns matched, missing values, dates."""
    import json

    from .load import validate_file

    report = validate_file(data, _config(ctx))
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo(_format_validation(report))
    if not report.get("ok", False):
        ctx.exit(2)


def _format_validation(report: dict) -> str:
    lines = []
    for key, value in report.items():
        if key == "problems":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        lines.append(f"{key.replace('_', ' ')}: {value}")
    problems = report.get("problems") or []
    lines.append("problems: " + ("none" if not problems else ""))
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)


@cli.command()
@click.option("--rows", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--seed", "synth_seed", type=int, default=0, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write (.csv/.tsv tab-separated, .parquet, .xlsx).",
)
@click.pass_context
def synth(ctx, rows, synth_seed, output) -> None:
    """Write a synthetic customer file with the marketing-campaign schema."""
    from .synth import write_synthetic

    path = write_synthetic(output, rows, synth_seed)
    click.echo(str(path))


# --- commands added by later work go below this line ---


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Bad input exits 2 with one line; a bug exits 1 with a traceback."""
    try:
        cli.main(args=argv, prog_name="reportgen")
    except SystemExit:
        raise
    except Exception:
        click.echo(
            "reportgen: internal error (a bug, not your input) — please report it with the "
            "traceback below",
            err=True,
        )
        traceback.print_exc()
        sys.exit(1)
