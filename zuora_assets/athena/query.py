"""Running one Athena query to completion: start (throttling retried idempotently), poll with backoff, read rows.

The one Athena query loop: the catalog and the connection test both use it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from botocore.exceptions import ClientError

from zuora_assets.athena.errors import CatalogError
from zuora_assets.common.aws_errors import aws_error_message, is_throttling
from zuora_assets.common.retry import Backoff, retry

RUNNING_STATES = ("QUEUED", "RUNNING")
START_BACKOFF = Backoff(base=1.0, cap=20.0)  # StartQueryExecution throttled
POLL_BACKOFF = Backoff(base=0.4, cap=5.0, floor=0.2)  # between GetQueryExecution polls
PAGE_SIZE = 1000

# Athena result types -> Python value from the text Athena returns (others stay text).
_PARSERS: dict[str, Callable[[str], object]] = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "bigint": int,
    "double": float,
    "float": float,
    "real": float,
    "decimal": Decimal,
    "boolean": lambda s: s.lower() == "true",
    "date": date.fromisoformat,
    "timestamp": datetime.fromisoformat,
}


class AthenaQueryFailed(CatalogError):
    """An Athena query ended FAILED or CANCELLED, or did not end in time."""

    def __init__(self, message: str, *, query_id: str | None = None, state: str | None = None):
        self.query_id, self.state = query_id, state
        super().__init__(message)


class AthenaQueries:
    """Runs SQL in one Athena workgroup and database and returns the rows as tuples of Python values."""

    def __init__(
        self,
        athena_client,
        workgroup: str,
        *,
        database: str = "default",
        output_location: str | None = None,
        catalog: str = "AwsDataCatalog",
        sleep: Callable[[float], None] = time.sleep,
        timeout_seconds: float = 600.0,
        start_attempts: int = 6,
        poll_backoff: Backoff = POLL_BACKOFF,
    ):
        self._athena = athena_client
        self.workgroup = workgroup
        self.database = database
        self.output_location = output_location
        self.catalog = catalog
        self._sleep = sleep
        self._timeout = timeout_seconds
        self._start_attempts = start_attempts
        self._poll_backoff = poll_backoff
        self._workgroup_config: dict | None = None

    def run(self, sql: str) -> list[tuple]:
        """Run `sql` and return its rows (a SELECT's header row removed). Raises AthenaQueryFailed."""
        query_id = self.start(sql)
        execution = self.wait(query_id, sql)
        return self.rows(query_id, execution)

    # --- start ------------------------------------------------------------------------------------

    def start(self, sql: str) -> str:
        """Start `sql` (throttling retried with the same request token, so it never runs twice); its query id."""
        params = {
            "QueryString": sql,
            "ClientRequestToken": uuid.uuid4().hex,  # the same token on every retry: never runs twice
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            **self._result_configuration(),
        }
        try:
            return retry(
                lambda: self._athena.start_query_execution(**params)["QueryExecutionId"],
                attempts=self._start_attempts,
                backoff=START_BACKOFF,
                retryable=lambda e: isinstance(e, ClientError) and is_throttling(e),
                sleep=self._sleep,
                what=f"Athena StartQueryExecution in workgroup {self.workgroup}",
            )
        except ClientError as e:
            raise AthenaQueryFailed(self._failure("StartQueryExecution", e)) from e

    def _result_configuration(self) -> dict:
        """`ResultConfiguration` unless the workgroup enforces its own settings or manages results."""
        config = self._workgroup()
        if (config.get("ManagedQueryResultsConfiguration") or {}).get("Enabled"):
            return {}
        own = (config.get("ResultConfiguration") or {}).get("OutputLocation")
        if config.get("EnforceWorkGroupConfiguration"):
            if own:
                return {}
            raise AthenaQueryFailed(
                f"Athena workgroup {self.workgroup} enforces its own settings but has no query results "
                f"location; give the workgroup a results location (an s3:// folder)."
            )
        if self.output_location:
            return {"ResultConfiguration": {"OutputLocation": self.output_location}}
        if own:
            return {}
        raise AthenaQueryFailed(
            f"Athena workgroup {self.workgroup} has no query results location and none is configured; "
            f"set the results location (an s3:// folder) or give the workgroup one."
        )

    def _workgroup(self) -> dict:
        if self._workgroup_config is None:
            try:
                group = self._athena.get_work_group(WorkGroup=self.workgroup).get("WorkGroup")
            except ClientError as e:
                raise AthenaQueryFailed(self._failure("GetWorkGroup", e)) from e
            if not group:
                raise AthenaQueryFailed(
                    f"Athena workgroup {self.workgroup} does not exist; create it or configure an existing one."
                )
            self._workgroup_config = group.get("Configuration") or {}
        return self._workgroup_config

    # --- poll -------------------------------------------------------------------------------------

    def wait(self, query_id: str, sql: str = "") -> dict:
        """Poll until the query leaves QUEUED/RUNNING; return its execution, or raise on failure."""
        waited, polls = 0.0, 0
        while True:
            try:
                execution = self._athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            except ClientError as e:
                raise AthenaQueryFailed(self._failure("GetQueryExecution", e), query_id=query_id) from e
            status = execution.get("Status") or {}
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state not in RUNNING_STATES:
                raise AthenaQueryFailed(
                    self._failed_message(query_id, state, status, sql), query_id=query_id, state=state
                )
            if waited >= self._timeout:
                raise AthenaQueryFailed(
                    f"Athena query {query_id} in workgroup {self.workgroup} is still {state} after "
                    f"{waited:.0f} s; it was not cancelled. Look it up in the Athena console, or raise the timeout.",
                    query_id=query_id,
                    state=state,
                )
            polls += 1
            delay = self._poll_backoff.wait(polls)
            self._sleep(delay)
            waited += delay

    def _failed_message(self, query_id: str, state: str | None, status: dict, sql: str) -> str:
        reason = status.get("StateChangeReason") or "no reason given"
        error = status.get("AthenaError") or {}
        kind = f" [error type {error['ErrorType']}]" if "ErrorType" in error else ""
        retry = " Athena says a retry may succeed." if error.get("Retryable") else ""
        return (
            f"Athena query {query_id} in workgroup {self.workgroup} (database {self.database}) ended {state}: "
            f"{reason}{kind}.{retry} Query: {sql.strip()[:200]}"
        )

    # --- results ----------------------------------------------------------------------------------

    def rows(self, query_id: str, execution: dict) -> list[tuple]:
        """The rows of a finished query, as Python values (a SELECT's header row removed)."""
        rows: list[tuple] = []
        params = {"QueryExecutionId": query_id, "MaxResults": PAGE_SIZE}
        first_page = True
        while True:
            try:
                page = self._athena.get_query_results(**params)
            except ClientError as e:
                raise AthenaQueryFailed(self._failure("GetQueryResults", e), query_id=query_id) from e
            result = page.get("ResultSet") or {}
            columns = (result.get("ResultSetMetadata") or {}).get("ColumnInfo") or []
            raw = [[d.get("VarCharValue") for d in r.get("Data") or []] for r in result.get("Rows") or []]
            if first_page and execution.get("StatementType") == "DML" and raw and _is_header(raw[0], columns):
                raw = raw[1:]
            rows += [_typed(values, columns) for values in raw]
            first_page = False
            if not page.get("NextToken"):
                return rows
            params["NextToken"] = page["NextToken"]

    def _failure(self, operation: str, error: ClientError) -> str:
        return aws_error_message("Athena", operation, f"workgroup {self.workgroup}", error)


def _is_header(values: list, columns: list[dict]) -> bool:
    """A SELECT's first result row repeats the column names."""
    names = [c.get("Label") or c.get("Name") for c in columns]
    return bool(columns) and values == names


def _typed(values: list, columns: list[dict]) -> tuple:
    types = [(c.get("Type") or "varchar").lower() for c in columns]
    return tuple(
        None if v is None else _PARSERS.get(types[i] if i < len(types) else "varchar", str)(v)
        for i, v in enumerate(values)
    )
