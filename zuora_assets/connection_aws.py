"""The AWS checks of the connection test: STS identity, an S3 marker round trip, Glue database and table
operations, an Athena query; a failure names the missing permission, the resource and the fixing statement."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from zuora_assets.athena.query import AthenaQueries, AthenaQueryFailed
from zuora_assets.athena.table_input import PARTITION_KEYS
from zuora_assets.aws import AwsAuthError, AwsClients, aws_session, sse_arguments
from zuora_assets.common.aws_errors import DENIED_CODES, HINTS, denied_action_resource, error_code_message
from zuora_assets.common.contract import partition_folder
from zuora_assets.iam import ACTIONS_USED, statement_for
from zuora_assets.settings import AwsSettings

TEST_PREFIX = "_zuora/connection-test"  # under AWS_FOLDER; bookkeeping, never a table location
TEST_TABLE = "zuora_athena_connection_test"  # a throwaway Glue table, deleted at the end
TEST_PARTITION = "2000-01-01"
QUERY_TIMEOUT_SECONDS = 60.0

@dataclass(frozen=True)
class CheckResult:
    """One check: its outcome, and for a denial the missing action, the resource and the statement that fixes it."""

    name: str
    ok: bool
    detail: str
    action: str | None = None
    resource: str | None = None
    fix: dict | None = None
    skipped: bool = False


class CheckFailed(Exception):
    """A check found something misconfigured (not a missing permission); the message says what to change."""


def aws_results(aws: AwsSettings, clients: AwsClients | None, sleep: Callable[[float], None]) -> list[CheckResult]:
    results = []
    if clients is None:
        try:
            clients = AwsClients(aws_session(aws), aws)
        except AwsAuthError as error:
            return [CheckResult("sts assume role", False, str(error), "sts:AssumeRole", aws.role_arn)]
        if aws.auth_mode == "role":
            results.append(CheckResult("sts assume role", True, f"assumed {aws.role_arn}", "sts:AssumeRole"))
    checks = _AwsChecks(aws, clients, sleep)
    checks.run_all()
    return results + checks.results


class _AwsChecks:
    """The AWS checks in order: identity, S3 marker round trip, Glue database and tables, Athena query."""

    def __init__(self, aws: AwsSettings, clients: AwsClients, sleep: Callable[[float], None]):
        self.aws = aws
        self.clients = clients
        self.sleep = sleep
        self.results: list[CheckResult] = []
        self.account_id = aws.account_id
        self.marker_key = f"{aws.folder}/{TEST_PREFIX}/{uuid.uuid4().hex}"
        self.marker_body = f"zuora-athena connection test {self.marker_key}".encode()
        self.database_missing = False
        self.query_id: str | None = None

    def run_all(self) -> None:
        if not self.run("sts identity", None, None, self.identity):
            return  # nothing else can work without valid credentials
        self.s3_checks()
        self.glue_checks()
        self.athena_checks()

    def run(
        self,
        name: str,
        action: str | None,
        resource: str | None,
        call: Callable[[], str],
        *,
        after: bool = True,
        note: str = "",
    ) -> bool:
        """Run one check and record its result; True when it passed.

        `after=False` records it as skipped (a check it needs failed); `note` is added to a failure's detail.
        """
        if not after:
            detail = "not run: an earlier check it needs failed"
            result = CheckResult(name, False, detail, action, resource, skipped=True)
        else:
            result = self._attempt(name, action, resource, call)
            if not result.ok and note:
                result = dataclasses.replace(result, detail=f"{result.detail}; {note}")
        self.results.append(result)
        return result.ok

    def _attempt(
        self, name: str, action: str | None, resource: str | None, call: Callable[[], str]
    ) -> CheckResult:
        try:
            detail = call()
        except ClientError as error:
            return self._client_error_result(name, action, resource, error)
        except (CheckFailed, AwsAuthError, BotoCoreError) as error:
            return CheckResult(name, False, str(error), action, resource)
        return CheckResult(name, True, detail, action, resource)

    def _client_error_result(
        self, name: str, action: str | None, resource: str | None, error: ClientError
    ) -> CheckResult:
        code, message = error_code_message(error)
        if code in DENIED_CODES:
            denied_action, denied_resource = denied_action_resource(message)
            action, resource = denied_action or action, denied_resource or resource
            fix = statement_for(action, self.aws, self.account_id) if action in ACTIONS_USED else None
            detail = f"{code}: {action} is not allowed on {resource}"
            return CheckResult(name, False, detail, action, resource, fix)
        hint = f"; {HINTS[code]}" if code in HINTS else ""
        return CheckResult(name, False, f"{code}: {message}{hint}", action, resource)

    # --- STS ---------------------------------------------------------------------------------------------

    def identity(self) -> str:
        identity = self.clients.sts.get_caller_identity()
        self.account_id = self.account_id or identity["Account"]
        arn = identity["Arn"]
        role_name = (self.aws.role_arn or "").rsplit("/", 1)[-1]
        if self.aws.auth_mode == "role" and f":assumed-role/{role_name}/" not in arn:
            raise CheckFailed(
                f"running as {arn}, not as the role {self.aws.role_arn}: check AWS_AUTH_MODE and AWS_ROLE_ARN"
            )
        return f"running as {arn}"

    # --- S3 ----------------------------------------------------------------------------------------------

    def s3_checks(self) -> None:
        bucket_arn = f"arn:aws:s3:::{self.aws.bucket}"
        marker_arn = f"{bucket_arn}/{self.marker_key}"
        self.run("s3 bucket region", "s3:GetBucketLocation", bucket_arn, self.bucket_region)
        written = self.run("s3 put object", "s3:PutObject", marker_arn, self.put_marker)
        self.run("s3 get object", "s3:GetObject", marker_arn, self.get_marker, after=written)
        self.run("s3 list objects", "s3:ListBucket", bucket_arn, self.list_marker, after=written)
        self.run("s3 delete object", "s3:DeleteObject", marker_arn, self.delete_marker, after=written)

    def bucket_region(self) -> str:
        location = self.clients.s3.get_bucket_location(Bucket=self.aws.bucket).get("LocationConstraint")
        actual = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        if actual != self.aws.bucket_region:
            raise CheckFailed(
                f"the bucket {self.aws.bucket} is in {actual} but AWS_BUCKET_REGION is {self.aws.bucket_region}: "
                f"set AWS_BUCKET_REGION={actual}"
            )
        return f"{self.aws.bucket} is in {actual}"

    def put_marker(self) -> str:
        self.clients.s3.put_object(
            Bucket=self.aws.bucket, Key=self.marker_key, Body=self.marker_body, **sse_arguments(self.aws)
        )
        return f"wrote s3://{self.aws.bucket}/{self.marker_key}"

    def get_marker(self) -> str:
        body = self.clients.s3.get_object(Bucket=self.aws.bucket, Key=self.marker_key)["Body"].read()
        if body != self.marker_body:
            raise CheckFailed(
                f"read back {len(body)} bytes that differ from the {len(self.marker_body)} written"
            )
        return "read the marker back"

    def list_marker(self) -> str:
        listing = self.clients.s3.list_objects_v2(Bucket=self.aws.bucket, Prefix=self.marker_key, MaxKeys=1)
        if self.marker_key not in [o["Key"] for o in listing.get("Contents", [])]:
            raise CheckFailed(
                f"the listing of s3://{self.aws.bucket}/{self.marker_key} does not show the marker"
            )
        return "listed the marker"

    def delete_marker(self) -> str:
        self.clients.s3.delete_object(Bucket=self.aws.bucket, Key=self.marker_key)
        return "deleted the marker"

    # --- Glue --------------------------------------------------------------------------------------------

    def glue_arn(self, resource: str) -> str:
        return f"arn:aws:glue:{self.aws.region}:{self.account_id}:{resource}"

    def glue_checks(self) -> None:
        database_arn = self.glue_arn(f"database/{self.aws.schema}")
        table_arn = self.glue_arn(f"table/{self.aws.schema}/{TEST_TABLE}")
        ready = self.run("glue get database", "glue:GetDatabase", database_arn, self.find_database)
        if ready and self.database_missing:
            ready = self.run(
                "glue create database", "glue:CreateDatabase", database_arn, self.create_database
            )
        self.run("glue list tables", "glue:GetTables", database_arn, self.list_tables, after=ready)
        created = self.run("glue create table", "glue:CreateTable", table_arn, self.create_table, after=ready)
        self.run("glue get table", "glue:GetTable", table_arn, self.get_table, after=created)
        self.run("glue update table", "glue:UpdateTable", table_arn, self.update_table, after=created)
        if self.aws.glue_partitions:
            action = "glue:BatchCreatePartition"
            self.run("glue register partition", action, table_arn, self.register_partition, after=created)
        self.run("glue get partitions", "glue:GetPartitions", table_arn, self.get_partitions, after=created)
        left = f"the test table {self.aws.schema}.{TEST_TABLE} is left behind: delete it once this is fixed"
        self.run(
            "glue delete table", "glue:DeleteTable", table_arn, self.delete_table, after=created, note=left
        )

    def find_database(self) -> str:
        try:
            self.clients.glue.get_database(Name=self.aws.schema)
        except ClientError as error:
            if error_code_message(error)[0] != "EntityNotFoundException":
                raise
            self.database_missing = True
            return f"{self.aws.schema} does not exist yet"
        return f"{self.aws.schema} exists"

    def create_database(self) -> str:
        description = "Zuora billing data exported by zuora-athena"
        self.clients.glue.create_database(DatabaseInput={"Name": self.aws.schema, "Description": description})
        return f"created {self.aws.schema}"

    def list_tables(self) -> str:
        self.clients.glue.get_tables(DatabaseName=self.aws.schema, MaxResults=1)
        return f"listed the tables of {self.aws.schema}"

    def create_table(self) -> str:
        try:
            self.clients.glue.create_table(DatabaseName=self.aws.schema, TableInput=self.table_input())
        except ClientError as error:
            if error_code_message(error)[0] != "AlreadyExistsException":
                raise
            return f"{self.aws.schema}.{TEST_TABLE} was left by an earlier test; reusing it"
        return f"created {self.aws.schema}.{TEST_TABLE}"

    def get_table(self) -> str:
        self.clients.glue.get_table(DatabaseName=self.aws.schema, Name=TEST_TABLE)
        return f"read {self.aws.schema}.{TEST_TABLE}"

    def update_table(self) -> str:
        table_input = self.table_input()
        table_input["Parameters"]["zuora_athena.updated"] = "true"
        self.clients.glue.update_table(DatabaseName=self.aws.schema, TableInput=table_input, SkipArchive=True)
        return f"updated {self.aws.schema}.{TEST_TABLE}"

    def register_partition(self) -> str:
        partition = {
            "Values": [TEST_PARTITION],
            "StorageDescriptor": {
                **self.storage(),
                "Location": f"{self.table_location()}{partition_folder(TEST_PARTITION)}/",
            },
        }
        response = self.clients.glue.batch_create_partition(
            DatabaseName=self.aws.schema, TableName=TEST_TABLE, PartitionInputList=[partition]
        )
        errors = [
            e
            for e in response.get("Errors", [])
            if e["ErrorDetail"].get("ErrorCode") != "AlreadyExistsException"
        ]
        if errors:
            detail = errors[0]["ErrorDetail"]
            raise CheckFailed(f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}")
        return f"registered partition {partition_folder(TEST_PARTITION)}"

    def get_partitions(self) -> str:
        partitions = self.clients.glue.get_partitions(DatabaseName=self.aws.schema, TableName=TEST_TABLE)
        return f"listed {len(partitions.get('Partitions', []))} partition(s)"

    def delete_table(self) -> str:
        self.clients.glue.delete_table(DatabaseName=self.aws.schema, Name=TEST_TABLE)
        return f"deleted {self.aws.schema}.{TEST_TABLE}"

    def table_location(self) -> str:
        return f"s3://{self.aws.bucket}/{self.aws.folder}/{TEST_PREFIX}/table/"

    def storage(self) -> dict:
        return {
            "Columns": [{"Name": "id", "Type": "string"}],
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
            },
        }

    def table_input(self) -> dict:
        return {
            "Name": TEST_TABLE,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "zuora_athena.connection_test": "true"},
            "PartitionKeys": PARTITION_KEYS,
            "StorageDescriptor": {**self.storage(), "Location": self.table_location()},
        }

    # --- Athena ------------------------------------------------------------------------------------------

    def athena_checks(self) -> None:
        workgroup_arn = f"arn:aws:athena:{self.aws.region}:{self.account_id}:workgroup/{self.aws.workgroup}"
        self.run("athena workgroup", "athena:GetWorkGroup", workgroup_arn, self.workgroup)
        started = self.run(
            "athena start query", "athena:StartQueryExecution", workgroup_arn, self.start_query
        )
        done = self.run(
            "athena query status", "athena:GetQueryExecution", workgroup_arn, self.wait_query, after=started
        )
        self.run(
            "athena query results", "athena:GetQueryResults", workgroup_arn, self.query_results, after=done
        )

    def workgroup(self) -> str:
        workgroup = self.clients.athena.get_work_group(WorkGroup=self.aws.workgroup).get("WorkGroup")
        if not workgroup:
            raise CheckFailed(
                f"the workgroup {self.aws.workgroup} does not exist in {self.aws.region}: check AWS_WORKGROUP and AWS_REGION"
            )
        if workgroup.get("State", "ENABLED") != "ENABLED":
            raise CheckFailed(
                f"the workgroup {self.aws.workgroup} is {workgroup['State']}: enable it or change AWS_WORKGROUP"
            )
        engine = (
            workgroup.get("Configuration", {})
            .get("EngineVersion", {})
            .get("EffectiveEngineVersion", "unknown")
        )
        return f"{self.aws.workgroup} is enabled (engine: {engine})"

    def start_query(self) -> str:
        response = self.clients.athena.start_query_execution(
            QueryString="SELECT 1",
            WorkGroup=self.aws.workgroup,
            QueryExecutionContext={"Catalog": "AwsDataCatalog", "Database": self.aws.database},
            ResultConfiguration={"OutputLocation": self.aws.query_results_location},
        )
        self.query_id = response["QueryExecutionId"]
        return f"started SELECT 1 in {self.aws.database} (query {self.query_id})"

    def wait_query(self) -> str:
        queries = AthenaQueries(self.clients.athena, self.aws.workgroup, database=self.aws.database,
                                sleep=self.sleep, timeout_seconds=QUERY_TIMEOUT_SECONDS)
        try:
            queries.wait(self.query_id, "SELECT 1")
        except AthenaQueryFailed as error:
            if isinstance(error.__cause__, ClientError):
                raise error.__cause__ from None  # a denial: reported with the action and the fixing statement
            raise CheckFailed(
                f"{error} If it names S3, allow s3:PutObject and s3:GetObject on AWS_QUERY_RESULTS_LOCATION "
                f"{self.aws.query_results_location}"
            ) from error
        return f"query {self.query_id} succeeded"

    def query_results(self) -> str:
        self.clients.athena.get_query_results(QueryExecutionId=self.query_id, MaxResults=2)
        return f"fetched the results of query {self.query_id}"
