"""Reading `<model>_current` as users do: the embedded DuckDB catalog's view (local lake), or the SQL stored in the
Glue view on moto, translated by sqlglot and run in DuckDB over the lake's files (S3)."""

from __future__ import annotations

import duckdb
import sqlglot

from zuora_assets.athena.presto_view import decode_view_text
from zuora_assets.defs.resources import aws_clients, duckdb_catalog, lake_folder, lake_storage
from zuora_assets.lake.readers import partition_dataset
from zuora_assets.settings import Settings
from zuora_assets_tests.pipeline import moto_settings


def destination_of(request, monkeypatch, bucket: str, schema: str):
    """The body of a `destination` fixture parametrised "local" / "s3": for "s3", a bucket on the moto server and
    the settings that point the lake and the catalog at it. Yields the parameter."""
    if request.param == "s3":
        moto = request.getfixturevalue("moto")
        moto.client("s3").create_bucket(Bucket=bucket)
        for name, value in moto_settings(moto.endpoint, bucket=bucket, folder="zuora", schema=schema).items():
            monkeypatch.setenv(name, value)
        aws_clients.cache_clear()
    yield request.param
    aws_clients.cache_clear()


def current_rows(destination: str, model: str, columns: list[str], glue_schema: str = "") -> list[tuple]:
    """`columns` of every row of `<model>_current`, sorted."""
    settings = Settings.from_env()
    cols = ", ".join(f'"{c}"' for c in columns)
    if destination == "local":
        return sorted(duckdb_catalog(settings).query(f'SELECT {cols} FROM "main"."{model}_current"'))
    stored = aws_clients(settings.aws).glue.get_table(DatabaseName=glue_schema, Name=f"{model}_current")["Table"]
    athena_sql = decode_view_text(stored["ViewOriginalText"])["originalSql"]
    con = duckdb.connect()
    con.register("lake_rows", partition_dataset(lake_storage(settings), lake_folder(settings), model))
    con.execute(f'CREATE SCHEMA "{glue_schema}"')
    con.execute(f'CREATE VIEW "{glue_schema}"."{model}" AS SELECT * FROM lake_rows')
    sql = sqlglot.transpile(f"SELECT {cols} FROM ({athena_sql}) AS v", read="athena", write="duckdb")[0]
    return sorted(con.execute(sql).fetchall())
