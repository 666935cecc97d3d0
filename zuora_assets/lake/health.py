"""The health of one model in the lake: versions, files and bytes per partition, sync lag, Athena's scan.

Read from the lake alone, never from the engine: one listing of the model's files, one of its manifests, the
sync state object, and per data file its Parquet footer plus the column chunks of the version columns (key,
ordering, tombstone flag). Rows, files, bytes and the Athena scan estimate come from listings and footers;
the figures that need every version (live records, duplicates) come from a scan of those few columns into
DuckDB with a memory limit (it spills to a temporary folder), so memory stays bounded however many ids there are.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from zuora_assets.common.contract import PARTITION_COLUMN
from zuora_assets.lake import layout
from zuora_assets.lake.readers import model_files
from zuora_assets.lake.state import SyncState
from zuora_assets.lake.storage import (
    KeyNotFound,
    ObjectInfo,
    PermissionDenied,
    Storage,
    StorageError,
)

SMALL_FILE_BYTES = 16 * 1024 * 1024
MEMORY_LIMIT_MB = 512
_FILES_IN_FLIGHT = 8  # files read at once: bounds memory to this many files' version columns


@dataclass(frozen=True)
class Versions:
    """How versions of a record are told apart, as the `_current` view ranks them: the record key, the
    columns that order its versions (greatest first, nulls last) and the tombstone flag (wins a full tie)."""

    key: str
    order_by: tuple[str, ...]
    deleted: str

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([self.key, *self.order_by, self.deleted]))


@dataclass(frozen=True)
class PartitionHealth:
    """One `dt` partition: its files and versions."""

    dt: str
    files: int
    bytes: int
    rows: int
    small_files: int
    transfers: int
    tombstones: int
    duplicates: int  # versions beyond one per key in this partition: what its consolidation removes


@dataclass(frozen=True)
class ModelHealth:
    """One model's figures; `summary()` is what `health.json` holds."""

    model: str
    generated_at: datetime
    rows: int  # versions in the files (footers)
    records: int  # distinct keys
    live: int  # keys whose latest version is not a tombstone: the rows of `<model>_current`
    deleted: int  # keys whose latest version is a tombstone
    tombstones: int  # tombstone versions in the files
    duplicates: int
    files: int
    bytes: int
    small_files: int
    small_file_bytes: int  # the threshold
    uncommitted_files: int  # data files of transfers without a manifest (a crashed or yielding run)
    partitions: int
    oldest_dt: str | None
    newest_dt: str | None
    last_sync: datetime | None  # the newest transfer's snapshot
    high_water_mark: datetime | None  # the lake holds every change before this moment
    lag_seconds: float | None  # generated_at - high_water_mark
    scan_bytes: int  # compressed column chunks a full read of the current view scans
    per_partition: tuple[PartitionHealth, ...] = field(default=())

    def summary(self) -> dict:
        body = asdict(self)
        body.pop("per_partition")
        for name in ("generated_at", "last_sync", "high_water_mark"):
            body[name] = body[name].isoformat() if body[name] is not None else None
        return body


@dataclass
class _Tally:
    files: int = 0
    bytes: int = 0
    rows: int = 0
    small_files: int = 0
    transfers: set = field(default_factory=set)


