"""The model, schema and file spec of the result-file tests: one model `Thing` with a field of every type."""

from __future__ import annotations

from zuora_assets.zuora.catalog import Field, ZuoraModel
from zuora_assets.zuora.results import FileSpec

FIELDS = (
    Field("Id", "text"),
    Field("UpdatedDate", "datetime"),
    Field("Amount", "decimal"),
    Field("Count", "integer"),
    Field("Active", "boolean"),
    Field("DueDate", "date"),
    Field("Notes", "text"),
    Field("Region__c", "text", True),
)
MODEL = ZuoraModel("Thing", FIELDS)
SCHEMA = MODEL.arrow_schema(FIELDS)
HEADER = "Thing.Id,Thing.UpdatedDate,Thing.Amount,Thing.Count,Thing.Active,Thing.DueDate,Thing.Notes,Thing.Region__c,Thing.IsDeleted\n"


def spec(queried=None, deleted="IsDeleted") -> FileSpec:
    return FileSpec(
        "model thing, window [a, b)",
        "Thing",
        FIELDS,
        tuple(f.name for f in FIELDS) if queried is None else queried,
        deleted,
        SCHEMA,
    )
