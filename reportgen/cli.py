"""The command line: parse options, build the config, call one function, report errors."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

# numpy asks the kernel for transparent huge pages for every array of 4 MB or more; where the
# kernel then compacts memory when the pages are first touched (THP defrag "madvise", the
# Linux default), each fresh process pays for it on every large array: the k scan's 5,000²
# distance matrix took 0.6 s to allocate instead of 0.15 s. A run is many short-lived
# processes (lanes, workers), so numpy gets normal pages; a value set by the user is kept.
# Set before anything imports numpy (pydantic and click do not).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import click  # noqa: E402

from . import __version__  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import ReportgenError  # noqa: E402


class _Output:
    """Progress and messages on stderr, respecting --quiet / --verbose."""

    def __init__(self, quiet: bool = False, verbose: bool = False):
        import time

        self.quiet, self.verbose = quiet, verbose
        self._clock = time.perf_counter
        self._start = self._clock()

    def progress(self, message: str) -> None:
        """One line per step; with --verbose prefixed by the seconds since the start."""
        if self.quiet:
            return
        if self.verbose:
            click.echo(f"[{self._clock() - self._start:6.2f}s] {message}", err=True)
        else:
            click.echo(f"… {message}", err=True)

    def count(self, step: str, done: int, total: int | None) -> None:
        """A progress bar with counts for the long passes over the rows (stderr, a terminal
        only: cron logs get the step lines alone); silent under --quiet."""
        import sys

        if self.quiet or not sys.stderr.isatty():
            return
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            text = f"  [{bar}] {done:,} / {total:,} rows {step}"
        else:
            text = f"  {done:,} rows {step}"
        end = "\n" if total and done >= total else ""
        click.echo("\r" + text + end, err=True, nl=False)


def _store(key: str):
    def callback(ctx: click.Context, _param, value):
        if value is not None and value is not False:
            ctx.ensure_object(dict)
            if key in ("quiet", "verbose"):
                out = ctx.obj.setdefault("out", _Output())
                setattr(out, key, True)
            else:
                ctx.obj[key] = value
        return value

    return callback


def common_options(command):
    """--config, --seed, --quiet and --verbose: before the command name or after it."""
    options = [
        click.option(
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            expose_value=False,
            callback=_store("config_path"),
            help="TOML config file (reportgen.toml). Flags override it.",
        ),
        click.option(
            "--seed",
            type=click.IntRange(0, 2**32 - 1),
            default=None,
            expose_value=False,
            callback=_store("seed"),
            help="Random seed (default 42).",
        ),
        click.option(
            "--quiet",
            "-q",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_store("quiet"),
            help="No progress messages.",
        ),
        click.option(
            "--verbose",
            "-v",
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_store("verbose"),
            help="Timed progress; a traceback with error messages.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


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


def _database_options(command):
    """--table / --query: what to read when --data is a database URL."""
    command = click.option(
        "--query", default=None, help='Database query to read, "SELECT …" (with a URL).'
    )(command)
    return click.option(
        "--table", default=None, help="Database table to read (with a URL in --data)."
    )(command)


class _Group(click.Group):
    """Turns the project's own errors into one-line messages and their exit codes."""

    def invoke(self, ctx: click.Context):
        from .ops import interrupt

        try:
            with interrupt.installed():
                return super().invoke(ctx)
        except ReportgenError as exc:
            out = (ctx.obj or {}).get("out")
            if out is not None and out.verbose:
                traceback.print_exc()
            click.echo(f"reportgen: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (KeyboardInterrupt, interrupt.Terminated) as exc:
            terminated = isinstance(exc, interrupt.Terminated)
            _stopped(ctx, signal.SIGTERM if terminated else signal.SIGINT)
        except Exception:
            # a library can wrap the stop in an error of its own (pydantic's JSON writer
            # turns Terminated into a PydanticSerializationError): after a stop request,
            # any error is the stop
            if interrupt.received() is None:
                raise
            _stopped(ctx, interrupt.received())


def _stopped(ctx: click.Context, sig: int) -> None:
    from .ops import interrupt

    name = signal.Signals(sig).name
    click.echo(
        f"reportgen: stopped by {name} — nothing of the unfinished command was kept or recorded",
        err=True,
    )
    ctx.exit(interrupt.EXIT_CODES[sig])


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="reportgen")
@common_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """reportgen: interpretable customer segmentation and branded segment reports."""
    ctx.ensure_object(dict)
    ctx.obj.setdefault("out", _Output())


def _report_flags(brand: str | None, templates: Path | None) -> dict:
    return {"brand": brand, "templates": str(templates) if templates else None}