def model_health(
    storage: Storage,
    folder: str,
    model: str,
    versions: Versions,
    *,
    now: datetime,
    scanned_columns: Callable[[Sequence[str]], Sequence[str]] | None = None,
    small_file_bytes: int = SMALL_FILE_BYTES,
    memory_limit_mb: int = MEMORY_LIMIT_MB,
) -> ModelHealth:
    """The health of `model`. `scanned_columns` maps a file's columns to those a full read of the current view
    reads (default: all of them); their compressed chunk sizes are the Athena scan estimate."""
    folder, model = layout.check_folder(folder), layout.check_model(model)
    files = model_files(storage, folder, model)
    committed = {
        (layout.dt_of_key(o.key), layout.ts_of_manifest_key(o.key))
        for o in storage.list(layout.manifests_prefix(folder, model))
    }
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    uncommitted = scan_bytes = 0
    with tempfile.TemporaryDirectory(prefix="lake-health-") as work:
        db = _database(work, memory_limit_mb)
        try:
            for info, metadata in _load_versions(db, storage, files, versions, model):
                dt, ts = layout.dt_of_key(info.key), layout.parse_data_key(info.key)[1]
                tally = tallies[dt]
                tally.files += 1
                tally.bytes += info.size
                tally.rows += metadata.num_rows
                tally.small_files += info.size < small_file_bytes
                tally.transfers.add(ts)
                uncommitted += (dt, ts) not in committed
                scan_bytes += _chunk_bytes(metadata, scanned_columns)
            per_dt, records, live = _version_counts(db, versions) if files else ({}, 0, 0)
        finally:
            db.close()
    partitions = tuple(
        PartitionHealth(
            dt, t.files, t.bytes, t.rows, t.small_files, len(t.transfers), *per_dt.get(dt, (0, 0))
        )
        for dt, t in sorted(tallies.items())
    )
    state = _read_state(storage, folder, model)
    last = state.last_transfer if state else max((ts for _, ts in committed if ts), default=None)
    hwm = state.high_water_mark if state else None
    return ModelHealth(
        model=model,
        generated_at=now,
        rows=sum(p.rows for p in partitions),
        records=records,
        live=live,
        deleted=records - live,
        tombstones=sum(p.tombstones for p in partitions),
        duplicates=sum(p.duplicates for p in partitions),
        files=sum(p.files for p in partitions),
        bytes=sum(p.bytes for p in partitions),
        small_files=sum(p.small_files for p in partitions),
        small_file_bytes=small_file_bytes,
        uncommitted_files=uncommitted,
        partitions=len(partitions),
        oldest_dt=partitions[0].dt if partitions else None,
        newest_dt=partitions[-1].dt if partitions else None,
        last_sync=layout.parse_ts(last) if last else None,
        high_water_mark=hwm,
        lag_seconds=(now - hwm).total_seconds() if hwm else None,
        scan_bytes=scan_bytes,
        per_partition=partitions,
    )


