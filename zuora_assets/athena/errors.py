"""The errors the catalog raises; each says what to do, and none is fixed by retrying."""

from __future__ import annotations

from zuora_assets.common.failures import Permanent


class CatalogError(Permanent):
    """A table, view or query could not be brought to the wanted state; the message says why and what to do."""


class CatalogPermissionDenied(CatalogError):
    """The AWS identity lacks a Glue or Athena permission; `action` names it. Retrying cannot help."""

    def __init__(self, message: str, action: str):
        super().__init__(message)
        self.action = action


class UnsupportedType(CatalogError):
    """An Arrow type that has no faithful Glue/Athena column type."""


class SchemaConflict(CatalogError):
    """A column's new type is not a lossless widening of its type in the catalog."""

    def __init__(self, table: str, column: str, catalog_type: str, new_type: str):
        self.table, self.column, self.catalog_type, self.new_type = table, column, catalog_type, new_type
        super().__init__(
            f"table {table}: column {column!r} is {catalog_type} in the catalog but {new_type} in the new data. "
            f"That is not a lossless widening, so the table was left unchanged and this model stops here. "
            f"To go on, either export the model under a new table name, or rewrite the model's history "
            f"with the new type and drop the table so that the next sync recreates it."
        )


class ForeignTable(CatalogError):
    """A table or view of the wanted name exists but was not created by this project."""

    def __init__(self, table: str, marker: str, kind: str = "Glue table or view"):
        self.table, self.marker = table, marker
        super().__init__(
            f"{kind} {table} exists but is not managed by zuora-athena (it lacks the parameter "
            f"{marker}=true), so it was left untouched and this model stops here. Rename or drop that object, "
            f"or configure another schema (database) for zuora-athena."
        )