def _report_options(command):
    """--brand and --templates (used by `run` and `render`); they override [report]."""
    command = click.option(
        "--templates",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder of Jinja templates searched before the packaged ones "
        '(override one block with {% extends "default:report.html" %}).',
    )(command)
    return click.option(
        "--brand",
        default=None,
        help="Packaged brand name (default, northwind) or a folder with brand.toml.",
    )(command)


_engine_option = click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default=None,
    help="local (default): read the table in this process; spark: read, score and summarise "
    'it with Apache Spark ([engine] master; pip install "reportgen[spark]").',
)


@cli.command()
@common_options
@click.option(
    "--data",
    default=None,
    help="Customer file (.csv, .tsv, .xlsx, .parquet) or a database URL (sqlite:///x.db, "
    "postgresql://user@host/db) with --table or --query. Default: the bundled synthetic sample.",
)
@_database_options
@click.option(
    "--segments-to",
    default=None,
    help="Also replace a database table with segments.csv's rows, in one transaction: "
    "URL/TABLE, e.g. sqlite:///crm.db/segments. With --engine spark: a folder or URI "
    "(hdfs://, s3a://) for the segments' Parquet dataset, instead of the run folder's "
    "segments/.",
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
@click.option(
    "--refit",
    is_flag=True,
    help="Fit the segments anew and match them to last period's (default: score this "
    "period's customers with last period's model).",
)
@click.option(
    "--no-history",
    is_flag=True,
    help="Neither compare with nor record in the run history (history.db).",
)
@_engine_option
@_report_options
@click.pass_context
def run(
    ctx,
    data,
    table,
    query,
    segments_to,
    out,
    k,
    period,
    no_report,
    refit,
    no_history,
    engine,
    brand,
    templates,
) -> None:
    """Segment a customer file and write segments.csv, summary.json, model.json and the report.

    Every run with a period is recorded in the history database (history.db beside the run
    folders). When an earlier period is recorded, segments keep their ids and persona names
    and the report shows what changed since.
    """
    from . import api

    config = _config(
        ctx,
        _nested(
            clustering={"k": k},
            report=_report_flags(brand, templates),
            input={"table": table, "query": query},
            output={"segments_to": segments_to},
            engine={"name": engine},
        ),
    )
    _one_source(config, table, query)
    output = ctx.obj["out"]
    result = api.run(
        data,
        out,
        config,
        period=period,
        report=not no_report,
        refit=refit,
        history=not no_history,
        progress=output.progress,
        counter=output.count,
    )
    click.echo(str(result))


def _one_source(config: Config, table: str | None, query: str | None) -> None:
    """--table and --query exclude each other; either flag overrides the config's choice."""
    if table and query:
        from .errors import InputError

        raise InputError("--table and --query: give one of them, not both")
    if table:
        config.input.query = None
    if query:
        config.input.table = None


@cli.command()
@common_options
@click.option(
    "--data",
    default=None,
    help="Customer file to check, or a database URL with --table or --query (with --engine "
    "spark: a Parquet dataset, CSV files, or none with --table for a catalog table).",
)
@_database_options
@_engine_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def validate(ctx, data, table, query, engine, as_json) -> None:
    """Check customer data without fitting: rows, columns matched, missing values, dates."""
    import json

    from . import api

    choices = _nested(input={"table": table, "query": query}, engine={"name": engine})
    config = _config(ctx, choices)
    _one_source(config, table, query)
    report = api.validate(data, config)
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
@common_options
@click.option("--rows", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write (.csv/.tsv tab-separated, .parquet, .xlsx).",
)
@click.option(
    "--churn",
    is_flag=True,
    help="Add a Churned label drawn from known drivers (recency, web visits, wine spend).",
)
@click.pass_context
def synth(ctx, rows, output, churn) -> None:
    """Write a synthetic customer file with the marketing-campaign schema (--seed: default 0)."""
    from . import api

    seed = ctx.obj.get("seed")
    path = api.synth(output, rows, 0 if seed is None else seed, churn)
    click.echo(str(path))


# --- commands added by later work go below this line ---


@cli.command()
@common_options
@click.option(
    "--from",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder of a finished run (holds summary.json).",
)
@_report_options
@click.pass_context
def render(ctx, folder, brand, templates) -> None:
    """Re-render report.html, report.pdf and personas/ of a finished run (no re-analysis)."""
    from . import api

    config = _config(ctx, _nested(report=_report_flags(brand, templates)))
    result = api.render(folder, config, progress=ctx.obj["out"].progress)
    click.echo(str(result.pdf))


@cli.command()
@common_options
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History database (default: history.db in the config, else output/history.db).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON (for scripts).")
@click.pass_context
def history(ctx, db, as_json) -> None:
    """List the recorded runs: period, time, mode, k, customers, input, folder, segments."""
    import json

    from . import api

    recorded = api.history(db, None if db else _config(ctx))  # --db: no config is read
    path, runs = recorded.path, recorded.runs
    if as_json:
        click.echo(json.dumps(runs, indent=2))
    elif not runs:
        click.echo(
            f"no runs recorded in {path} — a run with --out DIR/<period> keeps its history in "
            "DIR/history.db: pass --db DIR/history.db (or set history.db in the config)",
            err=True,
        )
    else:
        click.echo(recorded.table())


@cli.command()
@common_options
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    required=True,
    help="model.json of a run (or the run folder).",
)
@click.option(
    "--data",
    default=None,
    help="Customers to score (.csv, .tsv, .xlsx, .parquet), or a database URL with --table "
    "or --query (with --engine spark: a Parquet dataset, CSV files, or --table).",
)
@_database_options
@click.option(
    "--out",
    required=True,
    help="CSV to write (customer_id, segment, persona, excluded_from_fit, ...); with "
    "--engine spark a folder or URI (hdfs://, s3a://) for a Parquet dataset.",
)
@_engine_option
@click.pass_context
def assign(ctx, model_path, data, table, query, out, engine) -> None:
    """Assign customers to the segments of a saved model, without refitting."""
    from . import api

    choices = _nested(input={"table": table, "query": query}, engine={"name": engine})
    config = _config(ctx, choices)
    _one_source(config, table, query)
    done = api.assign(model_path, data, out, config)
    sizes = ", ".join(f"{k}: {v:,}" for k, v in done.sizes.items())
    ctx.obj["out"].progress(f"{done.customers:,} customers assigned ({sizes})")
    click.echo(str(done.out))


