"""Customer tables in SQLite and PostgreSQL: `run --data URL --table NAME / --query`.

The PostgreSQL tests start a real server (Debian's `postgresql`, installed by `.ci/run`) in
a temporary data folder on a free local port, with a password, and stop it at the end.
Without the server binaries they skip locally and fail in CI.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import report_runs
from monthly_helpers import invoke
from sklearn.metrics import adjusted_rand_score

PASSWORD = "Pw-7f3c-not-in-any-output"


def _real_frame() -> pd.DataFrame:
    return pd.read_csv(report_runs.data_file("real"), sep="\t")


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "shop.db"
    with sqlite3.connect(path) as conn:
        _real_frame().to_sql("customers", conn, index=False)
    return path


def _run(data: str, out: Path, *extra: str, env: dict | None = None):
    args = ["--quiet", "run", "--data", data, "--out", out, "--no-history", "--no-report"]
    return invoke([*args, *extra], env=env)


def _same_segments(out: Path) -> float:
    """ARI of this run's segments against the real file's (the shared cached run)."""
    file_run = pd.read_csv(report_runs.rendered("real").folder / "segments.csv")
    db_run = pd.read_csv(out / "segments.csv")
    both = file_run.merge(db_run, on="customer_id")
    assert len(both) == len(file_run) == len(db_run)
    return adjusted_rand_score(both["segment_x"], both["segment_y"])


def test_an_sqlite_table_gives_the_file_s_segments(sqlite_db, tmp_path):
    out = tmp_path / "run"
    result = _run(f"sqlite:///{sqlite_db}", out, "--table", "customers")
    assert result.exit_code == 0, result.output
    assert _same_segments(out) == 1.0
    summary = (out / "summary.json").read_text(encoding="utf-8")
    assert '"input_format": "sql"' in summary and "(table customers)" in summary


def test_an_sqlite_file_path_and_a_query_work_too(sqlite_db, tmp_path):
    out = tmp_path / "run"
    query = "SELECT * FROM customers WHERE Income IS NULL OR Income > 0"
    result = _run(str(sqlite_db), out, "--query", query)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "segments.csv")) == 2240


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--table", "nope"], "table not found (nope)"),
        (["--query", "SELECT ID, Income FROM customers"], "missing required column(s) Year_Birth"),
        (["--query", "SELEC nonsense"], "the query failed"),
        ([], "give a database either --table NAME or --query"),
        (["--table", "customers", "--query", "SELECT 1"], "give one of them, not both"),
    ],
)
def test_database_mistakes_end_in_one_line_and_exit_2(sqlite_db, tmp_path, extra, words):
    out = tmp_path / "run"
    result = _run(f"sqlite:///{sqlite_db}", out, *extra)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.output
    assert not out.exists()


def test_a_bad_value_deep_in_a_table_is_named_by_its_row_and_nothing_is_written(
    sqlite_db, tmp_path
):
    bad = tmp_path / "bad.db"
    shutil.copy(sqlite_db, bad)
    with sqlite3.connect(bad) as conn:
        conn.execute("UPDATE customers SET Income = 'abc' WHERE rowid = 1500")
    out = tmp_path / "run"
    result = _run(f"sqlite:///{bad}", out, "--table", "customers")
    assert result.exit_code == 2
    assert "column Income, row 1500: 'abc' is not a number" in result.output
    assert not out.exists()


def test_validate_checks_a_database_table_like_a_file(sqlite_db, tmp_path):
    import json

    url = f"sqlite:///{sqlite_db}"
    good = invoke(["validate", "--data", url, "--table", "customers", "--json"])
    assert good.exit_code == 0, good.output
    found = json.loads(good.output)
    assert found["ok"] and found["rows"] == 2240 and found["format"] == "sql"
    assert found["file"] == f"{url} (table customers)" and found["missing_values"] == {"Income": 24}
    # a query without a column: listed as a problem, exit 2, like a file
    query = "SELECT ID, Year_Birth FROM customers"
    short = invoke(["validate", "--data", url, "--query", query])
    assert short.exit_code == 2 and "missing required column" in short.output
    assert "ok: False" in short.output
    missing = invoke(["validate", "--data", url, "--table", "nope"])
    assert missing.exit_code == 2 and "table not found" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_a_password_in_the_url_is_refused_and_masked(tmp_path):
    result = _run(f"postgresql://shop:{PASSWORD}@127.0.0.1:1/shop", tmp_path / "x", "--table", "c")
    assert result.exit_code == 2
    assert PASSWORD not in result.output and "the URL carries a password" in result.output
    assert "postgresql://shop:***@127.0.0.1:1/shop" in result.output


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"REPORTGEN_DB_PASSWORD": PASSWORD}
    result = _run(
        f"postgresql://shop@127.0.0.1:{port}/shop", tmp_path / "x", "--table", "c", env=env
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "does not answer" in lines[0] and PASSWORD not in lines[0]


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path:
    for found in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))]:
        if found:
            return Path(found).resolve().parent
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL is not installed: .ci/run must install it")
    pytest.skip("PostgreSQL server binaries not installed")


@pytest.fixture(scope="module")
def postgres():
    """(URL without the password, port) of a fresh server holding the real file's table."""
    bindir = _pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="reportgen-pg-", dir="/tmp"))
    data, pwfile = folder / "data", folder / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
        shutil.chown(pwfile, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = [*as_user]
    subprocess.run(
        [*run, bindir / "initdb", "-D", data, "-U", "shop", f"--pwfile={pwfile}",
         "--auth=scram-sha-256", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*run, bindir / "pg_ctl", "-D", data, "-o", options, "-w", "-l", folder / "log", "start"],
        check=True,
        capture_output=True,
    )
    try:
        from sqlalchemy import create_engine

        url = f"postgresql+psycopg://shop:{PASSWORD}@127.0.0.1:{port}/postgres"
        engine = create_engine(url)
        _real_frame().to_sql("customers", engine, index=False)
        engine.dispose()
        yield f"postgresql://shop@127.0.0.1:{port}/postgres", port
    finally:
        subprocess.run([*run, bindir / "pg_ctl", "-D", data, "-m", "fast", "stop"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_table_gives_the_file_s_segments(postgres, tmp_path):
    url, _port = postgres
    out = tmp_path / "run"
    result = _run(url, out, "--table", "customers", env={"REPORTGEN_DB_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert _same_segments(out) == 1.0
    for path in out.rglob("*"):  # the password is in no file the run wrote
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_wrong_password_and_a_missing_table_end_in_one_line(postgres, tmp_path):
    url, _port = postgres
    wrong = _run(url, tmp_path / "a", "--table", "customers", env={"REPORTGEN_DB_PASSWORD": "no"})
    assert wrong.exit_code == 2 and "login failed" in wrong.output
    missing = _run(url, tmp_path / "b", "--table", "nope", env={"REPORTGEN_DB_PASSWORD": PASSWORD})
    assert missing.exit_code == 2 and "table not found" in missing.output
    for result in (wrong, missing):
        assert len(result.output.strip().splitlines()) == 1 and PASSWORD not in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_password_file_works_instead_of_the_environment(postgres, tmp_path):
    url, _port = postgres
    secret = tmp_path / "pw.txt"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    config = tmp_path / "db.toml"
    config.write_text(
        f'[input]\nurl = "{url}"\ntable = "customers"\npassword_file = "{secret.as_posix()}"\n',
        encoding="utf-8",
    )
    out = tmp_path / "run"
    result = invoke(
        ["--quiet", "--config", config, "run", "--out", out, "--no-history", "--no-report"],
        env={"REPORTGEN_DB_PASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "segments.csv")) == 2240


# --------------------------------------------------------------------------- --segments-to


def _table(url: str, name: str, password: str | None = None) -> pd.DataFrame:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    engine_url = make_url(url)
    if engine_url.drivername == "postgresql":
        engine_url = engine_url.set(drivername="postgresql+psycopg", password=password)
    engine = create_engine(engine_url)
    try:
        return pd.read_sql_table(name, engine)
    finally:
        engine.dispose()


def test_segments_to_replaces_an_sqlite_table_with_segments_csv(sqlite_db, tmp_path):
    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as conn:
        conn.execute("CREATE TABLE segments (old TEXT)")
        conn.execute("INSERT INTO segments VALUES ('last month')")
    out = tmp_path / "run"
    target = f"sqlite:///{crm}/segments"
    result = _run(str(sqlite_db), out, "--table", "customers", "--segments-to", target)
    assert result.exit_code == 0, result.output
    written = _table(f"sqlite:///{crm}", "segments")
    csv = pd.read_csv(out / "segments.csv")
    assert list(written.columns) == list(csv.columns) and len(written) == len(csv) == 2240
    assert (written["segment"].to_numpy() == csv["segment"].to_numpy()).all()
    with sqlite3.connect(crm) as conn:  # no staging table left behind
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert names == {"segments"}


def test_a_failed_write_leaves_the_old_table_untouched(tmp_path):
    from reportgen.config import load_config
    from reportgen.errors import InputError
    from reportgen.output.database import write_table

    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as conn:
        conn.execute("CREATE TABLE segments (old TEXT)")
        conn.execute("INSERT INTO segments VALUES ('last month')")

    def slices():  # the first slice is written, then the run fails
        yield pd.DataFrame({"customer_id": ["1", "2"], "segment": [0, 1]})
        raise InputError("stopped half-way")

    with pytest.raises(InputError, match="half-way"):
        write_table(f"sqlite:///{crm}/segments", slices(), load_config())
    with sqlite3.connect(crm) as conn:
        assert conn.execute("SELECT * FROM segments").fetchall() == [("last month",)]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert names == {"segments"}


def test_a_failed_write_leaves_the_old_postgresql_table_untouched(postgres, monkeypatch):
    """The same on PostgreSQL, whose DDL is transactional without SQLite's recipe."""
    from sqlalchemy import create_engine, inspect, text

    from reportgen.config import load_config
    from reportgen.errors import InputError
    from reportgen.output.database import write_table

    url, port = postgres
    engine = create_engine(f"postgresql+psycopg://shop:{PASSWORD}@127.0.0.1:{port}/postgres")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS crm_kept"))
        conn.execute(text("CREATE TABLE crm_kept (old TEXT)"))
        conn.execute(text("INSERT INTO crm_kept VALUES ('last month')"))

    def slices():  # the first slice is written, then the run fails
        yield pd.DataFrame({"customer_id": ["1", "2"], "segment": [0, 1]})
        raise InputError("stopped half-way")

    monkeypatch.setenv("REPORTGEN_DB_PASSWORD", PASSWORD)
    with pytest.raises(InputError, match="half-way"):
        write_table(f"{url}/public.crm_kept", slices(), load_config())
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT * FROM crm_kept")).fetchall() == [("last month",)]
            names = set(inspect(conn).get_table_names(schema="public"))
        assert "crm_kept" in names and not any(n.startswith("crm_kept__") for n in names)
    finally:
        engine.dispose()


def test_a_bad_input_run_writes_no_table(sqlite_db, tmp_path):
    crm = tmp_path / "crm.db"
    target = f"sqlite:///{crm}/segments"
    result = _run(str(sqlite_db), tmp_path / "run", "--table", "nope", "--segments-to", target)
    assert result.exit_code == 2
    assert not crm.exists() or "segments" not in {
        r[0] for r in sqlite3.connect(crm).execute("SELECT name FROM sqlite_master")
    }


def test_segments_to_postgresql(postgres, tmp_path):
    url, _port = postgres
    env = {"REPORTGEN_DB_PASSWORD": PASSWORD}
    out = tmp_path / "run"
    target = f"{url}/public.crm_segments"
    result = _run(url, out, "--table", "customers", "--segments-to", target, env=env)
    assert result.exit_code == 0, result.output
    written = _table(url, "crm_segments", PASSWORD)
    assert len(written) == 2240 and "segment_code" in written.columns
    # a second run replaces it whole (no rows added)
    result = _run(url, tmp_path / "again", "--table", "customers", "--segments-to", target, env=env)
    assert result.exit_code == 0, result.output
    assert len(_table(url, "crm_segments", PASSWORD)) == 2240


def test_assign_scores_a_database_table_with_a_saved_model(sqlite_db, tmp_path):
    out = tmp_path / "run"
    assert _run(f"sqlite:///{sqlite_db}", out, "--table", "customers").exit_code == 0
    scores = tmp_path / "scores.csv"
    args = ["--quiet", "assign", "--model", out, "--data", f"sqlite:///{sqlite_db}"]
    result = invoke([*args, "--query", "SELECT * FROM customers", "--out", scores])
    assert result.exit_code == 0, result.output
    assigned = pd.read_csv(scores).merge(pd.read_csv(out / "segments.csv"), on="customer_id")
    assert len(assigned) == 2240 and (assigned["segment_x"] == assigned["segment_y"]).all()
