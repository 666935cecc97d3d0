"""`athena/<model>` assets: keep each model's table and `<model>_current` view in step with its files.

In AWS the table lives in the Glue Data Catalog (Athena finds partitions by projection); in the
embedded default the same table and view live in a DuckDB file beside the local lake.
"""

import dagster as dg
import pyarrow as pa

from zuora_assets.common.contract import (
    DELETED_COLUMN,
    ID_COLUMN,
    PARTITION_COLUMN,
    TRANSFERRED_AT_COLUMN,
    VERSION_ORDER,
)
from zuora_assets.defs.failures import RETRY_POLICY, fail_fast_unless_transient
from zuora_assets.defs.resources import CatalogResource, LakeResource, table_name
from zuora_assets.defs.scope import SINGLE, EntityScope
from zuora_assets.lake.readers import partition_dataset
from zuora_assets.settings import Settings
from zuora_assets.zuora.catalog import MODELS, ZuoraModel

CODE_VERSION = "1"


def declared_file_schema(model: ZuoraModel) -> pa.Schema:
    """The columns a model's files have when nothing is known from the lake yet."""
    return model.arrow_schema().append(pa.field(TRANSFERRED_AT_COLUMN, pa.timestamp("ms")))


def lake_schema(lake: LakeResource, model: ZuoraModel, dts: list[str] | None) -> pa.Schema:
    """The unified schema of the model's files in these partitions (all partitions when None)."""
    dataset = partition_dataset(lake.storage(), lake.folder(), model.name, dts)
    schema = pa.schema([f for f in dataset.schema if f.name != PARTITION_COLUMN])
    return schema if len(schema) else declared_file_schema(model)


def sync_model(
    context, model: ZuoraModel, lake: LakeResource, catalog: CatalogResource, dts: list[str]
) -> dict:
    schema = lake_schema(lake, model, dts)
    view = {"key": ID_COLUMN, "order_by": VERSION_ORDER, "deleted": DELETED_COLUMN}
    settings = catalog.settings.load()
    cat = catalog.open()
    cat.ensure_database()
    sync = cat.sync_table(
        model.name,
        schema,
        catalog.location(lake.folder(), model.name),
        first_day=settings.start_date,
        register_partitions=dts if settings.aws and settings.aws.glue_partitions else None,
    )
    view_action = cat.sync_current_view(model.name, schema, **view)
    where = cat.describe()
    added = sync.added_columns if sync.action != "created" else ()
    context.log.info(
        f"{model.name}: table {sync.action} in {where} ({len(schema)} columns)"
        + (f", added columns {', '.join(added)}" if added else "")
        + (f", widened {sync.widened_columns}" if sync.widened_columns else "")
        + f"; view {model.name}_current {view_action}"
    )
    return {
        "table_action": sync.action,
        "view_action": view_action,
        "added_columns": dg.MetadataValue.json(list(sync.added_columns)),
        "widened_columns": dg.MetadataValue.json(list(sync.widened_columns)),
        "partitions_registered": len(sync.partitions_registered or []),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(f.name, str(f.type)) for f in schema]
        ),
    }


def athena_asset(
    model: ZuoraModel, partitions_def: dg.PartitionsDefinition, settings: Settings, scope: EntityScope = SINGLE
) -> dg.AssetsDefinition:
    """The `athena/<model>` asset of one catalog model, named for the catalog of `settings`
    (`athena/<entity>/<model>` in an entity's scope)."""

    @dg.asset(
        key=scope.asset_key("athena", model.name),
        description=f"Athena table `{model.name}` over the lake files of {scope.label('zuora', model.name)}, "
        f"and the view `{model.name}_current` (latest version per id, deletes removed).",
        deps=[scope.asset_key("zuora", model.name)],
        group_name="athena",
        kinds={"duckdb"} if settings.aws is None else {"athena", "glue"},
        metadata={"dagster/table_name": table_name(settings, model.name)},
        tags=scope.tags,
        code_version=CODE_VERSION,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="catalog",
        retry_policy=RETRY_POLICY,
        required_resource_keys={scope.resource("lake"), scope.resource("catalog")},
    )
    def _asset(context: dg.AssetExecutionContext):
        lake, catalog = scope.resources(context, "lake", "catalog")
        with fail_fast_unless_transient(scope.label("athena", model.name)):
            metadata = sync_model(context, model, lake, catalog, list(context.partition_keys))
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def athena_assets(
    partitions_def: dg.PartitionsDefinition, settings: Settings, scope: EntityScope = SINGLE
) -> list[dg.AssetsDefinition]:
    """Every model's `athena/<model>` asset over `partitions_def`, in the entity's scope."""
    return [athena_asset(m, partitions_def, settings, scope) for m in MODELS.values()]
