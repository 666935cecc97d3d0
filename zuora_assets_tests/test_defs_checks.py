"""Asset checks on real runs, and which failures are retried."""

from datetime import UTC, datetime

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from zuora_assets.athena.errors import CatalogPermissionDenied, SchemaConflict
from zuora_assets.definitions import build_definitions
from zuora_assets.defs.checks import FRESHNESS_CHECK, due_partition
from zuora_assets.defs.failures import fail_fast_unless_transient, is_permanent
from zuora_assets.lake.storage import PermissionDenied, StorageError
from zuora_assets.settings import SettingsError
from zuora_assets.zuora.errors import ZuoraAuthError, ZuoraTransientError
from zuora_assets_tests.lake_support import TestClock
from zuora_assets_tests.pipeline import last_days, materialize


def run_with_checks(selection: list[str], partitions: list[str], instance=None):
    defs = build_definitions()
    keys = [dg.AssetKey.from_user_string(s) for s in selection]
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=dg.AssetSelection.assets(*keys) | dg.AssetSelection.checks_for_assets(*keys),
        resources=defs.resources,
        partition_key=partitions[0] if len(partitions) == 1 else None,
        tags={}
        if len(partitions) == 1
        else {"dagster/asset_partition_range_start": partitions[0], "dagster/asset_partition_range_end": partitions[-1]},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in (ev.event_specific_data for ev in result.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION")
    }


def test_row_count_and_schema_checks_pass_after_a_sync_and_fail_when_the_lake_loses_rows(local_lake, serve):
    sim = serve(seed=51, accounts=30, days=5)
    days = last_days(4)[:-1]
    checks = check_results(run_with_checks(["zuora/account", "athena/account"], days))
    rows = checks["zuora/account:rows_match_zuora"]
    assert rows.passed and rows.metadata["zuora_records"].value == sim.truth("account", *window_of(days)).num_rows
    assert checks["athena/account:columns_match_files"].passed

    next(iter(sorted((local_lake / "zuora" / "account").glob("*/*.parquet")))).unlink()
    evaluation = check_results(run_checks_only(["zuora/account"], days))["zuora/account:rows_match_zuora"]
    assert not evaluation.passed
    assert evaluation.metadata["lake_records"].value < evaluation.metadata["zuora_records"].value
    assert "rematerialize" in evaluation.description


def test_the_row_count_check_passes_for_a_day_without_changes_or_files(local_lake, serve):
    sim = serve(seed=51, accounts=30, days=5)
    days = last_days(12)[:3]  # before the tenant's 5 days of history: Zuora has no product versions there
    assert sim.truth("product", *window_of(days)).num_rows == 0
    assert not (local_lake / "zuora" / "product").exists()  # never synced: no file from the window on
    evaluation = check_results(run_checks_only(["zuora/product"], days))["zuora/product:rows_match_zuora"]
    assert evaluation.passed and evaluation.metadata["lake_records"].value == 0


def run_checks_only(selection: list[str], partitions: list[str]):
    defs = build_definitions()
    keys = [dg.AssetKey.from_user_string(s) for s in selection]
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=dg.AssetSelection.checks_for_assets(*keys),
        resources=defs.resources,
        tags={"dagster/asset_partition_range_start": partitions[0], "dagster/asset_partition_range_end": partitions[-1]},
        raise_on_error=False,
    )


def window_of(days):
    from zuora_assets_tests.pipeline import day_window

    return day_window(days[0])[0], day_window(days[-1])[1]


@pytest.mark.parametrize(
    "error, permanent",
    [
        (SettingsError(["AWS_BUCKET: bad"]), True),
        (ZuoraAuthError("bad client"), True),
        (SchemaConflict("account", "x", "string", "bigint"), True),
        (ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject"), True),
        (ClientError({"Error": {"Code": "NoSuchBucket", "Message": "no"}}, "PutObject"), True),
        (PermissionDenied("DeleteObjects denied for 2 object(s)", "s3:DeleteObject"), True),
        (CatalogPermissionDenied("Glue UpdateTable denied", "glue:UpdateTable"), True),
        (StorageError("could not delete 1 object(s): k: InternalError"), False),
        (ZuoraTransientError("503 after retries"), False),
        (ClientError({"Error": {"Code": "SlowDown", "Message": "busy"}}, "PutObject"), False),
        (ConnectionError("reset"), False),
    ],
)
def test_only_transient_failures_are_left_to_the_retry_policy(error, permanent):
    assert is_permanent(error) is permanent
    with pytest.raises(dg.Failure if permanent else type(error)) as raised, fail_fast_unless_transient("zuora/x"):
        raise error
    if permanent:
        assert raised.value.allow_retries is False and raised.value.description.startswith("zuora/x: ")
        if hasattr(error, "action"):
            assert raised.value.metadata["missing_permission"].value == error.action


def test_the_freshness_deadline_makes_yesterday_due_at_the_hour():
    day = datetime(2024, 3, 10, tzinfo=UTC)
    assert due_partition(day.replace(hour=5, minute=59), 6) == "2024-03-08", "before 06:00 the day before is due"
    assert due_partition(day.replace(hour=6), 6) == "2024-03-09", "from 06:00 yesterday is due"
    assert due_partition(day.replace(hour=0), 0) == "2024-03-09"


def test_the_freshness_check_follows_the_clock_and_the_materialized_partitions(local_lake, serve):
    serve(seed=3, accounts=5, days=3)
    yesterday, today = last_days(2)
    clock = TestClock(datetime.fromisoformat(today).replace(hour=7, tzinfo=UTC))  # past the 06:00 deadline
    check = dg.AssetCheckKey(dg.AssetKey(["zuora", "account"]), FRESHNESS_CHECK)
    with dg.instance_for_test() as instance:
        defs = build_definitions(clock=clock)

        def evaluate():
            result = dg.materialize(
                [*defs.assets, *defs.asset_checks],
                selection=dg.AssetSelection.checks(check),
                resources=defs.resources,
                instance=instance,
            )
            [evaluation] = result.get_asset_check_evaluations()
            return evaluation

        missing = evaluate()
        assert not missing.passed and missing.metadata["partition"].value == yesterday
        materialize(["zuora/account"], [yesterday], instance=instance, clock=clock)
        assert evaluate().passed
        clock.advance(86400)  # the next morning: today's partition is due now, and missing
        later = evaluate()
        assert not later.passed and later.metadata["partition"].value == today
