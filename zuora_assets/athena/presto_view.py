"""Athena views stored through the Glue API: the `VIRTUAL_VIEW` table input Athena itself writes for CREATE VIEW.

Athena keeps a view as a Glue table with `TableType=VIRTUAL_VIEW`, the parameter `presto_view=true`,
`ViewExpandedText="/* Presto View */"` and `ViewOriginalText="/* Presto View: <base64 of JSON> */"`, where the
JSON holds `originalSql`, `catalog`, `schema` and `columns` (`[{name, type}]` with Presto types); the storage
descriptor lists the same columns with Hive types. Shape taken from the Terraform module
iconara/terraform-aws-athena-view (main.tf, README "Hive to Presto type conversion") and the decoders of
the same marker in Trino/StarRocks (`PRESTO_VIEW_PREFIX = "/* Presto View: "`, suffix `" */"`) and
DataHub's presto-on-hive source (`VIEW_EXPANDED_TEXT = '/* Presto View */'`).
"""

from __future__ import annotations

import base64
import json

from zuora_assets.athena.errors import CatalogError
from zuora_assets.athena.types import presto_type

PRESTO_VIEW_PREFIX = "/* Presto View: "
PRESTO_VIEW_SUFFIX = " */"
PRESTO_VIEW_EXPANDED = "/* Presto View */"
ATHENA_CATALOG = "awsdatacatalog"


def encode_view_text(sql: str, database: str, columns: list[tuple[str, str]]) -> str:
    """`ViewOriginalText` for a view: the Presto view JSON, base64-encoded inside the marker comment."""
    payload = {
        "originalSql": sql,
        "catalog": ATHENA_CATALOG,
        "schema": database,
        "columns": [{"name": name, "type": presto_type(glue)} for name, glue in columns],
    }
    encoded = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    return PRESTO_VIEW_PREFIX + encoded + PRESTO_VIEW_SUFFIX


def decode_view_text(text: str) -> dict:
    """The Presto view JSON inside a `ViewOriginalText`."""
    if not (text or "").startswith(PRESTO_VIEW_PREFIX) or not text.endswith(PRESTO_VIEW_SUFFIX):
        raise CatalogError(
            "view text is not an Athena (Presto) view: it lacks the '/* Presto View: ' marker."
        )
    return json.loads(base64.b64decode(text[len(PRESTO_VIEW_PREFIX) : -len(PRESTO_VIEW_SUFFIX)]))


def view_table_input(
    name: str,
    sql: str,
    database: str,
    columns: list[tuple[str, str]],
    parameters: dict[str, str],
    description: str,
) -> dict:
    """The Glue `TableInput` of an Athena view named `name` over `sql`, with (name, Glue type) columns."""
    return {
        "Name": name,
        "Description": description,
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View", **parameters},
        "PartitionKeys": [],
        "ViewOriginalText": encode_view_text(sql, database, columns),
        "ViewExpandedText": PRESTO_VIEW_EXPANDED,
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "SerdeInfo": {},
        },
    }
