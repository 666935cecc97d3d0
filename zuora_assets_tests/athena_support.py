"""Helpers shared by the test_athena_* tests (this module holds no tests): schemas, a call recorder for
boto3 clients, an injected AWS error, and a writer of lake files in the data contract's layout."""

from __future__ import annotations

import copy
import types
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATABASE = "zuora"
BUCKET = "lake"
FOLDER = "folder"

TS = pa.timestamp("ms")
MONEY = pa.decimal128(38, 9)


def model_schema(*extra: pa.Field) -> pa.Schema:
    """A model's file schema: key, cursor, some data, the tombstone flag and the transfer time."""
    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("updated_date", TS),
            pa.field("name", pa.string()),
            pa.field("amount", MONEY),
            pa.field("quantity", pa.int32()),
            *extra,
            pa.field("_deleted", pa.bool_()),
            pa.field("_transferred_at", TS),
        ]
    )


SCHEMAS = {
    "account": model_schema(pa.field("auto_pay", pa.bool_()), pa.field("last_invoice_date", pa.date32())),
    "order": model_schema(),  # a reserved word: every identifier must be quoted
    "invoice_item": model_schema(pa.field("service_start_date", pa.date32())),
}


def location(name: str) -> str:
    return f"s3://{BUCKET}/{FOLDER}/{name}/"


class CallRecorder:
    """Records every operation (and its parameters) a boto3 client makes."""

    def __init__(self, client):
        self.calls: list[tuple[str, dict]] = []
        client.meta.events.register("before-parameter-build", self._record)

    def _record(self, params, model, **_):
        self.calls.append((model.name, copy.deepcopy(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def writes(self) -> list[str]:
        """Operations that change something (everything but Get*)."""
        return [name for name in self.names() if not name.startswith("Get")]

    def params(self, operation: str) -> list[dict]:
        return [p for name, p in self.calls if name == operation]

    def clear(self) -> None:
        self.calls.clear()


def fail(client, operation: str, code: str, *, times: int | None = 1, service: str = "glue") -> list[int]:
    """Make the next `times` calls of `operation` (every call when None) fail with AWS error `code`;
    returns a one-item list counting the injected failures."""
    injected = [0]

    def handler(**_):
        if times is not None and injected[0] >= times:
            return None
        injected[0] += 1
        parsed = {
            "Error": {"Code": code, "Message": "injected by the test"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return types.SimpleNamespace(status_code=400, headers={}), parsed

    client.meta.events.register(f"before-call.{service}.{operation}", handler)
    return injected


def write_transfer(root: Path, folder: str, model: str, dt: str, transfer: datetime, table: pa.Table, part=0):
    """Write one transfer's file of one partition: `<root>/<folder>/<model>/dt=<dt>/<part>_<ts>.parquet`."""
    path = root / folder / model / f"dt={dt}" / f"{part}_{transfer:%Y%m%d%H%M%S}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", coerce_timestamps="ms")
    return path