def _database(work: str, memory_limit_mb: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB database that spills to `work` beyond `memory_limit_mb`."""
    return duckdb.connect(
        config={
            "memory_limit": f"{memory_limit_mb}MB",
            "temp_directory": work,
            "threads": 2,
            "preserve_insertion_order": False,
        },
    )


def _load_versions(
    db: duckdb.DuckDBPyConnection, storage: Storage, files: list[ObjectInfo], versions: Versions, model: str
) -> Iterator[tuple[ObjectInfo, pq.FileMetaData]]:
    """Copy the version columns of every file (and its `dt`) into the table `versions`; yield each file's footer."""
    filesystem, base = storage.arrow_filesystem()
    footers: list[tuple[ObjectInfo, pq.FileMetaData]] = []
    schema: list[pa.Schema] = []

    def read(info: ObjectInfo) -> tuple[pq.FileMetaData, pa.Table] | None:
        """The file's footer and version columns; None if it is gone (a replace removed it since the listing)."""
        path = f"{base}/{info.key}"
        try:
            with filesystem.open_input_file(path) as source:
                metadata = pq.read_metadata(source)
                parquet = pq.ParquetFile(source, metadata=metadata, pre_buffer=True)
                missing = [c for c in versions.columns if c not in parquet.schema_arrow.names]
                if missing:
                    raise StorageError(
                        f"model {model!r}: {storage.uri(info.key)} has no column(s) {missing}, which tell its "
                        "record versions apart; move the file out of the lake folder (it is not one of ours)"
                    )
                return metadata, parquet.read(columns=versions.columns)
        except FileNotFoundError:
            return None
        except OSError as err:
            if "ACCESS_DENIED" in str(err):
                raise PermissionDenied(
                    f"model {model!r}: reading {storage.uri(info.key)} was refused ({err}); the AWS identity in use "
                    "lacks s3:GetObject on the lake folder: grant it (the seed's IAM policy does)",
                    "s3:GetObject",
                ) from err
            raise StorageError(
                f"model {model!r}: cannot read the Parquet footer of {storage.uri(info.key)} ({err}); check the "
                "file (a partial upload?) and the read permission (s3:GetObject)"
            ) from err

    def batches() -> Iterator[pa.RecordBatch]:
        with ThreadPoolExecutor(max_workers=_FILES_IN_FLIGHT) as pool:
            for start in range(0, len(files), _FILES_IN_FLIGHT):
                chunk = files[start : start + _FILES_IN_FLIGHT]
                for info, found in zip(chunk, pool.map(read, chunk), strict=True):
                    if found is None:
                        continue
                    metadata, table = found
                    footers.append((info, metadata))
                    if not schema:
                        schema.append(table.schema.append(pa.field(PARTITION_COLUMN, pa.string())))
                    dt = pa.array([layout.dt_of_key(info.key)] * table.num_rows, pa.string())
                    yield from table.append_column(PARTITION_COLUMN, dt).cast(schema[0]).to_batches()

    stream = batches()
    first = next(stream, None)  # reads the first files, so `schema` is known
    if not schema:  # no files
        return
    if first is None:  # files without rows
        db.register("incoming", schema[0].empty_table())
    else:
        db.register("incoming", pa.RecordBatchReader.from_batches(first.schema, _chain(first, stream)))
    db.execute("CREATE TABLE versions AS SELECT * FROM incoming")
    db.unregister("incoming")
    yield from footers


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _version_counts(
    db: duckdb.DuckDBPyConnection, versions: Versions
) -> tuple[dict[str, tuple[int, int]], int, int]:
    """(dt -> (tombstones, duplicates), distinct keys, live keys) from the table `versions`."""
    key, deleted, dt = _quote(versions.key), _quote(versions.deleted), _quote(PARTITION_COLUMN)
    per_dt = {
        row[0]: (row[1], row[2])
        for row in db.execute(
            f"SELECT {dt}, count(*) FILTER (WHERE {deleted}), count(*) - count(DISTINCT {key}) "
            f"FROM versions GROUP BY {dt}"
        ).fetchall()
    }
    # The latest version per key as the view ranks them: each order column descending with nulls last (a
    # non-null flag first), then a tombstone before a live version.
    rank = ", ".join(
        f"'n{i}': {_quote(c)} IS NOT NULL, 'v{i}': {_quote(c)}" for i, c in enumerate(versions.order_by)
    )
    rank += f", 'deleted': coalesce({deleted}, false)"
    records, live = db.execute(
        f"SELECT count(*), count(*) FILTER (WHERE NOT latest_deleted) FROM ("
        f"SELECT arg_max(coalesce({deleted}, false), {{{rank}}}) AS latest_deleted FROM versions GROUP BY {key})"
    ).fetchone()
    return per_dt, records, live


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _chunk_bytes(
    metadata: pq.FileMetaData, scanned_columns: Callable[[Sequence[str]], Sequence[str]] | None
) -> int:
    """The compressed size of the column chunks of the scanned columns in one file."""
    names = [metadata.schema.column(i).path.split(".")[0] for i in range(metadata.num_columns)]
    wanted = set(scanned_columns(list(dict.fromkeys(names)))) if scanned_columns else set(names)
    return sum(
        metadata.row_group(g).column(i).total_compressed_size
        for g in range(metadata.num_row_groups)
        for i in range(metadata.num_columns)
        if names[i] in wanted
    )


def _read_state(storage: Storage, folder: str, model: str) -> SyncState | None:
    """The model's sync state as stored (read-only: a report never rebuilds it), or None if there is none."""
    key = layout.state_key(folder, model)
    try:
        return SyncState.from_json(storage.get_bytes(key))
    except KeyNotFound:
        return None
    except ValueError as err:
        raise StorageError(
            f"model {model!r}: {storage.uri(key)} is not a sync state ({err}); delete it and the next sync "
            "rebuilds it from the manifests"
        ) from err
