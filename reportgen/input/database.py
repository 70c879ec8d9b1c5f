"""Customer tables in a database: a SQLAlchemy URL with a table name or a query.

SQLite works out of the box (`sqlite:///customers.db`, or a plain `.db`/`.sqlite` path);
PostgreSQL needs the `postgres` extra (psycopg). The rows are read in chunks with a
server-side cursor, converted by the same code as a file's, and feed the same chunked scan
and scoring, so a table of millions of rows never sits in memory whole.

The password never travels in a flag or a config file: a URL that carries one is refused;
it comes from `REPORTGEN_DB_PASSWORD` or the file `[input] password_file` names (PostgreSQL
also reads PGPASSWORD and ~/.pgpass itself). Every message, summary.json and the report
show the URL with the password masked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import InputError, Unreachable

PASSWORD_ENV = "REPORTGEN_DB_PASSWORD"
SQLITE_SUFFIXES = {".db", ".sqlite", ".sqlite3"}


def data_location(data: str | Path) -> str | Path:
    """`--data` as given: a URL stays text (a Path would fold `sqlite:///` to `sqlite:/`),
    anything else is a file path."""
    return data if "://" in str(data) else Path(data)


def is_database(data: str | Path, table: str | None, query: str | None) -> bool:
    """Is `data` a database: a URL (scheme://), or an SQLite file given with a table/query."""
    text = str(data)
    if "://" in text.split("?")[0][:40]:
        return True
    return bool(table or query) and Path(text).suffix.lower() in SQLITE_SUFFIXES


def _url(data: str | Path, config: Config):
    """The SQLAlchemy URL of `data`, with the password from the environment or a file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = str(data)
    if "://" not in text:
        text = f"sqlite:///{Path(text).resolve()}"
    try:
        url = make_url(text)
    except ArgumentError:
        raise InputError(
            f"{data}: not a database URL — write it as dialect://user@host:port/database, "
            "e.g. postgresql://reports@db.example.com/shop or sqlite:///customers.db"
        ) from None
    if url.password is not None:
        raise InputError(
            f"{url.render_as_string(hide_password=True)}: the URL carries a password — remove "
            f"it and set {PASSWORD_ENV} or [input] password_file (flags and config files end "
            "up in shell history and version control)"
        )
    password = os.environ.get(PASSWORD_ENV)
    if password is None and config.input.password_file:
        path = Path(config.input.password_file).expanduser()
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(
                f"[input] password_file {path}: cannot be read ({exc.strerror}) — check the "
                "path and its permissions"
            ) from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # the driver the postgres extra installs
    if password is not None and not url.drivername.startswith("sqlite"):
        url = url.set(password=password)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            raise InputError(f"{url.database}: SQLite database not found — check the path")
    return url


def shown(url) -> str:
    """The URL as every output shows it: the password masked."""
    return url.render_as_string(hide_password=True)


def _engine(url):
    from sqlalchemy import create_engine

    try:
        return create_engine(url)
    except ModuleNotFoundError as exc:
        extra = "postgres" if url.drivername.startswith("postgres") else None
        hint = (
            f'pip install "reportgen[{extra}]"'
            if extra
            else f"install the {exc.name} driver for {url.drivername}"
        )
        raise InputError(f"{shown(url)}: the database driver is not installed — {hint}") from None


def _failed(
    where: str, exc: Exception, query: bool = False, otherwise: str | None = None
) -> Exception:
    """One line from a database error: what failed, where, and what to do; `otherwise` is
    the message for an error that is neither a missing table, a login nor the server."""
    from sqlalchemy import exc as sa

    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
    low = detail.lower()
    missing = "no such table" in low or ("relation" in low and "does not exist" in low)
    if isinstance(exc, sa.NoSuchTableError) or (missing and not query):
        name = str(exc) if isinstance(exc, sa.NoSuchTableError) else detail
        return InputError(f"{where}: table not found ({name}) — check --table or [input] table")
    if "password authentication failed" in low or "authentication failed" in low:
        return InputError(
            f"{where}: login failed ({detail}) — check the user in the URL and the password in "
            f"{PASSWORD_ENV} or [input] password_file"
        )
    if isinstance(exc, sa.OperationalError) and (
        "connection refused" in low
        or "could not connect" in low
        or "timeout" in low
        or "could not translate host" in low
    ):
        return Unreachable(f"{where}: the database server does not answer ({detail})")
    otherwise = otherwise or "the query failed ({detail}) — check --query or --table"
    return InputError(f"{where}: " + otherwise.format(detail=detail))


class DatabaseSource:
    """The rows of a table or a query, read in chunks (raw columns by header position)."""

    def __init__(self, data: str | Path, table: str | None, query: str | None, config: Config):
        if bool(table) == bool(query):
            raise InputError(
                f'{data}: give a database either --table NAME or --query "SELECT …" (one of them)'
            )
        self.url = _url(data, config)
        self.table, self.query = table, query
        what = f"table {table}" if table else "query"
        self.file = f"{shown(self.url)} ({what})"
        self.engine = _engine(self.url)
        self.headers = self._headers()
        #: a fingerprint of the source (masked URL and table or query): the rows of a
        #: database have no file bytes to hash
        self.sha256 = hashlib.sha256(
            f"{shown(self.url)}\n{table or ''}\n{query or ''}".encode()
        ).hexdigest()

    def _statement(self):
        from sqlalchemy import MetaData, Table, select, text

        if self.query:
            return text(self.query.strip().rstrip(";"))
        schema, _, name = self.table.rpartition(".")
        with self.engine.connect() as conn:
            reflected = Table(name, MetaData(), schema=schema or None, autoload_with=conn)
        return select(reflected)

    def _headers(self) -> list[str]:
        try:
            self.statement = self._statement()
            from sqlalchemy import text

            probe = (
                self.statement.limit(0)
                if self.table
                else text(f"SELECT * FROM ({self.query.strip().rstrip(';')}) AS q LIMIT 0")
            )
            with self.engine.connect() as conn:
                result = conn.execute(probe)
                headers = [str(k) for k in result.keys()]
                result.close()
        except Exception as exc:
            raise _failed(self.file, exc, bool(self.query)) from None
        return headers

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """(data with columns numbered by header position, row numbers from 1)."""
        first = 1
        seen = False
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(self.statement)
                parts = result.partitions(chunk_rows) if chunk_rows else [result.fetchall()]
                for rows in parts:
                    if not rows:
                        continue
                    seen = True
                    data = pd.DataFrame.from_records(
                        [tuple(r) for r in rows], columns=range(len(self.headers))
                    )
                    yield data, np.arange(first, first + len(data))
                    first += len(data)
        except (InputError, Unreachable):
            raise
        except Exception as exc:
            raise _failed(self.file, exc, bool(self.query)) from None
        if not seen:
            yield pd.DataFrame(columns=range(len(self.headers))), np.empty(0, np.int64)
