"""The database source against a real PostgreSQL server (Debian's postgresql, started here on a unix socket).

No mocks: a throwaway cluster is initialised in a temp dir, started with pg_ctl as the postgres user, filled,
queried through `python -m app load KIND --from-url ... --query ...` and stopped at the end.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from app.data import importer, store
from app.sources import db

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # about 40 s: a server start and a dozen CLI processes
PORT = 54329


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def pg():
    """A running server: yields (socket dir, port); the database 'cs' holds the test tables."""
    initdb, pg_ctl, psql = _bin("initdb"), _bin("pg_ctl"), _bin("psql")
    if not (initdb and pg_ctl and psql):
        pytest.fail("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
    base = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(sock, "postgres")
    r = _as_postgres(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--auth-local=trust",
                     "--auth-host=scram-sha-256")
    assert r.returncode == 0, r.stderr
    hba = data / "pg_hba.conf"  # the reader role must give its password, even on the socket
    hba.write_text("local all reader scram-sha-256\n" + hba.read_text())
    r = _as_postgres(pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                     f"-k {sock} -p {PORT} -c listen_addresses=''", "start")
    assert r.returncode == 0, r.stderr + (base / "log").read_text()
    try:
        sql = """
        CREATE DATABASE cs;
        \\c cs
        CREATE ROLE reader LOGIN PASSWORD 'secret-pw';
        CREATE TABLE accounts (id text, company text, tier text, since date);
        INSERT INTO accounts VALUES ('A1', 'Acme', 'SMB', '2023-01-15'), ('A2', 'Beta', 'Enterprise', '2022-06-01');
        CREATE TABLE lines (line text, acct text, started date, ended date, mrr numeric(12,2), seats integer);
        INSERT INTO lines VALUES ('L1', 'A1', '2023-02-01', NULL, 1000.50, 10),
                                 ('L2', 'A2', '2022-07-01', '2024-07-01', 2500.25, 40),
                                 ('L3', 'A2', '2023-01-01', NULL, 99.99, 1);
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
        """
        r = _as_postgres(psql, "-h", str(sock), "-p", str(PORT), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                         "-d", "postgres", "-c", "SELECT 1")
        assert r.returncode == 0, r.stderr
        p = subprocess.run(["runuser", "-u", "postgres", "--", psql, "-h", str(sock), "-p", str(PORT), "-U",
                            "postgres", "-v", "ON_ERROR_STOP=1", "-d", "postgres"], input=sql, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        yield sock, PORT
    finally:
        _as_postgres(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def url(pg, user: str = "postgres") -> str:
    sock, port = pg
    return f"postgresql://{user}@/cs?host={sock}&port={port}"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True, text=True, env=e,
                          timeout=300)


def test_read_query_converts_numeric_and_date_explicitly(pg):
    raw = db.read_query(url(pg), "SELECT line, started, mrr, seats, ended FROM lines ORDER BY line")
    f = raw.frame
    assert list(f.columns) == ["line", "started", "mrr", "seats", "ended"]
    assert f["mrr"].tolist() == ["1000.50", "2500.25", "99.99"]  # exact decimal text, not a float repr
    assert f["started"].tolist() == ["2023-02-01", "2022-07-01", "2023-01-01"]
    assert f["ended"].tolist() == ["", "2024-07-01", ""]


def test_load_from_postgres_maps_validates_and_writes_like_a_file(pg, tmp_path):
    dbf = str(tmp_path / "c.duckdb")
    r = run("load", "accounts", "--from-url", url(pg), "--query",
            "SELECT id AS account_id, company AS name, tier AS segment, since AS created_at FROM accounts",
            "--db", dbf, "--no-prepare")
    assert r.returncode == 0, r.stderr
    r = run("load", "subscriptions", "--from-url", url(pg), "--query",
            "SELECT line AS subscription_id, acct AS account_id, started AS start_date, ended AS end_date, "
            "mrr, seats FROM lines", "--db", dbf, "--no-prepare")
    assert r.returncode == 0, r.stderr
    assert "MRR" in r.stdout
    con = duckdb.connect(dbf, read_only=True)
    got = dict(con.execute("SELECT subscription_id, arr FROM subscriptions").fetchall())
    assert got == {"L1": pytest.approx(1000.50 * 12), "L2": pytest.approx(2500.25 * 12),
                   "L3": pytest.approx(99.99 * 12)}
    assert con.execute("SELECT quantity FROM subscriptions WHERE subscription_id = 'L2'").fetchall() == [(40.0,)]
    log = con.execute("SELECT file_name, outcome FROM import_log ORDER BY id").fetchall()
    con.close()
    assert all(o == "ok" for _, o in log[-2:])
    assert all("postgresql://postgres@" in f and "query" in f for f, _ in log[-2:])


def test_failing_query_leaves_the_store_unchanged(pg, tmp_path):
    dbf = str(tmp_path / "c.duckdb")
    assert run("load", "accounts", "--from-url", url(pg), "--query",
               "SELECT id AS account_id FROM accounts", "--db", dbf, "--no-prepare").returncode == 0
    before = duckdb.connect(dbf, read_only=True)
    rows_before = before.execute("SELECT * FROM accounts ORDER BY 1").fetchall()
    before.close()
    for q in ("SELECT nope FROM accounts", "SELECT 1/0 AS account_id", "SELECT id AS account_id FROM accounts "
              "WHERE false", "DELETE FROM accounts RETURNING id AS account_id"):
        r = run("load", "accounts", "--from-url", url(pg), "--query", q, "--db", dbf, "--no-prepare")
        assert r.returncode == 1, (q, r.stdout)
        assert "Nothing in the store was changed" in r.stderr
    con = duckdb.connect(dbf, read_only=True)
    assert con.execute("SELECT * FROM accounts ORDER BY 1").fetchall() == rows_before
    con.close()
    # the read-only session refused the DELETE: the server's table is intact
    assert len(db.read_query(url(pg), "SELECT * FROM accounts").frame) == 2


def test_password_only_from_the_environment_never_the_url(pg, tmp_path):
    dbf = str(tmp_path / "c.duckdb")
    sock, port = pg
    r = run("load", "accounts", "--from-url", f"postgresql://reader:secret-pw@/cs?host={sock}&port={port}",
            "--query", "SELECT id AS account_id FROM accounts", "--db", dbf)
    assert r.returncode == 2
    assert "PGPASSWORD" in r.stderr and "secret-pw" not in r.stderr + r.stdout
    # the reader role must give its password: without it the load is refused, with PGPASSWORD it works
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    no_pw = subprocess.run([sys.executable, "-m", "app", "load", "accounts", "--from-url", url(pg, "reader"),
                            "--query", "SELECT id AS account_id FROM accounts", "--db", dbf, "--no-prepare"],
                           cwd=ROOT, capture_output=True, text=True, env={**env, "PGPASSFILE": "/nonexistent"})
    assert no_pw.returncode == 1 and "password" in no_pw.stderr.lower(), no_pw.stderr
    r = run("load", "accounts", "--from-url", url(pg, "reader"), "--query", "SELECT id AS account_id FROM accounts",
            "--db", dbf, "--no-prepare", env={"PGPASSWORD": "secret-pw"})
    assert r.returncode == 0, r.stderr
    # and from a .pgpass file
    pgpass = tmp_path / "pgpass"
    pgpass.write_text("*:*:cs:reader:secret-pw\n")
    pgpass.chmod(0o600)
    r = subprocess.run([sys.executable, "-m", "app", "load", "accounts", "--from-url", url(pg, "reader"),
                        "--query", "SELECT id AS account_id FROM accounts", "--db", dbf, "--no-prepare"],
                       cwd=ROOT, capture_output=True, text=True, env={**env, "PGPASSFILE": str(pgpass)})
    assert r.returncode == 0, r.stderr
    con = duckdb.connect(dbf, read_only=True)
    dump = str(con.execute("SELECT * FROM import_log").fetchall()) + str(con.execute("SELECT * FROM meta").fetchall())
    con.close()
    assert "secret-pw" not in dump


def test_importer_gets_the_same_checks_as_a_file(pg, tmp_path):
    cur = store.connect(tmp_path / "c.duckdb")
    raw = db.read_query(url(pg), "SELECT line AS subscription_id, acct AS account_id, started AS start_date, "
                                 "mrr FROM lines")
    parsed = importer.parse_raw(raw, "pg", "subscriptions")
    rep = importer.import_file(cur, "subscriptions", b"q", "pg", parsed=parsed)
    assert not rep.ok  # the accounts are not loaded: refused by row, as a file would be
    assert any(p.row == 2 and p.column == "account_id" for p in rep.problems)
    assert store.row_counts(cur)["subscriptions"] == 0
