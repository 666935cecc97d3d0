"""The model catalog: every Zuora object this project exports, with the fields Zuora documents for it.

A model is one Zuora object exported as one table (DESIGN.md section 1). The declarations are data, in
`models.toml` beside this module (one table per object: fields with their Zuora types and flags, foreign
keys, Export ZOQL joins, picklist values; the file's header cites the sources). Data reads better than
code for ~30 objects of ~30 fields each, and a field list can be checked against Zuora's docs line by line.
This module loads and validates it once. Every model also has the common fields `Id`, `CreatedDate`,
`UpdatedDate`, `CreatedById` and `UpdatedById`. At run time `describe` adds custom fields and drops fields
the tenant cannot export (see `zuora.describe`); this catalog is the declared baseline that the simulator
also serves.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from zuora_assets.common.contract import DELETED_COLUMN
from zuora_assets.common.failures import InvalidValue

ZUORA_TYPES = ("text", "picklist", "integer", "decimal", "boolean", "date", "datetime")

COMMON_FIELDS = "Id:text CreatedDate:datetime UpdatedDate:datetime CreatedById:text UpdatedById:text"
SYSTEM_FIELDS = ("Id", "CreatedDate", "UpdatedDate", "CreatedById", "UpdatedById")
CATALOG_FILE = Path(__file__).with_name("models.toml")


# Zuora API names (objects, fields, custom fields `Name__c`): an ASCII letter, then letters, digits and
# underscores. The simulator's control plane and its query parsers both use this one rule.
API_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_API_NAME = re.compile(rf"^{API_NAME}$")


def is_api_name(name: str) -> bool:
    """Whether `name` is a valid Zuora API name (see API_NAME)."""
    return bool(_API_NAME.match(name))


def snake_case(name: str) -> str:
    """`AccountNumber` -> `account_number`, `VATId` -> `vat_id`, `Region__c` -> `region__c`."""
    base, custom = (name[:-3], "__c") if name.endswith("__c") else (name, "")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", base)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower() + custom


def object_query_plural(obj: str) -> str:
    """The Object Query collection of a Zuora object: `InvoiceItem` -> `invoice-items`, `JournalEntry` -> `journal-entries`."""
    kebab = snake_case(obj).replace("_", "-")
    return kebab[:-1] + "ies" if kebab.endswith("y") else kebab + "s"


def arrow_type(zuora_type: str) -> pa.DataType:
    """The Arrow type of a Zuora field type (DESIGN.md 2.2). Unknown types are text."""
    t = zuora_type.lower()
    if t == "integer":
        return pa.int64()
    if t in ("decimal", "number"):
        return pa.decimal128(38, 9)
    if t == "boolean":
        return pa.bool_()
    if t == "date":
        return pa.date32()
    if t in ("datetime", "timestamp"):
        return pa.timestamp("ms")
    return pa.string()


@dataclass(frozen=True)
class Field:
    """One Zuora field: its API name (`AccountNumber`), Zuora type (`text`, `decimal`, ...) and what describe says.

    `nullable`: Zuora may leave it empty; `filterable`: describe's <filterable>; `required`: needed to
    create a record; `readonly`: computed by Zuora (not createable or updateable); `queryable`: the REST
    query action accepts it (some exportable fields are refused there).
    """

    name: str
    type: str
    custom: bool = False
    nullable: bool = True
    filterable: bool = True
    required: bool = False
    readonly: bool = False
    queryable: bool = True

    @property
    def column(self) -> str:
        return snake_case(self.name)

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_type(self.type)


@dataclass(frozen=True)
class ZuoraModel:
    """One Zuora object exported as one table.

    `fields` are the fields AQuA exports (the table's columns); `soap_fields` are documented fields with only
    the `soap` context, which describe lists but Export ZOQL refuses. `joins` maps each Export ZOQL joined
    object (`BillToContact`) to the chain of foreign-key fields that reaches it (`("AccountId", "BillToId")`).
    """

    object: str
    fields: tuple[Field, ...]
    foreign_keys: dict[str, str] = field(default_factory=dict)
    exports_deletes: bool = True
    primary_key: str = "Id"
    cursor: str = "UpdatedDate"
    description: str = ""
    soap_fields: tuple[Field, ...] = ()
    joins: dict[str, tuple[str, ...]] = field(default_factory=dict)
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    described: bool = True  # a run asks describe for the tenant's fields (custom ones); false: exactly `fields`
    silent_fields: tuple[str, ...] = ()  # fields Zuora changes without touching UpdatedDate (see models.toml)
    silent_source: str = ""
    reread_days: int | None = None  # re-read window of the silent-field refresh; None: every partition

    @property
    def name(self) -> str:
        return snake_case(self.object)

    def ids_only(self) -> ZuoraModel:
        """This model narrowed to its live records' `Id` (and `UpdatedDate`, the window the export splits by):
        no deleted records, no describe, no custom fields. The reconciliation's cheap full export."""
        keep = (self.primary_key, self.cursor)
        return replace(self, fields=tuple(f for f in self.fields if f.name in keep), exports_deletes=False,
                       described=False, joins={})

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name.lower() == name.lower():
                return f
        raise KeyError(f"model {self.name}: no field {name!r}")

    def arrow_schema(self, fields: tuple[Field, ...] | None = None) -> pa.Schema:
        """Columns an extraction yields: the fields, snake_cased, then `_deleted`.

        The lake adds `_transferred_at` when it writes a transfer, so the files (and tables) end with it.
        """
        fields = self.fields if fields is None else fields
        seen: dict[str, str] = {}
        columns = []
        for f in fields:
            if f.column in seen:
                raise InvalidValue(
                    f"model {self.name}: fields {seen[f.column]!r} and {f.name!r} both become column {f.column!r}"
                )
            seen[f.column] = f.name
            columns.append(pa.field(f.column, f.arrow_type))
        columns.append(pa.field(DELETED_COLUMN, pa.bool_()))
        return pa.schema(columns)


_FLAGS = {"required", "notnull", "readonly", "nofilter", "soap", "noquery"}


class CatalogError(InvalidValue):
    """`models.toml` breaks a rule; the message names the object, the field and the rule."""


def _field_line(obj: str, line: str) -> tuple[Field, str | None, bool]:
    """(field, foreign-key target or None, soap-only) of one `Name type flags...` line."""
    name, ztype, *flags = line.split()
    if not is_api_name(name):
        raise CatalogError(f"{CATALOG_FILE.name} [{obj}]: {name!r} is not a Zuora API name ({API_NAME})")
    if ztype not in ZUORA_TYPES:
        raise CatalogError(f"{CATALOG_FILE.name} [{obj}] {name}: unknown type {ztype!r}; use {', '.join(ZUORA_TYPES)}")
    target = next((f[3:] for f in flags if f.startswith("fk=")), None)
    unknown = {f for f in flags if not f.startswith("fk=")} - _FLAGS
    if unknown:
        raise CatalogError(f"{CATALOG_FILE.name} [{obj}] {name}: unknown flag(s) {sorted(unknown)}; use {sorted(_FLAGS)}")
    required = "required" in flags
    f = Field(name, ztype, nullable=not (required or "notnull" in flags), filterable="nofilter" not in flags,
              required=required, readonly="readonly" in flags, queryable="noquery" not in flags)
    return f, target, "soap" in flags


def _system_fields() -> list[Field]:
    return [Field(name, ztype, nullable=False, readonly=True)
            for name, _, ztype in (token.partition(":") for token in COMMON_FIELDS.split())]


def _model(obj: str, spec: dict) -> ZuoraModel:
    fields, soap, fks = _system_fields(), [], {}
    for line in str(spec.get("fields", "")).strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            f, target, soap_only = _field_line(obj, line)
            (soap if soap_only else fields).append(f)
            if target:
                fks[f.name] = target
    names = {f.name for f in fields}
    if len(names) != len(fields):
        raise CatalogError(f"{CATALOG_FILE.name} [{obj}]: a field is declared twice")
    joins = {name: tuple(path.split(".")) for name, path in dict(spec.get("joins", {})).items()}
    for name, path in joins.items():
        if path[0] not in fks:
            raise CatalogError(f"{CATALOG_FILE.name} [{obj}] join {name}: {path[0]} is not a foreign key of {obj}")
    options = {name: tuple(values) for name, values in dict(spec.get("options", {})).items()}
    for name in options:
        if name not in names or next(f for f in fields if f.name == name).type != "picklist":
            raise CatalogError(f"{CATALOG_FILE.name} [{obj}] options.{name}: not a picklist field of {obj}")
    silent = tuple(spec.get("silent", ()))
    for name in silent:
        if name not in names or name in SYSTEM_FIELDS:
            raise CatalogError(f"{CATALOG_FILE.name} [{obj}] silent: {name!r} is not a non-system field of {obj}")
    if silent and not str(spec.get("silent_source", "")).strip():
        raise CatalogError(f"{CATALOG_FILE.name} [{obj}] silent: give silent_source (where Zuora says so)")
    reread = spec.get("reread_days")
    if reread is not None and (not isinstance(reread, int) or reread < 1):
        raise CatalogError(f"{CATALOG_FILE.name} [{obj}] reread_days: {reread!r} is not a whole number of days >= 1")
    return ZuoraModel(obj, tuple(fields), fks, exports_deletes=bool(spec.get("deletes", True)),
                      description=str(spec.get("description", "")), soap_fields=tuple(soap), joins=joins,
                      options=options, silent_fields=silent, silent_source=str(spec.get("silent_source", "")),
                      reread_days=reread)


def load(path: Path = CATALOG_FILE) -> list[ZuoraModel]:
    """Every model declared in `path`, validated: known types and flags, foreign keys and joins that resolve."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    models = [_model(obj, spec) for obj, spec in data.items()]
    by_object = {m.object: m for m in models}
    for m in models:
        for fk, target in m.foreign_keys.items():
            if target not in by_object:
                raise CatalogError(f"{path.name} [{m.object}] {fk}: foreign key to unknown object {target!r}")
        for name, chain in m.joins.items():
            _resolve(by_object, m, name, chain)
    return models


def _resolve(by_object: dict[str, ZuoraModel], m: ZuoraModel, name: str, chain: tuple[str, ...]) -> str:
    """The object a join reaches (raises CatalogError when a hop is not a foreign key)."""
    current = m
    for hop in chain:
        target = current.foreign_keys.get(hop)
        if target is None:
            raise CatalogError(f"models.toml [{m.object}] join {name}: {hop} is not a foreign key of {current.object}")
        current = by_object[target]
    return current.object


_MODELS = load()
MODELS: dict[str, ZuoraModel] = {m.name: m for m in _MODELS}
MODELS_BY_OBJECT: dict[str, ZuoraModel] = {m.object.lower(): m for m in _MODELS}


def model(name: str) -> ZuoraModel:
    """The model called `name` (`invoice_item`) or the model of Zuora object `name` (`InvoiceItem`)."""
    found = MODELS.get(name) or MODELS_BY_OBJECT.get(name.lower())
    if found is None:
        raise KeyError(f"unknown Zuora model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return found


def join_target(m: ZuoraModel, join: str) -> str:
    """The Zuora object reached by `m`'s joined object `join` (`BillToContact` on InvoiceItem -> `Contact`)."""
    return _resolve({x.object: x for x in MODELS.values()}, m, join, m.joins[join])