@cli.command()
@common_options
@click.option(
    "--run",
    "run_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run folder to send (holds report.pdf and summary.json).",
)
@click.option("--to", "to", multiple=True, required=True, help="Recipient (repeatable).")
@click.option("--cc", "cc", multiple=True, help="Copy recipient (repeatable).")
@click.option(
    "--subject",
    default=None,
    help='Subject template with {period}, {k}, {title} (default "{title} — {period}").',
)
@click.option("--personas", is_flag=True, help="Attach the persona PDFs too.")
@click.option("--smtp-host", default=None, help="SMTP server (default: smtp.host).")
@click.option("--smtp-port", type=click.IntRange(1, 65535), default=None, help="SMTP port.")
@click.option("--starttls", is_flag=True, default=None, help="Upgrade with STARTTLS (port 587).")
@click.option("--ssl", "use_ssl", is_flag=True, default=None, help="SMTP over SSL (port 465).")
@click.option(
    "--smtp-user",
    default=None,
    help="Login (no login when unset). Password: env REPORTGEN_SMTP_PASSWORD or "
    "smtp.password_file.",
)
@click.option("--from", "sender", default=None, help="From address (default: smtp.sender).")
@click.option("--dry-run", is_flag=True, help="Write the message as .eml instead of sending.")
@click.option(
    "--eml",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where --dry-run writes the message (default: RUN/message.eml).",
)
@click.pass_context
def send(
    ctx,
    run_dir,
    to,
    cc,
    subject,
    personas,
    smtp_host,
    smtp_port,
    starttls,
    use_ssl,
    smtp_user,
    sender,
    dry_run,
    eml,
) -> None:
    """E-mail a run's report.pdf (and persona PDFs) with a short summary of the segments."""
    from . import api

    smtp = {
        "host": smtp_host,
        "port": smtp_port,
        "starttls": starttls,
        "use_ssl": use_ssl,
        "user": smtp_user,
        "sender": sender,
    }
    done = api.send(
        run_dir,
        list(to),
        list(cc),
        _config(ctx),
        subject=subject,
        personas=personas,
        dry_run=dry_run,
        eml=eml,
        smtp=smtp,
    )
    if done.eml is not None:
        click.echo(str(done.eml))
    else:
        recipients = ", ".join(done.to + done.cc)
        click.echo(f"sent {', '.join(done.attachments)} to {recipients} via {done.server}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Bad input exits 2 with one line; a bug exits 1 with a traceback."""
    try:
        cli.main(args=argv, prog_name="reportgen")
    except SystemExit as exc:
        code = exc.code
    except Exception:
        click.echo(
            "reportgen: internal error (a bug, not your input) — please report it with the "
            "traceback below",
            err=True,
        )
        traceback.print_exc()
        code = 1
    else:
        code = 0
    _exit(code)


def _exit(code: int | str | None) -> None:
    """End the process without the interpreter's teardown.

    Every file is written and renamed into place before this point; what the teardown would
    add is freeing the laid-out documents and running the cffi finalizers of WeasyPrint's
    Pango objects one by one (about 0.1-0.3 s after a report). Output streams are flushed.
    """
    if isinstance(code, str):  # SystemExit("message"): print it like Python does
        click.echo(code, err=True)
        code = 1
    code = 0 if code is None else int(code)
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
