"""Reading a model back from the lake, lazily: its files, a pyarrow dataset, a polars LazyFrame.

Only data files that follow the layout are read (`dt=<D>/<part>_<ts>.parquet`); `dt` comes from the folder
name as a string; files with different columns are read with one unified schema (missing columns are null).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from zuora_assets.common.contract import ID_COLUMN, PARTITION_COLUMN, VERSION_RANKING
from zuora_assets.lake import layout
from zuora_assets.lake.storage import ObjectInfo, Storage

_LIST_PER_PARTITION_UP_TO = 16  # more partitions than this: one listing of the whole model is cheaper
_DT_PARTITIONING = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")


def files_in_partition(storage: Storage, folder: str, model: str, dt: str) -> list[ObjectInfo]:
    """The data files of partition `dt` of `model`, sorted by key."""
    prefix = layout.partition_prefix(
        layout.check_folder(folder), layout.check_model(model), layout.check_dt(dt)
    )
    return [o for o in storage.list(prefix) if _is_data_file(o.key, prefix)]


def model_files(
    storage: Storage, folder: str, model: str, dts: Iterable[str] | None = None
) -> list[ObjectInfo]:
    """The data files of `model` (of partitions `dts` only, if given), sorted by key."""
    folder, model = layout.check_folder(folder), layout.check_model(model)
    wanted = sorted({layout.check_dt(dt) for dt in dts}) if dts is not None else None
    if wanted is not None and len(wanted) <= _LIST_PER_PARTITION_UP_TO:
        return [o for dt in wanted for o in files_in_partition(storage, folder, model, dt)]
    prefix = layout.model_prefix(folder, model)
    return [
        o
        for o in storage.list(prefix)
        if _is_data_file(o.key, prefix)
        and (dt := layout.dt_of_key(o.key))
        and (wanted is None or dt in wanted)
    ]


def _is_data_file(key: str, prefix: str) -> bool:
    """Whether `key` is a data file directly inside a partition folder under `prefix`."""
    inside = key[len(prefix) :].split("/")
    partition_ok = len(inside) == 1 or (
        len(inside) == 2 and inside[0].startswith(f"{PARTITION_COLUMN}=")
    )
    return partition_ok and layout.parse_data_key(key) is not None


def partition_dataset(
    storage: Storage,
    folder: str,
    model: str,
    dts: Iterable[str] | None = None,
    *,
    schema: pa.Schema | None = None,
) -> ds.Dataset:
    """A lazy pyarrow dataset over `model` (or partitions `dts`), with `dt` (string) as the last column.

    The schema unifies every file's columns (and `schema`, if given, which also serves when there are no
    files: then the dataset is empty).
    """
    files = model_files(storage, folder, model, dts)
    base_schemas = [schema] if schema is not None else []
    if not files:
        empty = pa.unify_schemas([*base_schemas, pa.schema([(PARTITION_COLUMN, pa.string())])])
        return ds.dataset(_dt_last(empty).empty_table())
    filesystem, base = storage.arrow_filesystem()
    root = f"{base}/{layout.model_prefix(layout.check_folder(folder), model)}".rstrip("/")
    factory = ds.FileSystemDatasetFactory(
        filesystem,
        [f"{base}/{o.key}" for o in files],
        ds.ParquetFileFormat(),
        ds.FileSystemFactoryOptions(partition_base_dir=root, partitioning=_DT_PARTITIONING),
    )
    unified = pa.unify_schemas(
        [*base_schemas, factory.inspect(promote_options="permissive", fragments=None)],
        promote_options="permissive",
    )
    return factory.finish(_dt_last(unified))


def _dt_last(schema: pa.Schema) -> pa.Schema:
    index = schema.get_field_index(PARTITION_COLUMN)
    return schema.remove(index).append(schema.field(index)) if index >= 0 else schema


def scan(
    storage: Storage,
    folder: str,
    model: str,
    dts: Iterable[str] | None = None,
    *,
    schema: pa.Schema | None = None,
) -> pl.LazyFrame:
    """A polars LazyFrame over `model` (or partitions `dts`); rows are read in batches only when collected."""
    return pl.scan_pyarrow_dataset(partition_dataset(storage, folder, model, dts, schema=schema))


def latest_versions(frame: pl.LazyFrame, *, key: str = ID_COLUMN, ranking: Sequence[str] = VERSION_RANKING) -> pl.LazyFrame:
    """The latest version of each `key` (its columns `key` and `ranking`): the greatest by `ranking`, a null
    the least; the rule of the `_current` views, so both pick the same version on any tie."""
    columns = [key, *ranking]
    return frame.select(columns).sort(list(ranking), nulls_last=False).group_by(key).last()
