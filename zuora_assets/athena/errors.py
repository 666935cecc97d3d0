"""The errors the catalog raises, and how an AWS error becomes a message that says what to do."""

from __future__ import annotations

from botocore.exceptions import ClientError


class CatalogError(Exception):
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


def error_code(error: ClientError) -> str:
    """The AWS error code of a botocore ClientError ('' when absent)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_access_denied(error: ClientError) -> bool:
    """True for a permission failure (moto's JSON services answer a bare HTTP 403)."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(error) in ("AccessDeniedException", "AccessDenied", "403") or status == 403


def aws_error_message(service: str, operation: str, where: str, error: ClientError) -> str:
    """One sentence on a failed AWS call: what failed, where, the AWS reason and what to do."""
    reason = error.response.get("Error", {}).get("Message", "") or str(error)
    head = (
        f"{service} {operation} on {where} failed ({error_code(error) or 'error'}: {reason.strip()[:300]})."
    )
    if is_access_denied(error):
        action = f"{service.lower()}:{operation}"
        return f"{head} The AWS identity in use lacks {action} there: grant {action} on that resource."
    return f"{head} Check the resource and the AWS settings, then run again."
