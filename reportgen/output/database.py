"""`--segments-to URL/TABLE`: the per-customer results (segments.csv's columns) in a table.

The rows go into a staging table and replace the target in one transaction (drop the old
table, rename the new one), so a reader sees either last run's table or this run's whole,
and a failure at any point leaves the old table as it was. Both SQLite and PostgreSQL run
these statements transactionally.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..config import Config
from ..errors import InputError, Unreachable


def split_target(target: str) -> tuple[str, str]:
    """`postgresql://u@h/db/crm.segments` -> (`postgresql://u@h/db`, `crm.segments`)."""
    url, slash, table = str(target).rpartition("/")
    if not slash or "://" not in url or not table or url.endswith(":/"):
        raise InputError(
            f"--segments-to {target}: write it as URL/TABLE, e.g. sqlite:///crm.db/segments or "
            "postgresql://user@host/db/crm.segments"
        )
    return url, table


def check_target(target: str) -> None:
    """Refuse a malformed target or one with a password in it before any work is done."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url, _table = split_target(target)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(f"--segments-to {target}: not a database URL") from None
    if parsed.password is not None:
        raise InputError(
            f"--segments-to {parsed.render_as_string(hide_password=True)}: the URL carries a "
            "password — remove it and set REPORTGEN_DB_PASSWORD or [input] password_file"
        )


def _transactional_ddl(engine) -> None:
    """Make SQLite's CREATE/DROP/ALTER part of the transaction: Python's sqlite3 driver
    commits before DDL by itself (SQLAlchemy's documented recipe: let SQLAlchemy emit BEGIN)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")


def write_table(target: str, slices: Iterable[pd.DataFrame], config: Config) -> int:
    """Replace the table `target` names with the rows of `slices`; returns the row count."""
    from sqlalchemy import MetaData, Table, inspect, text

    from ..input.database import _engine, _failed, _url, shown

    raw_url, name = split_target(target)
    if raw_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(raw_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        open(raw_url.removeprefix("sqlite:///"), "ab").close()  # SQLite creates the file
    url = _url(raw_url, config)
    where = f"{shown(url)} (table {name})"
    schema, _, table = name.rpartition(".")
    schema = schema or None
    staging = f"{table}__reportgen_new"
    engine = _engine(url)
    if url.drivername.startswith("sqlite"):
        _transactional_ddl(engine)
    rows = 0
    try:
        with engine.begin() as conn:  # one transaction: all of it or none of it
            if inspect(conn).has_table(staging, schema=schema):
                Table(staging, MetaData(), schema=schema, autoload_with=conn).drop(conn)
            for part in slices:
                part.to_sql(
                    staging, conn, schema=schema, if_exists="append", index=False, chunksize=10_000
                )
                rows += len(part)
            quote = conn.dialect.identifier_preparer.quote
            qualified = f"{quote(schema)}." if schema else ""
            if inspect(conn).has_table(table, schema=schema):
                conn.execute(text(f"DROP TABLE {qualified}{quote(table)}"))
            conn.execute(text(f"ALTER TABLE {qualified}{quote(staging)} RENAME TO {quote(table)}"))
    except (InputError, Unreachable):
        raise
    except Exception as exc:
        raise _failed(
            where,
            exc,
            otherwise="cannot write the segments ({detail}) — check the table name and that "
            "the user may create and drop tables there; the old table is unchanged",
        ) from None
    finally:
        engine.dispose()
    return rows
