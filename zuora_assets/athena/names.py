"""Glue/Athena identifiers: which names are accepted, and how every identifier is quoted in SQL."""

from __future__ import annotations

import re

from zuora_assets.athena.errors import CatalogError

MAX_NAME_LENGTH = 255
_NAME = re.compile(r"[a-z0-9_]+")


def check_name(name: str, what: str) -> str:
    """Return `name` if Glue stores it unchanged (lowercase `[a-z0-9_]`, 1-255 characters), else raise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise CatalogError(
            f"{what} name {name!r} is not a valid Glue name: use 1-{MAX_NAME_LENGTH} characters from "
            f"lowercase a-z, digits and '_' (Glue folds other names, and Athena cannot query some of them)."
        )
    return name


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (Athena DML, Trino, DuckDB): `order` -> `"order"`."""
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: str, database: str | None = None) -> str:
    """`"database"."table"`, or `"table"` without a database."""
    return f"{quote(database)}.{quote(table)}" if database else quote(table)
