"""AthenaQueries: the happy path against moto (canned results), failures and throttling with a Stubber."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import boto3
import pytest
import requests
from botocore.stub import ANY, Stubber

from zuora_assets.athena.query import POLL_BACKOFF, AthenaQueries, AthenaQueryFailed
from zuora_assets.common.retry import Backoff
from zuora_assets_tests.athena_support import CallRecorder

RESULTS = "s3://results/athena/"
COLUMNS = [
    {"Name": "name", "Label": "name", "Type": "varchar"},
    {"Name": "total", "Label": "total", "Type": "bigint"},
    {"Name": "amount", "Label": "amount", "Type": "decimal"},
    {"Name": "day", "Label": "day", "Type": "date"},
    {"Name": "at", "Label": "at", "Type": "timestamp"},
    {"Name": "ok", "Label": "ok", "Type": "boolean"},
]


def row(*values):
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


HEADER = row(*(c["Name"] for c in COLUMNS))


def queue_results(moto, rows: list[dict], columns=COLUMNS) -> None:
    body = {"region": "us-east-1", "results": [{"rows": rows, "column_info": columns}]}
    requests.post(
        f"{moto.endpoint}/moto-api/static/athena/query-results", json=body, timeout=10
    ).raise_for_status()


@pytest.fixture
def athena(moto):
    moto.client("s3").create_bucket(Bucket="results")
    client = moto.client("athena")
    client.create_work_group(
        Name="open",
        Configuration={
            "ResultConfiguration": {"OutputLocation": RESULTS},
            "EnforceWorkGroupConfiguration": False,
        },
    )
    return client


def test_a_query_runs_in_the_workgroup_and_database_and_returns_typed_rows(moto, athena):
    queue_results(
        moto,
        [
            HEADER,
            row("a", "3", "12.500000000", "2024-03-01", "2024-03-01 10:11:12.123", "true"),
            row("b", None, None, None, None, "false"),
        ],
    )
    recorder = CallRecorder(athena)
    sleeps: list[float] = []
    queries = AthenaQueries(
        athena, "open", database="zuora", output_location="s3://mine/q/", sleep=sleeps.append
    )

    rows = queries.run('SELECT * FROM "zuora"."account"')

    assert rows == [
        ("a", 3, Decimal("12.5"), date(2024, 3, 1), datetime(2024, 3, 1, 10, 11, 12, 123000), True),
        ("b", None, None, None, None, False),
    ]
    (start,) = recorder.params("StartQueryExecution")
    assert start["WorkGroup"] == "open"
    assert start["QueryExecutionContext"] == {"Database": "zuora", "Catalog": "AwsDataCatalog"}
    assert start["ResultConfiguration"] == {"OutputLocation": "s3://mine/q/"}
    assert 32 <= len(start["ClientRequestToken"]) <= 128
    (execution_id,) = athena.list_query_executions(WorkGroup="open")["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == 'SELECT * FROM "zuora"."account"'
    assert execution["QueryExecutionContext"]["Database"] == "zuora"


def test_polling_backs_off_while_the_query_is_queued_and_running(moto, athena):
    transition = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 3}}
    requests.post(f"{moto.endpoint}/moto-api/state-manager/set-transition", json=transition, timeout=10)
    try:
        queue_results(moto, [HEADER, row("x", "1", "1", "2024-01-01", "2024-01-01 00:00:00", "true")])
        sleeps: list[float] = []
        rows = AthenaQueries(athena, "open", sleep=sleeps.append).run("SELECT 1")
    finally:
        requests.post(f"{moto.endpoint}/moto-api/state-manager/unset-transition", json=transition, timeout=10)

    assert [r[0] for r in rows] == ["x"]
    assert len(sleeps) >= 2
    ceilings = [POLL_BACKOFF.floor] + [min(POLL_BACKOFF.cap, POLL_BACKOFF.base * 2**n) for n in range(len(sleeps))]
    assert all(POLL_BACKOFF.floor <= s <= c for s, c in zip(sleeps, ceilings[1:], strict=True)), "full jitter"


def test_the_workgroup_results_location_is_used_when_none_is_configured(athena):
    recorder = CallRecorder(athena)
    assert AthenaQueries(athena, "open").run("SELECT 1") == []
    assert "ResultConfiguration" not in recorder.params("StartQueryExecution")[0]


def test_an_enforcing_workgroup_gets_no_result_configuration(athena):
    athena.create_work_group(
        Name="strict",
        Configuration={
            "ResultConfiguration": {"OutputLocation": RESULTS},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    recorder = CallRecorder(athena)
    AthenaQueries(athena, "strict", output_location="s3://mine/q/").run("SELECT 1")
    assert "ResultConfiguration" not in recorder.params("StartQueryExecution")[0]


def test_a_workgroup_without_results_location_or_existence_is_explained(athena):
    athena.create_work_group(Name="bare", Configuration={"EnforceWorkGroupConfiguration": False})
    with pytest.raises(
        AthenaQueryFailed, match=r"workgroup bare has no query results location.*set the results"
    ):
        AthenaQueries(athena, "bare").run("SELECT 1")
    athena.create_work_group(Name="strict", Configuration={"EnforceWorkGroupConfiguration": True})
    with pytest.raises(
        AthenaQueryFailed, match=r"workgroup strict enforces its own settings but has no query"
    ):
        AthenaQueries(athena, "strict", output_location=RESULTS).run("SELECT 1")
    with pytest.raises(AthenaQueryFailed, match=r"workgroup nope does not exist"):
        AthenaQueries(athena, "nope", output_location=RESULTS).run("SELECT 1")


# --- Stubber: the paths moto cannot take ---------------------------------------------------------------


@pytest.fixture
def stubbed():
    client = boto3.client("athena", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stub:
        stub.add_response(
            "get_work_group",
            {
                "WorkGroup": {
                    "Name": "wg",
                    "Configuration": {"ResultConfiguration": {"OutputLocation": RESULTS}},
                }
            },
            {"WorkGroup": "wg"},
        )
        yield client, stub
        stub.assert_no_pending_responses()


def start_ok(stub, query_id="q-1"):
    stub.add_response("start_query_execution", {"QueryExecutionId": query_id}, ANY_START)


ANY_START = {"QueryString": ANY, "ClientRequestToken": ANY, "WorkGroup": "wg", "QueryExecutionContext": ANY}


def execution(state: str, **status) -> dict:
    return {
        "QueryExecution": {
            "QueryExecutionId": "q-1",
            "StatementType": "DML",
            "Status": {"State": state, **status},
        }
    }


def test_a_failed_query_shows_athenas_reason(stubbed):
    client, stub = stubbed
    start_ok(stub)
    stub.add_response("get_query_execution", execution("RUNNING"), {"QueryExecutionId": "q-1"})
    reason = "SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved"
    failed = execution(
        "FAILED", StateChangeReason=reason, AthenaError={"ErrorCategory": 2, "ErrorType": 1006}
    )
    stub.add_response("get_query_execution", failed, {"QueryExecutionId": "q-1"})

    with pytest.raises(AthenaQueryFailed) as raised:
        AthenaQueries(client, "wg", database="zuora", sleep=lambda s: None).run("SELECT nope FROM t")

    message = str(raised.value)
    for part in (
        "q-1",
        "workgroup wg",
        "database zuora",
        "ended FAILED",
        reason,
        "error type 1006",
        "SELECT nope",
    ):
        assert part in message
    assert (raised.value.query_id, raised.value.state) == ("q-1", "FAILED")


def test_throttling_is_retried_with_the_same_client_request_token(stubbed):
    client, stub = stubbed
    stub.add_client_error(
        "start_query_execution", "ThrottlingException", "Rate exceeded", 400, expected_params=ANY_START
    )
    stub.add_client_error(
        "start_query_execution",
        "TooManyRequestsException",
        "Concurrent queries",
        400,
        expected_params=ANY_START,
    )
    start_ok(stub)
    stub.add_response("get_query_execution", execution("SUCCEEDED"), {"QueryExecutionId": "q-1"})
    page_1 = {
        "ResultSet": {
            "Rows": [row("n"), row("1")],
            "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "integer"}]},
        },
        "NextToken": "more",
    }
    page_2 = {
        "ResultSet": {
            "Rows": [row("2")],
            "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "integer"}]},
        }
    }
    stub.add_response("get_query_results", page_1, {"QueryExecutionId": "q-1", "MaxResults": 1000})
    stub.add_response(
        "get_query_results", page_2, {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "more"}
    )
    recorder = CallRecorder(client)
    sleeps: list[float] = []

    rows = AthenaQueries(client, "wg", sleep=sleeps.append).run("SELECT n FROM t")

    assert rows == [(1,), (2,)]
    tokens = {p["ClientRequestToken"] for p in recorder.params("StartQueryExecution")}
    assert len(recorder.params("StartQueryExecution")) == 3
    assert len(tokens) == 1
    assert len(sleeps) == 2


def test_throttling_that_does_not_end_is_reported(stubbed):
    client, stub = stubbed
    for _ in range(3):
        stub.add_client_error("start_query_execution", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(
        AthenaQueryFailed, match=r"Athena StartQueryExecution on workgroup wg failed \(ThrottlingException"
    ):
        AthenaQueries(client, "wg", sleep=lambda s: None, start_attempts=3).run("SELECT 1")


def test_a_query_that_does_not_finish_in_time_is_reported_not_cancelled(stubbed):
    client, stub = stubbed
    start_ok(stub)
    for _ in range(4):
        stub.add_response("get_query_execution", execution("RUNNING"), {"QueryExecutionId": "q-1"})
    with pytest.raises(AthenaQueryFailed, match=r"q-1 .*still RUNNING after .*not cancelled"):
        steady = Backoff(base=0.4, cap=0.4, floor=0.4)  # polls at 0, 0.4, 0.8 and 1.2 s
        AthenaQueries(client, "wg", sleep=lambda s: None, timeout_seconds=1.0, poll_backoff=steady).run("SELECT 1")


def test_a_cancelled_query_is_reported(stubbed):
    client, stub = stubbed
    start_ok(stub)
    stub.add_response("get_query_execution", execution("CANCELLED"), {"QueryExecutionId": "q-1"})
    with pytest.raises(AthenaQueryFailed, match=r"ended CANCELLED: no reason given"):
        AthenaQueries(client, "wg", sleep=lambda s: None).run("SELECT 1")


def test_access_denied_names_the_permission(stubbed):
    client, stub = stubbed
    stub.add_client_error("start_query_execution", "AccessDeniedException", "not authorized", 400)
    with pytest.raises(AthenaQueryFailed, match=r"grant athena:StartQueryExecution"):
        AthenaQueries(client, "wg", sleep=lambda s: None).run("SELECT 1")
