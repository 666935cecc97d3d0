"""Helpers for the simulator tests: a tiny HTTP client and an independent AQuA CSV parser.

Deliberately independent of the project's Zuora client: plain `requests` and the `csv` module.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import requests

from zuora_assets.zuora.catalog import Field

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
PACIFIC = ZoneInfo("America/Los_Angeles")


class Zuora:
    """Just enough of a Zuora client to drive the simulator in tests."""

    def __init__(self, base_url: str, client_id: str = "sim-client-id", client_secret: str = "sim-client-secret",
                 headers: dict[str, str] | None = None):
        self.base = base_url
        self.http = requests.Session()
        self.extra = headers or {}
        self.credentials = {"client_id": client_id, "client_secret": client_secret,
                            "grant_type": "client_credentials"}
        self.access_token: str | None = None

    def token(self) -> requests.Response:
        resp = self.http.post(f"{self.base}/oauth/token", data=self.credentials, timeout=10)
        if resp.status_code == 200:
            self.access_token = resp.json()["access_token"]
        return resp

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self.access_token is None:
            self.token()
        headers = {"Authorization": f"Bearer {self.access_token}", **self.extra, **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)

    def submit(self, queries: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        body = {"format": "csv", "version": "1.1", "useQueryLabels": True, "dateTimeUtc": True,
                "queries": queries, **options}
        resp = self.call("POST", "/v1/batch-query/", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def poll(self, job_id: str) -> dict[str, Any]:
        resp = self.call("GET", f"/v1/batch-query/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def run(self, queries: list[dict[str, Any]], max_polls: int = 40, **options: Any) -> dict[str, Any]:
        """Submit and poll until the job leaves submitted/executing, passing time on the simulator's clock
        between polls (1 s, doubling up to 10 min) so that jobs of any timing end without a real wait."""
        job = self.submit(queries, **options)
        assert "id" in job, job
        step = 1.0
        for _ in range(max_polls):
            job = self.poll(job["id"])
            if job["status"] not in ("submitted", "executing"):
                return job
            requests.post(f"{self.base}/__sim/clock", json={"advance_s": step}, timeout=10).raise_for_status()
            step = min(step * 2, 600.0)
        raise AssertionError(f"job {job['id']} still {job['status']} after {max_polls} polls")

    def download(self, file_id: str) -> requests.Response:
        return self.call("GET", f"/v1/files/{file_id}")

    def export_text(self, query: str, deleted: bool = True, **options: Any) -> str:
        """Run one export query and return the CSV text of its result."""
        spec: dict[str, Any] = {"name": "q", "query": query, "type": "zoqlexport"}
        if deleted:
            spec["deleted"] = {"column": "IsDeleted", "format": "Boolean", "forceExport": True}
        job = self.run([spec], **options)
        assert job["status"] == "completed", job
        resp = self.download(job["batches"][0]["fileId"])
        assert resp.status_code == 200, resp.text
        return resp.content.decode("utf-8")


def window_query(obj: str, start: datetime, end: datetime, select: str = "*") -> str:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (f"select {select} from {obj} where UpdatedDate >= '{start.strftime(fmt)}' "
            f"and UpdatedDate < '{end.strftime(fmt)}'")


def parse_datetime(text: str) -> datetime:
    """AQuA datetime text -> naive UTC: `...±hhmm`, or a bare date meaning midnight Pacific."""
    if len(text) == 10:
        local = datetime.combine(date.fromisoformat(text), datetime.min.time(), PACIFIC)
        return local.astimezone(UTC).replace(tzinfo=None)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC).replace(tzinfo=None)


def parse_value(text: str, ztype: str) -> Any:
    if text == "":
        return None
    return {
        "integer": int,
        "decimal": Decimal,
        "boolean": lambda v: v == "true",
        "date": date.fromisoformat,
        "datetime": parse_datetime,
    }.get(ztype, str)(text)


def read_csv(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def typed_rows(text: str, obj: str, fields: tuple[Field, ...], deleted_column: str = "IsDeleted") -> list[dict]:
    """Parse an export of `select *` (+ deleted column) into dicts keyed like the catalog's Arrow columns."""
    header, rows = read_csv(text)
    types = {f"{obj}.{f.name}": (f.column, f.type) for f in fields}
    types[f"{obj}.{deleted_column}"] = ("_deleted", "boolean")
    assert set(header) == set(types), set(header) ^ set(types)
    out = []
    for row in rows:
        assert len(row) == len(header), row
        out.append({types[h][0]: parse_value(v, types[h][1]) for h, v in zip(header, row, strict=True)})
    return sorted(out, key=lambda r: r["id"])
