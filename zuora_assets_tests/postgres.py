"""A fresh PostgreSQL database per test (created with a unique name, dropped after), and a scan of its tables.

The server is the one developers and CI run on 127.0.0.1:5432 (trust auth); PGHOST, PGPORT and PGUSER
point elsewhere. Without a reachable server the tests that need one skip and say how to get one, unless
ZUORA_TEST_REQUIRE_POSTGRES=1 (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from psycopg2 import sql

REQUIRE_ENV = "ZUORA_TEST_REQUIRE_POSTGRES"
HOW_TO_GET_ONE = (
    "PostgreSQL is not reachable at {where} ({error}). Start one (Debian: `apt-get install postgresql`, then "
    "`pg_ctlcluster 15 main start`; trust auth for 127.0.0.1 in pg_hba.conf), or point PGHOST, PGPORT and "
    "PGUSER at one whose user may create databases."
)


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    name: str

    def connect(self):
        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.name, connect_timeout=5)


def server() -> Database:
    """The server's maintenance database `postgres`, from PGHOST/PGPORT/PGUSER or the defaults."""
    return Database(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=int(os.environ.get("PGPORT", "5432")),
        user=os.environ.get("PGUSER", "postgres"),
        name="postgres",
    )


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV, "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set, so this is a failure, not a skip)")
    pytest.skip(reason)


@contextlib.contextmanager
def fresh_database() -> Iterator[Database]:
    """A new, empty database with a unique name; dropped afterwards (its connections closed first)."""
    admin = server()
    try:
        connection = admin.connect()
    except psycopg2.OperationalError as error:
        skip_or_fail(HOW_TO_GET_ONE.format(where=f"{admin.host}:{admin.port} as {admin.user}", error=str(error).strip()))
    connection.autocommit = True
    database = Database(admin.host, admin.port, admin.user, f"zuora_test_{uuid.uuid4().hex[:12]}")
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name)))
        yield database
    finally:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))
        connection.close()


def table_contents(database: Database) -> dict[str, bytes]:
    """Every row of every table of the `public` schema, as text, by table name."""
    found = {}
    with contextlib.closing(database.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        for (table,) in cursor.fetchall():
            # A row's text form covers every column, bytea as hex: search the hex too (see `forms`).
            cursor.execute(sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(table)))
            found[table] = "\n".join(row[0] for row in cursor.fetchall()).encode()
    return found
